"""Server upserts over gRPC: qdrant-client's own messages, converted in slices of the loop."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc as grpcio
import pytest
from engine_support import loop_turns_of_calls, spy
from qdrant_client import AsyncQdrantClient, grpc, models
from qdrant_client.conversions.conversion import RestToGrpc
from qdrant_client.grpc import points_pb2, points_service_pb2_grpc
from test_rest_upsert import sample_points

import qdrant_aio.grpc_upsert as grpc_upsert
from qdrant_aio import PointInput, QdrantEngine
from qdrant_aio.transport import RemoteTransport


class RecordingPoints(points_service_pb2_grpc.PointsServicer):  # type: ignore[misc]
    """A Qdrant Points service that answers upserts and records each request."""

    def __init__(self) -> None:
        self.requests: list[points_pb2.UpsertPoints] = []

    async def Upsert(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC's name
        self.requests.append(request)
        result = points_pb2.UpdateResult(
            operation_id=len(self.requests), status=points_pb2.UpdateStatus.Completed
        )
        return points_pb2.PointsOperationResponse(result=result, time=0.0)


@asynccontextmanager
async def grpc_server() -> AsyncIterator[tuple[RecordingPoints, AsyncQdrantClient]]:
    """A recording Points service on a loopback port, and a gRPC client of it."""
    server = grpcio.aio.server()
    service = RecordingPoints()
    points_service_pb2_grpc.add_PointsServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = AsyncQdrantClient(
        host="127.0.0.1", grpc_port=port, prefer_grpc=True, check_compatibility=False
    )
    try:
        yield service, client
    finally:
        await client.close()
        await server.stop(None)


async def test_the_request_is_the_one_qdrant_clients_own_upsert_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points = sample_points(40)[:40]  # the shapes the engine sends
    converted: list[int] = []
    monkeypatch.setattr(
        grpc_upsert, "_to_message", spy(grpc_upsert._to_message, converted, lambda _: 1)
    )
    async with grpc_server() as (theirs, theirs_client), grpc_server() as (ours, ours_client):
        await theirs_client._client.upsert(collection_name="c", points=points, wait=True)
        result = await RemoteTransport({}, user_client=ours_client).call(
            "upsert", collection_name="c", points=points, wait=True
        )
    assert result == models.UpdateResult(operation_id=1, status=models.UpdateStatus.COMPLETED)
    assert len(converted) == len(points)  # converted here, not by qdrant-client
    (expected,), (sent,) = theirs.requests, ours.requests
    assert sent == expected
    assert len(sent.points) == len(points)


async def test_an_engine_ingest_over_grpc_sends_every_point_once() -> None:
    from test_rest_upsert import _known_schema

    async with grpc_server() as (service, client):
        engine = QdrantEngine.from_client(client)
        engine._schemas["c"] = _known_schema()  # known already: no collection calls
        inputs = [PointInput(f"doc-{i}", {"i": i}, [0.5] * 8) for i in range(700)]
        await engine.aupsert("c", inputs)
        await engine.aclose()
    sent = [point for request in service.requests for point in request.points]
    assert sorted(p.payload["i"].integer_value for p in sent) == list(range(700))
    assert len(service.requests) == 3  # 256 points a request on a server


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
    async with grpc_server() as (service, client):
        await RemoteTransport({}, user_client=client).call(
            "upsert", collection_name="c", points=points, wait=True
        )
    assert received == points  # models, for the tracer; qdrant-client converted them
    assert len(service.requests[0].points) == len(points)
