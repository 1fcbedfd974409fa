"""The store both filter test modules query: the same points in the two payload layouts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qdrant_client import QdrantClient, models


def metadata_collections(meta: Mapping[int, dict[str, Any]], text_prefix: str) -> QdrantClient:
    """An in-memory client with collection "nested" (metadata under ``"metadata"``, qdrant-aio's
    layout) and "flat" (metadata at the top level, llama-index-vector-stores-qdrant's layout)."""
    qdrant = QdrantClient(":memory:")
    for name, top_level in (("nested", False), ("flat", True)):
        qdrant.create_collection(
            name, vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE)
        )
        points = []
        for point_id, metadata in meta.items():
            text = f"{text_prefix} {point_id}"
            payload = (
                {**metadata, "page_content": text}
                if top_level
                else {"page_content": text, "metadata": metadata}
            )
            points.append(models.PointStruct(id=point_id, vector=[1.0, 0.5], payload=payload))
        qdrant.upsert(name, points=points)
    return qdrant
