"""An async LCEL retrieval chain (RAG) on qdrant-aio: metadata filter, MMR, sources, batching.

The chain is ``retriever -> prompt -> chat model -> parser``, all awaited (``ainvoke`` /
``abatch``): the retriever calls the store's native ``amax_marginal_relevance_search``, so
while one question waits for Qdrant the others proceed.

* MMR (``search_type="mmr"``) drops near-duplicates: the knowledge base below holds the current
  refund policy and an outdated copy of it, and plain similarity search returns both, wasting a
  slot of the prompt; MMR returns one and fills the slot with something new.
* The metadata filter (``{"year": {"$gte": 2024}}``, qdrant-aio's portable dict syntax; a
  ``qdrant_client.models.Filter`` works too) keeps outdated entries out of every answer.

No LLM is called: ``ContextEchoChatModel`` below answers by quoting the passages it was given,
so you can see what the retriever fed the model. For a real answer, replace it with any LangChain
chat model, e.g. ``ChatOpenAI(model="gpt-4o-mini")`` or ``ChatAnthropic(...)`` or
``ChatOllama(model="llama3.1")``: nothing else changes. Likewise replace ``OfflineEmbeddings()``
(an offline hashing embedding, similar wording gives similar vectors) with a real embedding
model such as ``OpenAIEmbeddings()``.

Run: ``python cookbook/langchain_rag.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import (
    Runnable,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from offline_embeddings import OfflineEmbeddings

from qdrant_aio import QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore

# A small support knowledge base: id, text, section, year. "refunds-2023" is an outdated,
# almost identical copy of "refunds".
KNOWLEDGE_BASE = [
    ("refunds", "Refunds are paid back within 14 days of the return if the device is unused.",
     "billing", 2024),
    ("refunds-2023", "Refunds are paid back within 30 days of the return if the device is unused.",
     "billing", 2023),
    ("refund-faulty", "Refunds for a faulty device are paid in full, even when it was opened.",
     "billing", 2024),
    ("payment", "We accept credit cards, PayPal and bank transfers.", "billing", 2024),
    ("invoices", "Invoices are emailed as PDF files after every purchase.", "billing", 2024),
    ("shipping", "Orders ship within two business days from the Berlin warehouse.", "shipping",
     2024),
    ("shipping-cost", "Shipping is free for orders over 50 euros.", "shipping", 2024),
    ("warranty", "Every device has a two year warranty covering manufacturing faults.", "support",
     2024),
    ("reset", "To reset the router, hold the power button for ten seconds.", "support", 2024),
]

PROMPT = ChatPromptTemplate.from_messages([
    ("system", "Answer the question from the context only.\n\nContext:\n{context}"),
    ("human", "{question}"),
])


class ContextEchoChatModel(BaseChatModel):
    """A stand-in chat model: it 'answers' by quoting the context passages in its prompt."""

    @property
    def _llm_type(self) -> str:
        return "context-echo"

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self._echo(messages)))])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop, **kwargs)

    @staticmethod
    def _echo(messages: Sequence[BaseMessage]) -> str:
        system, question = str(messages[0].content), str(messages[-1].content)
        passages = [line for line in system.splitlines() if line.startswith("[")]
        if not passages:
            return f"I found nothing about {question!r}."
        return f"(echo) {question} -> " + " ".join(passages)


def format_docs(docs: list[Document]) -> str:
    return "\n".join(f"[{doc.id}] {doc.page_content}" for doc in docs)


def prompt_inputs(state: dict[str, Any]) -> dict[str, str]:
    return {"context": format_docs(state["sources"]), "question": state["question"]}


def build_chain(store: QdrantVectorStore, model: BaseChatModel) -> Any:
    """question -> {"question", "sources": [Document], "answer": str}."""
    retriever = store.as_retriever(
        search_type="mmr",
        search_kwargs={
            "k": 3,               # passages in the prompt
            "fetch_k": 8,         # nearest candidates MMR chooses from
            "lambda_mult": 0.5,   # 1 = pure relevance, 0 = most diverse (LangChain's meaning)
            "filter": {"year": {"$gte": 2024}},  # current entries only
        },
    )
    answer: Runnable[dict[str, Any], str] = (
        RunnableLambda(prompt_inputs)
        | PROMPT
        | model
        | StrOutputParser()
    )
    # Keep the retrieved documents next to the answer, so the caller can cite them.
    return RunnableParallel(sources=retriever, question=RunnablePassthrough()).assign(
        answer=answer
    )


async def main() -> dict[str, Any]:
    async with QdrantEngine() as engine:  # embedded, in memory; QdrantEngine(url=...) for a server
        store = QdrantVectorStore(
            client=engine, collection_name="support", embedding=OfflineEmbeddings()
        )
        await store.aadd_texts(
            [text for _, text, _, _ in KNOWLEDGE_BASE],
            [{"section": section, "year": year} for _, _, section, year in KNOWLEDGE_BASE],
            ids=[doc_id for doc_id, _, _, _ in KNOWLEDGE_BASE],
        )
        question = "How are refunds paid back?"

        similar = await store.asimilarity_search(question, k=3, filter={"section": "billing"})
        print(f"similarity search, {question!r}, filter section == billing:")
        for doc in similar:
            print(f"  {doc.id:<14} {doc.page_content}")
        diverse = await store.amax_marginal_relevance_search(
            question, k=3, fetch_k=8, lambda_mult=0.5, filter={"section": "billing"}
        )
        print("MMR search, same question and filter (the near-duplicate makes way):")
        for doc in diverse:
            print(f"  {doc.id:<14} {doc.page_content}")

        chain = build_chain(store, ContextEchoChatModel())
        result = await chain.ainvoke(question)
        print("\nRAG chain (MMR retriever, filter year >= 2024):")
        print(f"  sources: {[doc.id for doc in result['sources']]}")
        print(f"  answer:  {result['answer']}")

        questions = [
            "Which warranty does a device have?", "Is shipping free?", "How do I reset the router?"
        ]
        batch = await chain.abatch(questions)  # the three run concurrently
        print("three more questions, answered concurrently with abatch:")
        for item in batch:
            print(f"  {item['question']:<36} sources: {[doc.id for doc in item['sources']]}")
    return {
        "similarity": [doc.id for doc in similar],
        "mmr": [doc.id for doc in diverse],
        "sources": [doc.id for doc in result["sources"]],
        "answer": result["answer"],
        "batch": {item["question"]: [doc.id for doc in item["sources"]] for item in batch},
    }


if __name__ == "__main__":
    asyncio.run(main())
