"""QdrantEngine on the embedded store: collections, upserts, queries, reads, deletes."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest
from engine_support import RecordingClient, http_error, spy, unit_vector
from qdrant_client import QdrantClient, models

from qdrant_aio import (
    CollectionMismatchError,
    CollectionNotFoundError,
    CollectionSpec,
    DimensionMismatchError,
    IngestError,
    IngestOptions,
    InvalidInputError,
    PointInput,
    QdrantEngine,
    QdrantRequestError,
    RetryPolicy,
    SearchRequest,
)
from qdrant_aio.ids import ID_NAMESPACE, canonical_uuid_ids, point_id_for
from qdrant_aio.sparse import Bm25Encoder
from qdrant_aio.transport import EmbeddedTransport

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.0, max_backoff=0.0)


def points(n: int, prefix: str = "doc", dim: int = 8) -> list[PointInput]:
    return [
        PointInput(
            id=f"{prefix}-{i}",
            payload={"page_content": f"text {i}", "metadata": {"i": i, "even": i % 2 == 0}},
            dense=unit_vector(f"{prefix}-{i}", dim),
        )
        for i in range(n)
    ]


def recording_engine(**kwargs: Any) -> tuple[QdrantEngine, RecordingClient]:
    client = RecordingClient(QdrantClient(":memory:"))
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client), **kwargs)  # type: ignore[arg-type]
    return engine, client


async def test_lazy_creation_and_round_trip(engine: QdrantEngine) -> None:
    assert not await engine.acollection_exists("c")
    ids = await engine.aupsert("c", points(10))
    assert ids == [f"doc-{i}" for i in range(10)]
    assert await engine.acollection_exists("c")
    assert await engine.acount("c") == 10
    hits = await engine.aquery("c", SearchRequest(dense=unit_vector("doc-3"), limit=3))
    assert hits[0].id == "doc-3"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].payload == {"page_content": "text 3", "metadata": {"i": 3, "even": False}}
    got = await engine.aretrieve("c", ["doc-7", "missing", "doc-1"])
    assert [h.id for h in got] == ["doc-7", "doc-1"]


async def test_named_vectors_for_new_collections(engine: QdrantEngine) -> None:
    await engine.aupsert("c", points(1))
    info = await engine._call("get_collection", collection_name="c")
    assert set(info.config.params.vectors) == {"dense"}
    assert info.config.params.vectors["dense"].distance == models.Distance.COSINE


async def test_string_ids_map_to_uuid5_and_round_trip(engine: QdrantEngine) -> None:
    canonical = str(uuid.uuid4())
    ids = ["foo", "42", canonical, "Ünïcode id 🚀", "007", uuid.uuid4().hex]
    inputs = [PointInput(id=i, payload={"k": i}, dense=unit_vector(i)) for i in ids]
    await engine.aupsert("c", inputs)
    got = await engine.aretrieve("c", ids)
    assert [h.id for h in got] == ids
    assert [h.payload for h in got] == [{"k": i} for i in ids]  # no bookkeeping keys leak
    assert point_id_for("foo") == str(uuid.uuid5(ID_NAMESPACE, "foo"))
    assert point_id_for("42") == 42
    assert point_id_for(canonical) == canonical
    assert point_id_for("007") != 7
    # Other spellings of a UUID address the same point, as in Qdrant itself.
    assert point_id_for(canonical.replace("-", "")) == canonical
    assert point_id_for(canonical.upper()) == canonical
    await engine.aupsert("c", [PointInput(canonical.upper(), {"k": "upper"}, unit_vector("u"))])
    assert await engine.acount("c") == len(ids)
    (hit,) = await engine.aretrieve("c", [canonical])
    assert hit.id == canonical.upper() and hit.payload == {"k": "upper"}


def test_canonical_uuid_shortcut_agrees_with_parsing() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        value = uuid.UUID(int=rng.getrandbits(128))
        for spelling in (str(value), str(value).upper(), value.hex, "{" + str(value) + "}"):
            assert point_id_for(spelling) == str(value)
    for near_miss in ("0" * 8 + "-0000-0000-0000-00000000000g", "0" * 36, str(uuid.uuid4()) + "\n"):
        assert point_id_for(near_miss) == str(uuid.uuid5(ID_NAMESPACE, near_miss))


def test_a_list_of_canonical_uuids_is_taken_as_it_is_and_nothing_else_is() -> None:
    rng = random.Random(5)
    canonical = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(300)]
    assert canonical_uuid_ids(canonical) == canonical
    assert canonical_uuid_ids(canonical) == [point_id_for(i) for i in canonical]
    first, second = canonical[:2]
    for other in (
        first.upper(), first.replace("-", ""), "42", "foo", "", first + "\n",
        first + "\n" + second,  # two UUIDs in one id
    ):
        assert canonical_uuid_ids([*canonical[:3], other]) is None, other
    assert canonical_uuid_ids([first + "\n" + second, ""]) is None
    assert canonical_uuid_ids([first, 7]) is None
    assert canonical_uuid_ids([]) is None  # nothing to take: made one by one (none)


async def test_point_ids_of_any_list_are_each_ids_point() -> None:
    rng = random.Random(6)
    canonical = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(600)]
    engine = QdrantEngine()
    for ids in (canonical, [*canonical[:300], "foo", 42, canonical[0].upper()]):
        assert await engine.apoint_ids(ids) == [point_id_for(i) for i in ids]
    with pytest.raises(InvalidInputError):
        await engine.apoint_ids([*canonical, 1.5])  # type: ignore[list-item]
    await engine.aclose()


def test_prepared_points_are_what_model_construct_builds() -> None:
    from qdrant_aio import ingest

    assert ingest._point_struct is ingest._point_struct_direct  # the shortcut is in use
    vector = {"dense": [0.25, 0.5], "sparse": models.SparseVector(indices=[1], values=[2.0])}
    payload = {"page_content": "t", "metadata": {"a": [1, {"b": None}]}}
    built = ingest._point_struct(str(uuid.uuid4()), vector, payload)
    reference = models.PointStruct.model_construct(id=built.id, vector=vector, payload=payload)
    assert built == reference
    assert built.model_dump_json() == reference.model_dump_json()
    assert built.model_fields_set == reference.model_fields_set
    built.payload = {"changed": True}  # its own fields set: one point's change stays there
    assert ingest._point_struct("x", [1.0], {}).model_fields_set == {"id", "vector", "payload"}


async def test_readding_an_id_overwrites(engine: QdrantEngine) -> None:
    await engine.aupsert("c", [PointInput("x", {"v": 1}, unit_vector("a"))])
    await engine.aupsert("c", [PointInput("x", {"v": 2}, unit_vector("b"))])
    assert await engine.acount("c") == 1
    assert (await engine.aretrieve("c", ["x"]))[0].payload == {"v": 2}


async def test_duplicate_ids_in_one_call_last_wins(engine: QdrantEngine) -> None:
    ids = await engine.aupsert(
        "c",
        [
            PointInput("x", {"v": 1}, unit_vector("a")),
            PointInput("y", {"v": 0}, unit_vector("c")),
            PointInput("x", {"v": 2}, unit_vector("b")),
        ],
    )
    assert ids == ["y", "x"]
    assert (await engine.aretrieve("c", ["x"]))[0].payload == {"v": 2}


async def test_empty_input_sends_nothing() -> None:
    engine, client = recording_engine()
    assert await engine.aupsert("c", []) == []
    assert client.calls == []
    assert not await engine.acollection_exists("c")
    await engine.aclose()


async def test_unnamed_vector_collection_is_readable_and_writable() -> None:
    raw = QdrantClient(":memory:")
    raw.create_collection("legacy", vectors_config=models.VectorParams(size=8, distance="Cosine"))
    raw.upsert("legacy", [models.PointStruct(id=1, vector=unit_vector("one"), payload={"a": 1})])
    engine = QdrantEngine.from_client(raw)
    await engine.aupsert("legacy", [PointInput("two", {"a": 2}, unit_vector("two"))])
    hits = await engine.aquery("legacy", SearchRequest(dense=unit_vector("two"), limit=2))
    assert [h.id for h in hits] == ["two", "1"]
    assert await engine.acount("legacy") == 2
    await engine.aclose()
    raw.close()


async def test_existing_collection_mismatch_names_expected_and_actual(engine: QdrantEngine) -> None:
    await engine.aupsert("c", points(1))
    with pytest.raises(DimensionMismatchError):
        await engine.aupsert("c", [PointInput("z", {}, [0.1] * 5)])
    other = QdrantEngine.from_client(QdrantClient(":memory:"))
    await other.aupsert("c", points(1))
    with pytest.raises(CollectionMismatchError, match="distance.*Euclid.*Cosine"):
        await other.aensure_collection(
            "c", CollectionSpec(distance=models.Distance.EUCLID), dense_size=8
        )
    with pytest.raises(CollectionMismatchError, match="dense vector size.*16.*8"):
        await other.aensure_collection("c", CollectionSpec(), dense_size=16)
    with pytest.raises(CollectionMismatchError, match="dense vector name.*text-dense"):
        await other.aensure_collection("c", CollectionSpec(vector_name="text-dense"))
    with pytest.raises(CollectionMismatchError, match="sparse vector"):
        await other.aensure_collection("c", CollectionSpec(sparse=True))
    await other.aclose()


async def test_validated_once_and_cached() -> None:
    engine, client = recording_engine()
    await engine.aupsert("c", points(3))
    for _ in range(5):
        await engine.aquery("c", SearchRequest(dense=unit_vector("q")))
    assert client.count_calls("get_collection") == 1
    assert client.count_calls("create_collection") == 1
    await engine.aclose()


async def test_concurrent_first_writes_create_once() -> None:
    engine, client = recording_engine()
    await asyncio.gather(*(engine.aupsert("c", points(5, prefix=f"w{k}")) for k in range(10)))
    assert client.count_calls("create_collection") == 1
    assert await engine.acount("c") == 50
    await engine.aclose()


async def test_pass_through_options_reach_create_collection() -> None:
    engine, client = recording_engine()
    spec = CollectionSpec(
        on_disk=True,
        hnsw_config=models.HnswConfigDiff(m=32),
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8)
        ),
        shard_number=2,
        replication_factor=2,
        write_consistency_factor=1,
        payload_indexes={"metadata.i": models.PayloadSchemaType.INTEGER},
    )
    await engine.acreate_collection("c", spec, dense_size=8)
    (create,) = [kw for name, kw in client.calls if name == "create_collection"]
    assert create["shard_number"] == 2
    assert create["replication_factor"] == 2
    assert create["write_consistency_factor"] == 1
    dense = create["vectors_config"]["dense"]
    assert dense.on_disk is True and dense.hnsw_config.m == 32
    assert dense.quantization_config is not None
    (index,) = [kw for name, kw in client.calls if name == "create_payload_index"]
    assert index["field_name"] == "metadata.i"
    await engine.acreate_collection("c", spec, dense_size=8, force_recreate=True)
    assert client.count_calls("delete_collection") == 1
    assert client.count_calls("create_collection") == 2
    await engine.aclose()


NAMED_8 = {"dense": models.VectorParams(size=8, distance=models.Distance.COSINE)}


async def made_elsewhere_after_lookup(vectors: Any) -> tuple[QdrantEngine, RecordingClient]:
    """An engine whose lookup found collection "c" missing; "c" then made by someone else."""
    engine, client = recording_engine()
    await engine.aprefetch_collection("c")
    client._inner.create_collection("c", vectors_config=vectors)
    return engine, client


async def test_a_collection_found_missing_ahead_is_created_without_asking_again() -> None:
    engine, client = recording_engine()
    await engine.aprefetch_collection("c")
    assert client.count_calls("get_collection") == 1
    await engine.aupsert("c", points(5))
    assert client.count_calls("get_collection") == 1  # the note stood in for a second lookup
    assert client.count_calls("create_collection") == 1
    assert await engine.acount("c") == 5
    await engine.aclose()


async def test_a_collection_found_ahead_is_not_looked_up_again() -> None:
    engine, client = recording_engine()
    client._inner.create_collection(
        "c", vectors_config={"dense": models.VectorParams(size=8, distance=models.Distance.DOT)}
    )
    await engine.aprefetch_collection("c")
    await engine.aupsert("c", points(5))
    assert client.count_calls("get_collection") == 1
    assert client.count_calls("create_collection") == 0
    assert await engine.acount("c") == 5
    await engine.aclose()


async def test_a_collection_created_by_someone_else_after_the_lookup_is_used_as_it_is() -> None:
    # Missing at the lookup, made since by another process with one unnamed vector: our own
    # create fails, and the writes go to the collection as it is (named vectors would not).
    engine, client = await made_elsewhere_after_lookup(
        models.VectorParams(size=8, distance=models.Distance.COSINE)
    )
    await engine.aupsert("c", points(5))
    assert client.count_calls("create_collection") == 1
    assert await engine.acount("c") == 5
    (stored,) = client._inner.retrieve("c", [point_id_for("doc-0")], with_vectors=True)
    assert isinstance(stored.vector, list) and len(stored.vector) == 8
    await engine.aclose()


async def test_a_read_does_not_trust_a_collection_found_missing_earlier() -> None:
    engine, client = await made_elsewhere_after_lookup(NAMED_8)
    assert await engine.aquery("c", SearchRequest(dense=unit_vector("q"), limit=3)) == []
    assert client.count_calls("create_collection") == 0
    await engine.aclose()


async def test_a_failed_create_of_a_missing_collection_raises_its_own_error() -> None:
    engine, client = recording_engine(retry=FAST_RETRY)
    client.fail_next["create_collection"] = [http_error(400)]
    with pytest.raises(QdrantRequestError, match="create_collection"):
        await engine.aupsert("c", points(3))
    assert client.count_calls("get_collection") == 2  # the lookup, and the check after the failure
    assert not client._inner.collection_exists("c")
    assert await engine.aupsert("c", points(3)) == [f"doc-{i}" for i in range(3)]
    await engine.aclose()


async def test_a_failed_create_keeps_its_error_when_the_lookup_after_it_fails_too() -> None:
    engine, client = recording_engine(retry=FAST_RETRY)
    await engine.aprefetch_collection("c")
    client.fail_next["create_collection"] = [http_error(400)]
    client.fail_next["get_collection"] = [http_error(503)] * FAST_RETRY.max_attempts
    with pytest.raises(QdrantRequestError, match="create_collection"):
        await engine.aupsert("c", points(3))
    assert not client.fail_next["get_collection"]  # the lookup after the failure was tried
    await engine.aclose()


async def test_payload_indexes_are_made_when_our_own_create_lost_its_answer() -> None:
    engine, client = recording_engine(retry=FAST_RETRY)

    def answer_lost_once(create: Any) -> Any:
        def created(*args: Any, **kwargs: Any) -> Any:
            result = create(*args, **kwargs)  # it takes effect ...
            if client.count_calls("create_collection") == 1:
                raise http_error(503)  # ... but the first answer is lost
            return result

        return created

    client.around["create_collection"] = answer_lost_once
    spec = CollectionSpec(payload_indexes={"metadata.i": models.PayloadSchemaType.INTEGER})
    await engine.aupsert("c", points(3), spec)
    # The retried create was refused (it exists), and the collection was looked up and used.
    assert client.count_calls("create_collection") == 2
    (index,) = [kw for name, kw in client.calls if name == "create_payload_index"]
    assert index["field_name"] == "metadata.i"
    assert await engine.acount("c") == 3
    await engine.aclose()


async def test_a_collection_someone_else_made_gets_only_the_indexes_it_lacks() -> None:
    engine, client = await made_elsewhere_after_lookup(NAMED_8)

    def indexed_by_its_owner(get_collection: Any) -> Any:
        """Reports ``metadata.i`` indexed (keyword), as a server would; local mode keeps none."""

        def info(*args: Any, **kwargs: Any) -> Any:
            keyword = models.PayloadIndexInfo(data_type=models.PayloadSchemaType.KEYWORD, points=0)
            found = get_collection(*args, **kwargs)
            return found.model_copy(update={"payload_schema": {"metadata.i": keyword}})

        return info

    client.around["get_collection"] = indexed_by_its_owner
    spec = CollectionSpec(payload_indexes={
        "metadata.i": models.PayloadSchemaType.INTEGER,  # indexed otherwise by its owner
        "metadata.even": models.PayloadSchemaType.BOOL,
    })
    await engine.aupsert("c", points(3), spec)
    sent = [kw["field_name"] for name, kw in client.calls if name == "create_payload_index"]
    assert sent == ["metadata.even"]
    await engine.aclose()


async def test_a_collection_someone_else_made_otherwise_is_left_untouched() -> None:
    engine, client = await made_elsewhere_after_lookup(
        {"theirs": models.VectorParams(size=4, distance=models.Distance.DOT)}
    )
    spec = CollectionSpec(payload_indexes={"metadata.i": models.PayloadSchemaType.INTEGER})
    with pytest.raises(DimensionMismatchError):  # reported by the add, as before
        await engine.aupsert("c", points(3), spec)
    assert client.count_calls("create_payload_index") == 0
    assert client._inner.count("c").count == 0
    await engine.aclose()


async def test_a_refusal_of_any_kind_looks_the_collection_up() -> None:
    engine, client = await made_elsewhere_after_lookup(NAMED_8)

    def refused(create: Any) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("StatusCode.ALREADY_EXISTS")  # no kind the engine maps (gRPC)

        return refuse

    client.around["create_collection"] = refused
    await engine.aupsert("c", points(3))
    assert await engine.acount("c") == 3
    with pytest.raises(RuntimeError, match="ALREADY_EXISTS"):  # and when it is missing indeed
        await engine.aupsert("d", points(3))
    await engine.aclose()


async def test_a_call_that_cannot_create_looks_even_with_a_note_that_it_is_missing() -> None:
    # Noted missing by an add that then failed; made since by someone else.
    engine, client = await made_elsewhere_after_lookup(
        {"dense": models.VectorParams(size=8, distance=models.Distance.DOT)}
    )
    # As from_existing_collection asks: create allowed, but no size to create with.
    layout = await engine.aensure_collection("c", CollectionSpec())
    assert layout.dense_size == 8
    await engine.aclose()


async def test_a_not_found_answer_elsewhere_keeps_the_note() -> None:
    engine, client = recording_engine()
    await engine.aprefetch_collection("c")
    # The layout probe's scroll of the missing collection (a 404, answered after the lookup's).
    assert await engine.ascroll("c", limit=1) == ([], None)
    assert client.count_calls("scroll") == 1
    await engine.aupsert("c", points(3))
    assert client.count_calls("get_collection") == 1
    await engine.aclose()


async def test_batches_bounded_by_count_and_bytes() -> None:
    engine, client = recording_engine(ingest=IngestOptions(batch_size=7))
    await engine.aupsert("c", points(30))
    sizes = [len(kw["points"]) for name, kw in client.calls if name == "upsert"]
    assert sizes == [7, 7, 7, 7, 2]
    big = [
        PointInput(f"big-{i}", {"text": "x" * 3000}, unit_vector(f"b{i}")) for i in range(10)
    ]
    engine2, client2 = recording_engine(
        ingest=IngestOptions(batch_size=100, max_request_bytes=8000)
    )
    await engine2.aupsert("c", big)
    sizes2 = [len(kw["points"]) for name, kw in client2.calls if name == "upsert"]
    assert sum(sizes2) == 10 and max(sizes2) == 2
    with pytest.raises(InvalidInputError, match="request limit"):
        await engine2.aupsert("c", [PointInput("huge", {"t": "y" * 9000}, unit_vector("h"))])
    await engine.aclose()
    await engine2.aclose()


class SlowAsyncClient:
    """An async client whose upserts take a while, to observe how many are in flight."""

    def __init__(self) -> None:
        self.inner = QdrantClient(":memory:")
        self.active = 0
        self.max_active = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def upsert(self, **kwargs: Any) -> Any:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await asyncio.sleep(0.02)
        self.active -= 1
        return self.inner.upsert(**kwargs)


async def test_several_upserts_in_flight_with_a_bound() -> None:
    client = SlowAsyncClient()
    engine = QdrantEngine(
        _transport=EmbeddedTransport(client=client),  # type: ignore[arg-type]
        ingest=IngestOptions(batch_size=5, max_concurrent_upserts=3),
    )
    await engine.aupsert("c", points(60))
    assert client.max_active == 3
    assert await engine.acount("c") == 60
    await engine.aclose()


async def test_transient_errors_are_retried_without_duplicates() -> None:
    engine, client = recording_engine(retry=FAST_RETRY, ingest=IngestOptions(batch_size=10))
    client.fail_next["upsert"] = [http_error(503), http_error(429), TimeoutError("slow")]
    await engine.aupsert("c", points(50))
    assert await engine.acount("c") == 50
    assert client.count_calls("upsert") == 5 + 3
    await engine.aclose()


async def test_permanent_errors_are_not_retried() -> None:
    engine, client = recording_engine(retry=FAST_RETRY, ingest=IngestOptions(batch_size=10))
    await engine.aupsert("c", points(1))
    client.fail_next["upsert"] = [http_error(400)]
    before = client.count_calls("upsert")
    with pytest.raises(IngestError):
        await engine.aupsert("c", points(10, prefix="p"))
    assert client.count_calls("upsert") == before + 1
    await engine.aclose()


async def test_exhausted_retries_list_exactly_the_ids_not_written() -> None:
    engine, client = recording_engine(
        retry=RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0),
        ingest=IngestOptions(batch_size=10, max_concurrent_upserts=1),
    )
    await engine.aupsert("c", points(1, prefix="seed"))
    # The second batch fails twice (both attempts); every other batch succeeds.
    original = client.__getattr__("upsert")
    seen = {"n": 0}

    def flaky_upsert(**kwargs: Any) -> Any:
        seen["n"] += 1
        if seen["n"] in (2, 3):
            raise http_error(503)
        return original(**kwargs)

    client.upsert = flaky_upsert  # type: ignore[method-assign]
    with pytest.raises(IngestError) as caught:
        await engine.aupsert("c", points(30))
    assert caught.value.ids_not_written == [f"doc-{i}" for i in range(10, 20)]
    stored = {h.id for h in await engine.ascroll_all("c")}
    assert stored == {"seed-0"} | {f"doc-{i}" for i in range(30) if not 10 <= i < 20}
    await engine.aclose()


async def test_bad_vectors_raise_before_anything_is_written() -> None:
    engine, client = recording_engine()
    await engine.aupsert("c", points(1))
    upserts = client.count_calls("upsert")
    bad = points(5, prefix="bad")
    bad[3] = PointInput("bad-3", {}, [float("nan")] + [0.0] * 7)
    with pytest.raises(InvalidInputError, match="NaN"):
        await engine.aupsert("c", bad)
    bad[3] = PointInput("bad-3", {}, [0.1] * 9)
    with pytest.raises(DimensionMismatchError):
        await engine.aupsert("c", bad)
    bad[3] = PointInput("bad-3", {"x": object()}, unit_vector("z"))
    with pytest.raises(InvalidInputError, match="JSON"):
        await engine.aupsert("c", bad)
    assert client.count_calls("upsert") == upserts
    assert await engine.acount("c") == 1
    await engine.aclose()


async def test_queries_sparse_hybrid_mmr_threshold_filter_batch(engine: QdrantEngine) -> None:
    bm25 = Bm25Encoder()
    texts = [
        "the cat sat on the mat",
        "dogs chase cats in the park",
        "quantum chromodynamics of gluons",
        "a recipe for lemon cake",
        "zyxwvut is a rare token",
    ]
    spec = CollectionSpec(sparse=True)
    sparse = bm25.encode_documents(texts)
    await engine.aupsert(
        "h",
        [
            PointInput(
                f"t{i}", {"page_content": t, "metadata": {"i": i}}, unit_vector(t), sparse[i]
            )
            for i, t in enumerate(texts)
        ],
        spec,
    )
    q_sparse = bm25.encode_query("zyxwvut")
    sparse_hits = await engine.aquery("h", SearchRequest(sparse=q_sparse, limit=2), spec)
    assert [h.id for h in sparse_hits] == ["t4"]
    for fusion in ("rrf", "dbsf"):
        hybrid = await engine.aquery(
            "h",
            SearchRequest(dense=unit_vector(texts[2]), sparse=q_sparse, limit=3, fusion=fusion),
            spec,
        )
        assert {h.id for h in hybrid[:2]} == {"t2", "t4"}
    only_odd = models.Filter(
        must=[models.FieldCondition(key="metadata.i", match=models.MatchAny(any=[1, 3]))]
    )
    filtered = await engine.aquery(
        "h", SearchRequest(dense=unit_vector(texts[2]), sparse=q_sparse, filter=only_odd), spec
    )
    assert {h.id for h in filtered} == {"t1", "t3"}
    thresholded = await engine.aquery(
        "h", SearchRequest(dense=unit_vector(texts[0]), score_threshold=0.99, limit=5), spec
    )
    assert [h.id for h in thresholded] == ["t0"]
    mmr = await engine.aquery(
        "h", SearchRequest(dense=unit_vector(texts[0]), mmr_lambda=0.5, limit=3), spec
    )
    assert mmr[0].id == "t0" and len(mmr) == 3
    batch = await engine.aquery_batch(
        "h", [SearchRequest(dense=unit_vector(t), limit=1) for t in texts], spec
    )
    assert [b[0].id for b in batch] == [f"t{i}" for i in range(5)]


async def test_a_batch_sends_its_one_read_consistency_and_refuses_two() -> None:
    engine, client = recording_engine()
    await engine.aupsert("c", points(5))
    majority = models.ReadConsistencyType.MAJORITY
    searches = [SearchRequest(dense=unit_vector("q"), consistency=majority) for _ in range(2)]
    assert len(await engine.aquery_batch("c", searches)) == 2
    (batch,) = [kw for name, kw in client.calls if name == "query_batch_points"]
    assert batch["consistency"] == majority
    mixed = [searches[0], SearchRequest(dense=unit_vector("q"), consistency=2)]
    with pytest.raises(InvalidInputError, match="one read consistency"):
        await engine.aquery_batch("c", mixed)
    await engine.aclose()


async def test_scroll_pagination_count_and_delete(engine: QdrantEngine) -> None:
    await engine.aupsert("c", points(25))
    page, offset = await engine.ascroll("c", limit=10)
    assert len(page) == 10 and offset is not None
    assert len(await engine.ascroll_all("c", page_size=7)) == 25
    even = models.Filter(
        must=[models.FieldCondition(key="metadata.even", match=models.MatchValue(value=True))]
    )
    assert await engine.acount("c", filter=even) == 13
    await engine.adelete("c", ids=["doc-0", "doc-1"], filter=even)  # intersection: only doc-0
    assert await engine.acount("c") == 24
    assert [h.id for h in await engine.aretrieve("c", ["doc-1"])] == ["doc-1"]
    await engine.adelete("c", filter=even)
    assert await engine.acount("c") == 12
    await engine.adelete("c", ids=["doc-1"])
    assert await engine.acount("c") == 11
    with pytest.raises(InvalidInputError, match="ids or a filter"):
        await engine.adelete("c")
    assert await engine.acount("c") == 11


async def test_reads_of_a_missing_collection(engine: QdrantEngine) -> None:
    assert await engine.acount("nope") == 0
    assert await engine.aretrieve("nope", ["a"]) == []
    assert await engine.ascroll_all("nope") == []
    with pytest.raises(CollectionNotFoundError):
        await engine.aquery("nope", SearchRequest(dense=unit_vector("q")))


async def test_a_search_never_creates_a_collection(engine: QdrantEngine) -> None:
    query = Bm25Encoder().encode_query("anything")
    with pytest.raises(CollectionNotFoundError):
        await engine.aquery("missing", SearchRequest(sparse=query))
    with pytest.raises(CollectionNotFoundError):
        await engine.aquery_batch("missing", [SearchRequest(dense=unit_vector("q"))])
    assert not await engine.acollection_exists("missing")


async def test_hybrid_branch_depths_reach_the_request() -> None:
    engine, client = recording_engine()
    spec = CollectionSpec(sparse=True)
    sparse = Bm25Encoder().encode_documents(["a b c"])[0]
    await engine.aupsert("h", [PointInput("x", {}, unit_vector("x"), sparse)], spec)
    await engine.aquery(
        "h",
        SearchRequest(dense=unit_vector("q"), sparse=sparse, limit=2, prefetch_limit=9,
                      sparse_prefetch_limit=5),
        spec,
    )
    (query,) = [kw for name, kw in client.calls if name == "query_points"]
    assert [p.limit for p in query["prefetch"]] == [9, 5]
    await engine.aclose()


async def test_small_source_batches_are_regrouped_into_full_requests() -> None:
    engine, client = recording_engine(ingest=IngestOptions(batch_size=25))
    inputs = points(100)

    async def pieces() -> Any:
        for start in range(0, 100, 10):
            yield inputs[start : start + 10]

    await engine.aupsert("c", pieces())
    sizes = [len(kw["points"]) for name, kw in client.calls if name == "upsert"]
    assert sizes == [25, 25, 25, 25]
    await engine.aclose()


async def test_a_failing_source_reports_every_id_not_written() -> None:
    engine, _ = recording_engine(ingest=IngestOptions(batch_size=10))
    inputs = points(50)

    async def embed_then_fail() -> Any:
        yield inputs[:20]
        yield inputs[20:25]  # read, still waiting in a partly filled request
        raise RuntimeError("embedding service down")

    with pytest.raises(IngestError, match="embedding service down") as caught:
        await engine.aupsert("c", embed_then_fail(), expected_ids=[p.id for p in inputs])
    assert caught.value.ids_not_written == [p.id for p in inputs[20:]]
    assert {h.id for h in await engine.ascroll_all("c")} == {p.id for p in inputs[:20]}
    await engine.aclose()


async def test_an_id_repeated_in_a_later_source_batch_keeps_the_later_value(
    engine: QdrantEngine,
) -> None:
    async def two_batches() -> Any:
        yield [PointInput("x", {"v": 1}, unit_vector("a")), *points(30)]
        yield [PointInput("x", {"v": 2}, unit_vector("b"))]

    await engine.aupsert("c", two_batches())
    assert (await engine.aretrieve("c", ["x"]))[0].payload == {"v": 2}


async def test_a_sparse_vector_without_idf_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = QdrantClient(":memory:")
    raw.create_collection(
        "no_idf",
        vectors_config={"dense": models.VectorParams(size=8, distance=models.Distance.COSINE)},
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
    )
    engine = QdrantEngine.from_client(raw)
    spec = CollectionSpec(sparse=True)
    query = Bm25Encoder().encode_query("x")
    for _ in range(3):
        assert await engine.aquery("no_idf", SearchRequest(sparse=query), spec) == []
    warnings = [r for r in caplog.records if "IDF" in r.getMessage()]
    assert len(warnings) == 1 and "no_idf" in warnings[0].getMessage()
    await engine.aclose()


async def test_show_progress_counts_every_acknowledged_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = QdrantEngine(ingest=IngestOptions(batch_size=10))
    await engine.aupsert("c", points(35), show_progress=True)
    shown = capsys.readouterr().err
    assert "35/35" in shown  # tqdm (or the plain fallback) reached the total
    await engine.aclose()


async def test_a_batch_failing_validation_later_is_listed_as_not_written() -> None:
    engine, _ = recording_engine(ingest=IngestOptions(batch_size=2))
    good = points(2, prefix="ok")
    bad = [PointInput("c", {}, unit_vector("c")), PointInput("d", {}, [1.0])]

    async def source() -> Any:
        yield good
        yield bad

    with pytest.raises(IngestError) as caught:
        await engine.aupsert("c", source())
    assert caught.value.ids_not_written == ["c", "d"]
    assert isinstance(caught.value.__cause__, DimensionMismatchError)
    await engine.aclose()


async def test_repeated_ids_are_returned_once_and_judged_by_their_last_value() -> None:
    engine, client = recording_engine(
        retry=RetryPolicy(max_attempts=1, initial_backoff=0, max_backoff=0),
        ingest=IngestOptions(batch_size=2, max_concurrent_upserts=1),
    )
    first = [PointInput("a", {"v": 1}, unit_vector("a")), PointInput("b", {}, unit_vector("b"))]
    later = [PointInput("a", {"v": 2}, unit_vector("a"))]

    async def twice() -> Any:
        yield first
        yield later

    assert await engine.aupsert("c", twice()) == ["b", "a"]
    client.fail_next["upsert"] = [http_error(503)]  # the request with the first value fails
    with pytest.raises(IngestError) as caught:
        await engine.aupsert("c2", twice())
    assert caught.value.ids_not_written == ["b"]  # "a" got its later value
    assert (await engine.aretrieve("c2", ["a"]))[0].payload == {"v": 2}
    await engine.aclose()


async def test_a_metadata_key_named_external_id_is_not_taken_for_the_id(
    engine: QdrantEngine,
) -> None:
    # llama-index-vector-stores-qdrant keeps metadata at the top level of the payload.
    pid = str(uuid.uuid4())
    await engine.aupsert("c", [PointInput(pid, {"external_id": "SKU-1"}, unit_vector("s"))])
    (hit,) = await engine.aretrieve("c", [pid])
    assert hit.id == pid and hit.payload == {"external_id": "SKU-1"}
    with pytest.raises(InvalidInputError, match="external_id"):
        await engine.aupsert("c", [PointInput("doc-2", {"external_id": "x"}, unit_vector("t"))])


async def test_thousands_of_ids_to_fetch_or_delete_are_made_off_the_loop(
    engine: QdrantEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import qdrant_aio.engine as engine_module

    await engine.aupsert("c", points(600))
    ids = [f"doc-{i}" for i in reversed(range(600))] + ["absent"]
    threads: list[int] = []
    monkeypatch.setattr(
        engine_module, "checked_point_id",
        spy(engine_module.checked_point_id, threads, lambda _: threading.get_ident()),
    )
    hits = await engine.aretrieve("c", ids)
    assert [h.id for h in hits] == ids[:-1]  # in the order asked; the absent id skipped
    # A long list is made in slices elsewhere (embedded: the storage thread), not on the loop.
    assert len(threads) == len(ids) and threading.get_ident() not in threads
    threads.clear()
    await engine.adelete("c", ids=ids[:300])
    assert len(threads) == 300 and threading.get_ident() not in threads
    assert await engine.acount("c") == 300
    threads.clear()
    assert [h.id for h in await engine.aretrieve("c", ["doc-1", "doc-599"])] == ["doc-1"]
    assert threads == [threading.get_ident()] * 2  # a short list is made inline


async def test_an_id_that_cannot_be_a_point_id_is_invalid_input_in_a_long_list(
    engine: QdrantEngine,
) -> None:
    await engine.aupsert("c", points(3))
    with pytest.raises(InvalidInputError, match="invalid id"):
        await engine.aretrieve("c", ["doc-1"] * 300 + [-1])
    with pytest.raises(InvalidInputError, match="invalid id"):
        await engine.adelete("c", ids=["doc-1"] * 300 + [True])  # type: ignore[list-item]
    assert await engine.acount("c") == 3
