"""LlamaIndex adapter: ``QdrantVectorStore``, async first, on one :class:`QdrantEngine`.

Every operation is written once, as a coroutine (``async_add``, ``aquery``, ``adelete``,
``adelete_nodes``, ``aget_nodes``, ``aclear``, ``aclose``); its sync twin is a one-line call of that
coroutine through :func:`qdrant_aio.bridge.run_sync`. Any one connection is enough for the whole
API: an engine, a ``QdrantClient``, an ``AsyncQdrantClient``, a url, a local path, or nothing
(embedded, in memory).

Query modes: ``DEFAULT`` (dense), ``SPARSE`` and ``TEXT_SEARCH`` (sparse search on ``query_str``,
BM25 by default), ``HYBRID`` (dense and sparse fused by Qdrant itself), ``MMR`` (Qdrant's native
MMR). Any other mode raises. Hybrid search: ``similarity_top_k`` is the depth of the dense branch,
``sparse_top_k`` (default ``similarity_top_k``) the depth of the sparse branch, ``hybrid_top_k``
(default ``similarity_top_k``) the number of results. ``alpha`` (0 = sparse only, 1 = dense only):
``None`` and ``0.5`` fuse both branches with equal weight; ``1`` and ``0`` search one branch
only; any other value weighs the branches ``(alpha, 1 - alpha)`` in Qdrant's weighted RRF (with
``fusion="dbsf"`` such an alpha raises, DBSF having no weights).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal, NoReturn

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterOperator,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from .bridge import captured, on_caller_loop, overlapped, run_sync
from .config import (
    CollectionSpec,
    IngestOptions,
    dense_vector_options,
    parse_distance,
    sparse_vector_options,
)
from .engine import QdrantEngine, arelease_engine, engine_for, hold_folder_engine
from .errors import (
    CollectionNotFoundError,
    ConfigurationError,
    DimensionMismatchError,
    InvalidInputError,
)
from .filters import combine_filters, field_equals_any, ids_filter, literal_metadata_field
from .ingest import (
    EMBED_TRIP_TEXTS,
    PointInput,
    check_fits,
    check_json_exact,
    dense_rows,
    finite_float32,
    in_trips,
    json_size,
    point_size,
    text_json_size,
)
from .layout_probe import LayoutProbe
from .llama_index_filters import translate_metadata_filters
from .llama_index_nodes import (
    node_extras,
    node_from_payload,
    node_text,
    node_to_legacy_payload,
    node_to_payload,
)
from .payload import PayloadLayout, payload_size_bound
from .query import Hit, SearchRequest, hit_from_point
from .retry import RetryPolicy
from .sparse import (
    Bm25Encoder,
    SparseEncoder,
    aencode_documents,
    aencode_query,
)
from .transport import is_embedded_client, url_without_credentials

__all__ = ["QdrantVectorStore", "SparseEncoderCallable"]

# llama-index-vector-stores-qdrant's sparse function: texts -> (indices per text, values per text).
SparseEncoderCallable = Callable[[list[str]], tuple[list[list[int]], list[list[float]]]]
Connection = QdrantEngine | QdrantClient | AsyncQdrantClient

# Fields that to_dict() writes and from_dict() passes back; they are fixed for this store.
_SERIALISED_CONSTANTS = {"stores_text": True, "is_embedding_query": True}
# llama-index-vector-stores-qdrant keeps the source document id here, at the top level.
_LEGACY_REF_DOC_KEY = "doc_id"
# Nodes checked per job of the up-front pass of an add (their vectors converted together).
CHECK_CHUNK = 32
_QUERY_OPTIONS = (
    "qdrant_filters", "score_threshold", "mmr_threshold", "mmr_prefetch_k", "mmr_prefetch_factor",
    "search_params", "consistency",
)


class _CallableSparseEncoder:
    """A :class:`SparseEncoder` from llama-index style ``sparse_doc_fn`` / ``sparse_query_fn``."""

    def __init__(self, doc_fn: SparseEncoderCallable, query_fn: SparseEncoderCallable) -> None:
        self._doc_fn = doc_fn
        self._query_fn = query_fn

    @staticmethod
    def _vectors(result: Any, expected: int) -> list[models.SparseVector]:
        try:
            indices, values = result
            vectors = [
                models.SparseVector(indices=list(i), values=[float(x) for x in v])
                for i, v in zip(indices, values, strict=True)
            ]
        except (TypeError, ValueError) as error:
            raise InvalidInputError(
                "a sparse function must return (indices per text, values per text)"
            ) from error
        if len(vectors) != expected:
            raise InvalidInputError(
                f"a sparse function returned {len(vectors)} vectors for {expected} texts"
            )
        return vectors

    def encode_documents(self, texts: Sequence[str]) -> list[models.SparseVector]:
        return self._vectors(self._doc_fn(list(texts)), len(texts))

    def encode_query(self, text: str) -> models.SparseVector:
        return self._vectors(self._query_fn([text]), 1)[0]


@dataclasses.dataclass(slots=True)
class _CheckedNodes:
    """An add's nodes once checked, in node order. Plain lists rather than a tuple per node:
    20,000 fewer objects for the garbage collector to walk in a 20,000-node add."""

    ids: list[str] = dataclasses.field(default_factory=list)
    vectors: list[Any] = dataclasses.field(default_factory=list)
    sizes: list[int] = dataclasses.field(default_factory=list)
    kept: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # extras or legacy


class QdrantVectorStore(BasePydanticVectorStore):
    """Qdrant vector store for LlamaIndex: async first, one connection for the whole API.

    Connection (give at most one; with none, an embedded in-memory store is created):

    * ``engine``: a :class:`~qdrant_aio.QdrantEngine` (shared, never closed by the store);
    * ``client`` and/or ``aclient``: a ``QdrantClient`` or ``AsyncQdrantClient``. Stores on the
      same client share one engine. Given both, embedded clients use ``client``'s storage only
      (two embedded clients never see each other's data), remote ones use ``aclient``;
    * ``url`` (+ ``api_key``, ``client_kwargs``), or ``location``: a Qdrant server or Cloud;
    * ``path``: embedded storage persisted in a folder.

    The API key is handed to the engine and kept nowhere else: it is not a field, so it never
    appears in ``repr``, ``to_dict()``, ``to_json()`` or ``model_dump()``.

    Collection (created on the first ``add``, with the dimension of the first embedding):
    ``dense_vector_name`` / ``sparse_vector_name`` (``None``: "dense" / "sparse" for new
    collections; an existing collection's only or unnamed vector), ``distance`` (or
    ``dense_config.distance``), ``hnsw_config``, ``quantization_config``, ``on_disk``,
    ``shard_number``, ``replication_factor``, ``write_consistency_factor``, ``sharding_method``
    (automatic only), ``payload_indexes`` (metadata keys to index: a mapping key -> schema, or
    llama-index-vector-stores-qdrant's list of ``{"field_name", "field_schema"}``) and
    ``index_doc_id`` (a keyword index on the ``ref_doc_id`` field, on by default).

    Sparse vectors (``enable_hybrid=True``): ``sparse_doc_fn`` / ``sparse_query_fn`` in
    llama-index's signature (a list of texts to ``(indices, values)`` lists; either one alone is
    used for both), or ``sparse_encoder`` (a :class:`~qdrant_aio.sparse.SparseEncoder`, e.g.
    ``Bm25Encoder(language="german", k=1.5, b=0.75, avg_len=128)``), else Qdrant's offline BM25
    with default settings. The IDF is computed by Qdrant for BM25 (``sparse_idf`` defaults to
    True for BM25 and False for your own functions or encoders). A user encoder always runs in a
    worker thread, off the event loop. Fusion is server-side:
    ``fusion="rrf"`` (``rrf_k``) or ``"dbsf"``; ``hybrid_fusion_fn`` is therefore rejected.

    Writes: ``batch_size`` points per request, ``parallel`` requests in flight, ``max_retries``
    attempts per request (only for a connection the store creates: a given engine or client is
    shared, so its own retry policy applies and ``max_retries`` raises).

    Reads: every known payload layout (:mod:`qdrant_aio.payload`); ``text_key`` names where flat
    payloads (metadata at the top level, no ``_node_content``) keep their text.

    Anything that cannot be honoured (``hybrid_fusion_fn``, ``fastembed_sparse_model``, custom
    sharding, a connection given twice) raises :class:`ConfigurationError` instead of being
    ignored. Pickling raises: the store holds a live connection.
    """

    stores_text: bool = True
    is_embedding_query: bool = True
    flat_metadata: bool = False

    collection_name: str
    url: str | None = None
    location: str | None = None
    path: str | None = None
    batch_size: int | None = None
    parallel: int | None = None
    max_retries: int | None = None
    enable_hybrid: bool = False
    dense_vector_name: str | None = None
    sparse_vector_name: str | None = None
    fusion: Literal["rrf", "dbsf"] = "rrf"
    rrf_k: int | None = None
    distance: str | None = None
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    index_doc_id: bool = True
    content_payload_key: str = "page_content"
    metadata_payload_key: str = "metadata"
    text_key: str = "text"
    mmr_prefetch_factor: float = 4.0

    _engine: QdrantEngine | None = PrivateAttr(default=None)
    _owns_engine: bool = PrivateAttr(default=False)
    _encoder: SparseEncoder | None = PrivateAttr(default=None)
    _layout: PayloadLayout = PrivateAttr(default_factory=PayloadLayout)
    _spec: CollectionSpec = PrivateAttr(default_factory=CollectionSpec)
    _dense_size: int | None = PrivateAttr(default=None)
    _probe: LayoutProbe = PrivateAttr(default_factory=lambda: LayoutProbe(PayloadLayout()))

    def __init__(
        self,
        collection_name: str,
        client: Connection | None = None,
        aclient: Connection | None = None,
        url: str | None = None,
        api_key: str | None = None,
        batch_size: int | None = None,
        parallel: int | None = None,
        max_retries: int | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
        dense_config: models.VectorParams | None = None,
        sparse_config: models.SparseVectorParams | None = None,
        quantization_config: models.QuantizationConfig | None = None,
        enable_hybrid: bool = False,
        fastembed_sparse_model: str | None = None,
        sparse_doc_fn: SparseEncoderCallable | None = None,
        sparse_query_fn: SparseEncoderCallable | None = None,
        hybrid_fusion_fn: Callable[..., Any] | None = None,
        index_doc_id: bool = True,
        text_key: str | None = "text",
        dense_vector_name: str | None = None,
        sparse_vector_name: str | None = None,
        shard_number: int | None = None,
        sharding_method: models.ShardingMethod | None = None,
        shard_key_selector_fn: Callable[..., Any] | None = None,
        shard_keys: Sequence[Any] | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        payload_indexes: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        engine: QdrantEngine | None = None,
        location: str | None = None,
        path: str | None = None,
        fusion: Literal["rrf", "dbsf"] = "rrf",
        rrf_k: int | None = None,
        distance: models.Distance | str | None = None,
        hnsw_config: models.HnswConfigDiff | None = None,
        on_disk: bool | None = None,
        sparse_idf: bool | None = None,
        sparse_encoder: SparseEncoder | None = None,
        content_payload_key: str = "page_content",
        metadata_payload_key: str = "metadata",
        mmr_prefetch_factor: float = 4.0,
        **serialised: Any,
    ) -> None:
        _check_serialised(serialised)
        _check_unsupported(
            hybrid_fusion_fn=hybrid_fusion_fn,
            fastembed_sparse_model=fastembed_sparse_model,
            sharding_method=sharding_method,
            shard_key_selector_fn=shard_key_selector_fn,
            shard_keys=shard_keys,
        )
        user_fns = sparse_doc_fn is not None or sparse_query_fn is not None
        if (user_fns or sparse_encoder is not None) and not enable_hybrid:
            raise ConfigurationError(
                "sparse_doc_fn / sparse_query_fn / sparse_encoder need enable_hybrid=True"
            )
        if user_fns and sparse_encoder is not None:
            raise ConfigurationError(
                "give sparse_encoder or sparse_doc_fn/sparse_query_fn, not both"
            )
        if sparse_encoder is not None and not isinstance(sparse_encoder, SparseEncoder):
            raise ConfigurationError(
                "sparse_encoder must have encode_documents/encode_query (a SparseEncoder such as "
                f"Bm25Encoder), got {type(sparse_encoder).__name__}"
            )
        for name, value in (("batch_size", batch_size), ("parallel", parallel),
                            ("max_retries", max_retries), ("rrf_k", rrf_k)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
        if not mmr_prefetch_factor >= 1:
            raise ConfigurationError("mmr_prefetch_factor must be at least 1")
        dense_options = dense_vector_options(dense_config, "dense_config")
        idf, sparse_index = sparse_vector_options(sparse_idf, sparse_config, "sparse_config")
        chosen_distance = parse_distance(
            distance if distance is not None else dense_options.get("distance")
        )
        layout = PayloadLayout(
            content_key=content_payload_key,
            metadata_key=metadata_payload_key,
            flat_text_key=text_key or "text",
        )
        spec = CollectionSpec(
            dense=True,
            sparse=enable_hybrid,
            vector_name=dense_vector_name,
            sparse_vector_name=sparse_vector_name,
            distance=chosen_distance,
            on_disk=on_disk if on_disk is not None else dense_options.get("on_disk"),
            hnsw_config=hnsw_config or dense_options.get("hnsw_config"),
            quantization_config=quantization_config or dense_options.get("quantization_config"),
            shard_number=shard_number,
            replication_factor=replication_factor,
            write_consistency_factor=write_consistency_factor,
            sparse_idf=_default_sparse_idf(user_fns, sparse_encoder) if idf is None else idf,
            sparse_index=sparse_index,
            payload_indexes=_payload_index_paths(payload_indexes, layout, index_doc_id),
            extra_create_options={"sharding_method": sharding_method} if sharding_method else {},
        )
        fields: dict[str, Any] = dict(
            collection_name=collection_name,
            # Fields are serialised (to_dict, to_json): a key inside a URL is left out there,
            # as api_key is; only the engine holds it.
            url=url_without_credentials(url) if url is not None else None,
            location=url_without_credentials(location) if location is not None else None,
            path=path,
            batch_size=batch_size,
            parallel=parallel,
            max_retries=max_retries,
            enable_hybrid=enable_hybrid,
            dense_vector_name=dense_vector_name,
            sparse_vector_name=sparse_vector_name,
            fusion=fusion,
            rrf_k=rrf_k,
            distance=spec.distance.value if spec.distance is not None else None,
            shard_number=shard_number,
            replication_factor=replication_factor,
            write_consistency_factor=write_consistency_factor,
            index_doc_id=index_doc_id,
            content_payload_key=content_payload_key,
            metadata_payload_key=metadata_payload_key,
            text_key=layout.flat_text_key,
            mmr_prefetch_factor=mmr_prefetch_factor,
            flat_metadata=bool(serialised.get("flat_metadata", False)),
        )
        super().__init__(**fields)
        self._layout = layout
        self._probe = LayoutProbe(layout)
        self._spec = spec
        self._dense_size = dense_options.get("size")
        if enable_hybrid:
            if sparse_encoder is not None:
                self._encoder = sparse_encoder
            elif not user_fns:
                self._encoder = Bm25Encoder()
            else:
                doc_fn = sparse_doc_fn or sparse_query_fn
                query_fn = sparse_query_fn or sparse_doc_fn
                assert doc_fn is not None and query_fn is not None
                self._encoder = _CallableSparseEncoder(doc_fn, query_fn)
        self._engine, self._owns_engine = _connect(
            engine=engine, client=client, aclient=aclient, url=url, api_key=api_key,
            location=location, path=path, client_kwargs=client_kwargs, max_retries=max_retries,
        )

    @classmethod
    def class_name(cls) -> str:
        return "QdrantAioVectorStore"

    def __getstate__(self) -> NoReturn:
        raise TypeError(
            "QdrantVectorStore holds a live connection and cannot be pickled; build a new store "
            "from its settings (to_dict()) and your connection in the other process"
        )

    # ------------------------------------------------------------------ connection

    @property
    def engine(self) -> QdrantEngine:
        """The engine every call of this store goes through."""
        if self._engine is None:  # pragma: no cover - only a half-built object has none
            raise ConfigurationError("this store has no connection")
        return self._engine

    @property
    def client(self) -> QdrantEngine:
        """The engine (this store never touches a qdrant-client object directly)."""
        return self.engine

    @property
    def collection_spec(self) -> CollectionSpec:
        """What the store creates, or expects of an existing collection, on writes."""
        return self._spec

    @property
    def payload_layout(self) -> PayloadLayout:
        return self._layout

    async def aclose(self) -> None:
        """Close the connection if the store created it (a given engine or client stays open)."""
        if self._owns_engine:
            await arelease_engine(self.engine)

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        return run_sync(self.aclose())

    # ------------------------------------------------------------------ writes

    async def async_add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert nodes that carry their embeddings; return their ids in input order.

        Every node is checked before anything is written. Batches of ``batch_size`` points are
        sent with several requests in flight; with hybrid search on, the sparse vectors of the
        next batch are computed while the previous batch is being written. The collection is
        created on the first call. A node id that is not a UUID works (it round-trips exactly);
        re-adding an id overwrites it.
        """
        show_progress = bool(add_kwargs.pop("show_progress", False))
        _reject_options("add", add_kwargs)
        nodes = list(nodes)
        if not nodes:
            return []
        return await self.engine.arun_job(self._aadd_nodes(nodes, show_progress))

    async def _aadd_nodes(self, nodes: list[BaseNode], show_progress: bool) -> list[str]:
        """Check and write nodes (one engine job: see ``QdrantEngine.arun_job``)."""
        # Every node is checked and sized before anything is written; its payload is built
        # when its batch is, so a server already receives the first batches meanwhile and few
        # payloads are alive at once. Per-node work goes through the engine's amap (off the
        # loop when embedded, in short slices otherwise), so a large add never blocks the loop.
        # The collection's size when known, else the first node's; every node must match it.
        # (Read once: a private attribute of a pydantic model costs microseconds a read.)
        dense_size = self._dense_size
        dimension = dense_size if dense_size is not None else len(_node_embedding(nodes[0]))
        if not dimension:
            raise InvalidInputError(f"node {nodes[0].node_id!r} has an empty embedding")
        options = self._ingest_options()
        layout = self._layout
        # In memory the store keeps float32 arrays: the vectors are converted here, a chunk at
        # a time, which checks them too; each node's list of floats is then read once, not
        # again (cold) when its batch is written.
        float32 = self.engine.float32_vectors

        def values_ok(vector: Any) -> bool:
            """The store's own rules: its float32 conversion in memory, else the list check."""
            if float32:
                return dense_rows([vector], dimension) is not None
            return finite_float32(vector)

        async def check_all(legacy: bool) -> _CheckedNodes:
            """Every node checked and sized for ``legacy``'s layout, in node order."""
            checked = _CheckedNodes()

            def check(node: BaseNode, vector: Any, values_known_ok: bool) -> dict[str, Any]:
                """The node's extras (its legacy payload in that layout), once it passed.

                ``values_known_ok``: its vector's values are known good (its chunk converted
                cleanly).
                """
                what = f"node {node.node_id!r}"
                if len(vector) != dimension:
                    raise DimensionMismatchError(dimension, len(vector), where=what)
                if not values_known_ok and not values_ok(vector):
                    raise InvalidInputError(
                        f"the embedding of {what} contains NaN or infinity, a non-number, or a "
                        "number too large for a 32-bit float"
                    )
                if legacy:
                    kept = node_to_legacy_payload(node)
                    # Only the user's metadata can hold keys JSON would change.
                    check_json_exact(node.metadata, what)
                    size = json_size(kept, what, check_keys=False)
                else:
                    kept = node_extras(node)  # from pydantic's JSON mode: JSON carries it as is
                    size = payload_size_bound(
                        layout,
                        text_size=text_json_size(node_text(node)),
                        metadata_size=json_size(node.metadata, f"metadata of {what}"),
                        ref_doc_id=node.ref_doc_id,
                        node_size=_extras_size(kept, what),
                    )
                check_fits(point_size(size, len(vector)), options.max_request_bytes, what)
                node_id = node.node_id
                if not node_id.isascii():
                    # Any string is an id (the engine maps it to a point id later, batch by
                    # batch), unless UTF-8 cannot carry it: a lone surrogate.
                    try:
                        node_id.encode("utf-8")
                    except UnicodeEncodeError as error:
                        raise InvalidInputError(f"{what} has an invalid id: {error}") from error
                checked.ids.append(node_id)
                checked.sizes.append(size)
                return kept

            def check_chunk(chunk: Sequence[BaseNode]) -> list[dict[str, Any]]:
                embeddings = [_node_embedding(node) for node in chunk]
                # The store's own float32 conversion, a chunk at once: it checks the values too.
                rows = dense_rows(embeddings, dimension) if float32 else None
                # Node by node, so that the first bad node (of any kind) is the one named.
                kept = [
                    check(node, vector, rows is not None)
                    for node, vector in zip(chunk, embeddings, strict=True)
                ]
                checked.vectors.extend(embeddings if rows is None else list(rows))
                return kept

            chunks = [nodes[i : i + CHECK_CHUNK] for i in range(0, len(nodes), CHECK_CHUNK)]
            parts = await self.engine.amap(check_chunk, chunks)
            checked.kept = [extras for part in parts for extras in part]
            return checked

        # The nodes are checked for the layout the collection is known to have (or for this
        # package's, the usual case, before the first write) while the layout probe and the
        # collection lookup are in flight; in the rare other case they are checked again.
        guess = bool(self._probe.decided)
        legacy, outcome = await overlapped(
            self._probe.alegacy_before_write(self.engine, self.collection_name),
            captured(check_all(guess)),
        )
        if legacy == guess:
            checked = outcome.result()
        else:
            del outcome  # the check made for the wrong layout (float32 rows too) is let go
            checked = await check_all(legacy)
        ids, vectors, sizes, kept = checked.ids, checked.vectors, checked.sizes, checked.kept
        last = {node_id: index for index, node_id in enumerate(ids)}
        order = sorted(last.values())  # duplicates in one call: the last one wins
        encoder = self._encoder

        batch = options.batch_size

        async def point_batches() -> AsyncIterator[list[PointInput]]:
            for trip_nodes, batches_of_trip in in_trips(order, batch, EMBED_TRIP_TEXTS):
                sparse: list[models.SparseVector | None] = [None] * len(trip_nodes)
                if encoder is not None:
                    texts = [
                        nodes[i].get_content(metadata_mode=MetadataMode.EMBED) for i in trip_nodes
                    ]
                    # A user's encoder runs where it would without the job (see on_caller_loop),
                    # in calls of one batch: one trip to your loop for several calls.
                    sparse = list(await on_caller_loop(aencode_documents(encoder, texts, batch)))

                def point(k: int) -> PointInput:
                    i = trip_nodes[k]  # noqa: B023 - used before the next trip starts
                    payload = kept[i] if legacy else node_to_payload(nodes[i], layout, kept[i])
                    kept[i] = _HANDED_OVER  # the engine holds the payload from here on
                    return PointInput(
                        ids[i], payload, vectors[i], sparse[k],  # noqa: B023
                        payload_size=sizes[i], dense_finite=not float32,
                    )

                for positions in batches_of_trip:
                    yield await self.engine.amap(point, positions)

        await self.engine.aupsert(
            self.collection_name,
            point_batches(),
            self._spec,
            options=options,
            expected_ids=[ids[i] for i in order],
            show_progress=show_progress,
        )
        self._probe.settle(legacy)
        return ids

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Sync twin of :meth:`async_add`."""
        return run_sync(self.async_add(nodes, **add_kwargs))

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id`` (and only those)."""
        _reject_options("delete", delete_kwargs)
        if not isinstance(ref_doc_id, str) or not ref_doc_id:
            raise InvalidInputError(f"ref_doc_id must be a non-empty string, got {ref_doc_id!r}")
        legacy = await self._uses_legacy_layout()
        await self.engine.adelete(
            self.collection_name, filter=field_equals_any(self._ref_doc_path(legacy), [ref_doc_id])
        )

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Sync twin of :meth:`adelete`."""
        return run_sync(self.adelete(ref_doc_id, **delete_kwargs))

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id, by metadata filter, or both (their intersection).

        With neither (``None`` or empty ``MetadataFilters``), raises :class:`InvalidInputError`
        instead of emptying the collection: use :meth:`aclear` for that.
        """
        _reject_options("delete_nodes", delete_kwargs)
        filters = _present(filters)
        if node_ids is None and filters is None:
            raise InvalidInputError(
                "delete_nodes needs node_ids or filters; to remove every node, call clear()"
            )
        legacy = await self._uses_legacy_layout() if filters is not None else False
        await self.engine.adelete(
            self.collection_name,
            ids=_id_list(node_ids),
            filter=await self._metadata_filter(filters, legacy),
        )

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Sync twin of :meth:`adelete_nodes`."""
        return run_sync(self.adelete_nodes(node_ids, filters, **delete_kwargs))

    async def aclear(self) -> None:
        """Delete the collection; the next ``add`` creates it again. Queries then return nothing."""
        await self.engine.adelete_collection(self.collection_name)
        self._probe.forget()

    def clear(self) -> None:
        """Sync twin of :meth:`aclear`."""
        return run_sync(self.aclear())

    # ------------------------------------------------------------------ reads

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        limit: int | None = None,
    ) -> list[BaseNode]:
        """Nodes by id, by metadata filter, or both (their intersection), with embeddings.

        With neither, every node. All matches are returned (pages are followed to the end)
        unless ``limit`` is given. Nodes asked for by id come back in the order asked.
        """
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise InvalidInputError(f"limit must be a positive integer, got {limit!r}")
        filters = _present(filters)
        ids = _id_list(node_ids)
        if ids is not None and not ids:
            return []
        legacy = await self._uses_legacy_layout()
        if ids is not None and filters is None:
            # Ids alone are fetched, not scrolled with a `has_id` filter: embedded, a filter is
            # tested against every stored point; a fetch only reads the points asked for.
            hits = await self.engine.aretrieve(self.collection_name, ids, with_vectors=True)
            hits = hits[:limit]
        else:
            point_ids = await self.engine.apoint_ids(ids) if ids is not None else None
            selector = combine_filters(
                ids_filter(point_ids) if point_ids is not None else None,
                await self._metadata_filter(filters, legacy),
            )
            if point_ids is None:
                hits = await self._scroll(selector, limit)
            else:
                # At most one match an id: all of them, so that `limit` keeps the first asked.
                # Ranked as a fetch by ids orders them: by point (any spelling of an id), at
                # its first place in the list.
                hits = await self._scroll(selector, None)
                rank: dict[str, int] = {}
                for index, point_id in enumerate(point_ids):
                    rank.setdefault(str(point_id), index)
                hits.sort(key=lambda hit: rank.get(str(hit.point_id), len(point_ids)))
                hits = hits[:limit]
        layout = self._layout
        return [
            node_from_payload(h.id, h.payload, layout, embedding=self._dense_of(h.vector))
            for h in hits
        ]

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        limit: int | None = None,
    ) -> list[BaseNode]:
        """Sync twin of :meth:`aget_nodes`."""
        return run_sync(self.aget_nodes(node_ids, filters, limit))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Search in one request; see the module doc for the modes and hybrid parameters.

        ``query.doc_ids`` (source documents), ``query.node_ids``, ``query.filters`` and the raw
        ``qdrant_filters=`` keyword (a ``qdrant_client.models.Filter``) are combined with AND;
        empty ``doc_ids`` / ``node_ids`` lists restrict nothing (LlamaIndex's convention).
        Other keywords: ``score_threshold`` (raw Qdrant score), ``mmr_threshold`` (MMR's weight
        of relevance, as a retriever's ``vector_store_kwargs`` pass it; it wins over
        ``query.mmr_threshold``), ``mmr_prefetch_k`` or ``mmr_prefetch_factor`` (MMR
        candidates), ``search_params`` (a ``models.SearchParams`` or a dict of its fields) and
        ``consistency`` (read consistency). Similarities are Qdrant's scores (cosine
        similarity for the default distance; fused scores for hybrid). A missing collection
        (before the first ``add``, after ``clear``) gives an empty result.
        """
        unknown = set(kwargs) - set(_QUERY_OPTIONS)
        if unknown:
            raise InvalidInputError(
                f"unsupported query options {sorted(unknown)}; supported: {list(_QUERY_OPTIONS)}"
            )
        raw_filter = kwargs.get("qdrant_filters")
        if raw_filter is not None and not isinstance(raw_filter, models.Filter):
            raise InvalidInputError(
                f"qdrant_filters must be a qdrant_client.models.Filter, got {type(raw_filter)}"
            )
        search = await self._search_vectors(query, kwargs)
        legacy = await self._uses_legacy_layout()
        search["filter"] = combine_filters(await self._query_filter(query, legacy), raw_filter)
        request = SearchRequest(**search)
        spec = CollectionSpec(
            # What this search needs of the collection (a read never creates it): the
            # store's vector names and distance, the sparse vector only when it is used.
            dense=True,
            sparse=request.sparse is not None,
            vector_name=self.dense_vector_name,
            sparse_vector_name=self.sparse_vector_name,
            distance=self._spec.distance,
            sparse_idf=self._spec.sparse_idf,  # whether the store expects Qdrant's IDF
        )
        try:
            hits = await self.engine.aquery(self.collection_name, request, spec)
        except CollectionNotFoundError:
            hits = []
        layout = self._layout
        return VectorStoreQueryResult(
            nodes=[node_from_payload(h.id, h.payload, layout) for h in hits],
            similarities=[h.score if h.score is not None else 0.0 for h in hits],
            ids=[h.id for h in hits],
        )

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Sync twin of :meth:`aquery`."""
        return run_sync(self.aquery(query, **kwargs))

    def parse_to_query_result(
        self, response: Sequence[models.ScoredPoint | models.Record]
    ) -> VectorStoreQueryResult:
        """Points a Qdrant client returned (llama-index-vector-stores-qdrant's helper, for your
        own queries) as a query result: nodes read from any known payload layout, with the
        point's dense vector as the embedding when it carries one; no I/O."""
        hits = [hit_from_point(point) for point in response]
        return VectorStoreQueryResult(
            nodes=[
                node_from_payload(h.id, h.payload, self._layout, embedding=self._dense_of(h.vector))
                for h in hits
            ],
            similarities=[h.score if h.score is not None else 0.0 for h in hits],
            ids=[h.id for h in hits],
        )

    # ------------------------------------------------------------------ helpers

    async def _uses_legacy_layout(self) -> bool:
        """Whether the collection holds llama-index-vector-stores-qdrant's payload layout.

        Decided once from one stored point (:class:`~qdrant_aio.layout_probe.LayoutProbe`, shared
        with the LangChain adapter); an empty or missing collection is not decided yet, and what
        this store writes into it is its own layout.
        """
        return await self._probe.alegacy(self.engine, self.collection_name)

    def _ref_doc_path(self, legacy: bool) -> str:
        return _LEGACY_REF_DOC_KEY if legacy else self._layout.ref_doc_id_key

    async def _metadata_filter(
        self, filters: MetadataFilters | None, legacy: bool
    ) -> models.Filter | None:
        if filters is None:
            return None
        caseless = None
        if _uses_operator(filters, FilterOperator.TEXT_MATCH_INSENSITIVE):
            caseless = await self._probe.acaseless_key(self.engine, self.collection_name, legacy)
        return translate_metadata_filters(
            filters, metadata_key=self._probe.metadata_key(legacy), caseless_key=caseless
        )

    async def _query_filter(
        self, query: VectorStoreQuery, legacy: bool
    ) -> models.Filter | None:
        # Empty lists mean "no restriction": VectorStoreIndex.as_retriever() passes
        # node_ids=[] for every store that keeps the text, as this one does.
        doc_ids = _id_list(query.doc_ids)
        node_ids = _id_list(query.node_ids)
        return combine_filters(
            field_equals_any(self._ref_doc_path(legacy), doc_ids) if doc_ids else None,
            ids_filter(await self.engine.apoint_ids(node_ids)) if node_ids else None,
            await self._metadata_filter(_present(query.filters), legacy),
        )

    async def _search_vectors(
        self, query: VectorStoreQuery, options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The SearchRequest fields of ``query`` except its filter (raises on a bad mode)."""
        mode = VectorStoreQueryMode(query.mode)
        k = query.similarity_top_k
        search: dict[str, Any] = {
            "score_threshold": options.get("score_threshold"),
            "search_params": options.get("search_params"),
            "consistency": options.get("consistency"),
        }
        if mode is VectorStoreQueryMode.DEFAULT:
            search.update(dense=self._query_embedding(query, mode), limit=k)
        elif mode is VectorStoreQueryMode.MMR:
            # llama-index's retrievers pass it as a keyword (vector_store_kwargs), as its own
            # SimpleVectorStore reads it; a VectorStoreQuery may carry it too.
            lambda_mult = next(
                (t for t in (options.get("mmr_threshold"), query.mmr_threshold) if t is not None),
                0.5,
            )
            candidates = options.get("mmr_prefetch_k")
            if candidates is None:
                factor = options.get("mmr_prefetch_factor", self.mmr_prefetch_factor)
                candidates = max(int(k * factor), k)
            search.update(
                dense=self._query_embedding(query, mode), limit=k,
                mmr_lambda=lambda_mult, mmr_candidates=candidates,
            )
        elif mode is VectorStoreQueryMode.SPARSE:
            search.update(sparse=await self._sparse_query(query, mode), limit=_sparse_depth(query))
        elif mode is VectorStoreQueryMode.TEXT_SEARCH:
            search.update(sparse=await self._sparse_query(query, mode), limit=k)
        elif mode is VectorStoreQueryMode.HYBRID:
            search.update(await self._hybrid(query))
        else:
            raise InvalidInputError(
                f"query mode {mode.value!r} is not supported; use one of "
                f"{[m.value for m in _SUPPORTED_MODES]}"
            )
        return search

    async def _hybrid(self, query: VectorStoreQuery) -> dict[str, Any]:
        dense_depth = query.similarity_top_k
        sparse_depth = _sparse_depth(query)
        final = query.hybrid_top_k or query.similarity_top_k
        alpha = query.alpha
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise InvalidInputError(f"alpha must be within [0, 1], got {alpha}")
        dense = self._query_embedding(query, VectorStoreQueryMode.HYBRID)
        sparse = await self._sparse_query(query, VectorStoreQueryMode.HYBRID)
        if alpha == 1.0:  # dense only: the fused list of one branch is that branch
            return {"dense": dense, "limit": min(dense_depth, final)}
        if alpha == 0.0:
            return {"sparse": sparse, "limit": min(sparse_depth, final)}
        weights: tuple[float, float] | None = None
        if alpha is not None and alpha != 0.5:
            if self.fusion != "rrf":
                raise InvalidInputError(
                    f"alpha={alpha} weighs the branches with weighted RRF; this store fuses with "
                    f"{self.fusion!r} (use fusion='rrf', or alpha=None/0.5/0/1)"
                )
            weights = (alpha, 1.0 - alpha)
        return {
            "dense": dense,
            "sparse": sparse,
            "limit": final,
            "dense_prefetch_limit": dense_depth,
            "sparse_prefetch_limit": sparse_depth,
            "fusion": self.fusion,
            "rrf_weights": weights,
            "rrf_k": self.rrf_k,
        }

    def _query_embedding(self, query: VectorStoreQuery, mode: VectorStoreQueryMode) -> list[float]:
        if query.query_embedding is None:
            raise InvalidInputError(f"query mode {mode.value!r} needs query.query_embedding")
        return [float(x) for x in query.query_embedding]

    async def _sparse_query(
        self, query: VectorStoreQuery, mode: VectorStoreQueryMode
    ) -> models.SparseVector:
        if self._encoder is None:
            raise ConfigurationError(
                f"query mode {mode.value!r} needs sparse vectors: create the store with "
                "enable_hybrid=True"
            )
        if not query.query_str:
            raise InvalidInputError(f"query mode {mode.value!r} needs query.query_str")
        return await aencode_query(self._encoder, query.query_str)

    def _ingest_options(self) -> IngestOptions:
        base = self.engine.ingest_options
        return dataclasses.replace(
            base,
            batch_size=self.batch_size or base.batch_size,
            max_concurrent_upserts=self.parallel or base.max_concurrent_upserts,
        )

    async def _scroll(self, selector: models.Filter | None, limit: int | None) -> list[Hit]:
        if limit is None:
            return await self.engine.ascroll_all(
                self.collection_name, filter=selector, with_vectors=True
            )
        hits: list[Hit] = []
        offset = None
        while len(hits) < limit:
            page, offset = await self.engine.ascroll(
                self.collection_name, filter=selector, limit=min(limit - len(hits), 1024),
                offset=offset, with_vectors=True,
            )
            hits.extend(page)
            if offset is None:
                break
        return hits[:limit]

    def _dense_of(self, vector: Any) -> list[float] | None:
        if isinstance(vector, dict):
            preferred = [self.dense_vector_name, "dense", ""]
            for name in preferred:
                if name is not None and isinstance(vector.get(name), list):
                    return _floats(vector[name])
            dense = [v for v in vector.values() if isinstance(v, list)]
            return _floats(dense[0]) if len(dense) == 1 else None
        return _floats(vector) if isinstance(vector, list) else None


# Stands in for what async_add kept of a node once its payload is handed to the engine.
_HANDED_OVER: dict[str, Any] = {}

_SUPPORTED_MODES = (
    VectorStoreQueryMode.DEFAULT,
    VectorStoreQueryMode.SPARSE,
    VectorStoreQueryMode.HYBRID,
    VectorStoreQueryMode.MMR,
    VectorStoreQueryMode.TEXT_SEARCH,
)


def _floats(values: list[Any]) -> list[float] | None:
    if values and not isinstance(values[0], int | float):
        return None  # a multivector (a list of lists), not one embedding
    try:
        # map(float, ...) runs in C: a per-element check in Python cost ~0.1 ms a 384-d vector.
        return list(map(float, values))
    except (TypeError, ValueError):
        return None


def _node_embedding(node: BaseNode) -> list[float]:
    """The node's embedding as a list (its length and values are checked by the caller)."""
    embedding = node.embedding
    if embedding is None:
        raise InvalidInputError(
            f"node {node.node_id!r} has no embedding; embed nodes before adding them "
            "(an embed model in the index or a pipeline)"
        )
    if isinstance(embedding, list):
        return embedding
    # An array's tolist() gives Python floats (list() would give numpy scalars).
    return embedding.tolist() if isinstance(embedding, np.ndarray) else list(embedding)


@functools.cache
def _class_only_size(class_name: str) -> int:
    return json_size({"class_name": class_name}, "node", check_keys=False)


def _extras_size(extras: dict[str, Any], what: str) -> int | None:
    """JSON size of a node's extras (None when there are none: the payload leaves them out).

    Extras that are only a class name are sized once per class.
    """
    if not extras:
        return None
    if len(extras) == 1 and isinstance(name := extras.get("class_name"), str):
        return _class_only_size(name)
    # Keys are strings (pydantic's JSON mode), but relationships carry metadata (a source
    # document's, copied): its integers and nesting are checked as the node's own are.
    return json_size(extras, what)


def _sparse_depth(query: VectorStoreQuery) -> int:
    return query.sparse_top_k or query.similarity_top_k


def _uses_operator(filters: MetadataFilters, operator: FilterOperator) -> bool:
    return any(
        _uses_operator(f, operator) if isinstance(f, MetadataFilters) else f.operator == operator
        for f in filters.filters
    )


def _present(filters: MetadataFilters | None) -> MetadataFilters | None:
    """``None`` for no filter; an empty top-level ``MetadataFilters`` means no filter too.

    llama-index-core's own filter matches every node when given no filters.
    """
    if filters is None:
        return None
    if not isinstance(filters, MetadataFilters):
        raise InvalidInputError(f"filters must be MetadataFilters, got {type(filters).__name__}")
    return filters if filters.filters else None


def _id_list(ids: Sequence[str] | None) -> list[str] | None:
    if ids is None:
        return None
    if isinstance(ids, str):
        raise InvalidInputError("expected a list of ids, got a single string")
    return list(ids)


def _reject_options(method: str, options: Mapping[str, Any]) -> None:
    if options:
        raise InvalidInputError(f"{method}() got unsupported options: {sorted(options)}")


def _check_serialised(serialised: Mapping[str, Any]) -> None:
    unknown = set(serialised) - {*_SERIALISED_CONSTANTS, "flat_metadata"}
    if unknown:
        raise TypeError(f"QdrantVectorStore got unexpected keyword arguments: {sorted(unknown)}")
    for name, value in _SERIALISED_CONSTANTS.items():
        if name in serialised and serialised[name] != value:
            raise ConfigurationError(f"{name} is always {value} for this store")


def _check_unsupported(
    *,
    hybrid_fusion_fn: object,
    fastembed_sparse_model: str | None,
    sharding_method: models.ShardingMethod | None,
    shard_key_selector_fn: object,
    shard_keys: object,
) -> None:
    if hybrid_fusion_fn is not None:
        raise ConfigurationError(
            "hybrid_fusion_fn is not supported: Qdrant fuses hybrid results server-side; choose "
            "fusion='rrf' (with rrf_k) or fusion='dbsf'"
        )
    if fastembed_sparse_model is not None:
        raise ConfigurationError(
            "fastembed_sparse_model is not supported (no model downloads): the built-in BM25 is "
            "the default, or pass sparse_doc_fn/sparse_query_fn built from any model"
        )
    if (
        sharding_method == models.ShardingMethod.CUSTOM
        or shard_key_selector_fn is not None
        or shard_keys is not None
    ):
        raise ConfigurationError("custom sharding (shard keys) is not supported; use automatic")


def _default_sparse_idf(user_fns: bool, encoder: SparseEncoder | None) -> bool:
    # Qdrant computes BM25's IDF; a user function (SPLADE and the like) already weighs terms.
    if encoder is not None:
        return isinstance(encoder, Bm25Encoder)
    return not user_fns


def _payload_index_paths(
    indexes: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    layout: PayloadLayout,
    index_ref_doc_id: bool,
) -> dict[str, Any]:
    """Payload indexes of a new collection: metadata keys (as in llama-index-vector-stores-qdrant,
    whose metadata sits at the top level) mapped to their paths, plus the ``ref_doc_id`` field."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(indexes, Mapping):
        pairs = list(indexes.items())
    elif indexes is not None:
        for entry in indexes:
            if not isinstance(entry, Mapping) or {"field_name", "field_schema"} - set(entry):
                raise ConfigurationError(
                    "payload_indexes entries need 'field_name' and 'field_schema', got "
                    f"{entry!r}"
                )
            pairs.append((entry["field_name"], entry["field_schema"]))
    paths = {literal_metadata_field(key, layout.metadata_key): schema for key, schema in pairs}
    if index_ref_doc_id:
        paths[layout.ref_doc_id_key] = models.PayloadSchemaType.KEYWORD
    return paths


def _connect(
    *,
    engine: QdrantEngine | None,
    client: Connection | None,
    aclient: Connection | None,
    url: str | None,
    api_key: str | None,
    location: str | None,
    path: str | None,
    client_kwargs: Mapping[str, Any] | None,
    max_retries: int | None,
) -> tuple[QdrantEngine, bool]:
    """The engine to use and whether the store owns it (no I/O beyond opening embedded mode)."""
    given = {
        "engine": engine, "client": client, "aclient": aclient, "url": url, "api_key": api_key,
        "location": location, "path": path, "client_kwargs": client_kwargs,
    }
    # An empty client_kwargs says nothing (llama-index-vector-stores-qdrant's to_dict has one).
    present = sorted(k for k, v in given.items() if v is not None and v != {})
    if engine is not None or client is not None or aclient is not None:
        objects = {"engine", "client", "aclient"}
        extra = [k for k in present if k not in objects]
        if extra or (engine is not None and len(present) > 1):
            raise ConfigurationError(
                f"give one connection: {present} were given; an engine or a client already "
                "holds its server address and API key"
            )
        if max_retries is not None:
            raise ConfigurationError(
                "max_retries applies to a connection the store creates; give the QdrantEngine "
                "a RetryPolicy instead"
            )
        if engine is not None:
            return engine_for(engine), False
        if client is not None and aclient is not None:
            return _one_of_two(client, aclient), False
        chosen = client if client is not None else aclient
        assert chosen is not None
        return engine_for(chosen), False
    if client_kwargs and url is None and location in (None, ":memory:"):
        raise ConfigurationError("client_kwargs need a server url")
    retry = RetryPolicy(max_attempts=max_retries) if max_retries is not None else None
    if path is not None and url is None and location is None and not client_kwargs:
        # A folder: shared with the other stores that open it (the first one's retry applies).
        return hold_folder_engine(path, retry=retry), True
    created = QdrantEngine(
        location, path=path, url=url, api_key=api_key, retry=retry,
        client_options=dict(client_kwargs) if client_kwargs else None,
    )
    return created, True


def _one_of_two(client: Connection, aclient: Connection) -> QdrantEngine:
    """One engine for a client/aclient pair, so the two can never diverge."""
    if client is aclient:
        return engine_for(client)
    client_embedded, aclient_embedded = _embedded(client), _embedded(aclient)
    if client_embedded and aclient_embedded:
        # Two embedded clients are two separate storages: client's serves everything.
        return engine_for(client)
    if not client_embedded and not aclient_embedded:
        return engine_for(aclient)
    raise ConfigurationError(
        "client and aclient point to different deployments (one embedded, one remote)"
    )


def _embedded(connection: Connection) -> bool:
    if isinstance(connection, QdrantClient | AsyncQdrantClient):
        return is_embedded_client(connection)
    return engine_for(connection).embedded  # an engine, or a clear UnsupportedClientError
