"""Server upserts over gRPC: qdrant-client's own messages, converted in slices of the loop.

The connection's Points stub is replaced by a recorder: no channel is opened, nothing leaves the
process.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from engine_support import loop_turns_of_calls, spy
from qdrant_client import AsyncQdrantClient, grpc, models
from qdrant_client.conversions.conversion import RestToGrpc
from qdrant_client.grpc import points_pb2
from test_rest_upsert import sample_points

import qdrant_aio.grpc_upsert as grpc_upsert
from qdrant_aio import IngestOptions, PointInput, QdrantEngine
from qdrant_aio.config import CollectionLayout
from qdrant_aio.query import SearchRequest, build_query
from qdrant_aio.transport import RemoteTransport


class RecordingPoints:
    """Stands in for a connection's gRPC Points stub: answers upserts, records each request
    (the message qdrant-client's ``upsert`` built; no channel, no network)."""

    def __init__(self) -> None:
        self.requests: list[points_pb2.UpsertPoints] = []

    async def Upsert(self, request: Any, **_: Any) -> Any:  # noqa: N802 - gRPC's name
        self.requests.append(request)
        result = points_pb2.UpdateResult(
            operation_id=len(self.requests), status=points_pb2.UpdateStatus.Completed
        )
        return points_pb2.PointsOperationResponse(result=result, time=0.0)

    async def Query(self, request: Any, **_: Any) -> Any:  # noqa: N802 - gRPC's name
        self.requests.append(request)
        return points_pb2.QueryResponse(result=[], time=0.0)

    async def QueryBatch(self, request: Any, **_: Any) -> Any:  # noqa: N802 - gRPC's name
        self.requests.append(request)
        empty = [points_pb2.BatchResult(result=[]) for _ in request.query_points]
        return points_pb2.QueryBatchResponse(result=empty, time=0.0)


@asynccontextmanager
async def recording_grpc_client(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[RecordingPoints, AsyncQdrantClient]]:
    """A gRPC client whose Points stub (``AsyncQdrantRemote.grpc_points``, where its upsert
    sends the request) is a :class:`RecordingPoints`."""
    from qdrant_client.async_qdrant_remote import AsyncQdrantRemote

    monkeypatch.setattr(
        AsyncQdrantRemote, "grpc_points", property(lambda self: self.__dict__["_recorder"])
    )
    client = AsyncQdrantClient(
        url="http://qdrant.invalid:6333", prefer_grpc=True, check_compatibility=False
    )
    service = RecordingPoints()
    client._client.__dict__["_recorder"] = service
    try:
        yield service, client
    finally:
        await client.close()


async def test_the_request_is_the_one_qdrant_clients_own_upsert_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points = sample_points(40)[:40]  # the shapes the engine sends
    converted: list[int] = []
    monkeypatch.setattr(
        grpc_upsert, "_to_message", spy(grpc_upsert._to_message, converted, lambda _: 1)
    )
    async with recording_grpc_client(monkeypatch) as (theirs, theirs_client), \
            recording_grpc_client(monkeypatch) as (ours, ours_client):
        await theirs_client._client.upsert(collection_name="c", points=points, wait=True)
        result = await RemoteTransport({}, user_client=ours_client).call(
            "upsert", collection_name="c", points=points, wait=True
        )
    assert result == models.UpdateResult(operation_id=1, status=models.UpdateStatus.COMPLETED)
    assert len(converted) == len(points)  # converted here, not by qdrant-client
    (expected,), (sent,) = theirs.requests, ours.requests
    assert sent == expected
    assert len(sent.points) == len(points)


async def test_an_engine_ingest_over_grpc_sends_every_point_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from test_rest_upsert import _known_schema

    async with recording_grpc_client(monkeypatch) as (service, client):
        engine = QdrantEngine.from_client(client)
        engine._schemas["c"] = _known_schema()  # known already: no collection calls
        inputs = [PointInput(f"doc-{i}", {"i": i}, [0.5] * 8) for i in range(700)]
        await engine.aupsert("c", inputs)
        await engine.aclose()
    sent = [point for request in service.requests for point in request.points]
    assert sorted(p.payload["i"].integer_value for p in sent) == list(range(700))
    assert len(service.requests) == 3  # 256 points a request on a server


async def test_wait_and_ordering_reach_the_grpc_upsert(monkeypatch: pytest.MonkeyPatch) -> None:
    from test_rest_upsert import _known_schema

    async with recording_grpc_client(monkeypatch) as (service, client):
        engine = QdrantEngine.from_client(client)
        engine._schemas["c"] = _known_schema()
        inputs = [PointInput(f"doc-{i}", {"i": i}, [0.5] * 8) for i in range(3)]
        await engine.aupsert("c", inputs, options=IngestOptions(wait=False, ordering="strong"))
        await engine.aupsert("c", inputs)
        await engine.aclose()
    chosen, default = service.requests
    assert (chosen.wait, chosen.ordering.type) == (False, points_pb2.WriteOrderingType.Strong)
    assert default.wait is True and not default.HasField("ordering")


async def test_the_loop_runs_between_slices_of_a_large_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points = sample_points(3000, dim=384)[:3000]
    seen, messages = await loop_turns_of_calls(
        monkeypatch, grpc_upsert, "_to_message", lambda: grpc_upsert.points_for_grpc(points)
    )
    assert len(seen) == len(points)
    # The loop ran other tasks while the points were being converted, not only before and after.
    assert len(set(seen)) > 1
    assert messages == [RestToGrpc.convert_point_struct(p) for p in points]


async def test_messages_given_are_sent_as_they_are() -> None:
    message = RestToGrpc.convert_point_struct(sample_points(1)[0])
    assert await grpc_upsert.points_for_grpc([message]) == [message]
    assert isinstance(message, grpc.PointStruct)


async def test_a_patched_upsert_gets_the_points_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from qdrant_client.async_qdrant_remote import AsyncQdrantRemote

    received: list[Any] = []
    own = AsyncQdrantRemote.upsert

    @functools.wraps(own)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        received.extend(kwargs["points"])
        return await own(self, *args, **kwargs)

    points = sample_points(5)[:5]
    monkeypatch.setattr(AsyncQdrantRemote, "upsert", traced)
    async with recording_grpc_client(monkeypatch) as (service, client):
        await RemoteTransport({}, user_client=client).call(
            "upsert", collection_name="c", points=points, wait=True
        )
    assert received == points  # models, for the tracer; qdrant-client converted them
    assert len(service.requests[0].points) == len(points)


async def test_search_params_and_read_consistency_reach_grpc_queries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """qdrant-client converts the engine's query arguments (a hybrid search with per-branch
    search_params, a read consistency; a batch) into its gRPC messages."""
    layout = CollectionLayout("c", "dense", 3, models.Distance.COSINE, "sparse")
    request = SearchRequest(
        dense=[0.1, 0.2, 0.3], sparse=models.SparseVector(indices=[1], values=[1.0]),
        search_params={"hnsw_ef": 64, "exact": True}, consistency="majority",
    )
    async with recording_grpc_client(monkeypatch) as (service, client):
        engine = QdrantEngine.from_client(client)
        await engine._query_points("c", build_query(request, layout))
        (query,) = service.requests
        assert (query.params.hnsw_ef, query.params.exact) == (64, True)
        assert [branch.params.hnsw_ef for branch in query.prefetch] == [64, 64]
        assert query.read_consistency.type == points_pb2.ReadConsistencyType.Majority
        plain = SearchRequest(dense=[0.1, 0.2, 0.3], consistency=2)
        await engine._query_batch_points("c", [build_query(plain, layout)] * 2)
        batch = service.requests[-1]
        assert batch.read_consistency.factor == 2 and len(batch.query_points) == 2
        await engine.aclose()
