"""LlamaIndex ``MetadataFilters`` to a Qdrant ``Filter``, with llama-index-core's own semantics.

The reference is llama-index-core's in-memory filter (``build_metadata_filter_fn``, used by
``SimpleVectorStore``): a translated filter selects the same nodes, or the translation raises
:class:`~qdrant_aio.errors.InvalidFilterError`. Where llama-index itself raises ``TypeError``
(comparing a string with a number, ``TEXT_MATCH`` on a non-string, ...) the Qdrant filter simply
does not match that node.

* Keys are top-level metadata keys taken literally, as llama-index looks them up: ``"a.b"`` is
  the key named ``a.b``, not a nested path.
* Missing keys and ``None`` values are the same thing. They match no operator except ``NE`` and
  ``NIN`` (which they always match) and ``IS_EMPTY``.
* ``EQ``/``NE``/``IN``/``NIN`` use Python equality: ``1``, ``1.0`` and ``True`` are all equal.
  ``NE`` and ``NIN`` are exact negations of ``EQ`` and ``IN``.
* List-valued metadata: Qdrant matches a condition when any list element does, Python compares
  the whole list. So scalar operators (``EQ``, ``IN``, ranges, ``TEXT_MATCH*``) never match a
  list (``["a", "b"] == "a"`` is False), and ``NE``/``NIN`` always do. ``CONTAINS`` tests list
  membership (or a substring of a string value); ``ANY``/``ALL`` are the OR/AND of ``CONTAINS``
  over the given values. A dict-valued field never matches ``CONTAINS`` (llama-index would test
  its keys).
* ``GT``/``GTE``/``LT``/``LTE`` compare numbers (bools count as 0/1, as in Python). Qdrant has no
  lexicographic string range, so a string value raises.
* ``IS_EMPTY``: missing, ``None``, ``""`` or ``[]``.
* ``TEXT_MATCH``: case-sensitive substring, through Qdrant's ``match.substring`` (needs a Qdrant
  server that has it). ``match.text`` is not used: with or without a full-text index it is a
  token match (``"cat"`` does not match ``"concatenate"``), not a substring match.
* ``TEXT_MATCH_INSENSITIVE``: Qdrant has no case-insensitive substring match (a full-text index
  lowercases, but still matches whole tokens). qdrant-aio's payload therefore keeps lower-cased
  copies of string metadata in a field of their own (``caseless_key``), and the filter is a
  substring match of ``value.lower()`` there: exactly llama-index's ``value.lower() in
  stored.lower()``. Without that field (collections written by other packages) only values
  without letters, where case cannot matter, are translated; others raise.
* ``NOT`` means "none of the filters match" (llama-index: ``not any(...)``); nested
  ``MetadataFilters`` are evaluated by their own condition.
* A filter value of ``None`` (other than with ``IS_EMPTY``), ``EQ`` with a list, ``ALL`` with an
  empty list, and empty ``MetadataFilters`` (top level included: pass None for "no filter") raise.
"""

from __future__ import annotations

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from qdrant_client import models

from qdrant_aio.errors import InvalidFilterError
from qdrant_aio.filters import (
    Scalar,
    all_of,
    any_of,
    as_filter,
    eq_condition,
    error_context,
    in_condition,
    is_caseless,
    is_empty_condition,
    literal_metadata_field,
    never_condition,
    none_of,
    not_list_condition,
    one_sided_range,
    substring_condition,
)

__all__ = ["translate_metadata_filters"]

_RANGE_OPS = {
    FilterOperator.GT: "gt",
    FilterOperator.GTE: "gte",
    FilterOperator.LT: "lt",
    FilterOperator.LTE: "lte",
}


def _scalar(value: object) -> Scalar:
    if isinstance(value, str | int | float):
        return value
    raise InvalidFilterError(f"expected a single value, got {value!r}")


def _values(value: object) -> list[Scalar]:
    if not isinstance(value, list):
        raise InvalidFilterError(f"expected a list of values, got {value!r}")
    return [_scalar(v) for v in value]


def _scalar_field(path: str, condition: models.Condition) -> models.Condition:
    # Qdrant would match a list through any element; Python compares the whole list. The value
    # test goes first: embedded, an AND stops at its first false condition, and most points
    # fail the value test.
    return all_of([condition, not_list_condition(path)])


def _equals(path: str, value: object) -> models.Condition:
    if isinstance(value, list):
        raise InvalidFilterError("comparing with a whole list cannot be expressed in Qdrant")
    return _scalar_field(path, eq_condition(path, _scalar(value), numeric=True))


def _is_in(path: str, value: object) -> models.Condition:
    values = _values(value)
    if not values:
        return never_condition(path)
    return _scalar_field(path, in_condition(path, values, numeric=True))


def _contains(path: str, value: Scalar) -> models.Condition:
    # `value in metadata_value`: list membership, or a substring of a string.
    element = eq_condition(f"{path}[]", value, numeric=True)
    if not isinstance(value, str):
        return element
    return any_of([element, _scalar_field(path, substring_condition(path, value))])


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidFilterError(f"expected a string, got {value!r}")
    return value


def _leaf(flt: MetadataFilter, metadata_key: str, caseless_key: str | None) -> models.Condition:
    op = FilterOperator(flt.operator)
    with error_context(flt.key, op.name):
        path = literal_metadata_field(flt.key, metadata_key)
        value = flt.value
        if op is FilterOperator.IS_EMPTY:
            return any_of([is_empty_condition(path), _scalar_field(path, eq_condition(path, ""))])
        if value is None:
            raise InvalidFilterError("the value is None; use IS_EMPTY to find missing values")
        if op is FilterOperator.EQ:
            return _equals(path, value)
        if op is FilterOperator.NE:
            return none_of([_equals(path, value)])
        if op in _RANGE_OPS:
            if isinstance(value, str):
                raise InvalidFilterError("Qdrant cannot compare strings by order")
            bound = _scalar(value)
            return _scalar_field(path, one_sided_range(path, _RANGE_OPS[op], bound, numeric=True))
        if op is FilterOperator.IN:
            return _is_in(path, value)
        if op is FilterOperator.NIN:
            return none_of([_is_in(path, value)])
        if op is FilterOperator.CONTAINS:
            return _contains(path, _scalar(value))
        if op is FilterOperator.ANY:
            values = _values(value)
            if not values:
                return never_condition(path)
            return any_of([_contains(path, v) for v in values])
        if op is FilterOperator.ALL:
            values = _values(value)
            if not values:
                # llama-index matches every node whose value is not None, including [], which
                # Qdrant cannot tell apart from a missing key.
                raise InvalidFilterError("an empty list cannot be translated exactly")
            return all_of([_contains(path, v) for v in values])
        if op is FilterOperator.TEXT_MATCH:
            return _scalar_field(path, substring_condition(path, _text(value)))
        if op is FilterOperator.TEXT_MATCH_INSENSITIVE:
            text = _text(value)
            if caseless_key is not None:
                # value.lower() in stored.lower(): the payload keeps stored.lower() apart.
                folded = literal_metadata_field(flt.key, caseless_key)
                return _scalar_field(path, substring_condition(folded, text.lower()))
            if not is_caseless(text):
                raise InvalidFilterError(
                    "Qdrant has no case-insensitive substring match; only values without "
                    "letters can be translated (use TEXT_MATCH for a case-sensitive match)"
                )
            return _scalar_field(path, substring_condition(path, text))
        raise InvalidFilterError("unsupported operator")


def _group(
    filters: MetadataFilters, metadata_key: str, caseless_key: str | None
) -> models.Condition:
    if not filters.filters:
        raise InvalidFilterError(
            "empty MetadataFilters cannot be translated (pass None for no filter)"
        )
    parts = [
        _group(f, metadata_key, caseless_key)
        if isinstance(f, MetadataFilters)
        else _leaf(f, metadata_key, caseless_key)
        for f in filters.filters
    ]
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition is FilterCondition.AND:
        return all_of(parts)
    if condition is FilterCondition.OR:
        return any_of(parts)
    if condition is FilterCondition.NOT:
        return none_of(parts)
    raise InvalidFilterError(f"unsupported filter condition {condition!r}")


def translate_metadata_filters(
    filters: MetadataFilters, *, metadata_key: str, caseless_key: str | None = None
) -> models.Filter:
    """Translate LlamaIndex ``MetadataFilters`` (see module doc for the semantics).

    ``caseless_key`` names the payload field holding lower-cased copies of the string metadata
    (``payload.caseless_copy``); with it, ``TEXT_MATCH_INSENSITIVE`` is exact for any value.
    """
    if not isinstance(filters, MetadataFilters):
        raise InvalidFilterError(f"expected MetadataFilters, got {type(filters).__name__}")
    return as_filter(_group(filters, metadata_key, caseless_key))
