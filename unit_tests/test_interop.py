"""One engine, one collection, both adapters; and collections written by the public packages.

* Documents added through the LangChain store are searched, filtered, fetched by id and deleted
  through the LlamaIndex store, and nodes added through the LlamaIndex store (with ref_doc_id and
  relationships) through the LangChain store: dense and hybrid, both stores on their defaults.
* Collections written by langchain-qdrant 1.1.0 and by llama-index-vector-stores-qdrant 0.10.4
  are read (search, metadata filters, ids, deletes) through BOTH adapters, dense and hybrid.
* Flat payloads (text under "text", metadata at the top level, as a script of one's own writes
  them) are read, filtered and extended by both adapters.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import langchain_qdrant
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.vector_stores.qdrant import QdrantVectorStore as PublicLlamaIndexStore
from qdrant_client import QdrantClient, models

from qdrant_aio import QdrantEngine
from qdrant_aio.engine import engine_for
from qdrant_aio.errors import InvalidInputError
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

EMB = DeterministicFakeEmbedding(size=8)
TEXTS = ["apples are red", "bananas are yellow", "cherries are red", "the xylocarp is rare"]
METADATAS: list[dict[str, Any]] = [
    {"fruit": "apple", "colour": "red", "price": 3, "tags": ["tree"]},
    {"fruit": "banana", "colour": "yellow", "price": 1, "tags": ["plant"]},
    {"fruit": "cherry", "colour": "red", "price": 8, "nested": {"size": "s"}},
    {"fruit": "xylocarp", "colour": "brown", "price": 5},
]
# Any string id: a plain word, a UUID and an unsigned integer spelled as a string.
IDS = ["apple", "1f0e3d6a-9c1b-4d2e-8f3a-5b6c7d8e9f01", "cherry", "42"]


def vector(text: str) -> list[float]:
    return EMB.embed_query(text)


def red(ids: list[str] | None) -> set[str]:
    return set(ids or [])


def filter_red() -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key="colour", value="red")])


# ---------------------------------------------------------------------- one collection, both


@pytest.fixture(params=["dense", "hybrid"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[LangChainStore, LlamaIndexStore]]:
    """Both adapters on one engine and one collection, each on its defaults."""
    engine = QdrantEngine()
    hybrid = request.param == "hybrid"
    lc = LangChainStore(client=engine, collection_name="shared", embedding=EMB,
                        retrieval_mode=request.param)
    li = LlamaIndexStore("shared", engine=engine, enable_hybrid=hybrid)
    yield lc, li
    engine.close()


def li_search(li: LlamaIndexStore, text: str, k: int = 1, **fields: Any) -> VectorStoreQuery:
    mode = VectorStoreQueryMode.HYBRID if li.enable_hybrid else VectorStoreQueryMode.DEFAULT
    return VectorStoreQuery(query_embedding=vector(text), query_str=text, similarity_top_k=k,
                            mode=mode, **fields)


async def test_langchain_documents_through_llama_index(
    pair: tuple[LangChainStore, LlamaIndexStore],
) -> None:
    lc, li = pair
    assert await lc.aadd_texts(TEXTS, METADATAS, ids=IDS) == IDS  # creates the collection

    # found
    for text, doc_id, metadata in zip(TEXTS, IDS, METADATAS, strict=True):
        result = await li.aquery(li_search(li, text))
        assert result.ids == [doc_id]
        (node,) = result.nodes or []
        assert node.node_id == doc_id and node.get_content() == text
        assert node.metadata == metadata and node.ref_doc_id is None
    # filtered
    assert red((await li.aquery(li_search(li, "red", k=4, filters=filter_red()))).ids) == {
        IDS[0], IDS[2]
    }
    cheap = MetadataFilters(filters=[
        MetadataFilter(key="price", operator=FilterOperator.LT, value=4),
        MetadataFilter(key="tags", operator=FilterOperator.CONTAINS, value="tree"),
    ], condition=FilterCondition.OR)
    assert {n.node_id for n in await li.aget_nodes(filters=cheap)} == {IDS[0], IDS[1]}
    # fetched by id, in the order asked
    fetched = await li.aget_nodes(node_ids=[IDS[3], IDS[1]])
    assert [n.node_id for n in fetched] == [IDS[3], IDS[1]]
    assert [n.get_content() for n in fetched] == [TEXTS[3], TEXTS[1]]
    assert all(n.embedding is not None and len(n.embedding) == 8 for n in fetched)
    # deleted, by id and by filter; LangChain sees it
    await li.adelete_nodes(node_ids=[IDS[1]])
    await li.adelete_nodes(filters=filter_red())
    assert [d.id for d in await lc.aget_by_ids(IDS)] == [IDS[3]]
    if li.enable_hybrid:  # the sparse vectors LangChain wrote serve LlamaIndex's sparse search
        sparse = await li.aquery(VectorStoreQuery(query_str="xylocarp", similarity_top_k=3,
                                                  mode=VectorStoreQueryMode.SPARSE))
        assert sparse.ids == [IDS[3]]


def llama_nodes() -> list[TextNode]:
    nodes = [
        TextNode(
            id_=doc_id, text=text, metadata=metadata, embedding=vector(text),
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"source-{i % 2}")},
            excluded_llm_metadata_keys=["price"],
        )
        for i, (text, doc_id, metadata) in enumerate(zip(TEXTS, IDS, METADATAS, strict=True))
    ]
    nodes[0].relationships[NodeRelationship.NEXT] = RelatedNodeInfo(node_id=IDS[1])
    nodes[1].relationships[NodeRelationship.PREVIOUS] = RelatedNodeInfo(node_id=IDS[0])
    return nodes


async def test_llama_index_nodes_through_langchain(
    pair: tuple[LangChainStore, LlamaIndexStore],
) -> None:
    lc, li = pair
    await li.async_add(llama_nodes())  # creates the collection

    # found: Document.metadata is exactly the node's metadata, Document.id the node id
    for text, doc_id, metadata in zip(TEXTS, IDS, METADATAS, strict=True):
        (doc,) = await lc.asimilarity_search(text, k=1)
        assert doc == Document(page_content=text, metadata=metadata, id=doc_id)
    # filtered (the portable dict syntax, on the node's metadata keys)
    found = await lc.asimilarity_search("fruit", k=4, filter={"colour": "red"})
    assert {d.id for d in found} == {IDS[0], IDS[2]}
    nested = await lc.asimilarity_search("fruit", k=4, filter={"nested.size": "s"})
    assert [d.id for d in nested] == [IDS[2]]
    ranged = await lc.asimilarity_search("fruit", k=4, filter={"price": {"$between": [3, 5]}})
    assert {d.id for d in ranged} == {IDS[0], IDS[3]}
    # fetched by id
    assert await lc.aget_by_ids([IDS[2], "missing", IDS[0]]) == [
        Document(page_content=TEXTS[2], metadata=METADATAS[2], id=IDS[2]),
        Document(page_content=TEXTS[0], metadata=METADATAS[0], id=IDS[0]),
    ]
    if lc.retrieval_mode.value == "hybrid":
        sparse_only = LangChainStore(client=lc.engine, collection_name="shared",
                                     retrieval_mode="sparse")
        assert [d.id for d in await sparse_only.asimilarity_search("xylocarp")] == [IDS[3]]
    # deleted through LangChain, by id and by filter
    await lc.adelete([IDS[1]])
    await lc.adelete(filter={"fruit": "xylocarp"})
    left = await li.aget_nodes()
    assert {n.node_id for n in left} == {IDS[0], IDS[2]}
    # what LlamaIndex stored beside the text and metadata is untouched by LangChain's reads
    by_id = {n.node_id: n for n in left}
    assert by_id[IDS[0]].relationships[NodeRelationship.NEXT].node_id == IDS[1]
    assert by_id[IDS[0]].excluded_llm_metadata_keys == ["price"]
    await li.adelete("source-0")  # ref_doc_id still indexed and used
    assert await lc.aget_by_ids(IDS) == []


async def test_a_node_rewritten_through_langchain_becomes_a_plain_document(
    pair: tuple[LangChainStore, LlamaIndexStore],
) -> None:
    """Decision: a LangChain write replaces the point (upsert); LlamaIndex extras are not kept.

    LangChain's Document has no place for relationships or ref_doc_id, and keeping them would
    need a read before every write. The node keeps its id, text and metadata, nothing else.
    """
    lc, li = pair
    await li.async_add(llama_nodes())
    (doc,) = await lc.aget_by_ids([IDS[0]])
    doc.metadata["checked"] = True
    assert await lc.aadd_documents([doc]) == [IDS[0]]
    (node,) = await li.aget_nodes(node_ids=[IDS[0]])
    assert node.node_id == IDS[0] and node.get_content() == TEXTS[0]
    assert node.metadata == {**METADATAS[0], "checked": True}
    assert node.ref_doc_id is None and NodeRelationship.NEXT not in node.relationships
    await li.adelete("source-0")  # deletes the other node of that source, not the rewritten one
    assert {n.node_id for n in await li.aget_nodes()} == {IDS[0], IDS[1], IDS[3]}


# ---------------------------------------------------------------------- the public packages


def word_sparse(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """llama-index-vector-stores-qdrant's sparse function signature; a bag of hashed words."""
    indices, values = [], []
    for text in texts:
        counts = Counter(zlib.crc32(w.encode()) % 50_000 for w in text.lower().split())
        keys = sorted(counts)
        indices.append(keys)
        values.append([float(counts[k]) for k in keys])
    return indices, values


class WordSparse(langchain_qdrant.SparseEmbeddings):
    """The same bag of words as a langchain-qdrant SparseEmbeddings (sync methods only)."""

    def embed_documents(self, texts: list[str]) -> list[langchain_qdrant.SparseVector]:
        indices, values = word_sparse(texts)
        return [langchain_qdrant.SparseVector(indices=i, values=v)
                for i, v in zip(indices, values, strict=True)]

    def embed_query(self, text: str) -> langchain_qdrant.SparseVector:
        return self.embed_documents([text])[0]


PUBLIC_IDS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(4)]


def public_nodes() -> list[TextNode]:
    return [
        TextNode(id_=PUBLIC_IDS[i], text=TEXTS[i], metadata=METADATAS[i],
                 embedding=vector(TEXTS[i]),
                 relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc-{i % 2}")})
        for i in range(len(TEXTS))
    ]


@pytest.fixture(params=["dense", "hybrid"])
def llama_written(request: pytest.FixtureRequest) -> Iterator[tuple[QdrantClient, bool]]:
    """A collection written by llama-index-vector-stores-qdrant 0.10.4."""
    client = QdrantClient(":memory:")
    hybrid = request.param == "hybrid"
    options: dict[str, Any] = (
        {"enable_hybrid": True, "sparse_doc_fn": word_sparse, "sparse_query_fn": word_sparse}
        if hybrid else {}
    )
    PublicLlamaIndexStore(collection_name="legacy", client=client, **options).add(public_nodes())
    yield client, hybrid
    engine_for(client).close()


def langchain_on(client: QdrantClient, hybrid: bool) -> LangChainStore:
    if hybrid:
        return LangChainStore(client=client, collection_name="legacy", embedding=EMB,
                              retrieval_mode="hybrid", sparse_embedding=WordSparse())
    return LangChainStore(client=client, collection_name="legacy", embedding=EMB)


def test_langchain_reads_a_llama_index_vector_stores_qdrant_collection(
    llama_written: tuple[QdrantClient, bool],
) -> None:
    client, hybrid = llama_written
    # Their layout: metadata at the top level of the payload, the text inside _node_content.
    (point,), _ = client.scroll("legacy", limit=1)
    assert "_node_content" in (point.payload or {}) and "metadata" not in (point.payload or {})
    store = langchain_on(client, hybrid)
    for i, text in enumerate(TEXTS):
        assert store.similarity_search(text, k=1) == [
            Document(page_content=text, metadata=METADATAS[i], id=PUBLIC_IDS[i])
        ]
    # dict filters address their top-level metadata
    assert {d.id for d in store.similarity_search("fruit", k=4, filter={"colour": "red"})} == {
        PUBLIC_IDS[0], PUBLIC_IDS[2]
    }
    either = {"$or": [{"price": {"$gte": 8}}, {"fruit": {"$in": ["banana"]}}]}
    assert {d.id for d in store.similarity_search("fruit", k=4, filter=either)} == {
        PUBLIC_IDS[1], PUBLIC_IDS[2]
    }
    assert [d.id for d in store.similarity_search("x", k=4, filter={"nested.size": "s"})] == [
        PUBLIC_IDS[2]
    ]
    scored = store.similarity_search_with_relevance_scores("red", k=4, filter={"colour": "red"})
    assert {d.id for d, _ in scored} == {PUBLIC_IDS[0], PUBLIC_IDS[2]}
    assert store.max_marginal_relevance_search("red", k=1, filter={"colour": "yellow"})[0].id == (
        PUBLIC_IDS[1]
    )
    assert store.get_by_ids([PUBLIC_IDS[3]]) == [
        Document(page_content=TEXTS[3], metadata=METADATAS[3], id=PUBLIC_IDS[3])
    ]
    if hybrid:
        sparse_only = LangChainStore(client=client, collection_name="legacy",
                                     retrieval_mode="sparse", sparse_embedding=WordSparse())
        assert [d.id for d in sparse_only.similarity_search("xylocarp")] == [PUBLIC_IDS[3]]
    store.delete(filter={"colour": "yellow"})
    assert {p.id for p in client.scroll("legacy", limit=10)[0]} == {
        PUBLIC_IDS[0], PUBLIC_IDS[2], PUBLIC_IDS[3]
    }


def test_langchain_writes_keep_the_llama_index_layout(
    llama_written: tuple[QdrantClient, bool],
) -> None:
    client, hybrid = llama_written
    store = langchain_on(client, hybrid)
    store.add_texts(["kiwis are green"], [{"fruit": "kiwi", "colour": "green"}], ids=["kiwi"])
    # The public package and our LlamaIndex store both read the new document, filters included.
    options: dict[str, Any] = (
        {"enable_hybrid": True, "sparse_doc_fn": word_sparse, "sparse_query_fn": word_sparse}
        if hybrid else {}
    )
    green = MetadataFilters(filters=[MetadataFilter(key="colour", value="green")])
    public = PublicLlamaIndexStore(collection_name="legacy", client=client, **options)
    (theirs,) = public.get_nodes(filters=green)
    assert theirs.get_content() == "kiwis are green"
    assert theirs.metadata == {"fruit": "kiwi", "colour": "green"}
    ours = LlamaIndexStore("legacy", client=client, **options)
    (node,) = ours.get_nodes(filters=green)
    assert node.node_id == "kiwi" and node.get_content() == "kiwis are green"
    assert store.similarity_search("kiwi", k=4, filter={"colour": "green"}) == [
        Document(page_content="kiwis are green", metadata={"fruit": "kiwi", "colour": "green"},
                 id="kiwi")
    ]
    # A metadata key that layout uses for itself cannot be written into it.
    with pytest.raises(InvalidInputError, match="doc_id"):
        store.add_texts(["x"], [{"doc_id": "mine"}])
    assert len(client.scroll("legacy", limit=10)[0]) == 5


@pytest.fixture(params=["dense", "hybrid"])
def langchain_written(request: pytest.FixtureRequest) -> Iterator[tuple[QdrantClient, bool]]:
    """A collection written by langchain-qdrant 1.1.0."""
    hybrid = request.param == "hybrid"
    options: dict[str, Any] = (
        {"retrieval_mode": langchain_qdrant.RetrievalMode.HYBRID, "sparse_embedding": WordSparse()}
        if hybrid else {}
    )
    theirs = langchain_qdrant.QdrantVectorStore.from_texts(
        TEXTS, EMB, metadatas=METADATAS, ids=PUBLIC_IDS, location=":memory:",
        collection_name="lc", **options,
    )
    client: QdrantClient = theirs.client
    yield client, hybrid
    engine_for(client).close()


def llama_index_options(hybrid: bool) -> dict[str, Any]:
    # One function serves documents and queries (langchain-qdrant's SparseEmbeddings wrote them).
    return {"enable_hybrid": True, "sparse_query_fn": word_sparse} if hybrid else {}


def test_llama_index_reads_a_langchain_qdrant_collection(
    langchain_written: tuple[QdrantClient, bool],
) -> None:
    client, hybrid = langchain_written
    vectors = client.get_collection("lc").config.params.vectors
    assert isinstance(vectors, dict) and set(vectors) == {""}  # their unnamed vector
    store = LlamaIndexStore("lc", client=client, **llama_index_options(hybrid))
    for i, text in enumerate(TEXTS):
        result = store.query(VectorStoreQuery(query_embedding=vector(text), similarity_top_k=1))
        assert result.ids == [PUBLIC_IDS[i]]
        (node,) = result.nodes or []
        assert node.get_content() == text and node.metadata == METADATAS[i]
    assert red(store.query(VectorStoreQuery(
        query_embedding=vector("red"), similarity_top_k=4, filters=filter_red()
    )).ids) == {PUBLIC_IDS[0], PUBLIC_IDS[2]}
    dear = MetadataFilters(filters=[MetadataFilter(key="price", operator=FilterOperator.GTE,
                                                   value=5)])
    assert {n.node_id for n in store.get_nodes(filters=dear)} == {PUBLIC_IDS[2], PUBLIC_IDS[3]}
    assert [n.node_id for n in store.get_nodes(node_ids=[PUBLIC_IDS[3], PUBLIC_IDS[0]])] == [
        PUBLIC_IDS[3], PUBLIC_IDS[0]
    ]
    if hybrid:
        sparse = store.query(VectorStoreQuery(query_str="xylocarp", similarity_top_k=2,
                                              mode=VectorStoreQueryMode.SPARSE))
        assert sparse.ids == [PUBLIC_IDS[3]]
        fused = store.query(VectorStoreQuery(
            query_embedding=vector(TEXTS[1]), query_str=TEXTS[1], similarity_top_k=4,
            hybrid_top_k=1, mode=VectorStoreQueryMode.HYBRID, filters=filter_red(),
        ))
        assert fused.ids and set(fused.ids) <= {PUBLIC_IDS[0], PUBLIC_IDS[2]}
    store.delete_nodes(filters=filter_red())
    store.delete_nodes(node_ids=[PUBLIC_IDS[1]])
    assert [n.node_id for n in store.get_nodes()] == [PUBLIC_IDS[3]]


def test_llama_index_writes_into_a_langchain_qdrant_collection_stay_readable_by_it(
    langchain_written: tuple[QdrantClient, bool],
) -> None:
    client, hybrid = langchain_written
    store = LlamaIndexStore("lc", client=client, **llama_index_options(hybrid))
    node = TextNode(id_=str(PUBLIC_IDS[0][:-1] + "9"), text="kiwis are green",
                    metadata={"colour": "green"}, embedding=vector("kiwis are green"))
    store.add([node])
    theirs = langchain_qdrant.QdrantVectorStore(client=client, collection_name="lc",
                                               embedding=EMB, **(
        {"retrieval_mode": langchain_qdrant.RetrievalMode.HYBRID, "sparse_embedding": WordSparse()}
        if hybrid else {}
    ))
    (doc,) = theirs.similarity_search("kiwis are green", k=1)
    assert doc.page_content == "kiwis are green" and doc.metadata["colour"] == "green"


def test_both_adapters_on_one_public_collection_agree(
    llama_written: tuple[QdrantClient, bool],
) -> None:
    client, hybrid = llama_written
    lc = langchain_on(client, hybrid)
    li = LlamaIndexStore("legacy", client=client, **(
        {"enable_hybrid": True, "sparse_doc_fn": word_sparse} if hybrid else {}
    ))
    by_langchain = [d.id for d in lc.similarity_search("red", k=4, filter={"colour": "red"})]
    by_llama_index = li.query(VectorStoreQuery(
        query_embedding=vector("red"), similarity_top_k=4, filters=filter_red()
    )).ids
    if not hybrid:
        assert by_langchain == by_llama_index  # same dense search, same ranking
    assert set(by_langchain) == set(by_llama_index or []) == {PUBLIC_IDS[0], PUBLIC_IDS[2]}
    # A raw Qdrant Filter is used as given: on this layout its paths are top-level keys.
    raw = models.Filter(must=[
        models.FieldCondition(key="colour", match=models.MatchValue(value="red"))
    ])
    assert set(d.id for d in lc.similarity_search("red", k=4, filter=raw)) == set(by_langchain)
    assert set(li.query(VectorStoreQuery(query_embedding=vector("red"), similarity_top_k=4),
                        qdrant_filters=raw).ids or []) == set(by_langchain)


@pytest.fixture
def flat_written() -> Iterator[QdrantClient]:
    """A collection filled by a script of its own: flat payloads, text under "text"."""
    client = QdrantClient(":memory:")
    client.create_collection(
        "flat", vectors_config={"": models.VectorParams(size=8, distance=models.Distance.COSINE)}
    )
    client.upsert("flat", points=[
        models.PointStruct(id=PUBLIC_IDS[i], vector=vector(text), payload={"text": text, **meta})
        for i, (text, meta) in enumerate(zip(TEXTS, METADATAS, strict=True))
    ])
    yield client
    engine_for(client).close()


def test_llama_index_reads_and_filters_flat_payloads_as_llama_index_does(
    flat_written: QdrantClient,
) -> None:
    store = LlamaIndexStore("flat", client=flat_written)
    result = store.query(VectorStoreQuery(query_embedding=vector(TEXTS[0]), similarity_top_k=1))
    (node,) = result.nodes or []
    assert (node.node_id, node.get_content(), node.metadata) == (
        PUBLIC_IDS[0], TEXTS[0], METADATAS[0]
    )
    red = store.query(VectorStoreQuery(
        query_embedding=vector("red"), similarity_top_k=4, filters=filter_red()
    ))
    assert set(red.ids or []) == {PUBLIC_IDS[0], PUBLIC_IDS[2]}
    # A node added now keeps the metadata at the top level, so one filter still finds all.
    store.add([TextNode(id_="kiwi", text="kiwis are red too", metadata={"colour": "red"},
                        embedding=vector("kiwis are red too"))])
    assert len(store.get_nodes(filters=filter_red())) == 3
    assert {n.get_content() for n in store.get_nodes(node_ids=[PUBLIC_IDS[1], "kiwi"])} == {
        TEXTS[1], "kiwis are red too"
    }


def test_langchain_reads_and_filters_flat_payloads(flat_written: QdrantClient) -> None:
    store = LangChainStore(client=flat_written, collection_name="flat", embedding=EMB)
    assert store.similarity_search(TEXTS[2], k=1) == [
        Document(page_content=TEXTS[2], metadata=METADATAS[2], id=PUBLIC_IDS[2])
    ]
    assert {d.id for d in store.similarity_search("x", k=4, filter={"price": {"$lt": 4}})} == {
        PUBLIC_IDS[0], PUBLIC_IDS[1]
    }
    store.add_texts(["kiwis are cheap"], [{"price": 2}], ids=["kiwi"])
    cheap = store.similarity_search("x", k=5, filter={"price": {"$lt": 4}})
    assert {d.id for d in cheap} == {PUBLIC_IDS[0], PUBLIC_IDS[1], "kiwi"}
    assert store.get_by_ids(["kiwi"]) == [
        Document(page_content="kiwis are cheap", metadata={"price": 2}, id="kiwi")
    ]


def test_llama_index_text_key_names_the_text_of_flat_payloads() -> None:
    client = QdrantClient(":memory:")
    client.create_collection(
        "body", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE)
    )
    client.upsert("body", points=[models.PointStruct(
        id=PUBLIC_IDS[0], vector=vector("hi"), payload={"body": "hello", "lang": "en"}
    )])
    store = LlamaIndexStore("body", client=client, text_key="body")
    (node,) = store.get_nodes()
    assert (node.get_content(), node.metadata) == ("hello", {"lang": "en"})
    assert LlamaIndexStore.from_dict(store.to_dict(), client=client).text_key == "body"
    engine_for(client).close()


def test_text_beside_a_metadata_object_is_read_by_both_adapters() -> None:
    client = QdrantClient(":memory:")
    client.create_collection(
        "nested", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE)
    )
    client.upsert("nested", points=[
        models.PointStruct(id=PUBLIC_IDS[i], vector=vector(text),
                           payload={"text": text, "metadata": meta})
        for i, (text, meta) in enumerate(zip(TEXTS, METADATAS, strict=True))
    ])
    lc = LangChainStore(client=client, collection_name="nested", embedding=EMB)
    assert lc.similarity_search(TEXTS[1], k=1) == [
        Document(page_content=TEXTS[1], metadata=METADATAS[1], id=PUBLIC_IDS[1])
    ]
    li = LlamaIndexStore("nested", client=client)
    red_nodes = li.get_nodes(filters=filter_red())  # metadata.colour, as in the own layout
    assert {(n.node_id, n.get_content()) for n in red_nodes} == {
        (PUBLIC_IDS[0], TEXTS[0]), (PUBLIC_IDS[2], TEXTS[2])
    }
    engine_for(client).close()
