"""Small validated value objects: what a store wants of a collection, and what it found."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from qdrant_client import models

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_DENSE_NAME",
    "DEFAULT_SPARSE_NAME",
    "UNNAMED_VECTOR",
    "CollectionSpec",
    "CollectionLayout",
    "IngestOptions",
    "QueryCoalescing",
    "parse_distance",
]

DEFAULT_DENSE_NAME = "dense"
DEFAULT_SPARSE_NAME = "sparse"
# Qdrant's name of the single vector of a collection created without named vectors.
UNNAMED_VECTOR = ""

_DISTANCES = {d.value.lower(): d for d in models.Distance}
_DISTANCES.update(
    {
        "l2": models.Distance.EUCLID,
        "euclidean_distance": models.Distance.EUCLID,
        "ip": models.Distance.DOT,
        "dot_product": models.Distance.DOT,
        "max_inner_product": models.Distance.DOT,
    }
)


def parse_distance(value: models.Distance | str | None) -> models.Distance | None:
    """Accept a Distance, its name in any case, or common aliases (cosine, l2, dot, ip)."""
    if value is None or isinstance(value, models.Distance):
        return value
    if isinstance(value, str):
        found = _DISTANCES.get(value.strip().lower())
        if found is not None:
            return found
    raise ConfigurationError(
        f"unknown distance {value!r}; use one of {sorted(d.value for d in models.Distance)}"
    )


def dense_vector_options(
    params: models.VectorParams | Mapping[str, Any] | None, what: str
) -> dict[str, Any]:
    """The options a dense vector's parameters set, by :class:`CollectionSpec` field name, and
    its ``size`` when a ``VectorParams`` gives one.

    ``params`` is LlamaIndex's ``dense_config`` or langchain-qdrant's ``vector_params`` (a dict
    of ``VectorParams`` fields, checked here). The size always comes from the embeddings, so a
    dict may not give one. Multivectors and datatypes are refused: the store writes and scores
    one float vector a point.
    """
    if params is None:
        return {}
    given = set(params) if isinstance(params, Mapping) else params.model_fields_set
    if isinstance(params, Mapping):
        if "size" in params:
            raise ConfigurationError(f"{what}: the size comes from the embeddings; leave it out")
        try:
            params = models.VectorParams(**{"size": 1, "distance": "Cosine", **params})
        except (ValidationError, TypeError) as error:
            raise ConfigurationError(f"{what}: {error}") from error
    if params.multivector_config is not None or params.datatype is not None:
        raise ConfigurationError(f"{what}: multivectors and datatypes are not supported")
    options = {
        "size": params.size if "size" in given else None,  # LlamaIndex's: nodes must fit it
        "distance": params.distance if "distance" in given else None,
        "on_disk": params.on_disk,
        "hnsw_config": params.hnsw_config,
        "quantization_config": params.quantization_config,
    }
    return {k: v for k, v in options.items() if v is not None}


def sparse_vector_options(
    explicit_idf: bool | None,
    params: models.SparseVectorParams | Mapping[str, Any] | None,
    what: str,
) -> tuple[bool | None, models.SparseIndexParams | None]:
    """IDF (``None``: not said) and index parameters of a sparse vector's parameters.

    ``params`` is LlamaIndex's ``sparse_config`` or langchain-qdrant's ``sparse_vector_params``;
    as there, parameters without ``modifier`` mean no IDF. ``sparse_idf=`` given too must agree.
    """
    if params is None:
        return explicit_idf, None
    if isinstance(params, Mapping):
        try:
            params = models.SparseVectorParams(**params)
        except (ValidationError, TypeError) as error:
            raise ConfigurationError(f"{what}: {error}") from error
    idf = params.modifier == models.Modifier.IDF
    if explicit_idf is not None and explicit_idf != idf:
        raise ConfigurationError(f"sparse_idf contradicts {what}.modifier")
    return idf, params.index


@dataclass(frozen=True)
class CollectionSpec:
    """What a store needs of its collection, and how to create it when it does not exist.

    ``vector_name`` / ``sparse_vector_name`` left as ``None`` mean "the default": new collections
    get ``"dense"`` / ``"sparse"``; an existing collection's single unnamed vector, its ``"dense"``
    vector, or its only dense vector is used (and likewise for sparse). A name given explicitly
    must exist. ``distance=None`` accepts the existing collection's distance (Cosine when creating).
    """

    dense: bool = True
    sparse: bool = False
    vector_name: str | None = None
    sparse_vector_name: str | None = None
    distance: models.Distance | None = None
    on_disk: bool | None = None
    on_disk_payload: bool | None = None
    hnsw_config: models.HnswConfigDiff | None = None
    quantization_config: models.QuantizationConfig | None = None
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    sparse_idf: bool = True
    sparse_index: models.SparseIndexParams | None = None
    payload_indexes: Mapping[str, models.PayloadSchemaType | models.PayloadSchemaParams] = field(
        default_factory=dict
    )
    extra_create_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.dense and not self.sparse:
            raise ConfigurationError("a collection needs a dense vector, a sparse vector or both")
        object.__setattr__(self, "distance", parse_distance(self.distance))
        # "" is how langchain-qdrant spells "the default vector": resolve it like None (the
        # unnamed vector of an existing collection, "dense" for a new one).
        if self.vector_name == UNNAMED_VECTOR:
            object.__setattr__(self, "vector_name", None)
        for option in ("shard_number", "replication_factor", "write_consistency_factor"):
            value = getattr(self, option)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"{option} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class CollectionLayout:
    """What an existing collection has, resolved against a :class:`CollectionSpec`."""

    name: str
    dense_name: str | None  # UNNAMED_VECTOR for a collection without named vectors
    dense_size: int | None
    distance: models.Distance | None
    sparse_name: str | None

    @property
    def unnamed(self) -> bool:
        return self.dense_name == UNNAMED_VECTOR


@dataclass(frozen=True)
class IngestOptions:
    """How upserts are cut into requests and sent.

    Batches are bounded by point count and by the estimated request size (Qdrant rejects
    requests over 32 MiB by default); up to ``max_concurrent_upserts`` requests are in flight.
    An embedded engine made without options sends 64 points per upsert instead of 256.

    ``wait`` and ``ordering`` are Qdrant's options of each upsert: with ``wait=False`` a request
    is answered once the server has accepted its points, before they are searchable (a point is
    then "written" when accepted); ``ordering`` is a cluster's write ordering (None: the
    server's default, weak). Embedded, both change nothing.
    """

    batch_size: int = 256
    max_request_bytes: int = 24 * 1024 * 1024
    max_concurrent_upserts: int = 4
    wait: bool = True
    ordering: models.WriteOrdering | None = None

    def __post_init__(self) -> None:
        _at_least(self, batch_size=1, max_request_bytes=1024, max_concurrent_upserts=1)
        if not isinstance(self.wait, bool):
            raise ConfigurationError(f"wait must be True or False, got {self.wait!r}")
        if self.ordering is not None:
            try:  # a WriteOrdering, or its value ("weak", "medium", "strong")
                ordering = models.WriteOrdering(self.ordering)
            except ValueError:
                names = ", ".join(repr(o.value) for o in models.WriteOrdering)
                raise ConfigurationError(
                    f"ordering must be a models.WriteOrdering or one of {names}, "
                    f"got {self.ordering!r}"
                ) from None
            object.__setattr__(self, "ordering", ordering)


@dataclass(frozen=True)
class QueryCoalescing:
    """Concurrent searches of one collection sent together, as Qdrant batch queries.

    Up to ``max_in_flight`` requests per collection and event loop are in flight; a search that
    finds them all busy waits, and the waiting searches (at most ``max_batch`` at a time) go out
    together in the next free request. A search alone is sent at once, as usual.
    """

    max_in_flight: int = 4
    max_batch: int = 32

    def __post_init__(self) -> None:
        _at_least(self, max_in_flight=1, max_batch=1)


def _at_least(options: object, **minimums: int) -> None:
    """:class:`ConfigurationError` naming the first field of ``options`` below its minimum."""
    for name, minimum in minimums.items():
        if getattr(options, name) < minimum:
            raise ConfigurationError(f"{name} must be at least {minimum}")
