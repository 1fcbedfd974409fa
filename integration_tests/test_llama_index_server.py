"""The LlamaIndex store against a real Qdrant server.

The conformance suite of ``unit_tests/llama_index_conformance.py`` (every method sync and async,
every query mode, every filter operator against llama-index-core's own semantics, indexes,
retrievers and ingestion pipelines) on a store built with ``url=`` and on one built with
``aclient=AsyncQdrantClient(url=...)``. Each test works in fresh collections on the server (its
own, plus the siblings some tests make), all deleted afterwards. Plus what only a server has:
payload indexes, and two connections seeing one collection.

Skipped, with the reason shown, where no server is available (see ``conftest.py``).
"""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from qdrant_aio.engine import engine_for
from qdrant_aio.llama_index import QdrantVectorStore

# The suite lives beside the unit tests. That folder is on sys.path when pytest collects both
# folders; when only this one is collected it is added here (at the end: nothing is shadowed).
UNIT_TESTS = Path(__file__).resolve().parent.parent / "unit_tests"
if "llama_index_conformance" not in sys.modules:
    pytest.register_assert_rewrite("llama_index_conformance")
    if str(UNIT_TESTS) not in sys.path:
        sys.path.append(str(UNIT_TESTS))
conformance = importlib.import_module("llama_index_conformance")
LlamaIndexVectorStoreConformance = conformance.LlamaIndexVectorStoreConformance
corpus_nodes = conformance.corpus_nodes
ask = conformance.ask
ids_of = conformance.ids_of


def new_name(kind: str) -> str:
    return f"it-li-{kind}-{uuid.uuid4().hex[:12]}"


def drop_collections(url: str, api_key: str | None, name: str) -> list[str]:
    """Delete ``name`` and every ``name-...`` collection on the server; return what is left."""
    client = QdrantClient(url=url, api_key=api_key)
    try:
        def ours() -> list[str]:
            return [
                c.name for c in client.get_collections().collections
                if c.name == name or c.name.startswith(f"{name}-")
            ]

        for collection in ours():
            client.delete_collection(collection)
        return ours()
    finally:
        client.close()


class ServerConformance(LlamaIndexVectorStoreConformance):
    """Sibling collections are named after the test's own, so teardown finds every one."""

    @pytest.fixture
    def dense_store(self, vector_store: QdrantVectorStore) -> QdrantVectorStore:
        return QdrantVectorStore(f"{vector_store.collection_name}-dense",
                                 engine=vector_store.engine)

    def sibling(self, vector_store: QdrantVectorStore, **options: Any) -> QdrantVectorStore:
        return QdrantVectorStore(
            f"{vector_store.collection_name}-sibling-{uuid.uuid4().hex[:8]}",
            engine=vector_store.engine, **options,
        )


class TestConformanceWithUrl(ServerConformance):
    @pytest.fixture
    def vector_store(
        self, qdrant_url: str, qdrant_api_key: str | None
    ) -> Iterator[QdrantVectorStore]:
        store = QdrantVectorStore(new_name("url"), url=qdrant_url, api_key=qdrant_api_key,
                                  enable_hybrid=True)
        assert not store.engine.embedded
        try:
            yield store
        finally:
            store.close()
            assert drop_collections(qdrant_url, qdrant_api_key, store.collection_name) == []


class TestConformanceWithAsyncClient(ServerConformance):
    @pytest.fixture
    def vector_store(
        self, qdrant_url: str, qdrant_api_key: str | None
    ) -> Iterator[QdrantVectorStore]:
        aclient = AsyncQdrantClient(url=qdrant_url, api_key=qdrant_api_key)
        store = QdrantVectorStore(new_name("aclient"), aclient=aclient, enable_hybrid=True)
        assert store.engine is engine_for(aclient)
        try:
            yield store
        finally:
            store.engine.close()
            assert drop_collections(qdrant_url, qdrant_api_key, store.collection_name) == []


# ---------------------------------------------------------------------- only on a server


@pytest.fixture
def server_client(qdrant_url: str, qdrant_api_key: str | None) -> Iterator[QdrantClient]:
    client = QdrantClient(url=qdrant_url, api_key=qdrant_api_key)
    yield client
    client.close()


def test_the_collection_gets_its_payload_indexes(
    qdrant_url: str, qdrant_api_key: str | None, server_client: QdrantClient,
    collection_name: str,
) -> None:
    store = QdrantVectorStore(
        collection_name, url=qdrant_url, api_key=qdrant_api_key, enable_hybrid=True,
        payload_indexes=[{"field_name": "topic", "field_schema": "keyword"},
                         {"field_name": "n", "field_schema": "integer"}],
    )
    try:
        store.add(corpus_nodes())
        schema = server_client.get_collection(collection_name).payload_schema
        kinds = {path: info.data_type for path, info in schema.items()}
        assert kinds == {
            "ref_doc_id": models.PayloadSchemaType.KEYWORD,  # delete(ref_doc_id) uses it
            "metadata.topic": models.PayloadSchemaType.KEYWORD,
            "metadata.n": models.PayloadSchemaType.INTEGER,
        }
        # Filters on the indexed keys work as on any other key.
        pets = MetadataFilters(filters=[MetadataFilter(key="topic", value="pets")])
        assert ids_of(store.get_nodes(filters=pets)) == {"pets-1", "pets-2"}
        many = MetadataFilters(filters=[
            MetadataFilter(key="n", operator=FilterOperator.GTE, value=2)
        ])
        assert ids_of(store.query(ask("bread", filters=many)).nodes or []) == {
            "space-2", "pets-2", "food-2"
        }
        store.delete("doc-food")
        assert server_client.count(collection_name).count == 4
    finally:
        store.close()
        server_client.delete_collection(collection_name)


async def test_a_url_store_and_an_aclient_store_share_one_collection(
    qdrant_url: str, qdrant_api_key: str | None, server_client: QdrantClient,
    collection_name: str,
) -> None:
    by_url = QdrantVectorStore(collection_name, url=qdrant_url, api_key=qdrant_api_key,
                               enable_hybrid=True)
    aclient = AsyncQdrantClient(url=qdrant_url, api_key=qdrant_api_key)
    by_aclient = QdrantVectorStore(collection_name, aclient=aclient, enable_hybrid=True)
    try:
        await by_url.async_add(corpus_nodes())
        result = await by_aclient.aquery(ask("yeast", mode=VectorStoreQueryMode.SPARSE))
        assert result.ids == ["food-1"]
        by_aclient.delete_nodes(["food-1"])
        left = await by_url.aget_nodes()
        assert ids_of(left) == {"space-1", "space-2", "pets-1", "pets-2", "food-2"}
        assert server_client.count(collection_name).count == 5
        dense = await by_url.aquery(VectorStoreQuery(
            query_embedding=ask("cats sleep").query_embedding, similarity_top_k=1
        ))
        assert dense.ids == ["pets-1"]
    finally:
        await by_url.aclose()
        await engine_for(aclient).aclose()
        await aclient.close()
        server_client.delete_collection(collection_name)
