"""The benchmark harness runs end to end on a tiny data set and reports every figure.

Only completeness and correctness are checked (every figure present and finite, the same top-k
as raw): timings are never asserted.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

FIGURES = [
    "ingest_s",
    "ingest_docs_per_s",
    "ingest_loop_worst_ms",
    "ingest_loop_p99_ms",
    "query_p50_ms",
    "query_p99_ms",
    "concurrent_qps",
    "concurrent_loop_worst_ms",
    "concurrent_loop_p99_ms",
    "topk_agreement_pct",
    "recall_vs_exact_pct",
    "concurrent_same_as_sequential_pct",
    "filtered_query_p50_ms",
    "filtered_hits_in_group_pct",
    "filtered_hits_per_query",
    "fetch_p50_ms",
    "fetch_all_found_pct",
    "delete_ms",
    "delete_exact",
]
RATIOS = ["ingest_docs_per_s", "query_p50_ms", "query_p99_ms", "concurrent_qps",
          "filtered_query_p50_ms", "fetch_p50_ms", "delete_ms"]

Run = tuple[dict[str, Any], dict[str, Any], list[str]]


def _load_runner() -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("qdrant_aio_benchmark_run", BENCHMARKS / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - an adapter still being written is simply left out
        return False
    return True


def _systems() -> list[str]:
    systems = ["raw", "langchain-qdrant", "llamaindex-qdrant"]
    if _importable("qdrant_aio.langchain"):
        systems.append("aio-langchain")
    if _importable("qdrant_aio.llama_index"):
        systems.append("aio-llamaindex")
    return systems


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    runner = _load_runner()
    path = tmp_path_factory.mktemp("bench") / "result.json"
    systems = _systems()
    returned = runner.main([
        "--n", "300", "--rounds", "1", "--queries", "10", "--k", "5", "--concurrency", "4",
        "--systems", ",".join(systems), "--json", str(path),
    ])
    written = json.loads(path.read_text())
    return returned, written, systems


def test_json_has_every_figure_for_every_system(run: Run) -> None:
    _, written, systems = run
    assert written["systems"] == systems
    assert written["skipped"] == {}
    assert written["parameters"]["n"] == 300
    assert written["machine"]["cpu_count"] >= 1
    assert written["machine"]["packages"]["qdrant-client"]
    assert [r["round"] for r in written["rounds"]] == [1]
    for name in systems:
        per_round = written["rounds"][0]["results"][name]
        assert "error" not in per_round, per_round
        medians = written["medians"][name]
        assert medians["rounds_ok"] == 1 and medians["rounds_failed"] == 0
        for figure in FIGURES:
            value = medians.get(figure)
            assert isinstance(value, int | float) and math.isfinite(value), (name, figure, value)
            assert value >= 0, (name, figure, value)
        for figure in RATIOS:
            ratio = written["ratios_vs_raw"][name][figure]
            assert math.isfinite(ratio) and ratio > 0, (name, figure, ratio)
    # Each ratio is that system's median over raw's median, from the same run.
    raw = written["medians"]["raw"]
    for name in systems:
        for figure in RATIOS:
            expected = written["medians"][name][figure] / raw[figure]
            assert written["ratios_vs_raw"][name][figure] == pytest.approx(expected)


def test_every_system_returns_the_same_top_k_as_raw(run: Run) -> None:
    _, written, systems = run
    for name in systems:
        figures = written["rounds"][0]["results"][name]
        assert figures["topk_reference"] == "raw"
        assert figures["topk_agreement_pct"] == 100.0, name
        assert figures["recall_vs_exact_pct"] == 100.0, name  # embedded search is exact
        assert figures["concurrent_same_as_sequential_pct"] == 100.0, name


def test_every_system_filters_fetches_and_deletes_exactly(run: Run) -> None:
    _, written, systems = run
    assert written["parameters"]["ids_per_fetch"] == 30  # 100, or a tenth of a small data set
    assert written["parameters"]["ids_deleted"] == 75  # 1,000, or a quarter
    for name in systems:
        figures = written["rounds"][0]["results"][name]
        assert figures["filtered_hits_in_group_pct"] == 100.0, name
        assert figures["filtered_hits_per_query"] == 5.0, name  # k: each group has 30 documents
        assert figures["fetch_all_found_pct"] == 100.0, name
        assert figures["delete_exact"] == 1.0, name


def test_table_and_returned_results_match_the_file(run: Run) -> None:
    returned, written, systems = run
    assert returned["medians"].keys() == written["medians"].keys()
    table = written["table_markdown"]
    assert table.count("\n") == len(systems) + 1  # header, rule, one row per system
    assert "error" not in table
    points = written["point_operations_table_markdown"]
    assert points.count("\n") == len(systems) + 1
    assert points.count("100% / 100% / yes") == len(systems)
    assert written["mode"] == "embedded"
    assert "requests_per_query" not in written["medians"]["raw"]  # counted only on a server


def test_request_kinds_hide_the_collection_name() -> None:
    _load_runner()
    from bench_measure import request_kind

    assert request_kind("PUT", "/collections/bench-raw-1/points") == "PUT /collections/{c}/points"
    assert request_kind("GET", "/collections/abc") == "GET /collections/{c}"
    assert request_kind("GET", "/") == "GET /"


def test_a_server_api_key_comes_from_the_environment_and_reaches_every_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = _load_runner()
    import bench_systems
    from bench_measure import RequestCounter
    from bench_systems import Context

    monkeypatch.setenv("QDRANT_API_KEY", "sk-SECRET-bench")
    assert runner.server_api_key(None) is None  # embedded: no key
    key = runner.server_api_key("http://qdrant.invalid:6333")
    assert key == "sk-SECRET-bench"
    monkeypatch.setenv("QDRANT_API_KEY", "")
    assert runner.server_api_key("http://qdrant.invalid:6333") is None
    ctx = Context(None, "http://qdrant.invalid:6333", RequestCounter(), "c", api_key=key)  # type: ignore[arg-type]
    assert "sk-SECRET" not in repr(ctx)
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(bench_systems, "AsyncQdrantClient", lambda **kw: made.append(kw))
    monkeypatch.setattr(bench_systems, "QdrantClient", lambda **kw: made.append(kw))
    ctx.sync_client()
    ctx.async_client()
    assert [kw["api_key"] for kw in made] == ["sk-SECRET-bench"] * 2


@pytest.mark.parametrize(("given", "shown"), [
    ("https://user:pw@qdrant.example:6333/base", "https://qdrant.example:6333/base"),
    ("http://key@localhost:6333", "http://localhost:6333"),
    ("http://localhost:6333", "http://localhost:6333"),
    ("--rounds", "--rounds"),
])
def test_credentials_in_a_url_are_not_recorded(given: str, shown: str) -> None:
    assert _load_runner().without_credentials(given) == shown
