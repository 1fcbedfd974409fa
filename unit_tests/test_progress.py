"""``show_progress=True`` reaches the engine from both adapters."""

from __future__ import annotations

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from llama_index.core.schema import TextNode

from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaStore


async def test_langchain_add_texts_shows_progress(capsys: pytest.CaptureFixture[str]) -> None:
    store = LangChainStore(collection_name="p", embedding=DeterministicFakeEmbedding(size=4))
    await store.aadd_texts([f"t{i}" for i in range(12)], show_progress=True)
    assert "12/12" in capsys.readouterr().err
    await store.aclose()


async def test_llama_index_add_shows_progress(capsys: pytest.CaptureFixture[str]) -> None:
    store = LlamaStore("p")
    nodes = [TextNode(id_=f"n{i}", text=f"t{i}", embedding=[1.0, float(i)]) for i in range(7)]
    await store.async_add(nodes, show_progress=True)
    assert "7/7" in capsys.readouterr().err
    await store.aclose()
