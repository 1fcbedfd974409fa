"""Behaviour of qdrant_aio.langchain.QdrantVectorStore on the embedded store."""

from __future__ import annotations

import asyncio
import copy
import math
import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import langchain_core.vectorstores.base as lc_base
import numpy as np
import pytest
from engine_support import RecordingClient, unit_vector
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.vectorstores.utils import maximal_marginal_relevance
from langchain_fakes import AsyncSparseEmbeddings, SyncSparseEmbeddings, TableEmbeddings
from qdrant_client import AsyncQdrantClient, QdrantClient, models

import qdrant_aio.langchain
from qdrant_aio import (
    CollectionMismatchError,
    CollectionNotFoundError,
    ConfigurationError,
    DimensionMismatchError,
    IngestOptions,
    InvalidFilterError,
    InvalidInputError,
    QdrantEngine,
    UnsupportedClientError,
)
from qdrant_aio.langchain import QdrantVectorStore, RetrievalMode
from qdrant_aio.payload import caseless_copy
from qdrant_aio.sparse import Bm25Encoder
from qdrant_aio.transport import EmbeddedTransport

EMB = DeterministicFakeEmbedding(size=6)


def unit(*values: float) -> list[float]:
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


@pytest.fixture
def engine() -> Iterator[QdrantEngine]:
    eng = QdrantEngine()
    yield eng
    eng.close()


def store_on(engine: QdrantEngine, **options: Any) -> QdrantVectorStore:
    options.setdefault("embedding", EMB)
    return QdrantVectorStore(client=engine, collection_name=f"c-{uuid.uuid4().hex}", **options)


PEOPLE = [
    ("alice likes apples",
     {"name": "alice", "age": 31, "tags": ["a", "x"], "addr": {"city": "Oslo"}}),
    ("bob likes bananas",
     {"name": "bob", "age": 25, "tags": ["b"], "addr": {"city": "Rome"}}),
    ("carol likes cherries",
     {"name": "carol", "age": 42, "tags": ["x"], "addr": {"city": "Oslo"}}),
    ("dave likes dates",
     {"name": "dave", "age": 19, "tags": [], "addr": {"city": "Lima"}}),
]


def fill(store: QdrantVectorStore) -> list[str]:
    return store.add_texts(
        [t for t, _ in PEOPLE], [m for _, m in PEOPLE], ids=["alice", "bob", "carol", "dave"]
    )


# ---------------------------------------------------------------- construction


def test_constructor_does_no_io() -> None:
    recording = RecordingClient(QdrantClient(":memory:"))
    engine = QdrantEngine(_transport=EmbeddedTransport(client=recording))  # type: ignore[arg-type]
    QdrantVectorStore(client=engine, collection_name="c", embedding=EMB)
    QdrantVectorStore(
        client=engine, collection_name="c", retrieval_mode=RetrievalMode.HYBRID, embedding=EMB
    )
    assert recording.calls == []
    assert not engine.collection_exists("c")
    engine.close()


def test_constructor_on_an_unreachable_server_does_no_io_and_hides_the_key() -> None:
    store = QdrantVectorStore(
        client=QdrantEngine(url="http://127.0.0.1:9", api_key="s3cr3t-key"),
        collection_name="c",
        embedding=EMB,
    )
    assert "s3cr3t-key" not in repr(store)
    assert "s3cr3t-key" not in str(store)
    assert "'c'" in repr(store)


def test_client_none_means_an_own_embedded_engine_closed_with_the_store() -> None:
    store = QdrantVectorStore(embedding=EMB)
    assert store.engine.embedded
    assert store.collection_name.startswith("langchain-")
    store.add_texts(["a"])
    store.close()
    assert store.engine.closed


def test_a_given_engine_stays_open(engine: QdrantEngine) -> None:
    store = store_on(engine)
    store.close()
    assert not engine.closed


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_stores_on_one_client_share_one_engine_and_data(kind: str) -> None:
    client = QdrantClient(":memory:") if kind == "sync" else AsyncQdrantClient(":memory:")
    first = QdrantVectorStore(client=client, collection_name="shared", embedding=EMB)
    second = QdrantVectorStore(client=client, collection_name="shared", embedding=EMB)
    assert first.engine is second.engine
    first.add_texts(["hello"], ids=["h"])
    assert [d.id for d in asyncio.run(second.aget_by_ids(["h"]))] == ["h"]


def test_unsupported_client_is_rejected() -> None:
    with pytest.raises(UnsupportedClientError):
        QdrantVectorStore(client={"url": "x"}, collection_name="c", embedding=EMB)  # type: ignore[arg-type]


def test_retrieval_mode_accepts_langchain_qdrants_enum_and_strings(engine: QdrantEngine) -> None:
    import langchain_qdrant

    assert [m.value for m in RetrievalMode] == [m.value for m in langchain_qdrant.RetrievalMode]
    theirs = store_on(engine, retrieval_mode=langchain_qdrant.RetrievalMode.HYBRID)
    assert theirs.retrieval_mode is RetrievalMode.HYBRID
    assert store_on(engine, retrieval_mode="sparse").retrieval_mode is RetrievalMode.SPARSE
    with pytest.raises(ConfigurationError, match="retrieval_mode"):
        store_on(engine, retrieval_mode="fuzzy")


def test_dense_needs_embedding_unless_validation_is_off(engine: QdrantEngine) -> None:
    with pytest.raises(ConfigurationError, match="embedding"):
        store_on(engine, embedding=None)
    with pytest.raises(ConfigurationError, match="embedding"):
        store_on(engine, embedding=None, retrieval_mode=RetrievalMode.HYBRID)
    writer = store_on(engine)
    writer.add_texts(["foo", "bar"], ids=["1", "2"])
    reader = QdrantVectorStore(
        client=engine, collection_name=writer.collection_name, validate_embeddings=False,
        validate_collection_config=False,
    )
    found = reader.similarity_search_by_vector(EMB.embed_query("bar"), k=1)
    assert [d.id for d in found] == ["2"]
    with pytest.raises(ConfigurationError, match="embedding"):
        reader.similarity_search("bar")


def test_sparse_store_needs_no_dense_embedding_and_defaults_to_bm25(engine: QdrantEngine) -> None:
    store = store_on(engine, embedding=None, retrieval_mode=RetrievalMode.SPARSE)
    assert isinstance(store.sparse_embedding, Bm25Encoder)
    store.add_texts(
        ["the quick brown fox", "lazy dogs sleep", "a fox and a dog"], ids=["a", "b", "c"]
    )
    assert {d.id for d in store.similarity_search("fox", k=2)} == {"a", "c"}
    assert store.similarity_search("sleep", k=1)[0].id == "b"
    with pytest.raises(ConfigurationError, match="sparse store"):
        store.similarity_search_by_vector([0.1] * 6)


@pytest.mark.parametrize(
    "options",
    [{"fusion": "max"}, {"rrf_k": 0}, {"batch_size": 0}, {"distance": "hamming"}],
)
def test_bad_options_raise(engine: QdrantEngine, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        store_on(engine, **options)


def test_unknown_keyword_arguments_raise(engine: QdrantEngine) -> None:
    store = store_on(engine)
    with pytest.raises(TypeError, match="search_parameters"):
        store.similarity_search("x", search_parameters=models.SearchParams(hnsw_ef=8))
    with pytest.raises(TypeError, match="colour"):
        store.add_texts(["x"], colour="red")
    with pytest.raises(TypeError, match="nope"):
        asyncio.run(store.adelete(["x"], nope=1))


# ---------------------------------------------------------------- writes


def test_documents_round_trip_with_ids_and_exact_metadata(engine: QdrantEngine) -> None:
    store = store_on(engine)
    fill(store)
    expected = {name: Document(id=name, page_content=t, metadata=m) for (t, m), name in zip(
        PEOPLE, ["alice", "bob", "carol", "dave"], strict=True)}
    assert store.get_by_ids(["carol", "alice", "missing"]) == [expected["carol"], expected["alice"]]
    for doc in store.similarity_search("bob likes bananas", k=4):
        assert doc == expected[doc.id or ""]
    for doc, _ in store.similarity_search_with_score("x", k=4):
        assert doc.metadata == expected[doc.id or ""].metadata
    for doc in store.max_marginal_relevance_search("x", k=2, fetch_k=4):
        assert doc == expected[doc.id or ""]
    # Stored layout: the text once, the metadata as given, nothing injected.
    raw = engine.scroll_all(store.collection_name)
    for hit in raw:
        assert set(hit.payload) == {"page_content", "metadata", "metadata_caseless"}
        assert hit.payload["metadata_caseless"] == caseless_copy(hit.payload["metadata"])
        assert "_id" not in hit.payload["metadata"]
        assert "_collection_name" not in hit.payload["metadata"]


@pytest.mark.parametrize(
    "given", ["foo", "", "naïve id/with spaces", "1", 42, str(uuid.uuid4()), "00000001"]
)
def test_any_string_id_round_trips_and_readding_overwrites(
    engine: QdrantEngine, given: Any
) -> None:
    store = store_on(engine)
    [returned] = store.add_texts(["first"], [{"v": 1}], ids=[given])
    assert returned == str(given)
    store.add_texts(["second"], [{"v": 2}], ids=[given])
    assert engine.count(store.collection_name) == 1
    assert store.get_by_ids([str(given)]) == [
        Document(id=str(given), page_content="second", metadata={"v": 2})
    ]
    assert store.similarity_search("second", k=1)[0].id == str(given)


def test_new_ids_are_uuid4(engine: QdrantEngine) -> None:
    store = store_on(engine)
    ids = store.add_texts(["a", "b"])
    assert len(set(ids)) == 2
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_inputs_are_never_mutated(engine: QdrantEngine) -> None:
    store = store_on(engine)
    metadatas: list[dict[str, Any]] = [{"a": {"nested": [1, 2]}}, {"b": 2}]
    before = copy.deepcopy(metadatas)
    store.add_texts(["x", "y"], metadatas)
    assert metadatas == before
    documents = [
        Document(page_content="foo", metadata={"k": [1]}),
        Document(page_content="bar", metadata={"k": [2]}, id="given"),
    ]
    snapshot = copy.deepcopy(documents)
    asyncio.run(store.aadd_documents(documents))
    assert documents == snapshot
    assert documents[0].id is None


def test_generators_are_accepted_for_texts_metadatas_and_ids(engine: QdrantEngine) -> None:
    store = store_on(engine)
    ids = store.add_texts(
        (f"text {i}" for i in range(5)),
        ({"i": i} for i in range(5)),
        ids=(f"id-{i}" for i in range(5)),
    )
    assert ids == [f"id-{i}" for i in range(5)]
    assert [d.metadata for d in store.get_by_ids(ids)] == [{"i": i} for i in range(5)]
    docs = asyncio.run(store.aadd_documents(Document(page_content=f"d{i}") for i in range(3)))
    assert len(docs) == 3


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.add_texts(["a", "b"], [{"x": 1}]),
        lambda s: s.add_texts(["a", "b"], [{}, {}, {}]),
        lambda s: s.add_texts(["a", "b"], ids=["1"]),
        lambda s: s.add_texts(iter(["a", "b", "c"]), ids=iter(["1", "2"])),
        lambda s: s.add_texts(["a"], ids="1"),
        lambda s: s.add_texts("just one string"),
        lambda s: s.add_texts(["a"], {"x": 1}),
        lambda s: s.add_texts(["a", 2]),
        lambda s: s.add_texts(["a", "b"], ["not a dict", {}]),
        lambda s: s.add_texts(["a", "b"], ids=["ok", -3]),
        lambda s: s.add_texts(["a", "b"], ids=["ok", True]),
        lambda s: s.add_documents([Document(page_content="a")], ids=["1", "2"]),
        lambda s: asyncio.run(s.aadd_texts(["a", "b"], [{"x": 1}])),
        lambda s: asyncio.run(s.aadd_documents([Document(page_content="a")], ids=[])),
    ],
)
def test_bad_input_raises_before_anything_is_written(engine: QdrantEngine, call: Any) -> None:
    embeddings = TableEmbeddings({"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0]})
    store = store_on(engine, embedding=embeddings)
    with pytest.raises(InvalidInputError):
        call(store)
    assert engine.count(store.collection_name) == 0
    assert embeddings.document_calls == []
    assert not engine.collection_exists(store.collection_name)


def test_document_ids_are_used_and_explicit_ids_win(engine: QdrantEngine) -> None:
    store = store_on(engine)
    ids = store.add_documents([Document(page_content="a", id="mine"), Document(page_content="b")])
    assert ids[0] == "mine" and uuid.UUID(ids[1]).version == 4
    ids = store.add_documents([Document(page_content="c", id="ignored")], ids=["explicit"])
    assert ids == ["explicit"]
    assert store.get_by_ids(["ignored"]) == []
    assert store.get_by_ids(["explicit"])[0].page_content == "c"


def test_duplicate_ids_in_one_call_keep_the_last(engine: QdrantEngine) -> None:
    store = store_on(engine, batch_size=2)
    ids = store.add_texts(["v1", "other", "v2", "x", "v3"], ids=["d", "o", "d", "x", "d"])
    assert ids == ["d", "o", "d", "x", "d"]
    assert engine.count(store.collection_name) == 3
    assert store.get_by_ids(["d"])[0].page_content == "v3"


async def test_ingestion_streams_batches_and_embedding_overlaps_upserts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Requests of 2 points, and trips to embed of 2 texts, so that the engine sends one while
    # the next batch is embedded.
    monkeypatch.setattr(qdrant_aio.langchain, "EMBED_TRIP_TEXTS", 2)
    engine = QdrantEngine(ingest=IngestOptions(batch_size=2))
    texts = [f"t{i}" for i in range(6)]
    embeddings = TableEmbeddings({t: unit(1.0, float(i)) for i, t in enumerate(texts)})
    store = store_on(engine, embedding=embeddings, batch_size=2)
    events: list[str] = []
    second_batch_started = asyncio.Event()
    original_embed = embeddings.aembed_documents

    async def embed(batch: list[str]) -> list[list[float]]:
        events.append(f"embed {batch[0]}")
        if batch[0] == "t2":
            second_batch_started.set()
        return await original_embed(batch)

    original_call = engine._call
    sources: list[object] = []
    original_upsert = engine.aupsert

    async def call(method: str, /, **kwargs: Any) -> Any:
        if method == "upsert":
            events.append(f"upsert {len(kwargs['points'])}")
            # A store that awaited each upsert before embedding the next batch would hang here.
            await asyncio.wait_for(second_batch_started.wait(), 60)
        return await original_call(method, **kwargs)

    async def upsert(name: str, points: Any, *args: Any, **kwargs: Any) -> list[str]:
        sources.append(points)
        return await original_upsert(name, points, *args, **kwargs)

    monkeypatch.setattr(embeddings, "aembed_documents", embed)
    monkeypatch.setattr(engine, "_call", call)
    monkeypatch.setattr(engine, "aupsert", upsert)
    await store.aadd_texts(texts)
    assert len(sources) == 1 and hasattr(sources[0], "__aiter__")
    assert embeddings.document_calls == [["t0", "t1"], ["t2", "t3"], ["t4", "t5"]]
    assert events.index("upsert 2") < events.index("embed t4")
    assert await engine.acount(store.collection_name) == 6
    await engine.aclose()


async def test_embedding_calls_keep_batch_size_while_hand_overs_group_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = QdrantEngine(ingest=IngestOptions(batch_size=256))  # a server's request size
    texts = [f"t{i}" for i in range(600)]
    embeddings = TableEmbeddings({t: unit(1.0, float(i)) for i, t in enumerate(texts)})
    store = store_on(engine, embedding=embeddings)  # default batch_size: 64, as langchain-qdrant
    groups: list[int] = []
    original_upsert = engine.aupsert

    async def upsert(name: str, points: Any, *args: Any, **kwargs: Any) -> list[str]:
        async def counted() -> Any:
            async for batch in points:
                groups.append(len(batch))
                yield batch

        return await original_upsert(name, counted(), *args, **kwargs)

    monkeypatch.setattr(engine, "aupsert", upsert)
    await store.aadd_texts(texts)
    assert [len(c) for c in embeddings.document_calls] == [64] * 9 + [24]
    assert groups == [256, 256, 88]
    assert await engine.acount(store.collection_name) == 600
    await engine.aclose()


# ---------------------------------------------------------------- deletes and filters


def test_delete_by_ids_filter_and_both(engine: QdrantEngine) -> None:
    store = store_on(engine)
    fill(store)
    assert store.delete(["dave"]) is True
    assert engine.count(store.collection_name) == 3
    store.delete(filter={"addr.city": "Rome"})
    assert sorted(d.id or "" for d in store.similarity_search("x", k=10)) == ["alice", "carol"]
    # ids AND filter: only the intersection goes.
    asyncio.run(store.adelete(["alice", "carol"], filter=models.Filter(must=[
        models.FieldCondition(key="metadata.name", match=models.MatchValue(value="carol"))
    ])))
    assert [d.id for d in store.similarity_search("x", k=10)] == ["alice"]


def test_delete_with_neither_ids_nor_filter_raises(engine: QdrantEngine) -> None:
    store = store_on(engine)
    fill(store)
    with pytest.raises(InvalidInputError, match="ids or filter"):
        store.delete()
    with pytest.raises(InvalidInputError, match="ids or filter"):
        asyncio.run(store.adelete())
    with pytest.raises(InvalidInputError):
        store.delete("alice")
    assert engine.count(store.collection_name) == 4
    store.delete([])
    assert engine.count(store.collection_name) == 4


def test_delete_and_get_on_a_missing_collection_are_no_ops(engine: QdrantEngine) -> None:
    store = store_on(engine)
    store.delete(["a"])
    store.delete(filter={"k": 1})
    assert store.get_by_ids(["a"]) == []
    assert store.similarity_search_with_relevance_scores("x") == []
    assert store.max_marginal_relevance_search("x") == []


FILTERS: list[tuple[Any, set[str]]] = [
    ({"name": "bob"}, {"bob"}),
    ({"age": {"$gte": 30}}, {"alice", "carol"}),
    ({"addr.city": {"$in": ["Oslo", "Lima"]}}, {"alice", "carol", "dave"}),
    ({"$or": [{"name": "dave"}, {"tags": "b"}]}, {"bob", "dave"}),
    ({"$and": [{"tags": "x"}, {"age": {"$lt": 40}}]}, {"alice"}),
    ({"$not": {"addr.city": "Oslo"}}, {"bob", "dave"}),
    ({"name": {"$nin": ["alice", "bob"]}}, {"carol", "dave"}),
    (models.Filter(must=[models.FieldCondition(
        key="metadata.age", range=models.Range(lt=30))]), {"bob", "dave"}),
]


@pytest.mark.parametrize(("flt", "expected"), FILTERS)
def test_filters_apply_to_every_search_and_delete(
    engine: QdrantEngine, flt: Any, expected: set[str]
) -> None:
    for mode in RetrievalMode:
        store = store_on(engine, retrieval_mode=mode)
        fill(store)
        vector = EMB.embed_query("x")
        results: list[list[Document]] = [
            store.similarity_search("likes", k=10, filter=flt),
            [d for d, _ in store.similarity_search_with_score("likes", k=10, filter=flt)],
            [d for d, _ in store.similarity_search_with_relevance_scores(
                "likes", k=10, filter=flt)],
            store.max_marginal_relevance_search("likes", k=10, fetch_k=10, filter=flt),
            asyncio.run(store.asimilarity_search("likes", k=10, filter=flt)),
            asyncio.run(store.amax_marginal_relevance_search("likes", k=10, filter=flt)),
        ]
        if mode != RetrievalMode.SPARSE:
            results += [
                store.similarity_search_by_vector(vector, k=10, filter=flt),
                store.max_marginal_relevance_search_by_vector(vector, k=10, filter=flt),
            ]
        for docs in results:
            assert {d.id for d in docs} == expected, (mode, flt)
        store.delete(filter=flt)
        remaining = {d.id for d in store.similarity_search("likes", k=10)}
        assert remaining == {"alice", "bob", "carol", "dave"} - expected


def test_untranslatable_filter_raises_instead_of_matching_everything(engine: QdrantEngine) -> None:
    store = store_on(engine)
    fill(store)
    with pytest.raises(InvalidFilterError):
        store.similarity_search("x", filter={"name": {"$regex": "a.*"}})
    with pytest.raises(InvalidFilterError):
        store.delete(filter={"$xor": []})
    with pytest.raises(InvalidFilterError):
        store.similarity_search("x", filter="name == 'bob'")  # type: ignore[arg-type]
    assert engine.count(store.collection_name) == 4


def test_custom_payload_keys_are_used_for_storage_and_filters(engine: QdrantEngine) -> None:
    store = store_on(engine, content_payload_key="body", metadata_payload_key="meta")
    fill(store)
    payload = engine.retrieve(store.collection_name, ["bob"])[0].payload
    assert payload == {
        "body": "bob likes bananas",
        "meta": PEOPLE[1][1],
        "metadata_caseless": caseless_copy(PEOPLE[1][1]),
    }
    assert [d.id for d in store.similarity_search("x", k=5, filter={"name": "bob"})] == ["bob"]


# ---------------------------------------------------------------- MMR


MMR_TABLE = {
    "q": unit(1.0, 0.0, 0.0),
    "dup one": unit(1.0, 0.02, 0.0),
    "dup two": unit(1.0, 0.03, 0.001),
    "dup three": unit(1.0, 0.04, -0.001),
    "related but different": unit(0.6, 0.0, 0.8),
}


@pytest.mark.parametrize("use_async", [False, True])
def test_mmr_lambda_has_langchains_meaning(engine: QdrantEngine, use_async: bool) -> None:
    store = store_on(engine, embedding=TableEmbeddings(MMR_TABLE))
    docs = [t for t in MMR_TABLE if t != "q"]
    asyncio.run(store.aadd_texts(docs, ids=docs))

    def mmr(lambda_mult: float, k: int) -> list[str]:
        if use_async:
            found = asyncio.run(store.amax_marginal_relevance_search(
                "q", k=k, fetch_k=4, lambda_mult=lambda_mult))
        else:
            found = store.max_marginal_relevance_search(
                "q", k=k, fetch_k=4, lambda_mult=lambda_mult)
        return [d.page_content for d in found]

    # Relevance alone: the three near-duplicates of the query.
    assert mmr(1.0, 3) == ["dup one", "dup two", "dup three"]
    # Diversity alone: the most relevant first, then the one unlike it.
    assert mmr(0.0, 2) == ["dup one", "related but different"]
    # fetch_k bounds the candidates: with one candidate, MMR can only return it.
    one = store.max_marginal_relevance_search("q", k=1, fetch_k=1, lambda_mult=0.0)
    assert [d.page_content for d in one] == ["dup one"]


@pytest.mark.parametrize("seed", range(4))
def test_mmr_matches_langchains_reference_algorithm(engine: QdrantEngine, seed: int) -> None:
    rng = random.Random(seed)
    table = {f"d{i}": unit(*(rng.gauss(0, 1) for _ in range(4))) for i in range(8)}
    table["q"] = unit(*(rng.gauss(0, 1) for _ in range(4)))
    store = store_on(engine, embedding=TableEmbeddings(table))
    docs = [f"d{i}" for i in range(8)]
    store.add_texts(docs)
    for lambda_mult in (0.0, 0.3, 0.5, 0.7, 1.0):
        found = store.max_marginal_relevance_search("q", k=4, fetch_k=8, lambda_mult=lambda_mult)
        reference = maximal_marginal_relevance(
            np.array(table["q"]), [table[d] for d in docs], lambda_mult=lambda_mult, k=4
        )
        assert [d.page_content for d in found] == [docs[i] for i in reference], lambda_mult


def test_mmr_rejects_lambda_outside_the_unit_interval(engine: QdrantEngine) -> None:
    store = store_on(engine)
    fill(store)
    with pytest.raises(InvalidInputError, match="lambda"):
        store.max_marginal_relevance_search("x", lambda_mult=1.5)


# ---------------------------------------------------------------- relevance scores


def _assert_relevance(scored: list[tuple[Document, float]]) -> list[float]:
    scores = [s for _, s in scored]
    assert scores, "no results"
    assert all(0.0 <= s <= 1.0 for s in scores), scores
    assert scores == sorted(scores, reverse=True), scores
    return scores


GEOMETRY = {
    "q": unit(1.0, 0.0),
    "same": unit(1.0, 0.0),
    "close": unit(1.0, 0.5),
    "orthogonal": unit(0.0, 1.0),
    "opposite": unit(-1.0, 0.0),
}


@pytest.mark.parametrize(
    ("distance", "expected"),
    [
        ("cosine", [1.0, (1 + 2 / math.sqrt(5)) / 2, 0.5, 0.0]),
        ("dot", [1.0, (1 + 2 / math.sqrt(5)) / 2, 0.5, 0.0]),
        ("euclid", [1.0, 1 / (1 + math.dist(GEOMETRY["q"], GEOMETRY["close"])),
                    1 / (1 + math.sqrt(2)), 1 / 3]),
        ("manhattan", [1.0, 1 / (1 + sum(abs(a - b) for a, b in zip(
            GEOMETRY["q"], GEOMETRY["close"], strict=True))), 1 / 3, 1 / 3]),
    ],
)
def test_dense_relevance_is_a_fixed_map_of_the_distance(
    engine: QdrantEngine, distance: str, expected: list[float]
) -> None:
    store = store_on(engine, embedding=TableEmbeddings(GEOMETRY), distance=distance)
    docs = ["same", "close", "orthogonal", "opposite"]
    store.add_texts(docs, ids=docs)
    scored = store.similarity_search_with_relevance_scores("q", k=4)
    scores = _assert_relevance(scored)
    assert [d.id for d, _ in scored][:2] == ["same", "close"]
    assert scores == pytest.approx(expected, abs=1e-5)
    # A fixed map, not a per-query min-max: a lone poor match keeps its low relevance.
    store.delete(["same", "close"])
    lone = asyncio.run(store.asimilarity_search_with_relevance_scores("q", k=1))
    assert lone[0][1] == pytest.approx(expected[2], abs=1e-5)


def test_sparse_relevance_is_s_over_one_plus_s(engine: QdrantEngine) -> None:
    store = store_on(engine, embedding=None, retrieval_mode="sparse")
    store.add_texts(["apple apple pie", "apple tart", "pear pie", "plum"], ids=["1", "2", "3", "4"])
    raw = store.similarity_search_with_score("apple pie", k=4)
    relevance = store.similarity_search_with_relevance_scores("apple pie", k=4)
    _assert_relevance(relevance)
    assert [d.id for d, _ in raw] == [d.id for d, _ in relevance]
    for (_, s), (_, r) in zip(raw, relevance, strict=True):
        assert s >= 0 and r == pytest.approx(s / (1 + s))


@pytest.mark.parametrize(("fusion", "rrf_k"), [("rrf", None), ("rrf", 10), ("dbsf", None)])
def test_hybrid_relevance_is_normalised_by_the_best_fused_score(
    engine: QdrantEngine, fusion: Any, rrf_k: int | None
) -> None:
    table = {
        "apple pie recipe": unit(1.0, 0.0, 0.0),
        "apple pie": unit(1.0, 0.1, 0.0),
        "cherry pie": unit(0.7, 0.7, 0.0),
        "car engine": unit(0.0, 0.0, 1.0),
    }
    store = store_on(
        engine, embedding=TableEmbeddings(table), retrieval_mode="hybrid", fusion=fusion,
        rrf_k=rrf_k,
    )
    store.add_texts(list(table)[:1] + list(table)[2:], ids=["recipe", "cherry", "car"])
    raw = store.similarity_search_with_score("apple pie", k=3)
    scored = store.similarity_search_with_relevance_scores("apple pie", k=3)
    _assert_relevance(scored)
    assert [d.id for d, _ in scored] == [d.id for d, _ in raw]
    assert scored[0][0].id == "recipe"  # first in both branches
    if fusion == "rrf":
        # Ranked first in both branches: the best fused score RRF can give, so relevance 1.
        k = rrf_k or 2
        assert raw[0][1] == pytest.approx(2 / k)
        assert scored[0][1] == pytest.approx(1.0)
        assert [r for _, r in scored] == pytest.approx([s * k / 2 for _, s in raw])
    else:
        assert [r for _, r in scored] == pytest.approx([min(1.0, s / 2) for _, s in raw])


def test_hybrid_fusion_can_be_chosen_per_call(engine: QdrantEngine) -> None:
    store = store_on(engine, retrieval_mode="hybrid")
    fill(store)
    rrf = store.similarity_search_with_score("bob likes bananas", k=4)
    dbsf = store.similarity_search_with_score(
        "bob likes bananas", k=4, hybrid_fusion=models.FusionQuery(fusion=models.Fusion.DBSF)
    )
    rrf10 = store.similarity_search_with_score(
        "bob likes bananas", k=4, hybrid_fusion=models.RrfQuery(rrf=models.Rrf(k=10))
    )
    assert rrf[0][1] == pytest.approx(1.0)  # bob first in both branches, k=2
    assert rrf10[0][1] == pytest.approx(0.2)
    assert [d.id for d, _ in dbsf][0] == "bob" and dbsf[0][1] != rrf[0][1]
    with pytest.raises(InvalidInputError):
        store.similarity_search("x", hybrid_fusion="max")
    with pytest.raises(InvalidInputError):
        store.similarity_search(
            "x", hybrid_fusion=models.RrfQuery(rrf=models.Rrf(weights=[1.0, 2.0]))
        )


def test_score_thresholds(engine: QdrantEngine) -> None:
    store = store_on(engine, embedding=TableEmbeddings(GEOMETRY))
    docs = ["same", "close", "orthogonal", "opposite"]
    store.add_texts(docs, ids=docs)
    # Relevance space: (cos + 1) / 2 >= 0.6 keeps same and close.
    kept = store.similarity_search_with_relevance_scores("q", k=4, score_threshold=0.6)
    assert [d.id for d, _ in kept] == ["same", "close"]
    kept = asyncio.run(store.asimilarity_search_with_relevance_scores(
        "q", k=4, score_threshold=0.5))
    assert [d.id for d, _ in kept] == ["same", "close", "orthogonal"]
    # Raw space, handed to Qdrant as langchain-qdrant does: cosine >= 0.5.
    raw = store.similarity_search_with_score("q", k=4, score_threshold=0.5)
    assert [d.id for d, _ in raw] == ["same", "close"]
    assert [d.id for d in store.search("q", "similarity_score_threshold", score_threshold=0.9)] == [
        "same", "close"]
    with pytest.raises(InvalidInputError):
        store.similarity_search_with_relevance_scores("q", score_threshold="high")


def test_offset_pages_through_results(engine: QdrantEngine) -> None:
    store = store_on(engine, embedding=TableEmbeddings(GEOMETRY))
    docs = ["same", "close", "orthogonal", "opposite"]
    store.add_texts(docs, ids=docs)
    assert [d.id for d in store.similarity_search("q", k=2, offset=2)] == ["orthogonal", "opposite"]


# ---------------------------------------------------------------- search dispatch, encoders


def test_search_dispatches_on_search_type(engine: QdrantEngine) -> None:
    store = store_on(engine)
    fill(store)
    assert store.search("bob likes bananas", "similarity", k=1)[0].id == "bob"
    assert asyncio.run(store.asearch("bob likes bananas", "mmr", k=1))[0].id == "bob"
    assert store.search("bob likes bananas", "similarity_score_threshold", k=1,
                        score_threshold=0.0)[0].id == "bob"
    with pytest.raises(ValueError, match="search_type"):
        store.search("x", "magic")


def test_a_sync_only_sparse_encoder_runs_off_the_event_loop(engine: QdrantEngine) -> None:
    encoder = SyncSparseEmbeddings()
    store = store_on(engine, retrieval_mode="hybrid", sparse_embedding=encoder)
    caller = threading.current_thread()

    async def main() -> list[Document]:
        await store.aadd_texts(["red apple", "green pear"], ids=["r", "g"])
        return await store.asimilarity_search("apple", k=1)

    assert [d.id for d in asyncio.run(main())] == ["r"]
    assert encoder.threads and all(t is not caller for t in encoder.threads)
    assert all(t.name != "qdrant-aio-bridge" for t in encoder.threads)


def test_a_sparse_encoders_async_methods_serve_async_calls_and_sync_ones_sync_calls(
    engine: QdrantEngine,
) -> None:
    encoder = AsyncSparseEmbeddings()
    store = store_on(engine, retrieval_mode="sparse", embedding=None, sparse_embedding=encoder)

    async def main() -> list[str | None]:
        await store.aadd_texts(["red apple", "green pear"], ids=["r", "g"])
        return [d.id for d in await store.asimilarity_search("pear", k=1)]

    assert asyncio.run(main()) == ["g"]
    store.add_texts(["blue plum"], ids=["b"])
    assert [d.id for d in store.similarity_search("plum", k=1)] == ["b"]
    assert encoder.calls == ["documents", "query", "sync documents", "sync query"]


class LoopBoundEmbeddings(Embeddings):
    """A model whose async client belongs to the first loop it ran on (as an HTTP connection
    pool does), with a sync client too; its async form may be unimplemented altogether."""

    def __init__(self, async_form: bool = True) -> None:
        self.async_form = async_form
        self.loop: asyncio.AbstractEventLoop | None = None
        self.forms: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.forms.append("sync")
        return [unit_vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.forms.append("sync")
        return unit_vector(text)

    def _bind(self) -> None:
        if not self.async_form:
            raise NotImplementedError("no async client")
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        elif loop is not self.loop:
            raise RuntimeError("the async client is bound to a different event loop")
        self.forms.append("async")

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self._bind()
        return [unit_vector(t) for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        self._bind()
        return unit_vector(text)


def test_sync_methods_embed_with_the_models_sync_form(engine: QdrantEngine) -> None:
    # Set up synchronously, then serve from one event loop, with a sync call in it too: the
    # sync calls must leave the model's async client alone (it belongs to the serving loop).
    model = LoopBoundEmbeddings()
    store = QdrantVectorStore.from_texts(
        ["red apple", "green pear"], model, ids=["r", "g"], client=engine,
        collection_name=f"c-{uuid.uuid4().hex}",
    )
    assert [d.id for d in store.similarity_search("red apple", k=1)] == ["r"]
    assert model.forms == ["sync", "sync"] and model.loop is None

    async def serve() -> list[str | None]:
        await store.aadd_texts(["blue plum"], ids=["b"])
        found = await store.asimilarity_search("blue plum", k=1)
        store.add_texts(["ripe fig"], ids=["f"])  # a sync call inside the running loop
        found += await store.amax_marginal_relevance_search("ripe fig", k=1, fetch_k=4)
        return [d.id for d in found]

    assert asyncio.run(serve()) == ["b", "f"]
    assert model.forms == ["sync", "sync", "async", "async", "sync", "async"]
    # A model with no async form at all serves every sync method.
    sync_only = LoopBoundEmbeddings(async_form=False)
    store = store_on(engine, embedding=sync_only)
    store.add_documents([Document(page_content="red apple", id="r")])
    assert [d.id for d in store.max_marginal_relevance_search("red apple", k=1)] == ["r"]
    assert [d.id for d in store.as_retriever(search_kwargs={"k": 1}).invoke("red apple")] == ["r"]


def test_a_model_of_another_size_than_the_collection_is_a_collection_mismatch(
    engine: QdrantEngine,
) -> None:
    name = f"c-{uuid.uuid4().hex}"
    QdrantVectorStore.from_texts(
        ["a"], DeterministicFakeEmbedding(size=16), client=engine, collection_name=name
    )
    store = QdrantVectorStore.from_existing_collection(
        name, DeterministicFakeEmbedding(size=8), client=engine
    )
    with pytest.raises(CollectionMismatchError, match="expected 16, got 8"):
        store.add_texts(["b"])
    with pytest.raises(CollectionMismatchError, match="expected 16, got 8"):
        store.similarity_search("b")
    assert engine.count(name) == 1


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        ([[0.1, 0.2], [math.nan, 0.2]], "NaN"),
        ([[], []], "empty"),
        ([[0.1, 0.2], [0.1, 0.2, 0.3]], "expected 2, got 3"),
    ],
)
def test_a_bad_first_embedding_creates_no_collection(
    engine: QdrantEngine, vectors: list[list[float]], message: str
) -> None:
    table = {t: v for t, v in zip(["a", "b"], vectors, strict=True)}
    store = store_on(engine, embedding=TableEmbeddings(table))
    with pytest.raises(InvalidInputError, match=message):
        store.add_texts(["a", "b"])
    assert not engine.collection_exists(store.collection_name)


@pytest.mark.parametrize("distance", ["cosine", "dot", "euclid"])
def test_langchains_relevance_hook_gives_the_relevance_searches_map(
    engine: QdrantEngine, distance: str
) -> None:
    store = store_on(engine, distance=distance)
    store.add_texts(["red apple", "green pear", "blue plum"], ids=["r", "g", "b"])
    raw = store.similarity_search_with_score("red apple", k=3)
    relevant = store.similarity_search_with_relevance_scores("red apple", k=3)
    # The same store opened without a distance reads the collection's.
    reopened = QdrantVectorStore(client=engine, collection_name=store.collection_name,
                                 embedding=EMB)
    for hook in (store._select_relevance_score_fn(), reopened._select_relevance_score_fn()):
        assert [(d.id, hook(s)) for d, s in raw] == [(d.id, s) for d, s in relevant]
        assert all(0.0 <= hook(s) <= 1.0 for _, s in raw)


def test_a_non_encoder_is_rejected_as_sparse_embedding(engine: QdrantEngine) -> None:
    with pytest.raises(ConfigurationError, match="sparse_embedding"):
        store_on(engine, retrieval_mode="hybrid", sparse_embedding=object())


def test_async_methods_never_fall_back_to_an_executor(
    engine: QdrantEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("langchain-core's executor fallback was used")

    monkeypatch.setattr(lc_base, "run_in_executor", forbidden)
    table = {t: unit(1.0, float(i)) for i, t in enumerate(["q", "a", "b", "c"])}
    store = store_on(engine, embedding=TableEmbeddings(table))

    async def main() -> None:
        await store.aadd_texts(["a", "b"], ids=["a", "b"])
        await store.aadd_documents([Document(page_content="c", id="c")])
        assert (await store.aget_by_ids(["c"]))[0].id == "c"
        assert len(await store.asimilarity_search("q", k=2)) == 2
        assert len(await store.asimilarity_search_with_score("q", k=2)) == 2
        assert len(await store.asimilarity_search_by_vector(table["q"], k=2)) == 2
        assert len(await store.asimilarity_search_with_score_by_vector(table["q"], k=2)) == 2
        assert len(await store.asimilarity_search_with_relevance_scores("q", k=2)) == 2
        assert len(await store.amax_marginal_relevance_search("q", k=2)) == 2
        assert len(await store.amax_marginal_relevance_search_by_vector(table["q"], k=2)) == 2
        assert len(await store.asearch("q", "similarity", k=2)) == 2
        await store.adelete(["a"])
        assert len(await store.asimilarity_search("q", k=5)) == 2

    asyncio.run(main())


def test_sync_methods_work_inside_a_running_loop(engine: QdrantEngine) -> None:
    store = store_on(engine)

    async def main() -> list[Document]:
        store.add_texts(["foo", "bar"], ids=["1", "2"])
        return store.similarity_search("foo", k=1)

    assert [d.id for d in asyncio.run(main())] == ["1"]


# ---------------------------------------------------------------- collections


def test_collection_options_pass_through(engine: QdrantEngine) -> None:
    client = QdrantClient(":memory:")
    store = QdrantVectorStore.from_texts(
        ["a", "b"],
        EMB,
        client=client,
        collection_name="opts",
        distance="dot",
        retrieval_mode="hybrid",
        vector_name="vec",
        sparse_vector_name="words",
        payload_indexes={"metadata.k": models.PayloadSchemaType.KEYWORD},
        hnsw_config=models.HnswConfigDiff(m=8),
        on_disk_payload=True,
    )
    info = client.get_collection("opts")
    vectors = info.config.params.vectors
    assert isinstance(vectors, dict) and set(vectors) == {"vec"}
    assert vectors["vec"].distance == models.Distance.DOT and vectors["vec"].size == 6
    assert set(info.config.params.sparse_vectors or {}) == {"words"}
    assert store.similarity_search("a", k=1)[0].page_content == "a"


def test_an_existing_collection_is_validated_on_first_use(engine: QdrantEngine) -> None:
    store = store_on(engine)
    store.add_texts(["a"])
    other_size = QdrantVectorStore(
        client=engine, collection_name=store.collection_name,
        embedding=DeterministicFakeEmbedding(size=4),
    )
    with pytest.raises(DimensionMismatchError):
        other_size.add_texts(["b"])
    wrong_distance = QdrantVectorStore(
        client=engine, collection_name=store.collection_name, embedding=EMB, distance="euclid"
    )
    with pytest.raises(CollectionMismatchError, match="distance"):
        wrong_distance.similarity_search("a")
    hybrid = QdrantVectorStore(
        client=engine, collection_name=store.collection_name, embedding=EMB,
        retrieval_mode="hybrid",
    )
    with pytest.raises(CollectionMismatchError, match="sparse"):
        hybrid.add_texts(["b"])
    assert engine.count(store.collection_name) == 1


def test_searching_a_missing_collection_creates_nothing(engine: QdrantEngine) -> None:
    for mode in RetrievalMode:
        store = store_on(engine, retrieval_mode=mode)
        assert store.similarity_search("x") == []
        assert asyncio.run(store.asimilarity_search_with_relevance_scores("x")) == []
        assert not engine.collection_exists(store.collection_name)
        store.add_texts(["x"])
        assert len(store.similarity_search("x")) == 1


async def test_langchains_indexing_api_runs_on_the_store(engine: QdrantEngine) -> None:
    from langchain_core.indexing import InMemoryRecordManager, aindex

    store = store_on(engine)
    manager = InMemoryRecordManager("test")
    await manager.acreate_schema()
    docs = [Document(page_content=t, metadata={"source": t}) for t in ("a", "b", "c")]
    result = await aindex(docs, manager, store, cleanup="full", source_id_key="source",
                          key_encoder="sha256")
    assert result["num_added"] == 3
    result = await aindex(docs[:1], manager, store, cleanup="full", source_id_key="source",
                          key_encoder="sha256")
    assert (result["num_skipped"], result["num_deleted"]) == (1, 2)
    assert [d.page_content for d in await store.asimilarity_search("a", k=5)] == ["a"]


def test_delete_collection(engine: QdrantEngine) -> None:
    store = store_on(engine)
    store.add_texts(["a"])
    assert store.delete_collection() is True
    assert not engine.collection_exists(store.collection_name)
    assert store.similarity_search("a") == []


# ---------------------------------------------------------------- class constructors


def test_from_texts_without_connection_is_embedded_in_memory() -> None:
    store = QdrantVectorStore.from_texts(["foo", "bar"], EMB, metadatas=[{"i": 1}, {"i": 2}],
                                         ids=["f", "b"])
    assert store.engine.embedded
    assert store.get_by_ids(["b"]) == [Document(id="b", page_content="bar", metadata={"i": 2})]
    store.close()
    assert store.engine.closed


async def test_afrom_documents_on_a_client_and_afrom_existing_collection() -> None:
    client = AsyncQdrantClient(":memory:")
    docs = [Document(page_content="foo", id="f", metadata={"x": 1}), Document(page_content="bar")]
    store = await QdrantVectorStore.afrom_documents(docs, EMB, client=client, collection_name="c")
    assert not store.engine.closed
    again = await QdrantVectorStore.afrom_existing_collection("c", EMB, client=client)
    assert (await again.aget_by_ids(["f"]))[0].metadata == {"x": 1}
    assert len(await again.asimilarity_search("bar", k=5)) == 2
    with pytest.raises(CollectionNotFoundError):
        await QdrantVectorStore.afrom_existing_collection("missing", EMB, client=client)
    with pytest.raises(CollectionMismatchError):
        await QdrantVectorStore.afrom_existing_collection(
            "c", EMB, client=client, retrieval_mode="hybrid"
        )


async def test_afrom_existing_collection_opens_and_never_creates() -> None:
    client = RecordingClient(QdrantClient(":memory:"))
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client))  # type: ignore[arg-type]
    # An earlier add noted the collection missing, then failed; someone created it since.
    await engine.aprefetch_collection("c")
    client._inner.create_collection(
        "c", vectors_config={},
        sparse_vectors_config={"sparse": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    store = await QdrantVectorStore.afrom_existing_collection(
        "c", None, client=engine, retrieval_mode=RetrievalMode.SPARSE,
    )
    assert store.retrieval_mode is RetrievalMode.SPARSE
    assert client.count_calls("create_collection") == 0
    assert client.count_calls("create_payload_index") == 0
    await engine.aclose()


def recording_store(**options: Any) -> tuple[QdrantVectorStore, RecordingClient]:
    client = RecordingClient(QdrantClient(":memory:"))
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client))  # type: ignore[arg-type]
    options.setdefault("embedding", EMB)
    return QdrantVectorStore(client=engine, collection_name="c", **options), client


def test_langchain_qdrant_vector_params_set_the_new_collection() -> None:
    store, client = recording_store(
        retrieval_mode=RetrievalMode.HYBRID,
        vector_params={
            "on_disk": True, "hnsw_config": models.HnswConfigDiff(m=8), "distance": "Dot",
        },
        sparse_vector_params={
            "modifier": models.Modifier.IDF, "index": {"full_scan_threshold": 100},
        },
    )
    store.add_texts(["a fox", "a dog"])
    (create,) = [kw for name, kw in client.calls if name == "create_collection"]
    dense = create["vectors_config"]["dense"]
    assert (dense.on_disk, dense.hnsw_config.m, dense.distance) == (True, 8, models.Distance.DOT)
    sparse = create["sparse_vectors_config"]["sparse"]
    assert sparse.modifier == models.Modifier.IDF
    assert sparse.index.full_scan_threshold == 100
    store.engine.close()


def test_sparse_vector_params_without_a_modifier_mean_no_idf_as_in_langchain_qdrant() -> None:
    store, client = recording_store(
        retrieval_mode=RetrievalMode.SPARSE, embedding=None, sparse_vector_params={}, on_disk=True,
    )
    store.add_texts(["a fox"])
    (create,) = [kw for name, kw in client.calls if name == "create_collection"]
    sparse = create["sparse_vectors_config"]["sparse"]
    assert sparse.modifier is None and sparse.index.on_disk is True
    store.engine.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vector_params": {"size": 8}}, "size comes from the embeddings"),
        ({"vector_params": {"on_disk": "sometimes"}}, "vector_params"),
        ({"vector_params": {"colour": 1}}, "colour"),
        ({"vector_params": {"datatype": models.Datatype.UINT8}}, "datatypes"),
        ({"sparse_vector_params": {"modifier": "none", "indexx": {}}}, "indexx"),
        (
            {"sparse_vector_params": {"modifier": models.Modifier.IDF}, "sparse_idf": False},
            "sparse_idf contradicts",
        ),
    ],
)
def test_bad_vector_params_raise_before_any_request(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        recording_store(retrieval_mode=RetrievalMode.HYBRID, **options)


def test_search_params_and_consistency_reach_every_search_request() -> None:
    store, client = recording_store(retrieval_mode=RetrievalMode.HYBRID)
    store.add_texts(["a fox", "a dog", "a cat"], ids=["f", "d", "c"])
    params = models.SearchParams(hnsw_ef=64, exact=True)
    read = {"search_params": params, "consistency": models.ReadConsistencyType.MAJORITY}
    client.calls.clear()
    assert store.similarity_search("fox", k=1, **read)[0].id == "f"
    store.similarity_search_with_relevance_scores("fox", k=1, **read)
    store.similarity_search_by_vector(EMB.embed_query("a fox"), k=1, **read)
    store.max_marginal_relevance_search("fox", k=1, fetch_k=3, **read)
    queries = [kw for name, kw in client.calls if name == "query_points"]
    assert len(queries) == 4
    for query in queries:
        assert query["search_params"] == params
        assert query["consistency"] == models.ReadConsistencyType.MAJORITY
    hybrid = queries[0]["prefetch"]
    assert [branch.params for branch in hybrid] == [params, params]
    with pytest.raises(InvalidInputError, match="search_params"):
        store.similarity_search("fox", search_params={"hnsw_ef": "many"})
    with pytest.raises(InvalidInputError, match="consistency"):
        store.similarity_search("fox", consistency=0)
    with pytest.raises(InvalidInputError, match="consistency"):
        store.similarity_search("fox", consistency="most")
    client.calls.clear()  # a dict of SearchParams fields and a consistency's name, as there
    store.similarity_search("fox", search_params={"hnsw_ef": 64}, consistency="all")
    (query,) = [kw for name, kw in client.calls if name == "query_points"]
    assert query["search_params"] == models.SearchParams(hnsw_ef=64)
    assert query["consistency"] == models.ReadConsistencyType.ALL
    store.engine.close()


def test_mmr_with_score_by_vector_gives_each_picks_score_against_the_query() -> None:
    store = QdrantVectorStore.from_texts(
        ["a fox", "a fox!", "a dog"], EMB, ids=["f", "f2", "d"], distance="dot"
    )
    query = EMB.embed_query("a fox")
    picks = store.max_marginal_relevance_search_with_score_by_vector(
        query, k=2, fetch_k=3, lambda_mult=0.5
    )
    plain = dict((d.id, s) for d, s in store.similarity_search_with_score_by_vector(query, k=3))
    assert [d.id for d, _ in picks] == [
        d.id for d in store.max_marginal_relevance_search_by_vector(query, 2, 3, 0.5)
    ]
    for doc, score in picks:
        assert score == pytest.approx(plain[doc.id], rel=1e-5)
    assert asyncio.run(store.amax_marginal_relevance_search_with_score_by_vector(
        query, k=2, fetch_k=3, lambda_mult=0.5
    )) == picks


def test_sparse_embeddings_property() -> None:
    encoder = Bm25Encoder(language="english")
    hybrid = QdrantVectorStore(embedding=EMB, retrieval_mode="hybrid", sparse_embedding=encoder)
    assert hybrid.sparse_embeddings is encoder
    assert isinstance(QdrantVectorStore(retrieval_mode="sparse").sparse_embeddings, Bm25Encoder)
    assert QdrantVectorStore(embedding=EMB, sparse_embedding=encoder).sparse_embeddings is encoder
    with pytest.raises(ValueError, match="no sparse embeddings"):
        QdrantVectorStore(embedding=EMB).sparse_embeddings  # noqa: B018


def test_construct_instance_takes_client_options_and_creates_on_the_first_add() -> None:
    store = QdrantVectorStore.construct_instance(
        EMB, RetrievalMode.HYBRID, client_options={"location": ":memory:"}, collection_name="c",
    )
    assert store.retrieval_mode is RetrievalMode.HYBRID
    assert not store.engine.collection_exists("c")  # nothing embedded, nothing created yet
    assert store.similarity_search("fox") == []
    store.add_texts(["a fox", "a dog"], ids=["f", "d"])
    assert store.similarity_search("a fox", k=1)[0].id == "f"
    store.close()


def test_construct_instance_validates_or_recreates_an_existing_collection() -> None:
    engine = QdrantEngine()
    QdrantVectorStore.from_texts(["a fox"], EMB, collection_name="c", client=engine)
    with pytest.raises(CollectionMismatchError, match="distance"):
        QdrantVectorStore.construct_instance(
            EMB, collection_name="c", client=engine, distance="dot"
        )
    unchecked = QdrantVectorStore.construct_instance(
        EMB, collection_name="c", client=engine, distance="dot", validate_collection_config=False
    )
    assert unchecked.collection_name == "c" and engine.count("c") == 1
    fresh = asyncio.run(QdrantVectorStore.aconstruct_instance(
        EMB, collection_name="c", client=engine, distance="dot", force_recreate=True
    ))
    assert not engine.collection_exists("c")
    fresh.add_texts(["a dog"])
    assert engine.count("c") == 1
    engine.close()


def test_construct_instance_passes_other_client_options_to_the_client_and_hides_the_key() -> None:
    store = QdrantVectorStore.construct_instance(
        EMB,
        client_options={
            "url": "http://127.0.0.1:9", "api_key": "s3cr3t-key", "metadata": {"a": "b"},
        },
        validate_collection_config=False,  # nothing listens there: no request is made
    )
    assert store.engine._transport._options["metadata"] == {"a": "b"}  # type: ignore[attr-defined]
    assert "s3cr3t-key" not in repr(store)
    store.close()


def test_from_documents_uses_explicit_ids_over_document_ids() -> None:
    docs = [Document(page_content="foo", id="f")]
    store = QdrantVectorStore.from_documents(docs, EMB, ids=["explicit"])
    assert [d.id for d in store.similarity_search("foo")] == ["explicit"]


def test_force_recreate_and_appending_to_an_existing_collection(tmp_path: Path) -> None:
    folder = str(tmp_path / "db")
    first = QdrantVectorStore.from_texts(["a", "b"], EMB, collection_name="c", path=folder)
    first.close()
    appended = QdrantVectorStore.from_texts(["c"], EMB, collection_name="c", path=folder)
    assert appended.engine.count("c") == 3
    appended.close()
    recreated = QdrantVectorStore.from_texts(
        ["d"], EMB, collection_name="c", path=folder, force_recreate=True
    )
    assert [d.page_content for d in recreated.similarity_search("x", k=5)] == ["d"]
    recreated.close()
    reopened = QdrantVectorStore.from_existing_collection("c", EMB, path=folder)
    assert reopened.engine.count("c") == 1
    reopened.close()


def test_client_and_connection_options_are_exclusive() -> None:
    with pytest.raises(ConfigurationError, match="either client"):
        QdrantVectorStore.from_texts(["a"], EMB, client=QdrantEngine(), location=":memory:")


def test_k_below_one_is_refused_in_the_callers_terms(engine: QdrantEngine) -> None:
    store = store_on(engine)
    fill(store)
    with pytest.raises(InvalidInputError, match="LangChain's k.*got 0"):
        store.similarity_search("x", k=0)


def test_class_constructors_pass_other_client_keywords_to_the_client_as_langchain_qdrant() -> None:
    import httpx
    from test_query_coalescing import RestOverLocalMode

    class Server(RestOverLocalMode):  # a server's REST answers through httpx's MockTransport
        async def handle(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/exists"):
                name = request.url.path.split("/")[2]
                exists = {"exists": self.local.collection_exists(name)}
                return httpx.Response(200, json={"result": exists, "status": "ok", "time": 0})
            return await super().handle(request)

    server = Server()
    QdrantVectorStore.from_texts(["a fox", "a dog"], EMB, collection_name="c",
                                 client=server.local, ids=["f", "d"])
    store = QdrantVectorStore.from_existing_collection(
        "c", EMB, url="http://qdrant.invalid:6333",
        transport=httpx.MockTransport(server.handle),  # an httpx keyword, as langchain-qdrant
        check_compatibility=False,  # a QdrantClient keyword
    )
    assert [d.id for d in store.similarity_search("a fox", k=1)] == ["f"]
    assert any(p.endswith("/points/query") for p in server.paths)
    store.close()
    with pytest.raises(TypeError, match="colour"):  # anything else still raises
        QdrantVectorStore.from_texts(["x"], EMB, colour="red")
    with pytest.raises(ConfigurationError, match=r"not both \(got \['verify'\]\)"):
        QdrantVectorStore.from_texts(["x"], EMB, client=QdrantEngine(), verify=False)


def test_add_texts_takes_batch_size_fourth_as_langchain_qdrant(engine: QdrantEngine) -> None:
    store = store_on(engine)
    assert store.add_texts(["a", "b", "c"], None, ["x", "y", "z"], 1) == ["x", "y", "z"]
    assert asyncio.run(store.aadd_texts(["d"], None, ["w"], 1)) == ["w"]


def test_langchain_qdrant_vector_name_constants_keep_their_meaning() -> None:
    emb = DeterministicFakeEmbedding(size=4)
    store = QdrantVectorStore.from_texts(
        ["a fox"], emb, retrieval_mode="hybrid",
        vector_name=QdrantVectorStore.VECTOR_NAME,
        sparse_vector_name=QdrantVectorStore.SPARSE_VECTOR_NAME,
    )
    layout = asyncio.run(store._alayout())
    assert layout is not None
    assert (layout.dense_name, layout.sparse_name) == ("dense", "langchain-sparse")
    store.close()


def test_add_takes_langchain_qdrants_wait_and_ordering_for_its_upserts() -> None:
    store, client = recording_store()
    store.add_texts(["a fox"], ids=["f"])
    (default,) = [kw for name, kw in client.calls if name == "upsert"]
    assert default["wait"] is True and "ordering" not in default
    client.calls.clear()
    store.add_texts(["a dog"], ids=["d"], wait=False, ordering="medium")
    store.add_documents([Document("a cat", id="c")], ordering=models.WriteOrdering.STRONG)
    upserts = [kw for name, kw in client.calls if name == "upsert"]
    assert [(kw["wait"], kw["ordering"]) for kw in upserts] == [
        (False, models.WriteOrdering.MEDIUM), (True, models.WriteOrdering.STRONG)
    ]
    assert store.engine.ingest_options.wait is True  # per call: the store's options unchanged
    client.calls.clear()
    with pytest.raises(InvalidInputError, match="ordering"):
        store.add_texts(["a cow"], ordering="fastest")
    with pytest.raises(InvalidInputError, match="wait"):
        store.add_texts(["a cow"], wait="yes")
    with pytest.raises(TypeError, match="update_filter"):
        store.add_texts(["a cow"], update_filter=None)
    assert not [name for name, _ in client.calls if name == "upsert"]
    assert sorted(d.id for d in store.similarity_search("a", k=5)) == ["c", "d", "f"]
    store.engine.close()
