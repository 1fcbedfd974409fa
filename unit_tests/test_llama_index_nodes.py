"""The node key of a payload: the shortcut for all-default nodes says what model_dump would say."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.schema import (
    BaseNode,
    Document,
    ImageNode,
    IndexNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)

from qdrant_aio.llama_index_nodes import (
    node_extras,
    node_from_payload,
    node_text,
    node_to_payload,
)
from qdrant_aio.payload import PayloadLayout

STORED_APART = {"id_", "embedding", "metadata", "text"}


class TaggedNode(TextNode):
    """A user's node subclass with a field of its own."""

    tag: str = "none"


def by_model_dump(node: BaseNode) -> dict[str, Any]:
    """The reference: what pydantic writes for the fields that differ from their defaults."""
    extras = node.model_dump(mode="json", exclude=STORED_APART, exclude_defaults=True)
    extras["class_name"] = node.class_name()
    resource = extras.get("text_resource")
    if isinstance(resource, dict):
        resource.pop("text", None)
    if extras == {"class_name": "TextNode"}:
        return {}  # a payload without extras reads back as a plain TextNode
    return extras


def mutated_in_place() -> list[BaseNode]:
    # Changes that pydantic's "fields set" bookkeeping does not see.
    with_source = TextNode(text="a")
    with_source.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id="doc")
    with_key = TextNode(text="b")
    with_key.excluded_embed_metadata_keys.append("secret")
    reassigned = TextNode(text="c")
    reassigned.end_char_idx = 9
    return [with_source, with_key, reassigned]


NODES: list[BaseNode] = [
    TextNode(id_="plain", text="t", metadata={"a": 1}, embedding=[0.5, 0.5]),
    TextNode(text="t", start_char_idx=3),
    TextNode(text="t", mimetype="text/markdown"),
    TextNode(text="t", metadata_template="{key}:{value}", metadata_separator=" | "),
    TextNode(text="t", text_template="{content}"),
    TextNode(text="t", excluded_llm_metadata_keys=["x"]),
    TextNode(text="t", relationships={NodeRelationship.PARENT: RelatedNodeInfo(node_id="p")}),
    *mutated_in_place(),
    Document(text="document"),
    Document(text="document", metadata={"k": "v"}),
    IndexNode(text="i", index_id="other"),
    ImageNode(text="caption"),
    ImageNode(text="caption", image_url="http://example.invalid/a.png"),
    TaggedNode(text="t"),
    TaggedNode(text="t", tag="mine"),
]


@pytest.mark.parametrize("node", NODES, ids=lambda n: f"{type(n).__name__}")
def test_node_extras_match_model_dump(node: BaseNode) -> None:
    assert node_extras(node) == by_model_dump(node)


@pytest.mark.parametrize("node", NODES, ids=lambda n: f"{type(n).__name__}")
def test_nodes_round_trip_through_the_payload(node: BaseNode) -> None:
    layout = PayloadLayout()
    payload = node_to_payload(node, layout)
    back = node_from_payload(node.node_id, payload, layout, embedding=node.embedding)
    expected_class = type(node) if not isinstance(node, TaggedNode) else TextNode
    assert type(back) is expected_class
    fields = set(expected_class.model_fields)
    assert back.model_dump(include=fields) == node.model_dump(include=fields)


def test_a_plain_text_node_is_stored_as_a_document_is() -> None:
    # Nothing under the node key: a payload without one reads back as a plain TextNode, and a
    # smaller payload is cheaper to write and store.
    layout = PayloadLayout()
    plain = TextNode(id_="n", text="t", metadata={"a": 1}, embedding=[0.5, 0.5])
    assert set(node_to_payload(plain, layout)) == {
        layout.content_key, layout.metadata_key, layout.caseless_key
    }
    for other in (TextNode(text="t", start_char_idx=3), Document(text="d"), TaggedNode(tag="x")):
        assert layout.node_key in node_to_payload(other, layout)


@pytest.mark.parametrize("node", NODES, ids=lambda n: f"{type(n).__name__}")
def test_node_text_is_the_content_without_metadata(node: BaseNode) -> None:
    assert node_text(node) == node.get_content(metadata_mode=MetadataMode.NONE)
