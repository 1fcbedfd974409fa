"""Reliability through both adapters: bad input, injected faults, load, close, and secrets.

Every scenario drives a LangChain store and a LlamaIndex store the same way (see
``reliability_support.Harness``) on the embedded engine, with faults injected at the client
boundary by ``FaultyClient``. The engine-level twins of these tests are in
``test_reliability_engine.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import math
import pickle
import threading
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import RecordingClient, http_error, unit_vector
from langchain_core.documents import Document as LangChainDocument
from langchain_core.load import dumps as langchain_dumps
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse
from reliability_support import (
    ADAPTERS,
    DIM,
    SECRET,
    ControlledEmbeddings,
    Doc,
    Harness,
    LangChainHarness,
    LlamaIndexHarness,
    docs,
    error_chain,
    faulty_engine,
    harness,
)

import qdrant_aio.langchain
import qdrant_aio.llama_index
from qdrant_aio import (
    CollectionMismatchError,
    CollectionNotFoundError,
    CollectionSpec,
    DimensionMismatchError,
    EngineClosedError,
    IngestError,
    IngestOptions,
    InvalidFilterError,
    InvalidInputError,
    PointInput,
    QdrantAioError,
    QdrantEngine,
    QdrantRequestError,
    RetryPolicy,
    UnsupportedClientError,
)
from qdrant_aio.ids import point_id_for
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

# A hang guard for long scenarios, never a timing assertion.
GUARD = 120

by_adapter = pytest.mark.parametrize("kind", ADAPTERS)


def replace_vector(item: Doc, vector: list[float]) -> Doc:
    return dataclasses.replace(item, vector=vector)


async def stored_count(h: Harness) -> int:
    return await h.engine.acount(h.collection)


WRITES = frozenset({"upsert", "create_collection", "create_payload_index", "delete",
                    "delete_collection", "set_payload", "overwrite_payload", "update_vectors"})


def writes(client: RecordingClient) -> list[str]:
    """Names of the calls that change anything on the server, in order."""
    return [name for name, _ in client.calls if name in WRITES]


# ====================================================================== bad input


@by_adapter
async def test_a_vector_of_another_dimension_than_the_collection_is_rejected_before_writing(
    kind: str,
) -> None:
    engine, client = faulty_engine()
    h = harness(kind, engine)
    await h.add(docs(3))
    upserts = client.count_calls("upsert")
    with pytest.raises(DimensionMismatchError) as caught:
        await h.add(docs(2, prefix="w", dim=5))
    assert (caught.value.expected, caught.value.actual) == (DIM, 5)
    assert client.count_calls("upsert") == upserts
    assert await stored_count(h) == 3
    assert await h.get(["w0", "w1"]) == []
    await engine.aclose()


@by_adapter
async def test_a_query_vector_of_another_dimension_raises_a_typed_error(kind: str) -> None:
    engine, _ = faulty_engine()
    h = harness(kind, engine)
    await h.add(docs(3))
    with pytest.raises(DimensionMismatchError):
        await h.search(unit_vector("query", 5))
    await engine.aclose()


@by_adapter
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
async def test_nan_or_infinite_embedding_values_are_rejected_before_writing(
    kind: str, bad: float
) -> None:
    engine, client = faulty_engine()
    h = harness(kind, engine)
    items = docs(4)
    vector = list(unit_vector("bad"))
    vector[3] = bad
    items[2] = replace_vector(items[2], vector)
    with pytest.raises(InvalidInputError, match="NaN or infinity"):
        await h.add(items)
    assert client.count_calls("upsert") == 0
    assert await stored_count(h) == 0
    await engine.aclose()


@by_adapter
@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
async def test_nan_or_infinity_in_a_query_vector_raises_a_typed_error(
    kind: str, bad: float
) -> None:
    engine, client = faulty_engine()
    h = harness(kind, engine)
    await h.add(docs(3))
    vector = list(unit_vector("query"))
    vector[0] = bad
    with pytest.raises(InvalidInputError):
        await h.search(vector)
    assert client.count_calls("query_points") == 0
    await engine.aclose()


def _wrong_dimension(call: int, vectors: list[list[float]]) -> list[list[float]]:
    if call == 2:
        vectors[1] = vectors[1] + [0.0]
    return vectors


def _nan_values(call: int, vectors: list[list[float]]) -> list[list[float]]:
    if call == 2:
        vectors[0] = [math.nan] * len(vectors[0])
    return vectors


def _too_few_vectors(call: int, vectors: list[list[float]]) -> list[list[float]]:
    return vectors[:-1] if call == 2 else vectors


def _service_failure(call: int, vectors: list[list[float]]) -> list[list[float]]:
    if call == 2:
        raise ConnectionError("embedding service went away")
    return vectors


@pytest.mark.parametrize(
    ("hook", "cause"),
    [
        (_wrong_dimension, DimensionMismatchError),
        (_nan_values, InvalidInputError),
        (_too_few_vectors, InvalidInputError),
        (_service_failure, ConnectionError),
    ],
    ids=["wrong-dimension", "nan", "too-few-vectors", "service-failure"],
)
async def test_langchain_embeddings_failing_in_a_later_batch_list_the_ids_not_written(
    hook: Callable[[int, list[list[float]]], list[list[float]]], cause: type[BaseException],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Documented: earlier batches are written; IngestError lists every id that is not."""
    # Trips to embed of one embedding call each (256 texts by default).
    monkeypatch.setattr(qdrant_aio.langchain, "EMBED_TRIP_TEXTS", 3)
    engine, _ = faulty_engine(batch_size=3)
    h = LangChainHarness(engine, "c", batch_size=3)
    h.embeddings.hook = hook
    items = docs(9)
    with pytest.raises(IngestError) as caught:
        await h.add(items)
    error = caught.value
    assert isinstance(error.__cause__, cause)
    assert sorted(error.ids_not_written) == sorted(d.id for d in items[3:])
    assert len(error.ids_not_written) == len(set(error.ids_not_written))
    stored = await h.stored()
    assert sorted(stored) == sorted(d.id for d in items[:3])
    # Everything not listed is really there, whole.
    for item in items[:3]:
        assert stored[item.id] == (item.id, item.text, dict(item.metadata))
    await engine.aclose()


@pytest.mark.parametrize("defect", ["dimension", "nan", "metadata", "oversized"])
async def test_llama_index_checks_every_node_before_anything_is_written(defect: str) -> None:
    """Its documented rule: "Every node is checked before anything is written"."""
    engine, client = faulty_engine(batch_size=3, max_request_bytes=8192)
    h = LlamaIndexHarness(engine, "c", batch_size=3)
    items = docs(9)
    bad = items[7]
    if defect == "dimension":
        items[7] = replace_vector(bad, unit_vector("bad", DIM + 1))
    elif defect == "nan":
        items[7] = replace_vector(bad, [math.nan] * DIM)
    elif defect == "metadata":
        items[7] = dataclasses.replace(bad, metadata={"tags": {"a", "b"}})
    else:
        items[7] = dataclasses.replace(bad, text="x" * 20_000)
    with pytest.raises(InvalidInputError):
        await h.add(items)
    assert client.count_calls("upsert") == 0
    assert await stored_count(h) == 0
    await engine.aclose()


@pytest.mark.parametrize(
    ("trip_texts", "failing_call", "written"), [(3, 2, 3), (6, 2, 0), (6, 3, 6), (6, 5, 12)]
)
async def test_llama_index_sparse_encoder_failing_in_a_later_trip_lists_the_ids_not_written(
    monkeypatch: pytest.MonkeyPatch, trip_texts: int, failing_call: int, written: int
) -> None:
    """The one thing a LlamaIndex store computes per batch: the same rule as LangChain's.

    Encoder calls of 3 texts, trips to the loop of one or two calls: a failure in the first
    trip leaves nothing written and raises the encoder's own error; a later one writes the
    trips before it and lists the rest.
    """
    monkeypatch.setattr(qdrant_aio.llama_index, "EMBED_TRIP_TEXTS", trip_texts)
    calls: list[int] = []

    def flaky(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        calls.append(len(texts))
        if len(calls) == failing_call:
            raise ConnectionError("sparse encoder service went away")
        return [[1, 2]] * len(texts), [[0.5, 0.5]] * len(texts)

    engine, _ = faulty_engine(batch_size=3)
    h = LlamaIndexHarness(
        engine, "c", batch_size=3, enable_hybrid=True, sparse_doc_fn=flaky, sparse_query_fn=flaky
    )
    items = docs(14)
    if written == 0:
        with pytest.raises(ConnectionError):
            await h.add(items)
    else:
        with pytest.raises(IngestError) as caught:
            await h.add(items)
        assert isinstance(caught.value.__cause__, ConnectionError)
        assert sorted(caught.value.ids_not_written) == sorted(d.id for d in items[written:])
    stored = await h.stored()
    assert stored == {d.id: (d.id, d.text, dict(d.metadata)) for d in items[:written]}
    await engine.aclose()


async def test_langchain_inputs_of_different_lengths_send_no_request() -> None:
    engine, client = faulty_engine()
    h = LangChainHarness(engine, "c")
    store = h.store
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: store.aadd_texts(["a", "b", "c"], [{"x": 1}, {"x": 2}]),
        lambda: store.aadd_texts(["a", "b"], [{}, {}, {}]),
        lambda: store.aadd_texts(["a", "b"], ids=["1", "2", "3"]),
        lambda: store.aadd_texts(["a", "b", "c"], ids=["1"]),
        lambda: store.aadd_texts(iter(["a", "b", "c"]), iter([{}, {}]), iter(["1", "2", "3"])),
        lambda: store.aadd_documents(
            [LangChainDocument(page_content="a")], ids=["1", "2"]
        ),
        lambda: LangChainStore.afrom_texts(
            ["a", "b"], h.embeddings, metadatas=[{}], client=engine, collection_name="c"
        ),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="give one per text"):
            await call()
    assert client.calls == []
    assert h.embeddings.document_calls == []
    await engine.aclose()


async def test_langchain_embeddings_returning_too_few_vectors_write_nothing() -> None:
    engine, client = faulty_engine()
    h = LangChainHarness(engine, "c")
    h.embeddings.hook = _too_few_vectors_first
    with pytest.raises(InvalidInputError, match="returned 2 vectors for 3 texts"):
        await h.add(docs(3))
    assert writes(client) == []
    await engine.aclose()


def _too_few_vectors_first(call: int, vectors: list[list[float]]) -> list[list[float]]:
    return vectors[:-1]


async def test_llama_index_sparse_function_returning_too_few_vectors_writes_nothing() -> None:
    def short(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return [[1]] * (len(texts) - 1), [[1.0]] * (len(texts) - 1)

    engine, client = faulty_engine()
    h = LlamaIndexHarness(
        engine, "c", enable_hybrid=True, sparse_doc_fn=short, sparse_query_fn=short
    )
    with pytest.raises(InvalidInputError, match="vectors for 3 texts"):
        await h.add(docs(3))
    assert client.count_calls("upsert") == 0
    assert await stored_count(h) == 0
    await engine.aclose()


@by_adapter
async def test_duplicate_ids_in_one_call_the_last_occurrence_wins(kind: str) -> None:
    engine, client = faulty_engine(batch_size=2)
    h = harness(kind, engine, batch_size=2)
    vectors = [unit_vector(f"v{i}") for i in range(5)]
    items = [
        Doc("d", "first", {"v": 1}, vectors[0]),
        Doc("o", "other", {"v": 0}, vectors[1]),
        Doc("d", "second", {"v": 2}, vectors[2]),
        Doc("x", "x", {"v": 0}, vectors[3]),
        Doc("d", "third", {"v": 3}, vectors[4]),
    ]
    assert await h.add(items) == ["d", "o", "d", "x", "d"]
    assert await stored_count(h) == 3
    assert await h.get(["d"]) == [("d", "third", {"v": 3})]
    # Each id reached Qdrant once: the outcome cannot depend on which batch lands first.
    assert sorted(map(str, client.upserted_ids())) == sorted(
        str(point_id_for(i)) for i in ("d", "o", "x")
    )
    best = await h.search(vectors[4], k=1)
    assert best == [("d", "third", {"v": 3})]
    await engine.aclose()


@by_adapter
async def test_empty_input_creates_nothing_and_sends_no_request(kind: str) -> None:
    engine, client = faulty_engine()
    h = harness(kind, engine)
    assert await h.add([]) == []
    if isinstance(h, LangChainHarness):
        assert await h.store.aadd_texts([]) == []
        assert await h.store.aadd_texts(iter([]), iter([]), iter([])) == []
        assert await h.store.aadd_documents([]) == []
        assert h.store.add_texts([]) == []
        await LangChainStore.afrom_texts([], h.embeddings, client=engine, collection_name="c")
        assert h.embeddings.document_calls == []
    else:
        assert isinstance(h, LlamaIndexHarness)
        assert await h.store.async_add([]) == []
        assert await h.store.async_add(()) == []
        assert h.store.add([]) == []
    assert client.calls == []
    assert not client._inner.collection_exists("c")
    await engine.aclose()


@by_adapter
async def test_a_first_add_looks_its_collection_up_once(kind: str) -> None:
    engine, client = faulty_engine()
    h = harness(kind, engine)
    await h.add(docs(30))
    # Read alongside the layout probe; the missing collection is then created without a
    # second lookup.
    assert client.count_calls("get_collection") == 1
    assert client.count_calls("create_collection") == 1
    first_write = [name for name, _ in client.calls].index("create_collection")
    assert {"scroll", "get_collection"} <= {name for name, _ in client.calls[:first_write]}
    assert sorted(await h.stored()) == sorted(d.id for d in docs(30))
    await h.close()
    await engine.aclose()


async def test_langchain_looks_its_collection_up_while_the_inputs_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, client = faulty_engine()
    h = LangChainHarness(engine, "c")
    checking = qdrant_aio.langchain.aprepare_inputs
    lookups_seen_while_checking: list[int] = []

    async def checking_that_waits_for_the_lookup(*args: Any, **kwargs: Any) -> Any:
        inputs = await checking(*args, **kwargs)
        for _ in range(1000):  # done at once when overlapped; never if not (10 s)
            if client.count_calls("get_collection") and client.count_calls("scroll"):
                break
            await asyncio.sleep(0.01)
        lookups_seen_while_checking.append(client.count_calls("get_collection"))
        return inputs

    monkeypatch.setattr(
        qdrant_aio.langchain, "aprepare_inputs", checking_that_waits_for_the_lookup
    )
    await h.add(docs(5))
    assert lookups_seen_while_checking == [1]
    assert client.count_calls("create_collection") == 1
    await engine.aclose()


async def test_langchain_bad_input_is_reported_as_such_when_the_lookups_fail_too() -> None:
    engine, client = faulty_engine(attempts=1)
    client.poison = lambda name, kwargs: name in ("get_collection", "scroll")
    client.poison_error = http_error(403)
    store = LangChainHarness(engine, "c").store
    with pytest.raises(InvalidInputError, match="metadatas"):
        await store.aadd_texts(["a", "b"], [{"ok": 1}, {"bad": {1, 2}}])
    assert all(name in ("get_collection", "scroll") for name, _ in client.calls)
    assert not client._inner.collection_exists("c")
    await engine.aclose()


BAD_METADATA: dict[str, dict[str, Any]] = {
    "set": {"tags": {"a", "b"}},
    "object": {"owner": object()},
    "nan": {"score": math.nan},
    "infinity": {"score": math.inf},
    "bytes": {"raw": b"\x00\x01"},
    "nested-set": {"deep": {"list": [1, {2, 3}]}},
    # Qdrant's payload integers are 64-bit signed (gRPC refuses more); -2**63 and 2**63 - 1 fit.
    "int-beyond-64-bits": {"n": 2**63, "ok": [-(2**63), 2**63 - 1]},
    "negative-int-beyond-64-bits": {"deep": [{"n": -(2**63) - 1}]},
    # UTF-8, which a server is sent, cannot carry it (a character beyond the BMP is fine).
    "lone-surrogate": {"s": "a\ud800b", "ok": "\U0001f600"},
    # A server parses 128 levels of a request at most; the payload sits a few levels down.
    "nested-too-deep": {"deep": functools.reduce(lambda inner, _: [inner], range(100), [])},
}


@by_adapter
@pytest.mark.parametrize(
    ("position", "metadata"),
    [*(("first-batch", m) for m in BAD_METADATA.values()), ("later-batch", BAD_METADATA["set"])],
    ids=[*(f"first-batch-{name}" for name in BAD_METADATA), "later-batch-set"],
)
async def test_metadata_that_json_cannot_carry_is_rejected_before_anything_is_written(
    kind: str, position: str, metadata: dict[str, Any]
) -> None:
    """The metadata is known before the first batch: none of it may be written."""
    engine, client = faulty_engine(batch_size=3)
    h = harness(kind, engine, batch_size=3)
    items = docs(9)
    index = 1 if position == "first-batch" else 7
    items[index] = dataclasses.replace(items[index], metadata=metadata)
    with pytest.raises(InvalidInputError, match="cannot be stored as JSON"):
        await h.add(items)
    assert client.count_calls("upsert") == 0
    assert await stored_count(h) == 0
    await engine.aclose()


@by_adapter
async def test_a_text_with_a_lone_surrogate_is_rejected_before_anything_is_written(
    kind: str,
) -> None:
    engine, client = faulty_engine(batch_size=3)
    h = harness(kind, engine, batch_size=3)
    items = docs(9)
    items[7] = dataclasses.replace(items[7], text="broken \udc80 extraction")
    items[2] = dataclasses.replace(items[2], text="emoji \U0001f600 are fine")
    with pytest.raises(InvalidInputError, match="cannot be stored as JSON"):
        await h.add(items)
    assert client.count_calls("upsert") == 0
    del items[7]
    await h.add(items)
    assert await stored_count(h) == 8
    await engine.aclose()


async def test_langchain_metadata_keys_that_json_would_turn_into_strings_are_rejected() -> None:
    """``{1: "a"}`` would come back as ``{"1": "a"}``: not "exactly the metadata stored"."""
    engine, client = faulty_engine()
    h = LangChainHarness(engine, "c")
    items = [dataclasses.replace(docs(1)[0], metadata={1: "a"})]
    with pytest.raises(InvalidInputError):
        await h.add(items)
    assert client.count_calls("upsert") == 0
    await engine.aclose()


@by_adapter
@pytest.mark.parametrize("position", ["alone", "after-small-ones", "later-batch"])
async def test_a_document_larger_than_the_request_limit_is_rejected_before_anything_is_sent(
    kind: str, position: str
) -> None:
    items = docs(30)
    huge = Doc("huge", "x" * 20_000, {"size": "20 kB"}, unit_vector("huge"))
    if position == "alone":
        items, batch_size = [huge], 100
    elif position == "after-small-ones":  # one batch whose small documents fill a request
        items, batch_size = [*items, huge], 100
    else:  # the adapter hands the huge one over in its third batch; earlier ones fill requests
        items, batch_size = [*items[:7], huge, *items[7:]], 3
    engine, client = faulty_engine(batch_size=batch_size, max_request_bytes=8192)
    h = harness(kind, engine, batch_size=batch_size)
    with pytest.raises(InvalidInputError, match="request limit"):
        await h.add(items)
    assert client.count_calls("upsert") == 0
    assert await stored_count(h) == 0
    await engine.aclose()


BAD_DICT_FILTERS: dict[str, Any] = {
    "unknown-operator": {"i": {"$regex": "^1"}},
    "unknown-logic": {"$xor": [{"i": 1}, {"i": 2}]},
    "in-not-a-list": {"i": {"$in": 5}},
    "range-on-text": {"i": {"$gt": "abc"}},
    "exists-not-bool": {"i": {"$exists": "yes"}},
    "between-one-bound": {"i": {"$between": [1]}},
    "and-not-a-list": {"$and": {"i": 1}},
    "object-value": {"i": {"$eq": object()}},
    "nan-bound": {"i": {"$gte": math.nan}},
    "empty": {},
    "not-a-dict": [("i", 1)],
}


@pytest.mark.parametrize("flt", BAD_DICT_FILTERS.values(), ids=list(BAD_DICT_FILTERS))
async def test_invalid_dict_filters_raise_before_any_request(flt: Any) -> None:
    engine, client = faulty_engine()
    h = LangChainHarness(engine, "c")
    await h.add(docs(5))
    before = len(client.calls)
    store = h.store
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: store.asimilarity_search("q", filter=flt),
        lambda: store.asimilarity_search_by_vector(unit_vector("q"), filter=flt),
        lambda: store.asimilarity_search_with_relevance_scores("q", filter=flt),
        lambda: store.amax_marginal_relevance_search("q", filter=flt),
        lambda: store.adelete(filter=flt),
        lambda: store.adelete(["d1"], filter=flt),
    ]
    for call in calls:
        with pytest.raises(InvalidFilterError):
            await call()
    with pytest.raises(InvalidFilterError):
        store.delete(filter=flt)
    assert client.calls[before:] == []
    assert await stored_count(h) == 5
    await engine.aclose()


BAD_LLAMA_FILTERS: dict[str, MetadataFilters] = {
    "order-on-text": MetadataFilters(
        filters=[MetadataFilter(key="prefix", value="d", operator=FilterOperator.GT)]
    ),
    "equals-none": MetadataFilters(
        filters=[MetadataFilter(key="i", value=None, operator=FilterOperator.EQ)]
    ),
    "equals-a-list": MetadataFilters(
        filters=[MetadataFilter(key="i", value=[1, 2], operator=FilterOperator.EQ)]
    ),
    "text-match-a-number": MetadataFilters(
        filters=[MetadataFilter(key="i", value=3, operator=FilterOperator.TEXT_MATCH)]
    ),
    "empty-nested-group": MetadataFilters(
        filters=[
            MetadataFilter(key="i", value=1, operator=FilterOperator.EQ),
            MetadataFilters(filters=[]),
        ]
    ),
}


@pytest.mark.parametrize("flt", BAD_LLAMA_FILTERS.values(), ids=list(BAD_LLAMA_FILTERS))
async def test_llama_index_filters_that_cannot_be_translated_raise(flt: MetadataFilters) -> None:
    engine, client = faulty_engine()
    h = LlamaIndexHarness(engine, "c")
    await h.add(docs(5))
    before = len(client.calls)
    store = h.store
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: store.aquery(VectorStoreQuery(query_embedding=unit_vector("q"), filters=flt)),
        lambda: store.aquery(
            VectorStoreQuery(
                query_embedding=unit_vector("q"), filters=flt, mode=VectorStoreQueryMode.MMR
            )
        ),
        lambda: store.aget_nodes(filters=flt),
        lambda: store.adelete_nodes(filters=flt),
        lambda: store.adelete_nodes(node_ids=["d1"], filters=flt),
    ]
    for call in calls:
        with pytest.raises(InvalidFilterError):
            await call()
    with pytest.raises(InvalidFilterError):
        store.delete_nodes(filters=flt)
    sent = {name for name, _ in client.calls[before:]}
    assert not sent & {"delete", "query_points", "query_batch_points"}
    assert await stored_count(h) == 5
    await engine.aclose()


@by_adapter
async def test_a_delete_with_no_ids_and_no_filter_raises_and_deletes_nothing(kind: str) -> None:
    engine, client = faulty_engine()
    h = harness(kind, engine)
    await h.add(docs(5))
    calls: list[Callable[[], Any]]
    if isinstance(h, LangChainHarness):
        lc = h.store
        calls = [
            lambda: lc.adelete(),
            lambda: lc.adelete(None),
            lambda: lc.adelete(ids=None, filter=None),
            lambda: lc.delete(),
        ]
    else:
        assert isinstance(h, LlamaIndexHarness)
        li = h.store
        calls = [
            lambda: li.adelete_nodes(),
            lambda: li.adelete_nodes(None, None),
            lambda: li.adelete_nodes(filters=MetadataFilters(filters=[])),
            lambda: li.delete_nodes(),
        ]
    for call in calls:
        with pytest.raises(InvalidInputError):
            result = call()
            if asyncio.iscoroutine(result):
                await result
    await h.delete_ids([])  # an empty id list deletes nothing
    assert client.count_calls("delete") == 0
    assert await stored_count(h) == 5
    await engine.aclose()


def _unsupported_clients() -> dict[str, Any]:
    return {
        "object": object(),
        "url-string": "http://localhost:6333",
        "options-dict": {"url": "http://localhost:6333"},
        "number": 6333,
        "duck-typed-wrapper": RecordingClient(QdrantClient(":memory:")),
    }


@pytest.mark.parametrize("name", list(_unsupported_clients()))
def test_a_client_of_an_unsupported_type_is_rejected(name: str) -> None:
    bad = _unsupported_clients()[name]
    embeddings = ControlledEmbeddings()
    builds: list[Callable[[], Any]] = [
        lambda: LangChainStore(client=bad, collection_name="c", embedding=embeddings),
        lambda: LangChainStore.from_texts(["a"], embeddings, client=bad),
        lambda: LlamaIndexStore("c", client=bad),
        lambda: LlamaIndexStore("c", aclient=bad),
        lambda: LlamaIndexStore("c", engine=bad),
        lambda: QdrantEngine.from_client(bad),
    ]
    for build in builds:
        with pytest.raises(UnsupportedClientError) as caught:
            build()
        assert isinstance(caught.value, TypeError)
        assert type(bad).__name__ in str(caught.value)
    assert embeddings.document_calls == []


@by_adapter
async def test_stores_on_a_closed_engine_raise_engine_closed(kind: str) -> None:
    engine = QdrantEngine()
    h = harness(kind, engine)
    await h.add(docs(3))
    await engine.aclose()
    operations: list[Callable[[], Awaitable[Any]]] = [
        lambda: h.add(docs(1, prefix="n")),
        lambda: h.get(["d0"]),
        lambda: h.search(unit_vector("q")),
        lambda: h.delete_ids(["d0"]),
    ]
    if isinstance(h, LangChainHarness):
        lc = h.store
        operations += [
            lambda: lc.asimilarity_search("q"),
            lambda: lc.amax_marginal_relevance_search("q"),
            lambda: lc.adelete(filter={"i": 1}),
            lambda: lc.adelete_collection(),
        ]
        sync_call: Callable[[], Any] = lambda: lc.add_texts(["x"])  # noqa: E731
    else:
        assert isinstance(h, LlamaIndexHarness)
        li = h.store
        operations += [
            lambda: li.aquery(VectorStoreQuery(query_embedding=unit_vector("q"))),
            lambda: li.aget_nodes(),
            lambda: li.adelete("ref"),
            lambda: li.aclear(),
        ]
        sync_call = lambda: li.get_nodes()  # noqa: E731
    for operation in operations:
        with pytest.raises(EngineClosedError):
            await operation()
    with pytest.raises(EngineClosedError):
        sync_call()


@by_adapter
async def test_a_store_that_owns_its_engine_refuses_calls_after_close(kind: str) -> None:
    h = harness(kind, None)
    await h.add(docs(3))
    await h.close()
    await h.close()  # idempotent
    assert h.engine.closed
    for operation in (
        lambda: h.add(docs(1, prefix="n")),
        lambda: h.get(["d0"]),
        lambda: h.search(unit_vector("q")),
    ):
        with pytest.raises(EngineClosedError):
            await operation()


MISMATCHES = ["distance", "size", "dense-name", "sparse-name"]


def _mismatching_options(kind: str, mismatch: str) -> dict[str, Any]:
    if kind == "langchain":
        return {
            "distance": {"distance": "euclid"},
            "size": {"embedding": ControlledEmbeddings(dim=5)},
            "dense-name": {"vector_name": "other"},
            "sparse-name": {"retrieval_mode": "hybrid", "sparse_vector_name": "other"},
        }[mismatch]
    return {
        "distance": {"distance": "Euclid"},
        "size": {"dense_config": models.VectorParams(size=5, distance=models.Distance.COSINE)},
        "dense-name": {"dense_vector_name": "other"},
        "sparse-name": {"enable_hybrid": True, "sparse_vector_name": "other"},
    }[mismatch]


@by_adapter
@pytest.mark.parametrize("mismatch", MISMATCHES)
async def test_an_existing_collection_that_does_not_match_the_store_raises(
    kind: str, mismatch: str
) -> None:
    engine, client = faulty_engine()
    spec = CollectionSpec(dense=True, sparse=True, vector_name="dense", sparse_vector_name="words")
    await engine.aupsert(
        "c",
        [
            PointInput(f"p{i}", {"page_content": f"seed {i}", "metadata": {}},
                       unit_vector(f"p{i}"), models.SparseVector(indices=[i], values=[1.0]))
            for i in range(2)
        ],
        spec,
    )
    upserts = client.count_calls("upsert")
    h = harness(kind, engine, **_mismatching_options(kind, mismatch))
    dim = 5 if mismatch == "size" else DIM
    expected_words = {
        "distance": ("Euclid", "Cosine"),
        "size": ("5", "8"),
        "dense-name": ("other", "dense"),
        "sparse-name": ("other", "words"),
    }[mismatch]
    with pytest.raises((CollectionMismatchError, DimensionMismatchError)) as caught:
        await h.add(docs(2, prefix="n", dim=dim))
    assert all(word in str(caught.value) for word in expected_words), str(caught.value)
    assert client.count_calls("upsert") == upserts
    assert await stored_count(h) == 2
    with pytest.raises((CollectionMismatchError, DimensionMismatchError)):
        if isinstance(h, LlamaIndexHarness) and mismatch == "sparse-name":
            await h.store.aquery(VectorStoreQuery(
                query_embedding=unit_vector("q"), query_str="seed",
                mode=VectorStoreQueryMode.HYBRID,
            ))
        else:
            await h.search(unit_vector("q", dim))
    await engine.aclose()


ROUND_TRIP = [
    Doc("empty-text", "", {}),
    Doc("кириллица-id", "Привет, мир", {"язык": "русский", "ключ": "значение"}),
    Doc("🚀", "emoji 🚀🔥 family 👩‍👩‍👧‍👦 flag 🇳🇴 skin 👍🏽", {"emoji": "🎉", "list": ["😀", ""]}),
    Doc("cjk", "日本語のテキスト 中文 한국어", {"nested": {"日本": ["ü", ""], "n": None}}),
    Doc("rtl", "مرحبا بالعالم שלום עולם", {"dir": "rtl"}),
    Doc("combining", "e\u0301 vs \u00e9, zero\u200bwidth, line\u2028separator",
        {"nfc": "\u00e9", "nfd": "e\u0301"}),
    Doc("controls", "tab\tnew\nline\r\nnul\x00end\x7f", {"control": "\x00\x1f"}),
    Doc("blank", "   ", {"empty": "", "space": " ", "zero": 0, "false": False}),
    Doc("with space/slash?&#", "punctuation !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", {"q": "\"'"}),
    Doc("long", "ab😀é\n" * 200_000, {"size": "1M characters, 1.8 MB of UTF-8"}),
]


@by_adapter
async def test_unicode_emoji_empty_and_very_long_texts_round_trip_exactly(kind: str) -> None:
    engine = QdrantEngine()
    h = harness(kind, engine)
    items = [replace_vector(d, unit_vector(d.id)) for d in ROUND_TRIP]
    assert await h.add(items) == [d.id for d in items]
    expected = {d.id: (d.id, d.text, dict(d.metadata)) for d in items}
    assert {s[0]: s for s in await h.get(list(expected))} == expected
    for item in items:
        best = await h.search(unit_vector(item.id), k=1)
        assert best == [expected[item.id]]
    await engine.aclose()


# ====================================================================== injected faults


@by_adapter
async def test_10000_documents_with_10_percent_of_calls_failing_are_stored_exactly_once(
    kind: str,
) -> None:
    engine, client = faulty_engine(rate=0.10, attempts=10, batch_size=50)
    h = harness(kind, engine, batch_size=100)
    items = docs(10_000)
    ids = await asyncio.wait_for(h.add(items), GUARD)
    assert ids == [d.id for d in items]
    assert client.injected >= 10 and client.injected_after_call >= 5  # faults really happened
    assert await engine.acount("c") == 10_000
    hits = await engine.ascroll_all("c")
    assert len(hits) == 10_000
    assert {h_.id for h_ in hits} == set(ids)
    sample = items[::97]
    assert {s[0]: s for s in await h.get([d.id for d in sample])} == {
        d.id: (d.id, d.text, dict(d.metadata)) for d in sample
    }
    await engine.aclose()


@by_adapter
@pytest.mark.parametrize("status", [400, 401, 403, 413, 422])
async def test_permanent_errors_are_not_retried_and_are_raised_at_once(
    kind: str, status: int
) -> None:
    engine, client = faulty_engine(attempts=5)
    h = harness(kind, engine)
    await h.add(docs(3, prefix="seed"))
    client.fail_next["upsert"] = [http_error(status)]
    items = docs(20)
    with pytest.raises(IngestError) as caught:
        await h.add(items)
    assert client.count_calls("upsert") == 2  # the seed, then one attempt
    assert sorted(caught.value.ids_not_written) == sorted(d.id for d in items)
    assert _statuses(caught.value) == {status}
    assert await stored_count(h) == 3

    client.fail_next["query_points"] = [http_error(status)]
    with pytest.raises(QdrantRequestError, match=f"HTTP {status}") as caught_search:
        await h.search(unit_vector("q"))
    assert client.count_calls("query_points") == 1
    assert _statuses(caught_search.value) == {status}
    await engine.aclose()


def _statuses(error: BaseException) -> set[int]:
    return {e.status_code for e in error_chain(error) if isinstance(e, UnexpectedResponse)}


@by_adapter
async def test_when_retries_run_out_the_error_lists_exactly_the_ids_not_written(
    kind: str,
) -> None:
    engine, client = faulty_engine(attempts=3, batch_size=10, max_concurrent_upserts=2)
    h = harness(kind, engine, batch_size=10)
    items = docs(60)
    poisoned = {point_id_for("d23"), point_id_for("d47")}
    client.poison = lambda name, kwargs: name == "upsert" and any(
        p.id in poisoned for p in kwargs["points"]
    )
    with pytest.raises(IngestError) as caught:
        await asyncio.wait_for(h.add(items), GUARD)
    missing = [f"d{i}" for i in (*range(20, 30), *range(40, 50))]
    assert sorted(caught.value.ids_not_written) == sorted(missing)
    assert len(caught.value.ids_not_written) == len(missing)
    assert _statuses(caught.value) == {503}
    poisoned_attempts = [
        kw for name, kw in client.calls
        if name == "upsert" and any(p.id in poisoned for p in kw["points"])
    ]
    assert len(poisoned_attempts) == 2 * 3  # two requests, each tried max_attempts times
    stored = await h.stored()
    expected = {d.id: (d.id, d.text, dict(d.metadata)) for d in items if d.id not in missing}
    assert stored == expected
    # Running the same ingest again fills the gap without duplicates.
    client.poison = None
    await h.add(items)
    assert await stored_count(h) == 60
    assert sorted(await h.stored()) == sorted(d.id for d in items)
    await engine.aclose()


@by_adapter
async def test_cancelling_an_adapter_ingest_leaves_a_consistent_and_usable_store(
    kind: str,
) -> None:
    engine, client = faulty_engine(batch_size=20, max_concurrent_upserts=2)
    client.hold_call = ("upsert", 3)  # the third request blocks in the storage thread
    h = harness(kind, engine, batch_size=20)
    items = docs(2_000)
    task = asyncio.create_task(h.add(items))
    assert await asyncio.to_thread(client.entered.wait, GUARD)
    task.cancel()
    for _ in range(3):  # the cancellation reaches the task (and its job) before the release
        await asyncio.sleep(0)
    client.release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, GUARD)
    client.hold_call = None
    by_id = {d.id: (d.id, d.text, dict(d.metadata)) for d in items}
    partial = await h.stored()
    assert 60 <= len(partial) < 2_000  # the three requests that started landed, whole
    for key, value in partial.items():
        assert value == by_id[key]
    # The store is usable and the same ingest completes it, without duplicates.
    assert await h.add(items) == [d.id for d in items]
    assert await stored_count(h) == 2_000
    assert sorted(await h.stored()) == sorted(by_id)
    best = await h.search(items[7].vector or [], k=1)
    assert best == [by_id["d7"]]
    await engine.aclose()


# ====================================================================== load


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


@by_adapter
async def test_1000_searches_and_20_writers_through_the_adapter_leave_nothing_behind(
    kind: str,
) -> None:
    tasks_before = len(asyncio.all_tasks())
    threads_before = _threads()
    h = harness(kind, None, batch_size=10)  # the store creates, owns and closes its engine
    engine = h.engine
    storage_thread = engine._transport.storage_thread  # type: ignore[attr-defined]
    assert storage_thread.is_alive()
    await h.add(docs(300))

    async def writer(k: int) -> None:
        for round_ in range(3):
            await h.add(docs(10, prefix=f"w{k}-{round_}-"))

    searches = [h.search(unit_vector(f"q{i}"), k=3) for i in range(1000)]
    results = await asyncio.wait_for(
        asyncio.gather(*searches, *(writer(k) for k in range(20))), GUARD
    )
    assert all(len(r) == 3 for r in results[:1000])
    assert await engine.acount("c") == 300 + 20 * 3 * 10
    await h.close()
    assert engine.closed
    storage_thread.join(10)
    assert not storage_thread.is_alive()
    for _ in range(200):  # worker threads of the default executor wind down, if any
        if _threads() <= threads_before:
            break
        await asyncio.sleep(0.01)
    assert _threads() <= threads_before, {t.name for t in _threads() - threads_before}
    assert len(asyncio.all_tasks()) == tasks_before


# ====================================================================== close while in flight


@by_adapter
async def test_closing_while_adapter_writes_are_in_flight_keeps_acknowledged_writes(
    kind: str, tmp_path: Path
) -> None:
    folder = str(tmp_path / "db")
    engine = QdrantEngine(path=folder, ingest=IngestOptions(batch_size=10))
    h = harness(kind, engine, batch_size=10)
    acknowledged: list[Doc] = []

    async def write(k: int) -> None:
        batch = docs(10, prefix=f"b{k}-")
        await h.add(batch)
        acknowledged.extend(batch)

    writes = [asyncio.create_task(write(k)) for k in range(30)]
    while not acknowledged and not all(t.done() for t in writes):
        await asyncio.sleep(0)
    await asyncio.wait_for(engine.aclose(), GUARD)
    outcomes = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), GUARD)
    for outcome in outcomes:  # each write either landed or was refused with a typed error
        assert outcome is None or isinstance(outcome, QdrantAioError), repr(outcome)
    assert acknowledged
    reopened = QdrantEngine(path=folder)
    again = harness(kind, reopened)
    found = await again.get([d.id for d in acknowledged])
    assert {s[0]: s for s in found} == {
        d.id: (d.id, d.text, dict(d.metadata)) for d in acknowledged
    }
    await reopened.aclose()


# ====================================================================== secrets


def _unreachable_engine(prefer_grpc: bool) -> QdrantEngine:
    return QdrantEngine(
        url="http://127.0.0.1:9",  # the discard port: nothing listens, every call fails
        grpc_port=9,
        prefer_grpc=prefer_grpc,
        api_key=SECRET,
        timeout=1,
        retry=RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0),
        client_options={"check_compatibility": False},
    )


async def _failures(calls: list[Callable[[], Awaitable[Any]]]) -> list[str]:
    """Run calls that must fail with a package error; return every text of their chains."""
    texts: list[str] = []
    for call in calls:
        with pytest.raises(QdrantAioError) as caught:
            await call()
        for error in error_chain(caught.value):
            texts += [str(error), repr(error), repr(error.args)]
    return texts


def _log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(record) for record in caplog.records]


@pytest.mark.parametrize("prefer_grpc", [False, True], ids=["rest", "grpc"])
async def test_the_api_key_never_leaks_through_the_langchain_store(
    prefer_grpc: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="qdrant_aio")
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        engine = _unreachable_engine(prefer_grpc)
        store = LangChainStore(client=engine, collection_name="c", embedding=ControlledEmbeddings())
        retriever = store.as_retriever()
        texts = [
            repr(engine), str(engine), repr(store), str(store), repr(vars(store)),
            repr(retriever), str(retriever), json.dumps(retriever.to_json(), default=repr),
            langchain_dumps(retriever), repr(retriever.model_dump()),
        ]
        with pytest.raises(TypeError) as not_pickled:
            pickle.dumps(store)
        texts.append(str(not_pickled.value))
        texts += await _failures([
            lambda: store.aadd_texts(["a", "b"], ids=["a", "b"]),
            lambda: store.asimilarity_search("a"),
            lambda: store.asimilarity_search_with_relevance_scores("a"),
            lambda: store.amax_marginal_relevance_search("a"),
            lambda: store.aget_by_ids(["a"]),
            lambda: store.adelete(["a"]),
            lambda: store.adelete(filter={"k": 1}),
            lambda: store.adelete_collection(),
            lambda: retriever.ainvoke("a"),
            lambda: LangChainStore.afrom_existing_collection(
                "c", ControlledEmbeddings(), url="http://127.0.0.1:9", api_key=SECRET,
                timeout=1, client_options={"check_compatibility": False},
            ),
        ])
        await engine.aclose()
    texts += _log_texts(caplog)
    texts += [str(w.message) for w in caught_warnings]
    assert any("attempt" in t for t in texts)  # the retries were logged at DEBUG
    leaks = [t for t in texts if SECRET in t]
    assert leaks == []


@pytest.mark.parametrize("prefer_grpc", [False, True], ids=["rest", "grpc"])
async def test_the_api_key_never_leaks_through_the_llama_index_store(
    prefer_grpc: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="qdrant_aio")
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        store = LlamaIndexStore(
            "c", url="http://127.0.0.1:9", api_key=SECRET, max_retries=2,
            client_kwargs={
                "check_compatibility": False, "timeout": 1,
                "prefer_grpc": prefer_grpc, "grpc_port": 9,
            },
        )
        shared = LlamaIndexStore("c", engine=_unreachable_engine(prefer_grpc))
        texts: list[str] = []
        for each in (store, shared):
            texts += [
                repr(each), str(each), json.dumps(each.to_dict()), each.to_json(),
                json.dumps(each.model_dump(), default=repr), each.model_dump_json(),
                repr(each.__pydantic_private__), repr(each.engine),
                repr(LlamaIndexStore.from_dict(each.to_dict())),
            ]
            with pytest.raises(TypeError) as not_pickled:
                pickle.dumps(each)
            texts.append(str(not_pickled.value))
            node_docs = docs(2)
            texts += await _failures([
                lambda s=each, n=node_docs: LlamaIndexHarness.add(_wrap(s), n),
                lambda s=each: s.aquery(VectorStoreQuery(query_embedding=unit_vector("q"))),
                lambda s=each: s.aget_nodes(node_ids=["a"]),
                lambda s=each: s.adelete("ref"),
                lambda s=each: s.adelete_nodes(node_ids=["a"]),
                lambda s=each: s.aclear(),
            ])
        await store.aclose()
        await shared.engine.aclose()
    texts += _log_texts(caplog)
    texts += [str(w.message) for w in caught_warnings]
    assert any("attempt" in t for t in texts)
    leaks = [t for t in texts if SECRET in t]
    assert leaks == []


def _wrap(store: LlamaIndexStore) -> LlamaIndexHarness:
    wrapped = LlamaIndexHarness.__new__(LlamaIndexHarness)
    wrapped.store = store
    wrapped.engine = store.engine
    wrapped.collection = store.collection_name
    return wrapped


# ====================================================================== nothing left behind


async def _wait_for_threads(before: set[threading.Thread]) -> set[str]:
    for _ in range(200):
        extra = _threads() - before
        if not extra:
            return set()
        await asyncio.sleep(0.01)
    return {t.name for t in _threads() - before}


async def test_a_failed_langchain_from_texts_closes_the_engine_it_created(
    tmp_path: Path,
) -> None:
    folder = str(tmp_path / "db")
    threads_before = _threads()
    with pytest.raises(InvalidInputError):
        await LangChainStore.afrom_texts(
            ["a", "b"], ControlledEmbeddings(), metadatas=[{}, {"tags": {"x"}}], path=folder
        )
    assert await _wait_for_threads(threads_before) == set()
    reopened = QdrantEngine(path=folder)  # the folder is free again
    await reopened.aclose()


async def test_a_failed_langchain_from_existing_collection_closes_the_engine_it_created(
    tmp_path: Path,
) -> None:
    folder = str(tmp_path / "db")
    threads_before = _threads()
    with pytest.raises(CollectionNotFoundError):
        await LangChainStore.afrom_existing_collection(
            "missing", ControlledEmbeddings(), path=folder
        )
    assert await _wait_for_threads(threads_before) == set()
    reopened = QdrantEngine(path=folder)
    await reopened.aclose()
