"""A collection your own script filled: query it with LangChain and LlamaIndex as it is.

Many collections are written by a few lines of qdrant-client, not by a framework: each point's
payload is flat, the text under ``"text"`` and the metadata beside it
(``{"text": "...", "team": "billing", "year": 2024}``). Both stores read such payloads as
llama-index-vector-stores-qdrant does: the text from ``"text"`` (the LlamaIndex store's
``text_key``), every other key as metadata. Their metadata filters then address those top-level
keys, and what they add keeps the metadata at the top level too, so one filter still finds the
old points and the new ones.

Embeddings: the offline hashing embedding of ``offline_embeddings.py``; your script and your
stores must use the same model (e.g. ``OpenAIEmbeddings`` for both).

Run: ``python cookbook/your_own_collection.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from offline_embeddings import DIMENSIONS, OfflineEmbeddings, OfflineLlamaEmbedding, embed_text
from qdrant_client import AsyncQdrantClient, models

from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

NOTES = [
    ("Refunds are paid back to the original card within five working days.", "billing", 2023),
    ("An invoice can be downloaded as a PDF from the account page.", "billing", 2024),
    ("Password resets send a link that expires after one hour.", "accounts", 2024),
    ("Two-factor login accepts an authenticator app or a hardware key.", "accounts", 2022),
]


async def fill_with_your_own_script(client: AsyncQdrantClient) -> None:
    """What such a script does: one unnamed vector, flat payloads."""
    await client.create_collection(
        "support", vectors_config=models.VectorParams(size=DIMENSIONS, distance="Cosine")
    )
    await client.upsert("support", points=[
        models.PointStruct(
            id=i, vector=embed_text(text), payload={"text": text, "team": team, "year": year}
        )
        for i, (text, team, year) in enumerate(NOTES)
    ])


async def main() -> dict[str, Any]:
    found: dict[str, Any] = {}
    client = AsyncQdrantClient(":memory:")  # embedded; AsyncQdrantClient(url=...) for a server
    await fill_with_your_own_script(client)

    # LangChain: dict filters on the top-level keys.
    langchain_store = LangChainStore(
        client=client, collection_name="support", embedding=OfflineEmbeddings()
    )
    docs = await langchain_store.asimilarity_search(
        "when is my refund paid back", k=2, filter={"team": "billing"}
    )
    found["langchain"] = [doc.page_content for doc in docs]
    print("LangChain, 'when is my refund paid back', team == billing:")
    for doc in docs:
        print(f"  id {doc.id}  {doc.metadata}  {doc.page_content}")

    # LlamaIndex: MetadataFilters on the same keys, through an index and its retriever.
    llama_store = LlamaIndexStore("support", aclient=client)
    index = VectorStoreIndex.from_vector_store(llama_store, embed_model=OfflineLlamaEmbedding())
    recent = MetadataFilters(
        filters=[MetadataFilter(key="year", value=2024, operator=FilterOperator.GTE)]
    )
    nodes = await index.as_retriever(similarity_top_k=3, filters=recent).aretrieve(
        "I forgot my password"
    )
    found["llama_index"] = [n.node.get_content() for n in nodes]
    print("\nLlamaIndex, 'I forgot my password', year >= 2024:")
    for n in nodes:
        print(f"  id {n.node.node_id}  {n.node.metadata}  {n.node.get_content()}")

    # New notes from either framework answer the same filters as the old ones.
    await langchain_store.aadd_texts(
        ["Refunds for annual plans are prorated by month."], [{"team": "billing", "year": 2025}]
    )
    await index.ainsert_nodes([TextNode(
        text="Accounts locked after five failed logins unlock after 30 minutes.",
        metadata={"team": "accounts", "year": 2025},
    )])
    billing = await llama_store.aget_nodes(
        filters=MetadataFilters(filters=[MetadataFilter(key="team", value="billing")])
    )
    found["billing_after_adds"] = sorted(n.get_content() for n in billing)
    accounts = await langchain_store.asimilarity_search("login", k=10, filter={"team": "accounts"})
    found["accounts_after_adds"] = sorted(doc.page_content for doc in accounts)
    print(f"\nafter one add from each framework: {len(billing)} billing notes, "
          f"{len(accounts)} accounts notes")
    await langchain_store.aclose()
    await llama_store.aclose()
    await client.close()
    return found


if __name__ == "__main__":
    asyncio.run(main())
