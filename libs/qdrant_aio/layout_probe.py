"""Which payload layout a collection holds, decided once per store from one stored point.

Both adapters read qdrant-aio's own layout and llama-index-vector-stores-qdrant's (see
:mod:`qdrant_aio.payload`) point by point, so plain reads need no probe. Filters and writes do:
metadata filters address ``metadata.<key>`` in one layout and ``<key>`` in the other, and a write
keeps the layout the collection already has. One point is sampled; the answer is cached. An empty
or missing collection is not decided yet (the next call looks again), and the first write of the
store itself decides it.
"""

from __future__ import annotations

from qdrant_client import models

from .bridge import overlapped
from .engine import QdrantEngine
from .payload import PayloadLayout, has_top_level_metadata

__all__ = ["LayoutProbe"]


class LayoutProbe:
    """Cached answer to "is this collection in llama-index-vector-stores-qdrant's layout?"."""

    def __init__(self, layout: PayloadLayout) -> None:
        self._layout = layout
        self._legacy: bool | None = None
        # Whether points carry the lower-cased metadata copy (qdrant-aio writes it always;
        # langchain-qdrant does not), which case-insensitive filters need.
        self._caseless: bool | None = None
        self._caseless_everywhere: bool | None = None

    @property
    def decided(self) -> bool | None:
        """Whether the collection uses the legacy layout, if known already (else None)."""
        return self._legacy

    async def alegacy(self, engine: QdrantEngine, collection_name: str) -> bool:
        """Whether the collection's points keep their metadata at the top level
        (llama-index-vector-stores-qdrant's layout, or flat payloads)."""
        if self._legacy is not None:
            return self._legacy
        sample, _ = await engine.ascroll(collection_name, limit=1)
        if not sample:
            return False
        self._legacy = has_top_level_metadata(sample[0].payload, self._layout)
        self._caseless = self._layout.caseless_key in sample[0].payload
        return self._legacy

    async def alegacy_before_write(self, engine: QdrantEngine, collection_name: str) -> bool:
        """:meth:`alegacy`, with the write's collection lookup sent alongside.

        Both are reads: sending them together saves the write a round trip
        (:meth:`QdrantEngine.aprefetch_collection`).
        """
        _, legacy = await overlapped(
            engine.aprefetch_collection(collection_name), self.alegacy(engine, collection_name)
        )
        return legacy

    def settle(self, legacy: bool) -> None:
        """Record the layout of a successful write, unless the collection was decided already."""
        if self._legacy is None:
            self._legacy = legacy
            self._caseless = not legacy

    def forget(self) -> None:
        """The collection was deleted: decide again on next use."""
        self._legacy = None
        self._caseless = None
        self._caseless_everywhere = None

    def metadata_key(self, legacy: bool) -> str:
        """The metadata key filters address: ``""`` (top level) in the legacy layout."""
        return "" if legacy else self._layout.metadata_key

    async def acaseless_key(
        self, engine: QdrantEngine, collection_name: str, legacy: bool
    ) -> str | None:
        """The field of lower-cased metadata, or None unless every point of the collection has it.

        One point is not enough to know: a collection can mix points written by qdrant-aio and
        by another package. So the store counts the points without the copy (once; a positive
        answer is cached). Without the copy everywhere, a case-insensitive filter is translated
        only where case cannot matter and raises otherwise, instead of silently missing points.
        """
        if legacy or self._caseless is False:
            return None
        if self._caseless_everywhere is None:
            missing = models.Filter(
                must=[models.IsEmptyCondition(is_empty=models.PayloadField(key=self._layout.caseless_key))]
            )
            if await engine.acount(collection_name, filter=missing) > 0:
                return None  # not cached: the points may still be rewritten
            self._caseless_everywhere = True
        return self._layout.caseless_key
