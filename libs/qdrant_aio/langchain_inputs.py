"""I/O-free helpers of the LangChain adapter: input checks, id handling, sparse encoder access.

Inputs are materialised and checked in full before anything is embedded or written, so a length
mismatch or a bad id raises :class:`~qdrant_aio.errors.InvalidInputError` with nothing written.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from qdrant_client import models

from .bridge import map_cooperatively, sync_or_async
from .config import IngestOptions
from .errors import ConfigurationError, InvalidInputError
from .ids import PointId, new_id, point_id_for
from .ingest import check_fits, json_size, point_size, text_json_size
from .payload import PayloadLayout, payload_size_bound
from .sparse import (
    SparseEncoder,
    aencode_documents,
    aencode_query,
    to_sparse_vector,
)

__all__ = [
    "RetrievalMode",
    "TextInputs",
    "aprepare_inputs",
    "one_per_text",
    "SparseEmbedder",
    "fusion_options",
    "reject_extra",
    "write_options",
]

Fusion = Literal["rrf", "dbsf"]
# How per-item work is mapped: ``QdrantEngine.amap`` or ``bridge.map_cooperatively``.
AsyncMapper = Callable[[Callable[[Any], Any], Sequence[Any]], Awaitable[list[Any]]]


class RetrievalMode(str, Enum):
    """Which vectors a store writes and searches (same names and values as langchain-qdrant's)."""

    DENSE = "dense"
    SPARSE = "sparse"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class TextInputs:
    """Texts, metadatas and ids of one add call, aligned, with duplicates resolved.

    ``ids`` has one id per input text (what the add call returns); ``keep`` lists the positions
    to write: for an id given several times only its last occurrence, as if the texts were
    added one after another.
    """

    texts: list[str]
    metadatas: list[Mapping[str, Any]]
    ids: list[str]
    keep: list[int]
    point_ids: list[PointId]
    sizes: list[int]  # JSON bytes of text + metadata (checked: JSON carries them exactly)


def one_per_text(value: object, what: str) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)):
        raise InvalidInputError(
            f"{what} must be an iterable with one entry per text, got a {type(value).__name__}"
        )
    if not isinstance(value, Iterable):
        raise InvalidInputError(f"{what} must be an iterable, got {type(value).__name__}")
    return list(value)


def _external_id(value: object, index: int) -> tuple[str, PointId]:
    if value is None:
        fresh = new_id()
        return fresh, fresh  # a new UUID4 is already in Qdrant's canonical spelling
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInputError(f"ids[{index}] must be a str or an int, got {value!r}")
    try:
        point_id = point_id_for(value)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"ids[{index}] is not a valid id: {error}") from error
    return (value if isinstance(value, str) else str(value)), point_id


async def aprepare_inputs(
    texts: Iterable[str],
    metadatas: Iterable[Mapping[str, Any] | None] | None,
    ids: Iterable[str | int | None] | None,
    max_request_bytes: int,
    amap: AsyncMapper = map_cooperatively,
    layout: PayloadLayout | None = None,
) -> TextInputs:
    """Materialise and check the inputs of an add call (generators are read once, here).

    Everything that can be checked without embedding is checked here, before anything is
    embedded or written: lengths, types, ids, that every metadata can be stored as JSON, and
    that no single document exceeds the request limit.
    Per-item work runs through ``amap`` (the engine's: off the loop when embedded).
    ``sizes`` are about the JSON sizes of the payloads :func:`build_payload` will make in
    ``layout``.
    """
    layout = layout or PayloadLayout()
    text_list = one_per_text(texts, "texts")
    for index, text in enumerate(text_list):
        if not isinstance(text, str):
            raise InvalidInputError(f"texts[{index}] must be a str, got {type(text).__name__}")
    count = len(text_list)
    metadata_list: list[Mapping[str, Any]] = []
    if metadatas is None:
        metadata_list = [{}] * count  # never mutated: payloads copy metadata
    else:
        raw_metadatas = one_per_text(metadatas, "metadatas")
        if len(raw_metadatas) != count:
            raise InvalidInputError(
                f"got {count} texts but {len(raw_metadatas)} metadatas; give one per text"
            )
        for index, metadata in enumerate(raw_metadatas):
            if metadata is not None and not isinstance(metadata, Mapping):
                raise InvalidInputError(
                    f"metadatas[{index}] must be a dict, got {type(metadata).__name__}"
                )
            metadata_list.append(metadata or {})
    raw_ids: list[Any] = [None] * count
    if ids is not None:
        raw_ids = one_per_text(ids, "ids")
        if len(raw_ids) != count:
            raise InvalidInputError(f"got {count} texts but {len(raw_ids)} ids; give one per text")
    def check_document(index: int) -> int:
        what = f"document {index}"
        size = payload_size_bound(
            layout,
            text_size=text_json_size(text_list[index]),
            metadata_size=json_size(metadata_list[index], f"metadatas[{index}]"),
        )
        check_fits(point_size(size, 0), max_request_bytes, what)
        return size

    sizes = await amap(check_document, range(count))
    pairs = await amap(
        lambda item: _external_id(item[1], item[0]), list(enumerate(raw_ids))
    )
    id_list = [external for external, _ in pairs]
    point_ids = [point_id for _, point_id in pairs]
    last: dict[PointId, int] = {point_id: index for index, point_id in enumerate(point_ids)}
    return TextInputs(
        text_list, metadata_list, id_list, sorted(last.values()), point_ids, sizes
    )


class SparseEmbedder:
    """Async access to a sparse encoder of any accepted kind.

    Accepted: a :class:`~qdrant_aio.sparse.SparseEncoder` (``encode_documents``/``encode_query``,
    such as :class:`~qdrant_aio.sparse.Bm25Encoder`), or an object in the style of
    langchain-qdrant's ``SparseEmbeddings`` (``embed_documents``/``embed_query`` returning objects
    with ``indices`` and ``values``). Its ``aembed_documents``/``aembed_query`` are awaited when
    it has them; otherwise its sync methods run in a worker thread, off the event loop. Only the
    built-in BM25 (microseconds a text) runs small batches on the loop.
    """

    def __init__(self, encoder: Any) -> None:
        if isinstance(encoder, SparseEncoder):
            self.kind = "encoder"
        elif callable(getattr(encoder, "embed_documents", None)) and callable(
            getattr(encoder, "embed_query", None)
        ):
            self.kind = "embeddings"
        else:
            raise ConfigurationError(
                "sparse_embedding must have encode_documents/encode_query or "
                f"embed_documents/embed_query; got {type(encoder).__name__}"
            )
        self.encoder = encoder

    async def documents(self, texts: list[str]) -> list[models.SparseVector]:
        if self.kind == "encoder":
            return await aencode_documents(self.encoder, texts)
        raw = await _call_embeddings(self.encoder, "embed_documents", texts)
        return [to_sparse_vector(v) for v in raw]

    async def query(self, text: str) -> models.SparseVector:
        if self.kind == "encoder":
            return await aencode_query(self.encoder, text)
        return to_sparse_vector(await _call_embeddings(self.encoder, "embed_query", text))


async def _call_embeddings(encoder: Any, method: str, argument: Any) -> Any:
    """``encoder.<method>(argument)`` (sync, in a worker thread), or its ``a<method>`` when it
    has one and the caller is async (see :func:`~qdrant_aio.bridge.sync_or_async`)."""
    sync_function = getattr(encoder, method)
    native = getattr(encoder, "a" + method, None)
    if not callable(native):
        return await asyncio.to_thread(sync_function, argument)
    return await sync_or_async(sync_function, native, argument)


def fusion_options(
    hybrid_fusion: object, default_fusion: Fusion, default_rrf_k: int | None
) -> tuple[Fusion, int | None]:
    """Fusion and RRF constant of one search.

    ``hybrid_fusion`` is ``None`` (the store's setting), ``"rrf"``/``"dbsf"``, or, as in
    langchain-qdrant, a ``models.FusionQuery`` or a ``models.RrfQuery`` without weights.
    """
    if hybrid_fusion is None:
        return default_fusion, default_rrf_k
    if hybrid_fusion in ("rrf", "dbsf"):
        return ("rrf", default_rrf_k) if hybrid_fusion == "rrf" else ("dbsf", None)
    if isinstance(hybrid_fusion, models.FusionQuery):
        if hybrid_fusion.fusion == models.Fusion.DBSF:
            return "dbsf", None
        return "rrf", default_rrf_k
    if isinstance(hybrid_fusion, models.RrfQuery):
        if hybrid_fusion.rrf.weights is not None:
            raise InvalidInputError("weighted RRF is not supported; give an RrfQuery without them")
        return "rrf", hybrid_fusion.rrf.k
    raise InvalidInputError(
        "hybrid_fusion must be 'rrf', 'dbsf', a models.FusionQuery or a models.RrfQuery, "
        f"got {hybrid_fusion!r}"
    )


def read_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """langchain-qdrant's per-search ``search_params`` and ``consistency``, taken out of a
    search's ``kwargs``: fields of :class:`~qdrant_aio.query.SearchRequest`, checked there."""
    return {name: kwargs.pop(name) for name in ("search_params", "consistency") if name in kwargs}


def write_options(kwargs: dict[str, Any], engine_options: IngestOptions) -> IngestOptions | None:
    """The ``wait`` and ``ordering`` of an add, taken out of its ``kwargs`` (langchain-qdrant
    passes an add's other keywords on to each upsert): the engine's options with them (checked
    there), or None when neither is given."""
    given = {name: kwargs.pop(name) for name in ("wait", "ordering") if name in kwargs}
    if not given:
        return None
    try:
        return dataclasses.replace(engine_options, **given)
    except ConfigurationError as error:  # a bad value of this call, not of the store
        raise InvalidInputError(str(error)) from error


def reject_extra(kwargs: Mapping[str, Any], method: str) -> None:
    """Fail loudly on options this store does not know, instead of silently ignoring them."""
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise TypeError(f"QdrantVectorStore.{method}() got unexpected keyword argument(s): {names}")
