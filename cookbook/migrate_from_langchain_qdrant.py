"""Migrating from langchain-qdrant: open the collection it wrote and serve it through qdrant-aio.

Step 1 plays the existing application: ``langchain_qdrant.QdrantVectorStore.from_texts`` writes a
collection into an embedded folder (its layout: one unnamed dense vector, the text under
``page_content`` and the metadata under ``metadata``). Step 2 is the migration, which changes one
import and nothing in the data:

    # from langchain_qdrant import QdrantVectorStore
    from qdrant_aio.langchain import QdrantVectorStore

The same collection then serves truly async searches, filters in the portable dict syntax, MMR
and ``get_by_ids``; documents added through qdrant-aio keep langchain-qdrant's layout (so the old
package could still read them). What differs: ``Document.id`` is set and the metadata comes back
exactly as stored (langchain-qdrant adds ``_id`` and ``_collection_name`` keys); any string id
works; ``lambda_mult`` has LangChain's meaning. Against a server, point both at the same ``url=``
instead of a folder.

Embeddings: ``OfflineEmbeddings`` (offline hashing; similar wording, similar vectors). Use the SAME
model that wrote the collection, e.g. ``OpenAIEmbeddings(model="text-embedding-3-small")``:
vectors from another model are not comparable (a different size raises
``CollectionMismatchError``).

Run: ``python cookbook/migrate_from_langchain_qdrant.py [--path ./qdrant_data]`` (default: a
temporary folder, removed afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from typing import Any

import langchain_qdrant
from offline_embeddings import OfflineEmbeddings

from qdrant_aio import QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore

RECIPES = [
    ("Pancakes: a sweet breakfast of flour, milk and eggs, fried in thin layers.",
     {"course": "breakfast", "minutes": 20}),
    ("Porridge: a warm breakfast of oats simmered in milk.",
     {"course": "breakfast", "minutes": 10}),
    ("Tomato soup: roasted tomatoes and garlic blended with stock.",
     {"course": "starter", "minutes": 45}),
    ("Risotto: rice stirred with hot stock and parmesan until creamy.",
     {"course": "main", "minutes": 35}),
    ("Pizza: a thin dough with tomato and mozzarella, baked very hot.",
     {"course": "main", "minutes": 25}),
    ("Lemon tart: a sweet pastry case filled with lemon curd.",
     {"course": "dessert", "minutes": 90}),
]
# langchain-qdrant accepts only UUIDs and integers as ids.
IDS = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"recipe-{n}")) for n in range(len(RECIPES))]


def write_with_langchain_qdrant(path: str) -> None:
    """What the existing application did (sync: langchain-qdrant has no native async)."""
    old = langchain_qdrant.QdrantVectorStore.from_texts(
        [text for text, _ in RECIPES], OfflineEmbeddings(),
        metadatas=[meta for _, meta in RECIPES], ids=IDS,
        path=path, collection_name="recipes", force_recreate=True,
    )
    print(f"langchain-qdrant wrote {len(RECIPES)} recipes to {path}")
    top = old.similarity_search("breakfast oats and milk", k=1)[0]
    print(f"  its own search, 'breakfast oats and milk': {top.page_content.split(':')[0]}, "
          f"metadata keys {sorted(top.metadata)} (it injects _id and _collection_name)")
    old.client.close()  # an embedded folder is used by one process at a time


async def serve_with_qdrant_aio(path: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    async with QdrantEngine(path=path) as engine:
        store = await QdrantVectorStore.afrom_existing_collection(
            "recipes", OfflineEmbeddings(), client=engine
        )
        print(f"\nqdrant-aio opened it: {await engine.acount('recipes')} points")

        docs = await store.asimilarity_search("breakfast oats and milk", k=2)
        found["search"] = [doc.page_content.split(":")[0] for doc in docs]
        print("asimilarity_search 'breakfast oats and milk':")
        for doc in docs:
            print(f"  {doc.id}  {doc.metadata}  {doc.page_content}")

        quick_mains = await store.asimilarity_search(
            "tomato and mozzarella", k=3,
            filter={"$and": [{"course": "main"}, {"minutes": {"$lte": 30}}]},
        )
        found["filtered"] = [doc.page_content.split(":")[0] for doc in quick_mains]
        print("filter course == main AND minutes <= 30, 'tomato and mozzarella':",
              found["filtered"])

        varied = await store.amax_marginal_relevance_search(
            "sweet breakfast", k=2, fetch_k=6, lambda_mult=0.5
        )
        found["mmr"] = [doc.page_content.split(":")[0] for doc in varied]
        print("MMR 'sweet breakfast', k=2:", found["mmr"])

        # New documents: any string id, same layout as the old package wrote.
        await store.aadd_texts(
            ["Shakshuka: a breakfast of eggs poached in a spicy tomato sauce."],
            metadatas=[{"course": "breakfast", "minutes": 30}], ids=["shakshuka"],
        )
        eggs = await store.asimilarity_search("eggs for breakfast", k=3,
                                              filter={"course": "breakfast"})
        found["after_add"] = [doc.id for doc in eggs]
        print("after adding 'shakshuka', breakfasts with eggs:",
              [(doc.id, doc.page_content.split(":")[0]) for doc in eggs])
        by_id = await store.aget_by_ids([IDS[3], "shakshuka"])
        found["by_id"] = [doc.page_content.split(":")[0] for doc in by_id]
        print("aget_by_ids:", found["by_id"])
        found["metadata"] = by_id[0].metadata
    return found


async def main(path: str | None = None) -> dict[str, Any]:
    if path is not None:
        write_with_langchain_qdrant(path)
        return await serve_with_qdrant_aio(path)
    with tempfile.TemporaryDirectory(prefix="qdrant-aio-migrate-") as folder:
        write_with_langchain_qdrant(folder)
        return await serve_with_qdrant_aio(folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--path", help="embedded Qdrant folder (default: a temporary one)")
    asyncio.run(main(parser.parse_args().path))
