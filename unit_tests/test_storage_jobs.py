"""An adapter's add runs as one job on the embedded storage thread (``QdrantEngine.arun_job``),
while user code inside it (embedding models, encoders) goes back to the caller's loop
(``bridge.on_caller_loop``) and sees the caller's context variables."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import numpy as np
import pytest
from engine_support import unit_vector
from langchain_core.embeddings import Embeddings
from llama_index.core.schema import TextNode

from qdrant_aio import EngineClosedError, IngestOptions, PointInput, QdrantEngine
from qdrant_aio.bridge import LoopThread, on_caller_loop
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
STORAGE_THREAD = "qdrant-aio-storage"


class WhereEmbeddings(Embeddings):
    """Async embeddings that record the thread, loop and request id each call ran with."""

    def __init__(self) -> None:
        self.calls: list[tuple[threading.Thread, asyncio.AbstractEventLoop, str]] = []
        self.sync_calls: list[tuple[threading.Thread, bool, str]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        try:
            asyncio.get_running_loop()
            on_a_loop = True
        except RuntimeError:
            on_a_loop = False
        self.sync_calls.append((threading.current_thread(), on_a_loop, REQUEST_ID.get()))
        return [unit_vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return unit_vector(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(
            (threading.current_thread(), asyncio.get_running_loop(), REQUEST_ID.get())
        )
        await asyncio.sleep(0)  # a real model awaits its HTTP client here
        return [unit_vector(t) for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        return unit_vector(text)


async def test_a_job_runs_on_the_storage_thread_and_user_code_on_the_callers_loop() -> None:
    engine = QdrantEngine()
    caller_loop, caller_thread = asyncio.get_running_loop(), threading.current_thread()
    REQUEST_ID.set("r-1")

    async def user_code() -> tuple[threading.Thread, asyncio.AbstractEventLoop, str]:
        return threading.current_thread(), asyncio.get_running_loop(), REQUEST_ID.get()

    async def job() -> tuple[str, str, Any]:
        inside = threading.current_thread().name
        return inside, REQUEST_ID.get(), await on_caller_loop(user_code())

    inside, seen_in_job, (thread, loop, seen_by_user) = await engine.arun_job(job())
    assert inside == STORAGE_THREAD and seen_in_job == "r-1"
    assert thread is caller_thread and loop is caller_loop and seen_by_user == "r-1"
    await engine.aclose()


async def test_outside_a_job_on_caller_loop_just_awaits() -> None:
    async def where() -> threading.Thread:
        return threading.current_thread()

    assert await on_caller_loop(where()) is threading.current_thread()


async def test_a_job_started_on_its_own_thread_runs_inline() -> None:
    thread = LoopThread("test-jobs")
    try:
        async def inner() -> str:
            return threading.current_thread().name

        async def outer() -> str:
            return await thread.run_job(inner())  # no second hand-over, no deadlock

        assert await thread.run_job(outer()) == "test-jobs"
    finally:
        thread.stop()


async def test_errors_of_user_code_and_of_the_job_reach_the_caller_typed() -> None:
    engine = QdrantEngine()

    async def failing_model() -> None:
        raise LookupError("model said no")

    async def job() -> None:
        await on_caller_loop(failing_model())

    with pytest.raises(LookupError, match="model said no"):
        await engine.arun_job(job())
    await engine.aclose()


async def test_cancelling_the_caller_cancels_the_job_and_the_user_code_it_waits_for() -> None:
    engine = QdrantEngine()
    started, cancelled = asyncio.Event(), asyncio.Event()
    job_cancelled = threading.Event()

    async def slow_model() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def job() -> None:
        try:
            await on_caller_loop(slow_model())
        except asyncio.CancelledError:
            job_cancelled.set()
            raise

    task = asyncio.ensure_future(engine.arun_job(job()))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 5)
    assert await asyncio.to_thread(job_cancelled.wait, 5)
    await engine.aclose()


async def test_a_closed_engine_refuses_a_job_and_closes_it() -> None:
    engine = QdrantEngine()
    await engine.aclose()
    ran = []

    async def job() -> None:
        ran.append(True)

    coroutine = job()
    with pytest.raises(EngineClosedError):
        await engine.arun_job(coroutine)
    assert not ran and coroutine.cr_frame is None  # closed, so no "never awaited" warning


async def test_a_server_engine_runs_a_job_on_the_callers_loop() -> None:
    engine = QdrantEngine(url="http://qdrant.invalid:6333")

    async def job() -> threading.Thread:
        return threading.current_thread()

    assert await engine.arun_job(job()) is threading.current_thread()
    await engine.aclose()


async def test_a_plain_upsert_is_one_job_and_an_async_source_stays_on_the_callers_loop() -> None:
    engine = QdrantEngine()
    await engine.aupsert("c", [PointInput(id="a", payload={}, dense=unit_vector("a"))])
    caller = threading.current_thread()
    read_on: list[threading.Thread] = []

    async def batches() -> Any:
        for name in ("b", "c"):
            read_on.append(threading.current_thread())
            yield [PointInput(id=name, payload={}, dense=unit_vector(name))]

    assert await engine.aupsert("c", batches()) == ["b", "c"]
    assert read_on == [caller, caller]  # the caller's own iterable is read where it was made
    assert await engine.acount("c") == 3
    await engine.aclose()


async def test_a_langchain_add_embeds_on_the_callers_loop_with_its_context() -> None:
    embeddings = WhereEmbeddings()
    store = LangChainStore(collection_name="docs", embedding=embeddings, batch_size=4)
    REQUEST_ID.set("add-7")
    texts = [f"text {i}" for i in range(10)]
    ids = await store.aadd_texts(texts, ids=[f"t{i}" for i in range(10)])
    assert len(ids) == 10 and len(embeddings.calls) == 3  # batches of 4, 4 and 2
    loop, thread = asyncio.get_running_loop(), threading.current_thread()
    assert all(c == (thread, loop, "add-7") for c in embeddings.calls)
    found = await store.asimilarity_search_by_vector(unit_vector("text 3"), k=1)
    assert [d.id for d in found] == ["t3"]
    # A sync add runs the same job, with the sync method of the model, in a worker thread
    # (no event loop there), with the caller's context; the async one is not called.
    store.add_texts(["one more"], ids=["t10"])
    assert len(embeddings.calls) == 3 and len(embeddings.sync_calls) == 1
    worker, on_a_loop, request_id = embeddings.sync_calls[0]
    assert worker is not thread and worker.name != "qdrant-aio-bridge"
    assert not on_a_loop and request_id == "add-7"
    await store.aclose()


async def test_a_llama_index_add_checks_nodes_on_the_storage_thread() -> None:
    store = LlamaIndexStore(collection_name="nodes")
    seen: list[str] = []

    class Node(TextNode):
        def get_content(self, *args: Any, **kwargs: Any) -> str:
            seen.append(threading.current_thread().name)
            return super().get_content(*args, **kwargs)

    nodes = [Node(id_=f"n{i}", text=f"node {i}", embedding=unit_vector(f"n{i}"))
             for i in range(5)]
    assert await store.async_add(nodes) == [f"n{i}" for i in range(5)]
    assert seen and set(seen) == {STORAGE_THREAD}
    got = await store.aget_nodes(node_ids=["n2"])
    assert [n.get_content() for n in got] == ["node 2"]
    await store.aclose()


async def test_other_writes_go_between_the_slices_of_a_long_job() -> None:
    engine = QdrantEngine()
    await engine.aupsert("c", [PointInput(id="seed", payload={}, dense=unit_vector("seed"))])
    order: list[str] = []
    started = threading.Event()

    def slow_item(i: int) -> int:
        started.set()
        threading.Event().wait(0.002)  # a slice's worth of per-point work, with the GIL free
        return i

    async def job() -> int:
        order.append("job started")
        slices = 0
        # Runs until the other write got in between (or, if it never could, 10 s at most).
        while "delete done" not in order and slices < 1_000:
            assert await engine.amap(slow_item, range(5)) == list(range(5))
            slices += 1
        order.append("job done")
        return slices

    async def other_write() -> None:
        assert await asyncio.to_thread(started.wait, 10)  # the job is part way through
        await engine.adelete("c", ids=["seed"])
        order.append("delete done")

    slices, _ = await asyncio.gather(engine.arun_job(job()), other_write())
    assert order == ["job started", "delete done", "job done"] and slices < 1_000
    assert await engine.acount("c") == 0
    await engine.aclose()


async def test_closing_the_engine_stops_an_add_waiting_for_its_embeddings() -> None:
    entered = asyncio.Event()

    class StuckEmbeddings(WhereEmbeddings):
        async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
            entered.set()
            await asyncio.Event().wait()  # a model that never answers
            raise AssertionError("unreachable")

    store = LangChainStore(collection_name="docs", embedding=StuckEmbeddings())
    add = asyncio.ensure_future(store.aadd_texts(["a", "b"], ids=["a", "b"]))
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(store.aclose(), 10)  # a hang guard, not a timing check
    with pytest.raises(EngineClosedError, match="closed during the call"):
        await asyncio.wait_for(add, 10)


def test_a_sync_close_inside_the_loop_of_a_waiting_add_does_not_deadlock() -> None:
    async def scenario() -> None:
        entered = asyncio.Event()

        class StuckEmbeddings(WhereEmbeddings):
            async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
                entered.set()
                await asyncio.Event().wait()
                raise AssertionError("unreachable")

        store = LangChainStore(collection_name="docs", embedding=StuckEmbeddings())
        add = asyncio.ensure_future(store.aadd_texts(["a"], ids=["a"]))
        await asyncio.wait_for(entered.wait(), 5)
        # The add's job waits for user code on this very loop, which the sync close blocks:
        # the close stops the job instead of waiting for it.
        store.close()
        try:
            await asyncio.wait_for(add, 10)
        except BaseException as error:  # noqa: BLE001 - checked by the test below
            outcome.append(error)

    outcome: list[BaseException] = []
    thread = threading.Thread(target=asyncio.run, args=(scenario(),), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()  # a hang guard, not a timing check
    assert len(outcome) == 1 and isinstance(outcome[0], EngineClosedError), outcome


async def test_a_cancelled_caller_sees_the_cancellation_after_its_job_unwound() -> None:
    engine = QdrantEngine()
    entered, unwound = threading.Event(), threading.Event()

    async def job() -> None:
        entered.set()
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.01)  # cleanup that takes a while
            unwound.set()

    task = asyncio.ensure_future(engine.arun_job(job()))
    assert await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert unwound.is_set()
    await engine.aclose()


async def test_a_job_left_on_a_stopped_loop_thread_is_cancelled_not_stranded() -> None:
    thread = LoopThread("test-stranded")
    entered = threading.Event()

    async def forever() -> None:
        entered.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(thread.run_job(forever()))
    assert await asyncio.to_thread(entered.wait, 5)
    thread.stop()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)


async def test_the_callers_loop_keeps_running_while_a_job_works_through_numpy_slices() -> None:
    # numpy releases and retakes the interpreter lock many times a millisecond; without a real
    # hand-over between slices the loop waiting for the lock starved for the whole job.
    engine = QdrantEngine()
    rows = np.random.default_rng(7).random((64, 384)).tolist()
    ticks = 0
    done = False

    def convert(_: int) -> bool:
        for _ in range(4):
            matrix = np.asarray(rows).astype(np.float32)
            assert np.isfinite(matrix).all()
        return True

    async def job() -> int:
        slices_before = len(engine_slices)
        assert all(await engine.amap(convert, range(300)))
        return len(engine_slices) - slices_before

    engine_slices: list[int] = []
    original = engine._transport.run_cpu  # type: ignore[attr-defined]

    async def counted(work: Any) -> Any:
        engine_slices.append(1)
        return await original(work)

    engine._transport.run_cpu = counted  # type: ignore[attr-defined]

    async def probe() -> None:
        nonlocal ticks
        while not done:
            await asyncio.sleep(0.001)
            ticks += 1

    watcher = asyncio.ensure_future(probe())
    await asyncio.sleep(0)
    ticks = 0
    slices = await engine.arun_job(job())
    done = True
    await watcher
    assert slices >= 20  # the job really was many slices long
    assert ticks >= slices // 2, (ticks, slices)  # the loop ran between them (starved: ~1/4)
    await engine.aclose()


async def test_an_engine_without_ingest_options_sends_64_points_embedded_and_256_to_a_server(
) -> None:
    embedded = QdrantEngine()
    server = QdrantEngine(url="http://qdrant.invalid:6333")
    given = QdrantEngine(ingest=IngestOptions(batch_size=500))
    assert embedded.ingest_options.batch_size == 64
    assert server.ingest_options.batch_size == 256 == IngestOptions().batch_size
    assert given.ingest_options.batch_size == 500
    # A LangChain store hands the engine one upsert's worth of texts at a time.
    seen: list[int] = []
    store = LangChainStore(client=embedded, collection_name="docs", embedding=WhereEmbeddings())
    original = embedded.aupsert

    async def upsert(collection: str, batches: Any, *args: Any, **kwargs: Any) -> Any:
        async def counted() -> Any:
            async for batch in batches:
                seen.append(len(batch))
                yield batch

        return await original(collection, counted(), *args, **kwargs)

    embedded.aupsert = upsert  # type: ignore[method-assign]
    await store.aadd_texts([f"t{i}" for i in range(150)], ids=[f"t{i}" for i in range(150)])
    assert seen == [64, 64, 22]
    for engine in (embedded, server, given):
        await engine.aclose()


async def test_an_embedded_langchain_add_embeds_256_texts_per_trip_to_the_callers_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import qdrant_aio.langchain as langchain_module

    trips: list[int] = []
    original = langchain_module.on_caller_loop

    async def counted(awaitable: Any) -> Any:
        result = await original(awaitable)
        trips.append(len(result[0]))
        return result

    monkeypatch.setattr(langchain_module, "on_caller_loop", counted)
    embeddings = WhereEmbeddings()
    store = LangChainStore(collection_name="docs", embedding=embeddings)  # calls of 64 texts
    texts = [f"t{i}" for i in range(600)]
    await store.aadd_texts(texts, ids=texts)
    assert trips == [256, 256, 88]  # one trip each, instead of one per embedding call
    assert len(embeddings.calls) == 10  # 4 + 4 + 2 calls of at most 64 texts
    assert await store.engine.acount("docs") == 600
    await store.aclose()
