"""One payload layout for both frameworks, and readers for the layouts of the public packages.

A point written by qdrant-aio carries::

    {
      "page_content": "the text",              # content_key (LangChain's default name)
      "metadata": {...},                        # metadata_key: exactly the user's metadata
      "ref_doc_id": "source document id",      # only when there is one (LlamaIndex ref_doc_id)
      "llama_node": {...},                      # only for LlamaIndex nodes: what rebuilds the node
      "metadata_caseless": {...},               # string metadata lower-cased, for ilike filters
      "external_id": "original id"             # only when the id is not a UUID / unsigned int
    }

The text is stored once. ``langchain-qdrant`` writes the same ``page_content``/``metadata`` pair,
so its collections read as they are. ``llama-index-vector-stores-qdrant`` writes the metadata at
the top level next to ``_node_content`` (the node as JSON), ``_node_type``, ``doc_id``,
``document_id`` and ``ref_doc_id``; :func:`read_payload` understands that too, and
:func:`build_llama_index_payload` writes it for a plain text (so a collection in that layout stays
in it whichever adapter writes).

What is indexed: the ``ref_doc_id`` field (keyword index, by the LlamaIndex adapter, so deletes by
source document stay fast) and whatever metadata keys the user lists in ``payload_indexes``
(their paths are ``metadata.<key>``). Point ids are Qdrant's own (see :mod:`qdrant_aio.ids`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError, InvalidInputError
from .ingest import text_json_size

__all__ = [
    "PayloadLayout",
    "StoredContent",
    "build_payload",
    "payload_size_bound",
    "caseless_copy",
    "read_payload",
    "is_llama_index_legacy",
    "is_llama_index_layout",
    "is_flat",
    "has_top_level_metadata",
    "build_llama_index_payload",
    "LLAMA_LEGACY_KEYS",
]

# Top-level keys of llama-index-vector-stores-qdrant that are bookkeeping, not user metadata.
LLAMA_LEGACY_KEYS = frozenset(
    {"_node_content", "_node_type", "doc_id", "document_id", "ref_doc_id"}
)


@dataclass(frozen=True)
class PayloadLayout:
    """Payload key names. The defaults are LangChain's, so langchain-qdrant data reads as is."""

    content_key: str = "page_content"
    metadata_key: str = "metadata"
    ref_doc_id_key: str = "ref_doc_id"
    node_key: str = "llama_node"
    caseless_key: str = "metadata_caseless"
    # Where a flat payload keeps its text (llama-index's ``text_key``): see :func:`is_flat`.
    flat_text_key: str = "text"

    def __post_init__(self) -> None:
        keys = [
            self.content_key, self.metadata_key, self.ref_doc_id_key, self.node_key,
            self.caseless_key,
        ]
        if any(not isinstance(k, str) or not k for k in [*keys, self.flat_text_key]):
            raise ConfigurationError("payload keys must be non-empty strings")
        if len(set(keys)) != len(keys):
            raise ConfigurationError(f"payload keys must differ from each other: {keys}")


@dataclass(slots=True)  # not frozen: one is made per hit read, and a frozen init is ~3x slower
class StoredContent:
    """What a payload holds, whichever layout wrote it."""

    text: str
    metadata: dict[str, Any]
    ref_doc_id: str | None = None
    node: dict[str, Any] | None = None
    legacy_llama_node: dict[str, Any] | None = None  # parsed ``_node_content``


def build_payload(
    text: str,
    metadata: Mapping[str, Any] | None,
    layout: PayloadLayout,
    *,
    ref_doc_id: str | None = None,
    node: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload of one point (copies the metadata: the caller's dict is never mutated)."""
    payload: dict[str, Any] = {
        layout.content_key: text,
        layout.metadata_key: dict(metadata or {}),
    }
    # Always present (even empty): it also marks points that carry the copy.
    payload[layout.caseless_key] = caseless_copy(metadata or {})
    if ref_doc_id is not None:
        payload[layout.ref_doc_id_key] = ref_doc_id
    if node:
        payload[layout.node_key] = dict(node)
    return payload


def payload_size_bound(
    layout: PayloadLayout,
    *,
    text_size: int,
    metadata_size: int,
    ref_doc_id: str | None = None,
    node_size: int | None = None,
) -> int:
    """About the JSON size of :func:`build_payload`'s result, from the JSON sizes of its parts.

    Lets a caller check sizes up front and build the payload later. An upper bound: the
    case-less copy holds at most the metadata's strings, and lower-casing lengthens an
    escaped string by at most a sixth ("\\u0130" becomes "i\\u0307").
    """
    keys = _key_sizes(layout)
    # The case-less copy: counted with the room lower-casing may need (see above).
    size = keys.always + text_size + 2 * metadata_size + metadata_size // 6 + 1
    if ref_doc_id is not None:
        size += keys.ref_doc_id + text_json_size(ref_doc_id)
    if node_size is not None:
        size += keys.node + node_size
    return size


@dataclass(frozen=True)
class _KeySizes:
    """JSON bytes of a layout's keys with their punctuation (``"key": `` and ``, ``)."""

    always: int  # the braces and the three keys every payload has
    ref_doc_id: int
    node: int


@functools.cache  # once per layout (layouts are frozen, hence hashable)
def _key_sizes(layout: PayloadLayout) -> _KeySizes:
    def entry(key: str) -> int:
        return text_json_size(key) + 4

    always = 2 + sum(
        entry(k) for k in (layout.content_key, layout.metadata_key, layout.caseless_key)
    )
    return _KeySizes(always, entry(layout.ref_doc_id_key), entry(layout.node_key))


def caseless_copy(value: Any) -> Any:
    """The string values of ``value`` lower-cased, in the same structure (others left out).

    Stored apart so that case-insensitive text filters (LangChain ``$ilike``, LlamaIndex
    ``TEXT_MATCH_INSENSITIVE``) are exact substring matches: Qdrant itself has none.
    """
    # Plain types are tested first: an isinstance check against the Mapping ABC costs about
    # 0.3 us, and metadata is mostly dicts of strings and numbers.
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict) or isinstance(value, Mapping):
        folded: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str):  # the common case first: no recursion for scalars
                folded[key] = item.lower()
            elif item is None or isinstance(item, (int, float)):
                continue
            elif isinstance(item, (dict, list, tuple)) or isinstance(item, Mapping):
                inner = caseless_copy(item)
                if inner:
                    folded[key] = inner
        return folded
    if isinstance(value, (list, tuple)):
        return [item.lower() for item in value if isinstance(item, str)]
    return None


def is_llama_index_legacy(payload: Mapping[str, Any]) -> bool:
    """Whether ``payload`` was written by llama-index-vector-stores-qdrant."""
    return "_node_content" in payload


def is_llama_index_layout(payload: Mapping[str, Any], layout: PayloadLayout) -> bool:
    """Whether ``payload`` is in llama-index-vector-stores-qdrant's layout (not ``layout``)."""
    return is_llama_index_legacy(payload) and layout.metadata_key not in payload


def is_flat(payload: Mapping[str, Any], layout: PayloadLayout) -> bool:
    """Whether ``payload`` is flat: not empty, with none of ``layout``'s keys and no
    ``_node_content``. Such payloads (llama-index's oldest, and those of many a script that
    fills a collection itself) keep the metadata at the top level and the text under
    ``layout.flat_text_key``, and are read so, as llama-index-vector-stores-qdrant reads them."""
    own = (layout.content_key, layout.metadata_key, layout.node_key, layout.caseless_key)
    return (
        bool(payload)
        and not is_llama_index_legacy(payload)
        and not any(key in payload for key in own)
    )


def has_top_level_metadata(payload: Mapping[str, Any], layout: PayloadLayout) -> bool:
    """Whether ``payload`` keeps its metadata at the top level (llama-index's layouts or a flat
    payload): filters then address ``key`` instead of ``metadata.key`` (``metadata_key=""``
    in the filter translators), and writes keep llama-index's layout."""
    return is_llama_index_layout(payload, layout) or is_flat(payload, layout)


def build_llama_index_payload(
    text: str, metadata: Mapping[str, Any] | None, node_id: str
) -> dict[str, Any]:
    """The payload llama-index-vector-stores-qdrant writes for a plain ``TextNode``.

    For a plain text (a LangChain document) written into a collection in that layout, so the
    layout stays uniform: its filters, its source-document field and that package itself keep
    working. Metadata keys that layout uses for its own bookkeeping raise
    :class:`~qdrant_aio.errors.InvalidInputError`, as does metadata that is not JSON.
    """
    fields = dict(metadata or {})
    clashing = sorted(LLAMA_LEGACY_KEYS & set(fields))
    if clashing:
        raise InvalidInputError(
            f"metadata keys {clashing} are reserved in this collection's payload layout "
            "(llama-index-vector-stores-qdrant's)"
        )
    node = {"id_": node_id, "metadata": fields, "text": text, "class_name": "TextNode"}
    try:
        node_json = json.dumps(node, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"metadata of {node_id!r} is not JSON: {error}") from error
    no_source = "None"  # that package's spelling of "no source document"
    return {
        **fields,
        "_node_content": node_json,
        "_node_type": "TextNode",
        "document_id": no_source,
        "doc_id": no_source,
        "ref_doc_id": no_source,
    }


def _legacy_ref_doc_id(payload: Mapping[str, Any]) -> str | None:
    ref = payload.get("ref_doc_id") or payload.get("doc_id") or payload.get("document_id")
    if ref == "None":  # llama-index writes the string "None" for nodes without a source
        return None
    return ref if isinstance(ref, str) else None


def read_payload(payload: Mapping[str, Any], layout: PayloadLayout) -> StoredContent:
    """Text, metadata and LlamaIndex extras of a payload in any of the known layouts."""
    if layout.content_key in payload and "_node_content" not in payload:
        return _read_own_layout(payload, layout)  # the common case, asked first
    if is_llama_index_layout(payload, layout):
        try:
            node = json.loads(payload["_node_content"])
        except (TypeError, ValueError):
            node = {}
        node = node if isinstance(node, dict) else {}
        text = node.get("text", "")
        metadata = {k: v for k, v in payload.items() if k not in LLAMA_LEGACY_KEYS}
        return StoredContent(
            text=text if isinstance(text, str) else "",
            metadata=metadata,
            ref_doc_id=_legacy_ref_doc_id(payload),
            legacy_llama_node=node,
        )
    if is_flat(payload, layout):
        text = payload.get(layout.flat_text_key)
        return StoredContent(
            text=text if isinstance(text, str) else "",
            metadata={
                k: v for k, v in payload.items()
                if k not in LLAMA_LEGACY_KEYS and k != layout.flat_text_key
            },
            ref_doc_id=_legacy_ref_doc_id(payload),
        )
    return _read_own_layout(payload, layout)


def _read_own_layout(payload: Mapping[str, Any], layout: PayloadLayout) -> StoredContent:
    text = payload.get(layout.content_key)
    if text is None:  # {"text": ..., "metadata": {...}}, as many a script writes it
        text = payload.get(layout.flat_text_key)
    stored_metadata = payload.get(layout.metadata_key)
    ref = payload.get(layout.ref_doc_id_key)
    extras = payload.get(layout.node_key)
    return StoredContent(
        text=text if isinstance(text, str) else ("" if text is None else str(text)),
        metadata=dict(stored_metadata) if isinstance(stored_metadata, Mapping) else {},
        ref_doc_id=ref if isinstance(ref, str) else None,
        node=dict(extras) if isinstance(extras, Mapping) else None,
    )
