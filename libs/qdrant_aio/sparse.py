"""Sparse vectors: Qdrant's own offline BM25 by default, or any user encoder.

The default encoder is qdrant-edge-py's ``Bm25``: no model download, the same tokenizer Qdrant
uses server-side. It yields term-frequency weights only; IDF is computed by Qdrant itself because
new sparse vectors are created with the IDF modifier, so scores stay right as the corpus grows.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from qdrant_client import models

from .errors import ConfigurationError, InvalidInputError

__all__ = [
    "SparseEncoder",
    "Bm25Encoder",
    "to_sparse_vector",
    "aencode_documents",
    "aencode_query",
]

# Encoding a batch in a worker thread costs a thread hop; below this many texts the hop costs
# more than the encoding it would move off the loop (BM25 takes a few microseconds a text).
_INLINE_TEXTS = 8


@runtime_checkable
class SparseEncoder(Protocol):
    """Anything that turns texts into sparse vectors (documents and queries may differ)."""

    def encode_documents(self, texts: Sequence[str]) -> list[models.SparseVector]: ...

    def encode_query(self, text: str) -> models.SparseVector: ...


def to_sparse_vector(value: Any) -> models.SparseVector:
    """Accept a Qdrant SparseVector, anything with ``indices``/``values``, or a pair of lists."""
    if isinstance(value, models.SparseVector):
        return value
    indices = getattr(value, "indices", None)
    values = getattr(value, "values", None)
    if indices is None and isinstance(value, (tuple, list)) and len(value) == 2:
        indices, values = value
    if indices is None or values is None:
        raise InvalidInputError(f"not a sparse vector: {type(value).__name__}")
    return models.SparseVector(indices=list(indices), values=[float(v) for v in values])


@dataclass(frozen=True)
class Bm25Encoder:
    """Qdrant's BM25 (qdrant-edge-py), fully offline. Settings as in Qdrant's ``Bm25Config``."""

    language: str = "english"
    k: float = 1.2
    b: float = 0.75
    avg_len: float = 256.0

    def __post_init__(self) -> None:
        try:
            from qdrant_edge import Bm25, Bm25Config
        except ImportError as error:  # pragma: no cover - a declared dependency
            raise ConfigurationError("the BM25 encoder needs qdrant-edge-py") from error
        try:
            config = Bm25Config(k=self.k, b=self.b, avg_len=self.avg_len, language=self.language)
            model = Bm25(config)
        except ValueError as error:
            raise ConfigurationError(f"invalid BM25 settings: {error}") from error
        object.__setattr__(self, "_model", model)
        # The native model is not documented as thread-safe; documents may be encoded in a
        # worker thread while a query is encoded on the loop.
        object.__setattr__(self, "_lock", threading.Lock())

    def encode_documents(self, texts: Sequence[str]) -> list[models.SparseVector]:
        with self._lock:  # type: ignore[attr-defined]
            raw = [self._model.embed_document(t) for t in texts]  # type: ignore[attr-defined]
        return [models.SparseVector(indices=v.indices, values=v.values) for v in raw]

    def encode_query(self, text: str) -> models.SparseVector:
        with self._lock:  # type: ignore[attr-defined]
            raw = self._model.embed_query(text)  # type: ignore[attr-defined]
        return models.SparseVector(indices=raw.indices, values=raw.values)


async def _off_loop(fn: Callable[[], Any], inline: bool) -> Any:
    if inline:
        return fn()
    return await asyncio.to_thread(fn)


async def aencode_documents(
    encoder: SparseEncoder, texts: Sequence[str], per_call: int | None = None
) -> list[models.SparseVector]:
    """Encode documents, in calls of at most ``per_call`` texts (default: one call) one after
    another; large calls run in a worker thread so the loop stays responsive."""
    size = per_call or max(len(texts), 1)
    encoded: list[models.SparseVector] = []
    for start in range(0, len(texts), size):
        part = list(texts[start : start + size])
        # Only the built-in BM25 is known to be cheap; any other encoder runs off the loop.
        inline = isinstance(encoder, Bm25Encoder) and len(part) < _INLINE_TEXTS
        vectors = await _off_loop(functools.partial(encoder.encode_documents, part), inline=inline)
        if len(vectors) != len(part):
            raise InvalidInputError(
                f"the sparse encoder returned {len(vectors)} vectors for {len(part)} texts"
            )
        encoded.extend(to_sparse_vector(v) for v in vectors)
    return encoded


async def aencode_query(encoder: SparseEncoder, text: str) -> models.SparseVector:
    """Encode a query; a user encoder (of unknown cost) runs in a worker thread."""
    vector = await _off_loop(
        lambda: encoder.encode_query(text), inline=isinstance(encoder, Bm25Encoder)
    )
    return to_sparse_vector(vector)
