"""langchain-tests' standard VectorStore suite, sync and async, on each kind of client.

Nothing is overridden or skipped: ``has_sync`` and ``has_async`` keep their default (True) and
every test of the suite runs. Each test gets an empty store: a fresh engine or client and a new
collection name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from qdrant_client import AsyncQdrantClient, QdrantClient

from qdrant_aio import QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore, RetrievalMode


def _name() -> str:
    return f"standard-{uuid.uuid4().hex}"


class TestOnEngine(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self) -> Iterator[VectorStore]:
        engine = QdrantEngine()
        store = QdrantVectorStore(
            client=engine, collection_name=_name(), embedding=self.get_embeddings()
        )
        try:
            yield store
        finally:
            engine.close()


class TestOnAsyncClient(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self) -> Iterator[VectorStore]:
        client = AsyncQdrantClient(":memory:")
        store = QdrantVectorStore(
            client=client, collection_name=_name(), embedding=self.get_embeddings()
        )
        try:
            yield store
        finally:
            store.engine.close()


class TestOnSyncClient(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self) -> Iterator[VectorStore]:
        client = QdrantClient(":memory:")
        store = QdrantVectorStore(
            client=client, collection_name=_name(), embedding=self.get_embeddings()
        )
        try:
            yield store
        finally:
            store.engine.close()
            client.close()


class TestHybridOnOwnEngine(VectorStoreIntegrationTests):
    """The same suite in hybrid mode (dense + built-in BM25, fused with RRF)."""

    @pytest.fixture()
    def vectorstore(self) -> Iterator[VectorStore]:
        store = QdrantVectorStore(
            collection_name=_name(),
            embedding=self.get_embeddings(),
            retrieval_mode=RetrievalMode.HYBRID,
        )
        try:
            yield store
        finally:
            store.close()
