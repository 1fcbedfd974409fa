"""LangChain adapter: :class:`QdrantVectorStore`, every operation natively async.

A drop-in for ``langchain_qdrant.QdrantVectorStore`` (change the import). Every operation is
written once, as a coroutine; each sync method is a one-line call of its coroutine through
:func:`qdrant_aio.bridge.run_sync`, so there is no thread-executor fallback anywhere and the sync
methods work inside a running event loop too.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import httpx
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from typing_extensions import Self

from .bridge import on_caller_loop, overlapped, run_sync, sync_or_async
from .config import (
    CollectionLayout,
    CollectionSpec,
    IngestOptions,
    dense_vector_options,
    parse_distance,
    sparse_vector_options,
)
from .engine import QdrantEngine, arelease_engine, engine_for, hold_folder_engine
from .errors import CollectionNotFoundError, ConfigurationError, InvalidInputError
from .filters import to_qdrant_filter
from .ingest import EMBED_TRIP_TEXTS, PointInput, in_trips
from .langchain_inputs import (
    RetrievalMode,
    SparseEmbedder,
    TextInputs,
    aprepare_inputs,
    fusion_options,
    one_per_text,
    read_options,
    reject_extra,
    write_options,
)
from .langchain_scores import relevance_function
from .layout_probe import LayoutProbe
from .payload import PayloadLayout, build_llama_index_payload, build_payload, read_payload
from .query import Hit, SearchRequest
from .sparse import Bm25Encoder

__all__ = ["QdrantVectorStore", "RetrievalMode"]

# Texts per embedding call, as in langchain-qdrant (some providers cap a request near 100).
DEFAULT_EMBED_BATCH = 64
# QdrantClient keywords that are QdrantEngine's connection options (the rest of a
# construct_instance's client_options go to the client as they are).
_CONNECTION_KEYS = (
    "location", "url", "port", "grpc_port", "prefer_grpc", "https", "api_key", "prefix",
    "timeout", "host", "path",
)

# Other keywords of QdrantClient (check_compatibility, headers, grpc_options, pool_size, ...) and
# of the httpx client it passes the rest to (verify, limits, transport, ...): langchain-qdrant's
# class constructors pass their **kwargs on to the client. Only these: any other unknown
# keyword still raises TypeError (an embedded client would silently ignore a typo).
_CLIENT_KEYWORDS = frozenset(
    name
    for function in (AsyncQdrantClient.__init__, httpx.AsyncClient.__init__)
    for name in inspect.signature(function).parameters
    if name not in {"self", "kwargs", *_CONNECTION_KEYS}
)

Client = QdrantEngine | AsyncQdrantClient | QdrantClient
FilterLike = models.Filter | Mapping[str, Any] | None
Fusion = Literal["rrf", "dbsf"]


def _with_client_keywords(
    client_options: Mapping[str, Any] | None, store_options: dict[str, Any]
) -> Mapping[str, Any] | None:
    """``client_options`` plus the client keywords among ``store_options`` (taken out of them)."""
    extra = {name: store_options.pop(name) for name in _CLIENT_KEYWORDS & set(store_options)}
    if not extra:
        return client_options
    return {**(client_options or {}), **extra}


class QdrantVectorStore(VectorStore):
    """A LangChain vector store on Qdrant, async first, with the constructor of langchain-qdrant.

    ``client`` is a :class:`~qdrant_aio.QdrantEngine`, an ``AsyncQdrantClient`` or a
    ``QdrantClient`` (stores on one client share one engine); ``None`` means a fresh embedded
    in-memory engine. The constructor does no I/O: the collection is created on the first write
    (named vectors, dense size from the first embedding) or validated on first use.

    ``retrieval_mode``: ``DENSE`` (``embedding``), ``SPARSE`` (``sparse_embedding``, Qdrant's
    offline BM25 by default) or ``HYBRID`` (both, fused server-side: ``fusion="rrf"`` with
    ``rrf_k``, or ``"dbsf"``; ``prefetch_limit`` is the depth of each branch,
    ``dense_prefetch_limit`` / ``sparse_prefetch_limit`` set one branch each; filters apply in
    every branch). ``sparse_embedding`` is a :class:`~qdrant_aio.sparse.SparseEncoder` (such as
    ``Bm25Encoder(language=..., k=..., b=..., avg_len=...)``) or a langchain-qdrant style
    ``SparseEmbeddings`` (``embed_documents``/``embed_query``, async ones used when present);
    anything but the built-in BM25 runs in a worker thread, off the event loop.
    ``vector_name`` / ``sparse_vector_name`` left unset pick the collection's own (the unnamed
    vector of a langchain-qdrant collection, else ``"dense"`` / ``"sparse"``). ``distance``
    (default: the collection's, Cosine when creating) and the collection options ``on_disk``,
    ``on_disk_payload``, ``hnsw_config``, ``quantization_config``, ``shard_number``,
    ``replication_factor``, ``write_consistency_factor``, ``payload_indexes``, ``sparse_idf``
    and ``collection_create_options`` apply when the collection is created, as do
    langchain-qdrant's ``vector_params`` (``VectorParams`` fields but the size: ``on_disk``,
    ``hnsw_config``, ``quantization_config``, ``distance``) and ``sparse_vector_params``
    (``SparseVectorParams`` fields: ``index``, and ``modifier``, whose absence means no IDF as
    there); the store's own keyword wins where both set one thing.
    ``validate_embeddings=False`` allows a dense store without ``embedding`` (searches by vector
    only); ``validate_collection_config`` is accepted for compatibility (validation is lazy).

    Filters (``filter=`` on every search, MMR and delete method) are a ``models.Filter`` or the
    portable dict syntax of :mod:`qdrant_aio.filters` (``{"k": v}``, ``{"k": {"$gte": 1}}``,
    ``{"$or": [...]}``, ...) on metadata keys. Relevance scores: see
    :mod:`qdrant_aio.langchain_scores`.

    Collections written by langchain-qdrant and by the LlamaIndex adapter share this layout. A
    collection written by llama-index-vector-stores-qdrant (metadata at the top level, the text
    inside ``_node_content``) is read as is: dict filters then address its top-level keys, and
    writes keep its layout (:mod:`qdrant_aio.layout_probe`).
    """

    CONTENT_KEY: str = "page_content"
    METADATA_KEY: str = "metadata"
    # langchain-qdrant's names, for code that passes them: "" means the collection's own dense
    # vector ("dense" for a new one); "langchain-sparse" names a sparse vector as there.
    VECTOR_NAME: str = ""
    SPARSE_VECTOR_NAME: str = "langchain-sparse"

    def __init__(
        self,
        client: Client | None = None,
        collection_name: str | None = None,
        embedding: Embeddings | None = None,
        retrieval_mode: RetrievalMode | str = RetrievalMode.DENSE,
        vector_name: str | None = None,
        content_payload_key: str = CONTENT_KEY,
        metadata_payload_key: str = METADATA_KEY,
        distance: models.Distance | str | None = None,
        sparse_embedding: Any | None = None,
        sparse_vector_name: str | None = None,
        validate_embeddings: bool = True,
        validate_collection_config: bool = True,
        *,
        fusion: Fusion = "rrf",
        rrf_k: int | None = None,
        prefetch_limit: int | None = None,
        dense_prefetch_limit: int | None = None,
        sparse_prefetch_limit: int | None = None,
        batch_size: int = DEFAULT_EMBED_BATCH,
        on_disk: bool | None = None,
        on_disk_payload: bool | None = None,
        hnsw_config: models.HnswConfigDiff | None = None,
        quantization_config: models.QuantizationConfig | None = None,
        shard_number: int | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        payload_indexes: Mapping[str, models.PayloadSchemaType | models.PayloadSchemaParams]
        | None = None,
        sparse_idf: bool | None = None,
        collection_create_options: Mapping[str, Any] | None = None,
        vector_params: Mapping[str, Any] | None = None,
        sparse_vector_params: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            mode = RetrievalMode(retrieval_mode)
        except ValueError as error:
            raise ConfigurationError(f"unknown retrieval_mode {retrieval_mode!r}") from error
        if validate_embeddings and mode != RetrievalMode.SPARSE and embedding is None:
            raise ConfigurationError(f"retrieval_mode={mode.value!r} needs embedding=")
        if fusion not in ("rrf", "dbsf"):
            raise ConfigurationError(f"fusion must be 'rrf' or 'dbsf', got {fusion!r}")
        if rrf_k is not None and rrf_k < 1:
            raise ConfigurationError(f"rrf_k must be a positive integer, got {rrf_k!r}")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size!r}")
        for name, depth in (("dense_prefetch_limit", dense_prefetch_limit),
                            ("sparse_prefetch_limit", sparse_prefetch_limit)):
            if depth is not None and (not isinstance(depth, int) or depth < 1):
                raise ConfigurationError(f"{name} must be a positive integer, got {depth!r}")
        self._engine = QdrantEngine() if client is None else engine_for(client)
        self._owns_engine = client is None
        self.collection_name = collection_name or f"langchain-{uuid.uuid4().hex}"
        self._embeddings = embedding
        self.retrieval_mode = mode
        # langchain-qdrant spells "the unnamed vector" as ""; here None means "the default".
        self.vector_name = vector_name or None
        self.sparse_vector_name = sparse_vector_name or None
        self.content_payload_key = content_payload_key
        self.metadata_payload_key = metadata_payload_key
        # langchain-qdrant's vector_params / sparse_vector_params: the store's own keywords
        # win over the same setting there (as LlamaIndex's over dense_config).
        dense_options = dense_vector_options(vector_params, "vector_params")
        idf, sparse_index = sparse_vector_options(
            sparse_idf, sparse_vector_params, "sparse_vector_params"
        )
        self.distance = parse_distance(
            distance if distance is not None else dense_options.get("distance")
        )
        self.fusion: Fusion = fusion
        self.rrf_k = rrf_k
        self.prefetch_limit = prefetch_limit
        self.dense_prefetch_limit = dense_prefetch_limit
        self.sparse_prefetch_limit = sparse_prefetch_limit
        self.batch_size = batch_size
        self.validate_collection_config = validate_collection_config
        self._payload_layout = PayloadLayout(content_payload_key, metadata_payload_key)
        self._probe = LayoutProbe(self._payload_layout)
        self._sparse: SparseEmbedder | None = None
        self.sparse_embedding = sparse_embedding
        if mode != RetrievalMode.DENSE:
            self._sparse = SparseEmbedder(sparse_embedding or Bm25Encoder())
            self.sparse_embedding = self._sparse.encoder
        dense = mode != RetrievalMode.SPARSE
        sparse = mode != RetrievalMode.DENSE
        self._spec = CollectionSpec(
            dense=dense,
            sparse=sparse,
            vector_name=self.vector_name if dense else None,
            sparse_vector_name=self.sparse_vector_name if sparse else None,
            distance=self.distance if dense else None,
            on_disk=on_disk if on_disk is not None else dense_options.get("on_disk"),
            on_disk_payload=on_disk_payload,
            hnsw_config=hnsw_config or dense_options.get("hnsw_config"),
            quantization_config=quantization_config or dense_options.get("quantization_config"),
            shard_number=shard_number,
            replication_factor=replication_factor,
            write_consistency_factor=write_consistency_factor,
            payload_indexes=dict(payload_indexes or {}),
            sparse_idf=True if idf is None else idf,
            sparse_index=sparse_index,
            extra_create_options=dict(collection_create_options or {}),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(collection_name={self.collection_name!r}, "
            f"retrieval_mode={self.retrieval_mode.value!r}, engine={self._engine!r})"
        )

    @property
    def engine(self) -> QdrantEngine:
        """The engine this store sends every request through."""
        return self._engine

    @property
    def embeddings(self) -> Embeddings | None:
        return self._embeddings

    @property
    def sparse_embeddings(self) -> Any:
        """The sparse encoder: of a sparse or hybrid store (the built-in BM25 unless one was
        given), or the one a dense store was given; else ``ConfigurationError`` (a
        ``ValueError``, as langchain-qdrant raises)."""
        if self._sparse is not None:
            return self._sparse.encoder
        if self.sparse_embedding is not None:
            return self.sparse_embedding
        raise ConfigurationError(
            "this dense store has no sparse embeddings; give sparse_embedding= or use "
            "retrieval_mode SPARSE or HYBRID"
        )

    @property
    def collection_spec(self) -> CollectionSpec:
        """What this store needs of its collection (and how it creates it)."""
        return self._spec

    def _require_embeddings(self) -> Embeddings:
        if self._embeddings is None:
            raise ConfigurationError("this store has no embedding=; it can search by vector only")
        return self._embeddings

    def _require_sparse(self) -> SparseEmbedder:
        if self._sparse is None:
            raise ConfigurationError("a dense store has no sparse vectors")
        return self._sparse

    async def _afilter(self, filter: FilterLike) -> models.Filter | None:
        if not isinstance(filter, Mapping):  # a models.Filter names its payload paths itself
            return to_qdrant_filter(filter, metadata_key=self.metadata_payload_key)
        # A collection written by llama-index-vector-stores-qdrant keeps metadata at the top
        # level: the same dict filter then addresses "key" instead of "metadata.key".
        legacy = await self._probe.alegacy(self._engine, self.collection_name)
        caseless = None
        if "$ilike" in repr(filter).lower():  # only case-insensitive filters need the copy
            caseless = await self._probe.acaseless_key(self._engine, self.collection_name, legacy)
        return to_qdrant_filter(
            filter, metadata_key=self._probe.metadata_key(legacy), caseless_key=caseless
        )

    def _document(self, hit: Hit) -> Document:
        content = read_payload(hit.payload, self._payload_layout)
        return Document(page_content=content.text, metadata=content.metadata, id=hit.id)

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Close the engine if this store created it (a given client or engine stays open)."""
        if self._owns_engine:
            await arelease_engine(self._engine)

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        return run_sync(self.aclose())

    async def adelete_collection(self) -> bool:
        """Delete the whole collection. True if it existed."""
        self._probe.forget()
        return await self._engine.adelete_collection(self.collection_name)

    def delete_collection(self) -> bool:
        """Sync twin of :meth:`adelete_collection`."""
        return run_sync(self.adelete_collection())

    # ------------------------------------------------------------------ writes

    async def _aembed_documents(
        self, texts: list[str]
    ) -> tuple[list[list[float]] | None, list[models.SparseVector] | None]:
        async def dense() -> list[list[float]] | None:
            if self.retrieval_mode == RetrievalMode.SPARSE:
                return None
            embeddings = self._require_embeddings()
            return await sync_or_async(
                embeddings.embed_documents, embeddings.aembed_documents, texts
            )

        async def sparse() -> list[models.SparseVector] | None:
            return None if self._sparse is None else await self._sparse.documents(texts)

        dense_vectors, sparse_vectors = await asyncio.gather(dense(), sparse())
        for vectors, kind in ((dense_vectors, "dense"), (sparse_vectors, "sparse")):
            if vectors is not None and len(vectors) != len(texts):
                raise InvalidInputError(
                    f"the {kind} embeddings returned {len(vectors)} vectors for {len(texts)} texts"
                )
        return dense_vectors, sparse_vectors

    async def _aembed_query(self, query: str) -> list[float]:
        embeddings = self._require_embeddings()
        return await sync_or_async(embeddings.embed_query, embeddings.aembed_query, query)

    async def _aembed_group(
        self, texts: list[str], batch_size: int
    ) -> tuple[list[list[float]] | None, list[models.SparseVector] | None]:
        """Embed ``texts`` in calls of at most ``batch_size`` texts, one after another."""
        dense: list[list[float]] = []
        sparse: list[models.SparseVector] = []
        for start in range(0, len(texts), batch_size):
            part_dense, part_sparse = await self._aembed_documents(
                texts[start : start + batch_size]
            )
            dense.extend(part_dense or [])
            sparse.extend(part_sparse or [])
        # One mode per store: a kind is either embedded for every text or for none.
        return dense or None, sparse or None

    def _payload(
        self, text: str, metadata: Mapping[str, Any], external_id: str, legacy: bool
    ) -> dict[str, Any]:
        if legacy:  # keep a llama-index-vector-stores-qdrant collection in its own layout
            return build_llama_index_payload(text, metadata, external_id)
        return build_payload(text, metadata, self._payload_layout)

    async def _point_batches(
        self, inputs: TextInputs, batch_size: int, legacy: bool
    ) -> AsyncIterator[list[PointInput]]:
        # A batch handed to the engine is about one of its upsert requests (one or more
        # embedding calls of ``batch_size`` texts); a trip embeds one or more batches. The
        # engine sends the batches of trip n while this generator embeds trip n + 1.
        group = batch_size * max(1, self._engine.ingest_options.batch_size // batch_size)
        for trip_positions, groups in in_trips(inputs.keep, group, EMBED_TRIP_TEXTS):
            # All of a trip's calls on the caller's loop, where the user's models run (this
            # may run on the storage thread): one trip there and back, not one per call.
            dense, sparse = await on_caller_loop(
                self._aembed_group([inputs.texts[i] for i in trip_positions], batch_size)
            )

            def point(k: int) -> PointInput:
                position = trip_positions[k]  # noqa: B023 - used before the next trip starts
                return PointInput(
                    id=inputs.ids[position],
                    payload=self._payload(
                        inputs.texts[position], inputs.metadatas[position],
                        inputs.ids[position], legacy,
                    ),
                    dense=dense[k] if dense is not None else None,  # noqa: B023
                    sparse=sparse[k] if sparse is not None else None,  # noqa: B023
                    point_id=inputs.point_ids[position],
                    # Text and metadata were checked and sized up front for this layout.
                    payload_size=None if legacy else inputs.sizes[position],
                )

            for positions in groups:
                yield await self._engine.amap(point, positions)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: Iterable[Mapping[str, Any] | None] | None = None,
        ids: Iterable[str | int | None] | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and upsert texts; return their ids, one per text, in input order.

        Any iterables are accepted (generators are read once). Texts without an id get a new
        UUID4; any string id works and re-adding an id overwrites. Mismatched lengths or bad ids
        raise :class:`InvalidInputError` before anything is embedded or written. Embedding of
        the next batch overlaps the upsert of the previous one. ``show_progress=True`` shows a
        progress bar of the points written.
        """
        show_progress = bool(kwargs.pop("show_progress", False))
        options = write_options(kwargs, self._engine.ingest_options)
        reject_extra(kwargs, "add_texts")
        size = batch_size if batch_size is not None else self.batch_size
        if size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {size}")
        text_list = one_per_text(texts, "texts")
        checking = aprepare_inputs(
            text_list, metadatas, ids, self._engine.ingest_options.max_request_bytes,
            self._engine.amap, self._payload_layout,
        )
        if not text_list:
            await checking  # the other inputs must be empty too; nothing is sent
            return []
        # The collection's layout and schema are read while the inputs are checked: on a
        # server that takes their round trips out of the add's time before its first upsert.
        legacy, inputs = await overlapped(
            self._probe.alegacy_before_write(self._engine, self.collection_name), checking
        )
        if inputs.keep:
            await self._engine.arun_job(
                self._aupsert_inputs(inputs, size, show_progress, legacy, options)
            )
        return inputs.ids

    async def _aupsert_inputs(
        self, inputs: TextInputs, batch_size: int, show_progress: bool, legacy: bool,
        options: IngestOptions | None,
    ) -> None:
        """Embed, build and write checked inputs (one engine job: see ``arun_job``)."""
        await self._engine.aupsert(
            self.collection_name,
            self._point_batches(inputs, batch_size, legacy),
            self._spec,
            options=options,
            expected_ids=[inputs.ids[i] for i in inputs.keep],
            show_progress=show_progress,
        )
        self._probe.settle(legacy)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: Iterable[Mapping[str, Any] | None] | None = None,
        ids: Iterable[str | int | None] | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Sync twin of :meth:`aadd_texts`."""
        return run_sync(self.aadd_texts(texts, metadatas, ids, batch_size, **kwargs))

    async def aadd_documents(
        self, documents: Iterable[Document], ids: Iterable[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Upsert documents; ``ids`` wins over ``Document.id``, which wins over a new UUID4."""
        docs = list(documents)
        if ids is None:
            ids = [doc.id for doc in docs]
        return await self.aadd_texts(
            [doc.page_content for doc in docs], [doc.metadata for doc in docs], ids, **kwargs
        )

    def add_documents(
        self, documents: Iterable[Document], ids: Iterable[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Sync twin of :meth:`aadd_documents`."""
        return run_sync(self.aadd_documents(documents, ids, **kwargs))

    async def adelete(
        self, ids: Sequence[str] | None = None, *, filter: FilterLike = None, **kwargs: Any
    ) -> bool:
        """Delete by ids, by ``filter=``, or both (their intersection); missing ids are fine.

        With neither, raises :class:`InvalidInputError` instead of emptying the collection (use
        :meth:`adelete_collection` for that).
        """
        reject_extra(kwargs, "delete")
        qdrant_filter = await self._afilter(filter)
        if ids is None and qdrant_filter is None:
            raise InvalidInputError(
                "delete needs ids or filter=; to remove everything use delete_collection()"
            )
        if isinstance(ids, (str, bytes)):
            raise InvalidInputError("ids must be a list of ids, not one string")
        await self._engine.adelete(
            self.collection_name, ids=None if ids is None else list(ids), filter=qdrant_filter
        )
        return True

    def delete(
        self, ids: Sequence[str] | None = None, *, filter: FilterLike = None, **kwargs: Any
    ) -> bool:
        """Sync twin of :meth:`adelete`."""
        return run_sync(self.adelete(ids, filter=filter, **kwargs))

    # ------------------------------------------------------------------ reads

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by id, in the order asked; ids not stored are skipped."""
        if isinstance(ids, (str, bytes)):
            raise InvalidInputError("ids must be a list of ids, not one string")
        hits = await self._engine.aretrieve(self.collection_name, list(ids))
        return [self._document(hit) for hit in hits]

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Sync twin of :meth:`aget_by_ids`."""
        return run_sync(self.aget_by_ids(ids))

    async def _alayout(self) -> CollectionLayout | None:
        try:  # a read never creates the collection
            return await self._engine.aensure_collection(
                self.collection_name, self._spec, create=False
            )
        except CollectionNotFoundError:
            return None

    async def _asearch(self, request: SearchRequest) -> tuple[list[Hit], CollectionLayout | None]:
        layout = await self._alayout()
        if layout is None:  # nothing was ever written: an empty result, not an error
            return [], None
        try:
            hits = await self._engine.aquery(self.collection_name, request, self._spec)
        except CollectionNotFoundError:
            return [], None
        return hits, layout

    async def _aquery_request(
        self,
        query: str,
        k: int,
        filter: FilterLike,
        offset: int,
        score_threshold: float | None,
        hybrid_fusion: object,
        read: Mapping[str, Any],
    ) -> SearchRequest:
        async def dense() -> list[float] | None:
            if self.retrieval_mode == RetrievalMode.SPARSE:
                return None
            return await self._aembed_query(query)

        async def sparse() -> models.SparseVector | None:
            return None if self._sparse is None else await self._sparse.query(query)

        fusion, rrf_k = fusion_options(hybrid_fusion, self.fusion, self.rrf_k)
        dense_vector, sparse_vector = await asyncio.gather(dense(), sparse())
        return SearchRequest(
            dense=dense_vector,
            sparse=sparse_vector,
            limit=k,
            offset=offset,
            filter=await self._afilter(filter),
            score_threshold=score_threshold,
            fusion=fusion,
            rrf_k=rrf_k,
            prefetch_limit=self.prefetch_limit,
            dense_prefetch_limit=self.dense_prefetch_limit,
            sparse_prefetch_limit=self.sparse_prefetch_limit,
            **read,
        )

    async def _adense_request(
        self, embedding: Sequence[float], k: int, filter: FilterLike, offset: int,
        score_threshold: float | None, read: Mapping[str, Any],
    ) -> SearchRequest:
        if self.retrieval_mode == RetrievalMode.SPARSE:
            raise ConfigurationError("a sparse store has no dense vectors to search by vector")
        return SearchRequest(
            dense=list(embedding), limit=k, offset=offset, filter=await self._afilter(filter),
            score_threshold=score_threshold, **read,
        )

    def _scored(self, hits: list[Hit]) -> list[tuple[Document, float]]:
        return [(self._document(hit), hit.score if hit.score is not None else 0.0) for hit in hits]

    async def asimilarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: FilterLike = None,
        *,
        offset: int = 0,
        score_threshold: float | None = None,
        hybrid_fusion: object = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents most similar to ``query`` with Qdrant's raw scores, best first.

        Raw scores as langchain-qdrant returns them: cosine or dot similarity, Euclid or
        Manhattan distance, sparse dot product, or the fused score in hybrid mode.
        ``score_threshold`` is a raw score handed to Qdrant (a minimum similarity, or a maximum
        distance). ``hybrid_fusion`` overrides the store's fusion for this call.
        """
        read = read_options(kwargs)
        reject_extra(kwargs, "similarity_search_with_score")
        request = await self._aquery_request(
            query, k, filter, offset, score_threshold, hybrid_fusion, read
        )
        hits, _ = await self._asearch(request)
        return self._scored(hits)

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: FilterLike = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Sync twin of :meth:`asimilarity_search_with_score`."""
        return run_sync(self.asimilarity_search_with_score(query, k, filter, **kwargs))

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: FilterLike = None, **kwargs: Any
    ) -> list[Document]:
        """Documents most similar to ``query``; options as in the ``_with_score`` search."""
        scored = await self.asimilarity_search_with_score(query, k, filter, **kwargs)
        return [doc for doc, _ in scored]

    def similarity_search(
        self, query: str, k: int = 4, filter: FilterLike = None, **kwargs: Any
    ) -> list[Document]:
        """Sync twin of :meth:`asimilarity_search`."""
        return run_sync(self.asimilarity_search(query, k, filter, **kwargs))

    async def asimilarity_search_with_score_by_vector(
        self,
        embedding: Sequence[float],
        k: int = 4,
        filter: FilterLike = None,
        *,
        offset: int = 0,
        score_threshold: float | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents nearest to a dense ``embedding`` with raw scores (dense vector only)."""
        read = read_options(kwargs)
        reject_extra(kwargs, "similarity_search_with_score_by_vector")
        request = await self._adense_request(embedding, k, filter, offset, score_threshold, read)
        hits, _ = await self._asearch(request)
        return self._scored(hits)

    def similarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, filter: FilterLike = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Sync twin of :meth:`asimilarity_search_with_score_by_vector`."""
        return run_sync(self.asimilarity_search_with_score_by_vector(
            embedding, k, filter, **kwargs
        ))

    async def asimilarity_search_by_vector(
        self, embedding: Sequence[float], k: int = 4, filter: FilterLike = None, **kwargs: Any
    ) -> list[Document]:
        """Documents nearest to a dense ``embedding`` (dense and hybrid stores)."""
        scored = await self.asimilarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [doc for doc, _ in scored]

    def similarity_search_by_vector(
        self, embedding: Sequence[float], k: int = 4, filter: FilterLike = None, **kwargs: Any
    ) -> list[Document]:
        """Sync twin of :meth:`asimilarity_search_by_vector`."""
        return run_sync(self.asimilarity_search_by_vector(embedding, k, filter, **kwargs))

    async def _asimilarity_search_with_relevance_scores(
        self,
        query: str,
        k: int = 4,
        filter: FilterLike = None,
        *,
        score_threshold: float | None = None,
        offset: int = 0,
        hybrid_fusion: object = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents with relevance scores in [0, 1] (fixed maps of :mod:`.langchain_scores`).

        ``score_threshold`` is a relevance: hits below it are dropped. The maps are monotonic,
        so this keeps exactly the hits of the top ``k`` a threshold on raw scores would keep.
        """
        read = read_options(kwargs)
        reject_extra(kwargs, "similarity_search_with_relevance_scores")
        if score_threshold is not None and not isinstance(score_threshold, (int, float)):
            raise InvalidInputError(f"score_threshold must be a number, got {score_threshold!r}")
        request = await self._aquery_request(query, k, filter, offset, None, hybrid_fusion, read)
        hits, layout = await self._asearch(request)
        kind: Literal["dense", "sparse", "hybrid"] = (
            "hybrid" if request.hybrid else "dense" if request.dense is not None else "sparse"
        )
        to_relevance = relevance_function(
            kind,
            distance=layout.distance if layout is not None else None,
            fusion=request.fusion,
            rrf_k=request.rrf_k,
        )
        scored = [(doc, to_relevance(score)) for doc, score in self._scored(hits)]
        if score_threshold is None:
            return scored
        return [(doc, score) for doc, score in scored if score >= score_threshold]

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Sync twin of :meth:`_asimilarity_search_with_relevance_scores`."""
        return run_sync(self._asimilarity_search_with_relevance_scores(query, k, **kwargs))

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """langchain-core's hook: the map from this store's raw scores to relevances in [0, 1]
        (the one the relevance searches apply; the store's fusion for hybrid stores). With no
        distance given, the collection's is read (Cosine's map if it does not exist yet)."""
        mode = self.retrieval_mode
        kind: Literal["dense", "sparse", "hybrid"] = (
            "hybrid" if mode == RetrievalMode.HYBRID
            else "sparse" if mode == RetrievalMode.SPARSE else "dense"
        )
        distance = self.distance
        if kind == "dense" and distance is None:
            layout = run_sync(self._alayout())
            distance = layout.distance if layout is not None else None
        return relevance_function(kind, distance=distance, fusion=self.fusion, rrf_k=self.rrf_k)

    async def asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents with relevance scores in [0, 1], 1 most similar; ``score_threshold=``
        (a relevance), ``filter=``, ``offset=`` and ``hybrid_fusion=`` as in the other searches.
        """
        return await self._asimilarity_search_with_relevance_scores(query, k, **kwargs)

    def similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Sync twin of :meth:`asimilarity_search_with_relevance_scores`."""
        return run_sync(self.asimilarity_search_with_relevance_scores(query, k, **kwargs))

    async def amax_marginal_relevance_search_with_score_by_vector(
        self,
        embedding: Sequence[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: FilterLike = None,
        *,
        score_threshold: float | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Maximal marginal relevance around a dense ``embedding``, run by Qdrant natively, with
        each pick's raw score against the query (as :meth:`asimilarity_search_with_score`).

        LangChain's meaning: ``lambda_mult=1`` is pure relevance, ``0`` the most diverse;
        ``fetch_k`` nearest candidates are re-ranked into ``k`` results.
        """
        read = read_options(kwargs)
        reject_extra(kwargs, "max_marginal_relevance_search_with_score_by_vector")
        if self.retrieval_mode == RetrievalMode.SPARSE:
            raise ConfigurationError("a sparse store has no dense vectors to search by vector")
        request = SearchRequest(
            dense=list(embedding), limit=k, filter=await self._afilter(filter),
            score_threshold=score_threshold, mmr_lambda=lambda_mult, mmr_candidates=fetch_k,
            **read,
        )
        hits, _ = await self._asearch(request)
        return self._scored(hits)

    def max_marginal_relevance_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, fetch_k: int = 20,
        lambda_mult: float = 0.5, filter: FilterLike = None, **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Sync twin of :meth:`amax_marginal_relevance_search_with_score_by_vector`."""
        return run_sync(self.amax_marginal_relevance_search_with_score_by_vector(
            embedding, k, fetch_k, lambda_mult, filter, **kwargs
        ))

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: Sequence[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: FilterLike = None,
        **kwargs: Any,
    ) -> list[Document]:
        """:meth:`amax_marginal_relevance_search_with_score_by_vector` without the scores."""
        scored = await self.amax_marginal_relevance_search_with_score_by_vector(
            embedding, k, fetch_k, lambda_mult, filter, **kwargs
        )
        return [doc for doc, _ in scored]

    def max_marginal_relevance_search_by_vector(
        self, embedding: Sequence[float], k: int = 4, fetch_k: int = 20,
        lambda_mult: float = 0.5, filter: FilterLike = None, **kwargs: Any,
    ) -> list[Document]:
        """Sync twin of :meth:`amax_marginal_relevance_search_by_vector`."""
        return run_sync(self.amax_marginal_relevance_search_by_vector(
            embedding, k, fetch_k, lambda_mult, filter, **kwargs
        ))

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: FilterLike = None,
        *,
        score_threshold: float | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Maximal marginal relevance for ``query`` (see the by-vector method for the meaning).

        Dense and hybrid stores diversify over the dense vector, sparse stores over the sparse
        one (MMR re-ranks one vector space; it is not fused).
        """
        if self.retrieval_mode != RetrievalMode.SPARSE:
            embedding = await self._aembed_query(query)
            return await self.amax_marginal_relevance_search_by_vector(
                embedding, k, fetch_k, lambda_mult, filter, score_threshold=score_threshold,
                **kwargs,
            )
        read = read_options(kwargs)
        reject_extra(kwargs, "max_marginal_relevance_search")
        request = SearchRequest(
            sparse=await self._require_sparse().query(query), limit=k,
            filter=await self._afilter(filter), score_threshold=score_threshold,
            mmr_lambda=lambda_mult, mmr_candidates=fetch_k, **read,
        )
        hits, _ = await self._asearch(request)
        return [self._document(hit) for hit in hits]

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: FilterLike = None, **kwargs: Any,
    ) -> list[Document]:
        """Sync twin of :meth:`amax_marginal_relevance_search`."""
        return run_sync(self.amax_marginal_relevance_search(
            query, k, fetch_k, lambda_mult, filter, **kwargs
        ))

    async def asearch(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """``"similarity"``, ``"similarity_score_threshold"`` or ``"mmr"`` search for ``query``."""
        if search_type == "similarity":
            return await self.asimilarity_search(query, **kwargs)
        if search_type == "similarity_score_threshold":
            scored = await self.asimilarity_search_with_relevance_scores(query, **kwargs)
            return [doc for doc, _ in scored]
        if search_type == "mmr":
            return await self.amax_marginal_relevance_search(query, **kwargs)
        raise InvalidInputError(
            f"search_type {search_type!r} not allowed; expected 'similarity', "
            "'similarity_score_threshold' or 'mmr'"
        )

    def search(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """Sync twin of :meth:`asearch`."""
        return run_sync(self.asearch(query, search_type, **kwargs))

    # ------------------------------------------------------------------ constructors

    @classmethod
    def _connect(
        cls, client: Client | None, connection: Mapping[str, Any]
    ) -> tuple[QdrantEngine, bool]:
        given = {k: v for k, v in connection.items() if v is not None}
        if client is not None:
            if given:
                # Name what was given: client keywords arrive inside client_options.
                names = {*given, *(given.get("client_options") or ())} - {"client_options"}
                raise ConfigurationError(
                    "give either client= or connection options, not both "
                    f"(got {sorted(names) or ['client_options']})"
                )
            return engine_for(client), False
        if set(given) - {"client_options"} == {"path"}:  # a folder (no client options apply):
            # shared with the other stores that open it
            return hold_folder_engine(given["path"]), True
        return QdrantEngine(**given), True

    @classmethod
    async def afrom_texts(
        cls,
        texts: Iterable[str],
        embedding: Embeddings | None = None,
        metadatas: Iterable[Mapping[str, Any] | None] | None = None,
        ids: Iterable[str | int | None] | None = None,
        collection_name: str | None = None,
        *,
        client: Client | None = None,
        location: str | None = None,
        url: str | None = None,
        port: int | None = None,
        grpc_port: int | None = None,
        prefer_grpc: bool | None = None,
        https: bool | None = None,
        api_key: str | None = None,
        prefix: str | None = None,
        timeout: int | None = None,
        host: str | None = None,
        path: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        batch_size: int = DEFAULT_EMBED_BATCH,
        force_recreate: bool = False,
        **store_options: Any,
    ) -> Self:
        """A store on a new or existing collection, filled with ``texts``.

        Connect with ``client=`` (engine or client) or the connection options of
        :class:`~qdrant_aio.QdrantEngine` (``location``, ``path``, ``url``, ``api_key``, ...);
        with neither, an embedded in-memory engine. ``collection_name`` defaults to a new UUID
        name; ``force_recreate`` drops an existing collection first. ``store_options`` are the
        constructor's (``retrieval_mode``, ``sparse_embedding``, ``distance``, ...).
        """
        engine, owned = cls._connect(client, {
            "location": location, "url": url, "port": port, "grpc_port": grpc_port,
            "prefer_grpc": prefer_grpc, "https": https, "api_key": api_key, "prefix": prefix,
            "timeout": timeout, "host": host, "path": path,
            "client_options": _with_client_keywords(client_options, store_options),
        })
        try:
            store = cls(engine, collection_name, embedding, batch_size=batch_size, **store_options)
            store._owns_engine = owned
            if force_recreate:
                await engine.adelete_collection(store.collection_name)
            await store.aadd_texts(texts, metadatas, ids)
        except BaseException:
            if owned:  # do not leave a storage thread (or a locked folder) behind
                await arelease_engine(engine)
            raise
        return store

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        embedding: Embeddings | None = None,
        metadatas: Iterable[Mapping[str, Any] | None] | None = None,
        ids: Iterable[str | int | None] | None = None,
        collection_name: str | None = None,
        **kwargs: Any,
    ) -> Self:
        """Sync twin of :meth:`afrom_texts`."""
        return run_sync(cls.afrom_texts(
            texts, embedding, metadatas, ids, collection_name, **kwargs
        ))

    @classmethod
    async def afrom_documents(
        cls, documents: Iterable[Document], embedding: Embeddings | None = None, **kwargs: Any
    ) -> Self:
        """:meth:`afrom_texts` for documents (``ids=`` wins over ``Document.id``)."""
        docs = list(documents)
        ids = kwargs.pop("ids", None)
        return await cls.afrom_texts(
            [doc.page_content for doc in docs], embedding, [doc.metadata for doc in docs],
            ids if ids is not None else [doc.id for doc in docs], **kwargs,
        )

    @classmethod
    def from_documents(
        cls, documents: Iterable[Document], embedding: Embeddings | None = None, **kwargs: Any
    ) -> Self:
        """Sync twin of :meth:`afrom_documents`."""
        return run_sync(cls.afrom_documents(documents, embedding, **kwargs))

    @classmethod
    async def aconstruct_instance(
        cls,
        embedding: Embeddings | None = None,
        retrieval_mode: RetrievalMode | str = RetrievalMode.DENSE,
        sparse_embedding: Any | None = None,
        client_options: Mapping[str, Any] | None = None,
        collection_name: str | None = None,
        *,
        client: Client | None = None,
        force_recreate: bool = False,
        validate_collection_config: bool = True,
        **store_options: Any,
    ) -> Self:
        """langchain-qdrant's constructor of a store with nothing added yet.

        ``client_options`` are ``QdrantClient`` keywords, as there: the connection options of
        :class:`~qdrant_aio.QdrantEngine` (``location``, ``url``, ``path``, ``api_key``, ...)
        and any other client keyword. ``force_recreate`` drops an existing collection; an
        existing collection is validated now (unless ``validate_collection_config=False``).
        A new one is created by the first add, with the dense size of its embeddings: nothing
        is embedded here (langchain-qdrant embeds ``"dummy_text"``).
        """
        options = dict(client_options or {})
        connection = {key: options.pop(key) for key in _CONNECTION_KEYS if key in options}
        engine, owned = cls._connect(client, {**connection, "client_options": options or None})
        try:
            store = cls(
                engine, collection_name, embedding, retrieval_mode,
                sparse_embedding=sparse_embedding,
                validate_collection_config=validate_collection_config, **store_options,
            )
            store._owns_engine = owned
            if force_recreate:
                await engine.adelete_collection(store.collection_name)
            elif validate_collection_config and await engine.acollection_exists(
                store.collection_name
            ):
                await engine.aensure_collection(store.collection_name, store._spec, create=False)
        except BaseException:
            if owned:
                await arelease_engine(engine)
            raise
        return store

    @classmethod
    def construct_instance(
        cls,
        embedding: Embeddings | None = None,
        retrieval_mode: RetrievalMode | str = RetrievalMode.DENSE,
        sparse_embedding: Any | None = None,
        client_options: Mapping[str, Any] | None = None,
        collection_name: str | None = None,
        **kwargs: Any,
    ) -> Self:
        """Sync twin of :meth:`aconstruct_instance`."""
        return run_sync(cls.aconstruct_instance(
            embedding, retrieval_mode, sparse_embedding, client_options, collection_name, **kwargs
        ))

    @classmethod
    async def afrom_existing_collection(
        cls,
        collection_name: str,
        embedding: Embeddings | None = None,
        *,
        client: Client | None = None,
        location: str | None = None,
        url: str | None = None,
        port: int | None = None,
        grpc_port: int | None = None,
        prefer_grpc: bool | None = None,
        https: bool | None = None,
        api_key: str | None = None,
        prefix: str | None = None,
        timeout: int | None = None,
        host: str | None = None,
        path: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        **store_options: Any,
    ) -> Self:
        """A store on an existing collection, validated now.

        Raises :class:`~qdrant_aio.CollectionNotFoundError` if it does not exist and
        :class:`~qdrant_aio.CollectionMismatchError` if it does not fit the store's settings.
        """
        engine, owned = cls._connect(client, {
            "location": location, "url": url, "port": port, "grpc_port": grpc_port,
            "prefer_grpc": prefer_grpc, "https": https, "api_key": api_key, "prefix": prefix,
            "timeout": timeout, "host": host, "path": path,
            "client_options": _with_client_keywords(client_options, store_options),
        })
        try:
            store = cls(engine, collection_name, embedding, **store_options)
            store._owns_engine = owned
            if not await engine.acollection_exists(collection_name):
                raise CollectionNotFoundError(collection_name)
            # Opened, never created or changed (create=False: not even a payload index).
            await engine.aensure_collection(collection_name, store._spec, create=False)
        except BaseException:
            if owned:
                await arelease_engine(engine)
            raise
        return store

    @classmethod
    def from_existing_collection(
        cls, collection_name: str, embedding: Embeddings | None = None, **kwargs: Any
    ) -> Self:
        """Sync twin of :meth:`afrom_existing_collection`."""
        return run_sync(cls.afrom_existing_collection(collection_name, embedding, **kwargs))
