"""qdrant-aio against the public anchors: ingest, query latency, concurrency, loop lateness,
and point operations (filtered search, fetch and delete by ids).

    python benchmarks/run.py [--n 20000] [--dim 384] [--rounds 3] [--queries 200] [--k 10]
        [--concurrency 32] [--url URL]
        [--systems raw,aio-langchain,aio-llamaindex,langchain-qdrant,llamaindex-qdrant]
        [--embed-ms 0] [--json PATH] [--quick]

Systems run interleaved, round by round (round r starts at system r and rotates), each on a
fresh store of the same kind: embedded in memory by default, fresh collections on ``--url``.
The figures of every round go to the JSON file; the table shows medians over rounds and ratios
against the raw ``AsyncQdrantClient``. Nothing here is asserted: it is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import resource
import shlex
import sys
import time
import traceback
import uuid
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from bench_data import Dataset, make_dataset
from bench_measure import LoopMonitor, RequestCounter, median, percentile
from bench_systems import (
    RAW_BATCH_EMBEDDED,
    RAW_BATCH_SERVER,
    SYSTEMS,
    Context,
    System,
    unavailable_reason,
)

# Credentials in --url are not recorded (the JSON keeps the command line).
from qdrant_aio.transport import url_without_credentials as without_credentials

DEFAULT_SYSTEMS = ["raw", "aio-langchain", "aio-llamaindex", "langchain-qdrant",
                   "llamaindex-qdrant"]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PACKAGES = ["qdrant-aio", "qdrant-client", "numpy", "httpx", "langchain-core", "langchain-qdrant",
            "llama-index-core", "llama-index-vector-stores-qdrant"]

# Figures printed with their ratio system / raw (throughput: > 1 is faster; latency: < 1 is).
RATIO_FIGURES = ["ingest_docs_per_s", "query_p50_ms", "query_p99_ms", "concurrent_qps",
                 "filtered_query_p50_ms", "fetch_p50_ms", "delete_ms"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark qdrant-aio against raw qdrant-client and the public anchors."
    )
    parser.add_argument("--n", type=int, default=None, help="documents (default 20000)")
    parser.add_argument("--dim", type=int, default=384, help="vector dimension (default 384)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--queries", type=int, default=None, help="query set size (default 200)")
    parser.add_argument("--k", type=int, default=10, help="top-k of every query (default 10)")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="queries in flight in the concurrent phase (default 32)")
    parser.add_argument("--url", default=None,
                        help="a Qdrant server (default: embedded, in memory); also counts "
                             "requests. Its API key, if any, is read from QDRANT_API_KEY")
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                        help="comma-separated, from: " + ",".join(SYSTEMS))
    parser.add_argument("--json", default=None,
                        help="where to write the results (default benchmarks/results/<time>.json)")
    parser.add_argument("--seed", type=int, default=7, help="data seed (default 7)")
    parser.add_argument("--embed-ms", type=float, default=0.0,
                        help="each embedding call of 64 texts takes this long, as with a remote "
                             "embedding service (default 0); LangChain stores and raw only")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: N=2000, rounds=1, queries=50 unless given")
    args = parser.parse_args(argv)
    quick = {"n": 2000, "rounds": 1, "queries": 50}
    full = {"n": 20000, "rounds": 3, "queries": 200}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in names if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown systems {unknown}; choose from {list(SYSTEMS)}")
    if not names:
        parser.error("no systems given")
    args.system_names = list(dict.fromkeys(names))
    for key in ("n", "dim", "rounds", "queries", "k", "concurrency"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be at least 1")
    if not (math.isfinite(args.embed_ms) and args.embed_ms >= 0):
        parser.error("--embed-ms must be a finite number of at least 0")
    return args


# ---------------------------------------------------------------------------- one system, one round


async def measure(system: System, ds: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """Ingest N documents, then run the query set sequentially and with concurrency."""
    counter = system.ctx.counter
    figures: dict[str, Any] = {}
    await system.setup()
    # What the harness prepared (nodes with their embeddings) is the caller's data, not the
    # system's: keep it out of the collector's walks, as the data set is.
    gc.collect()
    gc.freeze()
    try:
        before = counter.snapshot()
        counter.reset_peak()
        monitor = LoopMonitor()
        await monitor.start()
        start, cpu_start = time.perf_counter(), time.process_time()
        usage_start = resource.getrusage(resource.RUSAGE_SELF)
        await system.ingest()
        elapsed = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # CPU time of every thread of the process (the loop probe included): steadier than wall
        # time on a noisy machine; a local stand-in server is another process, not counted.
        cpu = time.process_time() - cpu_start
        ingest_loop = await monitor.stop()
        figures["ingest_s"] = elapsed
        figures["ingest_cpu_s"] = cpu
        # Kernel time and page faults: they follow what ran before in the process (memory the
        # previous system freed is reused, or not), which explains much of the noise.
        figures["ingest_sys_cpu_s"] = usage.ru_stime - usage_start.ru_stime
        figures["ingest_minor_faults"] = usage.ru_minflt - usage_start.ru_minflt
        figures["ingest_docs_per_s"] = ds.n / elapsed
        figures["ingest_loop_worst_ms"] = ingest_loop["worst_ms"]
        figures["ingest_loop_p99_ms"] = ingest_loop["p99_ms"]
        figures["ingest_gc_max_ms"] = ingest_loop["gc_max_ms"]
        if args.url is not None:
            by_kind = counter.since(before)
            figures["ingest_requests"] = sum(by_kind.values())
            figures["ingest_upsert_requests"] = sum(
                v for kind, v in by_kind.items() if kind.endswith("/points") and "PUT" in kind
            )
            figures["ingest_peak_in_flight"] = counter.peak_in_flight
            figures["ingest_requests_by_kind"] = by_kind

        # One untimed query first: lazy first-use work (format detection, layout cache) is not
        # what a steady-state query costs.
        await system.query(ds.queries[0], args.k)

        before = counter.snapshot()
        latencies: list[float] = []
        sequential: list[list[int]] = []
        for vector in ds.queries:
            start = time.perf_counter()
            sequential.append(await system.query(vector, args.k))
            latencies.append((time.perf_counter() - start) * 1000)
        figures["query_p50_ms"] = percentile(latencies, 50)
        figures["query_p99_ms"] = percentile(latencies, 99)
        if args.url is not None:
            by_kind = counter.since(before)
            figures["requests_per_query"] = sum(by_kind.values()) / len(ds.queries)
            figures["query_requests_by_kind"] = by_kind

        slots = asyncio.Semaphore(args.concurrency)

        async def one(vector: list[float]) -> list[int]:
            async with slots:
                return await system.query(vector, args.k)

        before = counter.snapshot()
        counter.reset_peak()
        monitor = LoopMonitor()
        await monitor.start()
        start = time.perf_counter()
        concurrent = await asyncio.gather(*(one(v) for v in ds.queries))
        elapsed = time.perf_counter() - start
        query_loop = await monitor.stop()
        figures["concurrent_qps"] = len(ds.queries) / elapsed
        figures["concurrent_loop_worst_ms"] = query_loop["worst_ms"]
        figures["concurrent_loop_p99_ms"] = query_loop["p99_ms"]
        figures["concurrent_gc_max_ms"] = query_loop["gc_max_ms"]
        if args.url is not None:
            by_kind = counter.since(before)
            figures["concurrent_requests_per_query"] = sum(by_kind.values()) / len(ds.queries)
            figures["concurrent_peak_in_flight"] = counter.peak_in_flight
        figures["concurrent_same_as_sequential_pct"] = 100.0 * sum(
            a == b for a, b in zip(concurrent, sequential, strict=True)
        ) / len(ds.queries)
        figures["recall_vs_exact_pct"] = 100.0 * sum(
            len(set(got) & set(want)) / len(want)
            for got, want in zip(sequential, ds.exact, strict=True)
        ) / len(ds.queries)
        figures["_results"] = sequential
        await measure_point_operations(system, ds, args, figures)
    finally:
        await system.teardown()
    return figures


# Point operations, after the query phases: searches with a metadata filter (one group in ten),
# fetches of a list of ids, one delete of a list of ids. Embedded, a filtered search is tested
# against every point in Python (~0.2 s at 20,000), so only a few are run.
FILTERED_QUERIES = 20
FETCHES = 20


def point_operation_sizes(n: int) -> tuple[int, int]:
    """Ids per fetch and ids deleted: 100 and 1,000, or fewer for a small data set."""
    return max(1, min(100, n // 10)), max(1, min(1000, n // 4))


async def measure_point_operations(
    system: System, ds: Dataset, args: argparse.Namespace, figures: dict[str, Any]
) -> None:
    """Filtered search, fetch by ids and delete by ids: p50 times, requests, and checks."""
    counter = system.ctx.counter
    fetch_size, delete_size = point_operation_sizes(ds.n)
    groups = [int(m["group"]) for m in ds.metadatas]

    before = counter.snapshot()
    latencies: list[float] = []
    in_group = found = 0
    for i, vector in enumerate(ds.queries[:FILTERED_QUERIES]):
        group = i % 10
        start = time.perf_counter()
        hits = await system.query_filtered(vector, args.k, group)
        latencies.append((time.perf_counter() - start) * 1000)
        in_group += sum(groups[h] == group for h in hits)
        found += len(hits)
    figures["filtered_query_p50_ms"] = percentile(latencies, 50)
    # Every hit in the asked group, and k of them (each group has far more than k documents).
    figures["filtered_hits_in_group_pct"] = 100.0 * in_group / max(found, 1)
    figures["filtered_hits_per_query"] = found / len(latencies)
    if args.url is not None:
        figures["requests_per_filtered_query"] = sum(counter.since(before).values()) / len(
            latencies
        )

    before = counter.snapshot()
    latencies = []
    fetched_right = 0
    stride = max(1, (ds.n - delete_size - fetch_size) // FETCHES)
    for j in range(FETCHES):
        first = j * stride
        ids = ds.ids[first : first + fetch_size]
        start = time.perf_counter()
        got = await system.fetch(ids)
        latencies.append((time.perf_counter() - start) * 1000)
        fetched_right += sorted(got) == list(range(first, first + fetch_size))
    figures["fetch_p50_ms"] = percentile(latencies, 50)
    figures["fetch_all_found_pct"] = 100.0 * fetched_right / FETCHES
    if args.url is not None:
        figures["requests_per_fetch"] = sum(counter.since(before).values()) / FETCHES

    doomed = ds.ids[ds.n - delete_size :]
    before = counter.snapshot()
    start = time.perf_counter()
    await system.delete(doomed)
    figures["delete_ms"] = (time.perf_counter() - start) * 1000
    if args.url is not None:
        figures["requests_per_delete"] = sum(counter.since(before).values())
    left = await system.fetch(doomed[:fetch_size]) + await system.fetch(ds.ids[:fetch_size])
    figures["delete_exact"] = float(sorted(left) == list(range(fetch_size)))


# ---------------------------------------------------------------------------- the whole run


def server_api_key(url: str | None) -> str | None:
    """A server's API key, from ``QDRANT_API_KEY`` only (so that it is in neither the shell's
    history nor the JSON, which records the command line); none in embedded mode."""
    if url is None:
        return None
    return os.environ.get("QDRANT_API_KEY") or None


def machine_info() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": versions,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


async def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    skipped: dict[str, str] = {}
    names: list[str] = []
    for name in args.system_names:
        reason = unavailable_reason(name)
        if reason is None and args.embed_ms and not SYSTEMS[name].embeds_texts:
            reason = (
                "its nodes arrive embedded (LlamaIndex embeds before add): "
                "--embed-ms does not apply"
            )
        if reason is None:
            names.append(name)
        else:
            skipped[name] = reason
            print(f"skipping {name}: {reason}", file=sys.stderr)
    ds = make_dataset(args.n, args.dim, args.queries, args.k, seed=args.seed)
    # The data set is millions of long-lived floats: keep the garbage collector from walking
    # them over and over (its full collections would stall whichever system runs at the time).
    gc.collect()
    gc.freeze()
    counter = RequestCounter()
    api_key = server_api_key(args.url)
    run_id = uuid.uuid4().hex[:8]
    rounds: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            shift = r % len(names) if names else 0
            order = names[shift:] + names[:shift]
            per_system: dict[str, Any] = {}
            for name in order:
                gc.unfreeze()  # let the previous system's leftovers go; the data set stays
                gc.collect()
                gc.freeze()
                ctx = Context(
                    ds, args.url, counter, f"bench-{name}-{run_id}-r{r}",
                    embed_delay=args.embed_ms / 1000, api_key=api_key,
                )
                print(f"round {r + 1}/{args.rounds}: {name} ...", file=sys.stderr, flush=True)
                try:
                    per_system[name] = await measure(SYSTEMS[name](ctx), ds, args)
                except Exception as error:  # noqa: BLE001 - one failing system must not end all
                    traceback.print_exc()
                    per_system[name] = {"error": f"{type(error).__name__}: {error}"}
            add_agreement(per_system, ds)
            rounds.append({"round": r + 1, "order": order, "results": per_system})
    finally:
        gc.unfreeze()
    medians = {name: median_figures([rd["results"][name] for rd in rounds]) for name in names}
    ratios = ratios_vs_raw(medians)
    return {
        "skipped": skipped,
        "systems": names,
        "rounds": rounds,
        "medians": medians,
        "ratios_vs_raw": ratios,
    }


def add_agreement(per_system: dict[str, Any], ds: Dataset) -> None:
    """Top-k agreement with raw (same ids, same order), or with the exact answer without raw."""
    raw = per_system.get("raw", {})
    reference = raw.get("_results")
    want = reference if reference is not None else ds.exact
    for figures in per_system.values():
        results = figures.pop("_results", None)
        if results is None:
            continue
        figures["topk_agreement_pct"] = 100.0 * sum(
            a == b for a, b in zip(results, want, strict=True)
        ) / len(want)
        figures["topk_reference"] = "raw" if reference is not None else "exact"


def median_figures(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [figures for figures in rounds if "error" not in figures]
    out: dict[str, Any] = {"rounds_ok": len(ok), "rounds_failed": len(rounds) - len(ok)}
    errors = [figures["error"] for figures in rounds if "error" in figures]
    if errors:
        out["errors"] = errors
    keys = dict.fromkeys(k for figures in ok for k in figures)
    for key in keys:
        values = [figures[key] for figures in ok if key in figures]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = median(values)
        else:
            out[key] = values[0]
    return out


def ratios_vs_raw(medians: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    raw = medians.get("raw")
    if raw is None:
        return {}
    ratios: dict[str, dict[str, float]] = {}
    for name, figures in medians.items():
        ratios[name] = {}
        for key in RATIO_FIGURES:
            if key in figures and key in raw and raw[key]:
                ratios[name][key] = figures[key] / raw[key]
    return ratios


# ---------------------------------------------------------------------------- output


def _num(value: Any, digits: int = 1) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _with_ratio(value: Any, ratio: Any) -> str:
    text = _num(value)
    if isinstance(ratio, float):
        text += f" ({ratio:.2f}×)"
    return text


def render_table(results: dict[str, Any], server: bool) -> str:
    header = [
        "system", "ingest docs/s", "query p50 ms", "query p99 ms", "concurrent q/s",
        "loop worst / p99 ms (ingest)", "loop worst / p99 ms (queries)",
        "top-k = raw %" if "raw" in results["systems"] else "top-k = exact %",
    ]
    if server:
        header += ["requests / ingest (upserts)", "peak in flight (ingest)", "requests / query"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in results["systems"]:
        m = results["medians"][name]
        r = results["ratios_vs_raw"].get(name, {})
        label = SYSTEMS[name].label
        if not m.get("rounds_ok"):
            lines.append(f"| {label} | error: {m.get('errors', ['?'])[0]} |" + " |" * (
                len(header) - 2))
            continue
        row = [
            label,
            _with_ratio(m.get("ingest_docs_per_s"), r.get("ingest_docs_per_s")),
            _with_ratio(m.get("query_p50_ms"), r.get("query_p50_ms")),
            _with_ratio(m.get("query_p99_ms"), r.get("query_p99_ms")),
            _with_ratio(m.get("concurrent_qps"), r.get("concurrent_qps")),
            f"{_num(m.get('ingest_loop_worst_ms'))} / {_num(m.get('ingest_loop_p99_ms'))}",
            f"{_num(m.get('concurrent_loop_worst_ms'))} / {_num(m.get('concurrent_loop_p99_ms'))}",
            _num(m.get("topk_agreement_pct"), 0),
        ]
        if server:
            row += [
                f"{_num(m.get('ingest_requests'), 0)} ({_num(m.get('ingest_upsert_requests'), 0)})",
                _num(m.get("ingest_peak_in_flight"), 0),
                _num(m.get("requests_per_query"), 2),
            ]
        if m.get("rounds_failed"):
            row[0] += f" ({m['rounds_failed']} round(s) failed)"
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_point_table(results: dict[str, Any], server: bool, args: argparse.Namespace) -> str:
    fetch_size, delete_size = point_operation_sizes(args.n)
    header = [
        "system", "filtered query p50 ms", f"fetch {fetch_size} ids p50 ms",
        f"delete {delete_size} ids ms", "checks (in group / found / deleted)",
    ]
    if server:
        header += ["requests / filtered query, fetch, delete"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in results["systems"]:
        m = results["medians"][name]
        if not m.get("rounds_ok") or "delete_ms" not in m:
            continue
        r = results["ratios_vs_raw"].get(name, {})
        checks = (
            f"{_num(m.get('filtered_hits_in_group_pct'), 0)}% / "
            f"{_num(m.get('fetch_all_found_pct'), 0)}% / "
            + ("yes" if m.get("delete_exact") == 1.0 else "no")
        )
        row = [
            SYSTEMS[name].label,
            _with_ratio(m.get("filtered_query_p50_ms"), r.get("filtered_query_p50_ms")),
            _with_ratio(m.get("fetch_p50_ms"), r.get("fetch_p50_ms")),
            _with_ratio(m.get("delete_ms"), r.get("delete_ms")),
            checks,
        ]
        if server:
            row.append(
                f"{_num(m.get('requests_per_filtered_query'), 2)}, "
                f"{_num(m.get('requests_per_fetch'), 2)}, {_num(m.get('requests_per_delete'), 0)}"
            )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """NaN (a figure with no samples) as null, so the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    command = "python benchmarks/run.py " + " ".join(
        shlex.quote(without_credentials(a)) for a in (sys.argv[1:] if argv is None else argv)
    )
    shown_url = without_credentials(args.url) if args.url else None
    started = datetime.now(timezone.utc)
    info = machine_info()
    with warnings.catch_warnings():
        # llama-index-vector-stores-qdrant makes payload indexes; local mode warns they do nothing.
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        results = asyncio.run(run_benchmark(args))
    finished = datetime.now(timezone.utc)
    info["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    table = render_table(results, server=args.url is not None)
    point_table = render_point_table(results, server=args.url is not None, args=args)
    mode = f"server {shown_url}" if args.url else "embedded (in memory)"
    summary = (
        f"{mode}; N={args.n}, dim={args.dim}, k={args.k}, queries={args.queries}, "
        f"concurrency={args.concurrency}, rounds={args.rounds}"
        + (f", {args.embed_ms:g} ms per embedding call" if args.embed_ms else "")
        + "; medians over rounds, "
        f"(×) = ratio to raw AsyncQdrantClient; {info['cpu_count']} CPUs, "
        f"Python {info['python']}, qdrant-client {info['packages']['qdrant-client']}"
    )
    output: dict[str, Any] = {
        "command": command,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "mode": "server" if args.url else "embedded",
        "machine": info,
        "parameters": {
            "n": args.n, "dim": args.dim, "rounds": args.rounds, "queries": args.queries,
            "k": args.k, "concurrency": args.concurrency, "url": shown_url, "seed": args.seed,
            "systems": args.system_names,
            "raw_batch_size": RAW_BATCH_EMBEDDED if args.url is None else RAW_BATCH_SERVER,
            "loop_probe_interval_ms": 1.0,
            "embed_ms": args.embed_ms,
            "filtered_queries": min(FILTERED_QUERIES, args.queries),
            "fetches": FETCHES,
            "ids_per_fetch": point_operation_sizes(args.n)[0],
            "ids_deleted": point_operation_sizes(args.n)[1],
        },
        **results,
        "summary": summary,
        "table_markdown": table,
        "point_operations_table_markdown": point_table,
    }
    path = Path(args.json) if args.json else RESULTS_DIR / (
        started.strftime("%Y%m%dT%H%M%SZ") + ".json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(output), indent=2, default=str) + "\n")
    print()
    print(summary)
    print()
    print(table)
    print()
    print("Point operations (medians over rounds, (×) = ratio to raw):")
    print()
    print(point_table)
    if results["skipped"]:
        print()
        for name, reason in results["skipped"].items():
            print(f"skipped {name}: {reason}")
    print(f"\nresults written to {path}")
    return output


if __name__ == "__main__":
    main()
