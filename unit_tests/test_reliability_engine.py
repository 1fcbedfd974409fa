"""Faults, cancellation, load and secrets at the engine level (the adapters add their own)."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from engine_support import RecordingClient, http_error, unit_vector
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException

from qdrant_aio import (
    IngestOptions,
    PointInput,
    QdrantAioError,
    QdrantEngine,
    RetryPolicy,
    SearchRequest,
)
from qdrant_aio.retry import is_transient
from qdrant_aio.transport import EmbeddedTransport

SECRET = "sk-test-SECRET-4f9a1c"


def grpc_unavailable() -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "injected"
    )


TRANSIENT_ERRORS: list[BaseException] = [
    TimeoutError("read timed out"),
    ConnectionResetError("connection reset by peer"),
    ResponseHandlingException(httpx.ConnectError("connection refused")),
    http_error(429),
    http_error(502),
    http_error(503),
    grpc_unavailable(),
]


def docs(n: int, prefix: str = "d") -> list[PointInput]:
    return [
        PointInput(f"{prefix}{i}", {"page_content": f"text {i}", "metadata": {"i": i}},
                   unit_vector(f"{prefix}{i}"))
        for i in range(n)
    ]


class CyclingFailures(RecordingClient):
    """Fails a share of calls, cycling through the errors a server or a network gives."""

    def __init__(self, inner: QdrantClient, rate: float) -> None:
        super().__init__(inner)
        self.rate = rate
        self.injected = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target) or name in {"get_collection", "collection_exists"}:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append((name, kwargs))
                fail = self.rng.random() < self.rate
                if fail:
                    error = TRANSIENT_ERRORS[self.injected % len(TRANSIENT_ERRORS)]
                    self.injected += 1
            if fail:
                raise error
            return target(*args, **kwargs)

        return call


def test_every_injected_error_is_classified_transient() -> None:
    assert all(is_transient(e) for e in TRANSIENT_ERRORS)
    assert not is_transient(http_error(400))
    assert not is_transient(http_error(404))
    assert not is_transient(ValueError("bad"))


async def test_ingest_of_10000_with_10_percent_failing_stores_each_exactly_once() -> None:
    client = CyclingFailures(QdrantClient(":memory:"), rate=0.10)
    engine = QdrantEngine(
        _transport=EmbeddedTransport(client=client),  # type: ignore[arg-type]
        retry=RetryPolicy(max_attempts=8, initial_backoff=0.0, max_backoff=0.001),
        ingest=IngestOptions(batch_size=50),
    )
    inputs = docs(10_000)
    ids = await engine.aupsert("c", inputs)
    assert client.injected > 10  # faults really happened
    assert ids == [p.id for p in inputs]
    assert await engine.acount("c") == 10_000
    stored = [h.id for h in await engine.ascroll_all("c")]
    assert len(stored) == 10_000 and set(stored) == set(ids)
    await engine.aclose()


class HeldUpserts(RecordingClient):
    """Holds every upsert after the first until ``release`` is set (or 30 s pass)."""

    def __init__(self, inner: QdrantClient) -> None:
        super().__init__(inner)
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        call = super().__getattr__(name)
        if name != "upsert":
            return call

        def held(*args: Any, **kwargs: Any) -> Any:
            if self.count_calls("upsert"):
                self.release.wait(30)
            return call(*args, **kwargs)

        return held


async def test_cancelled_ingest_leaves_a_consistent_store_and_a_usable_engine() -> None:
    client = HeldUpserts(QdrantClient(":memory:"))
    engine = QdrantEngine(
        _transport=EmbeddedTransport(client=client),  # type: ignore[arg-type]
        ingest=IngestOptions(batch_size=20, max_concurrent_upserts=2),
    )
    inputs = docs(2_000)
    task = asyncio.create_task(engine.aupsert("c", inputs))
    while not client.count_calls("upsert"):  # the first batch is being written
        await asyncio.sleep(0.001)
    task.cancel()
    for _ in range(3):  # the cancellation reaches the task (and its job) before the next write
        await asyncio.sleep(0)
    client.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    partial = await engine.ascroll_all("c")
    by_id = {p.id: p for p in inputs}
    for hit in partial:  # whatever landed is whole and correct
        assert hit.payload == dict(by_id[hit.id].payload)
    assert 0 < len(partial) < 2_000
    written = client.count_calls("upsert")
    await asyncio.sleep(0.05)
    assert client.count_calls("upsert") == written  # nothing more is written once it returned
    # Running the same ingest again completes it, without duplicates.
    await engine.aupsert("c", inputs)
    assert await engine.acount("c") == 2_000
    hits = await engine.aquery("c", SearchRequest(dense=unit_vector("d7"), limit=1))
    assert hits[0].id == "d7"
    await engine.aclose()


def _live_threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


async def test_1000_searches_and_20_writers_at_once_leave_nothing_behind() -> None:
    tasks_before = len(asyncio.all_tasks())
    threads_before = threading.active_count()
    engine = QdrantEngine()
    await engine.aupsert("c", docs(300))

    async def writer(k: int) -> None:
        for round_ in range(3):
            await engine.aupsert("c", docs(10, prefix=f"w{k}-{round_}-"))

    searches = [
        engine.aquery("c", SearchRequest(dense=unit_vector(f"q{i}"), limit=3))
        for i in range(1000)
    ]
    results = await asyncio.gather(*searches, *(writer(k) for k in range(20)))
    assert all(len(r) == 3 for r in results[:1000])
    assert await engine.acount("c") == 300 + 20 * 3 * 10
    await engine.aclose()
    gc.collect()
    for _ in range(100):  # the storage thread ends shortly after close
        if threading.active_count() <= threads_before:
            break
        await asyncio.sleep(0.01)
    assert threading.active_count() <= threads_before, _live_threads()
    assert len(asyncio.all_tasks()) == tasks_before


async def test_close_while_writes_are_in_flight_keeps_acknowledged_writes(tmp_path: Path) -> None:
    folder = str(tmp_path / "db")
    engine = QdrantEngine(path=folder, ingest=IngestOptions(batch_size=10))
    acknowledged: list[str] = []

    async def write(k: int) -> None:
        ids = await engine.aupsert("c", docs(10, prefix=f"b{k}-"))
        acknowledged.extend(ids)

    writes = [asyncio.create_task(write(k)) for k in range(30)]
    await asyncio.sleep(0)
    await asyncio.wait_for(engine.aclose(), timeout=60)  # a hang guard, not a timing check
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    for outcome in outcomes:  # each write either landed or was refused with a typed error
        assert outcome is None or isinstance(outcome, QdrantAioError), outcome
    reopened = QdrantEngine(path=folder)
    stored = {h.id for h in await reopened.ascroll_all("c")}
    assert set(acknowledged) <= stored
    await reopened.aclose()


async def test_api_key_never_appears_in_repr_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = QdrantEngine(
        url="http://127.0.0.1:9",  # discard port: nothing listens, every call fails
        api_key=SECRET,
        timeout=1,
        retry=RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0),
        client_options={"check_compatibility": False},
    )
    texts = [repr(engine), str(engine)]
    with pytest.raises(QdrantAioError) as caught:
        await engine.aupsert("c", docs(3))
    error: BaseException | None = caught.value
    while error is not None:  # the whole chain of causes
        texts.append(str(error))
        texts.append(repr(error))
        error = error.__cause__ or error.__context__
    with pytest.raises(QdrantAioError) as caught_query:
        await engine.aquery("c", SearchRequest(dense=unit_vector("q")))
    texts.append(str(caught_query.value))
    await engine.aclose()
    texts.extend(record.getMessage() for record in caplog.records)
    assert any("attempt" in t for t in texts)  # the retry was logged at DEBUG
    assert all(SECRET not in t for t in texts)


@pytest.mark.parametrize(
    "url",
    [
        f"https://reader:{SECRET}@qdrant.example:6333",
        f"https://qdrant.example:6333/?api-key={SECRET}",
        f"https://qdrant.example:6333#{SECRET}",
    ],
)
def test_credentials_in_a_url_stay_out_of_the_repr(url: str) -> None:
    engine = QdrantEngine(url=url, timeout=1, client_options={"check_compatibility": False})
    assert SECRET not in repr(engine) and "qdrant.example:6333" in repr(engine)
    engine.close()
