"""How a call reaches qdrant-client: embedded storage thread, or one async client per event loop.

Two transports, one interface (``await transport.call("query_points", **kwargs)``):

* :class:`EmbeddedTransport` (in memory or a local folder) keeps exactly one storage instance and
  runs every call on its own storage thread. Sync and async callers therefore share data, the
  caller's event loop never runs the in-process search, and calls are serialised, which is what
  qdrant-client's local mode needs (it is not thread-safe).
* :class:`RemoteTransport` (server, Cloud, cluster) gives each event loop its own
  ``AsyncQdrantClient``, made from the same connection options, because the HTTP and gRPC
  connections of an async client belong to the loop that opened them. Async callers are served on
  their own loop with no thread hop; sync callers are served on the bridge loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import sys
import threading
import types
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import qdrant_client
from qdrant_client import AsyncQdrantClient, QdrantClient
from qdrant_client.async_qdrant_remote import AsyncQdrantRemote

from ._logging import logger
from .blas import side_by_side_blas
from .bridge import LoopThread, QueueThread, hand_over_gil
from .errors import ConfigurationError, EngineClosedError, StorageLockedError
from .grpc_upsert import grpc_connection_for_upserts, points_for_grpc
from .local_capacity import reserve_dense_rows
from .rest_upsert import rest_connection_for_upserts, upsert_over_rest

__all__ = [
    "Transport",
    "EmbeddedTransport",
    "RemoteTransport",
    "is_embedded_client",
    "url_without_credentials",
]

T = TypeVar("T")


class Transport(Protocol):
    embedded: bool

    async def call(self, method: str, /, **kwargs: Any) -> Any: ...

    async def aclose(self) -> None: ...

    def describe(self) -> str: ...


def url_without_credentials(text: str) -> str:
    """``text`` with the user and password of a URL in it left out (https://user:key@host:
    the key may be an API key), and its query and fragment (``?api-key=...``); anything that
    is not such a URL as it is."""
    parts = urlsplit(text)
    if not (parts.scheme and parts.netloc):
        return text
    if not (parts.username or parts.password or parts.query or parts.fragment):
        return text
    return urlunsplit(
        parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment="")
    )


def is_embedded_client(client: QdrantClient | AsyncQdrantClient) -> bool:
    """Whether ``client`` runs qdrant-client's local mode (in memory or a folder)."""
    return _local_store(client) is not None


class EmbeddedTransport:
    """One local-mode client, used only from one storage thread."""

    embedded = True

    def __init__(
        self,
        *,
        location: str | None = None,
        path: str | None = None,
        client: QdrantClient | AsyncQdrantClient | None = None,
        switch_interval: float | None = None,
        readers: int = 0,
        limit_blas: bool = True,
        reader_nice: int = 0,
    ) -> None:
        if switch_interval is not None:
            shorten_switch_interval(switch_interval)
        if readers < 0:
            raise ValueError("readers must be 0 or more")
        if not isinstance(reader_nice, int) or not 0 <= reader_nice <= 19:
            raise ConfigurationError("reader_nice must be a whole number from 0 to 19")
        self._reader_nice = reader_nice
        self._storage = LoopThread("qdrant-aio-storage")
        self._rw = ReadWriteLock()
        self._readers: list[QueueThread] = []  # started on the first read
        self._reading: dict[QueueThread, int] = {}
        self._reading_lock = threading.Lock()
        self._search_scope: Callable[[], contextlib.AbstractContextManager[None]] = (
            side_by_side_blas.search if limit_blas else contextlib.nullcontext
        )
        self._owns_client = client is None
        self._where = path if path is not None else (location or ":memory:")
        self._closed = False
        if client is None:
            try:
                client = self._storage.submit(_open_local(location, path)).result()
            except RuntimeError as error:
                self._stop_threads()
                if "already accessed" in str(error):
                    raise StorageLockedError(
                        f"the embedded storage folder {path!r} is already in use by another "
                        "client or engine (embedded mode allows one per folder); close that one, "
                        "share it, or use a Qdrant server"
                    ) from error
                raise
            except BaseException:
                self._stop_threads()
                raise
        self._client: QdrantClient | AsyncQdrantClient = client
        # A sync qdrant-client client answers reads with values: a reader runs them as plain
        # calls, with no event-loop turn on its thread (~0.17 ms less per search, from timestamps
        # over 600 sequential searches). Anything else (an AsyncQdrantClient, a wrapper) may return
        # awaitables, which run on the reader's own loop.
        self._reads_return_values = isinstance(client, QdrantClient)
        # The local store inside a qdrant-client client (None for anything else, e.g. a test
        # wrapper): upserts go straight to it, and it says whether it writes to a folder.
        local = _local_store(client)
        self._local = local if isinstance(client, (QdrantClient, AsyncQdrantClient)) else None
        # Unknown (not a qdrant-client local store): assume a folder, the safe side.
        self.persistent: bool = bool(getattr(local, "persistent", True))
        if readers and self.persistent:
            # Side by side only in memory. Local mode's cosine search divides the stored
            # vectors by their norms in place, on every search: a no-op in memory, where every
            # write stores them unit-normalised, but a folder's vectors are loaded as written,
            # and two first searches side by side would both divide (wrong scores, found in
            # review). So a folder's reads stay on the storage thread, one at a time.
            logger.debug("embedded folder store: reads run on the storage thread, not readers")
            readers = 0
        # Reads side by side with this many threads; writes take the write lock whenever it is
        # not 0, even before the readers have started.
        self._reader_count = readers
        if readers and limit_blas:
            # The limit's first use looks for BLAS libraries: done now, on the storage thread,
            # instead of on your loop in its first burst of searches (see SideBySideBlas.prepare).
            self._storage.submit(_call(side_by_side_blas.prepare))

    @property
    def float32_queries(self) -> bool:
        """Whether searches may hand qdrant-client's local store dense queries as float32 arrays
        (see ``query._dense_query``). Only through qdrant-client's own query methods: an
        override or a patch (tracing, say) may validate or serialise the query, which an array
        in an unvalidated model does not survive."""
        return self._local is not None and _own_methods(
            self._client, ("query_points", "query_batch_points")
        )

    @property
    def storage_thread(self) -> threading.Thread:
        return self._storage.thread

    def describe(self) -> str:
        return f"embedded({self._where})"

    async def call(self, method: str, /, **kwargs: Any) -> Any:
        if self._closed:
            raise EngineClosedError("the engine is closed")
        if self._reader_count and method in READ_METHODS:
            return await self._read(method, kwargs)
        return await self._storage.run_async(self._write(method, kwargs))

    async def _read(self, method: str, kwargs: dict[str, Any]) -> Any:
        # The least busy reader thread; the read lock lets reads run side by side (searches
        # spend most of their time in numpy, which releases the GIL) but never beside a write.
        with self._reading_lock:  # callers may be on several threads (loops, the bridge)
            if not self._readers:
                if self._closed:
                    raise EngineClosedError("the engine is closed")
                # Started on first use: an engine that only writes never has them.
                self._readers = [
                    QueueThread(f"qdrant-aio-reader-{n}", nice=self._reader_nice)
                    for n in range(self._reader_count)
                ]
                self._reading = dict.fromkeys(self._readers, 0)
            reader = min(self._readers, key=self._reading.__getitem__)
            self._reading[reader] += 1
        try:
            # Counted from submission, not only while running: with several reads queued the
            # readers run back to back, and a count that dipped between two searches would
            # switch BLAS threads back and forth after every search.
            with self._search_scope():
                try:
                    pending: Awaitable[Any] = (
                        reader.call(functools.partial(self._read_now, method, kwargs))
                        if self._reads_return_values
                        else asyncio.wrap_future(reader.submit(self._shared(method, kwargs)))
                    )
                except RuntimeError as error:  # the reader stopped after the check in call()
                    raise EngineClosedError("the engine is closed") from error
                # Outside the try: a RuntimeError of the read itself is the read's own error.
                return await pending
        finally:
            with self._reading_lock:
                self._reading[reader] -= 1

    def _read_now(self, method: str, kwargs: dict[str, Any]) -> Any:
        with self._rw.reading():
            return getattr(self._client, method)(**kwargs)

    async def _shared(self, method: str, kwargs: dict[str, Any]) -> Any:
        with self._rw.reading():
            return await self._invoke(method, kwargs)

    async def _write(self, method: str, kwargs: dict[str, Any]) -> Any:
        with self._writing():
            return await self._invoke(method, kwargs)

    def _writing(self) -> contextlib.AbstractContextManager[None]:
        # With reader threads (started or not yet), every write takes the write lock.
        return self._rw.writing() if self._reader_count else contextlib.nullcontext()

    async def reserve_rows(self, collection_name: str, rows: int) -> None:
        """Room for ``rows`` more points in the collection's dense arrays (an add's size).

        Only for qdrant-client's own local store, as a write; see
        :func:`qdrant_aio.local_capacity.reserve_dense_rows`.
        """
        local = self._local
        if local is None or self._closed:
            return
        await self._storage.run_async(self._reserve(local, collection_name, rows))

    async def _reserve(self, local: Any, collection_name: str, rows: int) -> None:
        # Built beside the old arrays, on this thread (no other write can run meanwhile); only
        # the swap takes the write lock, so searches go on while the new rows are written.
        reserve_dense_rows(local, collection_name, rows, installing=self._writing)

    async def run_job(self, job: Coroutine[Any, Any, T]) -> T:
        """Run a job of several steps (an adapter's add) on the storage thread as one piece.

        Its per-point work and its writes then run where the points are stored, one after
        another on one thread, and no step waits for the caller's loop to hand over the next:
        with the GIL, one busy thread gets more done than two passing work back and forth.
        """
        if self._closed:
            job.close()
            raise EngineClosedError("the engine is closed")
        try:
            return await self._storage.run_job(job)
        except RuntimeError as error:
            if self._storage.is_alive():
                raise  # the job's own error
            raise EngineClosedError("the engine is closed") from error

    async def run_cpu(self, work: Callable[[], T]) -> T:
        """Run pure CPU work (checks, payloads; never the client) on the storage thread.

        With the GIL, two busy Python threads cost far more CPU than one doing both jobs (the
        hand-overs and cold caches measured about 40% more per upsert): so the caller's loop
        hands its per-point work to the thread that writes the points, and stays idle.
        """
        if self._closed:
            raise EngineClosedError("the engine is closed")
        if self._storage.in_thread():
            # Inside a job on the storage thread: let other calls queued there (another
            # caller's write) go between two slices, as they would between two hand-overs,
            # and let your loop's thread have the interpreter lock (see hand_over_gil).
            await asyncio.sleep(0)
            hand_over_gil()
            return work()
        return await self._storage.run_async(_call(work))

    async def _invoke(self, method: str, kwargs: dict[str, Any]) -> Any:
        # No warnings.catch_warnings() here: it swaps the process-wide filter list and is not
        # thread-safe. qdrant-client warns once per process about local payload indexes.
        target: Any = self._client
        if method == "upsert" and self._local is not None:
            # The public client first scans every point for inference objects (documents or
            # images to embed); the engine builds points from numbers only, so go straight to
            # the local store.
            target = self._local
        result = getattr(target, method)(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Reads already submitted finish (a reader takes no more work once stopped, and ends
        # after its queue); queued calls run first (the storage loop is FIFO), so acknowledged
        # writes are kept.
        # Jobs still running (an add) are cancelled at their current step, and their callers
        # get a typed error; what they wrote so far stays written. Not left to finish: a job
        # may be waiting for user code on the very loop a sync close() is blocking.
        await self._storage.run_async(self._storage.stop_jobs(_closed_during_the_call))
        with self._reading_lock:  # no reader starts from here on (_closed is set)
            readers = list(self._readers)
        for reader in readers:
            reader.stop(wait=False)
        await asyncio.gather(*(asyncio.wrap_future(r.finished) for r in readers))
        if self._owns_client:
            await self._storage.run_async(self._write("close", {}))
        else:
            await self._storage.run_async(_noop())
        self._stop_threads()

    def _stop_threads(self) -> None:
        self._storage.stop()
        for reader in self._readers:
            reader.stop()


# Calls that only read the local store: with reader threads, they run side by side. (One of
# them writes: local mode's cosine search divides the stored vectors by their norms in place on
# every search. In memory they are unit vectors already (every write normalises them), so a
# search beside it sees the same values to within a rounding step; a folder's vectors are not,
# which is why folder stores get no reader threads.)
READ_METHODS = frozenset(
    {"query_points", "query_batch_points", "retrieve", "scroll", "count"}
)


class ReadWriteLock:
    """Reads side by side, or writes, never both; a waiting write holds new reads back.

    Writes all come from the storage thread and reads from reader threads; a call may suspend
    while holding its side (an async client), and another call of the same thread may then
    start. So writes never wait for writes, and a thread already reading never waits to read
    again: either would wait for a call that only its own (blocked) thread can finish.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._reads = 0
        self._writes = 0
        self._writes_waiting = 0
        self._local = threading.local()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        held = getattr(self._local, "reads", 0)
        with self._cond:
            while not held and (self._writes or self._writes_waiting):
                self._cond.wait()
            self._reads += 1
        self._local.reads = held + 1
        try:
            yield
        finally:
            self._local.reads -= 1
            with self._cond:
                self._reads -= 1
                if not self._reads:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writes_waiting += 1
            try:
                while self._reads:
                    self._cond.wait()
            finally:
                self._writes_waiting -= 1
            self._writes += 1
        try:
            yield
        finally:
            with self._cond:
                self._writes -= 1
                if not self._writes:
                    self._cond.notify_all()


def shorten_switch_interval(seconds: float) -> None:
    """Let a thread waiting for the GIL get it back within ``seconds`` (never lengthens it).

    The storage thread runs qdrant-client's local mode, which is Python code holding the GIL.
    When the event-loop thread wakes up it must wait for the holder to hand the GIL over, which
    CPython asks for only after the switch interval (5 ms by default): that wait is the loop's
    lateness. A shorter interval bounds it. It is interpreter-wide, hence opt-out.
    """
    if seconds <= 0:
        raise ValueError("switch interval must be positive")
    if sys.getswitchinterval() > seconds:
        logger.debug("embedded mode: interpreter switch interval set to %s s", seconds)
        sys.setswitchinterval(seconds)


def _closed_during_the_call() -> EngineClosedError:
    return EngineClosedError("the engine was closed during the call")


async def _noop() -> None:
    return None


async def _call(work: Callable[[], T]) -> T:
    return work()


def _inner_client(client: object, kinds: frozenset[str]) -> Any:
    """The client a qdrant-client client wraps, if of one of ``kinds`` (else None)."""
    inner = getattr(client, "_client", None)
    return inner if type(inner).__name__ in kinds else None


def _local_store(client: object) -> Any:
    """The local-mode store inside a qdrant-client client, or None (a wrapper, another kind)."""
    return _inner_client(client, _LOCAL_KINDS)


def _remote_connection(client: object) -> Any:
    """The REST/gRPC connection inside an ``AsyncQdrantClient`` whose ``upsert`` is
    qdrant-client's own, or None: a wrapper, a subclass that changes upserts, or an ``upsert``
    patched on the class or the instance (tracing, tests) is called as it is."""
    if not _own_methods(client, ("upsert",)):
        return None
    return _inner_client(client, _REMOTE_KINDS)


def _own_upserts(connection: object) -> bool:
    """Whether ``connection``'s upserts may be prepared here (:mod:`qdrant_aio.rest_upsert`,
    :mod:`qdrant_aio.grpc_upsert`): it is qdrant-client's connection, and its ``upsert`` is
    qdrant-client's own (a wrapper patched on its class or on it, for tracing or tests, is
    called as it is)."""
    return connection is not None and _own_methods(connection, ("upsert",))


def _own_methods(client: object, names: tuple[str, ...]) -> bool:
    """Whether ``client`` is a qdrant-client client whose methods ``names`` are qdrant-client's
    own: not overridden by a subclass, nor patched on the class or on the instance."""
    for base, own in _OWN_METHODS.items():
        if isinstance(client, base):
            patched = getattr(client, "__dict__", {})
            return all(
                getattr(type(client), name, None) is own[name] and name not in patched
                for name in names
            )
    return False


def _defined_in_qdrant_client(method: Any) -> Any:
    """``method`` if it is a plain function whose code is qdrant-client's, else a marker that
    matches nothing: a wrapper installed before this module was imported (tracing tools wrap
    the client's methods at start-up) is then not taken for qdrant-client's own."""
    code = getattr(method, "__code__", None)
    if type(method) is types.FunctionType and code is not None:
        if Path(code.co_filename).resolve().is_relative_to(_QDRANT_CLIENT_DIR):
            return method
    return object()


_QDRANT_CLIENT_DIR = Path(qdrant_client.__file__).resolve().parent

# qdrant-client's own methods, taken when this module is imported (a patch applied later, on
# the class, then no longer matches them).
_OWN_METHODS: dict[type, dict[str, Any]] = {
    base: {
        name: _defined_in_qdrant_client(getattr(base, name))
        for name in ("upsert", "query_points", "query_batch_points")
    }
    for base in (QdrantClient, AsyncQdrantClient, AsyncQdrantRemote)
}


# The arguments the engine's upserts give (``ordering`` only when set): the ones
# upsert_over_rest takes, and the only ones with which points are converted for gRPC here.
_UPSERT_ARGUMENTS = frozenset({"collection_name", "points", "wait"})
_UPSERT_OPTIONAL_ARGUMENTS = frozenset({"ordering"})

_LOCAL_KINDS = frozenset({"QdrantLocal", "AsyncQdrantLocal"})
_REMOTE_KINDS = frozenset({"AsyncQdrantRemote"})


async def _open_local(location: str | None, path: str | None) -> QdrantClient:
    if path is not None:
        return QdrantClient(path=path, force_disable_check_same_thread=True)
    return QdrantClient(location=location or ":memory:")


@dataclass
class _LoopClient:
    loop: weakref.ref[asyncio.AbstractEventLoop]
    client: AsyncQdrantClient
    owned: bool


class RemoteTransport:
    """One ``AsyncQdrantClient`` per event loop, all made from the same options."""

    embedded = False

    def __init__(
        self, options: dict[str, Any], *, user_client: AsyncQdrantClient | None = None
    ) -> None:
        # `options` holds the api key: never log, repr or raise it.
        self._options = dict(options)
        self._user_client = user_client
        self._clients: dict[int, _LoopClient] = {}
        self._lock = threading.Lock()
        self._closed = False

    def describe(self) -> str:
        url = self._options.get("url") or self._options.get("host") or self._options.get("location")
        return f"remote({url_without_credentials(str(url))})"

    def _client_for(self, loop: asyncio.AbstractEventLoop) -> AsyncQdrantClient:
        with self._lock:
            if self._closed:
                raise EngineClosedError("the engine is closed")
            entry = self._clients.get(id(loop))
            if entry is not None and entry.loop() is loop:
                return entry.client
            self._prune_dead_loops()
            if self._user_client is not None:
                # The caller's own client serves the first loop that uses it; other loops get
                # their own twin, since its connections cannot move between loops.
                client, owned = self._user_client, False
                self._user_client = None
            else:
                client, owned = AsyncQdrantClient(**self._options), True
            self._clients[id(loop)] = _LoopClient(weakref.ref(loop), client, owned)
            return client

    def _prune_dead_loops(self) -> None:
        for key, entry in list(self._clients.items()):
            loop = entry.loop()
            if loop is None or loop.is_closed():
                # Its connections died with the loop; nothing left to close.
                del self._clients[key]

    async def call(self, method: str, /, **kwargs: Any) -> Any:
        client: Any = self._client_for(asyncio.get_running_loop())
        if method == "upsert":
            # As in embedded mode: the engine's points are numbers only, so skip the public
            # client's scan for inference objects (measured ~16 us a point, a sixth of the
            # client's CPU per upserted point) and call the connection it wraps.
            connection = _remote_connection(client)
            client = connection or client
            given = set(kwargs)
            if (
                _own_upserts(connection)
                and _UPSERT_ARGUMENTS <= given <= _UPSERT_ARGUMENTS | _UPSERT_OPTIONAL_ARGUMENTS
            ):
                if rest_connection_for_upserts(connection) is not None:
                    return await upsert_over_rest(connection, **kwargs)
                if grpc_connection_for_upserts(connection) is not None:
                    # Converted here in slices; qdrant-client's upsert sends the messages.
                    kwargs["points"] = await points_for_grpc(kwargs["points"])
        return await getattr(client, method)(**kwargs)

    async def aclose(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            entries = list(self._clients.values())
            self._clients.clear()
        current = asyncio.get_running_loop()
        for entry in entries:
            if not entry.owned:
                continue
            loop = entry.loop()
            try:
                if loop is current:
                    await entry.client.close()
                elif loop is not None and loop.is_running() and not loop.is_closed():
                    # Scheduled, not awaited: that loop's thread may be the one blocked in a
                    # sync close() right now, and waiting for it would stall until a time-out.
                    asyncio.run_coroutine_threadsafe(entry.client.close(), loop)
            except Exception as error:  # noqa: BLE001 - closing is best effort per loop
                logger.debug("closing a per-loop client failed: %s", type(error).__name__)
