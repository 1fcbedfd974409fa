"""Dict filter syntax -> Qdrant: matched ids must equal a plain-Python reference evaluator.

Each filter runs in an embedded Qdrant (``:memory:``); the expected ids come from ``_evaluate``
below, which spells out the documented semantics of every operator in plain Python.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timezone
from typing import Any

import pytest
from filter_support import metadata_collections
from qdrant_client import QdrantClient, models

from qdrant_aio.errors import InvalidFilterError
from qdrant_aio.filters import (
    all_of,
    any_of,
    combine_filters,
    field_equals_any,
    ids_filter,
    metadata_field,
    to_qdrant_filter,
    translate_dict_filter,
)

UTC = timezone.utc

META: dict[int, dict[str, Any]] = {
    1: {
        "author": "alice",
        "year": 2020,
        "rating": 4.5,
        "published": True,
        "tags": ["ai", "ml"],
        "code": "AB-123",
        "when": "2024-01-10T12:00:00+00:00",
        "info": {"lang": "en", "pages": 10},
    },
    2: {
        "author": "bob",
        "year": 2021,
        "rating": 3.0,
        "published": False,
        "tags": ["db"],
        "code": "ab-123x",
        "when": "2024-03-01T00:00:00Z",
        "info": {"lang": "fr", "pages": 200},
    },
    3: {"author": "Alice Smith", "year": 2019, "rating": 5, "tags": [], "code": "XY_9"},
    4: {"author": None, "year": 2022.0, "rating": 2.25, "published": True, "code": "100%"},
    5: {"year": "2020", "rating": None, "tags": "ai", "note": "", "page label": "iv"},
    6: {
        "author": "carol",
        "year": 1,
        "rating": 1.0,
        "published": 1,
        "tags": [1, 2, 3],
        "when": "2023-12-31T23:59:59+00:00",
    },
    7: {"author": "dave", "year": True, "rating": 0, "scores": [1.5, 2.5], "info": {"lang": None}},
    8: {},
    9: {
        "author": "alice",
        "year": 2023,
        "rating": 4.0,
        "published": False,
        "tags": ["AI"],
        "code": "%literal",
        "info": {"pages": 0},
    },
    10: {
        "author": "eve",
        "year": -5,
        "rating": -1.5,
        "published": None,
        "tags": [None],
        "code": "a\\b",
        "note": "hello world",
        "when": "not a date",
    },
    11: {
        "author": "frank",
        "year": 0,
        "rating": 10,
        "published": 0,
        "tags": ["x", 1],
        "code": "ab",
        "note": "Hello",
    },
    12: {
        "author": "bob",
        "year": 2021,
        "info": "flat string",
        "scores": [],
        "when": "2024-06-15T08:30:00+02:00",
        "page label": "xii",
    },
    13: {
        "author": "grace",
        "year": 2020,
        "rating": 4.5,
        "tags": ["ml"],
        "code": "AB",
        "info": {"lang": "en", "pages": 10.0},
    },
    14: {"author": "alice", "year": 2018, "rating": 3.5, "published": True, "tags": ["ai"]},
    15: {"author": "heidi", "year": 2024, "rating": 2, "tags": ["ai", "db"], "code": "12-3"},
}


@pytest.fixture(scope="module")
def client() -> Iterator[QdrantClient]:
    qdrant = metadata_collections(META, "doc")
    yield qdrant
    qdrant.close()


def _matched(
    client: QdrantClient, qdrant_filter: models.Filter, collection: str = "nested"
) -> set[int]:
    points, _ = client.scroll(collection, scroll_filter=qdrant_filter, limit=1000)
    return {int(p.id) for p in points}


# --- the reference evaluator --------------------------------------------------------------------

_MISSING = object()


def _lookup(metadata: Mapping[str, Any], key: str) -> Any:
    value: Any = metadata
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _values(metadata: Mapping[str, Any], key: str) -> list[Any]:
    """The values a condition is tested against: list elements, or the value itself."""
    value = _lookup(metadata, key)
    if value is _MISSING:
        return []
    return list(value) if isinstance(value, list) else [value]


def _has_value(metadata: Mapping[str, Any], key: str) -> bool:
    value = _lookup(metadata, key)
    return value is not _MISSING and value is not None and value != []


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _same(x: Any, v: Any) -> bool:
    if isinstance(v, bool) or isinstance(x, bool):
        return isinstance(x, bool) and isinstance(v, bool) and x == v
    if isinstance(v, str):
        return isinstance(x, str) and x == v
    if isinstance(v, int):  # ints match ints only, as in Qdrant
        return type(x) is int and x == v
    return _is_num(x) and x == v  # a float matches any equal number


def _moment(x: Any) -> datetime | None:
    if isinstance(x, datetime):
        moment = x
    elif isinstance(x, date):
        moment = datetime(x.year, x.month, x.day)
    elif isinstance(x, str):
        try:
            moment = datetime.fromisoformat(x.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _compare(values: list[Any], bound: Any, cmp: Callable[[Any, Any], bool]) -> bool:
    if _is_num(bound):
        return any(_is_num(x) and cmp(x, bound) for x in values)
    limit = _moment(bound)
    return any(
        isinstance(x, str) and (m := _moment(x)) is not None and cmp(m, limit) for x in values
    )


def _like(text: str, pattern: str) -> bool:
    regex = ""
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            regex += re.escape(next(chars))
        elif char == "%":
            regex += ".*"
        elif char == "_":
            regex += "."
        else:
            regex += re.escape(char)
    return re.fullmatch(regex, text, flags=re.S) is not None


_CMP = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _evaluate_op(metadata: Mapping[str, Any], key: str, op: str, arg: Any) -> bool:
    values = _values(metadata, key)
    op = op.lower()
    if op == "$eq":
        return any(_same(x, arg) for x in values)
    if op == "$ne":
        return _has_value(metadata, key) and not any(_same(x, arg) for x in values)
    if op in _CMP:
        return _compare(values, arg, _CMP[op])
    if op == "$between":
        low, high = arg
        return any(
            _compare([x], low, operator.ge) and _compare([x], high, operator.le) for x in values
        )
    if op == "$in":
        return any(_same(x, v) for x in values for v in arg)
    if op == "$nin":
        return _has_value(metadata, key) and not any(_same(x, v) for x in values for v in arg)
    if op == "$exists":
        return _has_value(metadata, key) is bool(arg)
    if op == "$like":
        return any(isinstance(x, str) and _like(x, arg) for x in values)
    if op == "$ilike":
        return any(isinstance(x, str) and _like(x.lower(), arg.lower()) for x in values)
    raise AssertionError(op)


def _evaluate(spec: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    results = []
    for key, value in spec.items():
        lowered = key.lower()
        if lowered == "$and":
            results.append(all(_evaluate(s, metadata) for s in value))
        elif lowered == "$or":
            results.append(any(_evaluate(s, metadata) for s in value))
        elif lowered == "$not":
            children = [value] if isinstance(value, dict) else value
            results.append(not any(_evaluate(s, metadata) for s in children))
        elif isinstance(value, dict):
            results.append(all(_evaluate_op(metadata, key, op, a) for op, a in value.items()))
        else:
            results.append(_evaluate_op(metadata, key, "$eq", value))
    return all(results)


def _expected(spec: Mapping[str, Any]) -> set[int]:
    return {point_id for point_id, metadata in META.items() if _evaluate(spec, metadata)}


# --- matching cases -----------------------------------------------------------------------------

CASES: list[dict[str, Any]] = [
    # equality: by type, floats numerically, lists by element, nested and quoted keys
    {"author": "alice"},
    {"author": {"$eq": "alice"}},
    {"year": 2020},
    {"year": 2022.0},
    {"rating": 5},
    {"rating": 1.0},
    {"rating": 4.5},
    {"published": True},
    {"published": 1},
    {"tags": "ai"},
    {"tags": 1},
    {"info.lang": "en"},
    {"info.pages": 10},
    {"info.pages": 10.0},
    {"page label": "iv"},
    {"note": ""},
    # $ne: needs a value; lists match when no element equals
    {"author": {"$ne": "alice"}},
    {"tags": {"$ne": "ai"}},
    {"published": {"$ne": True}},
    {"info.lang": {"$ne": "en"}},
    {"rating": {"$ne": 4.5}},
    # numeric ranges (bools and strings never match)
    {"year": {"$gt": 2020}},
    {"year": {"$gte": 2020, "$lt": 2023}},
    {"rating": {"$lte": 2.25}},
    {"rating": {"$lt": 0}},
    {"scores": {"$gt": 2}},
    {"year": {"$between": [2019, 2021]}},
    {"rating": {"$between": [1, 4.5]}},
    {"published": {"$gte": 0}},
    # datetime ranges
    {"when": {"$gte": "2024-01-01T00:00:00Z"}},
    {"when": {"$lt": datetime(2024, 2, 1, tzinfo=UTC)}},
    {"when": {"$gt": date(2024, 1, 1)}},
    {"when": {"$between": ["2024-01-01", "2024-06-15T06:30:00+00:00"]}},
    {"when": {"$lte": "2024-06-15T08:30:00+02:00"}},
    # $in / $nin, including mixed and float lists
    {"author": {"$in": ["alice", "bob"]}},
    {"year": {"$in": [2020, 2021]}},
    {"rating": {"$in": [4.5, 3]}},
    {"tags": {"$in": ["db", 1, True]}},
    {"published": {"$in": [True, 0]}},
    {"author": {"$in": []}},
    {"author": {"$nin": ["alice", "bob"]}},
    {"tags": {"$nin": ["ai"]}},
    {"rating": {"$nin": [4.5, 2]}},
    {"author": {"$nin": []}},
    # $exists: null and [] count as missing, "" does not
    {"author": {"$exists": True}},
    {"tags": {"$exists": False}},
    {"info.lang": {"$exists": False}},
    {"note": {"$exists": True}},
    {"published": {"$exists": True}},
    # $like / $ilike
    {"code": {"$like": "AB%"}},
    {"code": {"$like": "%123%"}},
    {"code": {"$like": "AB"}},
    {"code": {"$like": "%"}},
    {"code": {"$like": "%%"}},
    {"code": {"$like": "100\\%"}},
    {"code": {"$like": "\\%%"}},
    {"code": {"$like": "%\\_%"}},
    {"code": {"$like": "%\\\\%"}},
    {"author": {"$like": "%lic%"}},
    {"tags": {"$like": "a%"}},
    {"code": {"$ilike": "%123%"}},
    {"code": {"$ilike": "12-%"}},
    # logic
    {"author": "alice", "year": {"$gte": 2020}},
    {"$and": [{"author": "alice"}, {"published": True}]},
    {"$or": [{"author": "bob"}, {"tags": "ml"}]},
    {"$not": {"author": "alice"}},
    {"$not": [{"author": "alice"}, {"tags": "ai"}]},
    {"$NOT": {"year": {"$GT": 2020}}},
    {
        "$or": [
            {"author": "alice"},
            {"$and": [{"year": {"$gt": 2020}}, {"$not": {"tags": "db"}}]},
        ]
    },
    {
        "$and": [
            {"$or": [{"rating": {"$gte": 4}}, {"code": {"$like": "ab%"}}]},
            {"$not": {"$or": [{"published": False}, {"info.lang": "fr"}]}},
        ],
        "year": {"$nin": [2023]},
    },
]


def _case_id(spec: Mapping[str, Any]) -> str:
    return repr(spec)[:80]


@pytest.mark.parametrize("spec", CASES, ids=_case_id)
def test_dict_filter_matches_reference(client: QdrantClient, spec: dict[str, Any]) -> None:
    assert _matched(client, translate_dict_filter(spec)) == _expected(spec)


@pytest.mark.parametrize("spec", CASES[::3], ids=_case_id)
def test_top_level_metadata_layout(client: QdrantClient, spec: dict[str, Any]) -> None:
    translated = translate_dict_filter(spec, metadata_key="")
    assert _matched(client, translated, collection="flat") == _expected(spec)


def test_cases_are_not_trivial() -> None:
    non_trivial = [s for s in CASES if 0 < len(_expected(s)) < len(META)]
    assert len(non_trivial) >= len(CASES) - 6


def test_missing_keys_and_ne_semantics() -> None:
    # Chroma semantics: no value, no $ne match; plain $not does match a missing key.
    assert 8 not in _expected({"author": {"$ne": "alice"}})
    assert 4 not in _expected({"author": {"$ne": "alice"}})
    assert 8 in _expected({"$not": {"author": "alice"}})


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("author", "must be a dict"),
        (["author"], "must be a dict"),
        (None, "must be a dict"),
        (5, "must be a dict"),
        ({}, "empty filter"),
        ({"author": {}}, "empty operator dict"),
        ({"$and": []}, r"\$and expects a non-empty list"),
        ({"$or": []}, r"\$or expects a non-empty list"),
        ({"$or": {"author": "a"}}, r"\$or expects a non-empty list"),
        ({"$or": [{"author": "a"}, "b"]}, "must be a dict"),
        ({"$not": []}, r"\$not expects"),
        ({"$not": "x"}, r"\$not expects"),
        ({"$nor": [{"a": 1}]}, r"unknown operator '\$nor'"),
        ({"$eq": 1}, "needs a key"),
        ({"author": {"$regex": "a.*"}}, r"'author' with \$regex: unknown operator"),
        ({"author": {"name": "x"}}, "expected operators"),
        ({"author": {"$in": "alice"}}, r"'author' with \$in: expected a list"),
        ({"author": {"$nin": 5}}, r"'author' with \$nin: expected a list"),
        ({"author": {"$in": [["a"]]}}, r"\$in: unexpected list"),
        ({"author": {"$in": [None]}}, r"\$in: None"),
        ({"year": {"$gt": "abc"}}, r"'year' with \$gt: 'abc' is neither a number nor"),
        ({"year": {"$gt": "5"}}, "neither a number nor"),
        ({"year": {"$gt": True}}, r"\$gt: expected a number"),
        ({"year": {"$gt": None}}, r"\$gt: expected a number"),
        ({"year": {"$lte": [1]}}, r"\$lte: expected a number"),
        ({"year": {"$between": [1]}}, r"\$between: expected \[low, high\]"),
        ({"year": {"$between": 5}}, r"\$between: expected \[low, high\]"),
        ({"year": {"$between": [1, "2024-01-01"]}}, "all of one kind"),
        ({"author": None}, r"'author' with \$eq: None"),
        ({"author": ["a", "b"]}, r"\$eq: unexpected list"),
        ({"author": {"$eq": {"x": 1}}}, r"\$eq: unexpected dict"),
        ({"author": {"$exists": "yes"}}, r"\$exists: expected True or False"),
        ({"code": {"$like": "%AB"}}, r"'code' with \$like: .*cannot be translated exactly"),
        ({"code": {"$like": "a%b"}}, "cannot be translated exactly"),
        ({"code": {"$like": "%a%b%"}}, "cannot be translated exactly"),
        ({"code": {"$like": "A_B"}}, "'_' wildcard"),
        ({"code": {"$like": "AB\\"}}, "ends with an escape"),
        ({"code": {"$like": 5}}, "expected a string pattern"),
        ({"code": {"$ilike": "%ab%"}}, r"\$ilike: .*case-insensitive"),
        ({"rating": float("nan")}, "finite"),
        ({"rating": {"$gt": float("inf")}}, "finite"),
        ({"a..b": 1}, "empty path segment"),
        ({"": 1}, "non-empty string"),
        ({1: "x"}, "keys must be strings"),
    ],
)
def test_invalid_filters_raise(spec: Any, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=message):
        translate_dict_filter(spec)


def test_invalid_filter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        translate_dict_filter({"author": {"$regex": "x"}})


# --- to_qdrant_filter / combine_filters / helpers -----------------------------------------------


def test_to_qdrant_filter() -> None:
    native = models.Filter(must=[models.HasIdCondition(has_id=[1])])
    assert to_qdrant_filter(native) is native
    assert to_qdrant_filter(None) is None
    assert to_qdrant_filter({"author": "bob"}) == translate_dict_filter({"author": "bob"})
    assert to_qdrant_filter({"author": "bob"}, metadata_key="m") == translate_dict_filter(
        {"author": "bob"}, metadata_key="m"
    )
    for bad in ("author", 3, [{"author": "bob"}]):
        with pytest.raises(InvalidFilterError):
            to_qdrant_filter(bad)  # type: ignore[arg-type]


def test_combine_filters(client: QdrantClient) -> None:
    a = translate_dict_filter({"author": "alice"})
    b = translate_dict_filter({"year": {"$gte": 2020}})
    snapshot = (a.model_dump(), b.model_dump())
    assert combine_filters() is None
    assert combine_filters(None, None) is None
    assert combine_filters(None, a, None) is a
    combined = combine_filters(a, None, b)
    assert combined is not None
    assert (a.model_dump(), b.model_dump()) == snapshot
    assert _matched(client, combined) == _expected({"author": "alice", "year": {"$gte": 2020}})
    with pytest.raises(InvalidFilterError):
        combine_filters({"author": "x"})  # type: ignore[arg-type]


def test_ids_filter(client: QdrantClient) -> None:
    assert _matched(client, ids_filter([1, 5, 99])) == {1, 5}
    assert _matched(client, ids_filter([])) == set()
    for bad in ("1", [True], [1.5]):
        with pytest.raises(InvalidFilterError):
            ids_filter(bad)  # type: ignore[arg-type]


def test_field_equals_any(client: QdrantClient) -> None:
    assert _matched(client, field_equals_any("metadata.author", ["alice", "bob"])) == {
        1, 2, 9, 12, 14,
    }  # fmt: skip
    assert _matched(client, field_equals_any("metadata.author", ["eve"])) == {10}
    assert _matched(client, field_equals_any("metadata.author", [])) == set()
    with pytest.raises(InvalidFilterError):
        field_equals_any("metadata.author", "alice")
    with pytest.raises(InvalidFilterError):
        field_equals_any("metadata.author", [1])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("key", "metadata_key", "path"),
    [
        ("author", "metadata", "metadata.author"),
        ("info.lang", "metadata", "metadata.info.lang"),
        ("author", "", "author"),
        ("info.lang", "", "info.lang"),
        ("page label", "metadata", 'metadata."page label"'),
        ("a.b c", "", 'a."b c"'),
        ("tags[]", "metadata", "metadata.tags[]"),
        ('"a.b"', "metadata", 'metadata."a.b"'),
        ("snake_case-key9", "m", "m.snake_case-key9"),
    ],
)
def test_metadata_field(key: str, metadata_key: str, path: str) -> None:
    assert metadata_field(key, metadata_key) == path


@pytest.mark.parametrize("key", ["", "a..b", ".a", "a."])
def test_metadata_field_rejects_bad_keys(key: str) -> None:
    with pytest.raises(InvalidFilterError):
        metadata_field(key, "metadata")


def test_like_does_not_use_token_match() -> None:
    # match.text is a token match in Qdrant; LIKE must be an exact substring match.
    dumped = translate_dict_filter({"code": {"$like": "%123%"}}).model_dump(exclude_none=True)
    assert dumped == {"must": [{"key": "metadata.code", "match": {"substring": "123"}}]}


def test_nested_and_or_are_spliced_only_where_the_meaning_is_kept(client: QdrantClient) -> None:
    a, b, c, d = (
        models.FieldCondition(key=f"metadata.{k}", match=models.MatchValue(value=v))
        for k, v in (("author", "alice"), ("year", 2020), ("published", True), ("author", "bob"))
    )
    assert all_of([all_of([a, b]), c]) == models.Filter(must=[a, b, c])
    assert any_of([any_of([a, d]), c]) == models.Filter(should=[a, d, c])
    # Not spliced: another clause beside the list, an OR inside an AND (and the reverse), and
    # an empty `should`, which means "no constraint" (splicing it away would change an OR).
    mixed = models.Filter(must=[a], must_not=[b])
    assert all_of([mixed, c]) == models.Filter(must=[mixed, c])
    assert all_of([any_of([a, d]), c]) == models.Filter(must=[models.Filter(should=[a, d]), c])
    assert any_of([all_of([a, b]), c]) == models.Filter(should=[models.Filter(must=[a, b]), c])
    empty_or = models.Filter(should=[])
    assert any_of([empty_or, c]) == models.Filter(should=[empty_or, c])
    assert _matched(client, as_top(all_of([all_of([a, b]), c]))) == _matched(
        client, models.Filter(must=[models.Filter(must=[a, b]), c])
    )


def as_top(condition: models.Condition) -> models.Filter:
    assert isinstance(condition, models.Filter)
    return condition
