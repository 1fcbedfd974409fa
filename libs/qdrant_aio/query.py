"""I/O-free mapping of a vector-store search onto one Qdrant Query API request."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from qdrant_client import models

from .config import CollectionLayout
from .errors import ConfigurationError, DimensionMismatchError, InvalidInputError
from .ids import PointId, point_id_for

__all__ = [
    "SearchRequest",
    "Hit",
    "build_query",
    "hit_from_point",
    "all_finite",
    "ORIGINAL_ID_KEY",
]

# Payload key that keeps a string id whose point id is its UUIDv5 (see ids.py).
ORIGINAL_ID_KEY = "external_id"

Fusion = Literal["rrf", "dbsf"]


@dataclass(frozen=True)
class SearchRequest:
    """One search. Dense only, sparse only, or both (hybrid, fused server-side).

    ``mmr_lambda`` turns a single-vector search into Qdrant's native MMR, with LangChain's meaning:
    1 is pure relevance, 0 is most diverse (Qdrant's ``diversity`` is ``1 - mmr_lambda``), over
    ``mmr_candidates`` nearest candidates. ``prefetch_limit`` is the depth of each hybrid branch.
    ``dense_prefetch_limit`` / ``sparse_prefetch_limit`` set one branch each (falling back to
    ``prefetch_limit``). ``rrf_weights`` weighs the (dense, sparse) branches in Qdrant's
    weighted RRF. ``search_params`` (HNSW ``ef``, exact search, quantization) go with the search
    and with each hybrid branch; ``consistency`` is the read consistency of a replicated
    collection. A server applies both; embedded mode, which always searches exactly, has none.
    """

    dense: Sequence[float] | None = None
    sparse: models.SparseVector | None = None
    limit: int = 4
    offset: int = 0
    filter: models.Filter | None = None
    score_threshold: float | None = None
    fusion: Fusion = "rrf"
    rrf_k: int | None = None
    rrf_weights: tuple[float, float] | None = None
    prefetch_limit: int | None = None
    dense_prefetch_limit: int | None = None
    sparse_prefetch_limit: int | None = None
    dense_filter: models.Filter | None = None
    sparse_filter: models.Filter | None = None
    mmr_lambda: float | None = None
    mmr_candidates: int | None = None
    with_vectors: bool = False
    with_payload: bool = True
    search_params: models.SearchParams | None = None
    consistency: models.ReadConsistency | None = None

    def __post_init__(self) -> None:
        if self.dense is None and self.sparse is None:
            raise InvalidInputError("a search needs a dense vector, a sparse vector or both")
        if self.dense is not None:
            if not all_finite(self.dense):
                raise InvalidInputError(
                    "the query vector contains NaN or infinity (or a non-number)"
                )
            if _has_bool(self.dense):  # a server refuses true/false in a vector
                raise InvalidInputError("the query vector contains a bool; give numbers")
        if self.sparse is not None and not all_finite(self.sparse.values):
            raise InvalidInputError("the sparse query vector contains NaN or infinity")
        if self.limit < 1 or self.offset < 0:
            raise InvalidInputError(
                "the number of results (LangChain's k, LlamaIndex's similarity_top_k) must be "
                f"at least 1 and the offset at least 0, got {self.limit} and {self.offset}"
            )
        if self.fusion not in ("rrf", "dbsf"):
            raise InvalidInputError(f"fusion must be 'rrf' or 'dbsf', got {self.fusion!r}")
        if self.mmr_lambda is not None:
            if not 0.0 <= self.mmr_lambda <= 1.0:
                raise InvalidInputError(f"lambda_mult must be within [0, 1], got {self.mmr_lambda}")
            if self.dense is not None and self.sparse is not None:
                raise InvalidInputError("MMR runs on one vector: give dense or sparse, not both")
        if self.rrf_weights is not None:
            if self.fusion != "rrf":
                raise InvalidInputError("branch weights are supported with RRF fusion only")
            if len(self.rrf_weights) != 2 or any(w < 0 for w in self.rrf_weights) or not any(
                self.rrf_weights
            ):
                raise InvalidInputError("rrf_weights must be two non-negative numbers, not both 0")
        for depth in (self.prefetch_limit, self.dense_prefetch_limit, self.sparse_prefetch_limit):
            if depth is not None and depth < 1:
                raise InvalidInputError("prefetch limits must be >= 1")
        if self.search_params is not None and not isinstance(
            self.search_params, models.SearchParams
        ):  # a dict of its fields, as qdrant-client takes it
            try:
                params = models.SearchParams.model_validate(self.search_params)
            except ValueError as error:
                raise InvalidInputError(
                    f"search_params must be a models.SearchParams, got {self.search_params!r}"
                ) from error
            object.__setattr__(self, "search_params", params)
        if self.consistency is not None:
            object.__setattr__(self, "consistency", _read_consistency(self.consistency))

    @property
    def hybrid(self) -> bool:
        return self.dense is not None and self.sparse is not None


def _read_consistency(value: object) -> models.ReadConsistency:
    """A positive int, or a ``ReadConsistencyType`` (or its name: "majority", "quorum", "all")."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str):
        try:
            return models.ReadConsistencyType(value)
        except ValueError:
            pass
    raise InvalidInputError(
        "consistency must be a positive int or a models.ReadConsistencyType, "
        f"got {value!r}"
    )


@dataclass(slots=True)  # not frozen: one is made per point read, and a frozen init is slower
class Hit:
    """A point as the stores see it: its original id, score (None for plain reads) and payload."""

    id: str
    point_id: PointId
    score: float | None
    payload: dict[str, Any]
    vector: Any = None


def _dense_name(layout: CollectionLayout) -> str | None:
    if layout.dense_name is None:
        raise ConfigurationError(f"collection {layout.name!r} has no dense vector")
    return layout.dense_name or None  # the unnamed vector is addressed with using=None


def _sparse_name(layout: CollectionLayout) -> str:
    if layout.sparse_name is None:
        raise ConfigurationError(f"collection {layout.name!r} has no sparse vector")
    return layout.sparse_name


def _has_bool(values: Sequence[float]) -> bool:
    if isinstance(values, np.ndarray) and values.dtype.kind != "O":  # object arrays: scan
        return values.dtype.kind == "b"
    kinds = set(map(type, values))
    if not _BOOL_TYPES.isdisjoint(kinds):
        return True
    # A 0-d array holding a bool converts as one too.
    return np.ndarray in kinds and any(
        isinstance(v, np.ndarray) and v.dtype.kind == "b" for v in values
    )


_BOOL_TYPES = frozenset({bool, np.bool_})


def all_finite(values: Sequence[float]) -> bool:
    """Whether every value is a finite number (one C-level pass in the common case)."""
    try:
        # NaN and infinity propagate through a sum; an overflow to infinity is re-checked.
        return math.isfinite(sum(values)) or all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any float
        return False


def build_query(
    request: SearchRequest, layout: CollectionLayout, *, float32_query: bool = False
) -> dict[str, Any]:
    """Keyword arguments of ``query_points`` (and fields of ``QueryRequest``) for ``request``.

    ``float32_query``: the dense query may go as a float32 array (for qdrant-client's local
    mode only; a server gets JSON), see :func:`_dense_query`. Raises
    :class:`DimensionMismatchError` for a query vector of the wrong length.
    """
    # Float32 scoring keeps the list's ranking for cosine and dot products, whose terms keep
    # their relative precision. A Euclidean or Manhattan difference q - v loses v in float32
    # once the query is some 1e7 times larger than the stored values (a review measured other
    # top-10s), so those distances keep the list, as a bare client sends it.
    float32_query = float32_query and layout.distance in _FLOAT32_DISTANCES
    if (
        request.dense is not None
        and layout.dense_size is not None
        and len(request.dense) != layout.dense_size
    ):
        raise DimensionMismatchError(layout.dense_size, len(request.dense), where="query vector")
    common: dict[str, Any] = {
        "limit": request.limit,
        "offset": request.offset or None,
        "with_payload": request.with_payload,
        "with_vector": request.with_vectors,
        "filter": request.filter,
        "score_threshold": request.score_threshold,
        "params": request.search_params,
    }
    if request.consistency is not None:  # a request's setting, not a QueryRequest field
        common["consistency"] = request.consistency
    if request.hybrid:
        assert request.dense is not None and request.sparse is not None
        depth = request.prefetch_limit or max(4 * (request.limit + request.offset), 20)
        dense_depth = request.dense_prefetch_limit or depth
        sparse_depth = request.sparse_prefetch_limit or depth
        fusion: models.FusionQuery | models.RrfQuery
        if request.fusion == "dbsf":
            fusion = models.FusionQuery(fusion=models.Fusion.DBSF)
        elif request.rrf_k is not None or request.rrf_weights is not None:
            weights = list(request.rrf_weights) if request.rrf_weights is not None else None
            fusion = models.RrfQuery(rrf=models.Rrf(k=request.rrf_k, weights=weights))
        else:
            fusion = models.FusionQuery(fusion=models.Fusion.RRF)
        # Filters go into every branch: filtering only the fused result would let filtered-out
        # points take the branch slots and starve the result.
        dense_filter = _and(request.filter, request.dense_filter)
        sparse_filter = _and(request.filter, request.sparse_filter)
        return {
            **common,
            "prefetch": [
                models.Prefetch(
                    query=_dense_query(request.dense, float32_query),
                    using=_dense_name(layout),
                    filter=dense_filter,
                    params=request.search_params,
                    limit=dense_depth,
                ),
                models.Prefetch(
                    query=request.sparse,
                    using=_sparse_name(layout),
                    filter=sparse_filter,
                    params=request.search_params,
                    limit=sparse_depth,
                ),
            ],
            "query": fusion,
        }
    query: Any
    if request.dense is not None:
        # MMR's picks compare similarities that tie when the query equals a stored vector (or
        # two candidates are copies); float32 rounding then decides them differently from the
        # list, which a server and a bare client both get: MMR keeps the list.
        query = _dense_query(request.dense, float32_query and request.mmr_lambda is None)
        using = _dense_name(layout)
    else:
        assert request.sparse is not None
        query = request.sparse
        using = _sparse_name(layout)
    if request.mmr_lambda is not None:
        candidates = max(request.mmr_candidates or 20, request.limit + request.offset)
        mmr = models.Mmr(diversity=1.0 - request.mmr_lambda, candidates_limit=candidates)
        query = models.NearestQuery(nearest=query, mmr=mmr)
    return {**common, "query": query, "using": using}


def _dense_query(dense: Sequence[float], float32: bool) -> Any:
    """The dense query vector: a list, or for local mode a float32 array when it is safe.

    Local mode turns a list into a float64 array, and numpy then casts every stored (float32)
    vector to float64 for the dot product: a temporary twice the collection's size, in fresh
    memory, on every search (for 20,000 vectors of 384 dimensions, 60 MB and about half of a
    13 ms search). With a float32 query it scores in float32, as Qdrant itself does. The array
    rides in a ``NearestQuery`` built without validation, which would turn it back into a list.
    """
    if float32:  # the values are numbers: SearchRequest checked them
        values = np.asarray(dense, dtype=np.float64)
        largest = float(np.abs(values).max())
        # Only where float32 sums of squares and products neither overflow nor underflow
        # (a norm of 1e20 squared is infinite in float32); outside, the list, as before.
        if largest == 0.0 or _FLOAT32_SAFE_LOW <= largest <= _FLOAT32_SAFE_HIGH:
            # astype copies: the caller's array may change while the search waits.
            return models.NearestQuery.model_construct(nearest=values.astype(np.float32))
    return list(dense)


# Largest absolute query value whose square, times any dimension Qdrant allows (65,536), stays
# far below float32's maximum (3.4e38); smallest whose square stays above its smallest normal
# number (1.2e-38), so that a norm keeps its precision.
_FLOAT32_SAFE_HIGH = 1e15
_FLOAT32_SAFE_LOW = 1e-15
_FLOAT32_DISTANCES = frozenset({models.Distance.COSINE, models.Distance.DOT})


def _and(*filters: models.Filter | None) -> models.Filter | None:
    present = [f for f in filters if f is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return models.Filter(must=list(present))


def _maps_to(original: str, point_id: Any) -> bool:
    try:
        return str(point_id_for(original)) == str(point_id)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any float
        return False


def hit_from_point(point: models.ScoredPoint | models.Record) -> Hit:
    payload = dict(point.payload or {})
    original = payload.get(ORIGINAL_ID_KEY)
    external = str(point.id)
    # Only a value that maps to this very point is its original id: in layouts that keep user
    # metadata at the top level, "external_id" may just be a metadata key.
    if isinstance(original, str) and _maps_to(original, point.id):
        del payload[ORIGINAL_ID_KEY]
        external = original
    # A Record has no score, and getattr(record, "score", None) costs pydantic a raised and
    # caught AttributeError (~2 us a point, most of the conversion): it is not asked.
    score = None if isinstance(point, models.Record) else getattr(point, "score", None)
    return Hit(
        id=external,
        point_id=point.id if isinstance(point.id, (int, str)) else str(point.id),
        score=float(score) if score is not None else None,
        payload=payload,
        vector=point.vector,
    )
