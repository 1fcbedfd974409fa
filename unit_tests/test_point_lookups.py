"""Points named by id are read or deleted by id, never found by testing a filter on every point.

Embedded, a filter (``has_id`` included) is checked against each stored point in Python: at
20,000 points, deleting 1,000 ids that way took ~0.25 s, against ~1 ms by id. These tests count
the per-point filter checks of qdrant-client's local mode, so they fail if ids go back to being
a filter; a filtered call is the control that shows the count works.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from engine_support import unit_vector
from langchain_core.embeddings import DeterministicFakeEmbedding
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters
from qdrant_client.local import payload_filters

from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

N = 40


class FilterChecks:
    """Counts the points qdrant-client's local mode tests a filter against."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[FilterChecks]:
    counter = FilterChecks()
    real = payload_filters.check_filter

    def counted(*args: object, **kwargs: object) -> bool:
        counter.count += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(payload_filters, "check_filter", counted)
    yield counter


def _nodes() -> list[TextNode]:
    return [
        TextNode(id_=f"n{i}", text=f"text {i}", metadata={"i": i}, embedding=unit_vector(str(i)))
        for i in range(N)
    ]


@pytest.fixture
async def langchain_store() -> AsyncIterator[LangChainStore]:
    store = LangChainStore(collection_name="ids", embedding=DeterministicFakeEmbedding(size=8))
    await store.aadd_texts(
        [f"text {i}" for i in range(N)],
        metadatas=[{"i": i} for i in range(N)],
        ids=[f"d{i}" for i in range(N)],
    )
    yield store
    await store.aclose()


@pytest.fixture
async def llama_index_store() -> AsyncIterator[LlamaIndexStore]:
    store = LlamaIndexStore(collection_name="ids")
    await store.async_add(_nodes())
    yield store
    await store.aclose()


async def test_langchain_delete_by_ids_tests_no_point(
    checks: FilterChecks, langchain_store: LangChainStore
) -> None:
    store = langchain_store
    checks.count = 0
    assert await store.adelete(["d1", "d2", "never-stored"])
    assert checks.count == 0
    left = await store.aget_by_ids([f"d{i}" for i in range(N)])
    assert [d.id for d in left] == [f"d{i}" for i in range(N) if i not in (1, 2)]

    await store.adelete(["d3", "d4"], filter={"i": 3})  # both: their intersection
    assert checks.count > 0
    left = await store.aget_by_ids(["d3", "d4"])
    assert [d.id for d in left] == ["d4"]


async def test_llama_index_delete_nodes_by_ids_tests_no_point(
    checks: FilterChecks, llama_index_store: LlamaIndexStore
) -> None:
    store = llama_index_store
    checks.count = 0
    await store.adelete_nodes(["n5", "n6", "never-stored"])
    assert checks.count == 0
    left = await store.aget_nodes()
    assert sorted(n.node_id for n in left) == sorted(
        f"n{i}" for i in range(N) if i not in (5, 6)
    )


async def test_llama_index_get_nodes_by_ids_tests_no_point(
    checks: FilterChecks, llama_index_store: LlamaIndexStore
) -> None:
    store = llama_index_store
    checks.count = 0
    asked = ["n9", "never-stored", "n2", "n7", "n2"]
    nodes = await store.aget_nodes(asked)
    assert checks.count == 0
    assert [n.node_id for n in nodes] == ["n9", "n2", "n7"]  # as asked, once each
    assert nodes[0].embedding == pytest.approx(unit_vector("9"))
    assert nodes[0].metadata["i"] == 9

    limited = await store.aget_nodes(asked, limit=2)
    assert [n.node_id for n in limited] == ["n9", "n2"]  # the first found, as asked

    filtered = await store.aget_nodes(
        asked, filters=MetadataFilters(filters=[MetadataFilter(key="i", value=7)])
    )
    assert checks.count > 0
    assert [n.node_id for n in filtered] == ["n7"]
    small = MetadataFilters(filters=[MetadataFilter(key="i", value=5, operator=FilterOperator.LT)])
    limited = await store.aget_nodes(["n4", "n9", "n3", "n1"], filters=small, limit=2)
    assert [n.node_id for n in limited] == ["n4", "n3"]  # as asked, with filters too
    # A repeated id keeps its first place, with filters as without.
    again = ["n3", "n1", "n3"]
    assert [n.node_id for n in await store.aget_nodes(again, filters=small)] == ["n3", "n1"]
    assert [n.node_id for n in await store.aget_nodes(again)] == ["n3", "n1"]
