"""The store's retriever in async LCEL chains, with a fake chat model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from qdrant_aio import QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore, RetrievalMode

EMB = DeterministicFakeEmbedding(size=6)
FACTS = {
    "paris": "Paris is the capital of France",
    "rome": "Rome is the capital of Italy",
    "rome2": "Rome is the capital of Italy and of the Lazio region",
    "lima": "Lima is the capital of Peru",
}
PROMPT = ChatPromptTemplate.from_messages([
    ("system", "Answer from the context only.\nContext:\n{context}"),
    ("human", "{question}"),
])


@pytest.fixture
def store() -> Iterator[QdrantVectorStore]:
    engine = QdrantEngine()
    vs = QdrantVectorStore(client=engine, collection_name="facts", embedding=EMB,
                           retrieval_mode=RetrievalMode.HYBRID)
    vs.add_texts(list(FACTS.values()), [{"key": k} for k in FACTS], ids=list(FACTS))
    yield vs
    engine.close()


def _format(docs: list[Document]) -> str:
    return "\n".join(f"[{d.id}] {d.page_content}" for d in docs)


def _chain(retriever: Runnable[str, list[Document]], prompts: list[str]) -> Runnable[str, str]:
    def record(prompt: PromptValue) -> PromptValue:
        prompts.append(prompt.to_string())
        return prompt

    model = FakeListChatModel(responses=["answer one", "answer two", "answer three"])
    return (
        {"context": retriever | _format, "question": RunnablePassthrough()}
        | PROMPT
        | RunnableLambda(record)
        | model
        | StrOutputParser()
    )


async def test_similarity_retriever_in_an_async_chain(store: QdrantVectorStore) -> None:
    prompts: list[str] = []
    retriever = store.as_retriever(search_kwargs={"k": 1})
    chain = _chain(retriever, prompts)
    assert await chain.ainvoke(FACTS["lima"]) == "answer one"
    assert f"[lima] {FACTS['lima']}" in prompts[0]
    assert "Paris" not in prompts[0]
    answers = await chain.abatch([FACTS["paris"], FACTS["rome"]])
    assert sorted(answers) == ["answer three", "answer two"]
    assert any(f"[paris] {FACTS['paris']}" in p for p in prompts[1:])
    assert any(f"[rome] {FACTS['rome']}" in p for p in prompts[1:])


async def test_retriever_alone_and_with_a_filter(store: QdrantVectorStore) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 4, "filter": {"key": {"$in": ["lima"]}}})
    docs = await retriever.ainvoke("capital")
    assert [d.id for d in docs] == ["lima"]
    batched = await retriever.abatch(["capital", "Italy"])
    assert [[d.id for d in docs] for docs in batched] == [["lima"], ["lima"]]


async def test_mmr_retriever_in_an_async_chain(store: QdrantVectorStore) -> None:
    diverse = store.as_retriever(
        search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.0}
    )
    relevant = store.as_retriever(
        search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 1.0}
    )
    query = FACTS["rome"]
    by_relevance = await relevant.ainvoke(query)
    by_diversity = await diverse.ainvoke(query)
    expected_relevant = [d.id for d in await store.asimilarity_search_by_vector(
        await EMB.aembed_query(query), k=2)]
    assert [d.id for d in by_relevance] == expected_relevant
    assert by_diversity[0].id == by_relevance[0].id
    prompts: list[str] = []
    assert await _chain(diverse, prompts).ainvoke(query) == "answer one"
    assert f"[{by_diversity[1].id}]" in prompts[0]


async def test_score_threshold_retriever_in_an_async_chain(store: QdrantVectorStore) -> None:
    # Hybrid RRF relevance is 1.0 only for a document ranked first in both branches.
    strict = store.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"score_threshold": 0.99, "k": 4},
    )
    docs = await strict.ainvoke(FACTS["paris"])
    assert [d.id for d in docs] == ["paris"]
    loose = store.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"score_threshold": 0.0, "k": 4},
    )
    assert len(await loose.ainvoke(FACTS["paris"])) == 4
    prompts: list[str] = []
    results = await _chain(strict, prompts).abatch([FACTS["paris"], FACTS["lima"]])
    assert len(results) == 2
    assert sum("[paris]" in p for p in prompts) == 1 and sum("[lima]" in p for p in prompts) == 1
    assert not any("[rome]" in p for p in prompts)


def test_the_same_chain_runs_sync_and_inside_several_loops(store: QdrantVectorStore) -> None:
    prompts: list[str] = []
    chain = _chain(store.as_retriever(search_kwargs={"k": 1}), prompts)
    assert chain.invoke(FACTS["rome"]) == "answer one"

    async def once() -> Any:
        return await chain.ainvoke(FACTS["lima"])

    assert asyncio.run(once()) == "answer two"
    assert asyncio.run(once()) == "answer three"
    assert "[rome]" in prompts[0] and "[lima]" in prompts[1] and "[lima]" in prompts[2]
