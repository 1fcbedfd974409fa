"""Sync and async are one code path: every sync method is a one-line call of its coroutine,
and each sync/async pair gives the same ids, documents and scores for the same inputs."""

from __future__ import annotations

import ast
import inspect
import textwrap
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import VectorStore

from qdrant_aio import ConfigurationError, QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore, RetrievalMode

EMB = DeterministicFakeEmbedding(size=6)

PAIRS = {
    ("add_texts", "aadd_texts"),
    ("add_documents", "aadd_documents"),
    ("delete", "adelete"),
    ("get_by_ids", "aget_by_ids"),
    ("similarity_search", "asimilarity_search"),
    ("similarity_search_with_score", "asimilarity_search_with_score"),
    ("similarity_search_by_vector", "asimilarity_search_by_vector"),
    ("similarity_search_with_score_by_vector", "asimilarity_search_with_score_by_vector"),
    ("similarity_search_with_relevance_scores", "asimilarity_search_with_relevance_scores"),
    ("_similarity_search_with_relevance_scores", "_asimilarity_search_with_relevance_scores"),
    ("max_marginal_relevance_search", "amax_marginal_relevance_search"),
    ("max_marginal_relevance_search_by_vector", "amax_marginal_relevance_search_by_vector"),
    (
        "max_marginal_relevance_search_with_score_by_vector",
        "amax_marginal_relevance_search_with_score_by_vector",
    ),
    ("search", "asearch"),
    ("from_texts", "afrom_texts"),
    ("from_documents", "afrom_documents"),
    ("from_existing_collection", "afrom_existing_collection"),
    ("construct_instance", "aconstruct_instance"),
    ("delete_collection", "adelete_collection"),
    ("close", "aclose"),
}


def _own(name: str) -> Any:
    member = QdrantVectorStore.__dict__[name]
    return member.__func__ if isinstance(member, classmethod) else member


def _discovered_pairs() -> set[tuple[str, str]]:
    pairs = set()
    for name in QdrantVectorStore.__dict__:
        for prefix in ("a", "_a"):
            if name.startswith(prefix) and inspect.iscoroutinefunction(_own(name)):
                twin = name.replace(prefix, prefix[:-1], 1)
                if twin in QdrantVectorStore.__dict__:
                    pairs.add((twin, name))
    return pairs


def test_the_pairs_are_all_known() -> None:
    assert _discovered_pairs() == PAIRS


def test_every_coroutine_of_the_base_class_is_overridden_natively() -> None:
    base_coroutines = {
        name for name, member in inspect.getmembers(VectorStore)
        if inspect.iscoroutinefunction(member)
    }
    assert base_coroutines  # aadd_texts, asimilarity_search, ... exist on the base
    missing = {n for n in base_coroutines if n not in QdrantVectorStore.__dict__}
    assert missing == set()
    for twin, coroutine in PAIRS:
        assert inspect.iscoroutinefunction(_own(coroutine)), coroutine
        assert not inspect.iscoroutinefunction(_own(twin)), twin


@pytest.mark.parametrize(("twin", "coroutine"), sorted(PAIRS))
def test_every_sync_method_is_a_one_line_call_of_its_coroutine(twin: str, coroutine: str) -> None:
    source = textwrap.dedent(inspect.getsource(_own(twin)))
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    body = [
        s for s in function.body
        if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))  # docstring
    ]
    assert len(body) == 1, twin
    statement = body[0]
    assert isinstance(statement, ast.Return) and isinstance(statement.value, ast.Call)
    outer = statement.value
    assert isinstance(outer.func, ast.Name) and outer.func.id == "run_sync", twin
    assert len(outer.args) == 1 and isinstance(outer.args[0], ast.Call)
    inner = outer.args[0].func
    assert isinstance(inner, ast.Attribute) and inner.attr == coroutine, twin
    assert isinstance(inner.value, ast.Name) and inner.value.id in ("self", "cls")


TEXTS = [
    "the cat sat on the mat", "a dog barked at the cat", "birds sing in the morning",
    "the mat was red", "dogs and cats are pets", "morning coffee is hot",
]
METADATAS = [{"i": i, "even": i % 2 == 0, "group": "ab"[i % 2]} for i in range(len(TEXTS))]
IDS = ["cat", "2", "birds", str(uuid.UUID(int=7)), "pets", "coffee"]


def _stores(engine: QdrantEngine, mode: RetrievalMode) -> tuple[QdrantVectorStore, ...]:
    return tuple(
        QdrantVectorStore(
            client=engine, collection_name=f"{side}-{uuid.uuid4().hex}", embedding=EMB,
            retrieval_mode=mode,
        )
        for side in ("sync", "async")
    )


def assert_same(actual: Any, expected: Any) -> None:
    """Equal ids, documents and values; scores equal up to float32 rounding.

    Embedded Qdrant (numpy) may round the last float32 bit of a score differently from one
    call to the next, whichever API makes the call.
    """
    if isinstance(expected, list) and expected and isinstance(expected[0], tuple):
        assert [doc for doc, _ in actual] == [doc for doc, _ in expected]
        assert [s for _, s in actual] == pytest.approx([s for _, s in expected], abs=1e-6)
    else:
        assert actual == expected


async def _same(
    sync_call: Callable[[], Any], async_call: Callable[[], Awaitable[Any]]
) -> Any:
    """Run both; they must return the same result, or raise the same kind of error."""
    try:
        expected = sync_call()
    except Exception as error:  # noqa: BLE001 - compared with the async outcome below
        with pytest.raises(type(error)):
            await async_call()
        return error
    assert_same(await async_call(), expected)
    return expected


@pytest.mark.parametrize("mode", list(RetrievalMode))
async def test_every_method_pair_gives_the_same_results(mode: RetrievalMode) -> None:
    engine = QdrantEngine()
    sync_store, async_store = _stores(engine, mode)

    ids = await _same(
        lambda: sync_store.add_texts(TEXTS[:4], METADATAS[:4], IDS[:4]),
        lambda: async_store.aadd_texts(TEXTS[:4], METADATAS[:4], IDS[:4]),
    )
    assert ids == IDS[:4]
    docs = [Document(page_content=t, metadata=m, id=i)
            for t, m, i in zip(TEXTS[4:], METADATAS[4:], IDS[4:], strict=True)]
    assert await _same(
        lambda: sync_store.add_documents(docs), lambda: async_store.aadd_documents(docs)
    ) == IDS[4:]
    assert len(await _same(
        lambda: sync_store.get_by_ids(IDS + ["missing"]),
        lambda: async_store.aget_by_ids(IDS + ["missing"]),
    )) == len(IDS)

    vector = EMB.embed_query("cat on a mat")
    flt = {"group": "a"}
    reads: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("similarity_search", ("cat on a mat",), {"k": 3}),
        ("similarity_search", ("cat on a mat",), {"k": 3, "filter": flt}),
        ("similarity_search_with_score", ("the morning",), {"k": 4, "offset": 1}),
        ("similarity_search_by_vector", (vector,), {"k": 3}),
        ("similarity_search_with_score_by_vector", (vector,), {"k": 3, "filter": flt}),
        ("similarity_search_with_relevance_scores", ("dogs",), {"k": 5}),
        ("similarity_search_with_relevance_scores", ("dogs",), {"k": 5, "score_threshold": 0.3}),
        ("_similarity_search_with_relevance_scores", ("cats",), {"k": 5}),
        ("max_marginal_relevance_search", ("cat",), {"k": 3, "fetch_k": 6, "lambda_mult": 0.2}),
        ("max_marginal_relevance_search_by_vector", (vector,), {"k": 3, "lambda_mult": 0.7}),
        ("max_marginal_relevance_search_with_score_by_vector", (vector,), {"k": 3}),
        ("search", ("cat", "similarity"), {"k": 2}),
        ("search", ("cat", "mmr"), {"k": 2, "filter": flt}),
        ("search", ("cat", "similarity_score_threshold"), {"k": 2, "score_threshold": 0.1}),
    ]
    for method, args, kwargs in reads:
        coroutine = "_a" + method[1:] if method.startswith("_") else "a" + method
        result = await _same(
            partial(getattr(sync_store, method), *args, **kwargs),
            partial(getattr(sync_store, coroutine), *args, **kwargs),
        )
        if isinstance(result, Exception):
            # Only searching a sparse store by a dense vector may fail, in both.
            assert mode == RetrievalMode.SPARSE and isinstance(result, ConfigurationError)
            assert "by_vector" in method
        else:
            assert result, (method, mode)
        # The async store holds the same data: the async twin agrees with it too.
        if not isinstance(result, Exception):
            assert_same(await getattr(async_store, coroutine)(*args, **kwargs), result)

    await _same(lambda: sync_store.delete(["cat"]), lambda: async_store.adelete(["cat"]))
    await _same(lambda: sync_store.delete(filter={"i": {"$gte": 4}}),
                lambda: async_store.adelete(filter={"i": {"$gte": 4}}))
    remaining = await _same(
        lambda: sync_store.get_by_ids(IDS), lambda: async_store.aget_by_ids(IDS)
    )
    assert [d.id for d in remaining] == IDS[1:4]
    await _same(lambda: sync_store.delete(), lambda: async_store.adelete())
    assert await _same(lambda: sync_store.delete_collection(),
                       lambda: async_store.adelete_collection()) is True
    engine.close()


@pytest.mark.parametrize("mode", list(RetrievalMode))
async def test_class_constructors_agree(mode: RetrievalMode) -> None:
    engine = QdrantEngine()
    options: dict[str, Any] = {"client": engine, "retrieval_mode": mode}
    sync_store = QdrantVectorStore.from_texts(
        TEXTS, EMB, METADATAS, IDS, collection_name="texts-sync", **options)
    async_store = await QdrantVectorStore.afrom_texts(
        TEXTS, EMB, METADATAS, IDS, collection_name="texts-async", **options)
    query = "the cat and the dogs"
    expected = sync_store.similarity_search_with_score(query, k=6)
    assert_same(await async_store.asimilarity_search_with_score(query, k=6), expected)
    assert len(expected) >= 3

    docs = [Document(page_content=t, metadata=m, id=i)
            for t, m, i in zip(TEXTS, METADATAS, IDS, strict=True)]
    from_docs = QdrantVectorStore.from_documents(
        docs, EMB, collection_name="docs-sync", **options)
    afrom_docs = await QdrantVectorStore.afrom_documents(
        docs, EMB, collection_name="docs-async", **options)
    assert_same(from_docs.similarity_search_with_score(query, k=6), expected)
    assert_same(await afrom_docs.asimilarity_search_with_score(query, k=6), expected)

    existing = QdrantVectorStore.from_existing_collection("texts-sync", EMB, **options)
    aexisting = await QdrantVectorStore.afrom_existing_collection("texts-async", EMB, **options)
    assert_same(existing.similarity_search_with_score(query, k=6), expected)
    assert_same(await aexisting.asimilarity_search_with_score(query, k=6), expected)
    for store in (sync_store, async_store, from_docs, afrom_docs, existing, aexisting):
        store.close()
    assert not engine.closed  # a given engine is not the stores' to close
    engine.close()
