"""Sync and async from one code path: loops, threads, shared embedded storage, lifecycle."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
import threading
from pathlib import Path

import pytest
from engine_support import LoopTurns, RecordingClient, unit_vector
from qdrant_client import AsyncQdrantClient, QdrantClient

import qdrant_aio
from qdrant_aio import (
    EngineClosedError,
    PointInput,
    QdrantEngine,
    SearchRequest,
    StorageLockedError,
    UnsupportedClientError,
)
from qdrant_aio.transport import EmbeddedTransport


def one(i: int) -> list[PointInput]:
    return [PointInput(f"p{i}", {"i": i}, unit_vector(f"p{i}"))]


def test_sync_methods_work_inside_a_running_loop() -> None:
    engine = QdrantEngine()

    async def main() -> int:
        # A framework calling sync code from async code: no "loop already running", no deadlock.
        engine.upsert("c", one(1))
        hits = engine.query("c", SearchRequest(dense=unit_vector("p1")))
        assert hits[0].id == "p1"
        assert engine.retrieve("c", ["p1"])[0].payload == {"i": 1}
        engine.delete("c", ids=["p1"])
        return engine.count("c")

    assert asyncio.run(main()) == 0
    engine.close()


def test_same_engine_across_two_asyncio_runs() -> None:
    engine = QdrantEngine()
    asyncio.run(engine.aupsert("c", one(1)))
    asyncio.run(engine.aupsert("c", one(2)))
    assert asyncio.run(engine.acount("c")) == 2
    assert engine.count("c") == 2
    asyncio.run(engine.aclose())


@pytest.mark.parametrize("mode", ["memory", "path"])
def test_sync_writes_are_seen_by_async_reads_and_back(mode: str, tmp_path: Path) -> None:
    engine = QdrantEngine(path=str(tmp_path / "db")) if mode == "path" else QdrantEngine()
    engine.upsert("c", one(1))
    assert [h.id for h in asyncio.run(engine.aretrieve("c", ["p1"]))] == ["p1"]
    asyncio.run(engine.aupsert("c", one(2)))
    assert [h.id for h in engine.retrieve("c", ["p2"])] == ["p2"]
    engine.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_given_embedded_client_is_shared_by_both_apis(kind: str) -> None:
    client = QdrantClient(":memory:") if kind == "sync" else AsyncQdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    engine.upsert("c", one(1))
    assert asyncio.run(engine.acount("c")) == 1
    asyncio.run(engine.aupsert("c", one(2)))
    assert engine.count("c") == 2
    engine.close()


def test_persistent_folder_survives_and_is_locked(tmp_path: Path) -> None:
    folder = str(tmp_path / "db")
    first = QdrantEngine(path=folder)
    first.upsert("c", one(1))
    with pytest.raises(StorageLockedError, match="already in use"):
        QdrantEngine(path=folder)
    first.close()
    reopened = QdrantEngine(path=folder)
    assert reopened.count("c") == 1
    reopened.close()


def test_stores_that_open_one_folder_share_its_engine_until_the_last_closes(
    tmp_path: Path,
) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
    from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

    folder = str(tmp_path / "db")
    emb = DeterministicFakeEmbedding(size=4)
    first = LangChainStore.from_texts(["a"], emb, path=folder, collection_name="c")
    # Re-running a notebook cell, another spelling of the folder, the other framework:
    second = LangChainStore.from_texts(["b"], emb, path=f"{folder}/../db", collection_name="c")
    nodes = LlamaIndexStore("c", path=folder)
    assert first.engine is second.engine is nodes.engine
    assert len(nodes.get_nodes()) == 2
    with pytest.raises(qdrant_aio.InvalidInputError):  # a failed add gives its hold back only
        LangChainStore.from_texts(["x"], emb, ids=["1", "1"], path=folder, collection_name="c")
    first.close()
    nodes.close()
    assert len(second.similarity_search("a", k=5)) == 2
    with pytest.raises(RuntimeError, match="already accessed"):  # still held by the engine
        QdrantClient(path=folder)
    second.close()
    assert second.engine.closed
    mine = QdrantClient(path=folder)  # released: a client of one's own may open it now
    assert mine.count("c").count == 2
    with pytest.raises(StorageLockedError):  # and a store cannot while that client holds it
        LangChainStore.from_texts(["c"], emb, path=folder, collection_name="c")
    mine.close()


async def test_embedded_work_runs_off_the_callers_loop_thread() -> None:
    client = RecordingClient(QdrantClient(":memory:"))
    engine = QdrantEngine(_transport=EmbeddedTransport(client=client))  # type: ignore[arg-type]
    await engine.aupsert("c", one(1))
    await engine.aquery("c", SearchRequest(dense=unit_vector("p1")))
    caller = threading.current_thread()
    assert client.threads, "no call reached the client"
    assert all(t is not caller for t in client.threads)
    assert {t.name for t in client.threads} == {"qdrant-aio-storage"}
    await engine.aclose()


async def test_loop_stays_responsive_while_storage_works() -> None:
    engine = QdrantEngine()
    await engine.aupsert("c", [PointInput(f"p{i}", {}, unit_vector(f"p{i}")) for i in range(200)])
    async with LoopTurns() as turns:
        await asyncio.gather(
            *(engine.aquery("c", SearchRequest(dense=unit_vector(f"q{i}"))) for i in range(50))
        )
    # The loop turned while the searches were pending: they did not hold it.
    assert turns.count > 10
    await engine.aclose()


def test_close_is_idempotent_and_use_after_close_raises() -> None:
    engine = QdrantEngine()
    engine.upsert("c", one(1))
    engine.close()
    engine.close()
    assert engine.closed and "closed" in repr(engine)
    with pytest.raises(EngineClosedError):
        engine.count("c")
    with pytest.raises(EngineClosedError):
        asyncio.run(engine.aupsert("c", one(2)))


async def test_context_managers_close() -> None:
    async with QdrantEngine() as engine:
        await engine.aupsert("c", one(1))
    assert engine.closed
    with QdrantEngine() as sync_engine:
        sync_engine.upsert("c", one(1))
    assert sync_engine.closed


def test_unsupported_client_type_raises() -> None:
    with pytest.raises(UnsupportedClientError, match="dict"):
        QdrantEngine.from_client({})  # type: ignore[arg-type]


def test_given_client_is_not_closed_by_the_engine() -> None:
    client = QdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    engine.upsert("c", one(1))
    engine.close()
    assert client.count("c").count == 1


def _sync_twins() -> list[tuple[str, str]]:
    pairs = []
    for name, _member in inspect.getmembers(QdrantEngine, inspect.iscoroutinefunction):
        if name.startswith("a") and not name.startswith("__"):
            twin = name[1:]
            if hasattr(QdrantEngine, twin):
                pairs.append((twin, name))
    return pairs


def test_every_sync_method_is_a_one_line_call_of_its_coroutine() -> None:
    pairs = _sync_twins()
    assert len(pairs) >= 12
    for twin, coroutine in pairs:
        source = textwrap.dedent(inspect.getsource(getattr(QdrantEngine, twin)))
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        statements = [s for s in body if not isinstance(s, ast.Expr) or not isinstance(
            s.value, ast.Constant)]
        assert len(statements) == 1, twin
        call = ast.unparse(statements[0])
        assert f"run_sync(self.{coroutine}(" in call, (twin, call)


EXPECTED_PUBLIC = {
    "__version__", "QdrantEngine", "CollectionSpec", "CollectionLayout", "IngestOptions",
    "QueryCoalescing",
    "RetryPolicy", "PointInput", "SearchRequest", "Hit", "QdrantAioError", "ConfigurationError",
    "CollectionMismatchError", "DimensionMismatchError", "CollectionNotFoundError",
    "InvalidInputError", "InvalidFilterError", "UnsupportedClientError", "StorageLockedError",
    "EngineClosedError", "IngestError", "QdrantRequestError",
}


def test_public_names_are_guarded() -> None:
    assert set(qdrant_aio.__all__) == EXPECTED_PUBLIC
    for name in qdrant_aio.__all__:
        assert hasattr(qdrant_aio, name), name
        if name.endswith("Error"):
            assert issubclass(getattr(qdrant_aio, name), qdrant_aio.QdrantAioError)


def test_the_core_package_imports_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, qdrant_aio; "
        "bad = [m for m in sys.modules if m.startswith(('langchain', 'llama_index'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_errors_pickle_with_their_message_and_fields() -> None:
    # Errors cross process boundaries (multiprocessing, task queues) whole.
    import pickle

    errors: list[Exception] = [
        qdrant_aio.DimensionMismatchError(8, 16, where="id 'a'"),
        qdrant_aio.CollectionMismatchError("docs", "distance", "Cosine", "Dot"),
        qdrant_aio.CollectionNotFoundError("docs"),
        qdrant_aio.IngestError("upsert failed", ["a", "b"]),
        qdrant_aio.InvalidInputError("bad"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert vars(copy) == vars(error)


def test_a_dimension_mismatch_is_also_a_collection_mismatch() -> None:
    # A model that does not fit an existing collection is found at the first add or query:
    # code catching either documented error catches it.
    error = qdrant_aio.DimensionMismatchError(16, 8)
    assert isinstance(error, qdrant_aio.InvalidInputError)
    assert isinstance(error, qdrant_aio.CollectionMismatchError)
    assert isinstance(error, ValueError)
    assert (error.what, error.expected, error.actual) == ("dense vector size", 16, 8)
