"""LlamaIndex MetadataFilters -> Qdrant: matched ids must equal llama-index-core's own filter.

Every filter runs in an embedded Qdrant (``:memory:``) and is compared, node by node, with
``llama_index.core.vector_stores.utils.build_metadata_filter_fn`` on the same metadata. Where
llama-index raises TypeError for a node (e.g. ``GT`` on a string), the translated leaf must be
false for that node, which is the documented contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from filter_support import metadata_collections
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn
from qdrant_client import QdrantClient, models

from qdrant_aio.errors import InvalidFilterError, InvalidInputError
from qdrant_aio.llama_index_filters import translate_metadata_filters

OP = FilterOperator
COND = FilterCondition

META: dict[int, dict[str, Any]] = {
    1: {
        "author": "alice",
        "year": 2020,
        "rating": 4.5,
        "flag": True,
        "tags": ["ai", "ml"],
        "title": "Deep Learning Basics",
        "code": "AB-123",
    },
    2: {
        "author": "bob",
        "year": 2021,
        "rating": 3.0,
        "flag": False,
        "tags": ["db"],
        "title": "databases",
        "code": "ab-123x",
    },
    3: {"author": "Alice", "year": 2019, "rating": 5, "tags": [], "title": "", "code": "100%"},
    4: {"author": None, "year": 2022.0, "rating": 2.25, "flag": 1, "tags": ["ml", "db", "ai"]},
    5: {"year": "2020", "rating": None, "tags": "ai", "note": ""},
    6: {
        "author": "carol",
        "year": 1,
        "rating": 1.0,
        "flag": 0,
        "tags": [1, 2, 3],
        "nums": [1.0, 2.5],
    },
    7: {"author": "dave", "year": True, "rating": 0, "tags": [True], "info": {"lang": "en"}},
    8: {},
    9: {
        "author": ["alice", "bob"],
        "year": 2023,
        "rating": 4.0,
        "tags": ["AI"],
        "title": "Machine learning in practice",
    },
    10: {
        "author": "eve",
        "year": -5,
        "rating": -1.5,
        "flag": None,
        "tags": [None],
        "title": "cat",
        "note": "x",
    },
    11: {
        "author": "frank",
        "year": 0,
        "rating": 10,
        "flag": 1.0,
        "tags": ["x", 1],
        "title": "concatenate",
        "code": "12-3",
    },
    12: {
        "author": "alice",
        "year": [2020, 2021],
        "rating": [1, 5],
        "info": "flat string",
        "a.b": "x",
    },
    13: {
        "author": "grace",
        "year": 2020.5,
        "rating": 4.5,
        "tags": ["ml"],
        "title": "MACHINE",
        "a.b": 3,
        "page label": "iv",
    },
    14: {
        "author": "alice",
        "year": 2018,
        "rating": 3.5,
        "flag": True,
        "tags": "ml,ai",
        "title": "learning",
        "note": None,
    },
    15: {"author": "heidi", "year": 2**60, "rating": 2, "flag": False, "tags": ["ai", "db"]},
}


@pytest.fixture(scope="module")
def client() -> Iterator[QdrantClient]:
    qdrant = metadata_collections(META, "node")
    yield qdrant
    qdrant.close()


def _matched(client: QdrantClient, collection: str, qdrant_filter: models.Filter) -> set[int]:
    points, _ = client.scroll(collection, scroll_filter=qdrant_filter, limit=1000)
    return {int(p.id) for p in points}


# --- the reference: llama-index-core's own filter function --------------------------------------


def _lookup(metadata: Mapping[str, Any]) -> Callable[[str], Mapping[str, Any]]:
    return lambda _node_id: metadata


def _leaf_value(leaf: MetadataFilter, metadata: Mapping[str, Any]) -> tuple[bool, bool]:
    """(result, raised) of llama-index's filter for one leaf."""
    fn = build_metadata_filter_fn(_lookup(metadata), MetadataFilters(filters=[leaf]))
    try:
        return fn("node"), False
    except TypeError:
        return False, True


def _combine(condition: FilterCondition | None, results: list[bool]) -> bool:
    # Let llama-index itself combine the results: synthetic leaves `_i == 1`.
    synthetic = {f"_{i}": int(r) for i, r in enumerate(results)}
    leaves: list[MetadataFilter | MetadataFilters] = [
        MetadataFilter(key=f"_{i}", value=1) for i in range(len(results))
    ]
    fn = build_metadata_filter_fn(
        _lookup(synthetic), MetadataFilters(filters=leaves, condition=condition)
    )
    return fn("node")


def _reference(filters: MetadataFilters, metadata: Mapping[str, Any]) -> tuple[bool, bool]:
    results: list[bool] = []
    raised = False
    for child in filters.filters:
        if isinstance(child, MetadataFilters):
            result, child_raised = _reference(child, metadata)
        else:
            result, child_raised = _leaf_value(child, metadata)
        results.append(result)
        raised = raised or child_raised
    return _combine(filters.condition, results), raised


def _expected(filters: MetadataFilters) -> tuple[set[int], set[int]]:
    """Ids that must match, and ids where llama-index raised somewhere."""
    expected: set[int] = set()
    raised_ids: set[int] = set()
    flat = not any(isinstance(f, MetadataFilters) for f in filters.filters)
    for point_id, metadata in META.items():
        result, raised = _reference(filters, metadata)
        if raised:
            raised_ids.add(point_id)
        elif flat:
            # The recomposition must agree with the library evaluating the whole group.
            whole = build_metadata_filter_fn(_lookup(metadata), filters)("node")
            assert whole == result, (point_id, filters)
        if result:
            expected.add(point_id)
    return expected, raised_ids


# --- cases --------------------------------------------------------------------------------------


def f(key: str, value: Any, op: FilterOperator = OP.EQ) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


def group(*filters: Any, condition: FilterCondition = COND.AND) -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=condition)


LEAVES: list[MetadataFilter] = [
    # EQ: Python equality (1 == 1.0 == True), lists never equal a scalar
    f("author", "alice"),
    f("year", 2020),
    f("year", 2020.0),
    f("year", 1),
    f("year", 2**60),
    f("rating", 5),
    f("rating", 1),
    f("rating", 4.5),
    f("flag", 1),
    f("flag", 0),
    f("tags", "ai"),
    f("title", ""),
    f("a.b", "x"),
    f("page label", "iv"),
    f("missing", "x"),
    # NE: matches missing keys, None and lists
    f("author", "alice", OP.NE),
    f("tags", "ai", OP.NE),
    f("flag", 1, OP.NE),
    f("year", 2020, OP.NE),
    f("rating", 4.5, OP.NE),
    f("missing", 1, OP.NE),
    # ranges: numbers, bools as 0/1, lists and strings never
    f("year", 2020, OP.GT),
    f("year", 2020, OP.GTE),
    f("year", 1.5, OP.LT),
    f("year", 0, OP.LTE),
    f("rating", 4.5, OP.GTE),
    f("rating", 1, OP.LT),
    f("flag", 0, OP.GT),
    f("flag", 0.5, OP.LTE),
    f("a.b", 1, OP.GT),
    # IN / NIN
    f("author", ["alice", "bob"], OP.IN),
    f("year", [2020, 2021], OP.IN),
    f("rating", [4.5, 1.0], OP.IN),
    f("flag", [1], OP.IN),
    f("tags", ["ai"], OP.IN),
    f("author", [], OP.IN),
    f("author", ["alice", "bob"], OP.NIN),
    f("year", [2020, 2021], OP.NIN),
    f("flag", [0], OP.NIN),
    f("tags", ["ai"], OP.NIN),
    f("author", [], OP.NIN),
    # CONTAINS / ANY / ALL: list membership or substring of a string
    f("tags", "ai", OP.CONTAINS),
    f("tags", 1, OP.CONTAINS),
    f("tags", "AI", OP.CONTAINS),
    f("author", "ali", OP.CONTAINS),
    f("author", "bob", OP.CONTAINS),
    f("nums", 2.5, OP.CONTAINS),
    f("nums", 1, OP.CONTAINS),
    f("info", "flat", OP.CONTAINS),
    f("rating", 5, OP.CONTAINS),
    f("tags", ["db", "ml"], OP.ANY),
    f("tags", [1, 5], OP.ANY),
    f("author", ["ali", "bo"], OP.ANY),
    f("tags", [], OP.ANY),
    f("tags", ["ai", "ml"], OP.ALL),
    f("tags", ["ai"], OP.ALL),
    f("nums", [1, 2.5], OP.ALL),
    f("year", [2020, 2021], OP.ALL),
    # TEXT_MATCH: case-sensitive substring (not a token match: "cat" matches "concatenate")
    f("title", "learn", OP.TEXT_MATCH),
    f("title", "cat", OP.TEXT_MATCH),
    f("title", "", OP.TEXT_MATCH),
    f("code", "AB", OP.TEXT_MATCH),
    f("tags", "ai", OP.TEXT_MATCH),
    # TEXT_MATCH_INSENSITIVE: only values without letters translate
    f("code", "-123", OP.TEXT_MATCH_INSENSITIVE),
    f("code", "12", OP.TEXT_MATCH_INSENSITIVE),
    # IS_EMPTY: missing, None, "" or []
    f("author", None, OP.IS_EMPTY),
    f("title", None, OP.IS_EMPTY),
    f("tags", None, OP.IS_EMPTY),
    f("note", None, OP.IS_EMPTY),
    f("flag", None, OP.IS_EMPTY),
]


def _leaf_id(leaf: MetadataFilter) -> str:
    return f"{leaf.key}-{leaf.operator.name}-{leaf.value!r}"


def _check(client: QdrantClient, filters: MetadataFilters, collection: str = "nested") -> None:
    metadata_key = "metadata" if collection == "nested" else ""
    translated = translate_metadata_filters(filters, metadata_key=metadata_key)
    expected, _ = _expected(filters)
    assert _matched(client, collection, translated) == expected


def test_every_operator_is_covered() -> None:
    assert {leaf.operator for leaf in LEAVES} == set(FilterOperator)


@pytest.mark.parametrize("leaf", LEAVES, ids=_leaf_id)
def test_single_filter_matches_llama_index(client: QdrantClient, leaf: MetadataFilter) -> None:
    _check(client, group(leaf))


@pytest.mark.parametrize("leaf", LEAVES[::4], ids=_leaf_id)
def test_top_level_metadata_layout(client: QdrantClient, leaf: MetadataFilter) -> None:
    _check(client, group(leaf), collection="flat")


def test_expected_sets_are_not_trivial() -> None:
    # Guard against a dataset where everything trivially matches nothing.
    non_empty = [leaf for leaf in LEAVES if _expected(group(leaf))[0]]
    assert len(non_empty) >= len(LEAVES) - 5


COMPOSITES: dict[str, MetadataFilters] = {
    "and": group(f("author", "alice"), f("year", 2019, OP.GT)),
    "or": group(f("author", "bob"), f("tags", "ml", OP.CONTAINS), condition=COND.OR),
    "not-one": group(f("author", "alice"), condition=COND.NOT),
    "not-two-is-nor": group(f("author", "alice"), f("flag", 1), condition=COND.NOT),
    "not-with-raising-leaf": group(f("year", 2020, OP.GT), condition=COND.NOT),
    "condition-none-is-and": MetadataFilters(
        filters=[f("author", "alice"), f("flag", 1)], condition=None
    ),
    "and-of-or-and-not": group(
        group(f("author", "alice"), f("author", "bob"), condition=COND.OR),
        group(f("tags", "db", OP.CONTAINS), condition=COND.NOT),
    ),
    "or-of-ands": group(
        group(f("year", 2020, OP.GTE), f("rating", 4, OP.GT)),
        group(f("flag", 0), f("tags", [], OP.NIN)),
        condition=COND.OR,
    ),
    "not-of-nested-or": group(
        group(f("author", "alice"), f("tags", "ai", OP.CONTAINS), condition=COND.OR),
        f("year", 2020),
        condition=COND.NOT,
    ),
    "three-levels": group(
        f("title", None, OP.IS_EMPTY),
        group(
            group(f("rating", 3, OP.LT), f("author", ["eve", "frank"], OP.IN)),
            group(f("tags", ["ai", "db"], OP.ALL), condition=COND.NOT),
            condition=COND.OR,
        ),
        condition=COND.OR,
    ),
    "mixed-leaf-and-group-under-not": group(
        f("flag", None, OP.IS_EMPTY),
        group(f("code", "AB", OP.TEXT_MATCH), f("year", 2021)),
        condition=COND.NOT,
    ),
}


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_conditions_and_nesting_match_llama_index(client: QdrantClient, name: str) -> None:
    filters = COMPOSITES[name]
    expected, _ = _expected(filters)
    assert expected, "a composite that matches nothing proves little"
    _check(client, filters)
    _check(client, filters, collection="flat")


def test_raising_leaves_do_not_match(client: QdrantClient) -> None:
    # llama-index raises TypeError for these nodes; the translation must simply not match them.
    for leaf in (f("year", 2020, OP.GT), f("tags", 1, OP.CONTAINS), f("tags", "ai", OP.TEXT_MATCH)):
        _, raised = _expected(group(leaf))
        assert raised
        matched = _matched(
            client, "nested", translate_metadata_filters(group(leaf), metadata_key="metadata")
        )
        assert not matched & raised


def test_contains_on_dict_value_does_not_test_keys(client: QdrantClient) -> None:
    # Documented deviation: llama-index would test dict keys ("lang" in {"lang": "en"}).
    translated = translate_metadata_filters(
        group(f("info", "lang", OP.CONTAINS)), metadata_key="metadata"
    )
    assert _matched(client, "nested", translated) == set()


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (group(f("title", "Learn", OP.TEXT_MATCH_INSENSITIVE)), "case-insensitive"),
        (group(f("author", "alice", OP.GT)), "GT"),
        (group(f("year", [2020], OP.EQ)), "whole list"),
        (group(f("year", [2020], OP.NE)), "whole list"),
        (group(f("author", "alice", OP.IN)), "list"),
        (group(f("author", "alice", OP.NIN)), "list"),
        (group(f("tags", "ai", OP.ANY)), "list"),
        (group(f("tags", [], OP.ALL)), "empty list"),
        (group(f("tags", ["ai"], OP.CONTAINS)), "single value"),
        (group(f("title", 5, OP.TEXT_MATCH)), "string"),
        (group(f("author", None, OP.EQ)), "IS_EMPTY"),
        (group(f("author", None, OP.NE)), "IS_EMPTY"),
        (group(f("rating", float("nan"))), "finite"),
        (group(f("rating", float("inf"), OP.GT)), "finite"),
        (group(f('say "hi"', "x")), "path"),
        (MetadataFilters(filters=[]), "empty MetadataFilters"),
        (group(f("author", "alice"), MetadataFilters(filters=[])), "empty MetadataFilters"),
    ],
)
def test_untranslatable_filters_raise(filters: MetadataFilters, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=message):
        translate_metadata_filters(filters, metadata_key="metadata")


def test_error_names_key_and_operator() -> None:
    with pytest.raises(InvalidFilterError, match="'title' with TEXT_MATCH_INSENSITIVE"):
        translate_metadata_filters(
            group(f("title", "Learn", OP.TEXT_MATCH_INSENSITIVE)), metadata_key="metadata"
        )


def test_rejects_other_inputs() -> None:
    with pytest.raises(InvalidFilterError):
        translate_metadata_filters({"author": "alice"}, metadata_key="metadata")  # type: ignore[arg-type]
    assert issubclass(InvalidFilterError, InvalidInputError)
    assert issubclass(InvalidFilterError, ValueError)


def test_literal_keys_are_quoted() -> None:
    translated = translate_metadata_filters(group(f("a.b", "x")), metadata_key="metadata")
    assert 'metadata."a.b"' in repr(translated)


def test_and_of_leaves_is_one_flat_list_with_value_tests_first() -> None:
    # Embedded, each point's filter is checked in Python, an AND stopping at its first false
    # condition: one flat list, value tests before the "not a list" guards, fails most points
    # at the first condition (the semantics are the tests above).
    translated = translate_metadata_filters(
        group(f("group", 3), f("tag", ["beta", "gamma"], FilterOperator.IN)),
        metadata_key="metadata",
    )
    assert translated.should is None and translated.must_not is None
    assert isinstance(translated.must, list)
    kinds = [type(c).__name__ for c in translated.must]
    assert kinds == [
        "FieldCondition", "IsEmptyCondition", "FieldCondition", "IsEmptyCondition"
    ]
    assert [c.key for c in translated.must if isinstance(c, models.FieldCondition)] == [
        "metadata.group", "metadata.tag"
    ]
