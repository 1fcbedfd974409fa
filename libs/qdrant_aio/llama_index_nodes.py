"""I/O-free conversion between LlamaIndex nodes and qdrant-aio payloads.

A node is stored as the shared payload layout (:mod:`qdrant_aio.payload`): its text once under the
content key, its metadata under the metadata key, its ``ref_doc_id`` in its own (indexed) field,
and under the node key everything else that rebuilds it: class name, relationships, excluded
metadata keys, templates, character offsets, mimetype and any field of a node subclass. Neither
the text, the metadata, the id nor the embedding is repeated there.

Payloads written by ``llama-index-vector-stores-qdrant`` (``_node_content`` and the metadata at
the top level) are read too, and can be written again for collections already in that layout.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llama_index.core.schema import (
    BaseNode,
    Document,
    ImageNode,
    IndexNode,
    MetadataMode,
    Node,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from .errors import InvalidInputError
from .payload import PayloadLayout, build_payload, read_payload

__all__ = [
    "node_text",
    "node_extras",
    "node_to_payload",
    "node_to_legacy_payload",
    "node_from_payload",
]

_NODE_CLASSES: dict[str, type[BaseNode]] = {
    cls.class_name(): cls for cls in (TextNode, IndexNode, ImageNode, Document, Node)
}
# Fields kept elsewhere in the payload (or, for the embedding, in the point's vector).
_STORED_APART = {"id_", "embedding", "metadata", "text"}
_PLAIN_TEXT_NODE = {"class_name": TextNode.class_name()}


def node_text(node: BaseNode) -> str:
    """The node's own text, without metadata (what the content key stores)."""
    if type(node) is TextNode:
        # What TextNode.get_content(NONE) returns, without first formatting the metadata
        # string it then discards.
        return node.text
    return node.get_content(metadata_mode=MetadataMode.NONE)


@dataclass(frozen=True)
class _Defaults:
    """The fields of a built-in node class stored under the node key, and their defaults."""

    values_of: Callable[[dict[str, Any]], tuple[Any, ...]]  # picks them from a node's __dict__
    defaults: tuple[Any, ...]


@functools.cache
def _field_defaults(cls: type[BaseNode]) -> _Defaults | None:
    """The fields of a built-in node class stored under the node key, with their defaults.

    None for other classes (a subclass may serialise its own way) and for classes with a
    required field there (it has no default to compare with). Computed once per class.
    """
    if _NODE_CLASSES.get(cls.class_name()) is not cls or cls.model_computed_fields:
        return None
    names: list[str] = []
    defaults: list[Any] = []
    for name, info in cls.model_fields.items():
        if name in _STORED_APART:
            continue
        if info.is_required():
            return None
        names.append(name)
        defaults.append(info.get_default(call_default_factory=True))
    if len(names) < 2:
        return None  # itemgetter of one name returns the value, not a tuple; not worth it
    return _Defaults(operator.itemgetter(*names), tuple(defaults))


def node_extras(node: BaseNode) -> dict[str, Any]:
    """What rebuilds ``node`` besides its id, text, metadata and embedding (JSON-ready).

    Empty for a plain ``TextNode`` with every other field at its default: a payload without
    extras reads back as exactly that node.
    """
    # Defaults are left out: the node class restores them, and a smaller payload is cheaper to
    # write, store and scan. Most nodes have nothing else (a plain TextNode): checking the
    # fields against their defaults costs a third of a model_dump that would return nothing.
    known = _field_defaults(type(node))
    if (
        known is not None
        and not node.__pydantic_extra__
        and known.values_of(node.__dict__) == known.defaults  # pydantic keeps fields there
    ):
        return {} if type(node) is TextNode else {"class_name": node.class_name()}
    extras = node.model_dump(mode="json", exclude=_STORED_APART, exclude_defaults=True)
    extras["class_name"] = node.class_name()
    if extras == _PLAIN_TEXT_NODE:
        return {}  # a TextNode subclass with nothing of its own: read back as a TextNode
    resource = extras.get("text_resource")
    if isinstance(resource, dict):  # Document / Node keep their text in a resource
        resource.pop("text", None)
    return extras


def node_to_payload(
    node: BaseNode, layout: PayloadLayout, extras: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The payload of ``node`` in qdrant-aio's layout (text stored once).

    ``extras`` is :func:`node_extras` of the node, when the caller already has it.
    """
    return build_payload(
        node_text(node),
        node.metadata,
        layout,
        ref_doc_id=node.ref_doc_id,
        node=node_extras(node) if extras is None else extras,
    )


def node_to_legacy_payload(node: BaseNode) -> dict[str, Any]:
    """The payload llama-index-vector-stores-qdrant writes, for collections in that layout."""
    return node_to_metadata_dict(node, remove_text=False, flat_metadata=False)


def _with_text(cls: type[BaseNode], data: dict[str, Any], text: str) -> None:
    if "text" in cls.model_fields:
        data["text"] = text
        return
    resource = data.get("text_resource")
    if isinstance(resource, dict):
        data["text_resource"] = {**resource, "text": text}
    elif text:
        data["text_resource"] = {"text": text}


def _rebuild(
    node_id: str, text: str, metadata: dict[str, Any], extras: Mapping[str, Any] | None
) -> BaseNode:
    data = dict(extras or {})
    cls = _NODE_CLASSES.get(str(data.pop("class_name", "")), TextNode)
    data.update(id_=node_id, metadata=metadata)
    _with_text(cls, data, text)
    try:
        return cls.model_validate(data)
    except ValueError:
        if extras is None:
            raise
        # Extras from an unknown writer: keep what every node has rather than fail the read.
        return TextNode(id_=node_id, text=text, metadata=metadata)


def node_from_payload(
    node_id: str,
    payload: Mapping[str, Any],
    layout: PayloadLayout,
    *,
    embedding: list[float] | None = None,
) -> BaseNode:
    """Rebuild a node from a payload in any known layout.

    qdrant-aio's own layout rebuilds the node exactly; llama-index-vector-stores-qdrant's layout
    goes through llama-index-core's own reader; a payload with only text and metadata (written by
    LangChain) becomes a ``TextNode`` whose source is the stored ``ref_doc_id``, if any.
    """
    stored = read_payload(payload, layout)
    node: BaseNode
    if stored.legacy_llama_node is not None:
        try:
            node = metadata_dict_to_node(dict(payload), text=stored.text or None)
        except (ValueError, TypeError):
            node = TextNode(id_=node_id, text=stored.text, metadata=stored.metadata)
    else:
        try:
            node = _rebuild(node_id, stored.text, stored.metadata, stored.node)
        except ValueError as error:
            raise InvalidInputError(f"cannot rebuild node {node_id!r}: {error}") from error
    if stored.ref_doc_id is not None and NodeRelationship.SOURCE not in node.relationships:
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=stored.ref_doc_id)
    if embedding is not None:
        node.embedding = embedding
    return node
