"""Sync/async bridging: every operation is a coroutine; sync callers run it on a private loop.

A :class:`LoopThread` is an event loop running forever in a daemon thread. Sync methods hand their
coroutine to the process-wide bridge loop and block on the result, so they work everywhere: with
no loop, inside a running loop (a notebook, a framework calling sync code from async code), and
across any number of ``asyncio.run`` calls, because the coroutine never runs on the caller's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Sequence,
)
from typing import Any, Generic, TypeVar, cast

__all__ = [
    "LoopThread",
    "QueueThread",
    "ReadAhead",
    "bridge_loop",
    "cancel_and_wait",
    "on_caller_loop",
    "sync_or_async",
    "overlapped",
    "run_sync",
    "map_cooperatively",
    "map_slice",
    "lower_thread_priority",
]

T = TypeVar("T")
R = TypeVar("R")

# Longest stretch of per-item work between two yields to the event loop.
SLICE_SECONDS = 0.001
# How long a busy thread of qdrant-aio's sleeps to hand the interpreter lock over, and how often
# at most (hand_over_gil): often enough for your loop's p99 lateness to stay under 5 ms, rarely
# enough that an add of many small steps does not pay a sleep and a lock hand-over for each.
GIL_HANDOVER_SECONDS = 0.00005
GIL_HANDOVER_EVERY = 0.002
_last_handover = threading.local()


# Threads qdrant-aio runs its loops on (storage, readers, the bridge).
_own_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

# Inside a job handed to a loop thread (LoopThread.run_job): the loop of the coroutine that
# handed it over, where user code called from the job runs (see on_caller_loop).
_CALLER_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "qdrant_aio_caller_loop", default=None
)


# True inside the coroutine of a sync method (run_sync), and in what it awaits: user code with
# a sync and an async form then runs in its sync form (see sync_or_async).
_SYNC_CALLER: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "qdrant_aio_sync_caller", default=False
)


class LoopThread:
    """An asyncio event loop served by one daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        # Jobs running on this loop (run_job), each with the error for its caller once
        # stop_jobs has stopped it (None until then); touched only on this loop's thread.
        self._jobs: dict[asyncio.Task[Any], BaseException | None] = {}
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        _own_threads.add(self._thread)
        self._thread.start()
        self._ready.wait()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
            # Whatever is left (a job submitted as the loop stopped) is cancelled and unwinds,
            # so that no caller waits forever for a loop that is gone.
            self._loop.run_until_complete(_cancel_leftover_tasks())
        finally:
            self._loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def in_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def is_alive(self) -> bool:
        return self._thread.is_alive() and not self._loop.is_closed()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on this loop from any thread."""
        if not self.is_alive():
            coro.close()
            raise RuntimeError(f"loop thread {self.name!r} is stopped")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on this loop from a coroutine running on another loop."""
        if self.in_thread():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    async def run_job(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on this loop as a job of the calling coroutine.

        Unlike :meth:`run_async`, the job runs in a copy of the caller's context (context
        variables, such as tracing callbacks, carry over), user code it awaits through
        :func:`on_caller_loop` goes back to the caller's loop, and a cancelled caller waits for
        the job to unwind before it sees the cancellation, as if the job had run on its own
        loop (so nothing of a cancelled add is still being written after the caller moved on).
        """
        if self.in_thread():
            return await coro
        caller = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = caller.create_future()
        context = contextvars.copy_context()
        context.run(_CALLER_LOOP.set, caller)
        task: list[asyncio.Task[T]] = []

        def report(done: asyncio.Task[T]) -> None:
            stopped = self._jobs.pop(done, None)
            with contextlib.suppress(RuntimeError):  # the caller's loop is already closed
                caller.call_soon_threadsafe(_settle, outcome, done, stopped)

        def start() -> None:
            # Created inside the copy, so the task runs in (a copy of) the caller's context.
            task.append(context.run(self._loop.create_task, coro))
            self._jobs[task[0]] = None
            task[0].add_done_callback(report)

        try:
            if not self.is_alive():
                raise RuntimeError(f"loop thread {self.name!r} is stopped")
            self._loop.call_soon_threadsafe(start)  # RuntimeError once the loop is closed
        except RuntimeError:
            coro.close()
            raise
        try:
            return await asyncio.shield(outcome)
        except asyncio.CancelledError:
            if outcome.done():  # the job itself was cancelled (or ended meanwhile)
                raise
            # FIFO: ``start`` has run by the time this callback does. (A loop closed meanwhile
            # has cancelled its leftover tasks itself.)
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(lambda: task[0].cancel())
            while not outcome.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(outcome)
            raise

    async def stop_jobs(self, error: Callable[[], BaseException]) -> None:
        """Cancel the jobs running on this loop and wait until they have unwound; the caller
        of each gets a new ``error()``. To be awaited on this loop (a closing engine)."""
        jobs = list(self._jobs)
        for job in jobs:
            self._jobs[job] = error()
        await cancel_and_wait(jobs)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this loop and block the calling thread until it is done."""
        if self.in_thread():
            coro.close()
            raise RuntimeError(
                "a qdrant-aio sync method was called from inside qdrant-aio's own loop thread; "
                "use the async method there"
            )
        return self.submit(coro).result()

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if not self.in_thread():
            self._thread.join(timeout)


def hand_over_gil() -> None:
    """Let a thread waiting for the interpreter lock (your event loop's) take it now.

    For use between two steps of a long run of work on one of qdrant-aio's threads. A thread
    waiting for the lock asks its holder to drop it only if no other thread took it during the
    switch interval; a busy thread that releases and retakes it many times a millisecond (in
    numpy, or in a select with no timeout) counts as a switch each time, so the waiting thread
    can starve for as long as the busy one keeps going: measured, the loop 80-230 ms late
    during the checks of a LlamaIndex add run as one storage job. A real sleep, however short,
    lets the waiting thread in (a sleep of 0 does not: it releases and retakes the lock too).
    At most once every ``GIL_HANDOVER_EVERY`` seconds per thread.
    """
    clock = time.perf_counter
    if clock() - getattr(_last_handover, "at", -GIL_HANDOVER_EVERY) < GIL_HANDOVER_EVERY:
        return
    time.sleep(GIL_HANDOVER_SECONDS)
    _last_handover.at = clock()


def lower_thread_priority(steps: int) -> bool:
    """Raise the calling thread's nice value by ``steps`` (at most to 19); True if it did.

    Linux only, where the nice value belongs to each thread (elsewhere it is the whole
    process's, which must not change): other systems, and systems that refuse, are left alone.
    Raising one's own nice value needs no privilege.
    """
    if steps <= 0 or not sys.platform.startswith("linux"):
        return False
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(current + steps, 19))
    except Exception:  # noqa: BLE001 - a sandbox that forbids it: keep the inherited priority
        return False
    return True


class QueueThread:
    """A daemon thread that runs submitted work one piece after another.

    Unlike :class:`LoopThread`, it waits on a queue, not on a socket. Submitting wakes it without
    a system call that lets go of the GIL, so the submitting event loop keeps the interpreter
    until it next waits, instead of stalling while the woken thread runs (measured: ~0.4 ms a
    call with a socket wake-up when the woken thread starts a search).

    :meth:`call` runs a plain function and puts its result straight into the caller's loop;
    :meth:`submit` runs a coroutine on the thread's own loop. A function costs less: around a
    13 ms search, ~180 us of hand-over there and back against ~420 us for a coroutine, whose
    loop turns on this thread (a task, a select that lets go of the GIL) add to every call.

    ``nice`` > 0 lowers the thread's CPU priority by that many steps (Linux, see
    :func:`lower_thread_priority`), so that a thread it competes with for a core, such as an
    event loop's, is scheduled first when it wakes.
    """

    def __init__(self, name: str, *, nice: int = 0) -> None:
        self.name = name
        self._nice = nice
        self._jobs: queue.SimpleQueue[Callable[[asyncio.AbstractEventLoop], None] | None] = (
            queue.SimpleQueue()
        )
        self._stopped = False
        self._submitting = threading.Lock()  # a job is never queued behind the stop marker
        self.finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        _own_threads.add(self._thread)
        self._thread.start()
        if nice:
            self._started.wait()  # its first job already runs at the lower priority

    def _serve(self) -> None:
        try:
            if self._nice:
                lower_thread_priority(self._nice)
        finally:
            self._started.set()
        loop = asyncio.new_event_loop()  # for coroutines (submit); functions need none
        asyncio.set_event_loop(loop)
        try:
            while (job := self._jobs.get()) is not None:
                job(loop)
                if not self._jobs.empty():
                    # Searches queued back to back would otherwise keep the lock from your
                    # loop. (With none queued, the wait for the next one lets go of it.)
                    hand_over_gil()
        finally:
            loop.close()
            self.finished.set_result(None)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def _queue(self, job: Callable[[asyncio.AbstractEventLoop], None]) -> None:
        with self._submitting:
            if self._stopped or not self._thread.is_alive():
                raise RuntimeError(f"thread {self.name!r} is stopped")
            self._jobs.put(job)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Queue ``coro``; its result (or error) arrives in the returned future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def job(loop: asyncio.AbstractEventLoop) -> None:
            if not future.set_running_or_notify_cancel():
                coro.close()
                return
            try:
                result = loop.run_until_complete(coro)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(error)
            else:
                future.set_result(result)

        try:
            self._queue(job)
        except RuntimeError:
            coro.close()
            raise
        return future

    def call(self, work: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``work`` to run on this thread; await the returned future (of the calling loop)
        for its result or error.

        Raises RuntimeError here, before anything runs, if the thread is stopped; an error of
        ``work`` itself arrives only through the future. Work whose caller was cancelled
        before it started is skipped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def job(_: asyncio.AbstractEventLoop) -> None:
            if future.cancelled():  # a read of a flag: harmless if it changes just after
                return
            try:
                outcome: tuple[Any, BaseException | None] = (work(), None)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
                outcome = (None, error)
            with contextlib.suppress(RuntimeError):  # the caller's loop closed: nobody waits
                loop.call_soon_threadsafe(_set_outcome, future, *outcome)

        self._queue(job)
        return future

    def stop(self, timeout: float = 5.0, *, wait: bool = True) -> None:
        """Take no more work; finish the queued work, then end the thread.

        ``wait=False`` returns at once (:attr:`finished` is done once the queue is).
        """
        with self._submitting:
            if not self._stopped:
                self._stopped = True
                self._jobs.put(None)
        if wait and threading.current_thread() is not self._thread:
            self._thread.join(timeout)


def _set_outcome(future: asyncio.Future[T], result: T, error: BaseException | None) -> None:
    if future.done():  # cancelled while the work ran
        return
    if error is None:
        future.set_result(result)
    elif isinstance(error, StopIteration):  # an asyncio future refuses to carry one
        future.set_exception(RuntimeError(f"the work raised {error!r}"))
    else:
        future.set_exception(error)


async def on_caller_loop(awaitable: Awaitable[T]) -> T:
    """Await user code (an embedding model, an encoder) on the loop of the job's caller.

    User objects are often bound to the loop they were made on (an HTTP client's connection
    pool), so code of qdrant-aio's that runs as a job on one of its own loop threads
    (:meth:`LoopThread.run_job`) hands such calls back to the caller's loop, which is waiting
    for the job and free to run them. Outside a job, or already on that loop, it just awaits.
    """
    caller = _CALLER_LOOP.get()
    if caller is None or caller is asyncio.get_running_loop():
        return await awaitable

    async def there() -> T:
        return await awaitable

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(there(), caller))


async def overlapped(ahead: Awaitable[T], work: Awaitable[R]) -> tuple[T, R]:
    """Both results, ``ahead`` running while ``work`` does, so its waiting costs no time.

    ``work``'s error wins: ``ahead`` is then cancelled and its outcome dropped (a caller's bad
    input is reported as such, even if the look-ahead failed too). Nothing is left running.
    """
    task = asyncio.ensure_future(ahead)
    try:
        result = await work
    except BaseException:
        await cancel_and_wait([task])
        raise
    return await task, result


class Outcome(Generic[T]):
    """A result, or the error raised instead of it, kept to be raised later by :meth:`result`."""

    __slots__ = ("_error", "_value")

    def __init__(self, value: T | None = None, error: Exception | None = None) -> None:
        self._value = value
        self._error = error

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


async def captured(work: Awaitable[T]) -> Outcome[T]:
    """``work``'s outcome, its error (not a cancellation) kept instead of raised."""
    try:
        return Outcome(await work)
    except Exception as error:  # noqa: BLE001 - kept for the caller to raise or drop
        return Outcome(error=error)


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has ended; their outcomes are dropped."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _cancel_leftover_tasks() -> None:
    await asyncio.sleep(0)  # callbacks queued as the loop stopped run first (they may start tasks)
    this = asyncio.current_task()
    await cancel_and_wait(task for task in asyncio.all_tasks() if task is not this)


def _settle(
    outcome: asyncio.Future[T], task: asyncio.Task[T], stopped: BaseException | None
) -> None:
    """Give ``outcome`` (on the caller's loop) the result of a job's ``task`` (another loop);
    ``stopped``: the error for a job that :meth:`LoopThread.stop_jobs` cancelled."""
    if outcome.done():
        return
    if task.cancelled():
        if stopped is not None:
            outcome.set_exception(stopped)
        else:
            outcome.cancel()
    elif (error := task.exception()) is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(task.result())


_bridge: LoopThread | None = None
_bridge_lock = threading.Lock()


def bridge_loop() -> LoopThread:
    """The process-wide loop that runs the coroutines of sync calls (started on first use)."""
    global _bridge
    with _bridge_lock:
        if _bridge is None or not _bridge.is_alive():
            _bridge = LoopThread("qdrant-aio-bridge")
        return _bridge


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion for a sync caller, whatever loop the caller is in.

    Not from qdrant-aio's own threads (a function handed to ``QdrantEngine.amap`` runs on the
    storage thread): the call would wait for the very thread it blocks, so it raises instead.
    """
    if threading.current_thread() in _own_threads:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError(
            "a qdrant-aio sync method was called from one of qdrant-aio's own threads (for "
            "example inside a function given to QdrantEngine.amap); it would wait for itself. "
            "Call it outside, or use the async method"
        )

    async def _await() -> T:
        _SYNC_CALLER.set(True)  # this task's context only (and the tasks it starts)
        return await awaitable

    return bridge_loop().run(_await())


async def sync_or_async(
    sync_function: Callable[..., T], async_function: Callable[..., Awaitable[T]], *args: Any
) -> T:
    """Call user code that has both forms (an embedding model): under a sync method of
    qdrant-aio, its sync form, in a worker thread; else its async form.

    A sync caller expects the sync form, as langchain-qdrant calls it, and the async form would
    run on qdrant-aio's private bridge loop: an async client made on (or first used on) another
    loop, such as an HTTP connection pool, fails there, or fails on its own loop afterwards.
    """
    if _SYNC_CALLER.get():
        return await asyncio.to_thread(sync_function, *args)
    return await async_function(*args)



def map_slice(
    function: Callable[[T], R], items: Sequence[T], start: int, budget: float
) -> tuple[list[R], int]:
    """``function`` over ``items[start:]`` until ``budget`` seconds have passed.

    Returns the results and the index to resume from (``len(items)`` when done). At least one
    item is always processed, so a caller looping on it always makes progress.
    """
    results: list[R] = []
    clock = time.perf_counter
    deadline = clock() + budget
    stop = len(items)
    index = start
    while index < stop:
        results.append(function(items[index]))
        index += 1
        if clock() >= deadline:
            break
    return results, index


SliceRunner = Callable[[Callable[[], tuple[list[R], int]]], Awaitable[tuple[list[R], int]]]


async def map_cooperatively(
    function: Callable[[T], R],
    items: Sequence[T],
    budget: float = SLICE_SECONDS,
    run_slice: SliceRunner[R] | None = None,
) -> list[R]:
    """``[function(x) for x in items]``, in slices of about ``budget`` seconds.

    Per-item work (validation, payload building) differs a lot in cost, so the slices are cut
    by time, not by count: a long input never holds the loop for more than about ``budget``.
    By default each slice runs here, yielding to the event loop between slices; ``run_slice``
    runs each slice elsewhere instead (an embedded engine's storage thread).
    """
    results: list[R] = []
    index = 0
    while index < len(items):
        work = functools.partial(map_slice, function, items, index, budget)
        if run_slice is not None:
            part, index = await run_slice(work)
        else:
            async with _loop_lane():
                part, index = work()
                # The lane is held through one turn of the loop, so a slice of another map
                # waits for the next turn: timers and I/O are served between any two slices.
                await asyncio.sleep(0)
        results.extend(part)
    return results


# One lane per event loop for the slices of map_cooperatively. Without it, maps running at once
# (an add's checks and the bodies of its four upserts in flight) each ran a slice in the same
# turn of the loop: ~5 ms between turns where one slice is ~1 ms.
_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
_lanes_lock = threading.Lock()


def _loop_lane() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    with _lanes_lock:
        lane = _lanes.get(loop)
        if lane is None:
            lane = _lanes[loop] = asyncio.Lock()
        return lane


_END = object()  # what a read-ahead fetch returns at the end of its source


class ReadAhead(Generic[T]):
    """An async iterator over ``source`` that fetches the next item while the caller works.

    As soon as item *n* is handed out, item *n + 1* is being fetched in a task of its own, so the
    source's own waiting (an embedding service computing batch *n + 1*) overlaps whatever the
    caller does with item *n* (checking it, handing it to storage). One item ahead at most.
    :meth:`aclose` cancels a fetch still running and closes the source.
    """

    def __init__(self, source: AsyncIterable[T]) -> None:
        self._iterator: AsyncIterator[T] = aiter(source)
        self._fetch: asyncio.Task[T | object] | None = None
        self._done = False

    def __aiter__(self) -> ReadAhead[T]:
        return self

    async def _next(self) -> T | object:
        try:
            return await anext(self._iterator)
        except StopAsyncIteration:
            return _END

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        fetch = self._fetch or asyncio.ensure_future(self._next())
        self._fetch = None
        try:
            item = await fetch
        except BaseException:
            self._done = True
            if not fetch.done():  # the caller was cancelled while it waited: stop the fetch too
                fetch.cancel()
            raise
        if item is _END:
            self._done = True
            raise StopAsyncIteration
        self._fetch = asyncio.ensure_future(self._next())
        return cast(T, item)  # not _END: an item of the source

    async def aclose(self) -> None:
        """Stop reading: cancel a fetch in progress and close the source (idempotent)."""
        self._done = True
        fetch, self._fetch = self._fetch, None
        if fetch is not None:
            fetch.cancel()
            try:
                await fetch
            except asyncio.CancelledError:
                if not fetch.cancelled():
                    raise  # the caller itself is being cancelled
            except Exception:  # noqa: BLE001 - an item nobody will read: its error is moot
                pass
        closer = getattr(self._iterator, "aclose", None)
        if closer is not None:
            await closer()
