"""Sizes checked up front bound the payloads built later (requests are cut by them)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from qdrant_aio.ingest import json_size, text_json_size
from qdrant_aio.llama_index_nodes import node_extras, node_text, node_to_payload
from qdrant_aio.payload import PayloadLayout, build_payload, payload_size_bound

# Letters whose escaped JSON grows or changes under lower-casing, quotes, escapes, emoji.
ALPHABET = ["a", "Z", " ", '"', "\\", "\n", "é", "\u0130", "ß", "ǅ", "Σ", "😀", "\u2028"]


def text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))


def metadata(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for _ in range(rng.randrange(0, 5)):
        kind = rng.randrange(5 if depth < 2 else 3)
        value: Any = (
            text(rng) if kind == 0 else rng.randrange(-5, 10**6) if kind == 1
            else rng.choice([None, True, 1.5]) if kind == 2
            else metadata(rng, depth + 1) if kind == 3
            else [text(rng), metadata(rng, depth + 1)]
        )
        result[text(rng)] = value
    return result


def test_the_bound_holds_for_langchain_and_llama_index_payloads() -> None:
    rng = random.Random(11)
    layouts = [PayloadLayout(), PayloadLayout(content_key="é\u0130", metadata_key='m"')]
    for _ in range(3000):
        layout = rng.choice(layouts)
        content, meta = text(rng), metadata(rng)
        meta_size = json_size(meta, "m")
        actual = json_size(build_payload(content, meta, layout), "payload")
        bound = payload_size_bound(
            layout, text_size=text_json_size(content), metadata_size=meta_size
        )
        # Above, but not far: at most what the case-less copy left out, and a few bytes.
        assert actual <= bound <= actual + 2 * meta_size + 64

        node = TextNode(text=content, metadata=meta)
        if rng.random() < 0.5:
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=text(rng))
        extras = node_extras(node)
        actual = json_size(node_to_payload(node, layout, extras), "payload")
        bound = payload_size_bound(
            layout,
            text_size=text_json_size(node_text(node)),
            metadata_size=meta_size,
            ref_doc_id=node.ref_doc_id,
            node_size=json_size(extras, "extras"),
        )
        assert actual <= bound


def test_the_reused_json_encoder_writes_what_json_writes() -> None:
    import json

    from qdrant_aio import ingest
    from qdrant_aio.errors import InvalidInputError

    strict = json.JSONEncoder(allow_nan=False)
    assert ingest._encode_json is not strict.encode  # the shortcut is in use on CPython
    rng = random.Random(5)
    for _ in range(2000):
        value: Any = rng.choice([metadata(rng), text(rng), [metadata(rng), 1.25, None], 7])
        if isinstance(value, dict) and rng.random() < 0.2:
            value[rng.choice([1, 2.5, True, None])] = text(rng)  # keys JSON turns into strings
        assert ingest._encode_json(value) == strict.encode(value)
    for bad, error in ((float("nan"), ValueError), ({"x": [float("inf")]}, ValueError),
                       ({"x": object()}, TypeError), ({("a",): 1}, TypeError)):
        with pytest.raises(error):
            ingest._encode_json(bad)
        with pytest.raises(InvalidInputError):
            json_size(bad, "value", check_keys=False)
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(InvalidInputError, match="cannot be stored as JSON"):
        json_size(cycle, "metadata", check_keys=False)


def test_the_reused_json_encoder_refuses_cycles_at_once_and_recovers_from_errors() -> None:
    import threading

    from qdrant_aio import ingest

    cycle: list[Any] = [1]
    cycle.append({"back": cycle})
    with pytest.raises(ValueError, match="Circular reference"):
        ingest._encode_json({"tags": list(range(50_000)) + [cycle]})
    value: dict[str, Any] = {"k": [1, object()]}
    with pytest.raises(TypeError):  # fails half way, with ``value`` recorded as open
        ingest._encode_json(value)
    value["k"][1] = 2
    assert ingest._encode_json(value) == '{"k": [1, 2]}'  # not taken for a cycle
    # Each thread has its own encoder: encoding side by side gives each its own answer.
    values = [{"n": [i] * 200, "s": "x" * i} for i in range(8)]
    results: dict[int, list[str]] = {}

    def work(i: int) -> None:
        results[i] = [ingest._encode_json(values[i]) for _ in range(300)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    import json

    assert all(set(results[i]) == {json.dumps(values[i])} for i in range(8))


def _nested(levels: int) -> Any:
    """A value of exactly ``levels`` levels of containers (a dict holding nested lists)."""
    inner: Any = []
    for _ in range(levels - 2):
        inner = [inner]
    return {"deep": inner}


def test_payload_values_are_refused_exactly_where_qdrant_would_not_keep_them() -> None:
    import enum

    from qdrant_aio import InvalidInputError
    from qdrant_aio.ingest import MAX_NESTING, json_size, text_json_size

    class Big(enum.IntEnum):
        HUGE = 2**70

    fine = [
        {"n": [-(2**63), 2**63 - 1, True, 1e308]},
        {"emoji": "\U0001f600", "path": "C:\\udata", "text": "line\nnext\\ud800 as text"},
        _nested(MAX_NESTING),
    ]
    for value in fine:
        assert json_size(value, "m") > 0
    refused = [
        {"n": 2**63}, {"n": -(2**63) - 1}, {"deep": [[{"n": 2**64 - 1}]]}, {"n": Big.HUGE},
        {"s": "lone \ud800 surrogate"}, {"\udc80key": 1}, _nested(MAX_NESTING + 1),
    ]
    for value in refused:
        with pytest.raises(InvalidInputError, match="cannot be stored as JSON"):
            json_size(value, "m")
    assert text_json_size("tab\tand newline\n") == len('"tab\\tand newline\\n"')
    with pytest.raises(InvalidInputError, match="cannot be stored as JSON"):
        text_json_size("broken \udc80 extraction")
