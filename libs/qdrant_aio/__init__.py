"""qdrant-aio: an async-first Qdrant vector store for LangChain and LlamaIndex.

This module imports no framework: ``qdrant_aio.langchain`` and ``qdrant_aio.llama_index`` hold the
adapters.
"""

from .config import CollectionLayout, CollectionSpec, IngestOptions, QueryCoalescing
from .engine import QdrantEngine
from .errors import (
    CollectionMismatchError,
    CollectionNotFoundError,
    ConfigurationError,
    DimensionMismatchError,
    EngineClosedError,
    IngestError,
    InvalidFilterError,
    InvalidInputError,
    QdrantAioError,
    QdrantRequestError,
    StorageLockedError,
    UnsupportedClientError,
)
from .ingest import PointInput
from .query import Hit, SearchRequest
from .retry import RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "QdrantEngine",
    "CollectionSpec",
    "CollectionLayout",
    "IngestOptions",
    "QueryCoalescing",
    "RetryPolicy",
    "PointInput",
    "SearchRequest",
    "Hit",
    "QdrantAioError",
    "ConfigurationError",
    "CollectionMismatchError",
    "DimensionMismatchError",
    "CollectionNotFoundError",
    "InvalidInputError",
    "InvalidFilterError",
    "UnsupportedClientError",
    "StorageLockedError",
    "EngineClosedError",
    "IngestError",
    "QdrantRequestError",
]
