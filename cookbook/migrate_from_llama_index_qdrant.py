"""Migrating from llama-index-vector-stores-qdrant: serve its collection through qdrant-aio.

Step 1 plays the existing application: ``llama_index.vector_stores.qdrant.QdrantVectorStore``
indexes a few documents into an embedded folder, in that package's layout (metadata at the top
level of the payload, the node as JSON under ``_node_content``, the source document under
``doc_id``). Step 2 is the migration: the same collection, nothing converted, behind

    # from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_aio.llama_index import QdrantVectorStore

with one connection (no ``client`` + ``aclient`` pair) and native async: ``aretrieve`` with
``MetadataFilters``, ``aquery``, ``adelete`` of a source document, and new documents, which are
written in the old layout so the old package can still read the collection.

Embeddings: ``OfflineLlamaEmbedding`` (offline hashing; similar wording, similar vectors). Use the
SAME model that built the collection, e.g. ``OpenAIEmbedding(model="text-embedding-3-small")``;
the LLM (``MockLLM`` here, which echoes its prompt) can be any LlamaIndex LLM. Against a server,
point both at the same ``url=`` instead of a folder.

Run: ``python cookbook/migrate_from_llama_index_qdrant.py [--path ./qdrant_data]`` (default: a
temporary folder, removed afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import warnings
from typing import Any

from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from llama_index.vector_stores.qdrant import QdrantVectorStore as OldQdrantVectorStore
from offline_embeddings import OfflineLlamaEmbedding
from qdrant_client import QdrantClient

from qdrant_aio.llama_index import QdrantVectorStore

HANDBOOK = [
    Document(id_="onboarding", text="New hires get a laptop and a badge on their first day.",
             metadata={"team": "people", "updated": 2024}),
    Document(id_="holidays", text="Everyone has 28 paid holidays a year, booked in the HR tool.",
             metadata={"team": "people", "updated": 2023}),
    Document(id_="expenses", text="Submit travel expenses with receipts within 30 days.",
             metadata={"team": "finance", "updated": 2024}),
    Document(id_="laptops", text="Laptops are replaced every three years by the IT desk.",
             metadata={"team": "it", "updated": 2022}),
    Document(id_="vpn", text="Connect to the VPN before opening internal tools from home.",
             metadata={"team": "it", "updated": 2024}),
]
COLLECTION = "handbook"


def write_with_llama_index_qdrant(path: str) -> None:
    """What the existing application did (a sync client; the old package needs a second,
    async client for the async API)."""
    client = QdrantClient(path=path)
    if client.collection_exists(COLLECTION):  # a fresh copy on every run of the example
        client.delete_collection(COLLECTION)
    old_store = OldQdrantVectorStore(collection_name=COLLECTION, client=client)
    with warnings.catch_warnings():
        # The old package creates payload indexes, and embedded Qdrant warns that they do nothing.
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        VectorStoreIndex.from_documents(
            HANDBOOK, storage_context=StorageContext.from_defaults(vector_store=old_store),
            embed_model=OfflineLlamaEmbedding(),
        )
    point = client.scroll(COLLECTION, limit=1)[0][0]
    print(f"llama-index-vector-stores-qdrant wrote {len(HANDBOOK)} documents to {path}")
    print(f"  its payload keys: {sorted(point.payload or {})}")
    client.close()  # an embedded folder is used by one process at a time


async def serve_with_qdrant_aio(path: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    store = QdrantVectorStore(COLLECTION, path=path)  # or url=..., or client= / engine=
    try:
        embed_model = OfflineLlamaEmbedding()
        index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)

        hits = await index.as_retriever(similarity_top_k=2).aretrieve("when is my laptop replaced")
        found["retrieve"] = [hit.node.ref_doc_id for hit in hits]
        print("\nqdrant-aio, aretrieve 'when is my laptop replaced':")
        for hit in hits:
            print(f"  {hit.score:.3f} [{hit.node.ref_doc_id}] {hit.node.metadata} "
                  f"{hit.node.get_content()}")

        current_it = MetadataFilters(filters=[
            MetadataFilter(key="team", value="it"),
            MetadataFilter(key="updated", value=2024, operator=FilterOperator.GTE),
        ])
        hits = await index.as_retriever(similarity_top_k=2, filters=current_it).aretrieve(
            "when is my laptop replaced"
        )
        found["filtered"] = [hit.node.ref_doc_id for hit in hits]
        print("same question, team == it AND updated >= 2024 (the 2022 laptop policy is out):",
              found["filtered"])

        response = await index.as_query_engine(llm=MockLLM(), similarity_top_k=1).aquery(
            "How many paid holidays do we have?"
        )
        found["query_sources"] = [s.node.ref_doc_id for s in response.source_nodes]
        print("aquery 'How many paid holidays do we have?' used:",
              [s.node.get_content() for s in response.source_nodes])

        await store.adelete("laptops")  # by source document, as the old package stored it
        await index.ainsert(Document(
            id_="laptops-2025", text="Laptops are now replaced every four years by the IT desk.",
            metadata={"team": "it", "updated": 2025},
        ))
        hits = await index.as_retriever(similarity_top_k=1).aretrieve("laptops replaced")
        found["after_update"] = [hit.node.ref_doc_id for hit in hits]
        print("after replacing 'laptops' by 'laptops-2025', 'laptops replaced' finds:",
              [(hit.node.ref_doc_id, hit.node.get_content()) for hit in hits])
        found["count"] = await store.engine.acount(COLLECTION)
    finally:
        await store.aclose()
    return found


def read_back_with_old_package(path: str) -> list[str]:
    """The old package still reads the collection, including what qdrant-aio wrote."""
    client = QdrantClient(path=path)
    try:
        old_index = VectorStoreIndex.from_vector_store(
            OldQdrantVectorStore(collection_name=COLLECTION, client=client),
            embed_model=OfflineLlamaEmbedding(),
        )
        hits = old_index.as_retriever(similarity_top_k=1).retrieve("laptops replaced")
        print("the old package, 'laptops replaced':",
              [(hit.node.ref_doc_id, hit.node.get_content()) for hit in hits])
        return [hit.node.ref_doc_id or "" for hit in hits]
    finally:
        client.close()


async def main(path: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qdrant-aio-migrate-") as folder:
        where = path or folder
        write_with_llama_index_qdrant(where)
        found = await serve_with_qdrant_aio(where)
        found["old_package_reads"] = read_back_with_old_package(where)
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--path", help="embedded Qdrant folder (default: a temporary one)")
    asyncio.run(main(parser.parse_args().path))
