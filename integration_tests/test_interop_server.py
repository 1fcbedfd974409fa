"""Interoperability on a real Qdrant server.

* One server collection, both adapters: documents written through the LangChain store are found,
  filtered, fetched and deleted through the LlamaIndex store, and nodes written through the
  LlamaIndex store (ref_doc_id, relationships) through the LangChain store; dense and hybrid.
* Collections written on the server by langchain-qdrant 1.1.0 and by
  llama-index-vector-stores-qdrant 0.10.4 are read (search, filters, ids, deletes) through both
  adapters, and what the adapters write there stays readable by the package that made it.
* A collection of flat payloads (a script's own: text under "text", metadata beside it) is read,
  filtered and extended by both adapters.

Skipped, with the reason shown, where no server is available (see ``conftest.py``).
"""

from __future__ import annotations

import math
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
from qdrant_client import QdrantClient

from qdrant_aio import QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore

EMB = DeterministicFakeEmbedding(size=8)
TEXTS = [
    "violins have four strings",
    "cellos are large and deep",
    "trumpets are loud brass",
    "the ocarina is an ancient flute",
]
METADATAS: list[dict[str, Any]] = [
    {"family": "strings", "price": 900, "tags": ["bow"]},
    {"family": "strings", "price": 3000, "tags": ["bow", "endpin"]},
    {"family": "brass", "price": 700, "tags": ["valve"]},
    {"family": "wind", "price": 40, "nested": {"clay": True}},
]
# Any string id: a word, a UUID, an unsigned integer as a string, words with spaces.
IDS = ["violin", "5c8e6c0e-2f4b-4c1e-9d3a-7b6a5f4e3d2c", "7", "the ocarina"]
# The public packages need UUIDs.
UUIDS = [f"00000000-0000-4000-8000-0000000000a{i}" for i in range(4)]
STRINGS = MetadataFilters(filters=[MetadataFilter(key="family", value="strings")])


def vector(text: str) -> list[float]:
    return EMB.embed_query(text)


def normalised(values: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in values))
    return [x / norm for x in values]


def search(store: LlamaIndexStore, text: str, k: int = 1, **fields: Any) -> VectorStoreQuery:
    mode = VectorStoreQueryMode.HYBRID if store.enable_hybrid else VectorStoreQueryMode.DEFAULT
    return VectorStoreQuery(query_embedding=vector(text), query_str=text, similarity_top_k=k,
                            mode=mode, **fields)


def sparse_search(text: str, k: int = 3) -> VectorStoreQuery:
    return VectorStoreQuery(query_str=text, similarity_top_k=k, mode=VectorStoreQueryMode.SPARSE)


@pytest.fixture
def server(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> Iterator[QdrantEngine]:
    engine = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key)
    yield engine
    engine.delete_collection(collection_name)
    assert not engine.collection_exists(collection_name)
    engine.close()


# ---------------------------------------------------------------------- one collection, both


@pytest.fixture(params=["dense", "hybrid"])
def pair(
    request: pytest.FixtureRequest, server: QdrantEngine, collection_name: str
) -> tuple[LangChainStore, LlamaIndexStore]:
    """Both adapters on one server collection, each on its defaults."""
    lc = LangChainStore(client=server, collection_name=collection_name, embedding=EMB,
                        retrieval_mode=request.param)
    li = LlamaIndexStore(collection_name, engine=server, enable_hybrid=request.param == "hybrid")
    return lc, li


async def test_langchain_writes_llama_index_reads_filters_and_deletes(
    pair: tuple[LangChainStore, LlamaIndexStore],
) -> None:
    lc, li = pair
    assert await lc.aadd_texts(TEXTS, METADATAS, ids=IDS) == IDS  # creates the collection
    for text, doc_id, metadata in zip(TEXTS, IDS, METADATAS, strict=True):
        result = await li.aquery(search(li, text))
        assert result.ids == [doc_id]
        (node,) = result.nodes or []
        assert node.node_id == doc_id and node.get_content() == text
        assert node.metadata == metadata and node.ref_doc_id is None
    strings = li.query(search(li, "strings", k=4, filters=STRINGS))
    assert set(strings.ids or []) == {IDS[0], IDS[1]}
    cheap_or_valve = MetadataFilters(filters=[
        MetadataFilter(key="price", operator=FilterOperator.LT, value=100),
        MetadataFilter(key="tags", operator=FilterOperator.CONTAINS, value="valve"),
    ], condition=FilterCondition.OR)
    assert {n.node_id for n in await li.aget_nodes(filters=cheap_or_valve)} == {IDS[2], IDS[3]}
    fetched = li.get_nodes(node_ids=[IDS[3], IDS[0]])
    assert [n.node_id for n in fetched] == [IDS[3], IDS[0]]
    assert [n.get_content() for n in fetched] == [TEXTS[3], TEXTS[0]]
    # The stored vectors (normalised by the server for cosine) come back with the nodes.
    for node, text in zip(fetched, [TEXTS[3], TEXTS[0]], strict=True):
        assert node.embedding == pytest.approx(normalised(vector(text)), rel=1e-4)
    if li.enable_hybrid:  # the BM25 vectors LangChain wrote serve LlamaIndex's sparse search
        assert (await li.aquery(sparse_search("ocarina"))).ids == [IDS[3]]
    await li.adelete_nodes(node_ids=[IDS[2]])
    li.delete_nodes(filters=STRINGS)
    assert [d.id for d in await lc.aget_by_ids(IDS)] == [IDS[3]]
    assert [d.id for d in lc.similarity_search("anything", k=4)] == [IDS[3]]


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
    return nodes


async def test_llama_index_writes_langchain_reads_filters_and_deletes(
    pair: tuple[LangChainStore, LlamaIndexStore], server: QdrantEngine, collection_name: str,
) -> None:
    lc, li = pair
    await li.async_add(llama_nodes())  # creates the collection
    for text, doc_id, metadata in zip(TEXTS, IDS, METADATAS, strict=True):
        assert await lc.asimilarity_search(text, k=1) == [
            Document(page_content=text, metadata=metadata, id=doc_id)
        ]
    assert {d.id for d in lc.similarity_search("x", k=4, filter={"family": "strings"})} == {
        IDS[0], IDS[1]
    }
    nested = await lc.asimilarity_search("x", k=4, filter={"nested.clay": True})
    assert [d.id for d in nested] == [IDS[3]]
    ranged = await lc.asimilarity_search(
        "x", k=4, filter={"price": {"$gte": 500, "$lte": 1000}}
    )
    assert {d.id for d in ranged} == {IDS[0], IDS[2]}
    assert await lc.aget_by_ids([IDS[2], "missing", IDS[0]]) == [
        Document(page_content=TEXTS[2], metadata=METADATAS[2], id=IDS[2]),
        Document(page_content=TEXTS[0], metadata=METADATAS[0], id=IDS[0]),
    ]
    if lc.retrieval_mode.value == "hybrid":
        sparse_only = LangChainStore(client=server, collection_name=collection_name,
                                     retrieval_mode="sparse")
        assert [d.id for d in await sparse_only.asimilarity_search("ocarina")] == [IDS[3]]
    await lc.adelete([IDS[1]])
    lc.delete(filter={"family": "wind"})
    left = {n.node_id: n for n in await li.aget_nodes()}
    assert set(left) == {IDS[0], IDS[2]}
    # What LlamaIndex stored beside text and metadata is untouched by LangChain's reads.
    assert left[IDS[0]].relationships[NodeRelationship.NEXT].node_id == IDS[1]
    assert left[IDS[0]].excluded_llm_metadata_keys == ["price"]
    assert left[IDS[0]].ref_doc_id == "source-0" and left[IDS[2]].ref_doc_id == "source-0"
    await li.adelete("source-0")  # by ref_doc_id, on the server's payload index
    assert await lc.aget_by_ids(IDS) == []
    assert await server.acount(collection_name) == 0


# ---------------------------------------------------------------------- the public packages


def word_sparse(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """A bag of hashed words in llama-index-vector-stores-qdrant's sparse function signature."""
    indices, values = [], []
    for text in texts:
        counts = Counter(zlib.crc32(w.encode()) % 30_011 for w in text.lower().split())
        keys = sorted(counts)
        indices.append(keys)
        values.append([float(counts[k]) for k in keys])
    return indices, values


class WordSparse(langchain_qdrant.SparseEmbeddings):
    """The same bag of words as langchain-qdrant's SparseEmbeddings."""

    def embed_documents(self, texts: list[str]) -> list[langchain_qdrant.SparseVector]:
        indices, values = word_sparse(texts)
        return [langchain_qdrant.SparseVector(indices=i, values=v)
                for i, v in zip(indices, values, strict=True)]

    def embed_query(self, text: str) -> langchain_qdrant.SparseVector:
        return self.embed_documents([text])[0]


@pytest.fixture
def rest_client(qdrant_url: str, qdrant_api_key: str | None) -> Iterator[QdrantClient]:
    client = QdrantClient(url=qdrant_url, api_key=qdrant_api_key)
    yield client
    client.close()


@pytest.mark.parametrize("hybrid", [False, True], ids=["dense", "hybrid"])
def test_a_langchain_qdrant_collection_through_both_adapters(
    hybrid: bool, server: QdrantEngine, rest_client: QdrantClient, collection_name: str,
    qdrant_url: str, qdrant_api_key: str | None,
) -> None:
    their_options: dict[str, Any] = (
        {"retrieval_mode": langchain_qdrant.RetrievalMode.HYBRID, "sparse_embedding": WordSparse()}
        if hybrid else {}
    )
    theirs = langchain_qdrant.QdrantVectorStore.from_texts(
        TEXTS, EMB, metadatas=METADATAS, ids=UUIDS, url=qdrant_url, api_key=qdrant_api_key,
        collection_name=collection_name, **their_options,
    )
    try:
        vectors = rest_client.get_collection(collection_name).config.params.vectors
        assert isinstance(vectors, dict) and set(vectors) == {""}  # their unnamed dense vector

        # LangChain adapter: exact documents, filters, ids
        lc = LangChainStore(
            client=server, collection_name=collection_name, embedding=EMB,
            **({"retrieval_mode": "hybrid", "sparse_embedding": WordSparse()} if hybrid else {}),
        )
        for i, text in enumerate(TEXTS):
            assert lc.similarity_search(text, k=1) == [
                Document(page_content=text, metadata=METADATAS[i], id=UUIDS[i])
            ]
        either = {"$or": [{"price": {"$lt": 100}}, {"family": {"$in": ["brass"]}}]}
        assert {d.id for d in lc.similarity_search("x", k=4, filter=either)} == {
            UUIDS[2], UUIDS[3]
        }
        assert [d.id for d in lc.get_by_ids([UUIDS[1]])] == [UUIDS[1]]

        # LlamaIndex adapter: nodes, filters, ids, sparse and hybrid
        li = LlamaIndexStore(collection_name, engine=server, **(
            {"enable_hybrid": True, "sparse_query_fn": word_sparse} if hybrid else {}
        ))
        for i, text in enumerate(TEXTS):
            result = li.query(VectorStoreQuery(query_embedding=vector(text), similarity_top_k=1))
            assert result.ids == [UUIDS[i]]
            (node,) = result.nodes or []
            assert node.get_content() == text and node.metadata == METADATAS[i]
        dear = MetadataFilters(filters=[
            MetadataFilter(key="price", operator=FilterOperator.GTE, value=900)
        ])
        assert {n.node_id for n in li.get_nodes(filters=dear)} == {UUIDS[0], UUIDS[1]}
        if hybrid:
            assert li.query(sparse_search("ocarina")).ids == [UUIDS[3]]
            fused = li.query(VectorStoreQuery(
                query_embedding=vector(TEXTS[2]), query_str=TEXTS[2], similarity_top_k=4,
                hybrid_top_k=2, mode=VectorStoreQueryMode.HYBRID, filters=STRINGS,
            ))
            assert fused.ids and set(fused.ids) <= {UUIDS[0], UUIDS[1]}

        # Deletes through ours, a write through ours: their store sees both.
        li.delete_nodes(filters=STRINGS)
        lc.delete([UUIDS[2]])
        kiwi = "ffffffff-0000-4000-8000-000000000001"
        lc.add_texts(["kiwis are green"], [{"family": "fruit"}], ids=[kiwi])
        seen = theirs.similarity_search("kiwis are green", k=4)
        assert [d.metadata.get("_id") for d in seen[:1]] == [kiwi]
        assert seen[0].page_content == "kiwis are green" and seen[0].metadata["family"] == "fruit"
        assert {d.metadata.get("_id") for d in seen} == {kiwi, UUIDS[3]}
    finally:
        theirs.client.close()


def public_nodes() -> list[TextNode]:
    return [
        TextNode(id_=UUIDS[i], text=TEXTS[i], metadata=METADATAS[i], embedding=vector(TEXTS[i]),
                 relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc-{i % 2}")})
        for i in range(len(TEXTS))
    ]


@pytest.mark.parametrize("hybrid", [False, True], ids=["dense", "hybrid"])
def test_a_llama_index_vector_stores_qdrant_collection_through_both_adapters(
    hybrid: bool, server: QdrantEngine, rest_client: QdrantClient, collection_name: str,
) -> None:
    options: dict[str, Any] = (
        {"enable_hybrid": True, "sparse_doc_fn": word_sparse, "sparse_query_fn": word_sparse}
        if hybrid else {}
    )
    public = PublicLlamaIndexStore(collection_name=collection_name, client=rest_client, **options)
    public.add(public_nodes())
    # Their layout: metadata at the top level of the payload, the node inside _node_content.
    (point,), _ = rest_client.scroll(collection_name, limit=1)
    assert "_node_content" in (point.payload or {}) and "metadata" not in (point.payload or {})

    # LangChain adapter
    lc = LangChainStore(
        client=server, collection_name=collection_name, embedding=EMB,
        **({"retrieval_mode": "hybrid", "sparse_embedding": WordSparse()} if hybrid else {}),
    )
    for i, text in enumerate(TEXTS):
        assert lc.similarity_search(text, k=1) == [
            Document(page_content=text, metadata=METADATAS[i], id=UUIDS[i])
        ]
    assert {d.id for d in lc.similarity_search("x", k=4, filter={"family": "strings"})} == {
        UUIDS[0], UUIDS[1]
    }
    assert [d.id for d in lc.similarity_search("x", k=4, filter={"nested.clay": True})] == [
        UUIDS[3]
    ]
    mmr = lc.max_marginal_relevance_search(TEXTS[2], k=1, filter={"family": "brass"})
    assert [d.id for d in mmr] == [UUIDS[2]]

    # LlamaIndex adapter
    li = LlamaIndexStore(collection_name, engine=server, **options)
    for i, text in enumerate(TEXTS):
        result = li.query(search(li, text))
        assert result.ids == [UUIDS[i]]
        (node,) = result.nodes or []
        assert node.get_content() == text and node.metadata == METADATAS[i]
        assert node.ref_doc_id == f"doc-{i % 2}"
    assert {n.node_id for n in li.get_nodes(filters=STRINGS)} == {UUIDS[0], UUIDS[1]}
    if hybrid:
        assert li.query(sparse_search("ocarina")).ids == [UUIDS[3]]

    # Writes through ours stay readable by the public package; deletes reach it too.
    green = MetadataFilters(filters=[MetadataFilter(key="family", value="fruit")])
    li.add([TextNode(id_="ffffffff-0000-4000-8000-000000000002", text="kiwis are green",
                     metadata={"family": "fruit"}, embedding=vector("kiwis are green"))])
    (theirs,) = public.get_nodes(filters=green)
    assert theirs.get_content() == "kiwis are green" and theirs.metadata == {"family": "fruit"}
    li.delete("doc-0")  # ref_doc_id in their layout
    lc.delete(filter={"family": "fruit"})
    assert {n.node_id for n in public.get_nodes()} == {UUIDS[1], UUIDS[3]}
    assert rest_client.count(collection_name).count == 2


# ---------------------------------------------------------------------- flat payloads


def test_a_collection_of_flat_payloads_through_both_adapters(
    server: QdrantEngine, qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    """A collection a script of one's own filled (text under "text", metadata beside it) is
    read, filtered and extended by both adapters; new points keep the metadata at the top."""
    from qdrant_client import models

    client = QdrantClient(url=qdrant_url, api_key=qdrant_api_key)
    try:
        client.create_collection(collection_name, vectors_config=models.VectorParams(
            size=8, distance=models.Distance.COSINE
        ))
        client.upsert(collection_name, wait=True, points=[
            models.PointStruct(id=UUIDS[i], vector=vector(text), payload={"text": text, **meta})
            for i, (text, meta) in enumerate(zip(TEXTS, METADATAS, strict=True))
        ])
        lc = LangChainStore(client=server, collection_name=collection_name, embedding=EMB)
        li = LlamaIndexStore(collection_name, engine=server)
        (doc,) = lc.similarity_search(TEXTS[2], k=1)
        assert (doc.id, doc.page_content, doc.metadata) == (UUIDS[2], TEXTS[2], METADATAS[2])
        assert {d.id for d in lc.similarity_search("x", k=4, filter={"family": "strings"})} == {
            UUIDS[0], UUIDS[1]
        }
        found = li.query(VectorStoreQuery(query_embedding=vector("x"), similarity_top_k=4,
                                          filters=STRINGS))
        assert set(found.ids or []) == {UUIDS[0], UUIDS[1]}
        lc.add_texts(["harps have pedals"], [{"family": "strings"}], ids=["harp"])
        li.add([TextNode(id_="viola", text="violas are alto", metadata={"family": "strings"},
                         embedding=vector("violas are alto"))])
        assert {n.node_id for n in li.get_nodes(filters=STRINGS)} == {
            UUIDS[0], UUIDS[1], "harp", "viola"
        }
        from qdrant_aio.ids import point_id_for

        (harp,) = client.retrieve(collection_name, [point_id_for("harp")])
        assert harp.payload is not None and harp.payload["family"] == "strings"
    finally:
        client.close()
