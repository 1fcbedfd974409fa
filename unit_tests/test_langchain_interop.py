"""Collections written by langchain-qdrant 1.1.0 read (and extend) through qdrant-aio's store."""

from __future__ import annotations

import asyncio
import uuid

import langchain_qdrant
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_fakes import bag_of_words
from qdrant_client import QdrantClient, models

from qdrant_aio.langchain import QdrantVectorStore, RetrievalMode

EMB = DeterministicFakeEmbedding(size=6)
TEXTS = ["apples are red", "bananas are yellow", "cherries are red", "grapes are green"]
METADATAS = [
    {"fruit": "apple", "colour": "red", "price": 3},
    {"fruit": "banana", "colour": "yellow", "price": 1},
    {"fruit": "cherry", "colour": "red", "price": 8},
    {"fruit": "grape", "colour": "green", "price": 5},
]
IDS = [str(uuid.UUID(int=i + 1)) for i in range(len(TEXTS))]
INJECTED = ("_id", "_collection_name")


class WordSparse(langchain_qdrant.SparseEmbeddings):
    """A langchain-qdrant SparseEmbeddings (sync methods; its base adds executor async ones)."""

    def embed_documents(self, texts: list[str]) -> list[langchain_qdrant.SparseVector]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> langchain_qdrant.SparseVector:
        bag = bag_of_words(text)
        return langchain_qdrant.SparseVector(indices=bag.indices, values=bag.values)


def _without_injected(doc: Document) -> Document:
    metadata = {k: v for k, v in doc.metadata.items() if k not in INJECTED}
    return Document(page_content=doc.page_content, metadata=metadata, id=str(doc.metadata["_id"]))


def test_a_dense_collection_of_langchain_qdrant_reads_and_grows() -> None:
    theirs = langchain_qdrant.QdrantVectorStore.from_texts(
        TEXTS, EMB, metadatas=METADATAS, ids=IDS, location=":memory:", collection_name="legacy"
    )
    client: QdrantClient = theirs.client
    # Their layout: one vector named "" (the unnamed vector), page_content/metadata payload.
    vectors = client.get_collection("legacy").config.params.vectors
    assert isinstance(vectors, dict) and set(vectors) == {""}
    ours = QdrantVectorStore(client=client, collection_name="legacy", embedding=EMB)

    expected = [_without_injected(d) for d in theirs.similarity_search("red fruit", k=4)]
    found = ours.similarity_search("red fruit", k=4)
    assert found == expected
    assert all(not set(INJECTED) & set(d.metadata) for d in found)
    assert asyncio.run(ours.aget_by_ids([IDS[2], IDS[0]])) == [
        Document(page_content=TEXTS[2], metadata=METADATAS[2], id=IDS[2]),
        Document(page_content=TEXTS[0], metadata=METADATAS[0], id=IDS[0]),
    ]
    # Their metadata lives under "metadata", as ours does: filters work unchanged.
    red = ours.similarity_search("fruit", k=4, filter={"colour": "red", "price": {"$gt": 5}})
    assert [d.id for d in red] == [IDS[2]]
    scored = ours.similarity_search_with_relevance_scores("red fruit", k=4)
    assert all(0.0 <= s <= 1.0 for _, s in scored)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)

    # Writing through our store keeps their layout, so their store reads our documents.
    ours.add_texts(["kiwis are green"], [{"fruit": "kiwi", "colour": "green"}], ids=["kiwi"])
    theirs_view = theirs.similarity_search("kiwis are green", k=1)[0]
    assert theirs_view.page_content == "kiwis are green"
    assert theirs_view.metadata["fruit"] == "kiwi"
    assert ours.get_by_ids(["kiwi"])[0].metadata == {"fruit": "kiwi", "colour": "green"}
    ours.delete(filter={"colour": "green"})
    assert client.count("legacy").count == 3


def test_default_ids_of_langchain_qdrant_are_read_back_as_uuids() -> None:
    theirs = langchain_qdrant.QdrantVectorStore.from_texts(
        TEXTS, EMB, location=":memory:", collection_name="legacy"
    )
    ours = QdrantVectorStore(client=theirs.client, collection_name="legacy", embedding=EMB)
    found = ours.similarity_search("anything", k=4)
    assert sorted(d.page_content for d in found) == sorted(TEXTS)
    assert all(d.metadata == {} for d in found)  # they store metadata None when none is given
    ids = [d.id or "" for d in found]
    assert all(uuid.UUID(i) for i in ids)
    assert [d.id for d in ours.get_by_ids(ids)] == ids


def test_a_hybrid_collection_of_langchain_qdrant_reads_with_its_sparse_encoder() -> None:
    sparse = WordSparse()
    theirs = langchain_qdrant.QdrantVectorStore.from_texts(
        TEXTS, EMB, metadatas=METADATAS, ids=IDS, location=":memory:", collection_name="hybrid",
        retrieval_mode=langchain_qdrant.RetrievalMode.HYBRID, sparse_embedding=sparse,
    )
    ours = QdrantVectorStore(
        client=theirs.client, collection_name="hybrid", embedding=EMB,
        retrieval_mode=RetrievalMode.HYBRID, sparse_embedding=sparse,
    )
    # Both vectors are found by default: the unnamed dense one and "langchain-sparse".
    top = ours.similarity_search("bananas are yellow", k=1)
    assert top == [Document(page_content=TEXTS[1], metadata=METADATAS[1], id=IDS[1])]
    theirs_top = theirs.similarity_search("bananas are yellow", k=1)
    assert _without_injected(theirs_top[0]) == top[0]
    sparse_only = QdrantVectorStore(
        client=theirs.client, collection_name="hybrid", retrieval_mode="sparse",
        sparse_embedding=sparse, sparse_vector_name="langchain-sparse",
    )
    assert [d.id for d in sparse_only.similarity_search("cherries", k=1)] == [IDS[2]]
    scored = ours.similarity_search_with_relevance_scores("red", k=4, filter={"colour": "red"})
    assert {d.id for d, _ in scored} == {IDS[0], IDS[2]}
    assert all(0.0 <= s <= 1.0 for _, s in scored)


def test_their_default_vector_name_spelling_is_accepted() -> None:
    theirs = langchain_qdrant.QdrantVectorStore.from_texts(
        TEXTS, EMB, ids=IDS, location=":memory:", collection_name="legacy"
    )
    # langchain-qdrant code passes vector_name="" for the unnamed vector.
    ours = QdrantVectorStore(
        client=theirs.client, collection_name="legacy", embedding=EMB, vector_name="",
        sparse_vector_name="langchain-sparse",
    )
    assert len(ours.similarity_search("red", k=4)) == 4
    with pytest.raises(ValueError, match="vector"):
        QdrantVectorStore(
            client=theirs.client, collection_name="legacy", embedding=EMB, vector_name="other"
        ).similarity_search("red")


def test_a_collection_with_a_truly_unnamed_vector_reads_and_grows() -> None:
    client = QdrantClient(":memory:")
    client.create_collection(
        "plain", vectors_config=models.VectorParams(size=6, distance=models.Distance.COSINE)
    )
    client.upsert("plain", [
        models.PointStruct(id=IDS[i], vector=EMB.embed_query(TEXTS[i]),
                           payload={"page_content": TEXTS[i], "metadata": METADATAS[i]})
        for i in range(2)
    ])
    ours = QdrantVectorStore(client=client, collection_name="plain", embedding=EMB)
    assert ours.similarity_search(TEXTS[1], k=1) == [
        Document(page_content=TEXTS[1], metadata=METADATAS[1], id=IDS[1])
    ]
    ours.add_texts([TEXTS[2]], [METADATAS[2]], ids=["cherry"])
    assert [d.id for d in ours.similarity_search(TEXTS[2], k=1)] == ["cherry"]
    assert isinstance(client.get_collection("plain").config.params.vectors, models.VectorParams)
