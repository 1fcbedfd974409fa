"""A reusable conformance suite for LlamaIndex vector stores built on qdrant-aio.

Subclass :class:`LlamaIndexVectorStoreConformance` and provide a ``vector_store`` fixture that
yields a fresh ``qdrant_aio.llama_index.QdrantVectorStore`` with ``enable_hybrid=True`` (default
BM25) on an empty collection. Every test runs through that store's public API, sync and async,
and through llama-index-core itself (indexes, retrievers, query engines, ingestion pipelines).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import (
    BaseNode,
    Document,
    IndexNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores import SimpleVectorStore
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn
from qdrant_client import models

from qdrant_aio import (
    CollectionMismatchError,
    ConfigurationError,
    DimensionMismatchError,
    InvalidFilterError,
    InvalidInputError,
)
from qdrant_aio.llama_index import QdrantVectorStore
from qdrant_aio.payload import caseless_copy

__all__ = [
    "LlamaIndexVectorStoreConformance",
    "HashEmbedding",
    "CORPUS",
    "FILTER_CASES",
    "core_filter_ids",
    "unit",
]

DIM = 64


class HashEmbedding(BaseEmbedding):
    """Deterministic bag-of-words embedding: each word hashes to one of ``dim`` axes."""

    dim: int = DIM

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            digest = hashlib.sha256(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "big") % self.dim] += 1.0
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0:
            vector[0] = 1.0
            return vector
        return [x / norm for x in vector]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)


EMBED = HashEmbedding()

# id -> (text, source document)
CORPUS: dict[str, tuple[str, str]] = {
    "space-1": ("black holes bend light and time", "doc-space"),
    "space-2": ("galaxies orbit black holes at their centres", "doc-space"),
    "pets-1": ("cats sleep most of the day", "doc-pets"),
    "pets-2": ("dogs chase cats around the garden", "doc-pets"),
    "food-1": ("bread rises when yeast ferments sugar", "doc-food"),
    "food-2": ("cheese and bread make a simple lunch", "doc-food"),
}


def unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def embedded(node: BaseNode) -> BaseNode:
    node.embedding = EMBED.get_text_embedding(node.get_content(metadata_mode=MetadataMode.EMBED))
    return node


def corpus_nodes() -> list[BaseNode]:
    return [
        embedded(
            TextNode(
                id_=node_id,
                text=text,
                metadata={"topic": node_id.split("-")[0], "n": int(node_id[-1])},
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
            )
        )
        for node_id, (text, doc) in CORPUS.items()
    ]


def ask(text: str, **options: Any) -> VectorStoreQuery:
    options.setdefault("similarity_top_k", len(CORPUS))
    return VectorStoreQuery(
        query_embedding=EMBED.get_query_embedding(text), query_str=text, **options
    )


def ids_of(nodes: Sequence[BaseNode]) -> set[str]:
    return {n.node_id for n in nodes}


def rich_node() -> TextNode:
    """A node with every field that must survive a round trip, and a non-UUID id."""
    return TextNode(
        id_="chapter-1/chunk#0",
        text="The quick brown fox jumps over the lazy dog.",
        metadata={"author": "ann", "year": 2020, "score": 0.5, "tags": ["x", "y"],
                  "nested": {"k": [1, 2]}, "empty": None},
        excluded_embed_metadata_keys=["score"],
        excluded_llm_metadata_keys=["year", "tags"],
        metadata_template="{key}=>{value}",
        metadata_separator=" | ",
        text_template="META[{metadata_str}] TEXT[{content}]",
        start_char_idx=7,
        end_char_idx=51,
        mimetype="text/markdown",
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(node_id="book-1", metadata={"isbn": "1"}),
            NodeRelationship.PREVIOUS: RelatedNodeInfo(node_id="chapter-0/chunk#9"),
            NodeRelationship.NEXT: RelatedNodeInfo(node_id="chapter-1/chunk#1"),
            NodeRelationship.PARENT: RelatedNodeInfo(node_id="chapter-1"),
            NodeRelationship.CHILD: [
                RelatedNodeInfo(node_id="s-1"), RelatedNodeInfo(node_id="s-2")
            ],
        },
        embedding=[0.1 * i for i in range(1, 9)],
    )


def dump(node: BaseNode) -> dict[str, Any]:
    return node.model_dump(exclude={"embedding"})


# ------------------------------------------------------------------ filters vs llama-index-core

FILTER_METADATA: dict[str, dict[str, Any]] = {
    "f0": {"author": "alice", "year": 2020, "score": 1.5, "tags": ["a", "b"],
           "title": "Cat Tales", "code": "AB-12", "flag": True},
    "f1": {"author": "bob", "year": 2021, "score": 2, "tags": ["b"], "title": "dog days",
           "code": "cd-34"},
    "f2": {"author": "carol", "year": 2019, "score": 0, "tags": [], "title": "", "code": "x-12"},
    "f3": {"author": "alice", "year": 2022, "tags": ["c", "a"], "title": "concatenate",
           "note": None, "flag": False},
    "f4": {},
    "f5": {"author": "dave", "year": "2021", "score": -1.25, "tags": "a,b", "title": "Cats"},
}


def _leaf(key: str, op: FilterOperator, value: Any) -> MetadataFilter:
    return MetadataFilter(key=key, operator=op, value=value)


def _group(condition: FilterCondition, *filters: Any) -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=condition)


Op = FilterOperator
Cond = FilterCondition

FILTER_CASES: dict[str, MetadataFilters] = {
    "eq-str": _group(Cond.AND, _leaf("author", Op.EQ, "alice")),
    "eq-int": _group(Cond.AND, _leaf("year", Op.EQ, 2021)),
    "eq-float-matches-int": _group(Cond.AND, _leaf("score", Op.EQ, 2.0)),
    "eq-int-matches-bool": _group(Cond.AND, _leaf("flag", Op.EQ, 1)),
    "ne-str": _group(Cond.AND, _leaf("author", Op.NE, "alice")),
    "ne-int": _group(Cond.AND, _leaf("year", Op.NE, 2021)),
    "gt": _group(Cond.AND, _leaf("year", Op.GT, 2020)),
    "gte": _group(Cond.AND, _leaf("year", Op.GTE, 2020)),
    "lt-float": _group(Cond.AND, _leaf("score", Op.LT, 1.5)),
    "lte-float": _group(Cond.AND, _leaf("score", Op.LTE, 1.5)),
    "in-str": _group(Cond.AND, _leaf("author", Op.IN, ["alice", "bob"])),
    "in-int": _group(Cond.AND, _leaf("year", Op.IN, [2019, 2022])),
    "nin-str": _group(Cond.AND, _leaf("author", Op.NIN, ["alice"])),
    "nin-int": _group(Cond.AND, _leaf("year", Op.NIN, [2021])),
    "any": _group(Cond.AND, _leaf("tags", Op.ANY, ["a", "c"])),
    "all": _group(Cond.AND, _leaf("tags", Op.ALL, ["a", "b"])),
    "contains-list": _group(Cond.AND, _leaf("tags", Op.CONTAINS, "b")),
    "contains-substring": _group(Cond.AND, _leaf("title", Op.CONTAINS, "at")),
    "text-match": _group(Cond.AND, _leaf("title", Op.TEXT_MATCH, "Cat")),
    "text-match-inner": _group(Cond.AND, _leaf("title", Op.TEXT_MATCH, "ate")),
    "text-match-insensitive": _group(Cond.AND, _leaf("code", Op.TEXT_MATCH_INSENSITIVE, "-12")),
    "text-match-insensitive-letters": _group(
        Cond.AND, _leaf("title", Op.TEXT_MATCH_INSENSITIVE, "cAT")
    ),
    "text-match-insensitive-code": _group(
        Cond.OR, _leaf("code", Op.TEXT_MATCH_INSENSITIVE, "Ab-"), _leaf("tags", Op.EQ, "b")
    ),
    "is-empty-list": _group(Cond.AND, _leaf("tags", Op.IS_EMPTY, None)),
    "is-empty-str": _group(Cond.AND, _leaf("title", Op.IS_EMPTY, None)),
    "is-empty-null": _group(Cond.AND, _leaf("note", Op.IS_EMPTY, None)),
    "and": _group(Cond.AND, _leaf("author", Op.EQ, "alice"), _leaf("year", Op.GT, 2020)),
    "or": _group(Cond.OR, _leaf("author", Op.EQ, "bob"), _leaf("year", Op.LT, 2020)),
    "not": _group(Cond.NOT, _leaf("author", Op.EQ, "alice"), _leaf("year", Op.EQ, 2021)),
    "nested": _group(
        Cond.OR,
        _group(Cond.AND, _leaf("author", Op.EQ, "alice"), _leaf("tags", Op.CONTAINS, "b")),
        _group(Cond.NOT, _leaf("year", Op.GTE, 2020)),
    ),
    "nested-not-of-or": _group(
        Cond.NOT, _group(Cond.OR, _leaf("author", Op.EQ, "bob"), _leaf("score", Op.GT, 1))
    ),
}


def filter_nodes() -> list[BaseNode]:
    return [
        TextNode(id_=node_id, text=f"text of {node_id}", metadata=metadata,
                 embedding=[1.0, float(i), 0.5])
        for i, (node_id, metadata) in enumerate(FILTER_METADATA.items())
    ]


def _core_matches(metadata: dict[str, Any], filters: MetadataFilters) -> bool:
    """llama-index-core's own semantics, one node at a time (nested groups composed).

    Where llama-index raises TypeError (e.g. comparing a string with a number) the node does
    not match: the documented behaviour of the Qdrant translation.
    """
    results = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            results.append(_core_matches(metadata, item))
            continue
        matches = build_metadata_filter_fn(lambda _: metadata, MetadataFilters(filters=[item]))
        try:
            results.append(matches("node"))
        except TypeError:
            results.append(False)
    condition = filters.condition or FilterCondition.AND
    if condition is FilterCondition.AND:
        return all(results)
    if condition is FilterCondition.OR:
        return any(results)
    return not any(results)


def core_filter_ids(nodes: Sequence[BaseNode], filters: MetadataFilters) -> set[str]:
    """The ids llama-index-core selects, checked against ``SimpleVectorStore`` where it can run."""
    expected = {n.node_id for n in nodes if _core_matches(n.metadata, filters)}
    nested = any(isinstance(f, MetadataFilters) for f in filters.filters)
    if not nested:
        simple = SimpleVectorStore()
        simple.add(list(nodes))
        try:
            result = simple.query(VectorStoreQuery(
                query_embedding=[1.0, 0.0, 0.0], similarity_top_k=len(nodes), filters=filters
            ))
        except TypeError:
            pass  # a mixed-type comparison somewhere: compared node by node above
        else:
            assert set(result.ids or []) == expected
    return expected


class LlamaIndexVectorStoreConformance:
    """Behaviour every qdrant-aio LlamaIndex store must have, whatever its connection."""

    @pytest.fixture
    def vector_store(self) -> QdrantVectorStore:  # pragma: no cover - subclasses provide it
        raise NotImplementedError("provide a `vector_store` fixture (enable_hybrid=True)")

    @pytest.fixture
    def dense_store(self, vector_store: QdrantVectorStore) -> QdrantVectorStore:
        """A store without sparse vectors, on the same connection."""
        return QdrantVectorStore(f"dense-{uuid.uuid4().hex}", engine=vector_store.engine)

    def sibling(self, vector_store: QdrantVectorStore, **options: Any) -> QdrantVectorStore:
        return QdrantVectorStore(
            f"sibling-{uuid.uuid4().hex}", engine=vector_store.engine, **options
        )

    # ------------------------------------------------------------------ add / round trip

    def test_add_returns_ids_in_input_order(self, vector_store: QdrantVectorStore) -> None:
        nodes = corpus_nodes()
        assert vector_store.add(nodes) == [n.node_id for n in nodes]
        assert ids_of(vector_store.get_nodes()) == set(CORPUS)

    async def test_async_add_returns_ids_in_input_order(
        self, vector_store: QdrantVectorStore
    ) -> None:
        nodes = corpus_nodes()
        assert await vector_store.async_add(nodes) == [n.node_id for n in nodes]
        assert ids_of(await vector_store.aget_nodes()) == set(CORPUS)

    def test_add_nothing_writes_nothing(self, vector_store: QdrantVectorStore) -> None:
        assert vector_store.add([]) == []
        assert not vector_store.engine.collection_exists(vector_store.collection_name)

    def test_round_trip_through_get_nodes(self, vector_store: QdrantVectorStore) -> None:
        node = rich_node()
        vector_store.add([node])
        (got,) = vector_store.get_nodes([node.node_id])
        assert type(got) is TextNode
        assert dump(got) == dump(node)
        assert got.ref_doc_id == "book-1"
        assert got.embedding == pytest.approx(unit(node.embedding or []))  # cosine: normalised
        for mode in (MetadataMode.ALL, MetadataMode.EMBED, MetadataMode.LLM, MetadataMode.NONE):
            assert got.get_content(metadata_mode=mode) == node.get_content(metadata_mode=mode)

    async def test_round_trip_through_aquery(self, vector_store: QdrantVectorStore) -> None:
        node = rich_node()
        await vector_store.async_add([node])
        result = await vector_store.aquery(
            VectorStoreQuery(query_embedding=node.embedding, similarity_top_k=1)
        )
        assert result.ids == [node.node_id]
        assert result.similarities == [pytest.approx(1.0)]
        assert result.nodes is not None
        assert dump(result.nodes[0]) == dump(node)

    def test_node_classes_round_trip(self, vector_store: QdrantVectorStore) -> None:
        nodes: list[BaseNode] = [
            Document(text="a whole document", id_="doc-7", metadata={"k": "v"},
                     embedding=[1.0, 0.0, 0.0]),
            IndexNode(text="points to an index", index_id="sub-index", id_="idx-1",
                      embedding=[0.0, 1.0, 0.0]),
            TextNode(text="", id_="empty-text", embedding=[0.0, 0.0, 1.0]),
        ]
        vector_store.add(nodes)
        got = {n.node_id: n for n in vector_store.get_nodes()}
        for node in nodes:
            assert type(got[node.node_id]) is type(node)
            assert dump(got[node.node_id]) == dump(node)

    def test_any_string_id_round_trips(self, vector_store: QdrantVectorStore) -> None:
        ids = ["foo", "42", str(uuid.uuid4()), "ünïcödé id/with spaces", "00042"]
        vector_store.add(
            [TextNode(id_=i, text=i, embedding=[1.0, float(n), 0.0]) for n, i in enumerate(ids)]
        )
        assert [n.node_id for n in vector_store.get_nodes(ids)] == ids
        result = vector_store.query(
            VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=10)
        )
        assert set(result.ids or []) == set(ids)
        assert [n.node_id for n in result.nodes or []] == result.ids

    def test_re_adding_an_id_overwrites(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add([TextNode(id_="same", text="old", embedding=[1.0, 0.0])])
        vector_store.add([TextNode(id_="same", text="new", embedding=[0.0, 1.0])])
        nodes = vector_store.get_nodes()
        assert [(n.node_id, n.get_content()) for n in nodes] == [("same", "new")]

    def test_duplicate_ids_in_one_call_last_wins(self, vector_store: QdrantVectorStore) -> None:
        nodes = [TextNode(id_="d", text=t, embedding=[1.0, 0.0]) for t in ("first", "last")]
        assert vector_store.add(nodes) == ["d", "d"]
        assert [n.get_content() for n in vector_store.get_nodes()] == ["last"]

    def test_text_is_stored_once_and_metadata_exactly(
        self, vector_store: QdrantVectorStore
    ) -> None:
        node = rich_node()
        vector_store.add([node])
        (hit,) = vector_store.engine.scroll_all(vector_store.collection_name)
        payload = hit.payload
        assert payload["page_content"] == node.text
        assert payload["metadata"] == node.metadata
        assert payload["ref_doc_id"] == "book-1"
        assert node.text not in json.dumps(payload["llama_node"])
        assert set(payload) == {
            "page_content", "metadata", "ref_doc_id", "llama_node", "metadata_caseless"
        }
        assert payload["metadata_caseless"] == caseless_copy(node.metadata)

    def test_node_without_embedding_raises_before_writing(
        self, vector_store: QdrantVectorStore
    ) -> None:
        nodes = corpus_nodes()
        nodes.append(TextNode(id_="bare", text="no vector"))
        with pytest.raises(InvalidInputError, match="bare"):
            vector_store.add(nodes)
        assert vector_store.get_nodes() == []

    def test_dimension_mismatch_raises(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add([TextNode(id_="a", text="a", embedding=[1.0, 0.0])])
        with pytest.raises(DimensionMismatchError):
            vector_store.add([TextNode(id_="b", text="b", embedding=[1.0, 0.0, 0.0])])
        assert ids_of(vector_store.get_nodes()) == {"a"}

    def test_unknown_add_option_raises(self, vector_store: QdrantVectorStore) -> None:
        with pytest.raises(InvalidInputError, match="shard_identifier"):
            vector_store.add(corpus_nodes(), shard_identifier="x")

    # ------------------------------------------------------------------ query modes

    def test_default_mode_ranks_by_dense_similarity(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        result = vector_store.query(ask("black holes", similarity_top_k=2))
        assert set(result.ids or []) == {"space-1", "space-2"}
        assert result.similarities == sorted(result.similarities or [], reverse=True)
        assert [n.node_id for n in result.nodes or []] == result.ids
        assert all(n.get_content() == CORPUS[n.node_id][0] for n in result.nodes or [])

    async def test_similarity_top_k_is_honoured(self, vector_store: QdrantVectorStore) -> None:
        await vector_store.async_add(corpus_nodes())
        for k in (1, 3, 6):
            result = await vector_store.aquery(ask("cats", similarity_top_k=k))
            assert len(result.ids or []) == k

    def test_sparse_mode_is_keyword_search(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        result = vector_store.query(ask("yeast", mode=VectorStoreQueryMode.SPARSE))
        assert result.ids == ["food-1"]  # BM25: only documents with the term score
        result = vector_store.query(
            ask("bread", mode=VectorStoreQueryMode.SPARSE, similarity_top_k=5, sparse_top_k=1)
        )
        assert len(result.ids or []) == 1 and (result.ids or [""])[0].startswith("food")

    async def test_text_search_mode_is_bm25(self, vector_store: QdrantVectorStore) -> None:
        await vector_store.async_add(corpus_nodes())
        result = await vector_store.aquery(ask("cats", mode=VectorStoreQueryMode.TEXT_SEARCH))
        assert set(result.ids or []) == {"pets-1", "pets-2"}
        assert all(s > 0 for s in result.similarities or [])

    def test_hybrid_fuses_both_branches(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        text = "cats bread"
        dense = vector_store.query(ask(text, similarity_top_k=2)).ids or []
        sparse = vector_store.query(
            ask(text, mode=VectorStoreQueryMode.SPARSE, similarity_top_k=2)
        ).ids or []
        hybrid = vector_store.query(
            ask(text, mode=VectorStoreQueryMode.HYBRID, similarity_top_k=2, sparse_top_k=2,
                hybrid_top_k=10)
        )
        # Branch depths 2 and 2, final k 10: exactly the union of both branches.
        assert set(hybrid.ids or []) == set(dense) | set(sparse)
        assert hybrid.similarities == sorted(hybrid.similarities or [], reverse=True)

    def test_hybrid_top_k_is_the_number_of_results(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        for final in (1, 3):
            result = vector_store.query(
                ask("cats bread", mode=VectorStoreQueryMode.HYBRID, similarity_top_k=4,
                    hybrid_top_k=final)
            )
            assert len(result.ids or []) == final
        result = vector_store.query(
            ask("cats bread", mode=VectorStoreQueryMode.HYBRID, similarity_top_k=3)
        )
        assert len(result.ids or []) == 3  # hybrid_top_k defaults to similarity_top_k

    def test_hybrid_ranks_a_match_of_both_branches_first(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        result = vector_store.query(ask("yeast ferments sugar", mode=VectorStoreQueryMode.HYBRID))
        assert (result.ids or [""])[0] == "food-1"

    def test_hybrid_alpha_one_and_zero_are_single_branches(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        text = "cats bread"
        dense = vector_store.query(ask(text, similarity_top_k=3)).ids
        sparse = vector_store.query(
            ask(text, mode=VectorStoreQueryMode.SPARSE, similarity_top_k=2)
        ).ids
        only_dense = vector_store.query(
            ask(text, mode=VectorStoreQueryMode.HYBRID, alpha=1.0, similarity_top_k=3,
                sparse_top_k=2, hybrid_top_k=5)
        )
        only_sparse = vector_store.query(
            ask(text, mode=VectorStoreQueryMode.HYBRID, alpha=0.0, similarity_top_k=3,
                sparse_top_k=2, hybrid_top_k=5)
        )
        assert only_dense.ids == dense
        assert only_sparse.ids == sparse
        equal = vector_store.query(ask(text, mode=VectorStoreQueryMode.HYBRID, alpha=0.5))
        default = vector_store.query(ask(text, mode=VectorStoreQueryMode.HYBRID))
        assert equal.ids == default.ids

    def test_hybrid_alpha_weighs_the_branches(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        text = "cats bread"
        dense_top = (vector_store.query(ask(text, similarity_top_k=1)).ids or [""])[0]
        sparse_top = (vector_store.query(
            ask(text, mode=VectorStoreQueryMode.SPARSE, similarity_top_k=1)
        ).ids or [""])[0]
        assert dense_top != sparse_top  # the two branches disagree on this query

        def top(alpha: float) -> str:
            result = vector_store.query(ask(
                text, mode=VectorStoreQueryMode.HYBRID, alpha=alpha, similarity_top_k=3,
                hybrid_top_k=1,
            ))
            return (result.ids or [""])[0]

        assert top(0.9) == dense_top
        assert top(0.1) == sparse_top

    @pytest.mark.parametrize("alpha", [1.5, -0.1])
    def test_hybrid_alpha_out_of_range_raises(
        self, vector_store: QdrantVectorStore, alpha: float
    ) -> None:
        vector_store.add(corpus_nodes())
        with pytest.raises(InvalidInputError, match="alpha"):
            vector_store.query(ask("cats", mode=VectorStoreQueryMode.HYBRID, alpha=alpha))

    def test_hybrid_alpha_weights_need_rrf(self, vector_store: QdrantVectorStore) -> None:
        dbsf = self.sibling(vector_store, enable_hybrid=True, fusion="dbsf")
        dbsf.add(corpus_nodes())
        with pytest.raises(InvalidInputError, match="weighted RRF"):
            dbsf.query(ask("cats", mode=VectorStoreQueryMode.HYBRID, alpha=0.3))
        assert dbsf.query(ask("cats", mode=VectorStoreQueryMode.HYBRID, alpha=0.5)).ids

    def test_mmr_threshold_trades_relevance_for_diversity(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add([
            TextNode(id_="x1", text="x1", embedding=[1.0, 0.0, 0.0]),
            TextNode(id_="x2", text="x2", embedding=[1.0, 0.0, 0.01]),
            TextNode(id_="y", text="y", embedding=[0.8, 0.6, 0.0]),
            TextNode(id_="z", text="z", embedding=[0.0, 0.0, 1.0]),
        ])

        def mmr(threshold: float | None) -> list[str]:
            return vector_store.query(VectorStoreQuery(
                query_embedding=[1.0, 0.2, 0.0], similarity_top_k=2,
                mode=VectorStoreQueryMode.MMR, mmr_threshold=threshold,
            )).ids or []

        plain = vector_store.query(
            VectorStoreQuery(query_embedding=[1.0, 0.2, 0.0], similarity_top_k=2)
        ).ids
        assert mmr(1.0) == plain == ["x1", "x2"]  # 1 = pure relevance
        assert mmr(0.5) == ["x1", "y"]  # the near-duplicate x2 gives way
        assert mmr(None) == mmr(0.5)

        # LlamaIndex's own way: a retriever passes it as a keyword (vector_store_kwargs), which
        # wins over the query's field, as in llama-index-core's SimpleVectorStore.
        def by_keyword(threshold: float) -> list[str]:
            return vector_store.query(VectorStoreQuery(
                query_embedding=[1.0, 0.2, 0.0], similarity_top_k=2,
                mode=VectorStoreQueryMode.MMR, mmr_threshold=0.5,
            ), mmr_threshold=threshold).ids or []

        assert by_keyword(1.0) == ["x1", "x2"] and by_keyword(0.5) == ["x1", "y"]
        index = VectorStoreIndex.from_vector_store(vector_store, embed_model=MockEmbedding(3))
        retriever = index.as_retriever(
            similarity_top_k=2, vector_store_query_mode="mmr",
            vector_store_kwargs={"mmr_threshold": 1.0},
        )
        assert len(retriever.retrieve("anything")) == 2

    def test_search_params_and_consistency_are_taken_as_there(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        plain = vector_store.query(ask("cats")).ids
        for read in (
            {"search_params": models.SearchParams(hnsw_ef=32, exact=True)},
            {"search_params": {"exact": True}, "consistency": "majority"},
        ):
            assert vector_store.query(ask("cats"), **read).ids == plain
        with pytest.raises(InvalidInputError, match="consistency"):
            vector_store.query(ask("cats"), consistency=0)
        assert len(vector_store.get_nodes(None, None, 2)) == 2  # limit, third as there

    @pytest.mark.parametrize(
        "mode",
        [VectorStoreQueryMode.SEMANTIC_HYBRID, VectorStoreQueryMode.SVM,
         VectorStoreQueryMode.LOGISTIC_REGRESSION, VectorStoreQueryMode.LINEAR_REGRESSION],
    )
    def test_unsupported_modes_raise(
        self, vector_store: QdrantVectorStore, mode: VectorStoreQueryMode
    ) -> None:
        vector_store.add(corpus_nodes())
        with pytest.raises(InvalidInputError, match=mode.value):
            vector_store.query(ask("cats", mode=mode))

    @pytest.mark.parametrize(
        "mode",
        [VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.TEXT_SEARCH,
         VectorStoreQueryMode.HYBRID],
    )
    def test_sparse_modes_need_hybrid_enabled(
        self, dense_store: QdrantVectorStore, mode: VectorStoreQueryMode
    ) -> None:
        dense_store.add(corpus_nodes())
        with pytest.raises(ConfigurationError, match="enable_hybrid"):
            dense_store.query(ask("cats", mode=mode))

    def test_dense_store_works_on_its_own(self, dense_store: QdrantVectorStore) -> None:
        dense_store.add(corpus_nodes())
        assert dense_store.query(ask("cats sleep", similarity_top_k=1)).ids == ["pets-1"]
        assert dense_store.query(
            ask("cats", mode=VectorStoreQueryMode.MMR, similarity_top_k=2)
        ).ids

    def test_hybrid_store_rejects_a_dense_only_collection(
        self, dense_store: QdrantVectorStore
    ) -> None:
        dense_store.add(corpus_nodes())
        hybrid = QdrantVectorStore(
            dense_store.collection_name, engine=dense_store.engine, enable_hybrid=True
        )
        with pytest.raises(CollectionMismatchError, match="sparse"):
            hybrid.add(corpus_nodes())
        assert hybrid.query(ask("cats", similarity_top_k=1)).ids  # dense reads still work

    def test_missing_query_inputs_raise(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        with pytest.raises(InvalidInputError, match="query_embedding"):
            vector_store.query(VectorStoreQuery(query_str="cats"))
        with pytest.raises(InvalidInputError, match="query_str"):
            vector_store.query(VectorStoreQuery(
                query_embedding=EMBED.get_query_embedding("cats"),
                mode=VectorStoreQueryMode.SPARSE,
            ))

    def test_unknown_query_option_raises(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        with pytest.raises(InvalidInputError, match="search_parameters"):
            vector_store.query(ask("cats"), search_parameters={"hnsw_ef": 8})
        with pytest.raises(InvalidInputError, match="qdrant_filters"):
            vector_store.query(ask("cats"), qdrant_filters={"must": []})

    def test_doc_ids_node_ids_filters_and_raw_filter_combine_with_and(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())

        def run(**options: Any) -> set[str]:
            raw = options.pop("qdrant_filters", None)
            extra = {"qdrant_filters": raw} if raw is not None else {}
            return set(vector_store.query(ask("anything", **options), **extra).ids or [])

        assert run(doc_ids=["doc-pets", "doc-food"]) == {"pets-1", "pets-2", "food-1", "food-2"}
        assert run(node_ids=["space-1", "pets-2"]) == {"space-1", "pets-2"}
        assert run(doc_ids=["doc-pets"], node_ids=["pets-2", "space-1"]) == {"pets-2"}
        only_n1 = MetadataFilters(filters=[MetadataFilter(key="n", value=1)])
        assert run(doc_ids=["doc-pets", "doc-food"], filters=only_n1) == {"pets-1", "food-1"}
        raw = models.Filter(must=[models.FieldCondition(
            key="metadata.topic", match=models.MatchValue(value="food")
        )])
        assert run(qdrant_filters=raw) == {"food-1", "food-2"}
        assert run(qdrant_filters=raw, filters=only_n1, node_ids=["food-1", "pets-1"]) == {
            "food-1"
        }
        # Empty lists restrict nothing: VectorStoreIndex.as_retriever() passes node_ids=[].
        assert run(doc_ids=[], node_ids=[]) == set(CORPUS)
        assert run(filters=MetadataFilters(filters=[])) == set(CORPUS)  # core: no filter

    def test_filters_apply_in_every_mode(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        only_pets = MetadataFilters(filters=[MetadataFilter(key="topic", value="pets")])
        for mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.SPARSE,
                     VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.HYBRID,
                     VectorStoreQueryMode.MMR):
            result = vector_store.query(ask("cats bread holes", mode=mode, filters=only_pets))
            assert result.ids and set(result.ids) <= {"pets-1", "pets-2"}, mode

    def test_score_threshold_option(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        everything = vector_store.query(ask("black holes"))
        scores = everything.similarities or []
        assert scores[1] > scores[2]
        cut = (scores[1] + scores[2]) / 2
        result = vector_store.query(ask("black holes"), score_threshold=cut)
        assert len(result.ids or []) == 2

    async def test_query_before_any_add_is_empty(self, vector_store: QdrantVectorStore) -> None:
        for mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.HYBRID):
            result = await vector_store.aquery(ask("cats", mode=mode))
            assert (result.nodes, result.similarities, result.ids) == ([], [], [])
        assert await vector_store.aget_nodes() == []

    # ------------------------------------------------------------------ filters

    @pytest.mark.parametrize("case", sorted(FILTER_CASES))
    def test_filter_matches_llama_index_core(
        self, vector_store: QdrantVectorStore, case: str
    ) -> None:
        nodes = filter_nodes()
        filters = FILTER_CASES[case]
        expected = core_filter_ids(nodes, filters)
        vector_store.add(nodes)
        assert ids_of(vector_store.get_nodes(filters=filters)) == expected
        result = vector_store.query(
            VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=len(nodes),
                             filters=filters)
        )
        assert set(result.ids or []) == expected

    def test_random_filters_match_llama_index_core(
        self, vector_store: QdrantVectorStore
    ) -> None:
        rng = random.Random(20240611)
        keys = ["k1", "k2", "k.3"]
        stored = [
            "a", "b", "ab", "A", "", 0, 1, 2, 1.5, -1, True, False, None,
            ["a"], ["a", "b"], [1, 2], [], {"x": 1}, [1.5], [True],
        ]
        asked = ["a", "b", "ab", "A", "", 0, 1, 2, 1.5, -1, ["a"], ["a", "b"], [1, 2], [1.5]]
        nodes = [
            TextNode(
                id_=f"r{i}", text="t", embedding=[1.0, float(i), 0.0],
                metadata={k: rng.choice(stored) for k in keys if rng.random() < 0.8},
            )
            for i in range(40)
        ]
        vector_store.add(nodes)

        def leaf() -> MetadataFilter:
            while True:
                op = rng.choice(list(FilterOperator))
                value = None if op is Op.IS_EMPTY else rng.choice(asked)
                try:
                    return MetadataFilter(key=rng.choice(keys), operator=op, value=value)
                except ValueError:  # a value type MetadataFilter itself rejects
                    continue

        def group(depth: int) -> MetadataFilters:
            items: list[Any] = [
                group(depth + 1) if depth < 2 and rng.random() < 0.25 else leaf()
                for _ in range(rng.randint(1, 3))
            ]
            return MetadataFilters(filters=items, condition=rng.choice(list(FilterCondition)))

        translated = 0
        for _ in range(300):
            filters = group(0) if rng.random() < 0.3 else MetadataFilters(filters=[leaf()])
            expected = {n.node_id for n in nodes if _core_matches(n.metadata, filters)}
            try:
                got = ids_of(vector_store.get_nodes(filters=filters))
            except InvalidFilterError:
                continue  # refused, never approximated
            translated += 1
            assert got == expected, filters
        assert translated >= 90, translated  # the test must stay meaningful

    def test_every_operator_and_condition_is_covered(self) -> None:
        def walk(filters: MetadataFilters) -> tuple[set[Any], set[Any]]:
            ops: set[Any] = set()
            conditions = {filters.condition}
            for f in filters.filters:
                if isinstance(f, MetadataFilters):
                    more_ops, more_conditions = walk(f)
                    ops |= more_ops
                    conditions |= more_conditions
                else:
                    ops.add(f.operator)
            return ops, conditions

        ops: set[Any] = set()
        conditions: set[Any] = set()
        for filters in FILTER_CASES.values():
            more_ops, more_conditions = walk(filters)
            ops |= more_ops
            conditions |= more_conditions
        assert ops == set(FilterOperator)
        assert conditions == set(FilterCondition)

    def test_untranslatable_filter_raises_instead_of_matching_all(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(filter_nodes())
        # Qdrant has no ordering of strings: this cannot be translated exactly.
        insensitive = MetadataFilters(
            filters=[MetadataFilter(key="title", operator=Op.GT, value="cat")]
        )
        with pytest.raises(InvalidFilterError):
            vector_store.get_nodes(filters=insensitive)
        with pytest.raises(InvalidFilterError):
            vector_store.query(ask("x", filters=insensitive))
        with pytest.raises(InvalidFilterError):
            vector_store.delete_nodes(filters=insensitive)
        assert len(vector_store.get_nodes()) == len(FILTER_METADATA)

    # ------------------------------------------------------------------ get / delete / clear

    def test_get_nodes_with_ids_and_filters_is_their_intersection(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        pets = MetadataFilters(filters=[MetadataFilter(key="topic", value="pets")])
        got = vector_store.get_nodes(node_ids=["pets-1", "food-1", "nope"], filters=pets)
        assert ids_of(got) == {"pets-1"}
        assert vector_store.get_nodes(node_ids=[]) == []
        assert ids_of(vector_store.get_nodes(filters=pets)) == {"pets-1", "pets-2"}

    def test_get_nodes_keeps_the_order_asked(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        order = ["food-2", "space-1", "pets-1", "food-1"]
        assert [n.node_id for n in vector_store.get_nodes(order)] == order

    async def test_get_nodes_returns_every_match(self, vector_store: QdrantVectorStore) -> None:
        count = 1100  # more than one scroll page
        await vector_store.async_add(
            [TextNode(id_=f"n{i}", text=f"t{i}", embedding=[1.0, i / count]) for i in range(count)]
        )
        assert len(await vector_store.aget_nodes()) == count
        assert len(vector_store.get_nodes(limit=1050)) == 1050
        with pytest.raises(InvalidInputError, match="limit"):
            await vector_store.aget_nodes(limit=0)

    def test_delete_nodes_with_ids_and_filters_is_their_intersection(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        pets = MetadataFilters(filters=[MetadataFilter(key="topic", value="pets")])
        vector_store.delete_nodes(node_ids=["pets-1", "food-1"], filters=pets)
        assert ids_of(vector_store.get_nodes()) == set(CORPUS) - {"pets-1"}
        vector_store.delete_nodes(node_ids=["space-1", "space-2"])
        vector_store.delete_nodes(filters=MetadataFilters(
            filters=[MetadataFilter(key="n", value=2)]
        ))
        assert ids_of(vector_store.get_nodes()) == {"food-1"}
        vector_store.delete_nodes(node_ids=[])
        assert ids_of(vector_store.get_nodes()) == {"food-1"}

    async def test_delete_nodes_without_ids_or_filters_raises(
        self, vector_store: QdrantVectorStore
    ) -> None:
        await vector_store.async_add(corpus_nodes())
        with pytest.raises(InvalidInputError, match="clear"):
            await vector_store.adelete_nodes()
        with pytest.raises(InvalidInputError):
            vector_store.delete_nodes(filters=MetadataFilters(filters=[]))
        assert len(await vector_store.aget_nodes()) == len(CORPUS)

    def test_delete_by_ref_doc_id_removes_only_that_document(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        vector_store.delete("doc-pets")
        assert ids_of(vector_store.get_nodes()) == set(CORPUS) - {"pets-1", "pets-2"}
        vector_store.delete("no-such-doc")
        assert len(vector_store.get_nodes()) == len(CORPUS) - 2
        with pytest.raises(InvalidInputError):
            vector_store.delete("")

    def test_clear_then_query_is_empty_and_add_works_again(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())
        vector_store.clear()
        for mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.SPARSE,
                     VectorStoreQueryMode.HYBRID, VectorStoreQueryMode.MMR):
            result = vector_store.query(ask("cats", mode=mode))
            assert (result.nodes, result.similarities, result.ids) == ([], [], []), mode
        assert vector_store.get_nodes() == []
        vector_store.delete("doc-pets")  # deleting from nothing is a no-op
        vector_store.clear()  # and clearing twice too
        vector_store.add(corpus_nodes()[:2])
        assert len(vector_store.get_nodes()) == 2

    # ------------------------------------------------------------------ sync / async parity

    async def test_sync_and_async_twins_agree(self, vector_store: QdrantVectorStore) -> None:
        twin = self.sibling(vector_store, enable_hybrid=True)
        nodes = corpus_nodes()
        assert vector_store.add(nodes) == await twin.async_add(nodes)
        for query in (ask("cats"), ask("bread", mode=VectorStoreQueryMode.HYBRID),
                      ask("holes", mode=VectorStoreQueryMode.SPARSE),
                      ask("cats", mode=VectorStoreQueryMode.MMR, similarity_top_k=3)):
            sync_result = vector_store.query(query)
            async_result = await twin.aquery(query)
            assert sync_result.ids == async_result.ids
            assert sync_result.similarities == pytest.approx(async_result.similarities)
            assert [dump(n) for n in sync_result.nodes or []] == [
                dump(n) for n in async_result.nodes or []
            ]
        assert [dump(n) for n in vector_store.get_nodes()] == [
            dump(n) for n in await twin.aget_nodes()
        ]
        vector_store.delete("doc-food")
        await twin.adelete("doc-food")
        vector_store.delete_nodes(["space-1"])
        await twin.adelete_nodes(["space-1"])
        assert ids_of(vector_store.get_nodes()) == ids_of(await twin.aget_nodes()) == {
            "space-2", "pets-1", "pets-2"
        }
        vector_store.clear()
        await twin.aclear()
        assert vector_store.get_nodes() == await twin.aget_nodes() == []

    async def test_sync_methods_work_inside_a_running_loop(
        self, vector_store: QdrantVectorStore
    ) -> None:
        vector_store.add(corpus_nodes())  # a sync call from async code: no deadlock
        assert vector_store.query(ask("cats sleep", similarity_top_k=1)).ids == ["pets-1"]
        assert (await vector_store.aquery(ask("cats sleep", similarity_top_k=1))).ids == [
            "pets-1"
        ]

    # ------------------------------------------------------------------ llama-index-core end to end

    def test_index_from_vector_store_retrieve(self, vector_store: QdrantVectorStore) -> None:
        vector_store.add(corpus_nodes())
        index = VectorStoreIndex.from_vector_store(vector_store, embed_model=EMBED)
        hits = index.as_retriever(similarity_top_k=2).retrieve("black holes")
        assert {h.node.node_id for h in hits} == {"space-1", "space-2"}
        assert all(h.node.ref_doc_id == "doc-space" for h in hits)
        hybrid = index.as_retriever(
            vector_store_query_mode="hybrid", similarity_top_k=2, sparse_top_k=2
        ).retrieve("yeast")
        assert hybrid[0].node.node_id == "food-1"

    async def test_index_from_vector_store_aretrieve_and_aquery(
        self, vector_store: QdrantVectorStore
    ) -> None:
        await vector_store.async_add(corpus_nodes())
        index = VectorStoreIndex.from_vector_store(vector_store, embed_model=EMBED)
        hits = await index.as_retriever(similarity_top_k=1).aretrieve("cats sleep")
        assert [h.node.node_id for h in hits] == ["pets-1"]
        assert hits[0].score == pytest.approx(max(
            (await vector_store.aquery(ask("cats sleep"))).similarities or [0.0]
        ))
        engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=2)
        response = await engine.aquery("bread")
        assert {s.node.node_id for s in response.source_nodes} == {"food-1", "food-2"}
        assert str(response)

    def test_ingestion_pipeline_run(self, vector_store: QdrantVectorStore) -> None:
        pipeline = IngestionPipeline(
            transformations=[
                SentenceSplitter(chunk_size=40, chunk_overlap=0),
                MockEmbedding(embed_dim=8),
            ],
            vector_store=vector_store,
        )
        text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(30))
        nodes = pipeline.run(documents=[Document(text=text, id_="long-doc")])
        assert len(nodes) > 1
        stored = vector_store.get_nodes()
        assert ids_of(stored) == ids_of(nodes)
        assert all(n.ref_doc_id == "long-doc" for n in stored)
        index = VectorStoreIndex.from_vector_store(vector_store, embed_model=MockEmbedding(8))
        assert len(index.as_retriever(similarity_top_k=3).retrieve("topic")) == 3

    async def test_ingestion_pipeline_arun(self, vector_store: QdrantVectorStore) -> None:
        pipeline = IngestionPipeline(
            transformations=[
                SentenceSplitter(chunk_size=40, chunk_overlap=0),
                MockEmbedding(embed_dim=8),
            ],
            vector_store=vector_store,
        )
        docs = [
            Document(text=" ".join(f"Doc {d} sentence {i}." for i in range(20)), id_=f"doc-{d}")
            for d in range(3)
        ]
        nodes = await pipeline.arun(documents=docs)
        stored = await vector_store.aget_nodes()
        assert ids_of(stored) == ids_of(nodes)
        assert {n.ref_doc_id for n in stored} == {"doc-0", "doc-1", "doc-2"}
        await vector_store.adelete("doc-1")
        assert {n.ref_doc_id for n in await vector_store.aget_nodes()} == {"doc-0", "doc-2"}

    def test_vector_store_index_use_async(self, vector_store: QdrantVectorStore) -> None:
        index = VectorStoreIndex(
            corpus_nodes(),
            storage_context=StorageContext.from_defaults(vector_store=vector_store),
            use_async=True,
            embed_model=EMBED,
        )
        assert ids_of(vector_store.get_nodes()) == set(CORPUS)
        hits = index.as_retriever(similarity_top_k=1).retrieve("galaxies orbit")
        assert [h.node.node_id for h in hits] == ["space-2"]
        index.delete_ref_doc("doc-space")
        assert ids_of(vector_store.get_nodes()) == set(CORPUS) - {"space-1", "space-2"}

    async def test_vector_store_index_insert_nodes_async(
        self, vector_store: QdrantVectorStore
    ) -> None:
        index = VectorStoreIndex.from_vector_store(vector_store, embed_model=EMBED)
        await index.ainsert_nodes([TextNode(id_=i, text=t) for i, (t, _) in CORPUS.items()])
        hits = await index.as_retriever(similarity_top_k=1).aretrieve("cheese lunch")
        assert [h.node.node_id for h in hits] == ["food-2"]

