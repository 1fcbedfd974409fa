"""Quickstart: the classic Qdrant walkthrough, async and done right, on the embedded store.

Run it with ``make demo`` (or ``python cookbook/quickstart.py`` inside the project's venv). No
server is needed: ``QdrantEngine()`` keeps the data in memory. Point the same code at a server by
changing only the constructor: ``QdrantEngine(url="http://localhost:6333")``.

A common bug in async Qdrant code is ``await client.query_points(...).points``: the attribute is
read from the coroutine, not from its result. It has to be ``(await client.query_points(...))
.points``. The engine returns the hits themselves, so there is nothing to get wrong here.
"""

from __future__ import annotations

import asyncio

from qdrant_client import models

from qdrant_aio import CollectionSpec, PointInput, QdrantEngine, SearchRequest

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


async def main() -> list[str]:
    found: list[str] = []
    async with QdrantEngine() as engine:  # embedded, in memory; closed when the block ends
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


if __name__ == "__main__":
    asyncio.run(main())
