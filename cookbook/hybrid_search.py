"""Dense vs sparse vs hybrid search: a rare exact term, and a query with no exact word at all.

Dense vectors match on overall wording and meaning, so "printer error E4012" finds documents
about printer errors in general and misses the one document that explains E4012: one rare token
barely moves a dense vector. Sparse BM25 vectors weigh each word by its rarity (IDF), so the
exact code wins, but they know nothing beyond exact words: "streaky printouts" shares no word
with the article on streaks, and sparse search returns nothing. Hybrid search asks Qdrant for
both and fuses the two rankings server-side (Reciprocal Rank Fusion, in one request), so it finds
the right article in both cases.

One collection serves all three: the hybrid store writes a dense and a sparse vector per
document, and a dense-only and a sparse-only store open the same collection. Sparse vectors come
from qdrant-aio's built-in BM25 (Qdrant's own, offline; IDF computed by Qdrant), so nothing is
downloaded. Options: ``fusion="dbsf"`` for distribution-based fusion, ``rrf_k=``,
``prefetch_limit=`` (depth of each branch), ``sparse_embedding=`` for your own sparse encoder
(e.g. ``Bm25Encoder(language="german")`` or langchain-qdrant's ``FastEmbedSparse``).

Dense embeddings come from ``OfflineEmbeddings`` (an offline hashing embedding, similar wording
gives similar vectors); with a real model (``embedding=OpenAIEmbeddings()``, ...) the dense branch
also matches paraphrases, and the contrast with the exact-term branch gets sharper.

Run: ``python cookbook/hybrid_search.py``.
"""

from __future__ import annotations

import asyncio

from offline_embeddings import OfflineEmbeddings

from qdrant_aio import QdrantEngine
from qdrant_aio.langchain import QdrantVectorStore, RetrievalMode

HELP_CENTRE = [
    ("e4012",
     "E4012 means the paper tray sensor is blocked: remove the tray and clean the sensor."),
    ("e2001", "E2001 means the ink cartridge is not recognised: reseat the cartridge."),
    ("error-light",
     "If the printer shows an error light, restart the printer and update its driver."),
    ("driver-error",
     "After an update the printer may report an error: reinstall the printer driver."),
    ("offline", "Printer offline? Check the network cable, then restart the printer."),
    ("blank-pages", "A printer that prints blank pages usually needs a new ink cartridge."),
    ("paper-jam",
     "To clear a paper jam, open the front cover of the printer and pull the paper out slowly."),
    ("wifi", "Connect the printer to Wi-Fi from the settings menu on its display."),
    ("streaks", "Streaks on printed pages mean the print head needs cleaning; run the printer's "
                "cleaning cycle."),
    ("slow", "A slow printer often prints in high quality mode; switch to draft mode for speed."),
    ("scan", "To scan a document, place it face down on the printer glass and press scan."),
    ("duplex", "Double sided printing is set in the printer dialog under layout."),
    ("toner", "Replace the toner when the printer warns that toner is low."),
    ("firmware", "Printer firmware updates fix errors and add features; install them from the "
                 "support page."),
    ("noise", "A grinding noise from the printer usually means a stuck paper roller."),
    ("colour", "If colours look wrong, run the printer's colour calibration."),
]
# Each query, with the article that answers it.
QUERIES = [("printer error E4012", "e4012"), ("streaky printouts", "streaks")]


async def main(k: int = 3) -> dict[str, dict[str, list[str]]]:
    """For each query: ``{"dense" | "sparse" | "hybrid": [ids of the top k]}``."""
    found: dict[str, dict[str, list[str]]] = {}
    async with QdrantEngine() as engine:  # embedded, in memory; QdrantEngine(url=...) for a server
        hybrid = QdrantVectorStore(
            client=engine, collection_name="help", embedding=OfflineEmbeddings(),
            retrieval_mode=RetrievalMode.HYBRID,  # writes a dense and a BM25 vector per text
        )
        await hybrid.aadd_texts(
            [text for _, text in HELP_CENTRE], ids=[doc_id for doc_id, _ in HELP_CENTRE]
        )
        dense = QdrantVectorStore(
            client=engine, collection_name="help", embedding=OfflineEmbeddings(),
            retrieval_mode=RetrievalMode.DENSE,
        )
        sparse = QdrantVectorStore(
            client=engine, collection_name="help", retrieval_mode=RetrievalMode.SPARSE
        )
        print(f"{len(HELP_CENTRE)} help articles; top {k} of each kind of search")
        for query, answer in QUERIES:
            print(f"\nquery {query!r} (answered by {answer!r})")
            results = found[query] = {}
            for name, store in (("dense", dense), ("sparse", sparse), ("hybrid", hybrid)):
                scored = await store.asimilarity_search_with_relevance_scores(query, k=k)
                results[name] = [doc.id or "" for doc, _ in scored]
                verdict = "finds it" if answer in results[name] else "misses it"
                print(f"  {name} ({verdict}):" + ("" if scored else " no results"))
                for doc, relevance in scored:
                    print(f"    {relevance:.3f}  {doc.id:<13} {doc.page_content}")
    return found


if __name__ == "__main__":
    asyncio.run(main())
