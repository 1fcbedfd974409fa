"""Helpers of the adapter reliability tests: faulty clients, controllable embeddings, and one
small harness per adapter so that every scenario runs through both stores the same way."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from engine_support import RecordingClient, http_error, unit_vector
from langchain_core.embeddings import Embeddings
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException

from qdrant_aio import IngestOptions, QdrantEngine, RetryPolicy
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore
from qdrant_aio.transport import EmbeddedTransport

SECRET = "sk-SECRET-reliability-7d41c0"
DIM = 8
ADAPTERS = ("langchain", "llama_index")


def grpc_unavailable() -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "injected"
    )


def transient_errors() -> list[BaseException]:
    """The failures a server or a network gives that pass when the request is sent again."""
    return [
        TimeoutError("read timed out"),
        ConnectionResetError("connection reset by peer"),
        ResponseHandlingException(httpx.ConnectError("connection refused")),
        http_error(429),
        http_error(500),
        http_error(502),
        http_error(503),
        http_error(504),
        grpc_unavailable(),
    ]


class FaultyClient(RecordingClient):
    """A real client behind a wrapper that fails chosen calls the way a server or network does.

    * ``rate``: share of calls that fail transiently (cycling through :func:`transient_errors`);
      every other injected failure happens AFTER the real call ran (the response was lost), so
      a retry re-sends a request that already took effect.
    * ``poison``: a predicate on a call's kwargs; matching calls always fail with ``poison_error``.
    * ``hold_call``: (method, n) — the n-th call of that method blocks the storage thread until
      ``release`` is set; ``entered`` is set when it starts blocking.
    """

    SPARED = frozenset({"close"})

    def __init__(self, inner: QdrantClient, rate: float = 0.0) -> None:
        super().__init__(inner)
        self.rate = rate
        self.injected = 0
        self.injected_after_call = 0
        self.poison: Callable[[str, Mapping[str, Any]], bool] | None = None
        self.poison_error: BaseException = http_error(503)
        self.hold_call: tuple[str, int] | None = None
        self.entered = threading.Event()
        self.release = threading.Event()
        self._errors = transient_errors()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target) or name in self.SPARED:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append((name, kwargs))
                number = self.count_calls(name)
                queued = self.fail_next.get(name)
                if queued:
                    raise queued.pop(0)
                if self.poison is not None and self.poison(name, kwargs):
                    raise self.poison_error
                error: BaseException | None = None
                after = False
                if self.rng.random() < self.rate:
                    error = self._errors[self.injected % len(self._errors)]
                    after = self.injected % 2 == 1
                    self.injected += 1
                    self.injected_after_call += after
            if self.hold_call == (name, number):
                self.entered.set()
                self.release.wait(60)
            if error is not None and not after:
                raise error
            result = target(*args, **kwargs)
            if error is not None:
                raise error
            return result

        return call

    def upserted_ids(self) -> list[Any]:
        """Point ids of every upsert request received, in order (retries included)."""
        return [p.id for n, kw in self.calls if n == "upsert" for p in kw["points"]]


def faulty_engine(
    client: QdrantClient | None = None,
    *,
    rate: float = 0.0,
    attempts: int = 8,
    batch_size: int = 50,
    max_request_bytes: int = 24 * 1024 * 1024,
    max_concurrent_upserts: int = 4,
) -> tuple[QdrantEngine, FaultyClient]:
    wrapper = FaultyClient(client or QdrantClient(":memory:"), rate=rate)
    engine = QdrantEngine(
        _transport=EmbeddedTransport(client=wrapper),  # type: ignore[arg-type]
        retry=RetryPolicy(max_attempts=attempts, initial_backoff=0.0, max_backoff=0.0),
        ingest=IngestOptions(
            batch_size=batch_size,
            max_request_bytes=max_request_bytes,
            max_concurrent_upserts=max_concurrent_upserts,
        ),
    )
    return engine, wrapper


VectorHook = Callable[[int, list[list[float]]], list[list[float]]]


class ControlledEmbeddings(Embeddings):
    """Native-async embeddings: a vector table (by text) with a hash fallback, plus hooks.

    ``hook(call_number, vectors)`` may rewrite the vectors of one call (a wrong dimension, NaN,
    too few vectors) or raise, as a flaky embedding service would in a later batch. The sync
    methods raise: the stores must only use the async ones.
    """

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.table: dict[str, list[float]] = {}
        self.document_calls: list[list[str]] = []
        self.hook: VectorHook | None = None

    def vector(self, text: str) -> list[float]:
        found = self.table.get(text)
        return list(found) if found is not None else unit_vector(f"text:{text}", self.dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("the store called the sync embed_documents")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("the store called the sync embed_query")

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.document_calls.append(list(texts))
        await asyncio.sleep(0)
        vectors = [self.vector(t) for t in texts]
        if self.hook is not None:
            vectors = self.hook(len(self.document_calls), vectors)
        return vectors

    async def aembed_query(self, text: str) -> list[float]:
        await asyncio.sleep(0)
        return self.vector(text)


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    vector: Sequence[float] | None = None


def docs(n: int, prefix: str = "d", dim: int = DIM) -> list[Doc]:
    return [
        Doc(f"{prefix}{i}", f"text of {prefix}{i}", {"i": i, "prefix": prefix},
            unit_vector(f"{prefix}{i}", dim))
        for i in range(n)
    ]


Stored = tuple[str, str, dict[str, Any]]  # id, text, metadata


class Harness:
    """One store of either adapter, driven through its async API."""

    kind: str
    engine: QdrantEngine
    collection: str

    async def add(self, items: Sequence[Doc]) -> list[str]:
        raise NotImplementedError

    async def get(self, ids: Sequence[str]) -> list[Stored]:
        raise NotImplementedError

    async def search(self, vector: Sequence[float], k: int = 3) -> list[Stored]:
        raise NotImplementedError

    async def delete_ids(self, ids: Sequence[str]) -> None:
        raise NotImplementedError

    async def delete_without_selector(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def stored(self) -> dict[str, Stored]:
        """Every point of the collection, read through the engine, by external id."""
        hits = await self.engine.ascroll_all(self.collection)
        ids = [h.id for h in hits]
        assert len(ids) == len(set(ids)), "a point is stored twice"
        return {s[0]: s for s in await self.get(ids)}


class LangChainHarness(Harness):
    kind = "langchain"

    def __init__(
        self, engine: QdrantEngine | None, collection: str, batch_size: int = 64,
        **options: Any,
    ) -> None:
        self.embeddings: ControlledEmbeddings = options.pop("embedding", ControlledEmbeddings())
        self.store = LangChainStore(
            client=engine, collection_name=collection, embedding=self.embeddings,
            batch_size=batch_size, **options,
        )
        self.engine = self.store.engine
        self.collection = collection

    async def add(self, items: Sequence[Doc]) -> list[str]:
        for item in items:
            if item.vector is not None:
                self.embeddings.table[item.text] = list(item.vector)
        return await self.store.aadd_texts(
            [d.text for d in items], [dict(d.metadata) for d in items], [d.id for d in items]
        )

    async def get(self, ids: Sequence[str]) -> list[Stored]:
        found = await self.store.aget_by_ids(list(ids))
        return [(str(d.id), d.page_content, dict(d.metadata)) for d in found]

    async def search(self, vector: Sequence[float], k: int = 3) -> list[Stored]:
        found = await self.store.asimilarity_search_by_vector(list(vector), k=k)
        return [(str(d.id), d.page_content, dict(d.metadata)) for d in found]

    async def delete_ids(self, ids: Sequence[str]) -> None:
        await self.store.adelete(list(ids))

    async def delete_without_selector(self) -> None:
        await self.store.adelete()

    async def close(self) -> None:
        await self.store.aclose()


class LlamaIndexHarness(Harness):
    kind = "llama_index"

    def __init__(
        self, engine: QdrantEngine | None, collection: str, batch_size: int = 64,
        **options: Any,
    ) -> None:
        if engine is not None:
            options["engine"] = engine
        self.store = LlamaIndexStore(collection, batch_size=batch_size, **options)
        self.engine = self.store.engine
        self.collection = collection

    async def add(self, items: Sequence[Doc]) -> list[str]:
        nodes = [
            TextNode(
                id_=d.id, text=d.text, metadata=dict(d.metadata),
                embedding=list(d.vector) if d.vector is not None else unit_vector(d.text),
            )
            for d in items
        ]
        return await self.store.async_add(nodes)

    async def get(self, ids: Sequence[str]) -> list[Stored]:
        if not ids:
            return []
        found = await self.store.aget_nodes(node_ids=list(ids))
        return [(n.node_id, n.get_content(), dict(n.metadata)) for n in found]

    async def search(self, vector: Sequence[float], k: int = 3) -> list[Stored]:
        result = await self.store.aquery(
            VectorStoreQuery(query_embedding=list(vector), similarity_top_k=k)
        )
        nodes = result.nodes or []
        return [(n.node_id, n.get_content(), dict(n.metadata)) for n in nodes]

    async def delete_ids(self, ids: Sequence[str]) -> None:
        await self.store.adelete_nodes(node_ids=list(ids))

    async def delete_without_selector(self) -> None:
        await self.store.adelete_nodes()

    async def close(self) -> None:
        await self.store.aclose()


def harness(
    kind: str, engine: QdrantEngine | None, collection: str = "c", **options: Any
) -> Harness:
    if kind == "langchain":
        return LangChainHarness(engine, collection, **options)
    return LlamaIndexHarness(engine, collection, **options)


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything reachable through ``__cause__`` / ``__context__``."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
