"""Where embedded work runs: reads side by side on reader threads, writes alone on the storage
thread, per-point work off the caller's loop, and vectors handed to local mode as float32."""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_support import unit_vector
from qdrant_client import QdrantClient, models

from qdrant_aio import (
    CollectionSpec,
    DimensionMismatchError,
    EngineClosedError,
    InvalidInputError,
    PointInput,
    QdrantEngine,
    SearchRequest,
)
from qdrant_aio import cpus as cpus_module
from qdrant_aio.bridge import QueueThread
from qdrant_aio.config import UNNAMED_VECTOR
from qdrant_aio.cpus import cgroup_cpu_quota, usable_cpus
from qdrant_aio.engine import default_readers
from qdrant_aio.transport import READ_METHODS, EmbeddedTransport, ReadWriteLock


class IntervalClient:
    """Wraps a local client; records when each call ran, on which thread, and slows some down."""

    def __init__(self, delay: float = 0.03) -> None:
        self.inner = QdrantClient(":memory:")
        self.delay = delay
        self.slow = False
        self.intervals: list[tuple[str, float, float, str]] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            if self.slow:
                time.sleep(self.delay)  # releases the GIL, as numpy does in a real search
            result = target(*args, **kwargs)
            with self._lock:
                self.intervals.append(
                    (name, start, time.perf_counter(), threading.current_thread().name)
                )
            return result

        return call


def points(n: int, prefix: str = "p") -> list[PointInput]:
    return [PointInput(f"{prefix}{i}", {"i": i}, unit_vector(f"{prefix}{i}")) for i in range(n)]


def overlaps(a: tuple[str, float, float, str], b: tuple[str, float, float, str]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


async def check_reads_side_by_side_never_beside_writes(
    engine: QdrantEngine, intervals: list[Any], slow_down: Callable[[], None]
) -> None:
    """Six searches and three writes at once: the reads run side by side on the two readers,
    never beside a write, and the writes on the storage thread. Closes ``engine``."""
    await engine.aupsert("c", points(20))
    slow_down()
    intervals.clear()
    searches = [
        engine.aquery("c", SearchRequest(dense=unit_vector(f"p{i}"), limit=1)) for i in range(6)
    ]
    writes = [engine.aupsert("c", points(3, prefix=f"w{j}-")) for j in range(3)]
    results = await asyncio.gather(*searches, *writes)
    assert [hits[0].id for hits in results[:6]] == [f"p{i}" for i in range(6)]
    reads = [i for i in intervals if i[0] in READ_METHODS]
    writes_done = [i for i in intervals if i[0] == "upsert"]
    assert len(reads) == 6 and len(writes_done) == 3
    assert {i[3] for i in reads} == {"qdrant-aio-reader-0", "qdrant-aio-reader-1"}
    assert {i[3] for i in writes_done} == {"qdrant-aio-storage"}
    assert any(overlaps(a, b) for a in reads for b in reads if a is not b), "reads never overlapped"
    assert not any(overlaps(r, w) for r in reads for w in writes_done), "a read ran beside a write"
    await engine.aclose()


async def test_reads_run_side_by_side_and_never_beside_a_write() -> None:
    client = IntervalClient()
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client, readers=2))  # type: ignore[arg-type]
    await check_reads_side_by_side_never_beside_writes(
        engine, client.intervals, lambda: setattr(client, "slow", True)
    )


def record_local_calls(client: QdrantClient, slow: threading.Event) -> list[Any]:
    """Record when each call reached ``client``'s local store, and on which thread; while
    ``slow`` is set, each call first sleeps 30 ms (releasing the GIL, as a search's numpy does)."""
    local: Any = client._client
    intervals: list[tuple[str, float, float, str]] = []
    lock = threading.Lock()

    def recorded(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            if slow.is_set():
                time.sleep(0.03)
            result = real(*args, **kwargs)
            end, thread = time.perf_counter(), threading.current_thread().name
            with lock:
                intervals.append((name, start, end, thread))
            return result

        return call

    for name in (*READ_METHODS, "upsert"):
        setattr(local, name, recorded(name, getattr(local, name)))
    return intervals


async def test_a_sync_clients_reads_are_plain_calls_on_readers_side_by_side_never_beside_a_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The path every default embedded engine takes: no coroutine, no loop turn on the reader.
    def no_coroutines(*_: Any) -> Any:
        raise AssertionError("a sync client's read went through a coroutine")

    monkeypatch.setattr(QueueThread, "submit", no_coroutines)
    client = QdrantClient(":memory:")
    slow = threading.Event()
    intervals = record_local_calls(client, slow)
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client, readers=2))
    await check_reads_side_by_side_never_beside_writes(engine, intervals, slow.set)
    client.close()


@pytest.mark.parametrize(("cpus", "readers"), [(1, 0), (2, 1), (3, 2), (4, 2), (64, 2)])
def test_the_default_readers_leave_a_core_for_the_loop(cpus: int, readers: int) -> None:
    assert default_readers(cpus) == readers


def test_usable_cpus_counts_this_processs_cores() -> None:
    cpus = usable_cpus()
    assert 1 <= cpus <= (os.cpu_count() or cpus)
    if hasattr(os, "sched_getaffinity"):
        quota = cgroup_cpu_quota()
        affinity = len(os.sched_getaffinity(0))
        assert cpus == (affinity if quota is None else max(1, min(affinity, math.ceil(quota))))


@pytest.mark.parametrize(("quota", "cpus"), [(None, 8), (1.5, 2), (1.0, 1), (0.2, 1), (16.0, 8)])
def test_a_cpu_quota_caps_the_usable_cores(
    monkeypatch: pytest.MonkeyPatch, quota: float | None, cpus: int
) -> None:
    # docker --cpus=1.5 on an 8-core host: threads sized for 8 cores would wait for each other.
    monkeypatch.setattr(cpus_module.os, "sched_getaffinity", lambda _: set(range(8)))
    monkeypatch.setattr(cpus_module, "cgroup_cpu_quota", lambda: quota)
    assert usable_cpus() == cpus


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_cgroup_v2_quota_is_the_smallest_on_the_way_up(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "cpu.max": "max 100000\n",
        "kubepods/cpu.max": "300000 100000\n",
        "kubepods/pod1/cpu.max": "150000 100000\n",
        "kubepods/pod1/c1/cpu.max": "max 100000\n",
    })
    assert cgroup_cpu_quota(tmp_path, "0::/kubepods/pod1/c1\n") == 1.5
    assert cgroup_cpu_quota(tmp_path, "0::/kubepods\n") == 3.0
    assert cgroup_cpu_quota(tmp_path, "0::/\n") is None  # no quota at the root
    assert cgroup_cpu_quota(tmp_path, "0::/elsewhere\n") is None  # nothing readable
    assert cgroup_cpu_quota(tmp_path / "missing", "0::/\n") is None


def test_the_cgroup_v2_quota_beside_v1_controllers_is_under_unified(tmp_path: Path) -> None:
    write_tree(tmp_path, {"unified/app/cpu.max": "50000 100000\n"})
    membership = "4:memory:/app\n1:cpu:/\n0::/app\n"
    assert cgroup_cpu_quota(tmp_path, membership) == 0.5


def test_the_cgroup_v1_quota_is_read_from_the_cpu_controller(tmp_path: Path) -> None:
    write_tree(tmp_path / "cpu,cpuacct", {
        "docker/abc/cpu.cfs_quota_us": "200000\n",
        "docker/abc/cpu.cfs_period_us": "100000\n",
        "cpu.cfs_quota_us": "-1\n",
        "cpu.cfs_period_us": "100000\n",
    })
    assert cgroup_cpu_quota(tmp_path, "3:cpu,cpuacct:/docker/abc\n") == 2.0
    assert cgroup_cpu_quota(tmp_path, "3:cpu,cpuacct:/\n") is None
    # A period of 0 makes no sense: ignored.
    write_tree(tmp_path / "cpu,cpuacct", {"docker/abc/cpu.cfs_period_us": "0\n"})
    assert cgroup_cpu_quota(tmp_path, "3:cpu,cpuacct:/docker/abc\n") is None


async def test_searches_run_on_reader_threads_by_default() -> None:
    engine = QdrantEngine()
    transport = engine._transport
    assert isinstance(transport, EmbeddedTransport)
    assert transport._reader_count == default_readers(usable_cpus())
    await engine.aupsert("c", points(3))
    assert transport._readers == []  # started by the first read, not before
    name = await engine.amap(lambda _: threading.current_thread().name, [0])
    assert name == ["qdrant-aio-storage"]
    assert (await engine.aquery("c", SearchRequest(dense=unit_vector("p1"))))[0].id == "p1"
    readers = [reader.thread for reader in transport._readers]
    assert len(readers) == default_readers(usable_cpus())
    assert all(thread.is_alive() for thread in readers)
    await engine.aclose()
    assert not any(thread.is_alive() for thread in readers)


async def test_an_engine_from_a_local_client_gets_the_default_readers() -> None:
    client = QdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    transport = engine._transport
    assert isinstance(transport, EmbeddedTransport)
    assert transport._reader_count == default_readers(usable_cpus())
    await engine.aclose()
    client.close()


async def test_without_readers_everything_runs_on_the_storage_thread() -> None:
    client = IntervalClient()
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client))  # type: ignore[arg-type]
    await engine.aupsert("c", points(3))
    await engine.aquery("c", SearchRequest(dense=unit_vector("p1")))
    assert {i[3] for i in client.intervals} == {"qdrant-aio-storage"}
    await engine.aclose()


async def test_close_waits_for_reads_in_flight() -> None:
    engine = QdrantEngine(readers=2)
    await engine.aupsert("c", points(5))
    transport = engine._transport
    assert isinstance(transport, EmbeddedTransport)
    local: Any = transport._local
    events: list[str] = []
    real_query, real_close = local.query_points, local.close

    def slow_query(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.1)
        result = real_query(*args, **kwargs)
        events.append("search done")
        return result

    def recorded_close(*args: Any, **kwargs: Any) -> Any:
        events.append("store closed")
        return real_close(*args, **kwargs)

    local.query_points, local.close = slow_query, recorded_close
    search = asyncio.ensure_future(engine.aquery("c", SearchRequest(dense=unit_vector("p2"))))
    await asyncio.sleep(0.02)  # the search is running on a reader thread
    await engine.aclose()
    assert events == ["search done", "store closed"]
    assert (await search)[0].id == "p2"


def test_a_waiting_write_holds_new_reads_back_but_not_a_reader_already_inside() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def long_reader() -> None:
        with lock.reading():
            inside.set()
            release.wait(5)
            # The same thread reads again while a write waits: it must not wait for itself.
            with lock.reading():
                events.append("nested read")
        events.append("long read done")

    def writer() -> None:
        with lock.writing():
            events.append("write")

    def late_reader() -> None:
        with lock.reading():
            events.append("late read")

    first = threading.Thread(target=long_reader)
    first.start()
    assert inside.wait(5)
    write = threading.Thread(target=writer)
    write.start()
    time.sleep(0.05)  # the writer is waiting now
    late = threading.Thread(target=late_reader)
    late.start()
    time.sleep(0.05)
    assert events == []  # the write waits for the read; the late read waits for the write
    release.set()
    for thread in (first, write, late):
        thread.join(5)
        assert not thread.is_alive()
    assert events == ["nested read", "long read done", "write", "late read"]


def test_writes_from_one_thread_do_not_wait_for_each_other() -> None:
    lock = ReadWriteLock()
    done = threading.Event()

    def nested() -> None:
        with lock.writing(), lock.writing():  # a second write call while the first is suspended
            pass
        with lock.reading():
            done.set()

    threading.Thread(target=nested, daemon=True).start()
    assert done.wait(5), "a write waited for a write of its own thread"


async def test_per_point_work_runs_on_the_storage_thread_when_embedded() -> None:
    engine = QdrantEngine()
    names = await engine.amap(lambda _: threading.current_thread().name, range(5))
    assert names == ["qdrant-aio-storage"] * 5
    await engine.aclose()


async def test_per_point_work_runs_on_the_callers_loop_with_a_server() -> None:
    engine = QdrantEngine(url="http://127.0.0.1:9")  # amap never contacts the server
    caller = threading.current_thread().name
    assert await engine.amap(lambda x: (x * 2, threading.current_thread().name), [1, 2]) == [
        (2, caller), (4, caller)
    ]
    await engine.aclose()


async def test_amap_keeps_order_across_many_slices() -> None:
    engine = QdrantEngine()

    def slow_square(x: int) -> int:
        time.sleep(0.0005)  # a few items per storage-thread slice
        return x * x

    assert await engine.amap(slow_square, range(100)) == [x * x for x in range(100)]
    await engine.aclose()


async def test_embedded_upserts_hand_local_mode_float32_arrays() -> None:
    client = IntervalClient()
    seen: list[Any] = []
    real_upsert = client.inner._client.upsert

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.extend(p.vector["dense"] for p in kwargs["points"])
        return real_upsert(*args, **kwargs)

    client.inner._client.upsert = spy  # type: ignore[method-assign]
    engine = QdrantEngine.from_client(client.inner)
    vectors = [unit_vector(f"p{i}") for i in range(40)]
    await engine.aupsert("c", [PointInput(f"p{i}", {}, v) for i, v in enumerate(vectors)])
    assert len(seen) == 40
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in seen)
    got = await engine.aretrieve("c", ["p7"], with_vectors=True)
    stored = np.asarray(got[0].vector["dense"])
    assert np.allclose(stored, np.asarray(vectors[7]) / np.linalg.norm(vectors[7]), atol=1e-6)
    await engine.aclose()


BAD_VECTORS = [
    ([1e39] * 8, InvalidInputError, "too large for a 32-bit float"),
    ([float("nan")] + [0.1] * 7, InvalidInputError, "NaN"),
    ([float("-inf")] + [0.1] * 7, InvalidInputError, "infinity"),
    (["x"] * 8, InvalidInputError, "number"),
    (["0.5"] * 8, InvalidInputError, "number"),  # text that looks like a number is still text
    ([b"1"] * 8, InvalidInputError, "number"),
    ([10**400] + [0.1] * 7, InvalidInputError, "number|too large"),
    ([None] * 8, InvalidInputError, "number"),
    ([0.1] * 5, DimensionMismatchError, "expected 8"),
]


@pytest.mark.parametrize("layout", ["named, in memory", "named, folder", "unnamed"])
@pytest.mark.parametrize(("bad", "error", "message"), BAD_VECTORS)
async def test_a_bad_vector_among_many_names_its_point_and_writes_nothing(
    bad: Any, error: type[Exception], message: str, layout: str, tmp_path: Path
) -> None:
    if layout == "unnamed":  # a langchain-qdrant collection: vectors stay lists
        client = QdrantClient(":memory:")
        client.create_collection("c", vectors_config=models.VectorParams(
            size=8, distance=models.Distance.COSINE
        ))
        engine = QdrantEngine.from_client(client)
        spec = CollectionSpec(vector_name=UNNAMED_VECTOR)
    else:
        path = str(tmp_path / "store") if layout == "named, folder" else None
        engine = QdrantEngine(path=path)
        spec = CollectionSpec()
    await engine.aupsert("c", points(1, prefix="seed"), spec)
    batch = points(70)
    batch[45] = PointInput("bad-one", {}, bad)
    with pytest.raises(error, match=message) as raised:
        await engine.aupsert("c", batch, spec)
    assert "bad-one" in str(raised.value)
    assert await engine.acount("c") == 1
    await engine.aclose()


async def test_folders_get_lists_and_memory_gets_float32(tmp_path: Path) -> None:
    # Local mode pickles points into a folder as given: lists load under any numpy version.
    seen: dict[str, list[Any]] = {}
    for where, engine in (
        ("memory", QdrantEngine()), ("folder", QdrantEngine(path=str(tmp_path / "s")))
    ):
        transport = engine._transport
        assert isinstance(transport, EmbeddedTransport)
        local = transport._client._client  # type: ignore[union-attr]
        real = local.upsert

        def spy(*args: Any, _real: Any = real, _where: str = where, **kwargs: Any) -> Any:
            seen.setdefault(_where, []).extend(p.vector["dense"] for p in kwargs["points"])
            return _real(*args, **kwargs)

        local.upsert = spy
        await engine.aupsert("c", points(5))
        await engine.aclose()
    assert all(isinstance(v, np.ndarray) for v in seen["memory"])
    assert all(isinstance(v, list) for v in seen["folder"])


async def test_a_sync_call_inside_amap_raises_instead_of_hanging() -> None:
    engine = QdrantEngine()
    await engine.aupsert("c", points(2))
    with pytest.raises(RuntimeError, match="would wait for itself"):
        await asyncio.wait_for(
            engine.amap(lambda _: engine.collection_exists("c"), [1]), timeout=10
        )
    assert await engine.acount("c") == 2  # the storage thread is still serving
    await engine.aclose()


async def test_float32_vectors_survive_a_reopened_folder(tmp_path: Path) -> None:
    folder = str(tmp_path / "store")
    engine = QdrantEngine(path=folder)
    await engine.aupsert("c", points(30))
    await engine.aclose()
    reopened = QdrantEngine(path=folder)
    hits = await reopened.aquery("c", SearchRequest(dense=unit_vector("p12"), limit=1))
    assert hits[0].id == "p12"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert await reopened.acount("c") == 30
    await reopened.aclose()


async def test_upserts_skip_the_clients_inference_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    from qdrant_client.embed.type_inspector import Inspector

    def refuse(*_: Any, **__: Any) -> bool:
        raise AssertionError("the upsert went through the inference scan")

    monkeypatch.setattr(Inspector, "inspect", refuse)
    engine = QdrantEngine()
    await engine.aupsert("c", points(10))
    assert await engine.acount("c") == 10
    await engine.aclose()


async def test_server_upserts_skip_the_clients_inference_scan_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qdrant_client import AsyncQdrantClient
    from qdrant_client.embed.type_inspector import Inspector

    from qdrant_aio.transport import RemoteTransport

    def refuse(*_: Any, **__: Any) -> bool:
        raise AssertionError("the upsert went through the inference scan")

    monkeypatch.setattr(Inspector, "inspect", refuse)
    client = AsyncQdrantClient(url="http://127.0.0.1:9", check_compatibility=False)  # not contacted
    sent: list[dict[str, Any]] = []

    async def upsert(**kwargs: Any) -> models.UpdateResult:
        sent.append(kwargs)
        return models.UpdateResult(operation_id=1, status=models.UpdateStatus.COMPLETED)

    monkeypatch.setattr(client._client, "upsert", upsert)
    transport = RemoteTransport({}, user_client=client)
    point = models.PointStruct(id=1, vector=[0.5, 0.5], payload={})
    result = await transport.call("upsert", collection_name="c", points=[point], wait=True)
    assert result.status == models.UpdateStatus.COMPLETED
    assert sent == [{"collection_name": "c", "points": [point], "wait": True}]
    # Anything else still goes through the public client (which would scan a query, say).
    with pytest.raises(AssertionError, match="inference scan"):
        await transport.call("query_batch_points", collection_name="c", requests=[])

    # A wrapper, or a subclass with its own upsert, is called as it is (its upsert may add
    # behaviour: retries, tracing, fault injection in tests).
    class Traced(AsyncQdrantClient):
        async def upsert(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the subclass's upsert ran")

    class Wrapper:
        def __getattr__(self, name: str) -> Any:
            if name == "upsert":
                raise AssertionError("the wrapper's upsert ran")
            return getattr(client, name)

    for other in (Traced(url="http://127.0.0.1:9", check_compatibility=False), Wrapper()):
        with pytest.raises(AssertionError, match="upsert ran"):
            await RemoteTransport({}, user_client=other).call(  # type: ignore[arg-type]
                "upsert", collection_name="c", points=[point], wait=True
            )
    await client.close()


async def test_queue_thread_runs_coroutines_in_order_and_hands_back_errors() -> None:
    worker = QueueThread("test-queue-thread")
    order: list[int] = []

    async def step(i: int) -> str:
        await asyncio.sleep(0)  # a real coroutine: it runs on the worker's own loop
        order.append(i)
        return threading.current_thread().name

    async def fail() -> None:
        raise KeyError("boom")

    futures = [worker.submit(step(i)) for i in range(5)]
    failing = worker.submit(fail())
    assert [await asyncio.wrap_future(f) for f in futures] == ["test-queue-thread"] * 5
    assert order == [0, 1, 2, 3, 4]
    with pytest.raises(KeyError, match="boom"):
        await asyncio.wrap_future(failing)
    slow = worker.submit(asyncio.sleep(0.05, result="finished"))
    worker.stop()  # queued work finishes before the thread ends
    assert slow.result(timeout=5) == "finished"
    assert not worker.thread.is_alive()
    late = step(9)
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit(late)
    assert late.cr_frame is None  # closed, not left un-awaited


async def test_queue_thread_skips_a_cancelled_call() -> None:
    worker = QueueThread("test-queue-thread-cancel")
    gate = threading.Event()
    ran: list[str] = []

    async def blocker() -> None:
        gate.wait(5)

    async def never() -> None:
        ran.append("never")

    first = worker.submit(blocker())
    skipped = worker.submit(never())
    assert skipped.cancel()
    gate.set()
    first.result(timeout=5)
    worker.stop()
    assert ran == [] and skipped.cancelled()


async def test_queue_thread_calls_functions_in_order_and_hands_back_results_and_errors() -> None:
    worker = QueueThread("test-queue-thread-calls")
    order: list[int] = []

    def step(i: int) -> str:
        order.append(i)
        return threading.current_thread().name

    def fail() -> None:
        raise KeyError("boom")

    def stop_iteration() -> None:
        raise StopIteration  # an asyncio future cannot carry it: it arrives as a RuntimeError

    calls = [asyncio.ensure_future(worker.call(lambda i=i: step(i))) for i in range(5)]
    assert await asyncio.gather(*calls) == ["test-queue-thread-calls"] * 5
    assert order == [0, 1, 2, 3, 4]
    with pytest.raises(KeyError, match="boom"):
        await worker.call(fail)
    with pytest.raises(RuntimeError, match="StopIteration"):
        await worker.call(stop_iteration)
    worker.stop()
    assert not worker.thread.is_alive()
    with pytest.raises(RuntimeError, match="stopped"):
        await worker.call(lambda: step(9))
    assert order == [0, 1, 2, 3, 4]


async def test_queue_thread_skips_a_function_whose_caller_was_cancelled() -> None:
    worker = QueueThread("test-queue-thread-call-cancel")
    gate = threading.Event()
    ran: list[str] = []
    first = asyncio.ensure_future(worker.call(lambda: gate.wait(5)))
    skipped = asyncio.ensure_future(worker.call(lambda: ran.append("skipped")))
    await asyncio.sleep(0.01)  # both queued; the first is running
    skipped.cancel()
    gate.set()
    assert await first is True
    with pytest.raises(asyncio.CancelledError):
        await skipped
    worker.stop()
    assert ran == []


async def test_a_call_whose_loop_closed_meanwhile_does_not_break_the_thread() -> None:
    worker = QueueThread("test-queue-thread-closed-loop")
    gate = threading.Event()

    def in_another_loop() -> None:
        async def start() -> None:
            asyncio.ensure_future(worker.call(lambda: gate.wait(5)))
            await asyncio.sleep(0.01)

        asyncio.run(start())  # leaves the call pending and closes its loop

    await asyncio.to_thread(in_another_loop)
    gate.set()  # the result has no loop to go to
    assert await asyncio.wait_for(worker.call(lambda: "still serving"), 10) == "still serving"
    worker.stop()


async def test_a_function_whose_caller_left_while_it_ran_reports_nothing_to_the_loop() -> None:
    worker = QueueThread("test-queue-thread-left")
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "late"

    try:
        pending = asyncio.ensure_future(worker.call(slow))
        await asyncio.to_thread(started.wait, 5)
        pending.cancel()  # the caller leaves while the work runs
        release.set()
        assert await worker.call(lambda: "next") == "next"  # the late result was delivered
        await asyncio.sleep(0.01)
        assert pending.cancelled()
        assert reported == []
    finally:
        loop.set_exception_handler(None)
        worker.stop()


class ReadFailure(RuntimeError):
    pass


@pytest.mark.parametrize(
    ("raised", "expected"),
    [(ReadFailure("the read failed"), ReadFailure), (StopIteration(), RuntimeError)],
)
async def test_a_reads_own_runtime_error_reaches_the_caller_as_is(
    raised: BaseException, expected: type[BaseException]
) -> None:
    # Only a stopped reader means a closed engine; the read's own errors stay what they are.
    client = QdrantClient(":memory:")
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client, readers=1))
    await engine.aupsert("c", points(2))
    real = client.query_points

    def failing(**_: Any) -> Any:
        raise raised

    client.query_points = failing  # type: ignore[method-assign]
    with pytest.raises(expected) as caught:
        await engine.aquery("c", SearchRequest(dense=unit_vector("p1"), limit=1))
    assert not isinstance(caught.value, EngineClosedError)
    client.query_points = real  # type: ignore[method-assign]
    assert (await engine.aquery("c", SearchRequest(dense=unit_vector("p1"), limit=1)))[0].id == "p1"
    await engine.aclose()
    client.close()


async def test_a_folder_store_reads_one_at_a_time_and_its_searches_stay_exact(
    tmp_path: Path,
) -> None:
    # Local mode loads a folder's vectors as written (not unit length) and its cosine search
    # divides them by their norms in place: two first searches side by side would both divide.
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(6000, 64)) * rng.uniform(1, 50, size=(6000, 1))
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    queries = rng.normal(size=(8, 64))
    path = str(tmp_path / "store")
    async with QdrantEngine(path=path, readers=0) as engine:
        await engine.aupsert("c", [PointInput(f"p{i}", {}, raw[i].tolist()) for i in range(6000)])
    for _ in range(3):
        async with QdrantEngine(path=path, readers=2) as engine:
            transport = engine._transport
            assert isinstance(transport, EmbeddedTransport) and transport._reader_count == 0
            results = await asyncio.gather(*(
                engine.aquery("c", SearchRequest(dense=q.tolist(), limit=5)) for q in queries
            ))
        for q, hits in zip(queries, results, strict=True):
            scores = unit @ (q / np.linalg.norm(q))
            best = np.argsort(-scores)[:5]
            assert [h.id for h in hits] == [f"p{i}" for i in best]
            assert np.allclose([h.score for h in hits], scores[best], atol=1e-4)
    client = QdrantClient(path=str(tmp_path / "given"))
    given = QdrantEngine.from_client(client, readers=2)
    assert isinstance(given._transport, EmbeddedTransport)
    assert given._transport._reader_count == 0
    await given.aclose()
    client.close()


async def test_a_read_that_meets_a_closing_engine_gets_the_typed_error() -> None:
    engine = QdrantEngine(readers=2)
    await engine.aupsert("c", points(3))
    assert await engine.acount("c") == 3  # starts the readers
    transport = engine._transport
    assert isinstance(transport, EmbeddedTransport) and len(transport._readers) == 2
    for reader in transport._readers:
        reader.stop()  # what aclose does, between a read's closed-check and its submission
    with pytest.raises(EngineClosedError):
        await transport._read("count", {"collection_name": "c"})
    assert set(transport._reading.values()) == {0}  # the accounting is given back
    await engine.aclose()


def _nice_of(thread: threading.Thread) -> int:
    assert thread.native_id is not None
    return os.getpriority(os.PRIO_PROCESS, thread.native_id)


@pytest.mark.skipif(
    not __import__("sys").platform.startswith("linux"), reason="per-thread nice is Linux's"
)
@pytest.mark.parametrize(("reader_nice", "steps"), [(None, 0), (0, 0), (3, 3), (10, 10)])
async def test_reader_threads_run_at_a_lower_priority_than_the_loop(
    reader_nice: int | None, steps: int
) -> None:
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    options = {} if reader_nice is None else {"reader_nice": reader_nice}
    engine = QdrantEngine(readers=2, **options)
    await engine.aupsert("c", points(3))
    assert (await engine.aquery("c", SearchRequest(dense=unit_vector("p1"))))[0].id == "p1"
    transport = engine._transport
    assert isinstance(transport, EmbeddedTransport)
    assert [_nice_of(reader.thread) for reader in transport._readers] == [min(mine + steps, 19)] * 2
    # Only the readers: this thread and the storage thread keep their priority.
    assert _nice_of(threading.current_thread()) == mine
    assert _nice_of(engine._transport.storage_thread) == mine
    await engine.aclose()


@pytest.mark.parametrize("reader_nice", [-1, 20, 2.5, "5"])
def test_a_reader_nice_out_of_range_is_refused(reader_nice: Any) -> None:
    from qdrant_aio import ConfigurationError

    with pytest.raises(ConfigurationError, match="reader_nice"):
        QdrantEngine(reader_nice=reader_nice)
    with pytest.raises(ConfigurationError, match="reader_nice"):
        QdrantEngine.from_client(QdrantClient(":memory:"), reader_nice=reader_nice)


async def test_a_reader_whose_priority_cannot_change_still_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qdrant_aio import bridge

    def broken(*_: Any) -> None:
        raise TypeError("not on this system")

    monkeypatch.setattr(bridge.sys, "platform", "linux")
    monkeypatch.setattr(bridge.os, "setpriority", broken, raising=False)
    engine = QdrantEngine(readers=2, reader_nice=5)
    await engine.aupsert("c", points(3))
    found = await asyncio.wait_for(engine.aquery("c", SearchRequest(dense=unit_vector("p2"))), 10)
    assert found[0].id == "p2"
    await asyncio.wait_for(engine.aclose(), 10)


def test_lower_thread_priority_is_a_no_op_for_zero_steps_and_off_linux(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qdrant_aio import bridge

    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(bridge.os, "setpriority", lambda *a: calls.append(a), raising=False)
    assert bridge.lower_thread_priority(0) is False
    monkeypatch.setattr(bridge.sys, "platform", "darwin")  # nice is per process there
    assert bridge.lower_thread_priority(5) is False
    assert calls == []


def test_lower_thread_priority_carries_on_when_the_system_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qdrant_aio import bridge

    def refuse(*_: int) -> None:
        raise PermissionError("not here")

    monkeypatch.setattr(bridge.sys, "platform", "linux")
    monkeypatch.setattr(bridge.os, "getpriority", lambda *_: 0, raising=False)
    monkeypatch.setattr(bridge.os, "setpriority", refuse, raising=False)
    assert bridge.lower_thread_priority(5) is False


def test_an_unreadable_cgroup_file_means_no_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    # Computed when qdrant_aio.engine is imported: it must never raise.
    def undecodable(self: Path, *args: Any, **kwargs: Any) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(Path, "read_text", undecodable)
    assert cgroup_cpu_quota() is None
    assert usable_cpus() >= 1
