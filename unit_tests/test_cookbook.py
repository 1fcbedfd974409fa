"""Every cookbook example runs, quickly, and finds what it says it finds."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from qdrant_aio import EngineClosedError, QdrantEngine

COOKBOOK = Path(__file__).resolve().parent.parent / "cookbook"



@pytest.fixture(autouse=True)
def embedded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests run on the embedded store, even where QDRANT_URL points at a server."""
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "QDRANT_PATH"):
        monkeypatch.delenv(name, raising=False)

def load(name: str) -> ModuleType:
    # The examples import their neighbours (offline_embeddings) by plain name, as they do when
    # run from their folder.
    if str(COOKBOOK) not in sys.path:
        sys.path.insert(0, str(COOKBOOK))
    spec = importlib.util.spec_from_file_location(f"cookbook_{name}", COOKBOOK / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first, as an import would: dataclasses and pydantic resolve the (postponed)
    # annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_file(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(COOKBOOK / f"{name}.py"), *args],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------------------- quickstart


async def test_quickstart_finds_the_nearest_cities_and_shares_one_collection() -> None:
    found = await load("quickstart").main()
    assert found["cities"] == ["New York", "Berlin", "Munich", "Berlin", "Munich"]
    # Both frameworks answer the same question from the same collection, in the same order.
    assert found["langchain"] == ["qdrant", "postgres"]
    assert found["llama_index"] == found["langchain"]
    assert found["langchain_filtered"] == ["langchain", "llamaindex"]
    assert found["llama_index_filtered"][:2] == ["qdrant", "milvus"]
    assert set(found["llama_index_filtered"]) == {"qdrant", "milvus", "postgres"}
    assert found["langchain_sees"] == ["milvus"]


def test_quickstart_runs_from_its_file() -> None:
    out = run_file("quickstart")
    assert "nearest in Germany" in out
    assert "LangChain reads the node LlamaIndex wrote:" in out
    assert "milvus" in out and "{'topic': 'databases'}" in out


# ---------------------------------------------------------------------------- FastAPI service


async def test_fastapi_service_demo_answers_every_concurrent_user() -> None:
    module = load("fastapi_service")
    result = await module.main(users=50)
    expected_top = ["qdrant", "langchain", "qdrant", "nile"]
    assert len(result["answers"]) == 50
    for n, answer in enumerate(result["answers"]):
        question, k, _ = result["questions"][n % len(result["questions"])]
        assert answer["query"] == question
        assert answer["hits"][0]["id"] == expected_top[n % 4]
        assert len(answer["hits"]) == k
    for answer in result["answers"][1::4]:  # filter {"topic": "frameworks"}
        assert {h["metadata"]["topic"] for h in answer["hits"]} == {"frameworks"}
    for answer in result["answers"][2::4]:  # filter {"year": {"$gte": 2000}}
        assert all(h["metadata"]["year"] >= 2000 for h in answer["hits"])
        assert "postgres" not in {h["id"] for h in answer["hits"]}
    assert result["bad_filter_status"] == 400


async def _serve_and_check(module: ModuleType, *, blocking: bool) -> None:
    engine = QdrantEngine()
    app = module.create_app(blocking=blocking, engine_factory=lambda: engine)
    transport = httpx.ASGITransport(app=app)
    # ASGITransport does not send lifespan events: run the lifespan as a server would.
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            words = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "garnet", "harbor",
                     "indigo", "jasper", "kelp", "lagoon", "meadow", "nectar", "onyx", "prairie",
                     "quartz", "rapids", "sierra", "tundra", "umber", "velvet", "willow",
                     "xenon", "yarrow"]
            texts = {f"doc-{n}": f"{word} {word} notes about {word}" for n, word in
                     enumerate(words)}

            async def ingest(doc_id: str) -> httpx.Response:
                return await client.post("/documents", json={"documents": [
                    {"id": doc_id, "text": texts[doc_id], "metadata": {"n": int(doc_id[4:])}}
                ]})

            async def search(doc_id: str, filtered: bool) -> httpx.Response:
                params: dict[str, Any] = {"q": texts[doc_id], "k": 3}
                if filtered:
                    params["filter"] = json.dumps({"n": {"$gte": 10}})
                return await client.get("/search", params=params)

            # 25 ingests at once, then 50 concurrent searches (half with a filter).
            ingested = await asyncio.gather(*(ingest(doc_id) for doc_id in texts))
            assert [r.status_code for r in ingested] == [200] * 25
            assert [r.json()["ids"] for r in ingested] == [[doc_id] for doc_id in texts]

            doc_ids = list(texts)
            plan = [(doc_ids[n % 25], n >= 25) for n in range(50)]
            answers = await asyncio.gather(*(search(doc_id, f) for doc_id, f in plan))
            for (doc_id, filtered), answer in zip(plan, answers, strict=True):
                assert answer.status_code == 200
                hits = answer.json()["hits"]
                assert 1 <= len(hits) <= 3
                relevances = [h["relevance"] for h in hits]
                assert relevances == sorted(relevances, reverse=True)
                assert all(0.0 <= r <= 1.0 for r in relevances)
                if filtered:
                    assert all(h["metadata"]["n"] >= 10 for h in hits)
                if not filtered or int(doc_id[4:]) >= 10:
                    assert hits[0]["id"] == doc_id
                    assert hits[0]["text"] == texts[doc_id]
                else:
                    assert doc_id not in {h["id"] for h in hits}

            bad = await client.get("/search", params={"q": "x", "filter": "{not json"})
            assert bad.status_code == 400
            bad = await client.get("/search", params={"q": "x", "filter": '{"n": {"$bad": 1}}'})
            assert bad.status_code == 400 and "$bad" in bad.json()["detail"]
            assert (await client.get("/search", params={"q": "x", "k": 0})).status_code == 422
            assert (await client.post("/documents", json={"documents": []})).status_code == 422
    # The lifespan closed the engine when the app stopped.
    with pytest.raises(EngineClosedError):
        await engine.acount("documents")


async def test_fastapi_service_serves_50_concurrent_requests_and_closes_its_engine() -> None:
    await _serve_and_check(load("fastapi_service"), blocking=False)


async def test_fastapi_service_blocking_variant_gives_the_same_answers() -> None:
    # The anti-pattern is slow under load, not wrong: sync calls inside async endpoints work.
    await _serve_and_check(load("fastapi_service"), blocking=True)


def test_fastapi_service_runs_from_its_file() -> None:
    out = run_file("fastapi_service")
    assert "50 concurrent searches answered" in out
    assert "a bad filter gets HTTP 400" in out


def test_fastapi_load_corpus_and_queries_are_deterministic() -> None:
    module = load("fastapi_load")
    docs = module.corpus(3000)
    assert len({d["text"] for d in docs}) == 3000
    assert len({d["id"] for d in docs}) == 3000
    assert module.corpus(3000) == docs
    planned = module.queries(30, filter_every=3)
    assert sum("filter" in q for q in planned) == 10
    assert all(json.loads(q["filter"])["topic"] in module.TOPICS
               for q in planned if "filter" in q)


def test_fastapi_load_measures_both_variants() -> None:
    out = run_file(
        "fastapi_load", "--requests", "20", "--concurrency", "4", "--documents", "60",
        "--filter-every", "4", "--embed-latency-ms", "2",
    )
    runs = re.findall(
        r"^\s+(async|blocking)\s+([\d.]+) requests/s .*\((\d+) ok, (\d+) failed", out, re.M
    )
    assert "embedding latency 2 ms per call" in out
    assert [variant for variant, *_ in runs] == ["async", "blocking"]
    for _, rate, ok, failed in runs:
        assert float(rate) > 0
        assert (int(ok), int(failed)) == (20, 0)
    assert out.count("async / blocking throughput") == 1


# ---------------------------------------------------------------------------- frameworks


async def test_langchain_rag_chain_filters_and_diversifies() -> None:
    found = await load("langchain_rag").main()
    # Plain similarity returns the outdated near-duplicate; MMR replaces it.
    assert found["similarity"] == ["refunds", "refunds-2023", "refund-faulty"]
    assert found["mmr"][0] == "refunds" and "refunds-2023" not in found["mmr"]
    assert len(set(found["mmr"])) == 3
    # The chain: MMR + filter year >= 2024; the echo model quotes exactly those passages.
    assert found["sources"][0] == "refunds" and "refunds-2023" not in found["sources"]
    for source in found["sources"]:
        assert f"[{source}]" in found["answer"]
    assert "[refunds-2023]" not in found["answer"]
    assert {q: ids[0] for q, ids in found["batch"].items()} == {
        "Which warranty does a device have?": "warranty",
        "Is shipping free?": "shipping-cost",
        "How do I reset the router?": "reset",
    }


async def test_llamaindex_query_engine_ingests_retrieves_and_queries() -> None:
    found = await load("llamaindex_query_engine").main()
    assert found["chunks"] > 3  # documents were split into several chunks
    assert found["retrieved"][0] == "python-guide"
    assert "Pip installs Python packages" in found["retrieved_text"][0]
    assert found["filtered"] and set(found["filtered"]) == {"python-guide"}
    assert found["query_sources"][0] == "bread-recipe"
    assert "rise for an hour" in found["answer"]  # MockLLM echoes the retrieved context
    assert found["remaining_docs"] == ["python-guide", "rust-guide"]


async def test_hybrid_search_finds_the_rare_term_and_the_paraphrase() -> None:
    found = await load("hybrid_search").main()
    code = found["printer error E4012"]
    assert "e4012" not in code["dense"]
    assert code["sparse"][0] == "e4012"
    assert "e4012" in code["hybrid"]
    assert set(code["hybrid"]) & set(code["dense"])  # and the general advice as well
    paraphrase = found["streaky printouts"]
    assert paraphrase["sparse"] == []  # no word in common
    assert paraphrase["dense"][0] == "streaks"
    assert paraphrase["hybrid"][0] == "streaks"


async def test_shared_collection_works_both_ways() -> None:
    found = await load("shared_collection").main()
    assert found["llama_index_reads"] == ["foundation", "dune"]
    assert found["langchain_reads"] == ["review-dune"]
    assert found["langchain_by_id"] == ["review-emma", "dune"]
    assert found["reviews_left"] == ["review-dune"]
    # A plain TextNode is stored exactly as a LangChain Document is.
    assert found["payload_keys"] == ["metadata", "metadata_caseless", "page_content"]


async def test_your_own_collection_is_read_filtered_and_extended_by_both() -> None:
    found = await load("your_own_collection").main()
    assert found["langchain"][0].startswith("Refunds are paid back")
    assert len(found["langchain"]) == 2
    assert found["llama_index"][0].startswith("Password resets")
    assert len(found["llama_index"]) == 2  # the 2024 notes only
    assert len(found["billing_after_adds"]) == 3
    assert "Refunds for annual plans are prorated by month." in found["billing_after_adds"]
    assert len(found["accounts_after_adds"]) == 3
    assert any(t.startswith("Accounts locked") for t in found["accounts_after_adds"])


async def test_migrate_from_langchain_qdrant_serves_the_old_collection(tmp_path: Path) -> None:
    found = await load("migrate_from_langchain_qdrant").main(str(tmp_path))
    assert found["search"] == ["Porridge", "Pancakes"]
    assert found["filtered"] == ["Pizza"]
    assert found["mmr"][0] == "Pancakes" and len(found["mmr"]) == 2
    assert "shakshuka" in found["after_add"]
    assert found["by_id"] == ["Risotto", "Shakshuka"]
    assert found["metadata"] == {"course": "main", "minutes": 35}  # no injected keys


async def test_migrate_from_llama_index_qdrant_serves_the_old_collection(tmp_path: Path) -> None:
    found = await load("migrate_from_llama_index_qdrant").main(str(tmp_path))
    assert found["retrieve"][0] == "laptops"
    assert found["filtered"] == ["vpn"]
    assert found["query_sources"] == ["holidays"]
    assert found["after_update"] == ["laptops-2025"]
    assert found["count"] == 5
    assert found["old_package_reads"] == ["laptops-2025"]
