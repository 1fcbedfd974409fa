"""QdrantEngine: the one place that talks to qdrant-client.

Every operation is written once, as a coroutine (``a*``). Its sync twin is a one-line call of that
coroutine through :func:`qdrant_aio.bridge.run_sync`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
import weakref
from collections.abc import AsyncIterable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar

from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from ._logging import logger
from .bridge import ReadAhead, cancel_and_wait, map_cooperatively, run_sync
from .coalesce import QueryCoalescer
from .config import (
    DEFAULT_DENSE_NAME,
    DEFAULT_SPARSE_NAME,
    UNNAMED_VECTOR,
    CollectionLayout,
    CollectionSpec,
    IngestOptions,
    QueryCoalescing,
)
from .cpus import usable_cpus
from .errors import (
    CollectionMismatchError,
    CollectionNotFoundError,
    ConfigurationError,
    EngineClosedError,
    IngestError,
    InvalidInputError,
    QdrantAioError,
    QdrantRequestError,
    UnsupportedClientError,
)
from .filters import combine_filters, ids_filter
from .ids import PointId, canonical_uuid_ids
from .ingest import (
    PointInput,
    PreparedPoint,
    RequestPacker,
    check_vectors,
    checked_point_id,
    dedupe_last_wins,
    point_id_of,
    prepare_points,
)
from .progress import Progress
from .query import Hit, SearchRequest, build_query, hit_from_point
from .retry import RetryPolicy, call_with_retries, is_transient
from .transport import EmbeddedTransport, RemoteTransport, Transport, is_embedded_client

__all__ = ["QdrantEngine", "arelease_engine", "engine_for", "hold_folder_engine"]

# Slice length of per-point work run on an embedded engine's storage thread. Within a slice your
# loop's thread may wait for the interpreter lock for the whole slice (the work releases and
# retakes it, in numpy, so CPython never asks it to let the loop in). Between slices
# hand_over_gil lets the loop in, at most once every GIL_HANDOVER_EVERY (2 ms): every other
# slice at 1 ms, so the loop waits ~2 ms at most instead of ~4. Measured: at 4 ms a LlamaIndex
# add left the loop ~3.4 ms late at p99 in most adds (about 46 wake-ups in 400 were 3.2-3.5 ms
# late), at 1 ms 1.7-2.0 ms, at the same add time (by hand: 3 processes of 3 adds of 20,000
# nodes each way, alternating). Outside a job (amap called from your loop) each slice is a
# round trip to the storage thread: ~4x as many as at 4 ms, ~5 ms more per 20,000 texts.
STORAGE_SLICE_SECONDS = 0.001
# Points per upsert of an embedded engine made without IngestOptions (a server's: 256). Local
# mode stores 64 as fast as 256 (flat from 64 to 1,024), and with fewer of an add's points in
# flight fewer of its objects outlive two young collections: a 20,000-point add then ran with no
# full collection of the garbage collector (a 10-18 ms pause of every thread) instead of one or
# two. See README, "What each choice gained".
EMBEDDED_BATCH_POINTS = 64
# Points validated together (their dense vectors are converted in one go).
PREPARE_CHUNK = 32

def default_readers(cpus: int) -> int:
    """Reader threads of an embedded engine by default, on a machine with ``cpus`` usable cores.

    Readers run an embedded engine's searches and reads (writes stay on the storage thread,
    alone): searches spend most of their time in numpy, which releases the GIL, so two run at
    once on two cores. One core is left for your event loop. On 2 cores, two readers (one BLAS
    thread per search while two or more are in flight, see qdrant_aio.blas) served ~200 q/s
    with 32 searches in flight, but the loop then waited for a core when it woke: p99 lateness
    2.5-5.4 ms, over 5 ms in 5 of 48 adapter rounds of the benchmark. One reader served
    105-157 q/s (1.26-2.26x the best public anchor of each round) with p99 0.97-2.31 ms in all
    48. None on a single core, where there is nothing to run beside.
    """
    return max(0, min(2, cpus - 1))


EMBEDDED_READERS = default_readers(usable_cpus())
# How much lower the reader threads' CPU priority is (Linux nice steps above the thread that
# starts them); 0, the default, leaves it. Measured with two readers on 2 cores (the default
# before one core was left to the loop, see default_readers), three busy threads with the
# caller's event loop: at the same priority the loop's thread, when it wakes, may wait out a
# reader's time slice. At nice 10, with 32 searches in flight (benchmark, 12 phases each way):
# worst loop lateness 5.5-16 ms instead of 6-42 ms, p99 1.0-3.3 ms instead of 1.9-4.1 ms, same
# throughput. But when the loop itself is busy, or other processes use the cores, the readers
# get a tenth of the CPU they compete for: searches per second fell by 20-60% in a review's
# measurements. Not a default, then.
READER_NICE = 0

T = TypeVar("T")
R = TypeVar("R")

# Embedded mode shortens the interpreter's GIL switch interval to this (see
# transport.shorten_switch_interval); ``switch_interval=None`` leaves the interpreter alone.
EMBEDDED_SWITCH_INTERVAL = 0.001


class QdrantEngine:
    """Connection, collections, upserts, queries, reads and deletes, async first.

    Connection modes (one constructor):

    * ``QdrantEngine()`` or ``QdrantEngine(location=":memory:")``: embedded, in memory;
    * ``QdrantEngine(path="./qdrant_data")``: embedded, persisted in a folder;
    * ``QdrantEngine(url=..., api_key=..., prefer_grpc=..., timeout=...)``: a Qdrant server,
      Qdrant Cloud or a cluster (``location`` may also be a URL, as in qdrant-client);
    * ``QdrantEngine.from_client(client)``: an existing ``AsyncQdrantClient`` or ``QdrantClient``.

    Embedded mode runs qdrant-client's local mode (Python code) on a storage thread, which
    shares the GIL with the caller's event loop. So that the loop gets the GIL back quickly, an
    embedded engine shortens the interpreter's switch interval to ``switch_interval`` seconds
    (1 ms; CPython's default is 5 ms) unless it is already shorter; ``switch_interval=None``
    leaves it alone. Server mode never changes it.

    Embedded writes run one at a time on the storage thread, as does the per-point work of an
    upsert (checks, payloads), so the caller's loop stays idle while points are written.
    Searches and reads of an in-memory store run on ``readers`` threads (by default one core
    fewer than the process may use, at most 2: see ``default_readers``), started on first use,
    side by side but never beside a write; ``readers=0`` runs them on the storage thread too,
    as a folder store always does (local mode normalises a folder's loaded vectors in place
    during searches, so they must not overlap). While two
    or more searches run at once, BLAS libraries (numpy's OpenBLAS) are held to one thread each
    and set back after (process-wide, see :mod:`qdrant_aio.blas`); ``limit_blas=False`` leaves
    BLAS alone. On Linux, ``reader_nice=n`` runs the reader threads ``n`` nice steps below the
    thread that started them, so that the event loop's thread is scheduled first whenever it
    wakes while they search (0, the default, leaves their priority alone: see READER_NICE).

    Concurrent searches of one collection go together as batch queries once a few requests
    are in flight (see :mod:`qdrant_aio.coalesce`). ``coalesce_queries="auto"`` (the default)
    does so on a server, with :class:`QueryCoalescing`'s defaults: on the loopback stand-in it
    served 1.3-1.6x more concurrent searches per second with the same results. Embedded it
    stays off, since local mode runs a batch one search after another (no gain measured).
    ``None`` turns it off; a :class:`QueryCoalescing` turns it on with those settings in either
    mode.
    """

    def __init__(
        self,
        location: str | None = None,
        *,
        path: str | None = None,
        url: str | None = None,
        host: str | None = None,
        port: int | None = 6333,
        grpc_port: int = 6334,
        prefer_grpc: bool = False,
        https: bool | None = None,
        api_key: str | None = None,
        prefix: str | None = None,
        timeout: int | None = None,
        retry: RetryPolicy | None = None,
        ingest: IngestOptions | None = None,
        client_options: Mapping[str, Any] | None = None,
        switch_interval: float | None = EMBEDDED_SWITCH_INTERVAL,
        readers: int = EMBEDDED_READERS,
        limit_blas: bool = True,
        reader_nice: int = READER_NICE,
        coalesce_queries: QueryCoalescing | Literal["auto"] | None = "auto",
        _transport: Transport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        if not (
            coalesce_queries is None
            or coalesce_queries == "auto"
            or isinstance(coalesce_queries, QueryCoalescing)
        ):
            raise ConfigurationError(
                'coalesce_queries must be "auto", None or a QueryCoalescing, got '
                f"{coalesce_queries!r}"
            )
        self._schemas: dict[str, _Schema] = {}
        self._pending: dict[str, concurrent.futures.Future[_Schema]] = {}
        # Collections that aprefetch_collection found missing: the next ensure that can create
        # goes straight to creating. A note gone stale (the add that made it failed, and the
        # collection was created since) costs one refused create: _create then looks it up.
        self._absent: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        if _transport is not None:
            self._transport = _transport
        else:
            self._transport = _new_transport(
                location, path=path, url=url, host=host, port=port, grpc_port=grpc_port,
                prefer_grpc=prefer_grpc, https=https, api_key=api_key, prefix=prefix,
                timeout=timeout, client_options=client_options,
                switch_interval=switch_interval, readers=readers, limit_blas=limit_blas,
                reader_nice=reader_nice,
            )
        if ingest is None:
            ingest = (
                IngestOptions(batch_size=EMBEDDED_BATCH_POINTS)
                if self._transport.embedded
                else IngestOptions()
            )
        self.ingest_options = ingest
        if coalesce_queries == "auto":
            coalesce_queries = None if self._transport.embedded else QueryCoalescing()
        self._query_coalescing = coalesce_queries
        self._coalescer = (
            None if coalesce_queries is None
            else QueryCoalescer(coalesce_queries, self._query_points, self._query_batch_points)
        )

    # ------------------------------------------------------------------ construction, lifecycle

    @classmethod
    def from_client(
        cls,
        client: AsyncQdrantClient | QdrantClient,
        *,
        retry: RetryPolicy | None = None,
        ingest: IngestOptions | None = None,
        switch_interval: float | None = EMBEDDED_SWITCH_INTERVAL,
        readers: int = EMBEDDED_READERS,
        limit_blas: bool = True,
        reader_nice: int = READER_NICE,
        coalesce_queries: QueryCoalescing | Literal["auto"] | None = "auto",
    ) -> QdrantEngine:
        """Wrap an existing client. The engine never closes a client it did not create."""
        transport: Transport
        if isinstance(client, (AsyncQdrantClient, QdrantClient)):
            if is_embedded_client(client):
                transport = EmbeddedTransport(
                    client=client, switch_interval=switch_interval, readers=readers,
                    limit_blas=limit_blas, reader_nice=reader_nice,
                )
            else:
                options = dict(getattr(client, "_init_options", {}) or {})
                options.pop("self", None)
                user = client if isinstance(client, AsyncQdrantClient) else None
                transport = RemoteTransport(options, user_client=user)
        else:
            raise UnsupportedClientError(
                "expected a QdrantEngine, an AsyncQdrantClient or a QdrantClient, got "
                f"{type(client).__module__}.{type(client).__qualname__}"
            )
        return cls(
            retry=retry, ingest=ingest, coalesce_queries=coalesce_queries, _transport=transport
        )

    @property
    def query_coalescing(self) -> QueryCoalescing | None:
        """The coalescing settings in force; None: every search is a request of its own."""
        return self._query_coalescing

    @property
    def float32_vectors(self) -> bool:
        """Whether dense vectors reach the store as float32 arrays (in-memory embedded stores).

        Upserts convert them in any case; a caller that reads every vector before upserting
        (to check a whole call up front) can convert them then, with
        :func:`qdrant_aio.ingest.dense_rows`, and hand the rows over instead of the lists.
        Only in memory: local mode pickles points into a folder as given, and arrays pickled
        by numpy 2 do not load under numpy 1.x; lists load anywhere.
        """
        transport = self._transport
        return isinstance(transport, EmbeddedTransport) and not transport.persistent

    @property
    def _float32_queries(self) -> bool:
        # Query vectors go to qdrant-client's own local store as float32 arrays (see
        # query._dense_query); a wrapper client, an overridden query method or a server: lists.
        transport = self._transport
        return isinstance(transport, EmbeddedTransport) and transport.float32_queries

    @property
    def embedded(self) -> bool:
        """Whether this engine runs qdrant-client's local mode (no server)."""
        return self._transport.embedded

    @property
    def closed(self) -> bool:
        return self._closed

    async def amap(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[function(x) for x in items]`` for pure per-item CPU work, where it costs least.

        Embedded: on the storage thread, in slices of about a millisecond (queued with the
        storage calls, so the caller's loop stays idle and other calls interleave). Server: on
        the caller's loop, yielding to it between slices of about a millisecond.
        """
        transport = self._transport
        if isinstance(transport, EmbeddedTransport):
            return await map_cooperatively(
                function, items, STORAGE_SLICE_SECONDS, run_slice=transport.run_cpu
            )
        return await map_cooperatively(function, items)

    async def arun_job(self, job: Coroutine[Any, Any, T]) -> T:
        """Run ``job``, an adapter's work of several steps (an add), where it costs least.

        Embedded: as one job on the storage thread, so that its per-point work (:meth:`amap`
        runs inline there) and its writes follow each other on one thread with no hand-over
        through the caller's loop; user code inside it (embedding models, encoders) must be
        awaited through :func:`qdrant_aio.bridge.on_caller_loop`, which runs it on the caller's
        loop. Server: here, on the caller's loop.
        """
        transport = self._transport
        if isinstance(transport, EmbeddedTransport):
            return await transport.run_job(job)
        return await job

    def __repr__(self) -> str:
        state = ", closed" if self._closed else ""
        return f"QdrantEngine({self._transport.describe()}{state})"

    async def aclose(self) -> None:
        """Close the engine (idempotent). Calls already started finish first."""
        if self._closed:
            return
        self._closed = True
        await self._transport.aclose()

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        run_sync(self.aclose())

    async def __aenter__(self) -> QdrantEngine:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> QdrantEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ the one call funnel

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError("the engine is closed; create a new QdrantEngine")

    async def _call(self, method: str, /, *, retry: bool = True, **kwargs: Any) -> Any:
        """Send one request through the transport, retrying transient failures."""
        self._check_open()

        async def attempt() -> Any:
            return await self._transport.call(method, **kwargs)

        try:
            if retry:
                return await call_with_retries(attempt, self.retry, what=method)
            return await attempt()
        except QdrantAioError:
            raise
        except UnexpectedResponse as error:
            if error.status_code == 404:
                name = kwargs.get("collection_name")
                if name is not None:
                    self._forget(name)
                    raise CollectionNotFoundError(name) from error
            raise QdrantRequestError(f"{method} failed: {_describe(error)}") from error
        except (ValueError, KeyError) as error:
            name = kwargs.get("collection_name")
            if name is not None and "not found" in str(error).lower():
                self._forget(name)
                raise CollectionNotFoundError(name) from error
            raise
        except Exception as error:
            if is_transient(error):
                raise QdrantRequestError(
                    f"{method} failed after {self.retry.max_attempts} attempts: {_describe(error)}"
                ) from error
            raise

    # ------------------------------------------------------------------ collections

    async def acollection_exists(self, collection_name: str) -> bool:
        return bool(await self._call("collection_exists", collection_name=collection_name))

    def collection_exists(self, collection_name: str) -> bool:
        """Sync twin of :meth:`acollection_exists`."""
        return run_sync(self.acollection_exists(collection_name))

    async def adelete_collection(self, collection_name: str) -> bool:
        """Delete a collection (and forget its cached layout). True if it existed."""
        self._forget(collection_name)
        return bool(await self._call("delete_collection", collection_name=collection_name))

    def delete_collection(self, collection_name: str) -> bool:
        """Sync twin of :meth:`adelete_collection`."""
        return run_sync(self.adelete_collection(collection_name))

    async def acreate_collection(
        self,
        collection_name: str,
        spec: CollectionSpec,
        *,
        dense_size: int | None = None,
        force_recreate: bool = False,
    ) -> CollectionLayout:
        """Create a collection with named vectors (recreate it with ``force_recreate``)."""
        if spec.dense and (dense_size is None or dense_size < 1):
            raise ConfigurationError("creating a collection with a dense vector needs its size")
        if force_recreate:
            await self.adelete_collection(collection_name)
        return await self.aensure_collection(collection_name, spec, dense_size=dense_size)

    def create_collection(
        self, collection_name: str, spec: CollectionSpec, *, dense_size: int | None = None,
        force_recreate: bool = False,
    ) -> CollectionLayout:
        """Sync twin of :meth:`acreate_collection`."""
        return run_sync(self.acreate_collection(
            collection_name, spec, dense_size=dense_size, force_recreate=force_recreate
        ))

    async def aensure_collection(
        self,
        collection_name: str,
        spec: CollectionSpec,
        *,
        dense_size: int | None = None,
        check_size: bool = True,
        create: bool = True,
    ) -> CollectionLayout:
        """The collection's layout: validated once and cached, created if missing.

        Creation needs ``dense_size`` when ``spec.dense``; without it a missing collection raises
        :class:`CollectionNotFoundError`. Concurrent first calls, from any loop or thread, create
        the collection once. ``check_size=False`` uses ``dense_size`` only to create: writers
        then check each vector and raise :class:`DimensionMismatchError` on their own.
        ``create=False`` (reads) never creates: a missing collection raises
        :class:`CollectionNotFoundError`.
        """
        self._check_open()
        expected = dense_size if check_size else None
        schema = self._schemas.get(collection_name)
        if schema is not None:
            return schema.resolve(collection_name, spec, expected)
        with self._lock:
            pending = self._pending.get(collection_name)
            owner = pending is None
            if owner:
                pending = concurrent.futures.Future()
                self._pending[collection_name] = pending
        assert pending is not None
        if not owner:
            schema = await asyncio.wrap_future(pending)
            return schema.resolve(collection_name, spec, expected)
        try:
            schema = await self._load_or_create(
                collection_name, spec, dense_size if create else None, create
            )
        except BaseException as error:
            pending.set_exception(error)
            with self._lock:
                self._pending.pop(collection_name, None)
            # A waiter may not have taken the exception; avoid "never retrieved" noise.
            pending.exception()
            raise
        with self._lock:
            self._schemas[collection_name] = schema
            self._pending.pop(collection_name, None)
        pending.set_result(schema)
        return schema.resolve(collection_name, spec, expected)

    def ensure_collection(
        self,
        collection_name: str,
        spec: CollectionSpec,
        *,
        dense_size: int | None = None,
        check_size: bool = True,
        create: bool = True,
    ) -> CollectionLayout:
        """Sync twin of :meth:`aensure_collection`."""
        return run_sync(self.aensure_collection(
            collection_name, spec, dense_size=dense_size, check_size=check_size, create=create
        ))

    async def aprefetch_collection(self, collection_name: str) -> None:
        """Look a collection up ahead of a write that still has input to check.

        A write must check all its input before it creates anything, so the lookup of its
        collection would otherwise be one more round trip after the checking. Started alongside
        the checking, it caches the layout of a collection that exists; a missing one is noted,
        and the next :meth:`aensure_collection` that may create goes straight to creating it.
        """
        self._check_open()
        if collection_name in self._schemas:
            return
        info = await self._info_or_none(collection_name)
        with self._lock:
            if info is None:
                self._absent.add(collection_name)
            else:
                self._schemas.setdefault(collection_name, _Schema.from_info(info))

    async def _info_or_none(self, collection_name: str) -> Any:
        try:
            return await self._call("get_collection", collection_name=collection_name)
        except CollectionNotFoundError:
            return None

    async def _load_or_create(
        self, collection_name: str, spec: CollectionSpec, dense_size: int | None, create: bool
    ) -> _Schema:
        can_create = create and not (spec.dense and dense_size is None)
        with self._lock:
            noted_absent = collection_name in self._absent
            self._absent.discard(collection_name)
        # Only a call that creates may trust the note: one that cannot must see for itself.
        info = None if noted_absent and can_create else await self._info_or_none(collection_name)
        if info is not None:
            return _Schema.from_info(info)
        if not can_create:
            raise CollectionNotFoundError(collection_name)
        schema = await self._create(collection_name, spec, dense_size)
        return schema or _Schema.from_spec(spec, dense_size)

    async def _create(
        self, collection_name: str, spec: CollectionSpec, dense_size: int | None
    ) -> _Schema | None:
        """Create the collection and its payload indexes; None, or the layout of the collection
        that someone else created first (used as it is)."""
        vectors: dict[str, models.VectorParams] = {}
        if spec.dense:
            assert dense_size is not None
            vectors[spec.vector_name or DEFAULT_DENSE_NAME] = models.VectorParams(
                size=dense_size,
                distance=spec.distance or models.Distance.COSINE,
                on_disk=spec.on_disk,
                hnsw_config=spec.hnsw_config,
                quantization_config=spec.quantization_config,
            )
        sparse: dict[str, models.SparseVectorParams] | None = None
        if spec.sparse:
            index = spec.sparse_index or models.SparseIndexParams()
            if index.on_disk is None and spec.on_disk is not None:
                index = index.model_copy(update={"on_disk": spec.on_disk})
            sparse = {
                spec.sparse_vector_name or DEFAULT_SPARSE_NAME: models.SparseVectorParams(
                    index=index, modifier=models.Modifier.IDF if spec.sparse_idf else None
                )
            }
        options = {
            "on_disk_payload": spec.on_disk_payload,
            "shard_number": spec.shard_number,
            "replication_factor": spec.replication_factor,
            "write_consistency_factor": spec.write_consistency_factor,
            **dict(spec.extra_create_options),
        }
        logger.debug("creating collection %s", collection_name)
        existing: _Schema | None = None
        indexes = dict(spec.payload_indexes)
        try:
            await self._call(
                "create_collection",
                collection_name=collection_name,
                vectors_config=vectors,
                sparse_vectors_config=sparse,
                **{k: v for k, v in options.items() if v is not None},
            )
        except Exception:  # a server's refusal, local mode's ValueError, a gRPC status
            # It may exist after all: created by someone else since our lookup (or the lookup
            # was a stale aprefetch_collection note), or by our own create whose answer was
            # lost and whose retry was refused. Then it is used as it is. A key that may not
            # create collections gets here too, and gets the same answer.
            try:
                info = await self._info_or_none(collection_name)
            except QdrantAioError as lookup_error:
                logger.debug("lookup after a refused create failed: %s", _describe(lookup_error))
                info = None  # the create's own error says more
            if info is None:
                raise
            existing = _Schema.from_info(info)
            try:
                existing.resolve(collection_name, spec, dense_size)
            except QdrantAioError:
                return existing  # not the collection asked for: the caller reports it, untouched
            # Only the indexes it lacks: a collection made by our own create whose answer was
            # lost gets them all; a field someone else indexed (maybe otherwise) is left alone.
            indexed = set(getattr(info, "payload_schema", None) or ())
            indexes = {f: s for f, s in spec.payload_indexes.items() if f not in indexed}
        for field_name, schema in indexes.items():
            await self._call(
                "create_payload_index",
                collection_name=collection_name,
                field_name=field_name,
                field_schema=schema,
            )
        return existing

    async def _prepare_all(
        self, points: Sequence[tuple[PointInput, PointId]], layout: CollectionLayout
    ) -> list[PreparedPoint]:
        """Validate every point of a batch before any of it is sent."""
        chunks = [points[i : i + PREPARE_CHUNK] for i in range(0, len(points), PREPARE_CHUNK)]
        prepare = functools.partial(
            prepare_points, layout=layout, dense_arrays=self.float32_vectors
        )
        prepared = await self.amap(prepare, chunks)
        return [point for chunk in prepared for point in chunk]

    def _forget(self, collection_name: str) -> None:
        with self._lock:
            self._schemas.pop(collection_name, None)

    # ------------------------------------------------------------------ writes

    async def aupsert(
        self,
        collection_name: str,
        points: Iterable[PointInput] | AsyncIterable[Sequence[PointInput]],
        spec: CollectionSpec | None = None,
        *,
        options: IngestOptions | None = None,
        expected_ids: Sequence[str | int] | None = None,
        show_progress: bool = False,
    ) -> list[str]:
        """Upsert points; return their external ids in input order (after de-duplication).

        ``points`` is either an iterable of points or an async iterable of batches of points. The
        async form lets a caller embed batch *n + 1* while batch *n* is being written. The
        collection is created on the first batch (its dense size taken from the first vector).
        Every point of a batch is validated before the batch is sent; ids are fixed before the
        first attempt, so retries never duplicate. When a failure survives its retries,
        :class:`IngestError` lists every id not written. If the async iterable itself fails part
        way (an embedding error), the ids not written are those of ``expected_ids`` (every id the
        caller's batches hold) that were not acknowledged, or, without it, those already read.
        ``show_progress=True`` shows the acknowledged points (tqdm when installed).
        """
        self._check_open()
        spec = spec or CollectionSpec()
        options = options or self.ingest_options
        total = len(expected_ids) if expected_ids is not None else None
        if isinstance(points, AsyncIterable):
            source: AsyncIterable[Sequence[PointInput]] = points
        else:
            point_list = list(points)
            total = len(point_list)
            source = _single_batch(point_list)
        progress = Progress(show_progress, total, f"upserting into {collection_name}")
        ingest = self._ingest(
            collection_name, source, spec, options, expected_ids, progress, total
        )
        try:
            if source is points:
                # The caller's own async iterable is read on the caller's loop, where its
                # code (embedding, reading files) expects to run.
                return await ingest
            return await self.arun_job(ingest)  # nothing but the engine's own work
        finally:
            progress.close()

    def upsert(
        self,
        collection_name: str,
        points: Iterable[PointInput] | AsyncIterable[Sequence[PointInput]],
        spec: CollectionSpec | None = None,
        *,
        options: IngestOptions | None = None,
        expected_ids: Sequence[str | int] | None = None,
        show_progress: bool = False,
    ) -> list[str]:
        """Sync twin of :meth:`aupsert`."""
        return run_sync(self.aupsert(
            collection_name, points, spec, options=options, expected_ids=expected_ids,
            show_progress=show_progress,
        ))

    async def _ingest(
        self,
        collection_name: str,
        source: AsyncIterable[Sequence[PointInput]],
        spec: CollectionSpec,
        options: IngestOptions,
        expected_ids: Sequence[str | int] | None,
        progress: Progress,
        total: int | None,
    ) -> list[str]:
        written_ids: list[str] = []
        slots = asyncio.Semaphore(options.max_concurrent_upserts)
        tasks: list[asyncio.Task[None]] = []
        in_flight: dict[asyncio.Task[None], list[str]] = {}
        not_sent: list[str] = []
        source_error: BaseException | None = None

        # Only a set ordering is sent: without one, Qdrant applies its own default.
        ordering: dict[str, Any] = (
            {} if options.ordering is None else {"ordering": options.ordering}
        )

        async def send(batch: list[PreparedPoint]) -> None:
            try:
                await self._call(
                    "upsert",
                    collection_name=collection_name,
                    points=[p.struct for p in batch],
                    wait=options.wait,
                    **ordering,
                )
                progress.advance(len(batch))
            finally:
                slots.release()

        def dispatch(request: list[PreparedPoint]) -> None:
            ids = [p.external_id for p in request]
            written_ids.extend(ids)
            task = asyncio.ensure_future(send(request))
            tasks.append(task)
            in_flight[task] = ids

        packer = RequestPacker(
            max_points=options.batch_size, max_bytes=options.max_request_bytes
        )
        layout: CollectionLayout | None = None
        sent: set[PointId] = set()
        reading: list[str] = []  # ids of the batch being validated and packed
        reading_from = 0  # where that batch's dispatched ids start in written_ids
        # The next batch is produced (embedded, built) while this one is checked and handed
        # to storage, not only while it is being written.
        batches = ReadAhead(source)
        try:
            async for raw_batch in batches:
                raw = list(raw_batch)
                pids: list[Any] = [p.point_id for p in raw]  # given by the adapters
                if any(pid is None for pid in pids):
                    # Made in slices: a made id costs ~4 us (uuid5), 20 ms for 5,000 points
                    # given to aupsert in one list, which held the loop that long.
                    pids = await self.amap(point_id_of, raw)
                unique = dedupe_last_wins(raw, pids)
                if not unique:
                    continue
                reading = [p.id if isinstance(p.id, str) else str(p.id) for p, _ in unique]
                reading_from = len(written_ids)
                if layout is None:
                    first = unique[0][0]
                    size = len(first.dense) if first.dense is not None else None
                    if self._schemas.get(collection_name) is None:
                        # Nothing is written for a bad first batch, not even its collection.
                        await self.amap(
                            functools.partial(check_vectors, dense_size=size),
                            [point for point, _ in unique],
                        )
                    layout = await self.aensure_collection(
                        collection_name, spec, dense_size=size, check_size=False
                    )
                    transport = self._transport
                    if total and isinstance(transport, EmbeddedTransport):
                        # Local mode's arrays get room for the whole add at once, instead of
                        # doubling (and copying) as points arrive.
                        await transport.reserve_rows(collection_name, total)
                prepared = await self._prepare_all(unique, layout)
                if not sent.isdisjoint(pid for _, pid in unique):
                    # An id repeated from an earlier batch: send what is pending and let it land
                    # first, so the later value wins as it would one call after another.
                    for request in packer.flush():
                        await slots.acquire()
                        dispatch(request)
                    reading_from = len(written_ids)
                    await asyncio.gather(*tasks, return_exceptions=True)
                sent.update(pid for _, pid in unique)
                for request in packer.add(prepared):
                    await slots.acquire()
                    dispatch(request)
                reading = []
            for request in packer.flush():
                await slots.acquire()
                dispatch(request)
        except asyncio.CancelledError:
            await batches.aclose()
            await cancel_and_wait(tasks)
            raise
        except Exception as error:  # bad input or an embedding failure mid-way
            await batches.aclose()
            if not tasks:
                raise  # nothing was sent: the caller sees the typed error itself
            source_error = error
            dispatched_now = set(written_ids[reading_from:])
            not_sent.extend(i for i in reading if i not in dispatched_now)
            not_sent.extend(p.external_id for r in packer.flush() for p in r)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = {
            task: result for task, result in zip(tasks, results, strict=True)
            if isinstance(result, BaseException)
        }
        if failed or source_error is not None:
            # An id is written when the last request that carried it succeeded (a later value
            # of a repeated id wins) and no later value of it was left unsent.
            last_request = {i: task for task in tasks for i in in_flight[task]}
            unsent = set(not_sent)
            if source_error is not None and expected_ids is not None:
                candidates = [str(i) for i in expected_ids]  # the rest was never even read
            else:
                candidates = [*written_ids, *not_sent]
            missing = [
                i for i in dict.fromkeys(candidates)
                if i in unsent or i not in last_request or last_request[i] in failed
            ]
            if source_error is not None:
                cause: BaseException = source_error
                message = f"ingest stopped: {type(source_error).__name__}: {source_error}"
            else:
                cause = next(iter(failed.values()))
                message = f"{len(failed)} upsert request(s) failed: {cause}"
            raise IngestError(message, missing) from cause
        return _last_occurrences(written_ids)

    async def adelete(
        self,
        collection_name: str,
        *,
        ids: Sequence[str | int] | None = None,
        filter: models.Filter | None = None,
    ) -> None:
        """Delete points by ids, by filter, or both (their intersection).

        With neither, raises :class:`InvalidInputError` instead of emptying the collection. An
        empty ``ids`` list deletes nothing.
        """
        if ids is None and filter is None:
            raise InvalidInputError(
                "delete needs ids or a filter; to remove everything, delete the collection"
            )
        if ids is not None and len(ids) == 0:
            return
        points_selector: models.PointIdsList | models.FilterSelector
        if filter is None:
            # Ids alone are a list of ids, not a `has_id` filter: embedded, a filter is tested
            # against every stored point (~0.25 s at 20,000 points), a list only touches its own.
            assert ids is not None
            points_selector = models.PointIdsList(points=list(await self.apoint_ids(ids)))
        else:
            selector = combine_filters(
                ids_filter(await self.apoint_ids(ids)) if ids is not None else None, filter
            )
            assert selector is not None
            points_selector = models.FilterSelector(filter=selector)
        try:
            await self._call(
                "delete",
                collection_name=collection_name,
                points_selector=points_selector,
                wait=True,
            )
        except CollectionNotFoundError:
            return

    def delete(
        self,
        collection_name: str,
        *,
        ids: Sequence[str | int] | None = None,
        filter: models.Filter | None = None,
    ) -> None:
        """Sync twin of :meth:`adelete`."""
        run_sync(self.adelete(collection_name, ids=ids, filter=filter))

    # ------------------------------------------------------------------ reads

    async def aquery(
        self, collection_name: str, request: SearchRequest, spec: CollectionSpec | None = None
    ) -> list[Hit]:
        """Run one search (dense, sparse, hybrid or MMR) in one request."""
        layout = await self.aensure_collection(
            collection_name, spec or _spec_for(request), create=False
        )
        kwargs = build_query(request, layout, float32_query=self._float32_queries)
        # A batch has one read consistency: a search that sets its own goes alone.
        if self._coalescer is not None and "consistency" not in kwargs:
            points = await self._coalescer.query(collection_name, kwargs)
        else:
            points = await self._query_points(collection_name, kwargs)
        return [hit_from_point(p) for p in points]

    async def _query_points(self, collection_name: str, search: dict[str, Any]) -> list[Any]:
        """One search (:func:`build_query` arguments) in one request: its points."""
        response = await self._call(
            "query_points",
            collection_name=collection_name,
            query=search["query"],
            using=search.get("using"),
            prefetch=search.get("prefetch"),
            query_filter=search["filter"],
            limit=search["limit"],
            offset=search["offset"],
            with_payload=search["with_payload"],
            with_vectors=search["with_vector"],
            score_threshold=search["score_threshold"],
            search_params=search.get("params"),
            **({"consistency": search["consistency"]} if "consistency" in search else {}),
        )
        return list(response.points)

    async def _query_batch_points(
        self, collection_name: str, searches: Sequence[dict[str, Any]]
    ) -> list[list[Any]]:
        """Several searches in one request: the points of each, in order."""
        consistencies = {repr(search.get("consistency")) for search in searches}
        if len(consistencies) > 1:
            raise InvalidInputError("the searches of one batch must share one read consistency")
        consistency = searches[0].get("consistency") if searches else None
        bodies = [
            models.QueryRequest(**{k: v for k, v in search.items() if k != "consistency"})
            for search in searches
        ]
        responses = await self._call(
            "query_batch_points", collection_name=collection_name, requests=bodies,
            **({"consistency": consistency} if consistency is not None else {}),
        )
        return [list(r.points) for r in responses]

    def query(
        self, collection_name: str, request: SearchRequest, spec: CollectionSpec | None = None
    ) -> list[Hit]:
        """Sync twin of :meth:`aquery`."""
        return run_sync(self.aquery(collection_name, request, spec))

    async def aquery_batch(
        self,
        collection_name: str,
        requests: Sequence[SearchRequest],
        spec: CollectionSpec | None = None,
    ) -> list[list[Hit]]:
        """Run several searches in one request (Qdrant's batch query)."""
        if not requests:
            return []
        layout = await self.aensure_collection(
            collection_name, spec or _spec_for(requests[0]), create=False
        )
        searches = [build_query(r, layout, float32_query=self._float32_queries) for r in requests]
        responses = await self._query_batch_points(collection_name, searches)
        return [[hit_from_point(p) for p in points] for points in responses]

    def query_batch(
        self,
        collection_name: str,
        requests: Sequence[SearchRequest],
        spec: CollectionSpec | None = None,
    ) -> list[list[Hit]]:
        """Sync twin of :meth:`aquery_batch`."""
        return run_sync(self.aquery_batch(collection_name, requests, spec))

    async def apoint_ids(self, ids: Sequence[str | int]) -> list[PointId]:
        """The Qdrant point ids that store external ``ids`` (:class:`InvalidInputError` for an
        id that cannot be one). A made id costs ~4 us (uuid5): a long list is mapped in slices
        (:meth:`amap`), so thousands of ids to delete or fetch do not hold the loop."""
        as_given = canonical_uuid_ids(ids)
        if as_given is not None:
            return list[PointId](as_given)
        if len(ids) <= _IDS_INLINE:
            return [checked_point_id(i) for i in ids]
        return await self.amap(checked_point_id, ids)

    async def aretrieve(
        self, collection_name: str, ids: Sequence[str | int], *, with_vectors: bool = False
    ) -> list[Hit]:
        """Points by external id, in the order asked, skipping ids that are not stored."""
        if not ids:
            return []
        point_ids = await self.apoint_ids(ids)
        try:
            records = await self._call(
                "retrieve",
                collection_name=collection_name,
                ids=point_ids,
                with_payload=True,
                with_vectors=with_vectors,
            )
        except CollectionNotFoundError:
            return []
        by_id = {_key(r.id): hit_from_point(r) for r in records}
        ordered: list[Hit] = []
        seen: set[str] = set()
        for pid in point_ids:
            key = _key(pid)
            if key in by_id and key not in seen:
                seen.add(key)
                ordered.append(by_id[key])
        return ordered

    def retrieve(
        self, collection_name: str, ids: Sequence[str | int], *, with_vectors: bool = False
    ) -> list[Hit]:
        """Sync twin of :meth:`aretrieve`."""
        return run_sync(self.aretrieve(collection_name, ids, with_vectors=with_vectors))

    async def ascroll(
        self,
        collection_name: str,
        *,
        filter: models.Filter | None = None,
        limit: int = 256,
        offset: PointId | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[Hit], PointId | None]:
        """One page of points matching ``filter`` and the offset of the next page (or None)."""
        try:
            records, next_offset = await self._call(
                "scroll",
                collection_name=collection_name,
                scroll_filter=filter,
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
        except CollectionNotFoundError:
            return [], None
        return [hit_from_point(r) for r in records], next_offset

    def scroll(
        self,
        collection_name: str,
        *,
        filter: models.Filter | None = None,
        limit: int = 256,
        offset: PointId | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[Hit], PointId | None]:
        """Sync twin of :meth:`ascroll`."""
        return run_sync(self.ascroll(
            collection_name, filter=filter, limit=limit, offset=offset, with_vectors=with_vectors
        ))

    async def ascroll_all(
        self,
        collection_name: str,
        *,
        filter: models.Filter | None = None,
        page_size: int = 1024,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """Every point matching ``filter``, following pagination to the end (no silent cap)."""
        hits: list[Hit] = []
        offset: PointId | None = None
        while True:
            page, offset = await self.ascroll(
                collection_name, filter=filter, limit=page_size, offset=offset,
                with_vectors=with_vectors,
            )
            hits.extend(page)
            if offset is None:
                return hits

    def scroll_all(
        self,
        collection_name: str,
        *,
        filter: models.Filter | None = None,
        page_size: int = 1024,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """Sync twin of :meth:`ascroll_all`."""
        return run_sync(self.ascroll_all(
            collection_name, filter=filter, page_size=page_size, with_vectors=with_vectors
        ))

    async def acount(
        self, collection_name: str, *, filter: models.Filter | None = None, exact: bool = True
    ) -> int:
        """How many points match ``filter`` (0 if the collection does not exist)."""
        try:
            result = await self._call(
                "count", collection_name=collection_name, count_filter=filter, exact=exact
            )
        except CollectionNotFoundError:
            return 0
        return int(result.count)

    def count(
        self, collection_name: str, *, filter: models.Filter | None = None, exact: bool = True
    ) -> int:
        """Sync twin of :meth:`acount`."""
        return run_sync(self.acount(collection_name, filter=filter, exact=exact))


_shared_engines: weakref.WeakKeyDictionary[object, QdrantEngine] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def engine_for(client: QdrantEngine | AsyncQdrantClient | QdrantClient) -> QdrantEngine:
    """The engine for ``client``: itself if it is one, else one engine shared per client object.

    Stores built on the same client share one engine, so an embedded client is still used from a
    single storage thread however many stores wrap it.
    """
    if isinstance(client, QdrantEngine):
        return client
    if not isinstance(client, (AsyncQdrantClient, QdrantClient)):
        raise UnsupportedClientError(
            "expected a QdrantEngine, an AsyncQdrantClient or a QdrantClient, got "
            f"{type(client).__module__}.{type(client).__qualname__}"
        )
    with _shared_lock:
        engine = _shared_engines.get(client)
        if engine is None or engine.closed:
            engine = QdrantEngine.from_client(client)
            _shared_engines[client] = engine
        return engine


# Engines of embedded folders opened by stores, with how many stores hold each: qdrant-client's
# local mode allows one client per folder, so stores of one process share its engine.
_folder_engines: dict[str, tuple[QdrantEngine, int]] = {}


def hold_folder_engine(path: str, **options: Any) -> QdrantEngine:
    """The engine of the embedded folder ``path``, for a store that opens it itself.

    Stores of one process that open the same folder share one engine (embedded mode allows one
    client per folder): the first opens it with its ``options`` (a later store's are not
    applied), and it stays open until every store holding it has given it back with
    :func:`arelease_engine`. Another process, or a client of your own on the folder, still
    gets :class:`~qdrant_aio.errors.StorageLockedError`.
    """
    key = os.path.realpath(path)
    with _shared_lock:
        held = _folder_engines.get(key)
        if held is not None and not held[0].closed:
            _folder_engines[key] = (held[0], held[1] + 1)
            return held[0]
        engine = QdrantEngine(path=path, **options)
        _folder_engines[key] = (engine, 1)
        return engine


async def arelease_engine(engine: QdrantEngine) -> None:
    """Give back an engine a store created or held: a folder engine closes when its last
    holder gives it back, any other at once."""
    with _shared_lock:
        for key, (held, holders) in _folder_engines.items():
            if held is engine:
                if holders > 1:
                    _folder_engines[key] = (held, holders - 1)
                    return
                del _folder_engines[key]
                break
    await engine.aclose()


def _spec_for(request: SearchRequest) -> CollectionSpec:
    """The least a search needs of its collection, when the caller gave no spec."""
    return CollectionSpec(dense=request.dense is not None, sparse=request.sparse is not None)


def _new_transport(
    location: str | None,
    *,
    path: str | None,
    url: str | None,
    host: str | None,
    port: int | None,
    grpc_port: int,
    prefer_grpc: bool,
    https: bool | None,
    api_key: str | None,
    prefix: str | None,
    timeout: int | None,
    client_options: Mapping[str, Any] | None,
    switch_interval: float | None,
    readers: int,
    limit_blas: bool,
    reader_nice: int,
) -> Transport:
    """The transport of a :class:`QdrantEngine` built from connection arguments."""
    remote = url is not None or host is not None or (
        location is not None and location != ":memory:"
    )
    if remote and path is not None:
        raise ConfigurationError("give either a server (url/host/location) or a path, not both")
    if remote:
        options: dict[str, Any] = {
            "location": location if location not in (None, ":memory:") else None,
            "url": url,
            "host": host,
            "port": port,
            "grpc_port": grpc_port,
            "prefer_grpc": prefer_grpc,
            "https": https,
            "api_key": api_key,
            "prefix": prefix,
            "timeout": timeout,
            **dict(client_options or {}),
        }
        return RemoteTransport({k: v for k, v in options.items() if v is not None})
    if api_key is not None:
        raise ConfigurationError("api_key needs a server url; embedded mode has no key")
    return EmbeddedTransport(
        location=location, path=path, switch_interval=switch_interval, readers=readers,
        limit_blas=limit_blas, reader_nice=reader_nice,
    )


async def _single_batch(points: list[PointInput]) -> AsyncIterable[Sequence[PointInput]]:
    if points:
        yield points


def _last_occurrences(ids: list[str]) -> list[str]:
    """``ids`` without repeats, each at its last position (the value that was written last)."""
    last = {i: position for position, i in enumerate(ids)}
    return [i for position, i in enumerate(ids) if last[i] == position]


# Ids made inline, without a slice of their own: at most ~1 ms of work.
_IDS_INLINE = 256


def _key(point_id: Any) -> str:
    return str(point_id)


def _describe(error: BaseException) -> str:
    if isinstance(error, UnexpectedResponse):
        content = error.content.decode("utf-8", "replace")[:500] if error.content else ""
        return f"HTTP {error.status_code} {error.reason_phrase} {content}".strip()
    return f"{type(error).__name__}: {error}"


def _pick(
    names: Iterable[str], wanted: str | None, default: str, kind: str, collection: str
) -> str | None:
    available = sorted(names)
    if wanted is not None:
        if wanted not in available:
            shown = ["(unnamed)" if n == UNNAMED_VECTOR else n for n in available]
            raise CollectionMismatchError(collection, f"{kind} vector name", wanted, shown)
        return wanted
    if default in available:
        return default
    if len(available) == 1:
        return available[0]
    if not available:
        return None
    raise CollectionMismatchError(
        collection, f"{kind} vector name (several exist; name one)", default, available
    )


# Collections already warned about (a warning per collection, not per search).
_IDF_WARNED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class _Schema:
    """The vectors a collection has: dense name -> (size, distance), and sparse names."""

    dense: Mapping[str, tuple[int, models.Distance]]
    sparse: frozenset[str]
    sparse_without_idf: frozenset[str] = frozenset()

    @classmethod
    def from_info(cls, info: Any) -> _Schema:
        params = info.config.params
        vectors = params.vectors
        dense: dict[str, tuple[int, models.Distance]] = {}
        if isinstance(vectors, models.VectorParams):
            dense[UNNAMED_VECTOR] = (vectors.size, vectors.distance)
        elif vectors:
            dense = {k: (v.size, v.distance) for k, v in vectors.items()}
        sparse = params.sparse_vectors or {}
        no_idf = {k for k, v in sparse.items() if v.modifier != models.Modifier.IDF}
        return cls(dense, frozenset(sparse.keys()), frozenset(no_idf))

    @classmethod
    def from_spec(cls, spec: CollectionSpec, dense_size: int | None) -> _Schema:
        dense: dict[str, tuple[int, models.Distance]] = {}
        if spec.dense:
            assert dense_size is not None
            name = spec.vector_name or DEFAULT_DENSE_NAME
            dense[name] = (dense_size, spec.distance or models.Distance.COSINE)
        sparse = frozenset({spec.sparse_vector_name or DEFAULT_SPARSE_NAME} if spec.sparse else ())
        return cls(dense, sparse, frozenset() if spec.sparse_idf else sparse)

    def resolve(
        self, name: str, spec: CollectionSpec, dense_size: int | None
    ) -> CollectionLayout:
        """Check ``spec`` against this schema and name the vectors to use (pure, cheap)."""
        dense_name: str | None = None
        size: int | None = None
        distance: models.Distance | None = None
        if spec.dense or spec.vector_name is not None:
            dense_name = _pick(self.dense, spec.vector_name, DEFAULT_DENSE_NAME, "dense", name)
            if dense_name is None:
                raise CollectionMismatchError(name, "dense vector", "a dense vector", "none")
            size, distance = self.dense[dense_name]
            if dense_size is not None and size != dense_size:
                raise CollectionMismatchError(name, "dense vector size", dense_size, size)
            if spec.distance is not None and distance != spec.distance:
                raise CollectionMismatchError(name, "distance", spec.distance, distance)
        sparse_name: str | None = None
        if spec.sparse or spec.sparse_vector_name is not None:
            sparse_name = _pick(
                self.sparse, spec.sparse_vector_name, DEFAULT_SPARSE_NAME, "sparse", name
            )
            if sparse_name is None:
                raise CollectionMismatchError(name, "sparse vector", "a sparse vector", "none")
            if (
                spec.sparse_idf
                and sparse_name in self.sparse_without_idf
                and (name, sparse_name) not in _IDF_WARNED
            ):
                _IDF_WARNED.add((name, sparse_name))
                # Term-frequency encoders (BM25) rely on Qdrant's IDF; without it scores still
                # rank, but rare terms no longer weigh more. Worth a warning, not a refusal:
                # collections written by other packages are often like this.
                logger.warning(
                    "collection %s: sparse vector %s has no IDF modifier, which this store "
                    "expects (sparse_idf=True): term-frequency scores such as BM25's will not "
                    "weigh rare terms (pass sparse_idf=False for an encoder with weights of its "
                    "own)", name, sparse_name,
                )
        return CollectionLayout(name, dense_name, size, distance, sparse_name)
