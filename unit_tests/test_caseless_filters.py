"""Case-insensitive text filters are exact, through the lower-cased copy kept in the payload."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_qdrant import QdrantVectorStore as PublicLangChainStore
from qdrant_client import QdrantClient

from qdrant_aio import InvalidFilterError
from qdrant_aio.engine import engine_for
from qdrant_aio.langchain import QdrantVectorStore
from qdrant_aio.payload import caseless_copy

EMB = DeterministicFakeEmbedding(size=8)
TITLES = {
    "a": {"title": "Cat Tales", "tags": ["Red", "blue"]},
    "b": {"title": "concatenate", "tags": ["GREEN"]},
    "c": {"title": "DOG", "nested": {"name": "Ådne"}},
    "d": {"title": 42},
    "e": {},
}


def reference_ilike(pattern: str, value: object) -> bool:
    """SQL ILIKE for the shapes used below, on Python's lower()."""
    if isinstance(value, list):
        return any(reference_ilike(pattern, v) for v in value)
    if not isinstance(value, str):
        return False
    p, v = pattern.lower(), value.lower()
    if p.startswith("%") and p.endswith("%"):
        return p[1:-1] in v
    if p.endswith("%"):
        return v.startswith(p[:-1])
    return v == p


def test_the_copy_lowercases_strings_and_drops_the_rest() -> None:
    assert caseless_copy({"a": "AbC", "n": 1, "l": ["X", 2], "d": {"k": "Ü"}, "e": {}}) == {
        "a": "abc", "l": ["x"], "d": {"k": "ü"}
    }


def test_the_copy_reads_any_mapping_and_skips_every_kind_of_scalar() -> None:
    frozen = MappingProxyType({"Name": "ÅSA", "inner": MappingProxyType({"t": "Q"})})
    metadata = {
        "flag": True, "ratio": 0.5, "none": None, "count": 3, "tuple": ("A", 1.5, "b"),
        "proxy": frozen, "text": "MiXeD",
    }
    assert caseless_copy(metadata) == {
        "tuple": ["a", "b"], "proxy": {"Name": "åsa", "inner": {"t": "q"}}, "text": "mixed",
    }
    assert caseless_copy(frozen) == {"Name": "åsa", "inner": {"t": "q"}}


@pytest.mark.parametrize(
    ("key", "pattern"),
    [("title", "%CAT%"), ("title", "cat%"), ("title", "dog"), ("tags", "%e%"),
     ("tags", "green"), ("nested.name", "%DN%"), ("title", "%")],
)
async def test_ilike_matches_exactly_what_sql_ilike_would(key: str, pattern: str) -> None:
    store = QdrantVectorStore(collection_name="c", embedding=EMB)
    await store.aadd_texts(list(TITLES), metadatas=list(TITLES.values()), ids=list(TITLES))
    flt = {key: {"$ilike": pattern}}
    found = {d.id for d in await store.asimilarity_search("x", k=10, filter=flt)}

    def value(meta: dict[str, object]) -> object:
        for part in key.split("."):
            if not isinstance(meta, dict) or part not in meta:
                return None
            meta = meta[part]  # type: ignore[assignment]
        return meta

    assert found == {i for i, meta in TITLES.items() if reference_ilike(pattern, value(meta))}
    await store.aclose()


async def test_ilike_on_a_collection_without_the_copy_raises_instead_of_matching_nothing() -> (
    None
):
    theirs = PublicLangChainStore.from_texts(
        ["Cat Tales", "dog days"], EMB, metadatas=[{"title": "Cat Tales"}, {"title": "dog"}],
        location=":memory:", collection_name="public",
    )
    client: QdrantClient = theirs.client
    ours = QdrantVectorStore(client=client, collection_name="public", embedding=EMB)
    with pytest.raises(InvalidFilterError, match="case-insensitive"):
        await ours.asimilarity_search("x", filter={"title": {"$ilike": "%cat%"}})
    # Patterns without letters need no copy; the case-sensitive $like works as before.
    assert [d.page_content for d in await ours.asimilarity_search(
        "x", filter={"title": {"$like": "%Cat%"}})] == ["Cat Tales"]
    await ours.aclose()
    await engine_for(client).aclose()


async def test_ilike_on_a_mixed_collection_raises_instead_of_missing_points() -> None:
    theirs = PublicLangChainStore.from_texts(
        ["Alice"], EMB, metadatas=[{"name": "Alice"}], location=":memory:", collection_name="m",
    )
    client: QdrantClient = theirs.client
    writer = QdrantVectorStore(client=client, collection_name="m", embedding=EMB)
    await writer.aadd_texts(["ALICE"], metadatas=[{"name": "ALICE"}], ids=["new"])
    reader = QdrantVectorStore(client=client, collection_name="m", embedding=EMB)
    with pytest.raises(InvalidFilterError, match="case-insensitive"):
        await reader.asimilarity_search("x", filter={"name": {"$ilike": "alice"}})
    await engine_for(client).aclose()
