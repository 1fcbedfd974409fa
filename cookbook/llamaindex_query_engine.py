"""LlamaIndex on qdrant-aio, async end to end: ingestion pipeline, index, retriever, query engine.

* ``IngestionPipeline(...).arun`` splits the documents into chunks, embeds them and writes them
  through the store's native ``async_add`` (batched, several upserts in flight).
* ``VectorStoreIndex.from_vector_store`` wraps the existing collection: nothing is re-embedded.
* ``aretrieve`` with ``MetadataFilters`` runs the filter inside Qdrant.
* ``aquery`` runs retrieval and answer synthesis. ``MockLLM`` stands in for the LLM: it echoes
  its prompt, so the "answer" shows the context the LLM would have received. For a real answer,
  pass any LlamaIndex LLM instead, e.g. ``OpenAI(model="gpt-4o-mini")`` from
  ``llama_index.llms.openai`` or ``Ollama(model="llama3.1")``.

Embeddings come from ``OfflineLlamaEmbedding`` (an offline hashing embedding: similar wording,
similar vectors); for real use, pass any ``BaseEmbedding``, e.g. ``OpenAIEmbedding()`` or
``HuggingFaceEmbedding(model_name="BAAI/bge-small-en-v1.5")``, as ``embed_model`` in BOTH places
(pipeline and index), so documents and questions are embedded by the same model.

Run: ``python cookbook/llamaindex_query_engine.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from offline_embeddings import OfflineLlamaEmbedding

from qdrant_aio import QdrantEngine
from qdrant_aio.llama_index import QdrantVectorStore

ARTICLES = [
    Document(
        id_="rust-guide",
        text=(
            "Rust is a systems programming language focused on safety and speed. "
            "The borrow checker enforces memory safety without a garbage collector, "
            "so whole classes of bugs are caught at compile time. "
            "Cargo is the Rust package manager and build tool; it downloads crates from "
            "crates.io and runs the tests. "
            "Qdrant, a vector database, is written in Rust, and so are many command line tools."
        ),
        metadata={"category": "programming", "level": 2},
    ),
    Document(
        id_="python-guide",
        text=(
            "Python is a dynamic programming language loved for readability. "
            "The asyncio module runs many network calls concurrently on one event loop, "
            "which suits web services that mostly wait on databases. "
            "Pip installs Python packages from the package index into a virtual environment, "
            "so each project keeps its own versions. "
            "FastAPI and Starlette build async web services in Python."
        ),
        metadata={"category": "programming", "level": 1},
    ),
    Document(
        id_="bread-recipe",
        text=(
            "Bread needs only flour, water, salt and yeast, weighed rather than measured. "
            "Knead the dough for ten minutes until it is smooth and elastic, "
            "then let it rise for an hour in a warm place, covered with a towel. "
            "Bake the bread at 230 degrees for about 35 minutes until the crust is brown "
            "and the loaf sounds hollow when tapped."
        ),
        metadata={"category": "cooking", "level": 1},
    ),
]


async def main() -> dict[str, Any]:
    embed_model = OfflineLlamaEmbedding()
    async with QdrantEngine() as engine:  # embedded, in memory; QdrantEngine(url=...) for a server
        store = QdrantVectorStore("articles", engine=engine)

        pipeline = IngestionPipeline(
            transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embed_model],
            vector_store=store,
        )
        nodes = await pipeline.arun(documents=ARTICLES)
        print(f"ingested {len(ARTICLES)} documents as {len(nodes)} chunks")

        index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)

        question = "Which package manager installs packages?"
        retriever = index.as_retriever(similarity_top_k=2)
        hits = await retriever.aretrieve(question)
        print(f"\naretrieve {question!r}:")
        for hit in hits:
            print(f"  {hit.score:.3f}  [{hit.node.ref_doc_id}] {hit.node.get_content()}")

        beginners = MetadataFilters(filters=[
            MetadataFilter(key="category", value="programming"),
            MetadataFilter(key="level", value=1, operator=FilterOperator.LTE),
        ])
        filtered = await index.as_retriever(similarity_top_k=2, filters=beginners).aretrieve(
            question
        )
        print("same question, filter category == programming AND level <= 1:")
        for hit in filtered:
            print(f"  {hit.score:.3f}  [{hit.node.ref_doc_id}] {hit.node.get_content()}")

        query_engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=2)
        response = await query_engine.aquery("How long should bread dough rise?")
        sources = [s.node.ref_doc_id or "" for s in response.source_nodes]
        print("\naquery 'How long should bread dough rise?' (MockLLM echoes the prompt it got):")
        for source in response.source_nodes:
            print(f"  source [{source.node.ref_doc_id}] {source.node.get_content()}")
        answer = str(response)
        print("  response (the prompt, echoed):")
        for line in answer.strip().splitlines():
            print(f"    | {line}")

        await store.adelete("bread-recipe")  # every chunk of that source document
        remaining = await store.aget_nodes()
        print(f"\nafter adelete('bread-recipe'): {len(remaining)} chunks left, from "
              f"{sorted({n.ref_doc_id or '' for n in remaining})}")
    return {
        "chunks": len(nodes),
        "retrieved": [hit.node.ref_doc_id for hit in hits],
        "retrieved_text": [hit.node.get_content() for hit in hits],
        "filtered": [hit.node.ref_doc_id for hit in filtered],
        "query_sources": sources,
        "answer": answer,
        "remaining_docs": sorted({n.ref_doc_id or "" for n in remaining}),
    }


if __name__ == "__main__":
    asyncio.run(main())
