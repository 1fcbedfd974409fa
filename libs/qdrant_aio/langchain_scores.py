"""Relevance scores of the LangChain adapter: fixed monotonic maps from Qdrant scores to [0, 1].

LangChain's ``similarity_search_with_relevance_scores`` promises scores within [0, 1], 1 being
most similar, and ``score_threshold`` is compared in that space. Qdrant returns raw scores whose
range depends on the metric and the search kind. Each kind gets one fixed map; none rescales per
query (a per-query min-max would give the best hit 1.0 even when it is a poor match, so a
threshold would mean nothing). Every map is monotonic, so relevance order is rank order.

====================  =========================  =================================================
search                Qdrant score ``s``         relevance
====================  =========================  =================================================
dense, Cosine         similarity in [-1, 1]      ``(s + 1) / 2``
dense, Dot            inner product              ``(s + 1) / 2`` clipped to [0, 1] (exact for
                                                 unit-length embeddings, the usual case; use
                                                 Cosine for embeddings of other lengths)
dense, Euclid         distance ``d >= 0``        ``1 / (1 + d)``
dense, Manhattan      distance ``d >= 0``        ``1 / (1 + d)``
sparse (BM25 etc.)    non-negative weight sum    ``s / (1 + s)`` (negative scores of a user
                                                 encoder count as 0)
hybrid, RRF           sum of ``1 / (k + rank)``  ``s / (branches / k)``: 1 when a point ranks
                                                 first in every branch (``k`` is Qdrant's, 2
                                                 unless ``rrf_k`` is set)
hybrid, DBSF          sum of per-branch scores   ``s / branches`` clipped to [0, 1]
                      normalised to about [0, 1]
====================  =========================  =================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from qdrant_client import models

__all__ = [
    "QDRANT_DEFAULT_RRF_K",
    "HYBRID_BRANCHES",
    "dense_relevance",
    "sparse_relevance",
    "fused_relevance",
    "relevance_function",
]

# Qdrant's RRF constant when a query does not set one (server and local mode alike).
QDRANT_DEFAULT_RRF_K = 2
# A hybrid search fuses two branches: the dense one and the sparse one.
HYBRID_BRANCHES = 2


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def dense_relevance(score: float, distance: models.Distance | None) -> float:
    """Relevance of a dense score for the collection's distance (Cosine when unknown)."""
    if distance in (models.Distance.EUCLID, models.Distance.MANHATTAN):
        return 1.0 / (1.0 + max(0.0, score))
    return _clip((score + 1.0) / 2.0)


def sparse_relevance(score: float) -> float:
    """Relevance of a sparse (BM25-like, non-negative) score."""
    positive = max(0.0, score)
    return positive / (1.0 + positive)


def fused_relevance(
    score: float,
    fusion: Literal["rrf", "dbsf"],
    *,
    rrf_k: int | None = None,
    branches: int = HYBRID_BRANCHES,
) -> float:
    """Relevance of a fused hybrid score: the score over the best score the fusion can give."""
    if fusion == "rrf":
        k = rrf_k if rrf_k is not None else QDRANT_DEFAULT_RRF_K
        best = branches / k
    else:
        best = float(branches)
    return _clip(score / best)


def relevance_function(
    kind: Literal["dense", "sparse", "hybrid"],
    *,
    distance: models.Distance | None = None,
    fusion: Literal["rrf", "dbsf"] = "rrf",
    rrf_k: int | None = None,
) -> Callable[[float], float]:
    """The map of one search kind, ready to apply to every hit of a result."""
    if kind == "dense":
        return lambda s: dense_relevance(s, distance)
    if kind == "sparse":
        return sparse_relevance
    return lambda s: fused_relevance(s, fusion, rrf_k=rrf_k)
