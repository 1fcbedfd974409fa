"""Server upserts over REST: the body is qdrant-client's, encoded in slices of the event loop."""

from __future__ import annotations

import functools
import json
import math
import uuid
from typing import Any

import httpx
import pytest
from engine_support import loop_turns_of_calls, spy, unit_vector
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.api.points_api import jsonable_encoder

import qdrant_aio.rest_upsert as rest_upsert
from qdrant_aio import ConfigurationError, IngestOptions, PointInput, QdrantEngine
from qdrant_aio.rest_upsert import encode_points_body, rest_connection_for_upserts
from qdrant_aio.transport import RemoteTransport


def sample_points(n: int, dim: int = 8) -> list[models.PointStruct]:
    """Points of every shape the engine sends: unnamed, named, sparse; odd payload values."""
    points: list[models.PointStruct] = []
    for i in range(n):
        dense = unit_vector(f"p{i}", dim)
        vector: Any = dense
        if i % 3 == 1:
            vector = {"dense": dense}
        elif i % 3 == 2:
            vector = {
                "dense": dense,
                "sparse": models.SparseVector(indices=[1, 7, i + 9], values=[0.5, -1.25, 3e-9]),
            }
        point_id: int | str = i if i % 2 else str(uuid.UUID(int=i + 1))
        payload = {
            "page_content": f"text {i} \u00e9\u4e2d\U0001f600 \"quoted\" \\ \n",
            "metadata": {"i": i, "f": i / 7, "big": 2**53 + i, "none": None, "list": [1, "a"]},
        }
        points.append(
            models.PointStruct.model_construct(id=point_id, vector=vector, payload=payload)
        )
    # Shapes the engine never sends, encoded through the models instead: no payload given,
    # a payload of None, and a vector field left unset.
    points += [
        models.PointStruct.model_construct(id=n + 1, vector=[0.5]),
        models.PointStruct.model_construct(id=n + 2, vector=[0.5, 0.25], payload=None),
        models.PointStruct.model_construct(id=n + 3, payload={"k": 1}),
    ]
    return points


def qdrant_client_body(points: list[models.PointStruct]) -> bytes:
    encoded = jsonable_encoder(models.PointsList(points=points))
    return encoded.encode() if isinstance(encoded, str) else encoded


@pytest.mark.parametrize("n", [1, 15, 16, 17, 250])
async def test_the_body_is_the_one_qdrant_client_sends(n: int) -> None:
    points = sample_points(n)
    body = await encode_points_body(points)
    assert body == qdrant_client_body(points)
    assert len(json.loads(body)["points"]) == n + 3


async def test_no_points_make_the_body_qdrant_client_sends() -> None:
    assert await encode_points_body([]) == qdrant_client_body([])


class RecordingServer:
    """Answers upserts through httpx's MockTransport, recording what was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        result = {"operation_id": len(self.requests), "status": "completed"}
        return httpx.Response(200, json={"result": result, "status": "ok", "time": 0.0})


def mock_client(server: RecordingServer, **options: Any) -> AsyncQdrantClient:
    return AsyncQdrantClient(
        url="https://qdrant.invalid:6333", transport=httpx.MockTransport(server.handle),
        check_compatibility=False, **options,
    )


async def test_a_server_upsert_sends_that_body_in_one_request() -> None:
    server = RecordingServer()
    client = mock_client(server)
    points = sample_points(40)[:40]
    transport = RemoteTransport({}, user_client=client)
    result = await transport.call("upsert", collection_name="c", points=points, wait=True)
    assert result == models.UpdateResult(operation_id=1, status=models.UpdateStatus.COMPLETED)
    (request,) = server.requests
    assert (request.method, request.url.path, request.url.params["wait"]) == (
        "PUT", "/collections/c/points", "true"
    )
    assert request.headers["content-type"] == "application/json"
    assert request.content == qdrant_client_body(points)
    await client.close()


async def test_an_engine_ingest_over_rest_sends_every_point_once() -> None:
    server = RecordingServer()
    client = mock_client(server)
    engine = QdrantEngine.from_client(client)
    engine._schemas["c"] = _known_schema()  # known already: no collection calls
    inputs = [PointInput(f"doc-{i}", {"i": i}, unit_vector(f"doc-{i}")) for i in range(300)]
    await engine.aupsert("c", inputs)
    sent = [p for r in server.requests for p in json.loads(r.content)["points"]]
    assert sorted(p["payload"]["i"] for p in sent) == list(range(300))
    await engine.aclose()
    await client.close()


async def test_the_point_ids_of_a_large_list_are_made_in_slices_of_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import qdrant_aio.engine as engine_module
    from qdrant_aio.ids import point_id_for

    server = RecordingServer()
    client = mock_client(server)
    engine = QdrantEngine.from_client(client)
    engine._schemas["c"] = _known_schema()
    inputs = [PointInput(f"doc-{i}", {"i": i}, unit_vector(f"doc-{i}")) for i in range(3000)]
    seen, _ = await loop_turns_of_calls(
        monkeypatch, engine_module, "point_id_of", lambda: engine.aupsert("c", inputs)
    )
    assert len(seen) == 3000
    # The loop ran other tasks between the ids (a made id costs microseconds: ~12 ms for all).
    assert len(set(seen)) > 1
    sent = [p for r in server.requests for p in json.loads(r.content)["points"]]
    assert {p["id"] for p in sent} == {point_id_for(f"doc-{i}") for i in range(3000)}
    await engine.aclose()
    await client.close()


def _known_schema() -> Any:
    from qdrant_aio.config import CollectionSpec
    from qdrant_aio.engine import _Schema

    return _Schema.from_spec(CollectionSpec(), 8)


async def test_the_loop_runs_between_slices_of_a_large_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points = sample_points(3000, dim=384)[:3000]
    seen, body = await loop_turns_of_calls(
        monkeypatch, rest_upsert, "_encode_chunk", lambda: encode_points_body(points)
    )
    assert len(seen) == -(-3000 // rest_upsert.ENCODE_POINTS)
    # The loop ran other tasks while the body was being encoded, not only before and after.
    assert len(set(seen)) > 1
    assert body == qdrant_client_body(points)


async def test_each_connection_gets_its_own_path_and_a_patched_upsert_qdrant_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qdrant_client.async_qdrant_remote import AsyncQdrantRemote

    from qdrant_aio.grpc_upsert import grpc_connection_for_upserts
    from qdrant_aio.transport import _own_upserts

    rest = mock_client(RecordingServer())
    grpc_client = AsyncQdrantClient(
        url="http://qdrant.invalid:6333", prefer_grpc=True, check_compatibility=False
    )
    connections = rest._client, grpc_client._client
    assert all(_own_upserts(c) for c in connections)
    assert [rest_connection_for_upserts(c) for c in connections] == [rest._client, None]
    assert [grpc_connection_for_upserts(c) for c in connections] == [None, grpc_client._client]
    assert not _own_upserts(None)

    # A tracer wrapping the connection's class method (functools.wraps keeps its name) ...
    own = AsyncQdrantRemote.upsert

    @functools.wraps(own)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await own(self, *args, **kwargs)

    monkeypatch.setattr(AsyncQdrantRemote, "upsert", traced)
    assert not any(_own_upserts(c) for c in connections)
    monkeypatch.undo()
    # ... or one set on the connection itself.
    for connection in connections:
        connection.upsert = traced.__get__(connection)  # type: ignore[method-assign]
    assert not any(_own_upserts(c) for c in connections)
    await rest.close()
    await grpc_client.close()


async def test_the_request_is_the_one_qdrant_clients_own_upsert_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points = sample_points(40)
    theirs_server, ours_server = RecordingServer(), RecordingServer()
    options = {"api_key": "k-123", "prefix": "qdrant", "timeout": 7}
    theirs = mock_client(theirs_server, **options)
    ours = mock_client(ours_server, **options)
    await theirs._client.upsert(collection_name="c", points=points, wait=True)
    encoded: list[int] = []
    monkeypatch.setattr(rest_upsert, "_encode_chunk", spy(rest_upsert._encode_chunk, encoded, len))
    await RemoteTransport({}, user_client=ours).call(
        "upsert", collection_name="c", points=points, wait=True
    )
    assert sum(encoded) == 43  # this module encoded the body
    (expected,), (sent,) = theirs_server.requests, ours_server.requests
    assert (sent.method, str(sent.url)) == (expected.method, str(expected.url))
    assert sent.content == expected.content
    assert sorted(sent.headers.items()) == sorted(expected.headers.items())
    await theirs.close()
    await ours.close()


async def test_wait_and_ordering_go_out_as_qdrant_clients_own_upsert_sends_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points = sample_points(20)
    theirs_server, ours_server = RecordingServer(), RecordingServer()
    theirs, ours = mock_client(theirs_server), mock_client(ours_server)
    engine = QdrantEngine.from_client(ours)
    engine._schemas["c"] = _known_schema()
    encoded: list[int] = []
    monkeypatch.setattr(rest_upsert, "_encode_chunk", spy(rest_upsert._encode_chunk, encoded, len))
    options = IngestOptions(wait=False, ordering="strong")
    assert options.ordering is models.WriteOrdering.STRONG
    inputs = [PointInput(f"doc-{i}", {"i": i}, unit_vector(f"doc-{i}")) for i in range(20)]
    await engine.aupsert("c", inputs, options=options)
    assert encoded  # still this module's encoder
    (sent,) = ours_server.requests
    assert (sent.url.params["wait"], sent.url.params["ordering"]) == ("false", "strong")
    await theirs._client.upsert(
        collection_name="c", points=points, wait=False, ordering=models.WriteOrdering.STRONG
    )
    (expected,) = theirs_server.requests
    assert sorted(sent.url.params.items()) == sorted(expected.url.params.items())
    await engine.aupsert("c", inputs)  # the defaults: wait, and no ordering (the server's)
    assert ours_server.requests[1].url.params["wait"] == "true"
    assert "ordering" not in ours_server.requests[1].url.params
    await engine.aclose()
    for client in (theirs, ours):
        await client.close()


def test_write_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="wait"):
        IngestOptions(wait="no")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'weak', 'medium', 'strong'"):
        IngestOptions(ordering="strongest")  # type: ignore[arg-type]


async def test_a_qdrant_client_that_encodes_otherwise_keeps_its_own_upsert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qdrant_client.http.api import points_api

    assert rest_upsert._same_as_qdrant_client()
    encode = points_api.jsonable_encoder

    def spaced(obj: Any, *args: Any, **kwargs: Any) -> Any:  # another encoding of the same data
        result = encode(obj, *args, **kwargs)
        return result.replace(",", ", ") if isinstance(result, str) else result

    monkeypatch.setattr(points_api, "jsonable_encoder", spaced)
    assert not rest_upsert._same_as_qdrant_client()
    monkeypatch.setattr(points_api, "jsonable_encoder", lambda obj, *a, **k: json.dumps(obj))
    assert not rest_upsert._same_as_qdrant_client()  # bytes no longer passed through
    monkeypatch.setattr(rest_upsert, "_SAME_AS_QDRANT_CLIENT", False)
    client = mock_client(RecordingServer())
    assert rest_connection_for_upserts(client._client) is None
    await client.close()


async def test_sparse_vectors_holding_numpy_numbers_go_through_the_model() -> None:
    import numpy as np

    from qdrant_aio.rest_upsert import _as_plain

    plain = models.SparseVector(indices=[1, 5], values=[0.5, 2.0])
    numpy_made = models.SparseVector.model_construct(
        indices=[np.int64(1), 5], values=[0.5, np.float32(2.0)]
    )
    points = [
        models.PointStruct.model_construct(id=i, vector={"s": vector}, payload={})
        for i, vector in enumerate((plain, numpy_made))
    ]
    assert _as_plain(points[0]) is not None
    assert _as_plain(points[1]) is None  # the plain encoder cannot write numpy numbers
    with pytest.warns(UserWarning):  # pydantic's, as qdrant-client's own encoding gives
        body = json.loads(await encode_points_body(points))
    assert [p["vector"]["s"] for p in body["points"]] == [
        {"indices": [1, 5], "values": [0.5, 2.0]}
    ] * 2


needs_orjson = pytest.mark.skipif(
    rest_upsert.orjson is None, reason="orjson is not installed (a dependency on CPython only)"
)


@needs_orjson
def test_orjson_writes_the_plain_points_where_it_writes_them_as_pydantic() -> None:
    # orjson is a dependency (CPython) and this one writes as pydantic does: it is used.
    assert rest_upsert._orjson_writes_as_pydantic()
    assert rest_upsert._plain_json is rest_upsert._plain_json_orjson


async def test_the_body_is_the_same_with_either_plain_encoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points = sample_points(40)
    with_orjson = await encode_points_body(points)
    monkeypatch.setattr(rest_upsert, "_plain_json", rest_upsert._plain_json_pydantic)
    assert await encode_points_body(points) == with_orjson == qdrant_client_body(points)


@pytest.mark.parametrize(
    "value",
    [2**70, -(2**64), "numpy", {"deep": [[[[[{"k": 2**65}]]]]]}, math.nan, [math.inf, 2**70]],
    ids=[
        "int beyond 64 bits", "negative int beyond 64 bits", "numpy float", "nested",
        "nan (orjson)", "infinity beside an int orjson refuses (pydantic)",
    ],
)
async def test_values_either_encoder_writes_are_written_as_qdrant_client_would(
    value: Any,
) -> None:
    import numpy as np

    # (NaN and infinity reach this module only in a payload whose size a caller vouched for.)
    value = np.float64(0.1) if value == "numpy" else value
    points = [
        models.PointStruct.model_construct(
            id=i, vector=[0.5, -0.25], payload={"page_content": "t", "metadata": {"v": value}}
        )
        for i in range(3)
    ]
    assert all(rest_upsert._as_plain(p) is not None for p in points)  # the plain path
    assert await encode_points_body(points) == qdrant_client_body(points)


class _OtherOrjson:
    """orjson writing floats as orjson before 3.11.7 did: '3.4e38' (pydantic: '3.4e+38').
    Made from pydantic's encoder, so it needs no orjson installed."""

    @staticmethod
    def dumps(value: Any) -> bytes:
        return bytes(rest_upsert._plain_json_pydantic(value)).replace(b"e+", b"e")


def test_an_orjson_that_writes_otherwise_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    other = _OtherOrjson()
    assert other.dumps([3.4e38, "x"]) == b'[3.4e38,"x"]'
    monkeypatch.setattr(rest_upsert, "orjson", other)
    assert not rest_upsert._orjson_writes_as_pydantic()
    monkeypatch.setattr(rest_upsert, "orjson", None)
    assert not rest_upsert._orjson_writes_as_pydantic()
