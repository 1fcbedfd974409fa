"""Deterministic fakes for the LangChain adapter tests: embeddings and sparse encoders."""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings


class TableEmbeddings(Embeddings):
    """Vectors looked up in a table (crafted geometry); async methods are native.

    Calls are recorded with the form used (``forms``: "sync" or "async"): a store's sync methods
    must use the sync ones, its async methods the async ones. Every async call yields to the
    loop once, as a real network client would.
    """

    def __init__(self, table: Mapping[str, Sequence[float]]) -> None:
        self.table = {k: list(v) for k, v in table.items()}
        self.document_calls: list[list[str]] = []
        self.query_calls: list[str] = []
        self.forms: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.forms.append("sync")
        self.document_calls.append(list(texts))
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.forms.append("sync")
        self.query_calls.append(text)
        return self.table[text]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.forms.append("async")
        self.document_calls.append(list(texts))
        await asyncio.sleep(0)
        return [self.table[t] for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        self.forms.append("async")
        self.query_calls.append(text)
        await asyncio.sleep(0)
        return self.table[text]


@dataclass
class FakeSparseVector:
    indices: list[int]
    values: list[float]


def _bag(text: str) -> FakeSparseVector:
    counts = Counter(zlib.crc32(token.encode()) % 10_000 for token in text.lower().split())
    indices = sorted(counts)
    return FakeSparseVector(indices, [float(counts[i]) for i in indices])


@dataclass
class SyncSparseEmbeddings:
    """A langchain-qdrant style sparse encoder with sync methods only (bag of hashed words)."""

    threads: list[threading.Thread] = field(default_factory=list)

    def embed_documents(self, texts: list[str]) -> list[FakeSparseVector]:
        self.threads.append(threading.current_thread())
        return [_bag(t) for t in texts]

    def embed_query(self, text: str) -> FakeSparseVector:
        self.threads.append(threading.current_thread())
        return _bag(text)


@dataclass
class AsyncSparseEmbeddings:
    """A sparse encoder with native async methods (and sync ones); records which ran."""

    calls: list[str] = field(default_factory=list)

    def embed_documents(self, texts: list[str]) -> list[FakeSparseVector]:
        self.calls.append("sync documents")
        return [_bag(t) for t in texts]

    def embed_query(self, text: str) -> FakeSparseVector:
        self.calls.append("sync query")
        return _bag(text)

    async def aembed_documents(self, texts: list[str]) -> list[FakeSparseVector]:
        self.calls.append("documents")
        return [_bag(t) for t in texts]

    async def aembed_query(self, text: str) -> FakeSparseVector:
        self.calls.append("query")
        return _bag(text)


def bag_of_words(text: str) -> FakeSparseVector:
    """The sparse vector the fakes above give ``text``."""
    return _bag(text)
