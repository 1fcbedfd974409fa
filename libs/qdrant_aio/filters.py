"""Filters: one translator to Qdrant ``Filter``, two front doors.

The LangChain front door takes a ``qdrant_client.models.Filter`` as is, or the portable dict
syntax of langchain-postgres and Chroma (:func:`translate_dict_filter`). The LlamaIndex front door
(:mod:`qdrant_aio.llama_index_filters`) builds on the same condition builders defined here.
Anything that cannot be translated exactly raises :class:`~qdrant_aio.errors.InvalidFilterError`;
a filter never silently matches more (or less) than asked for.

Semantics of the dict syntax (keys are metadata keys; dots address nested objects):

* ``{"k": v}`` / ``$eq``: strings, ints and bools match exactly and by type, as in Qdrant (``1``
  does not match ``True``, and an int does not match a float payload value such as ``1.0``). A
  float matches any numerically equal number (``1.0`` matches ``1`` and ``1.0``).
* Missing keys: a document without the key (or with ``null``) matches no condition on it, except
  ``{"$exists": False}`` and negations written with ``$not``.
* ``$ne`` / ``$nin`` (Chroma semantics): the key must have a value, and that value must differ.
  Documents without the key, or with ``null``, do NOT match.
* ``$not`` is plain boolean negation: ``{"$not": {"k": "a"}}`` matches documents without ``k``.
  A list under ``$not`` means "none of them" (as in langchain-postgres).
* ``$exists``: True when the key holds a value; a key holding ``null`` or ``[]`` counts as not
  existing (Qdrant's ``is_empty``).
* List values: a list matches ``$eq``/``$in``/ranges/``$like`` when one of its elements does;
  ``$ne``/``$nin`` match when no element does.
* ``$gt``/``$gte``/``$lt``/``$lte``/``$between`` (inclusive) compare numbers, or ISO 8601
  datetimes (strings, ``datetime`` or ``date``; without an offset UTC is assumed) through
  Qdrant's datetime range. Bools and other strings are rejected.
* ``$like``: SQL LIKE (``%`` wildcard, ``\\`` escape), case-sensitive, translated only when exact:
  ``abc`` (equality), ``abc%`` (prefix), ``%abc%`` (substring), ``%`` (any string). Other shapes
  (``%abc``, ``a%b``, any ``_``) raise. Prefix and substring need a Qdrant server with
  ``match.prefix`` / ``match.substring`` (the versions qdrant-client 1.20 targets); ``match.text``
  is not used because it is a token match, not a substring match.
* ``$ilike``: Qdrant has no case-insensitive substring match. qdrant-aio's payload keeps
  lower-cased copies of string metadata apart (``caseless_key``), and ``$ilike`` is ``$like`` of
  the lower-cased pattern there, for the same pattern shapes. Without that field (collections
  written by other packages) only patterns without letters are accepted; the rest raise.
* ``$in: []`` matches nothing; ``$nin: []`` matches every document that has the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from qdrant_client import models

from qdrant_aio.errors import InvalidFilterError

__all__ = [
    "Scalar",
    "Bound",
    "metadata_field",
    "literal_metadata_field",
    "translate_dict_filter",
    "to_qdrant_filter",
    "combine_filters",
    "ids_filter",
    "field_equals_any",
    "eq_condition",
    "in_condition",
    "range_condition",
    "one_sided_range",
    "like_condition",
    "substring_condition",
    "prefix_condition",
    "is_empty_condition",
    "has_value_condition",
    "not_list_condition",
    "never_condition",
    "all_of",
    "any_of",
    "none_of",
    "as_filter",
    "is_caseless",
    "error_context",
]

Scalar = str | int | float | bool
Bound = int | float | datetime | date | str

_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# Above this, a float cannot tell neighbouring integers apart, so a Range would over-match.
_MAX_EXACT_INT = 2**53
_RANGE_OPS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
_FIELD_OPS = (
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
    "$like", "$ilike", "$exists", "$between",
)  # fmt: skip


# --- paths -------------------------------------------------------------------------------------


def _segment(segment: str) -> str:
    # Qdrant's path syntax takes [A-Za-z0-9_-] bare; anything else must be quoted.
    return segment if _PLAIN_SEGMENT.fullmatch(segment) else f'"{segment}"'


def metadata_field(key: str, metadata_key: str) -> str:
    """Payload path of a metadata key; dots in ``key`` address nested objects.

    ``metadata_key=""`` is for layouts that keep metadata at the top level of the payload. A key
    already written in Qdrant's path syntax (with quotes or brackets) passes through unchanged.
    """
    if not isinstance(key, str) or not key:
        raise InvalidFilterError(f"a metadata key must be a non-empty string, got {key!r}")
    if '"' in key or "[" in key:
        path = key
    else:
        segments = key.split(".")
        if not all(segments):
            raise InvalidFilterError(f"invalid metadata key {key!r}: empty path segment")
        path = ".".join(_segment(s) for s in segments)
    return f"{metadata_key}.{path}" if metadata_key else path


def literal_metadata_field(key: str, metadata_key: str) -> str:
    """Payload path of a top-level metadata key taken literally (a dot is part of the name)."""
    if not isinstance(key, str) or not key:
        raise InvalidFilterError(f"a metadata key must be a non-empty string, got {key!r}")
    if '"' in key:
        raise InvalidFilterError(f"metadata key {key!r}: Qdrant paths cannot address a '\"'")
    return f"{metadata_key}.{_segment(key)}" if metadata_key else _segment(key)


# --- combinators -------------------------------------------------------------------------------


_CLAUSES = ("must", "should", "must_not", "min_should")


def _spliced(conditions: Sequence[models.Condition], clause: str) -> list[models.Condition]:
    """``conditions``, with each nested filter that has nothing but a non-empty ``clause`` list
    replaced by that list: ``(a AND b) AND c`` is ``a AND b AND c``. A flat list is smaller on
    the wire and, embedded, tested in one short-circuiting pass per point. (An empty list is
    kept: an empty ``should`` means "no constraint", not "no alternative".)"""
    flat: list[models.Condition] = []
    for condition in conditions:
        inner = getattr(condition, clause) if isinstance(condition, models.Filter) else None
        if isinstance(inner, list) and inner and all(
            getattr(condition, other) is None for other in _CLAUSES if other != clause
        ):
            flat.extend(inner)
        else:
            flat.append(condition)
    return flat


def all_of(conditions: Sequence[models.Condition]) -> models.Condition:
    """AND of the conditions."""
    if not conditions:
        raise InvalidFilterError("an AND of no conditions")
    if len(conditions) == 1:
        return conditions[0]
    return models.Filter(must=_spliced(conditions, "must"))


def any_of(conditions: Sequence[models.Condition]) -> models.Condition:
    """OR of the conditions."""
    if not conditions:
        # Qdrant treats an empty `should` as "no constraint": never emit one.
        raise InvalidFilterError("an OR of no conditions")
    if len(conditions) == 1:
        return conditions[0]
    return models.Filter(should=_spliced(conditions, "should"))


def none_of(conditions: Sequence[models.Condition]) -> models.Filter:
    """NOR of the conditions (NOT of a single one)."""
    if not conditions:
        raise InvalidFilterError("a NOT of no conditions")
    return models.Filter(must_not=list(conditions))


def as_filter(condition: models.Condition) -> models.Filter:
    """``condition`` as a top-level ``Filter``."""
    if isinstance(condition, models.Filter):
        return condition
    return models.Filter(must=[condition])


def is_empty_condition(path: str) -> models.IsEmptyCondition:
    """The field is missing, ``null`` or ``[]``."""
    return models.IsEmptyCondition(is_empty=models.PayloadField(key=path))


def has_value_condition(path: str) -> models.Filter:
    """The field holds a value (not missing, ``null`` or ``[]``)."""
    return none_of([is_empty_condition(path)])


def not_list_condition(path: str) -> models.IsEmptyCondition:
    """The field is not a non-empty list.

    ``path[]`` selects array elements only (on a scalar it selects nothing, in the server and in
    local mode alike), so it is empty exactly when the field is not a list with elements.
    """
    return is_empty_condition(f"{path}[]")


def never_condition(path: str) -> models.Filter:
    """A condition no point satisfies (``c AND NOT c``)."""
    condition = is_empty_condition(path)
    return models.Filter(must=[condition], must_not=[condition])


# --- value conditions --------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_finite(value: float) -> None:
    if not math.isfinite(value):
        raise InvalidFilterError(f"{value!r} is not a finite number")


def _match(path: str, value: str | int | bool) -> models.FieldCondition:
    return models.FieldCondition(key=path, match=models.MatchValue(value=value))


def _number_equals(path: str, number: float) -> models.FieldCondition:
    # MatchValue takes no floats; a degenerate range compares numerically (int or float payload).
    return models.FieldCondition(key=path, range=models.Range(gte=number, lte=number))


def _equality_conditions(
    path: str, values: Sequence[Scalar], *, numeric: bool
) -> list[models.Condition]:
    strings: list[str] = []
    ints: list[int] = []
    floats: list[float] = []
    bools: list[bool] = []
    for value in values:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, bool):
            if numeric:
                ints.append(int(value))  # Python semantics: True == 1
            else:
                bools.append(value)
        elif isinstance(value, int):
            ints.append(value)
        elif isinstance(value, float):
            _check_finite(value)
            floats.append(value)
        else:
            raise InvalidFilterError(
                f"expected a string, number or bool, got {type(value).__name__}: {value!r}"
            )
    conditions: list[models.Condition] = []
    strings = list(dict.fromkeys(strings))
    if len(strings) == 1:
        conditions.append(_match(path, strings[0]))
    elif strings:
        conditions.append(models.FieldCondition(key=path, match=models.MatchAny(any=strings)))
    if numeric:
        numbers: list[float] = [*ints, *floats]
        for number in dict.fromkeys(numbers):
            if isinstance(number, int) and abs(number) > _MAX_EXACT_INT:
                conditions.append(_match(path, number))
            else:
                conditions.append(_number_equals(path, number))
        # bool is a number in Python but not in Qdrant: 0/1 must still match False/True.
        bools = [b for b in (False, True) if any(n == int(b) for n in numbers)]
    else:
        ints = list(dict.fromkeys(ints))
        if len(ints) == 1:
            conditions.append(_match(path, ints[0]))
        elif ints:
            conditions.append(models.FieldCondition(key=path, match=models.MatchAny(any=ints)))
        conditions.extend(_number_equals(path, f) for f in dict.fromkeys(floats))
    conditions.extend(_match(path, b) for b in dict.fromkeys(bools))
    return conditions


def eq_condition(path: str, value: Scalar, *, numeric: bool = False) -> models.Condition:
    """The field (or one element of a list) equals ``value``.

    Strings, ints and bools match by type, as Qdrant does; a float matches any equal number.
    ``numeric=True`` gives Python semantics: numbers match equal numbers of either kind, and 0/1
    also match False/True.
    """
    return any_of(_equality_conditions(path, [value], numeric=numeric))


def in_condition(path: str, values: Sequence[Scalar], *, numeric: bool = False) -> models.Condition:
    """The field (or one element of a list) equals one of ``values``; ``[]`` matches nothing."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidFilterError(f"expected a list of values, got {type(values).__name__}")
    conditions = _equality_conditions(path, values, numeric=numeric)
    return any_of(conditions) if conditions else never_condition(path)


def _parse_datetime(value: datetime | date | str) -> datetime | date:
    if isinstance(value, datetime | date):
        return value
    text = value.strip()
    if text[-1:] in ("Z", "z"):  # fromisoformat accepts "Z" only from Python 3.11
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidFilterError(
            f"{value!r} is neither a number nor an ISO 8601 datetime"
        ) from None


def _bound_holds(x: int, op: str, bound: float) -> bool:
    if op == "gt":
        return x > bound
    if op == "gte":
        return x >= bound
    if op == "lt":
        return x < bound
    return x <= bound


def range_condition(
    path: str,
    *,
    gt: Bound | None = None,
    gte: Bound | None = None,
    lt: Bound | None = None,
    lte: Bound | None = None,
    numeric: bool = False,
) -> models.Condition:
    """Numeric or datetime range; bounds must all be numbers or all datetimes.

    ``numeric=True`` (Python semantics) also matches the bools False/True as 0/1.
    """
    bounds = {
        k: v for k, v in (("gt", gt), ("gte", gte), ("lt", lt), ("lte", lte)) if v is not None
    }
    if not bounds:
        raise InvalidFilterError("a range needs at least one bound")
    if all(_is_number(v) for v in bounds.values()):
        numbers: dict[str, float] = {}
        for op, v in bounds.items():
            assert isinstance(v, int | float)
            _check_finite(v)
            numbers[op] = v
        condition = models.FieldCondition(key=path, range=models.Range(**numbers))
        if not numeric:
            return condition
        bool_matches = [
            _match(path, b)
            for b in (False, True)
            if all(_bound_holds(int(b), op, v) for op, v in numbers.items())
        ]
        return any_of([condition, *bool_matches])
    if all(isinstance(v, datetime | date | str) for v in bounds.values()):
        moments: dict[str, datetime | date] = {}
        for op, v in bounds.items():
            assert isinstance(v, datetime | date | str)
            moments[op] = _parse_datetime(v)
        return models.FieldCondition(key=path, range=models.DatetimeRange(**moments))
    shown = ", ".join(f"{k}={v!r}" for k, v in bounds.items())
    raise InvalidFilterError(
        f"range bounds must be numbers or ISO 8601 datetimes, all of one kind; got {shown}"
    )


def one_sided_range(path: str, op: str, bound: Bound, *, numeric: bool = False) -> models.Condition:
    """A range with one bound; ``op`` is "gt", "gte", "lt" or "lte"."""
    if op == "gt":
        return range_condition(path, gt=bound, numeric=numeric)
    if op == "gte":
        return range_condition(path, gte=bound, numeric=numeric)
    if op == "lt":
        return range_condition(path, lt=bound, numeric=numeric)
    if op == "lte":
        return range_condition(path, lte=bound, numeric=numeric)
    raise InvalidFilterError(f"unknown range operator {op!r}")


def substring_condition(path: str, text: str) -> models.FieldCondition:
    """The string field contains ``text`` (case-sensitive, no text index involved)."""
    return models.FieldCondition(key=path, match=models.MatchSubstring(substring=text))


def prefix_condition(path: str, text: str) -> models.FieldCondition:
    """The string field starts with ``text`` (case-sensitive); ``""`` matches any string."""
    return models.FieldCondition(key=path, match=models.MatchPrefix(prefix=text))


def is_caseless(text: str) -> bool:
    """Whether case-insensitive and case-sensitive matching of ``text`` always agree.

    Restricted to ASCII without letters: lowering a document never produces such characters from
    other ones, so a substring test gives the same answer either way.
    """
    return text.isascii() and not any(c.isalpha() for c in text)


_ANY = None  # the % wildcard in a parsed LIKE pattern


def _parse_like(pattern: str) -> list[str | None]:
    parts: list[str | None] = []
    literal: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise InvalidFilterError(f"LIKE pattern {pattern!r} ends with an escape")
            literal.append(escaped)
        elif char == "_":
            raise InvalidFilterError(
                f"LIKE pattern {pattern!r}: the '_' wildcard has no Qdrant equivalent "
                "(escape it as '\\_' to match an underscore)"
            )
        elif char == "%":
            if literal:
                parts.append("".join(literal))
                literal = []
            if not parts or parts[-1] is not _ANY:
                parts.append(_ANY)
        else:
            literal.append(char)
    if literal:
        parts.append("".join(literal))
    return parts


def like_condition(path: str, pattern: str, *, case_insensitive: bool = False) -> models.Condition:
    """SQL LIKE / ILIKE, for the pattern shapes Qdrant can match exactly (see module doc)."""
    if not isinstance(pattern, str):
        raise InvalidFilterError(f"expected a string pattern, got {type(pattern).__name__}")
    parts = _parse_like(pattern)
    if case_insensitive and not all(is_caseless(p) for p in parts if p is not None):
        raise InvalidFilterError(
            f"ILIKE pattern {pattern!r}: Qdrant has no case-insensitive substring match "
            "(only patterns without letters can be translated exactly)"
        )
    if not parts:
        return _match(path, "")
    if parts == [_ANY]:
        return prefix_condition(path, "")
    if len(parts) == 1 and parts[0] is not _ANY:
        return _match(path, parts[0])
    if len(parts) == 2 and parts[0] is not _ANY and parts[1] is _ANY:
        return prefix_condition(path, parts[0])
    if len(parts) == 3 and parts[0] is _ANY and parts[2] is _ANY and parts[1] is not _ANY:
        return substring_condition(path, parts[1])
    raise InvalidFilterError(
        f"LIKE pattern {pattern!r} cannot be translated exactly; supported shapes are "
        "'text', 'prefix%', '%substring%' and '%'"
    )


@contextmanager
def error_context(key: str, operator: str) -> Iterator[None]:
    """Prefix an :class:`InvalidFilterError` raised inside with the key and operator."""
    try:
        yield
    except InvalidFilterError as error:
        raise InvalidFilterError(f"filter on {key!r} with {operator}: {error}") from None


# --- dict syntax -------------------------------------------------------------------------------


def _scalar(value: object) -> Scalar:
    if isinstance(value, str | int | float):  # bool is an int
        return value
    if value is None:
        raise InvalidFilterError("None is not a comparable value; use {'$exists': False}")
    if isinstance(value, Mapping):
        raise InvalidFilterError(
            f"unexpected dict {value!r}; use operators such as '$eq', and dots for nested keys"
        )
    if isinstance(value, list | tuple | set):
        raise InvalidFilterError(f"unexpected list {value!r}; use '$in' to match one of several")
    raise InvalidFilterError(f"unsupported value type {type(value).__name__}: {value!r}")


def _scalars(value: object) -> list[Scalar]:
    if not isinstance(value, list | tuple):
        raise InvalidFilterError(f"expected a list, got {type(value).__name__}: {value!r}")
    return [_scalar(v) for v in value]


def _bound(value: object) -> Bound:
    if not isinstance(value, bool) and isinstance(value, int | float | datetime | date | str):
        return value
    raise InvalidFilterError(
        f"expected a number or an ISO 8601 datetime, got {type(value).__name__}: {value!r}"
    )


def _field_operator(
    path: str, op: str, operand: object, caseless_path: str | None = None
) -> models.Condition:
    if op == "$eq":
        return eq_condition(path, _scalar(operand))
    if op == "$ne":
        return none_of([is_empty_condition(path), eq_condition(path, _scalar(operand))])
    if op in _RANGE_OPS:
        return one_sided_range(path, _RANGE_OPS[op], _bound(operand))
    if op == "$between":
        if not isinstance(operand, list | tuple) or len(operand) != 2:
            raise InvalidFilterError(f"expected [low, high], got {operand!r}")
        return range_condition(path, gte=_bound(operand[0]), lte=_bound(operand[1]))
    if op == "$in":
        return in_condition(path, _scalars(operand))
    if op == "$nin":
        values = _scalars(operand)
        if not values:
            return has_value_condition(path)
        return none_of([is_empty_condition(path), in_condition(path, values)])
    if op in ("$like", "$ilike"):
        if not isinstance(operand, str):
            raise InvalidFilterError(f"expected a string pattern, got {operand!r}")
        if op == "$ilike" and caseless_path is not None:
            # ILIKE is LIKE between lower-cased sides; the payload keeps the lower-cased values.
            return like_condition(caseless_path, operand.lower())
        return like_condition(path, operand, case_insensitive=op == "$ilike")
    if op == "$exists":
        if not isinstance(operand, bool):
            raise InvalidFilterError(f"expected True or False, got {operand!r}")
        return has_value_condition(path) if operand else is_empty_condition(path)
    raise InvalidFilterError(f"unknown operator; supported: {', '.join(_FIELD_OPS)}")


def _translate_field(
    key: str, value: object, metadata_key: str, caseless_key: str | None
) -> models.Condition:
    if not isinstance(value, Mapping):
        with error_context(key, "$eq"):
            return eq_condition(metadata_field(key, metadata_key), _scalar(value))
    if not value:
        raise InvalidFilterError(f"filter on {key!r}: empty operator dict")
    path = metadata_field(key, metadata_key)
    caseless_path = metadata_field(key, caseless_key) if caseless_key is not None else None
    conditions: list[models.Condition] = []
    for op, operand in value.items():
        if not isinstance(op, str) or not op.startswith("$"):
            raise InvalidFilterError(
                f"filter on {key!r}: expected operators such as '$eq', got {op!r} "
                f"(address nested keys with dots, e.g. '{key}.{op}')"
            )
        with error_context(key, op):
            conditions.append(_field_operator(path, op.lower(), operand, caseless_path))
    return all_of(conditions)


def _translate_node(
    spec: object, metadata_key: str, caseless_key: str | None = None
) -> models.Condition:
    if not isinstance(spec, Mapping):
        raise InvalidFilterError(f"a filter must be a dict, got {type(spec).__name__}: {spec!r}")
    if not spec:
        raise InvalidFilterError("empty filter dict (pass None for no filter)")
    parts: list[models.Condition] = []
    for key, value in spec.items():
        if not isinstance(key, str):
            raise InvalidFilterError(f"filter keys must be strings, got {key!r}")
        if not key.startswith("$"):
            parts.append(_translate_field(key, value, metadata_key, caseless_key))
            continue
        op = key.lower()
        if op in ("$and", "$or"):
            if not isinstance(value, list | tuple) or not value:
                raise InvalidFilterError(
                    f"{key} expects a non-empty list of filters, got {value!r}"
                )
            children = [_translate_node(child, metadata_key, caseless_key) for child in value]
            parts.append(all_of(children) if op == "$and" else any_of(children))
        elif op == "$not":
            if isinstance(value, Mapping):
                parts.append(none_of([_translate_node(value, metadata_key, caseless_key)]))
            elif isinstance(value, list | tuple) and value:
                parts.append(
                    none_of([_translate_node(child, metadata_key, caseless_key) for child in value])
                )
            else:
                raise InvalidFilterError(
                    f"{key} expects a filter dict or a non-empty list of them, got {value!r}"
                )
        elif op in _FIELD_OPS:
            raise InvalidFilterError(f"operator {key!r} needs a key: {{'key': {{'{key}': ...}}}}")
        else:
            raise InvalidFilterError(f"unknown operator {key!r}; expected $and, $or or $not")
    return all_of(parts)


def translate_dict_filter(
    spec: Mapping[str, Any], *, metadata_key: str = "metadata", caseless_key: str | None = None
) -> models.Filter:
    """Translate the portable dict filter syntax (see module doc) to a Qdrant ``Filter``.

    ``caseless_key`` names the payload field with lower-cased copies of the string metadata
    (``payload.caseless_copy``); with it, ``$ilike`` is exact for any pattern shape ``$like``
    supports.
    """
    return as_filter(_translate_node(spec, metadata_key, caseless_key))


def to_qdrant_filter(
    filter: models.Filter | Mapping[str, Any] | None,
    *,
    metadata_key: str = "metadata",
    caseless_key: str | None = None,
) -> models.Filter | None:
    """A ``Filter`` as is, a dict translated, ``None`` as ``None``."""
    if filter is None:
        return None
    if isinstance(filter, models.Filter):
        return filter
    if isinstance(filter, Mapping):
        return translate_dict_filter(filter, metadata_key=metadata_key, caseless_key=caseless_key)
    raise InvalidFilterError(
        f"expected a qdrant_client.models.Filter or a dict, got {type(filter).__name__}"
    )


def combine_filters(*filters: models.Filter | None) -> models.Filter | None:
    """AND of the filters that are not None (None if there are none)."""
    present = [f for f in filters if f is not None]
    for f in present:
        if not isinstance(f, models.Filter):
            raise InvalidFilterError(f"expected a Filter, got {type(f).__name__}")
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return models.Filter(must=list(present))


def ids_filter(point_ids: Sequence[int | str]) -> models.Filter:
    """Points whose id is one of ``point_ids`` (Qdrant point ids); ``[]`` matches nothing."""
    if isinstance(point_ids, str | bytes):
        raise InvalidFilterError("expected a list of point ids, got a string")
    ids: list[models.ExtendedPointId] = []
    for point_id in point_ids:
        if isinstance(point_id, bool) or not isinstance(point_id, int | str):
            raise InvalidFilterError(f"a point id must be an int or a str, got {point_id!r}")
        ids.append(point_id)
    return models.Filter(must=[models.HasIdCondition(has_id=ids)])


def field_equals_any(path: str, values: Sequence[str]) -> models.Filter:
    """Points whose payload ``path`` (a full path) equals one of ``values``; ``[]`` matches none."""
    if isinstance(values, str | bytes):
        raise InvalidFilterError(f"{path!r}: expected a list of strings, got a string")
    strings = list(values)
    if not all(isinstance(v, str) for v in strings):
        raise InvalidFilterError(f"{path!r}: expected strings, got {strings!r}")
    if not strings:
        return never_condition(path)
    return as_filter(in_condition(path, strings))
