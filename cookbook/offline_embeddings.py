"""An offline embedding for the examples: similar wording gives similar vectors.

It hashes words and character trigrams into a fixed number of dimensions (the "hashing trick"),
so texts that share words or word stems point in similar directions. It needs no download and is
deterministic, which keeps the examples runnable anywhere and their output stable. It knows
nothing of meaning beyond shared wording: for real use, plug in a real model, for example
``langchain_openai.OpenAIEmbeddings`` / ``langchain_huggingface.HuggingFaceEmbeddings`` on the
LangChain side, or any ``llama_index.core.embeddings.BaseEmbedding`` on the LlamaIndex side.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from langchain_core.embeddings import Embeddings
from llama_index.core.embeddings import BaseEmbedding

DIMENSIONS = 256
_WORD = re.compile(r"[a-z0-9]+")


def _bucket(feature: str) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % DIMENSIONS, 1.0 if (value >> 63) & 1 else -1.0


def embed_text(text: str) -> list[float]:
    """A unit vector for ``text`` built from its words (weight 1) and trigrams (weight 0.5)."""
    vector = [0.0] * DIMENSIONS
    for word in _WORD.findall(text.lower()):
        index, sign = _bucket("w:" + word)
        vector[index] += sign
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            index, sign = _bucket("t:" + padded[start : start + 3])
            vector[index] += 0.5 * sign
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class OfflineEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over :func:`embed_text` (async methods native, no executor)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [embed_text(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return embed_text(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


class OfflineLlamaEmbedding(BaseEmbedding):
    """LlamaIndex ``BaseEmbedding`` over :func:`embed_text`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name="offline-hashing", **kwargs)

    def _get_query_embedding(self, query: str) -> list[float]:
        return embed_text(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return embed_text(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return embed_text(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return embed_text(text)
