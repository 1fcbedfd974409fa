"""Quickstart: the engine first, then one embedded collection used from LangChain and LlamaIndex.

Run it with ``make demo`` (or ``python cookbook/quickstart.py`` inside the project's venv). No
server is needed: ``QdrantEngine()`` keeps the data in memory. Point the same code at a server by
changing only the constructor: ``QdrantEngine(url="http://localhost:6333")`` (add
``api_key=...`` for Qdrant Cloud), or keep the data in a folder with ``QdrantEngine(path=...)``.

Part 1 is the classic Qdrant walkthrough on the engine, async and done right. A common bug in
async Qdrant code is ``await client.query_points(...).points``: the attribute is read from the
coroutine, not from its result. It has to be ``(await client.query_points(...)).points``. The
engine returns the hits themselves, so there is nothing to get wrong here.

Part 2 hands ONE engine to a LangChain store and to a LlamaIndex store: both frameworks read and
write the same collection, and every call is natively async. The texts are embedded with the
offline hashing embedding of ``offline_embeddings.py`` (similar wording, similar vectors); for
real use, pass a real model instead, e.g. ``embedding=OpenAIEmbeddings()`` on the LangChain side
and ``embed_model=OpenAIEmbedding()`` on the LlamaIndex side (both sides must use the same model
so their vectors are comparable).
"""

from __future__ import annotations

import asyncio

from langchain_core.documents import Document
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores import MetadataFilter, MetadataFilters
from offline_embeddings import OfflineEmbeddings, OfflineLlamaEmbedding
from qdrant_client import models

from qdrant_aio import CollectionSpec, PointInput, QdrantEngine, SearchRequest
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

# Four-dimensional toy vectors, as in Qdrant's own quickstart: similar directions, similar cities.
CITIES = [
    ("1", "Berlin", "Germany", [0.05, 0.61, 0.76, 0.74]),
    ("2", "London", "United Kingdom", [0.19, 0.81, 0.75, 0.11]),
    ("3", "Moscow", "Russia", [0.36, 0.55, 0.47, 0.94]),
    ("4", "New York", "USA", [0.18, 0.01, 0.85, 0.80]),
    ("5", "Beijing", "China", [0.24, 0.18, 0.22, 0.44]),
    ("6", "Mumbai", "India", [0.35, 0.08, 0.11, 0.44]),
    ("7", "Munich", "Germany", [0.06, 0.60, 0.74, 0.70]),
]

# Short notes for part 2; any string works as an id.
NOTES = [
    ("qdrant", "Qdrant is a vector database written in Rust", "databases"),
    ("postgres", "PostgreSQL is a relational database with SQL", "databases"),
    ("langchain", "LangChain composes LLM calls into chains and agents", "frameworks"),
    ("llamaindex", "LlamaIndex connects LLMs to your own data with indexes", "frameworks"),
    ("paris", "Paris is the capital of France", "geography"),
]


async def engine_walkthrough(engine: QdrantEngine) -> list[str]:
    """Part 1: create a collection, upsert points, search with and without a filter."""
    found: list[str] = []
    spec = CollectionSpec(distance=models.Distance.DOT)
    await engine.acreate_collection("cities", spec, dense_size=4)
    await engine.aupsert(
        "cities",
        [
            PointInput(id=pid, payload={"city": city, "country": country}, dense=vector)
            for pid, city, country, vector in CITIES
        ],
        spec,
    )
    print(f"stored {await engine.acount('cities')} cities")

    query = [0.2, 0.1, 0.9, 0.7]
    hits = await engine.aquery("cities", SearchRequest(dense=query, limit=3), spec)
    print("nearest to", query)
    for hit in hits:
        print(f"  {hit.payload['city']:<10} score={hit.score:.3f}")
        found.append(hit.payload["city"])

    in_germany = models.Filter(
        must=[models.FieldCondition(key="country", match=models.MatchValue(value="Germany"))]
    )
    hits = await engine.aquery(
        "cities", SearchRequest(dense=query, limit=3, filter=in_germany), spec
    )
    print("nearest in Germany")
    for hit in hits:
        print(f"  {hit.payload['city']:<10} score={hit.score:.3f}")
        found.append(hit.payload["city"])
    return found


async def both_frameworks(engine: QdrantEngine) -> dict[str, list[str]]:
    """Part 2: one collection, written and read by LangChain and by LlamaIndex."""
    found: dict[str, list[str]] = {}
    question = "which database stores vectors?"

    # LangChain: client= takes the engine (or an AsyncQdrantClient / QdrantClient).
    langchain_store = LangChainStore(
        client=engine, collection_name="notes", embedding=OfflineEmbeddings()
    )
    await langchain_store.aadd_documents(
        [Document(page_content=text, metadata={"topic": topic}, id=note_id)
         for note_id, text, topic in NOTES]
    )
    docs = await langchain_store.asimilarity_search(question, k=2)
    found["langchain"] = [doc.id or "" for doc in docs]
    print(f"\nLangChain, {question!r}")
    for doc in docs:
        print(f"  {doc.id:<10} {doc.page_content}")

    frameworks = await langchain_store.asimilarity_search(
        "tools for LLM apps", k=3, filter={"topic": "frameworks"}
    )
    found["langchain_filtered"] = [doc.id or "" for doc in frameworks]
    print("LangChain, 'tools for LLM apps' with filter {'topic': 'frameworks'}")
    for doc in frameworks:
        print(f"  {doc.id:<10} {doc.page_content}")

    # LlamaIndex: engine= takes the same engine, so it sees the same collection.
    llama_store = LlamaIndexStore("notes", engine=engine)
    index = VectorStoreIndex.from_vector_store(llama_store, embed_model=OfflineLlamaEmbedding())
    nodes = await index.as_retriever(similarity_top_k=2).aretrieve(question)
    found["llama_index"] = [n.node.node_id for n in nodes]
    print(f"LlamaIndex, {question!r} (same collection)")
    for n in nodes:
        print(f"  {n.node.node_id:<10} {n.node.get_content()}  score={n.score:.3f}")

    # A node written by LlamaIndex is a document for LangChain, metadata and all.
    await index.ainsert_nodes(
        [TextNode(id_="milvus", text="Milvus is a vector database for similarity search",
                  metadata={"topic": "databases"})]
    )
    databases = MetadataFilters(filters=[MetadataFilter(key="topic", value="databases")])
    retriever = index.as_retriever(similarity_top_k=3, filters=databases)
    nodes = await retriever.aretrieve("vector database")
    found["llama_index_filtered"] = [n.node.node_id for n in nodes]
    print("LlamaIndex, 'vector database' with filter topic == 'databases', after adding 'milvus'")
    for n in nodes:
        print(f"  {n.node.node_id:<10} {n.node.get_content()}")

    docs = await langchain_store.aget_by_ids(["milvus"])
    found["langchain_sees"] = [doc.id or "" for doc in docs]
    print("LangChain reads the node LlamaIndex wrote:")
    for doc in docs:
        print(f"  {doc.id:<10} {doc.page_content}  metadata={doc.metadata}")
    return found


async def main() -> dict[str, list[str]]:
    # One engine for everything: embedded, in memory, closed when the block ends. Stores given
    # an engine never close it; the engine's owner does.
    async with QdrantEngine() as engine:
        result = {"cities": await engine_walkthrough(engine)}
        result.update(await both_frameworks(engine))
    return result


if __name__ == "__main__":
    asyncio.run(main())
