"""Load test: the async service against the same service written with blocking sync calls.

For each variant of ``fastapi_service.py`` this script starts uvicorn in a subprocess on
127.0.0.1 (a free port; nothing leaves the machine), ingests a few thousand documents through
``POST /documents``, then sends ``--requests`` searches (``GET /search``; ``--filter-every 3``
puts a filter on every third one) with ``--concurrency`` of them in flight at once, and prints
requests per second and latency percentiles. It stops by itself: after the requests, or after
``--max-seconds`` per run, whichever comes first.

The two variants differ in one thing only:

* ``async``: ``async def`` endpoints that ``await store.asimilarity_search_with_relevance_scores``;
* ``blocking``: the same ``async def`` endpoints calling the sync
  ``store.similarity_search_with_relevance_scores`` — the common mistake. Each call holds the
  event loop until it returns, so uvicorn's single loop answers one request at a time.

What to expect. In embedded mode (the default here) the search is CPU work inside the service's
process (qdrant-client's local mode, on numpy), and an event loop cannot overlap CPU work: the two
variants come out close, and the async one can even be slower, because its event-loop thread and
the engine's storage thread compete for the same cores and the GIL. The async variant pulls ahead
when requests wait on the network, as they do in production: a Qdrant server
(``QDRANT_URL=http://localhost:6333 python cookbook/fastapi_load.py``) or a remote embedding
model. ``--embed-latency-ms`` makes the offline embedding wait that long per call
(``asyncio.sleep`` in the async path, ``time.sleep`` in the sync one) to show the effect of a
remote model without one; by default the script runs once without and once with 10 ms. The
numbers are measured, never asserted; they vary from machine to machine and from run to run.

    python cookbook/fastapi_load.py                       # 500 requests, 50 in flight
    python cookbook/fastapi_load.py --requests 2000 --concurrency 100 --embed-latency-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

COOKBOOK = Path(__file__).resolve().parent
VARIANTS = {"async": "fastapi_service:app", "blocking": "fastapi_service:blocking_app"}

_SUBJECTS = ["vector database", "search engine", "web service", "message queue", "key value store",
             "graph database", "data pipeline", "language model", "object storage", "task runner"]
_QUALITIES = ["fast", "distributed", "open source", "managed", "embedded", "async", "secure",
              "lightweight", "scalable", "observable"]
_USES = ["similarity search", "recommendations", "log analytics", "chat assistants",
         "fraud detection", "image retrieval", "caching", "event streaming", "reporting",
         "document question answering"]
TOPICS = ["databases", "infrastructure", "machine learning", "analytics"]


def corpus(size: int, seed: int = 7) -> list[dict[str, Any]]:
    """``size`` short, distinct product blurbs with a topic and a year."""
    rng = random.Random(seed)
    documents = []
    for n in range(size):
        text = (
            f"A {rng.choice(_QUALITIES)} {rng.choice(_SUBJECTS)} for "
            f"{rng.choice(_USES)}, release {n}"
        )
        metadata = {"topic": TOPICS[n % len(TOPICS)], "year": 2010 + n % 15}
        documents.append({"id": f"doc-{n}", "text": text, "metadata": metadata})
    return documents


def queries(count: int, filter_every: int = 0, seed: int = 11) -> list[dict[str, Any]]:
    """Search parameters for ``count`` requests; every ``filter_every``-th one has a filter."""
    rng = random.Random(seed)
    params = []
    for n in range(count):
        query: dict[str, Any] = {"q": f"{rng.choice(_SUBJECTS)} for {rng.choice(_USES)}", "k": 5}
        if filter_every and n % filter_every == 0:
            query["filter"] = f'{{"topic": "{rng.choice(TOPICS)}"}}'
        params.append(query)
    return params


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class LoadSettings:
    requests: int = 500
    concurrency: int = 50
    documents: int = 3000
    max_seconds: float = 60.0
    filter_every: int = 0


@dataclass
class LoadResult:
    variant: str
    completed: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def requests_per_second(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, percent: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[percent - 1] * 1000


@contextlib.contextmanager
def serve(target: str, embed_latency_ms: float) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``uvicorn target`` on a free loopback port; yield its url; stop it afterwards."""
    port = free_port()
    env = dict(os.environ, OFFLINE_EMBED_LATENCY_MS=str(embed_latency_ms))
    # Embedded mode searches with numpy. NumPy's BLAS starts a thread per core for each matrix
    # product, and under concurrent load those threads fight the event loop for the same cores;
    # one BLAS thread measured faster for both variants on small machines. Set it yourself to
    # override.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", target, "--app-dir", str(COOKBOOK),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        # SIGTERM: uvicorn shuts down gracefully and the lifespan closes the engine.
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_until_ready(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service did not start within {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def fire(client: httpx.AsyncClient, settings: LoadSettings, variant: str) -> LoadResult:
    """Send the searches, ``concurrency`` at a time; no new one after ``max_seconds``."""
    pending = queries(settings.requests, settings.filter_every)
    pending.reverse()  # pop() from the end keeps the planned order
    latencies: list[float] = []
    failed = 0
    start = time.perf_counter()
    deadline = start + settings.max_seconds

    async def user() -> None:
        nonlocal failed
        while pending and time.perf_counter() < deadline:
            params = pending.pop()
            sent = time.perf_counter()
            try:
                response = await client.get("/search", params=params)
                ok = response.status_code == 200 and len(response.json()["hits"]) > 0
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - sent)
            else:
                failed += 1

    await asyncio.gather(*(user() for _ in range(settings.concurrency)))
    return LoadResult(variant, len(latencies), failed, time.perf_counter() - start, latencies)


async def measure(variant: str, settings: LoadSettings, embed_latency_ms: float) -> LoadResult:
    """Start one variant, fill it with the corpus, and load it."""
    with serve(VARIANTS[variant], embed_latency_ms) as (base_url, process):
        limits = httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        )
        timeout = httpx.Timeout(max(30.0, settings.max_seconds))
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
            await wait_until_ready(client, process)
            documents = corpus(settings.documents)
            for start in range(0, len(documents), 500):
                response = await client.post(
                    "/documents", json={"documents": documents[start : start + 500]}
                )
                response.raise_for_status()
            (await client.get("/search", params={"q": "warm up"})).raise_for_status()
            return await fire(client, settings, variant)


async def main(
    settings: LoadSettings | None = None, embed_latencies_ms: Sequence[float] = (0.0, 10.0)
) -> dict[float, dict[str, LoadResult]]:
    """Measure both variants once per embedding latency; return ``{latency: {variant: result}}``."""
    settings = settings or LoadSettings()
    where = os.environ.get("QDRANT_URL") or "embedded Qdrant in the service's process"
    print(
        f"{settings.documents} documents; {settings.requests} searches per run, "
        f"{settings.concurrency} in flight"
        + (f", a filter on every {settings.filter_every}" if settings.filter_every else "")
        + f"; uvicorn on 127.0.0.1; {where}"
    )
    results: dict[float, dict[str, LoadResult]] = {}
    for latency in embed_latencies_ms:
        print(f"embedding latency {latency:g} ms per call" + (
            " (the offline embedding as is)" if latency == 0 else " (a simulated remote model)"
        ))
        runs = results[latency] = {}
        for variant in VARIANTS:
            result = runs[variant] = await measure(variant, settings, latency)
            print(
                f"  {variant:<9} {result.requests_per_second:8.1f} requests/s   "
                f"p50 {result.percentile_ms(50):7.1f} ms   "
                f"p95 {result.percentile_ms(95):7.1f} ms   "
                f"({result.completed} ok, {result.failed} failed, {result.seconds:.1f} s)"
            )
        if runs["blocking"].requests_per_second > 0:
            ratio = runs["async"].requests_per_second / runs["blocking"].requests_per_second
            print(f"  async / blocking throughput: {ratio:.2f}x")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="searches per run")
    parser.add_argument("--concurrency", type=int, default=50, help="searches in flight")
    parser.add_argument("--documents", type=int, default=3000, help="documents ingested")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="stop sending new searches after this long, per run")
    parser.add_argument("--filter-every", type=int, default=0,
                        help="put a metadata filter on every n-th search (0: none)")
    parser.add_argument("--embed-latency-ms", type=float, nargs="+", default=[0.0, 10.0],
                        help="one run per value: a simulated remote embedding latency per call")
    args = parser.parse_args()
    load = LoadSettings(args.requests, args.concurrency, args.documents, args.max_seconds,
                        args.filter_every)
    asyncio.run(main(load, args.embed_latency_ms))
