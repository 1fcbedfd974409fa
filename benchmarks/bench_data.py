"""The benchmark's data: seeded documents with precomputed unit vectors, queries, exact answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Dataset", "make_dataset", "lookup_embeddings"]

_ID_NAMESPACE = uuid.UUID("6f1c1a52-5a7e-4b8e-9a59-2f4f3d0c7b11")
_TAGS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta")


@dataclass(frozen=True)
class Dataset:
    """N documents (text, metadata, UUID id, unit vector) and a set of query vectors.

    ``vectors`` and ``queries`` are plain lists of floats (converted once, outside any timing),
    since that is what every client and adapter takes. ``exact`` holds the brute-force top-k doc
    indices of every query (cosine), to check approximate (HNSW) answers on a server.
    """

    texts: list[str]
    metadatas: list[dict[str, Any]]
    ids: list[str]
    vectors: list[list[float]]
    queries: list[list[float]]
    exact: list[list[int]]
    dim: int
    k: int

    @property
    def n(self) -> int:
        return len(self.texts)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make_dataset(n: int, dim: int, n_queries: int, k: int, seed: int = 7) -> Dataset:
    """Seeded data; queries are noisy copies of random documents, so answers are meaningful."""
    rng = np.random.default_rng(seed)
    docs = _unit(rng.standard_normal((n, dim)).astype(np.float32))
    anchors = rng.integers(0, n, size=n_queries)
    noise = rng.standard_normal((n_queries, dim)).astype(np.float32)
    queries = _unit(docs[anchors] + 0.5 * noise / np.sqrt(dim))
    scores = queries @ docs.T
    exact = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    texts = [f"document {i} about {_TAGS[i % len(_TAGS)]}" for i in range(n)]
    metadatas = [{"i": i, "group": i % 10, "tag": _TAGS[i % len(_TAGS)]} for i in range(n)]
    ids = [str(uuid.uuid5(_ID_NAMESPACE, str(i))) for i in range(n)]
    return Dataset(
        texts=texts,
        metadatas=metadatas,
        ids=ids,
        vectors=docs.tolist(),
        queries=queries.tolist(),
        exact=exact.tolist(),
        dim=dim,
        k=k,
    )


def lookup_embeddings(dataset: Dataset, delay: float = 0.0) -> Any:
    """A LangChain ``Embeddings`` that returns each text's precomputed vector.

    The async methods are plain coroutines returning the same lists, so no thread executor is
    involved. Unknown texts (langchain-qdrant embeds ``"dummy_text"`` when it validates its
    collection) get a fixed unit vector. ``delay`` (seconds) makes every call take that long,
    as a remote embedding service would (``asyncio.sleep`` in the async methods, ``time.sleep``
    in the sync ones); by default embedding costs nothing.
    """
    from langchain_core.embeddings import Embeddings

    table = dict(zip(dataset.texts, dataset.vectors, strict=True))
    fallback = [1.0] + [0.0] * (dataset.dim - 1)

    class LookupEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            if delay:
                time.sleep(delay)
            return [table.get(text, fallback) for text in texts]

        def embed_query(self, text: str) -> list[float]:
            if delay:
                time.sleep(delay)
            return table.get(text, fallback)

        async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
            if delay:
                await asyncio.sleep(delay)
            return [table.get(text, fallback) for text in texts]

        async def aembed_query(self, text: str) -> list[float]:
            if delay:
                await asyncio.sleep(delay)
            return table.get(text, fallback)

    return LookupEmbeddings()
