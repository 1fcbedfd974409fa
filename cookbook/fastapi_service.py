"""An async web service (FastAPI) on qdrant-aio: one engine per process, many users at once.

The app's lifespan opens ONE :class:`~qdrant_aio.QdrantEngine` when the server starts and closes it
when the server stops; every request shares it through a LangChain store built on it (the store is
cheap and does no I/O of its own). The endpoints await the store's async methods, so while one
request waits for Qdrant (or for the embedding model) the event loop serves the others.

Endpoints:

* ``POST /documents`` with ``{"documents": [{"id": "...", "text": "...", "metadata": {...}}]}``
  embeds and upserts the documents (ids optional; re-posting an id overwrites it) and returns
  their ids;
* ``GET /search?q=...&k=4&filter={"topic": "databases"}`` returns the ``k`` best documents with
  a relevance in [0, 1]; ``filter`` is a JSON object in qdrant-aio's portable filter syntax
  (``{"year": {"$gte": 2020}}``, ``{"$or": [...]}``, ...); a bad filter gets a 400;
* ``GET /healthz``.

Run it:

* ``python cookbook/fastapi_service.py`` runs a short in-process demo (no port opened): it starts
  the lifespan, ingests a few documents and fires 50 concurrent searches through httpx;
* ``python cookbook/fastapi_service.py --serve`` (or ``uvicorn fastapi_service:app --app-dir
  cookbook``) serves it on http://127.0.0.1:8000 (try http://127.0.0.1:8000/docs);
* ``cookbook/fastapi_load.py`` measures it under load against the same service written with
  blocking sync calls (``blocking_app`` below).

Connection: embedded in memory by default; set ``QDRANT_URL`` (and ``QDRANT_API_KEY``) to use a
Qdrant server or Qdrant Cloud, or ``QDRANT_PATH`` to keep the data in a local folder. Embeddings:
the offline hashing embedding of ``offline_embeddings.py``; for real use, pass a real model to
``create_app(embeddings=...)``, e.g. ``OpenAIEmbeddings()`` (its ``aembed_*`` methods are truly
async, which is what keeps the loop free while the model is called). ``OFFLINE_EMBED_LATENCY_MS``
makes the offline embedding wait that long per call, to imitate a remote model (the load script
uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Query, Request
from langchain_core.embeddings import Embeddings
from offline_embeddings import OfflineEmbeddings
from pydantic import BaseModel, Field

from qdrant_aio import InvalidFilterError, InvalidInputError, QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore

COLLECTION = "documents"


class DocumentIn(BaseModel):
    id: str | None = None
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class IngestRequest(BaseModel):
    documents: list[DocumentIn] = Field(min_length=1, max_length=1000)


class IngestResponse(BaseModel):
    ids: list[str]


class SearchHit(BaseModel):
    id: str
    text: str
    metadata: dict[str, Any]
    relevance: float


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]


def engine_from_environment() -> QdrantEngine:
    """A server engine if ``QDRANT_URL`` is set, a folder if ``QDRANT_PATH`` is, else memory."""
    if url := os.environ.get("QDRANT_URL"):
        return QdrantEngine(url=url, api_key=os.environ.get("QDRANT_API_KEY"))
    if path := os.environ.get("QDRANT_PATH"):
        return QdrantEngine(path=path)
    return QdrantEngine()


class SlowOfflineEmbeddings(OfflineEmbeddings):
    """The offline embedding plus a fixed wait per call: a stand-in for a remote model's latency.

    The async methods wait with ``asyncio.sleep`` (the loop serves others meanwhile), the sync
    ones with ``time.sleep``, as a real HTTP client would in each case.
    """

    def __init__(self, latency_seconds: float) -> None:
        self.latency_seconds = latency_seconds

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        time.sleep(self.latency_seconds)
        return super().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        time.sleep(self.latency_seconds)
        return super().embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        await asyncio.sleep(self.latency_seconds)
        return super().embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        await asyncio.sleep(self.latency_seconds)
        return super().embed_query(text)


def default_embeddings() -> Embeddings:
    """The offline embedding; slowed down by ``OFFLINE_EMBED_LATENCY_MS`` when that is set."""
    latency_ms = float(os.environ.get("OFFLINE_EMBED_LATENCY_MS") or 0)
    return SlowOfflineEmbeddings(latency_ms / 1000) if latency_ms > 0 else OfflineEmbeddings()


def create_app(
    *,
    blocking: bool = False,
    engine_factory: Callable[[], QdrantEngine] = engine_from_environment,
    embeddings: Embeddings | None = None,
) -> FastAPI:
    """The service. ``blocking=True`` builds the anti-pattern variant measured by the load script.

    ``blocking=False`` (the right way): ``async def`` endpoints that ``await`` the store's async
    methods. ``blocking=True``: the same ``async def`` endpoints calling the store's SYNC methods,
    the usual mistake when sync code is moved into an async framework. A sync call inside
    ``async def`` holds the event loop until it returns, so the process serves one request at a
    time. (Plain ``def`` endpoints would not block the loop: FastAPI runs them in a thread pool,
    which costs a thread per request in flight and is capped by the pool's size.)
    """
    store_embeddings = embeddings if embeddings is not None else default_embeddings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = engine_factory()
        try:
            app.state.store = QdrantVectorStore(
                client=engine, collection_name=COLLECTION, embedding=store_embeddings
            )
            yield
        finally:
            # Requests already running finish first; the engine then closes its connection.
            await engine.aclose()

    app = FastAPI(
        title="qdrant-aio search" + (" (blocking variant)" if blocking else ""), lifespan=lifespan
    )

    def store_of(request: Request) -> QdrantVectorStore:
        store: QdrantVectorStore = request.app.state.store
        return store

    @app.post("/documents")
    async def ingest(body: IngestRequest, request: Request) -> IngestResponse:
        store = store_of(request)
        texts = [doc.text for doc in body.documents]
        metadatas = [doc.metadata for doc in body.documents]
        ids = [doc.id for doc in body.documents]
        try:
            if blocking:
                written = store.add_texts(texts, metadatas, ids)  # blocks the event loop
            else:
                written = await store.aadd_texts(texts, metadatas, ids)
        except InvalidInputError as error:
            raise HTTPException(status_code=400, detail=str(error)) from error
        return IngestResponse(ids=written)

    @app.get("/search")
    async def search(
        request: Request,
        q: str = Query(min_length=1),
        k: int = Query(default=4, ge=1, le=100),
        filter: str | None = Query(default=None, description="JSON, e.g. {\"topic\": \"db\"}"),
    ) -> SearchResponse:
        store = store_of(request)
        try:
            parsed = json.loads(filter) if filter else None
        except json.JSONDecodeError as error:
            raise HTTPException(status_code=400, detail=f"filter is not JSON: {error}") from error
        try:
            if blocking:
                scored = store.similarity_search_with_relevance_scores(  # blocks the event loop
                    q, k=k, filter=parsed
                )
            else:
                scored = await store.asimilarity_search_with_relevance_scores(
                    q, k=k, filter=parsed
                )
        except (InvalidFilterError, InvalidInputError) as error:
            raise HTTPException(status_code=400, detail=str(error)) from error
        return SearchResponse(
            query=q,
            hits=[
                SearchHit(
                    id=doc.id or "", text=doc.page_content, metadata=doc.metadata,
                    relevance=round(relevance, 4),
                )
                for doc, relevance in scored
            ],
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# ``uvicorn fastapi_service:app`` / ``uvicorn fastapi_service:blocking_app`` (with --app-dir).
app = create_app()
blocking_app = create_app(blocking=True)


SAMPLE = [
    ("qdrant", "Qdrant is a vector database written in Rust", "databases", 2021),
    ("postgres", "PostgreSQL is a relational database with SQL", "databases", 1996),
    ("redis", "Redis is an in-memory key value store", "databases", 2009),
    ("langchain", "LangChain composes LLM calls into chains and agents", "frameworks", 2022),
    ("llamaindex", "LlamaIndex connects LLMs to your own data with indexes", "frameworks", 2022),
    ("fastapi", "FastAPI serves async Python web APIs", "frameworks", 2018),
    ("paris", "Paris is the capital of France", "geography", 0),
    ("nile", "The Nile is the longest river in Africa", "geography", 0),
]


async def main(users: int = 50) -> dict[str, Any]:
    """In-process demo: lifespan, ingest, then ``users`` concurrent searches; returns answers."""
    service = create_app()
    transport = httpx.ASGITransport(app=service)
    # ASGITransport sends no lifespan events, so enter the app's lifespan here, as a server would.
    async with service.router.lifespan_context(service):
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            response = await client.post("/documents", json={"documents": [
                {"id": doc_id, "text": text, "metadata": {"topic": topic, "year": year}}
                for doc_id, text, topic, year in SAMPLE
            ]})
            response.raise_for_status()
            print(f"ingested {len(response.json()['ids'])} documents")

            async def ask(q: str, k: int, filter: dict[str, Any] | None) -> dict[str, Any]:
                params: dict[str, Any] = {"q": q, "k": k}
                if filter is not None:
                    params["filter"] = json.dumps(filter)
                answer = await client.get("/search", params=params)
                answer.raise_for_status()
                result: dict[str, Any] = answer.json()
                return result

            questions = [
                ("which database stores vectors?", 2, None),
                ("tools for LLM apps", 2, {"topic": "frameworks"}),
                ("in-memory database", 2, {"year": {"$gte": 2000}}),
                ("longest river", 1, None),
            ]
            # Many users at once: all requests are in flight together on one event loop.
            answers = await asyncio.gather(
                *(ask(*questions[n % len(questions)]) for n in range(users))
            )
            bad = await client.get("/search", params={"q": "x", "filter": '{"year": {"$nope": 1}}'})
    print(f"{users} concurrent searches answered; one answer per question:")
    for (q, _, filter), answer in zip(questions, answers, strict=False):
        print(f"  GET /search q={q!r}" + (f" filter={json.dumps(filter)}" if filter else ""))
        for hit in answer["hits"]:
            print(f"    {hit['id']:<10} {hit['relevance']:.3f}  {hit['text']}")
    print(f"a bad filter gets HTTP {bad.status_code}: {bad.json()['detail']}")
    return {"answers": answers, "questions": questions, "bad_filter_status": bad.status_code}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="serve with uvicorn instead")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--blocking", action="store_true", help="serve the blocking variant")
    args = parser.parse_args()
    if args.serve:
        import uvicorn

        uvicorn.run(blocking_app if args.blocking else app, host="127.0.0.1", port=args.port)
    else:
        asyncio.run(main())
