"""The LlamaIndex adapter: the conformance suite on every kind of connection, plus what is
specific to one connection (clients, secrets, requests sent, collections of the public package)."""

from __future__ import annotations

import ast
import asyncio
import functools
import inspect
import json
import logging
import pickle
import re
import textwrap
import uuid
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_support import RecordingClient, spy
from llama_index.core.schema import MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index_conformance import (
    CORPUS,
    LlamaIndexVectorStoreConformance,
    ask,
    corpus_nodes,
    ids_of,
    unit,
)
from qdrant_client import AsyncQdrantClient, QdrantClient, models

import qdrant_aio.llama_index as adapter
from qdrant_aio import (
    ConfigurationError,
    DimensionMismatchError,
    InvalidInputError,
    PointInput,
    QdrantEngine,
    UnsupportedClientError,
)
from qdrant_aio.engine import engine_for
from qdrant_aio.llama_index import QdrantVectorStore
from qdrant_aio.transport import EmbeddedTransport


def new_name() -> str:
    return f"li-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------- every connection kind


class TestWithEngine(LlamaIndexVectorStoreConformance):
    @pytest.fixture
    def vector_store(self) -> Iterator[QdrantVectorStore]:
        engine = QdrantEngine()
        yield QdrantVectorStore(new_name(), engine=engine, enable_hybrid=True)
        engine.close()


class TestWithSyncClient(LlamaIndexVectorStoreConformance):
    @pytest.fixture
    def vector_store(self) -> Iterator[QdrantVectorStore]:
        client = QdrantClient(":memory:")
        yield QdrantVectorStore(new_name(), client=client, enable_hybrid=True)
        engine_for(client).close()


class TestWithAsyncClient(LlamaIndexVectorStoreConformance):
    @pytest.fixture
    def vector_store(self) -> Iterator[QdrantVectorStore]:
        aclient = AsyncQdrantClient(":memory:")
        yield QdrantVectorStore(new_name(), aclient=aclient, enable_hybrid=True)
        engine_for(aclient).close()


class TestWithBothClients(LlamaIndexVectorStoreConformance):
    @pytest.fixture
    def vector_store(self) -> Iterator[QdrantVectorStore]:
        client, aclient = QdrantClient(":memory:"), AsyncQdrantClient(":memory:")
        yield QdrantVectorStore(new_name(), client=client, aclient=aclient, enable_hybrid=True)
        engine_for(client).close()


class TestWithNothing(LlamaIndexVectorStoreConformance):
    @pytest.fixture
    def vector_store(self) -> Iterator[QdrantVectorStore]:
        store = QdrantVectorStore(new_name(), enable_hybrid=True)
        yield store
        store.close()


# ---------------------------------------------------------------------- one code path


SYNC_TWINS = {
    "add": "async_add",
    "query": "aquery",
    "delete": "adelete",
    "delete_nodes": "adelete_nodes",
    "get_nodes": "aget_nodes",
    "clear": "aclear",
    "close": "aclose",
}


def test_every_sync_method_is_a_one_line_call_of_its_coroutine() -> None:
    public_coroutines = {
        name for name, member in vars(QdrantVectorStore).items()
        if inspect.iscoroutinefunction(member) and not name.startswith("_")
    }
    assert public_coroutines == set(SYNC_TWINS.values())
    for twin, coroutine in SYNC_TWINS.items():
        source = textwrap.dedent(inspect.getsource(getattr(QdrantVectorStore, twin)))
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        statements = [
            s for s in body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ]
        assert len(statements) == 1, twin
        assert isinstance(statements[0], ast.Return), twin
        assert ast.unparse(statements[0]).startswith(f"return run_sync(self.{coroutine}("), twin


def test_public_names() -> None:
    assert set(adapter.__all__) == {"QdrantVectorStore", "SparseEncoderCallable"}


# ---------------------------------------------------------------------- connections


def recording_engine() -> tuple[QdrantEngine, RecordingClient]:
    client = RecordingClient(QdrantClient(":memory:"))
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client))  # type: ignore[arg-type]
    return engine, client


def test_constructor_does_no_io() -> None:
    engine, client = recording_engine()
    QdrantVectorStore(
        new_name(), engine=engine, enable_hybrid=True, payload_indexes={"a": "keyword"}
    )
    QdrantVectorStore(new_name(), url="http://127.0.0.1:9", api_key="k")  # nothing listens there
    assert client.calls == []
    engine.close()


def test_dense_and_sparse_config_set_the_new_collection() -> None:
    engine, client = recording_engine()
    store = QdrantVectorStore(
        "c", engine=engine, enable_hybrid=True,
        dense_config=models.VectorParams(
            size=len(corpus_nodes()[0].get_embedding()), distance=models.Distance.DOT, on_disk=True,
            hnsw_config=models.HnswConfigDiff(m=8),
        ),
        sparse_config=models.SparseVectorParams(
            index=models.SparseIndexParams(full_scan_threshold=100),
            modifier=models.Modifier.IDF,
        ),
    )
    store.add(corpus_nodes())
    (create,) = [kw for name, kw in client.calls if name == "create_collection"]
    dense = create["vectors_config"]["dense"]
    assert (dense.on_disk, dense.hnsw_config.m, dense.distance) == (True, 8, models.Distance.DOT)
    sparse = create["sparse_vectors_config"]["sparse"]
    assert sparse.modifier == models.Modifier.IDF
    assert (sparse.index.full_scan_threshold, sparse.index.on_disk) == (100, True)
    sized = QdrantVectorStore("e", engine=engine, dense_config=models.VectorParams(
        size=5, distance=models.Distance.COSINE,
    ))
    with pytest.raises(DimensionMismatchError, match="expected 5, got"):
        sized.add(corpus_nodes())  # the nodes must fit the size given
    assert not engine.collection_exists("e")
    with pytest.raises(ConfigurationError, match="datatypes"):
        QdrantVectorStore("d", engine=engine, dense_config=models.VectorParams(
            size=8, distance=models.Distance.DOT, datatype=models.Datatype.FLOAT16,
        ))
    with pytest.raises(ConfigurationError, match="sparse_idf contradicts"):
        QdrantVectorStore("d", engine=engine, enable_hybrid=True, sparse_idf=False,
                          sparse_config=models.SparseVectorParams(modifier=models.Modifier.IDF))
    engine.close()


def test_one_client_of_either_kind_serves_sync_and_async() -> None:
    for client in (QdrantClient(":memory:"), AsyncQdrantClient(":memory:")):
        store = QdrantVectorStore(new_name(), client=client)
        store.add(corpus_nodes())
        assert len(asyncio.run(store.aget_nodes())) == len(CORPUS)
        asyncio.run(store.adelete("doc-pets"))
        assert len(store.get_nodes()) == len(CORPUS) - 2
        engine_for(client).close()


def test_stores_on_one_client_share_one_engine() -> None:
    client = QdrantClient(":memory:")
    first = QdrantVectorStore(new_name(), client=client)
    second = QdrantVectorStore(new_name(), aclient=client)  # either keyword takes either kind
    assert first.engine is second.engine is engine_for(client)
    assert first.client is first.engine
    engine_for(client).close()


def test_both_embedded_clients_use_one_storage_the_sync_clients() -> None:
    client, aclient = QdrantClient(":memory:"), AsyncQdrantClient(":memory:")
    name = new_name()
    store = QdrantVectorStore(name, client=client, aclient=aclient)
    store.add(corpus_nodes())
    asyncio.run(store.async_add([TextNode(id_="extra", text="x", embedding=[0.5] * 64)]))
    assert store.engine is engine_for(client)
    assert client.count(name).count == len(CORPUS) + 1  # sync and async writes in one place
    assert not asyncio.run(aclient.collection_exists(name))
    engine_for(client).close()


def test_both_remote_clients_use_the_async_clients_engine() -> None:
    client = QdrantClient(url="http://127.0.0.1:9", check_compatibility=False)
    aclient = AsyncQdrantClient(url="http://127.0.0.1:9", check_compatibility=False)
    store = QdrantVectorStore(new_name(), client=client, aclient=aclient)
    assert store.engine is engine_for(aclient)
    assert not store.engine.embedded


def test_embedded_and_remote_client_pair_raises() -> None:
    with pytest.raises(ConfigurationError, match="different deployments"):
        QdrantVectorStore(
            new_name(), client=QdrantClient(":memory:"),
            aclient=AsyncQdrantClient(url="http://127.0.0.1:9", check_compatibility=False),
        )


def test_persistent_path(tmp_path: Path) -> None:
    folder = str(tmp_path / "qdrant")
    store = QdrantVectorStore("persisted", path=folder, enable_hybrid=True)
    store.add(corpus_nodes())
    store.close()
    reopened = QdrantVectorStore("persisted", path=folder, enable_hybrid=True)
    assert ids_of(reopened.get_nodes()) == set(CORPUS)
    assert reopened.query(ask("yeast", mode=VectorStoreQueryMode.TEXT_SEARCH)).ids == ["food-1"]
    reopened.close()


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), -float("inf"), 1e39, "x", None, Decimal("0.5"), 10**400]
)
@pytest.mark.parametrize("position", [3, 45])  # in the first chunk checked, and a later one
@pytest.mark.parametrize("kind", ["memory", "folder"])  # float32 arrays / lists handed over
async def test_a_bad_embedding_anywhere_is_refused_before_anything_is_written(
    tmp_path: Path, kind: str, position: int, bad: Any
) -> None:
    engine = QdrantEngine(path=str(tmp_path)) if kind == "folder" else QdrantEngine()
    assert engine.float32_vectors is (kind == "memory")
    store = QdrantVectorStore(new_name(), engine=engine, batch_size=8)
    nodes = [
        TextNode(id_=f"n{i}", text=f"t{i}", embedding=unit([1.0, float(i), 0.5]))
        for i in range(70)
    ]
    await store.async_add(nodes[:2])  # the collection exists: later batches could be sent early
    nodes[position].embedding[1] = bad  # not validated on assignment, as a pipeline may do
    with pytest.raises(InvalidInputError, match=f"'n{position}'"):
        await store.async_add(nodes[2:])
    assert ids_of(await store.aget_nodes()) == {"n0", "n1"}
    await engine.aclose()


async def test_node_ids_that_cannot_be_ids_are_refused_with_a_typed_error() -> None:
    engine = QdrantEngine()
    store = QdrantVectorStore(new_name(), engine=engine)
    await store.async_add([TextNode(id_="a", text="t", embedding=[1.0, 0.0])])
    with pytest.raises(InvalidInputError, match="invalid id"):
        await store.aget_nodes(node_ids=["a", 1.5])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="invalid id"):
        await store.adelete_nodes(node_ids=["a", None])  # type: ignore[list-item]
    query = VectorStoreQuery(query_embedding=[1.0, 0.0], similarity_top_k=1, node_ids=[b"a"])
    with pytest.raises(InvalidInputError, match="invalid id"):
        await store.aquery(query)
    assert ids_of(await store.aget_nodes()) == {"a"}
    await engine.aclose()


@pytest.mark.parametrize("kind", ["memory", "folder"])
async def test_empty_embeddings_are_refused_with_a_typed_error(tmp_path: Path, kind: str) -> None:
    engine = QdrantEngine(path=str(tmp_path)) if kind == "folder" else QdrantEngine()
    store = QdrantVectorStore(new_name(), engine=engine)
    with pytest.raises(InvalidInputError, match="empty"):
        await store.async_add([TextNode(id_="e", text="t", embedding=[])])
    await engine.aclose()


async def test_embeddings_sent_as_lists_are_checked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qdrant_aio.ingest as ingest

    engine = QdrantEngine(path=str(tmp_path))  # lists handed over, as to a server
    assert not engine.float32_vectors
    store = QdrantVectorStore(new_name(), engine=engine, batch_size=8)
    checked_again: list[int] = []
    monkeypatch.setattr(ingest, "_finite_total", spy(ingest._finite_total, checked_again, len))
    nodes = [TextNode(id_=f"n{i}", text=f"t{i}", embedding=unit([1.0, i, 0.5])) for i in range(30)]
    await store.async_add(nodes)
    assert checked_again == [3] * 30  # each node once: the add's own check up front stands
    assert ids_of(await store.aget_nodes()) == {f"n{i}" for i in range(30)}
    # A vector not known to be checked still is, where the engine builds the request.
    await engine.aupsert(store.collection_name, [
        PointInput("x", {}, [1.0, 2.0, 3.0]),
        PointInput("y", {}, [1.0, 2.0, 3.0], dense_finite=True),
    ])
    assert checked_again == [3] * 31
    await engine.aclose()


async def test_embeddings_reach_an_in_memory_store_as_checked_float32() -> None:
    engine = QdrantEngine()
    store = QdrantVectorStore(new_name(), engine=engine)
    nodes = [TextNode(id_=f"n{i}", text=f"t{i}", embedding=[1.0, i, 2.0]) for i in range(40)]
    await store.async_add(nodes)
    (hit,) = await engine.aretrieve(store.collection_name, ["n37"], with_vectors=True)
    assert hit.vector is not None
    stored = hit.vector["dense"] if isinstance(hit.vector, dict) else hit.vector
    assert stored == pytest.approx(unit([1.0, 37.0, 2.0]), rel=1e-6)
    await engine.aclose()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hybrid_fusion_fn": lambda *a, **k: None}, "server-side"),
        ({"fastembed_sparse_model": "prithivida/Splade_PP_en_v1"}, "fastembed"),
        ({"sparse_doc_fn": lambda texts: ([], [])}, "enable_hybrid"),
        ({"engine": QdrantEngine, "url": "http://x"}, "one connection"),
        ({"client": "CLIENT", "url": "http://x"}, "one connection"),
        ({"client": "CLIENT", "max_retries": 3}, "RetryPolicy"),
        ({"client_kwargs": {"timeout": 3}}, "url"),
        ({"api_key": "secret"}, "api_key"),
        ({"sharding_method": models.ShardingMethod.CUSTOM}, "sharding"),
        ({"shard_keys": ["a"]}, "sharding"),
        ({"batch_size": 0}, "batch_size"),
        ({"rrf_k": 0}, "rrf_k"),
        ({"distance": "hamming"}, "distance"),
        ({"dense_config": models.VectorParams(
            size=4, distance=models.Distance.COSINE,
            multivector_config=models.MultiVectorConfig(
                comparator=models.MultiVectorComparator.MAX_SIM
            ),
        )}, "multivector"),
        ({"payload_indexes": [{"field": "a"}]}, "field_name"),
        ({"stores_text": False}, "stores_text"),
    ],
)
def test_bad_options_raise_clearly(options: dict[str, Any], message: str) -> None:
    client = QdrantClient(":memory:")
    options = {k: (client if v == "CLIENT" else v) for k, v in options.items()}
    if options.get("engine") is QdrantEngine:
        options["engine"] = QdrantEngine()
    with pytest.raises(ConfigurationError, match=message):
        QdrantVectorStore(new_name(), **options)


def test_unknown_keyword_and_client_type_raise() -> None:
    with pytest.raises(TypeError, match="colection_name"):
        QdrantVectorStore(new_name(), colection_name="typo")  # type: ignore[call-arg]
    with pytest.raises(UnsupportedClientError):
        QdrantVectorStore(new_name(), client={"url": "http://x"})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- secrets and serialisation


@pytest.mark.parametrize(
    "connection",
    [
        {"url": "http://127.0.0.1:9", "api_key": "SECRET-API-KEY-1f2e3d"},
        {"url": "http://reader:SECRET-API-KEY-1f2e3d@127.0.0.1:9"},
        {"url": "http://127.0.0.1:9/?api-key=SECRET-API-KEY-1f2e3d"},
        {"location": "http://reader:SECRET-API-KEY-1f2e3d@127.0.0.1:9"},
    ],
)
def test_api_key_never_appears_in_any_serialised_form(connection: dict[str, str]) -> None:
    secret = "SECRET-API-KEY-1f2e3d"
    store = QdrantVectorStore(new_name(), **connection, client_kwargs={"timeout": 1})
    forms = [
        repr(store), str(store), json.dumps(store.to_dict()), store.to_json(),
        json.dumps(store.model_dump()), store.model_dump_json(), repr(store.engine),
        repr(store.collection_spec),
    ]
    assert all(secret not in form for form in forms)
    field = "location" if "location" in connection else "url"
    assert store.to_dict()[field].startswith("http://") and "127.0.0.1:9" in store.to_dict()[field]
    with pytest.raises(TypeError, match="pickled") as raised:
        pickle.dumps(store)
    assert secret not in str(raised.value)


def test_to_dict_from_dict_round_trip() -> None:
    store = QdrantVectorStore(
        new_name(), enable_hybrid=True, fusion="dbsf", batch_size=10, dense_vector_name="d",
        distance="dot", content_payload_key="text", metadata_payload_key="meta",
    )
    data = store.to_dict()
    assert data["class_name"] == "QdrantAioVectorStore"
    copy = QdrantVectorStore.from_dict(data)
    assert copy.to_dict() == data
    assert copy.collection_spec.distance == models.Distance.DOT
    assert copy.payload_layout == store.payload_layout
    store.close()
    copy.close()


# ---------------------------------------------------------------------- what reaches Qdrant


def test_batches_concurrency_and_payload_indexes() -> None:
    engine, client = recording_engine()
    store = QdrantVectorStore(
        new_name(), engine=engine, batch_size=3, parallel=2,
        payload_indexes=[{"field_name": "author", "field_schema": "keyword"}],
    )
    store.add([TextNode(id_=f"n{i}", text="t", embedding=[1.0, 0.0]) for i in range(10)])
    upserts = [kwargs for name, kwargs in client.calls if name == "upsert"]
    assert [len(u["points"]) for u in upserts] == [3, 3, 3, 1]
    indexes = {
        kwargs["field_name"]: kwargs["field_schema"]
        for name, kwargs in client.calls if name == "create_payload_index"
    }
    assert indexes == {"ref_doc_id": models.PayloadSchemaType.KEYWORD, "metadata.author": "keyword"}
    assert store._ingest_options().max_concurrent_upserts == 2
    engine.close()


def test_index_doc_id_false_creates_no_ref_doc_index() -> None:
    engine, client = recording_engine()
    QdrantVectorStore(new_name(), engine=engine, index_doc_id=False).add(corpus_nodes())
    assert client.count_calls("create_payload_index") == 0
    engine.close()


def test_max_retries_sets_the_created_engines_policy() -> None:
    store = QdrantVectorStore(new_name(), max_retries=2)
    assert store.engine.retry.max_attempts == 2
    store.close()


def test_hybrid_request_depths_and_fusion_options() -> None:
    engine, client = recording_engine()
    store = QdrantVectorStore(new_name(), engine=engine, enable_hybrid=True, rrf_k=7)
    store.add(corpus_nodes())
    store.query(ask("cats", mode=VectorStoreQueryMode.HYBRID, similarity_top_k=3,
                    sparse_top_k=5, hybrid_top_k=2))
    request = [kwargs for name, kwargs in client.calls if name == "query_points"][-1]
    assert [p.limit for p in request["prefetch"]] == [3, 5]
    assert request["limit"] == 2
    assert request["query"] == models.RrfQuery(rrf=models.Rrf(k=7))
    store.query(ask("cats", mode=VectorStoreQueryMode.HYBRID, alpha=0.25))
    request = [kwargs for name, kwargs in client.calls if name == "query_points"][-1]
    assert request["query"] == models.RrfQuery(rrf=models.Rrf(k=7, weights=[0.25, 0.75]))
    dbsf = QdrantVectorStore(store.collection_name, engine=engine, enable_hybrid=True,
                             fusion="dbsf")
    result = dbsf.query(ask("yeast ferments", mode=VectorStoreQueryMode.HYBRID))
    request = [kwargs for name, kwargs in client.calls if name == "query_points"][-1]
    assert request["query"] == models.FusionQuery(fusion=models.Fusion.DBSF)
    assert (result.ids or [""])[0] == "food-1"
    engine.close()


def test_mmr_candidates() -> None:
    engine, client = recording_engine()
    store = QdrantVectorStore(new_name(), engine=engine)
    store.add(corpus_nodes())
    for options, candidates in (({}, 8), ({"mmr_prefetch_k": 5}, 5),
                                ({"mmr_prefetch_factor": 3}, 6)):
        store.query(ask("cats", mode=VectorStoreQueryMode.MMR, similarity_top_k=2,
                        mmr_threshold=0.3), **options)
        request = [kwargs for name, kwargs in client.calls if name == "query_points"][-1]
        assert request["query"].mmr == models.Mmr(diversity=0.7, candidates_limit=candidates)
    engine.close()


def test_vector_names_and_distance_of_a_new_collection() -> None:
    client = QdrantClient(":memory:")
    name = new_name()
    store = QdrantVectorStore(
        name, client=client, enable_hybrid=True, dense_vector_name="text-dense",
        sparse_vector_name="text-sparse-new", distance="dot",
    )
    store.add(corpus_nodes())
    params = client.get_collection(name).config.params
    assert set(params.vectors) == {"text-dense"}  # type: ignore[arg-type]
    assert params.vectors["text-dense"].distance == models.Distance.DOT  # type: ignore[index]
    assert set(params.sparse_vectors or {}) == {"text-sparse-new"}
    assert (params.sparse_vectors or {})["text-sparse-new"].modifier == models.Modifier.IDF
    default = QdrantVectorStore(new_name(), client=client, enable_hybrid=True)
    default.add(corpus_nodes())
    params = client.get_collection(default.collection_name).config.params
    assert set(params.vectors) == {"dense"}  # type: ignore[arg-type]
    assert set(params.sparse_vectors or {}) == {"sparse"}
    engine_for(client).close()


def word_sparse(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """llama-index's sparse function signature: one (indices, values) pair per text."""
    indices, values = [], []
    for text in texts:
        words = sorted(
            {zlib.crc32(w.encode()) % 2**20 for w in re.findall(r"[a-z]+", text.lower())}
        )
        indices.append(words)
        values.append([1.0] * len(words))
    return indices, values


def test_user_sparse_functions_are_used_for_documents_and_queries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="qdrant_aio")
    client = QdrantClient(":memory:")
    calls: list[list[str]] = []

    def doc_fn(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        calls.append(texts)
        return word_sparse(texts)

    store = QdrantVectorStore(new_name(), client=client, enable_hybrid=True, sparse_doc_fn=doc_fn)
    store.add(corpus_nodes())
    (hit,) = store.engine.retrieve(store.collection_name, ["food-1"], with_vectors=True)
    food = next(n for n in corpus_nodes() if n.node_id == "food-1")
    expected = word_sparse([food.get_content(metadata_mode=MetadataMode.EMBED)])
    assert hit.vector["sparse"].indices == expected[0][0]
    params = client.get_collection(store.collection_name).config.params
    assert (params.sparse_vectors or {})["sparse"].modifier is None  # user weights: no IDF
    result = store.query(ask("yeast", mode=VectorStoreQueryMode.SPARSE))
    assert result.ids == ["food-1"]
    assert calls[-1] == ["yeast"]  # the doc function also encodes queries when alone
    # A store of user weights created its sparse vector without IDF, and expects none.
    assert not [r for r in caplog.records if "IDF" in r.getMessage()]
    engine_for(client).close()


# ---------------------------------------------------------------------- the public package


def legacy_nodes() -> list[TextNode]:
    texts = ["alpha rocket launch", "beta garden roses", "gamma rocket fuel",
             "delta garden soil", "epsilon ocean waves", "zeta rocket orbit"]
    return [
        TextNode(
            id_=str(uuid.uuid5(uuid.NAMESPACE_DNS, f"legacy-{i}")),
            text=text,
            metadata={"i": i, "tag": "odd" if i % 2 else "even", "tags": [text.split()[1]]},
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc-{i % 3}")},
            embedding=[1.0, i / 10, 0.0],
            excluded_llm_metadata_keys=["i"],
        )
        for i, text in enumerate(texts)
    ]


@pytest.fixture(params=[False, True], ids=["dense", "hybrid"])
def legacy_collection(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[QdrantClient, str, dict[str, Any]]]:
    """A collection written by llama-index-vector-stores-qdrant 0.10.4, with and without hybrid."""
    from llama_index.vector_stores.qdrant import QdrantVectorStore as PublicStore

    client = QdrantClient(":memory:")
    name = new_name()
    options: dict[str, Any] = {}
    if request.param:
        options = {"enable_hybrid": True, "sparse_doc_fn": word_sparse,
                   "sparse_query_fn": word_sparse}
    PublicStore(collection_name=name, client=client, **options).add(legacy_nodes())
    yield client, name, options
    engine_for(client).close()


def test_reads_a_collection_of_the_public_package(
    legacy_collection: tuple[QdrantClient, str, dict[str, Any]],
) -> None:
    client, name, options = legacy_collection
    vectors = client.get_collection(name).config.params.vectors
    if options:
        assert set(vectors) == {"text-dense"}  # type: ignore[arg-type]
    else:
        assert isinstance(vectors, models.VectorParams)  # unnamed
    store = QdrantVectorStore(name, client=client, **options)
    originals = {n.node_id: n for n in legacy_nodes()}
    result = store.query(VectorStoreQuery(query_embedding=[1.0, 0.5, 0.0], similarity_top_k=6))
    assert set(result.ids or []) == set(originals)
    for node in result.nodes or []:
        original = originals[node.node_id]
        assert node.model_dump(exclude={"embedding"}) == original.model_dump(exclude={"embedding"})
        assert node.ref_doc_id == original.ref_doc_id
    got = store.get_nodes()
    assert ids_of(got) == set(originals)
    for node in got:  # Qdrant stores cosine vectors normalised
        assert node.embedding == pytest.approx(unit(originals[node.node_id].embedding or []))


def test_filters_and_doc_ids_on_a_collection_of_the_public_package(
    legacy_collection: tuple[QdrantClient, str, dict[str, Any]],
) -> None:
    client, name, options = legacy_collection
    store = QdrantVectorStore(name, client=client, **options)
    by_i = {n.metadata["i"]: n.node_id for n in legacy_nodes()}
    odd = MetadataFilters(filters=[MetadataFilter(key="tag", value="odd")])
    assert ids_of(store.get_nodes(filters=odd)) == {by_i[1], by_i[3], by_i[5]}
    big = MetadataFilters(filters=[
        MetadataFilter(key="i", operator=FilterOperator.GTE, value=3),
        MetadataFilter(key="tags", operator=FilterOperator.CONTAINS, value="rocket"),
    ])
    assert ids_of(store.get_nodes(filters=big)) == {by_i[5]}
    query = VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=6,
                             doc_ids=["doc-0"], filters=odd)
    assert set(asyncio.run(store.aquery(query)).ids or []) == {by_i[3]}
    assert ids_of(store.get_nodes(node_ids=[by_i[0], by_i[1]], filters=odd)) == {by_i[1]}


def test_deletes_on_a_collection_of_the_public_package(
    legacy_collection: tuple[QdrantClient, str, dict[str, Any]],
) -> None:
    client, name, options = legacy_collection
    store = QdrantVectorStore(name, client=client, **options)
    by_i = {n.metadata["i"]: n.node_id for n in legacy_nodes()}
    store.delete("doc-1")
    assert ids_of(store.get_nodes()) == {by_i[i] for i in (0, 2, 3, 5)}
    asyncio.run(store.adelete_nodes(filters=MetadataFilters(
        filters=[MetadataFilter(key="tag", value="even")]
    )))
    assert ids_of(store.get_nodes()) == {by_i[3], by_i[5]}


def test_writes_into_a_collection_of_the_public_package_keep_its_layout(
    legacy_collection: tuple[QdrantClient, str, dict[str, Any]],
) -> None:
    from llama_index.vector_stores.qdrant import QdrantVectorStore as PublicStore

    client, name, options = legacy_collection
    store = QdrantVectorStore(name, client=client, **options)
    new = TextNode(id_=str(uuid.uuid4()), text="eta rocket", metadata={"tag": "new"},
                   embedding=[0.0, 1.0, 0.0],
                   relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-9")})
    store.add([new])
    public = PublicStore(collection_name=name, client=client, **options)
    tagged_new = MetadataFilters(filters=[MetadataFilter(key="tag", value="new")])
    found = public.get_nodes(filters=tagged_new)
    assert [n.node_id for n in found] == [new.node_id]
    assert found[0].get_content() == "eta rocket" and found[0].ref_doc_id == "doc-9"
    store.delete("doc-9")
    assert public.get_nodes(node_ids=[new.node_id]) == []


def test_hybrid_search_on_a_collection_of_the_public_package() -> None:
    from llama_index.vector_stores.qdrant import QdrantVectorStore as PublicStore

    client = QdrantClient(":memory:")
    name = new_name()
    options = {"enable_hybrid": True, "sparse_doc_fn": word_sparse, "sparse_query_fn": word_sparse}
    PublicStore(collection_name=name, client=client, **options).add(legacy_nodes())
    store = QdrantVectorStore(name, client=client, **options)
    by_i = {n.metadata["i"]: n.node_id for n in legacy_nodes()}
    sparse = store.query(VectorStoreQuery(query_str="ocean", mode=VectorStoreQueryMode.SPARSE,
                                          similarity_top_k=3))
    assert sparse.ids == [by_i[4]]
    hybrid = store.query(VectorStoreQuery(
        query_embedding=[1.0, 0.4, 0.0], query_str="ocean waves",
        mode=VectorStoreQueryMode.HYBRID, similarity_top_k=1, sparse_top_k=1,
    ))
    assert hybrid.ids == [by_i[4]]  # first in both branches
    engine_for(client).close()


class AddServer:
    """A Qdrant REST API for a first add to a missing collection, through httpx's
    MockTransport; the layout probe's scroll is answered only once ``release`` is set."""

    def __init__(self, legacy_points: bool = False) -> None:
        self.events: list[str] = []
        self.release = asyncio.Event()
        self.legacy_points = legacy_points  # the collection exists, written by the other package
        self.upserted: list[dict[str, Any]] = []

    async def handle(self, request: Any) -> Any:
        import httpx

        path, method = request.url.path, request.method
        ok = {"operation_id": 1, "status": "completed"}
        if path.endswith("/points/scroll"):
            self.events.append("probe sent")
            await self.release.wait()
            self.events.append("probe answered")
            if not self.legacy_points:
                return httpx.Response(404, json={"status": {"error": "Not found"}, "time": 0})
            point = {"id": str(uuid.uuid4()), "payload": {"text": "t", "doc_id": "d",
                                                           "_node_content": "{}"}}
            return self._ok({"points": [point], "next_page_offset": None})
        if method == "GET" and path == "/collections/c":
            if not self.legacy_points:
                return httpx.Response(404, json={"status": {"error": "Not found"}, "time": 0})
            info = QdrantClient(":memory:")
            info.create_collection("c", vectors_config=models.VectorParams(
                size=2, distance=models.Distance.COSINE))
            from pydantic_core import to_jsonable_python

            return self._ok(to_jsonable_python(info.get_collection("c"), exclude_none=True))
        if method == "PUT" and path == "/collections/c":
            self.events.append("created")
            return self._ok(True)
        if method == "PUT" and path == "/collections/c/index":
            return self._ok(ok)
        if method == "PUT" and path == "/collections/c/points":
            self.upserted += json.loads(request.content)["points"]
            return self._ok(ok)
        return httpx.Response(404, json={"status": {"error": f"not here: {path}"}, "time": 0})

    @staticmethod
    def _ok(result: Any) -> Any:
        import httpx

        return httpx.Response(200, json={"result": result, "status": "ok", "time": 0.0})


def add_server_store(server: AddServer) -> tuple[QdrantVectorStore, AsyncQdrantClient]:
    import httpx

    client = AsyncQdrantClient(
        url="http://qdrant.invalid:6333", transport=httpx.MockTransport(server.handle),
        check_compatibility=False,
    )
    return QdrantVectorStore("c", aclient=client), client


def released_on_first_check(
    server: AddServer, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The probe's answer waits for the first node checked (through ``adapter.<name>``): an
    add that checked only after the answer would wait forever."""
    original = getattr(adapter, name)

    def checking(*args: Any, **kwargs: Any) -> Any:
        if not server.release.is_set():
            server.events.append("node checked")
            server.release.set()
        return original(*args, **kwargs)

    monkeypatch.setattr(adapter, name, checking)


async def test_a_first_add_checks_its_nodes_while_the_layout_probe_is_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = AddServer()
    released_on_first_check(server, monkeypatch, "node_extras")
    store, client = add_server_store(server)
    nodes = [TextNode(id_=f"n{i}", text=f"t{i}", embedding=[1.0, float(i)]) for i in range(40)]
    assert await asyncio.wait_for(store.async_add(nodes), 10) == [n.node_id for n in nodes]
    order = server.events.index
    assert order("node checked") < order("probe answered") < order("created")
    assert sorted(p["payload"]["page_content"] for p in server.upserted) == sorted(
        n.text for n in nodes
    )
    await store.aclose()
    await client.close()


async def test_nodes_checked_for_the_wrong_layout_are_checked_again_for_the_right_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The collection turns out to hold llama-index-vector-stores-qdrant's points: the check
    # made for this package's layout meanwhile is dropped, and the nodes are checked and
    # written in that layout (flat metadata, as it writes them).
    server = AddServer(legacy_points=True)
    released_on_first_check(server, monkeypatch, "node_extras")
    store, client = add_server_store(server)
    nodes = [
        TextNode(id_=f"n{i}", text=f"t{i}", embedding=[1.0, float(i)], metadata={"k": i})
        for i in range(5)
    ]
    await asyncio.wait_for(store.async_add(nodes), 10)
    assert "created" not in server.events
    assert sorted(p["payload"]["k"] for p in server.upserted) == list(range(5))
    assert all("metadata" not in p["payload"] for p in server.upserted)
    # Once the layout is known, a bad node is still refused before anything is written.
    server.upserted.clear()
    bad = TextNode(id_="bad", text="t", embedding=[1.0, float("nan")])
    with pytest.raises(InvalidInputError, match="'bad'"):
        await asyncio.wait_for(store.async_add([*nodes, bad]), 10)
    assert server.upserted == []
    await store.aclose()
    await client.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"source_metadata": {"n": 2**70}},
        {"source_metadata": {"deep": functools.reduce(lambda inner, _: [inner], range(120), [])}},
        {"node_id": "broken \udc80 id"},
    ],
    ids=["big integer in a relationship", "deep nesting in a relationship", "lone surrogate id"],
)
async def test_a_node_that_qdrant_could_not_keep_is_refused_before_anything_is_written(
    bad: dict[str, Any],
) -> None:
    engine = QdrantEngine()
    store = QdrantVectorStore(new_name(), engine=engine, batch_size=2)
    nodes = [TextNode(id_=f"n{i}", text=f"t{i}", embedding=[1.0, float(i)]) for i in range(9)]
    source = RelatedNodeInfo(node_id="doc", metadata=bad.get("source_metadata", {}))
    nodes[7] = TextNode(
        id_=bad.get("node_id", "n7"), text="t7", embedding=[1.0, 7.0],
        relationships={NodeRelationship.SOURCE: source},
    )
    with pytest.raises(InvalidInputError, match="node"):
        await store.async_add(nodes)
    assert await store.aget_nodes() == []
    await engine.aclose()


def test_parse_to_query_result_reads_points_of_any_layout_with_their_embedding() -> None:
    store = QdrantVectorStore(new_name())
    flat = models.ScoredPoint(
        id=7, version=0, score=0.5, vector={"": [1.0, 2.0, 3.0]}, payload={"text": "Hello"}
    )
    named = models.Record(id=8, vector={"text-dense": [1.0, 2.0]}, payload={"text": "named"})
    result = store.parse_to_query_result([flat, named])
    assert result.ids == ["7", "8"] and result.similarities == [0.5, 0.0]
    assert [n.get_content() for n in result.nodes or []] == ["Hello", "named"]
    assert [n.embedding for n in result.nodes or []] == [[1.0, 2.0, 3.0], [1.0, 2.0]]
    store.close()
    client = QdrantClient(":memory:")
    store = QdrantVectorStore(new_name(), client=client)
    store.add(corpus_nodes())
    records, _ = client.scroll(store.collection_name, limit=100, with_vectors=True)
    ours = store.parse_to_query_result(records)
    stored = {n.node_id: (n.get_content(), n.metadata, n.embedding) for n in store.get_nodes()}
    assert {n.node_id: (n.get_content(), n.metadata, n.embedding) for n in ours.nodes or []} == (
        stored
    )
    engine_for(client).close()


def test_an_empty_client_kwargs_is_accepted_with_a_client() -> None:
    client = QdrantClient(":memory:")
    store = QdrantVectorStore(new_name(), client=client, client_kwargs={})
    assert store.engine is engine_for(client)
    with pytest.raises(ConfigurationError, match="one connection"):
        QdrantVectorStore(new_name(), client=client, client_kwargs={"timeout": 3})
    engine_for(client).close()
