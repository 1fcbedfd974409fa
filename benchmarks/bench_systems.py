"""The systems under test, each behind one small async interface.

Every system gets a fresh store of the same kind per round: embedded in memory by default, or a
fresh collection on the server given by ``--url``. ``setup`` (untimed) builds the store and
whatever the caller must prepare for the timed ``ingest`` (LlamaIndex nodes carrying their
embeddings; the collection langchain-qdrant's constructor insists on); ``query`` returns the
document indices (metadata ``"i"``) of the top-k hits, best first.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from bench_data import Dataset, lookup_embeddings
from bench_measure import RequestCounter
from qdrant_client import AsyncQdrantClient, QdrantClient, models

__all__ = ["SYSTEMS", "Context", "System", "unavailable_reason"]

# Points per raw upsert, each the best of a sweep over 64, 128 and 256: embedded, 64 (about 17%
# faster than 256: the points are still in the CPU cache when local mode stores them); on a
# server, 256 (a quarter of the round trips).
RAW_BATCH_EMBEDDED = 64
RAW_BATCH_SERVER = 256
# Texts per embedding call with ``--embed-ms``: the LangChain stores' default batch size
# (qdrant-aio's and langchain-qdrant's); raw embeds its batches in calls of the same size.
EMBED_CALL_TEXTS = 64


@dataclass
class Context:
    dataset: Dataset
    url: str | None
    counter: RequestCounter
    collection: str  # a fresh name for this system and round
    embed_delay: float = 0.0  # seconds per embedding call (``--embed-ms``); 0: embedding is free
    # A server's API key (``QDRANT_API_KEY``): given to every client, never written anywhere.
    api_key: str | None = field(default=None, repr=False)

    def embeddings(self) -> Any:
        return lookup_embeddings(self.dataset, self.embed_delay)

    def async_client(self) -> AsyncQdrantClient:
        if self.url is None:
            return AsyncQdrantClient(location=":memory:")
        return AsyncQdrantClient(
            url=self.url, api_key=self.api_key, event_hooks=self.counter.async_hooks()
        )

    def sync_client(self) -> QdrantClient:
        if self.url is None:
            return QdrantClient(location=":memory:")
        return QdrantClient(
            url=self.url, api_key=self.api_key, event_hooks=self.counter.sync_hooks()
        )


class System:
    name = ""
    label = ""
    module = ""  # what must import for the system to run
    # Whether ingest embeds the texts itself (through the LangChain Embeddings). LlamaIndex
    # nodes arrive embedded (LlamaIndex embeds before a store's add), so ``--embed-ms`` does
    # not apply to those systems.
    embeds_texts = True

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def setup(self) -> None:
        """Build a fresh store (untimed)."""

    async def ingest(self) -> None:
        raise NotImplementedError

    async def query(self, vector: list[float], k: int) -> list[int]:
        raise NotImplementedError

    async def query_filtered(self, vector: list[float], k: int, group: int) -> list[int]:
        """``query`` among the documents whose metadata ``"group"`` is ``group``."""
        raise NotImplementedError

    async def fetch(self, ids: list[str]) -> list[int]:
        """The document indices of the stored documents among ``ids``."""
        raise NotImplementedError

    async def delete(self, ids: list[str]) -> None:
        raise NotImplementedError

    async def teardown(self) -> None:
        """Drop the collection and close what this system opened (untimed)."""


def _doc_index(metadata: Any) -> int:
    return int(metadata["i"])


def _group_filter(group: int) -> models.Filter:
    """The payload filter on ``metadata.group``, for the systems that take a Qdrant filter."""
    return models.Filter(must=[
        models.FieldCondition(key="metadata.group", match=models.MatchValue(value=group))
    ])


def _group_filters(group: int) -> Any:
    """The same filter as LlamaIndex ``MetadataFilters``."""
    from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

    return MetadataFilters(filters=[MetadataFilter(key="group", value=group)])


def _text_nodes(dataset: Dataset) -> list[Any]:
    from llama_index.core.schema import TextNode

    return [
        TextNode(id_=doc_id, text=text, metadata=dict(meta), embedding=vector)
        for doc_id, text, meta, vector in zip(
            dataset.ids, dataset.texts, dataset.metadatas, dataset.vectors, strict=True
        )
    ]


class LangChainStore(System):
    """Ingest and query of a LangChain vector store (``self.store``, built by ``setup``)."""

    store: Any

    async def ingest(self) -> None:
        ds = self.ctx.dataset
        await self.store.aadd_texts(ds.texts, metadatas=ds.metadatas, ids=ds.ids)

    async def query(self, vector: list[float], k: int) -> list[int]:
        docs = await self.store.asimilarity_search_by_vector(vector, k=k)
        return [_doc_index(d.metadata) for d in docs]

    def group_filter(self, group: int) -> Any:
        return _group_filter(group)

    async def query_filtered(self, vector: list[float], k: int, group: int) -> list[int]:
        docs = await self.store.asimilarity_search_by_vector(
            vector, k=k, filter=self.group_filter(group)
        )
        return [_doc_index(d.metadata) for d in docs]

    async def fetch(self, ids: list[str]) -> list[int]:
        return [_doc_index(d.metadata) for d in await self.store.aget_by_ids(ids)]

    async def delete(self, ids: list[str]) -> None:
        await self.store.adelete(ids)


class LlamaIndexStore(System):
    """Ingest and query of a LlamaIndex vector store (``self.store``; ``self.nodes`` to add)."""

    store: Any
    nodes: list[Any]
    embeds_texts = False

    async def ingest(self) -> None:
        await self.store.async_add(self.nodes)

    async def query(self, vector: list[float], k: int) -> list[int]:
        from llama_index.core.vector_stores.types import VectorStoreQuery

        result = await self.store.aquery(
            VectorStoreQuery(query_embedding=vector, similarity_top_k=k)
        )
        return [_doc_index(node.metadata) for node in result.nodes or []]

    async def query_filtered(self, vector: list[float], k: int, group: int) -> list[int]:
        from llama_index.core.vector_stores.types import VectorStoreQuery

        result = await self.store.aquery(VectorStoreQuery(
            query_embedding=vector, similarity_top_k=k, filters=_group_filters(group)
        ))
        return [_doc_index(node.metadata) for node in result.nodes or []]

    async def fetch(self, ids: list[str]) -> list[int]:
        return [_doc_index(node.metadata) for node in await self.store.aget_nodes(ids)]

    async def delete(self, ids: list[str]) -> None:
        await self.store.adelete_nodes(ids)


class RawClient(System):
    """``AsyncQdrantClient``, the floor: batches of ``PointStruct`` upserted one after another."""

    name = "raw"
    label = "raw AsyncQdrantClient"
    module = "qdrant_client"

    async def setup(self) -> None:
        self.client = self.ctx.async_client()
        await self.client.create_collection(
            self.ctx.collection,
            vectors_config={
                "dense": models.VectorParams(
                    size=self.ctx.dataset.dim, distance=models.Distance.COSINE
                )
            },
        )

    async def ingest(self) -> None:
        ds = self.ctx.dataset
        batch = RAW_BATCH_EMBEDDED if self.ctx.url is None else RAW_BATCH_SERVER
        embeddings = self.ctx.embeddings() if self.ctx.embed_delay else None
        for start in range(0, ds.n, batch):
            stop = min(start + batch, ds.n)
            vectors: list[list[float]] = ds.vectors[start:stop]
            if embeddings is not None:
                # Embed, then write: one step after the other, as a plain client does.
                vectors = []
                for first in range(start, stop, EMBED_CALL_TEXTS):
                    texts = ds.texts[first : min(first + EMBED_CALL_TEXTS, stop)]
                    vectors.extend(await embeddings.aembed_documents(texts))
            points = [
                models.PointStruct(
                    id=ds.ids[i],
                    vector={"dense": vectors[i - start]},
                    payload={"page_content": ds.texts[i], "metadata": ds.metadatas[i]},
                )
                for i in range(start, stop)
            ]
            await self.client.upsert(self.ctx.collection, points=points, wait=True)

    async def query(self, vector: list[float], k: int) -> list[int]:
        response = await self.client.query_points(
            self.ctx.collection, query=vector, using="dense", limit=k, with_payload=True
        )
        return [_doc_index(p.payload["metadata"]) for p in response.points if p.payload]

    async def query_filtered(self, vector: list[float], k: int, group: int) -> list[int]:
        response = await self.client.query_points(
            self.ctx.collection, query=vector, using="dense", limit=k, with_payload=True,
            query_filter=_group_filter(group),
        )
        return [_doc_index(p.payload["metadata"]) for p in response.points if p.payload]

    async def fetch(self, ids: list[str]) -> list[int]:
        records = await self.client.retrieve(self.ctx.collection, ids, with_payload=True)
        return [_doc_index(r.payload["metadata"]) for r in records if r.payload]

    async def delete(self, ids: list[str]) -> None:
        await self.client.delete(
            self.ctx.collection, points_selector=models.PointIdsList(points=list(ids)), wait=True
        )

    async def teardown(self) -> None:
        await self.client.delete_collection(self.ctx.collection)
        await self.client.close()


class AioLangChain(LangChainStore):
    """qdrant-aio's LangChain store: ``aadd_texts`` / ``asimilarity_search_by_vector``.

    Embedded: the store's own engine (``client=None``). Server: ``client=`` an
    ``AsyncQdrantClient`` carrying the request-counting hooks.
    """

    name = "aio-langchain"
    label = "qdrant-aio LangChain"
    module = "qdrant_aio.langchain"

    def group_filter(self, group: int) -> Any:
        return {"group": group}  # the portable dict syntax, as a user of this store writes it

    async def setup(self) -> None:
        from qdrant_aio.langchain import QdrantVectorStore

        self.client = None if self.ctx.url is None else self.ctx.async_client()
        self.store = QdrantVectorStore(
            client=self.client,
            collection_name=self.ctx.collection,
            embedding=self.ctx.embeddings(),
        )

    async def teardown(self) -> None:
        await self.store.adelete_collection()
        await self.store.aclose()
        if self.client is not None:
            await self.store.engine.aclose()
            await self.client.close()


class AioLlamaIndex(LlamaIndexStore):
    """``qdrant_aio.llama_index.QdrantVectorStore``: ``async_add`` / ``aquery``.

    Embedded: the store's own engine. Server: ``aclient=`` an ``AsyncQdrantClient`` carrying the
    request-counting hooks.
    """

    name = "aio-llamaindex"
    label = "qdrant-aio LlamaIndex"
    module = "qdrant_aio.llama_index"

    async def setup(self) -> None:
        from qdrant_aio.llama_index import QdrantVectorStore

        self.client = None if self.ctx.url is None else self.ctx.async_client()
        if self.client is None:
            self.store = QdrantVectorStore(collection_name=self.ctx.collection)
        else:
            self.store = QdrantVectorStore(collection_name=self.ctx.collection, aclient=self.client)
        self.nodes = _text_nodes(self.ctx.dataset)

    async def teardown(self) -> None:
        self.nodes = []
        await self.store.aclear()
        await self.store.aclose()
        if self.client is not None:
            await self.store.engine.aclose()
            await self.client.close()


class LangChainQdrant(LangChainStore):
    """langchain-qdrant 1.1.0 on a sync ``QdrantClient`` (the only client it supports).

    Its ``a*`` methods are langchain-core's thread-executor fallbacks around the sync methods.
    Its constructor needs an existing collection (unnamed vector, as it creates itself).
    """

    name = "langchain-qdrant"
    label = "langchain-qdrant 1.1.0"
    module = "langchain_qdrant"

    async def setup(self) -> None:
        from langchain_qdrant import QdrantVectorStore

        self.client = self.ctx.sync_client()
        self.client.create_collection(
            self.ctx.collection,
            vectors_config=models.VectorParams(
                size=self.ctx.dataset.dim, distance=models.Distance.COSINE
            ),
        )
        self.store = QdrantVectorStore(
            client=self.client,
            collection_name=self.ctx.collection,
            embedding=self.ctx.embeddings(),
        )

    async def teardown(self) -> None:
        self.client.delete_collection(self.ctx.collection)
        self.client.close()


class LlamaIndexQdrant(LlamaIndexStore):
    """llama-index-vector-stores-qdrant 0.10.4 with ``aclient=`` only (its async methods).

    Only the async client is given: in embedded mode a second (sync) client would be a separate
    storage, and the async path is what is measured.
    """

    name = "llamaindex-qdrant"
    label = "llama-index-vector-stores-qdrant 0.10.4"
    module = "llama_index.vector_stores.qdrant"

    async def setup(self) -> None:
        from llama_index.vector_stores.qdrant import QdrantVectorStore

        self.client = self.ctx.async_client()
        self.store = QdrantVectorStore(collection_name=self.ctx.collection, aclient=self.client)
        self.nodes = _text_nodes(self.ctx.dataset)

    async def teardown(self) -> None:
        self.nodes = []
        await self.client.delete_collection(self.ctx.collection)
        await self.client.close()


SYSTEMS: dict[str, type[System]] = {
    cls.name: cls
    for cls in (RawClient, AioLangChain, AioLlamaIndex, LangChainQdrant, LlamaIndexQdrant)
}


def unavailable_reason(name: str) -> str | None:
    """Why system ``name`` cannot run here (its module does not import), or None."""
    module = SYSTEMS[name].module
    try:
        importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 - any import failure means "skip, and say why"
        return f"{module} does not import: {type(error).__name__}: {error}"
    return None
