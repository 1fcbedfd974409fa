"""One collection, two frameworks: write with LangChain, read with LlamaIndex, and back.

Both stores use one payload layout (text under ``page_content``, your metadata under
``metadata``, the LlamaIndex source document under ``ref_doc_id``, what rebuilds a LlamaIndex
node under ``llama_node`` unless it is a plain ``TextNode``), so a document written by either
framework is a document for the other, with its id and metadata intact, and filters written in
either framework's syntax select the same points. Here both stores are hybrid (dense +
built-in BM25 vectors named "dense" and "sparse"), so the sparse side is shared too.

Requirements for sharing: the same embedding model on both sides (vectors must be comparable),
and the same vector names (the defaults match). Both stores get ONE engine here; they could as
well connect separately to the same server (``url=``) or share one ``AsyncQdrantClient``.

Embeddings: the offline hashing embedding of ``offline_embeddings.py`` (``OfflineEmbeddings`` for
LangChain, ``OfflineLlamaEmbedding`` for LlamaIndex: the same function, so the same vectors). For
real use, pick one model and use its LangChain and LlamaIndex wrappers, e.g.
``OpenAIEmbeddings(model="text-embedding-3-small")`` and
``OpenAIEmbedding(model="text-embedding-3-small")``.

Run: ``python cookbook/shared_collection.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.documents import Document as LangChainDocument
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from offline_embeddings import OfflineEmbeddings, OfflineLlamaEmbedding

from qdrant_aio import QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.langchain import RetrievalMode
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

BOOKS = [
    ("dune", "Dune: a desert planet, giant sandworms and the spice that everyone wants.",
     {"kind": "book", "genre": "science fiction", "year": 1965}),
    ("foundation", "Foundation: a mathematician predicts the fall of a galactic empire.",
     {"kind": "book", "genre": "science fiction", "year": 1951}),
    ("frankenstein", "Frankenstein: a scientist builds a creature and then abandons it.",
     {"kind": "book", "genre": "science fiction", "year": 1818}),
    ("emma", "Emma: a matchmaker in an English village meddles in her friends' love lives.",
     {"kind": "book", "genre": "romance", "year": 1815}),
    ("hobbit", "The Hobbit: a reluctant hobbit joins thirteen dwarves to take back a mountain.",
     {"kind": "book", "genre": "fantasy", "year": 1937}),
]

REVIEWS = [
    TextNode(
        id_="review-dune",
        text="A review of Dune: the desert planet feels real and the sandworms are unforgettable.",
        metadata={"kind": "review", "book": "dune", "stars": 5},
    ),
    TextNode(
        id_="review-emma",
        text="A review of Emma: the village matchmaker is funny, but the plot moves slowly.",
        metadata={"kind": "review", "book": "emma", "stars": 3},
    ),
]


async def main() -> dict[str, Any]:
    found: dict[str, Any] = {}
    async with QdrantEngine() as engine:  # embedded, in memory; QdrantEngine(url=...) for a server
        langchain_store = LangChainStore(
            client=engine, collection_name="library", embedding=OfflineEmbeddings(),
            retrieval_mode=RetrievalMode.HYBRID,
        )
        llama_store = LlamaIndexStore("library", engine=engine, enable_hybrid=True)
        index = VectorStoreIndex.from_vector_store(llama_store, embed_model=OfflineLlamaEmbedding())

        # 1. LangChain writes the books ...
        await langchain_store.aadd_documents(
            [LangChainDocument(page_content=text, metadata=meta, id=book_id)
             for book_id, text, meta in BOOKS]
        )
        print(f"LangChain wrote {len(BOOKS)} books")

        # ... and LlamaIndex reads them, with a MetadataFilters filter, in hybrid mode.
        classic_scifi = MetadataFilters(
            filters=[
                MetadataFilter(key="genre", value="science fiction"),
                MetadataFilter(key="year", value=1900, operator=FilterOperator.GT),
            ],
            condition=FilterCondition.AND,
        )
        retriever = index.as_retriever(
            similarity_top_k=3, filters=classic_scifi, vector_store_query_mode="hybrid"
        )
        nodes = await retriever.aretrieve("a planet in a galactic empire")
        found["llama_index_reads"] = [n.node.node_id for n in nodes]
        print("LlamaIndex, 'a planet in a galactic empire', genre == science fiction AND "
              "year > 1900:")
        for n in nodes:
            print(f"  {n.node.node_id:<13} {n.node.metadata}  {n.node.get_content()}")

        # 2. LlamaIndex writes reviews (nodes: embedded by the index's embed_model) ...
        await index.ainsert_nodes(REVIEWS)
        print(f"\nLlamaIndex wrote {len(REVIEWS)} reviews")

        # ... and LangChain reads them, with the portable dict filter syntax.
        good_reviews = await langchain_store.asimilarity_search(
            "sandworms on a desert planet", k=3,
            filter={"kind": "review", "stars": {"$gte": 4}},
        )
        found["langchain_reads"] = [doc.id for doc in good_reviews]
        print("LangChain, 'sandworms on a desert planet', kind == review AND stars >= 4:")
        for doc in good_reviews:
            print(f"  {doc.id:<13} {doc.metadata}  {doc.page_content}")
        by_id = await langchain_store.aget_by_ids(["review-emma", "dune"])
        found["langchain_by_id"] = [doc.id for doc in by_id]
        print("LangChain, get_by_ids(['review-emma', 'dune']):",
              [(doc.id, doc.metadata.get("kind")) for doc in by_id])

        # 3. A delete in one framework is seen by the other.
        await langchain_store.adelete(filter={"kind": "review", "stars": {"$lt": 4}})
        remaining = await llama_store.aget_nodes(
            filters=MetadataFilters(filters=[MetadataFilter(key="kind", value="review")])
        )
        found["reviews_left"] = [node.node_id for node in remaining]
        print("\nLangChain deleted reviews with stars < 4; LlamaIndex now finds reviews:",
              found["reviews_left"])

        # The stored layout, as Qdrant holds it.
        hit = (await engine.aretrieve("library", ["review-dune"]))[0]
        found["payload_keys"] = sorted(hit.payload)
        print("payload keys of 'review-dune':", found["payload_keys"])
    return found


if __name__ == "__main__":
    asyncio.run(main())
