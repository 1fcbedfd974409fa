"""I/O-free half of upserts: validate points, fix their ids, cut them into bounded requests."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from qdrant_client import models

from .config import CollectionLayout
from .errors import DimensionMismatchError, InvalidInputError
from .ids import PointId, point_id_for
from .query import ORIGINAL_ID_KEY, all_finite

__all__ = [
    "POINT_FIELDS",
    "PointInput",
    "PreparedPoint",
    "RequestPacker",
    "prepare_point",
    "prepare_points",
    "dedupe_last_wins",
    "point_id_of",
    "checked_point_id",
    "check_vectors",
    "batches",
    "in_trips",
    "EMBED_TRIP_TEXTS",
    "json_size",
    "text_json_size",
    "check_json_exact",
    "check_fits",
    "point_size",
    "dense_rows",
    "finite_float32",
]

T = TypeVar("T")

# Texts an adapter's add embeds (or sparse-encodes) per trip from a storage job to your loop and
# back, in calls of its batch size one after another: each trip costs CPU time, measured ~0.5 ms
# (16% of a 20,000-text LangChain add at one trip per 64 texts).
EMBED_TRIP_TEXTS = 256

# One encoder for every size check: json.dumps with options builds a new one per call.
_STRICT_JSON = json.JSONEncoder(allow_nan=False)
_STRICT_JSON_UNICODE = json.JSONEncoder(allow_nan=False, ensure_ascii=False)


def _c_encoder() -> Callable[[Any], str] | None:
    """``_STRICT_JSON.encode`` without its per-call set-up, where CPython's C encoder exists.

    ``JSONEncoder.encode`` builds a C encoder object on every call, which costs more than
    encoding a small payload (measured 1.6 µs vs 0.9 µs for a 3-key metadata dict). Here each
    thread builds one once, with its own record of the containers being encoded (so a cycle is
    refused at once, as json does), cleared after an error leaves it part filled.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    per_thread = threading.local()

    def encode(value: Any) -> str:
        try:
            encode_chunks, markers = per_thread.encoder
        except AttributeError:
            markers = {}
            encode_chunks = make(
                markers, _STRICT_JSON.default, json.encoder.encode_basestring_ascii, None,
                _STRICT_JSON.key_separator, _STRICT_JSON.item_separator, False, False, False,
            )
            per_thread.encoder = encode_chunks, markers
        try:
            return "".join(encode_chunks(value, 0))
        except BaseException:
            markers.clear()
            raise

    return encode


_encode_json: Callable[[Any], str] = _c_encoder() or _STRICT_JSON.encode

# JSON spelling of one float32 in a REST body is at most ~16 bytes; the margin covers gRPC too.
_BYTES_PER_FLOAT = 16
_BYTES_PER_POINT = 128


@dataclass(frozen=True, slots=True)
class PointInput:
    """A point to upsert, before its id is mapped: an external id, a payload, its vectors."""

    id: str | int
    payload: Mapping[str, Any]
    dense: Sequence[float] | None = None
    sparse: models.SparseVector | None = None
    # Optional facts a caller has already established, so the engine does not redo them:
    # the point id of ``id`` (``ids.point_id_for``), and the payload's JSON size, given only by
    # a caller that has checked that JSON carries the payload exactly (``json_size``).
    point_id: PointId | None = None
    payload_size: int | None = None
    # True when ``dense`` is a list whose values ``finite_float32`` accepted already (and that
    # has not changed since): the engine then checks only its length. Set it for a list nobody
    # checked, and a bad value reaches Qdrant, which refuses it with its own error.
    dense_finite: bool = False


@dataclass(frozen=True, slots=True)
class PreparedPoint:
    external_id: str
    struct: models.PointStruct
    size: int = field(compare=False)


# Largest magnitude a 32-bit float holds: Qdrant stores vectors as float32.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# The smallest magnitude that rounds to infinity in float32 (half a unit past the largest);
# anything below it rounds to a finite float32, as numpy's conversion does.
_FLOAT32_ROUNDS_TO_INF = _FLOAT32_MAX + 2.0**103
# Array kinds that are numbers (bool, signed and unsigned int, float); strings, bytes and
# objects are refused rather than converted.
_NUMBER_KINDS = frozenset("biuf")


def _not_finite(external_id: str) -> InvalidInputError:
    return InvalidInputError(
        f"vector of id {external_id!r} contains NaN or infinity, a non-number, or a number too "
        "large for a 32-bit float"
    )


def _check_dense(
    vector: Sequence[float], expected: int | None, external_id: str, finite: bool = False
) -> list[float]:
    """The vector as a list of Python floats, checked; ``finite``: its values were checked."""
    # An array's tolist() gives Python floats (list() would give numpy scalars).
    values = vector if isinstance(vector, list) else (
        vector.tolist() if isinstance(vector, np.ndarray) else list(vector)
    )
    if expected is not None and len(values) != expected:
        raise DimensionMismatchError(expected, len(values), where=f"id {external_id!r}")
    if not values:
        raise _empty(external_id)
    total: Any = 0.0
    if not (finite and values is vector):
        total = _finite_total(values)
        if total is None:
            raise _not_finite(external_id)
    if type(total) is not float or type(values[0]) is not float or type(values[-1]) is not float:
        # Numpy scalars anywhere (their sum is one too), or whole numbers: plain floats, as
        # numpy's conversion would give (JSON carries no numpy scalar, and a bool would go
        # out as true). A bool amid floats is not seen here; Qdrant refuses that request.
        values = [float(v) for v in values]
    return values


def _empty(external_id: str) -> InvalidInputError:
    return InvalidInputError(f"vector of id {external_id!r} is empty")


def finite_float32(values: Sequence[float]) -> bool:
    """Whether every value is a number that a 32-bit float holds finitely (Qdrant stores
    float32): exactly the values that numpy's float32 conversion keeps finite."""
    return _finite_total(values) is not None


def _finite_total(values: Sequence[float]) -> Any:
    """The sum of ``values`` if :func:`finite_float32` holds for them, else None."""
    # Two C passes: the sum refuses what is not a number (as numpy does: a Decimal among
    # floats, an object with only __float__), and the Euclidean norm is NaN or infinite if any
    # value is and at least the largest magnitude, so a norm within float32 settles the rest.
    # (max() and min() compare Python floats one by one: 9.9 us for 384 values; this 3.6 us.)
    try:
        total = sum(values)
        norm = math.hypot(*values)
    except (TypeError, ValueError, OverflowError):  # not numbers; an int beyond any float
        return None
    if not isinstance(total, (float, int, np.number)):  # Decimals, say: numpy refuses them
        return None
    if norm <= _FLOAT32_MAX:
        return total
    # Beyond float32, or NaN / infinity: only a large but finite norm needs a closer look.
    if (
        math.isfinite(norm)
        and max(values) < _FLOAT32_ROUNDS_TO_INF
        and min(values) > -_FLOAT32_ROUNDS_TO_INF
    ):
        return total
    return None


def _as_float32(values: Any) -> np.ndarray | None:
    """``values`` as a float32 array if they are all numbers (any shape), else None."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError, OverflowError):
        return None
    if array.dtype.kind not in _NUMBER_KINDS:
        return None  # "0.5" or b"1" would convert; None, huge ints and ragged lists are objects
    with np.errstate(over="ignore", invalid="ignore"):
        return array.astype(np.float32, copy=False)


def _check_dense_array(vector: Any, expected: int | None, external_id: str) -> np.ndarray:
    """:func:`_check_dense` for an embedded store: the vector as a checked float32 array."""
    array = _as_float32(vector)
    if array is None:
        raise InvalidInputError(f"vector of id {external_id!r} is not a list of numbers")
    if array.ndim != 1:
        raise InvalidInputError(f"vector of id {external_id!r} is not a flat list of numbers")
    if expected is not None and array.shape[0] != expected:
        raise DimensionMismatchError(expected, array.shape[0], where=f"id {external_id!r}")
    if not array.shape[0]:
        raise _empty(external_id)
    if not np.isfinite(array).all():
        raise _not_finite(external_id)
    return array


def dense_rows(vectors: Sequence[Any], size: int | None) -> np.ndarray | None:
    """The vectors as one checked float32 matrix, or None if any of them is off.

    Off: a missing vector, another length than ``size``, something not a number, NaN or
    infinity, or a number that float32 rounds to infinity. One conversion per chunk instead of
    per point; on None the caller's per-point check names the culprit.
    """
    if size is None or not vectors or any(v is None for v in vectors):
        return None
    matrix = _as_float32(vectors)
    if matrix is None or matrix.ndim != 2 or matrix.shape[1] != size:
        return None
    if not np.isfinite(matrix).all():
        return None
    return matrix


_set_attribute = object.__setattr__
POINT_FIELDS = frozenset(("id", "vector", "payload"))


def _point_struct_direct(pid: PointId, vector: Any, payload: dict[str, Any]) -> models.PointStruct:
    # What PointStruct.model_construct builds, without its generic per-field loop: measured
    # ~0.7 µs a point instead of ~1.9 µs, on every point of every upsert.
    point = models.PointStruct.__new__(models.PointStruct)
    _set_attribute(point, "__dict__", {"id": pid, "vector": vector, "payload": payload})
    _set_attribute(point, "__pydantic_fields_set__", set(POINT_FIELDS))
    _set_attribute(point, "__pydantic_extra__", None)
    _set_attribute(point, "__pydantic_private__", None)
    return point


def _point_struct_constructed(
    pid: PointId, vector: Any, payload: dict[str, Any]
) -> models.PointStruct:
    return models.PointStruct.model_construct(id=pid, vector=vector, payload=payload)


def _direct_matches_construct() -> bool:
    """Whether the direct build equals model_construct's in this pydantic (else it is not used)."""
    try:
        a = _point_struct_direct("x", [1.0], {"k": 1})
        b = _point_struct_constructed("x", [1.0], {"k": 1})
        return all(
            getattr(a, name) == getattr(b, name)
            for name in (
                "__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                "__pydantic_private__",
            )
        ) and a.model_dump() == b.model_dump()
    except Exception:  # noqa: BLE001 - any difference means: use model_construct
        return False


# A validated point's model, with no second validation pass over its floats.
_point_struct = (
    _point_struct_direct if _direct_matches_construct() else _point_struct_constructed
)


def _check_sparse(vector: models.SparseVector, external_id: str) -> models.SparseVector:
    if len(vector.indices) != len(vector.values):
        raise InvalidInputError(
            f"sparse vector of id {external_id!r}: indices and values differ in length"
        )
    if not all_finite(vector.values):
        raise InvalidInputError(f"sparse vector of id {external_id!r} contains NaN or infinity")
    return vector


def check_json_exact(value: Any, what: str, depth: int = 1) -> None:
    """:class:`InvalidInputError` for what a payload (at any depth) would not keep exactly: a
    mapping key that is not a string, an integer outside the 64-bit signed range, nesting
    deeper than :data:`MAX_NESTING` levels."""
    # JSON would turn the key 1 into "1", and Qdrant's payload integers are 64-bit signed (gRPC
    # refuses a larger one; JSON may carry it as a float): the metadata read back would differ
    # from what was given, or fail part-way on a server, so such values are refused in every
    # mode. A server's JSON parser (serde_json) refuses a request nested deeper than 128
    # levels, the point and its payload included.
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise InvalidInputError(
                    f"{what} cannot be stored as JSON exactly: key {key!r} is not a string"
                )
        children: Any = value.values()
    elif isinstance(value, (list, tuple)):
        children = value
    else:
        return
    if depth > MAX_NESTING:
        raise InvalidInputError(
            f"{what} cannot be stored as JSON: nested deeper than {MAX_NESTING} levels"
        )
    for child in children:
        if isinstance(child, (dict, list, tuple)):
            check_json_exact(child, what, depth + 1)
        elif isinstance(child, int) and not _MIN_INT64 <= child <= _MAX_INT64:
            raise InvalidInputError(
                f"{what} cannot be stored as JSON exactly: the integer {child} is outside "
                "the 64-bit signed range of Qdrant's payload integers"
            )


# Levels of lists and mappings a payload value may nest: a request adds a few levels around
# it, under the 128 of a server's JSON parser (real metadata is a few levels deep).
MAX_NESTING = 100
_MIN_INT64 = -(2**63)
_MAX_INT64 = 2**63 - 1


def json_size(value: Any, what: str, *, check_keys: bool = True) -> int:
    """Length of ``value`` as JSON; :class:`InvalidInputError` if JSON cannot carry it exactly.

    ``check_keys=False`` skips the walk of :func:`check_json_exact`, for values whose keys are
    known to be strings and numbers known to fit (or were checked apart).
    """
    try:
        # ASCII escapes make the length an upper bound of the UTF-8 bytes sent.
        encoded = _encode_json(value)
        if "\\ud" in encoded:
            # Characters beyond the BMP are escaped as surrogate pairs, and a lone surrogate
            # as itself: UTF-8 (what is sent) has no lone surrogates, so that one is refused.
            _STRICT_JSON_UNICODE.encode(value).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidInputError(f"{what} cannot be stored as JSON: {error}") from error
    if check_keys:
        check_json_exact(value, what)
    return len(encoded)


def text_json_size(text: str) -> int:
    """JSON bytes of a string (with ASCII escapes), without encoding it in the common case."""
    if text.isascii():
        if text.isprintable():
            return len(text) + 2 + text.count('"') + text.count("\\")
        return len(_encode_json(text))  # newlines, tabs: escaped; no surrogate to look for
    return json_size(text, "text", check_keys=False)


def check_fits(size: int, max_bytes: int, what: str) -> None:
    """:class:`InvalidInputError` when one point alone exceeds the request limit."""
    if size > max_bytes:
        raise InvalidInputError(
            f"{what} needs about {size} bytes, more than the request limit of {max_bytes} bytes"
        )


def point_size(payload_bytes: int, floats: int) -> int:
    """Estimated request bytes of one point with this payload and this many vector numbers."""
    return _BYTES_PER_POINT + payload_bytes + floats * _BYTES_PER_FLOAT


def prepare_points(
    pairs: Sequence[tuple[PointInput, PointId]],
    layout: CollectionLayout,
    *,
    dense_arrays: bool = False,
) -> list[PreparedPoint]:
    """:func:`prepare_point` for each ``(point, point id)`` pair.

    ``dense_arrays=True`` (embedded stores) hands dense vectors over as float32 arrays:
    qdrant-client's local mode converts every vector to one twice otherwise, which was the
    largest single cost of an embedded upsert. The whole chunk is converted at once.
    """
    if not dense_arrays or layout.dense_name is None or layout.unnamed:
        # Local mode persists an unnamed vector only when it is a list, so those stay lists.
        return [prepare_point(point, pid, layout) for point, pid in pairs]
    rows = dense_rows([point.dense for point, _ in pairs], layout.dense_size)
    if rows is None:
        return [prepare_point(point, pid, layout, dense_array=True) for point, pid in pairs]
    return [
        prepare_point(point, pid, layout, checked_dense=row)
        for (point, pid), row in zip(pairs, rows, strict=True)
    ]


def prepare_point(
    point: PointInput,
    pid: PointId,
    layout: CollectionLayout,
    *,
    dense_array: bool = False,
    checked_dense: np.ndarray | None = None,
) -> PreparedPoint:
    """Validate one point against the collection and build its request body.

    Raises a typed error for a wrong dimension, non-finite values, a missing vector, or a payload
    that JSON cannot carry, so nothing of a bad batch is ever sent. ``dense_array=True`` checks
    the dense vector as a float32 array and sends it as one (embedded stores only);
    ``checked_dense`` is that array, already checked by the caller.
    """
    external_id = point.id if isinstance(point.id, str) else str(point.id)
    payload: Mapping[str, Any] = point.payload
    payload_bytes = point.payload_size
    if payload_bytes is None:
        payload_bytes = json_size(payload, f"payload of id {external_id!r}")
    if isinstance(point.id, str) and str(pid) != point.id:  # the point id spells it otherwise
        if ORIGINAL_ID_KEY in payload:
            # Only layouts with metadata at the top level (llama-index-vector-stores-qdrant's)
            # can get here; overwriting the user's key would lose it.
            raise InvalidInputError(
                f"id {point.id!r} is not a UUID, so its spelling is kept under the payload key "
                f"{ORIGINAL_ID_KEY!r}, which this payload already uses; use a UUID id or "
                "rename that metadata key"
            )
        payload = {**payload, ORIGINAL_ID_KEY: point.id}  # a copy: the caller's stays as it was
        payload_bytes += len(point.id) * 4 + 20
    vectors: dict[str, Any] = {}
    floats = 0
    if layout.dense_name is not None:
        if point.dense is None:
            raise InvalidInputError(f"id {external_id!r} has no dense vector")
        dense: Any = checked_dense
        if dense is None and dense_array:
            dense = _check_dense_array(point.dense, layout.dense_size, external_id)
        elif dense is None:
            dense = _check_dense(point.dense, layout.dense_size, external_id, point.dense_finite)
        vectors[layout.dense_name] = dense
        floats += len(dense)
    if layout.sparse_name is not None:
        if point.sparse is None:
            raise InvalidInputError(f"id {external_id!r} has no sparse vector")
        vectors[layout.sparse_name] = _check_sparse(point.sparse, external_id)
        floats += 2 * len(point.sparse.indices)
    vector: Any = vectors
    if layout.unnamed and len(vectors) == 1:
        vector = vectors[layout.dense_name or ""]
    # Every field was validated above; skipping pydantic's second pass over each float is the
    # largest saving of the ingest path.
    body = payload if isinstance(payload, dict) else dict(payload)
    struct = _point_struct(pid, vector, body)
    return PreparedPoint(external_id, struct, point_size(payload_bytes, floats))


def check_vectors(point: PointInput, dense_size: int | None) -> None:
    """Check ``point``'s vectors alone (length ``dense_size``, values, sparse shape).

    For a first batch before its collection is created: an embedding that is empty, NaN or of
    mixed sizes is refused before anything, even an empty collection, is written.
    """
    external_id = point.id if isinstance(point.id, str) else str(point.id)
    if point.dense is not None:
        _check_dense(point.dense, dense_size, external_id, point.dense_finite)
    if point.sparse is not None:
        _check_sparse(point.sparse, external_id)


def checked_point_id(external_id: str | int) -> PointId:
    """The Qdrant point id that stores ``external_id``; :class:`InvalidInputError` if none can."""
    try:
        return point_id_for(external_id)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"invalid id {external_id!r}: {error}") from error


def point_id_of(point: PointInput) -> PointId:
    """The Qdrant point id that stores ``point``: the one given, else made from its id."""
    return point.point_id if point.point_id is not None else checked_point_id(point.id)


def dedupe_last_wins(
    points: Sequence[PointInput], pids: Sequence[PointId] | None = None
) -> list[tuple[PointInput, PointId]]:
    """Pair points with their point ids (``pids``, else :func:`point_id_of` each); of duplicate
    ids in one call the last occurrence wins.

    That is the result of upserting them one after another, and keeping only one makes the
    outcome independent of which concurrent batch lands first.
    """
    if pids is None:
        pids = [point_id_of(point) for point in points]
    last = {pid: index for index, pid in enumerate(pids)}
    if len(last) == len(points):
        return list(zip(points, pids, strict=True))
    return [(p, pids[i]) for i, p in enumerate(points) if last[pids[i]] == i]


class RequestPacker:
    """Packs validated points into requests of at most ``max_points`` points and ``max_bytes``.

    Points may arrive in pieces of any size (an embedding pipeline yields its own batches); the
    requests are cut by the limits alone, so small pieces are regrouped into full requests.
    """

    def __init__(self, *, max_points: int, max_bytes: int) -> None:
        self.max_points = max_points
        self.max_bytes = max_bytes
        self._current: list[PreparedPoint] = []
        self._size = 0

    def add(self, points: Iterable[PreparedPoint]) -> list[list[PreparedPoint]]:
        """Take ``points``; return the requests that are full."""
        full: list[list[PreparedPoint]] = []
        for point in points:
            check_fits(point.size, self.max_bytes, f"point {point.external_id!r}")
            if self._current and (
                len(self._current) >= self.max_points or self._size + point.size > self.max_bytes
            ):
                full.append(self._current)
                self._current, self._size = [], 0
            self._current.append(point)
            self._size += point.size
        if len(self._current) >= self.max_points:
            full.append(self._current)
            self._current, self._size = [], 0
        return full

    def flush(self) -> list[list[PreparedPoint]]:
        """The last, partly filled request (if any)."""
        rest, self._current, self._size = self._current, [], 0
        return [rest] if rest else []


def batches(
    points: Iterable[PreparedPoint], *, max_points: int, max_bytes: int
) -> Iterator[list[PreparedPoint]]:
    """Cut points into requests of at most ``max_points`` points and ``max_bytes`` bytes."""
    packer = RequestPacker(max_points=max_points, max_bytes=max_bytes)
    yield from packer.add(points)
    yield from packer.flush()


def in_trips(
    items: Sequence[T], batch: int, per_trip: int
) -> Iterator[tuple[Sequence[T], list[range]]]:
    """``items`` in trips of a whole number of batches (about ``per_trip`` items, at least one
    batch), each with the positions of its batches within the trip.

    An adapter's add embeds a trip's texts in one trip to your loop, then hands the engine one
    batch at a time.
    """
    trip = batch * max(1, per_trip // batch)
    for first in range(0, len(items), trip):
        part = items[first : first + trip]
        yield part, [range(at, min(at + batch, len(part))) for at in range(0, len(part), batch)]
