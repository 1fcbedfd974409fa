"""The exception tree of qdrant-aio.

Every error the package raises on purpose derives from :class:`QdrantAioError`. Errors caused by
bad input also derive from :class:`ValueError` (or :class:`TypeError`), so code written against
the plain built-ins keeps working. Errors that wrap a qdrant-client failure are raised ``from`` it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

__all__ = [
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


class QdrantAioError(Exception):
    """Base class of every error raised by qdrant-aio."""


class ConfigurationError(QdrantAioError, ValueError):
    """Invalid options given to the engine or a store."""


class CollectionMismatchError(ConfigurationError):
    """An existing collection does not match the settings of the store using it."""

    collection: str | None  # None: not named where it was found (a DimensionMismatchError)

    def __init__(self, collection: str, what: str, expected: object, actual: object) -> None:
        self.collection = collection
        self.what = what
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"collection {collection!r}: {what} mismatch: expected {expected!r}, "
            f"found {actual!r}"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (for multiprocessing, task queues)
        return type(self), (self.collection, self.what, self.expected, self.actual)


class InvalidInputError(QdrantAioError, ValueError):
    """Input rejected before anything was written (lengths, values, sizes, ids)."""


class DimensionMismatchError(InvalidInputError, CollectionMismatchError):
    """A vector's length differs from the collection's (or the batch's) dimension.

    Bad input, and also a :class:`CollectionMismatchError`: the usual cause is a store whose
    embedding model does not fit an existing collection's size (found at the first add or
    query, since no model is called before), so either ``except`` clause catches it.
    """

    def __init__(self, expected: int, actual: int, *, where: str = "") -> None:
        self.collection = None
        self.what = "dense vector size"
        self.expected = expected
        self.actual = actual
        suffix = f" ({where})" if where else ""
        self._where = where
        Exception.__init__(
            self, f"vector dimension mismatch: expected {expected}, got {actual}{suffix}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return functools.partial(type(self), where=self._where), (self.expected, self.actual)


class InvalidFilterError(InvalidInputError):
    """A filter that cannot be translated to a Qdrant filter.

    Raised instead of ever running a query or a delete with a filter that would silently match
    more (or less) than asked for.
    """


class CollectionNotFoundError(QdrantAioError, LookupError):
    """The collection does not exist (and the operation does not create it)."""

    def __init__(self, collection: str) -> None:
        self.collection = collection
        super().__init__(f"collection {collection!r} does not exist")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.collection,)


class UnsupportedClientError(QdrantAioError, TypeError):
    """An object that is neither an engine, an AsyncQdrantClient nor a QdrantClient."""


class StorageLockedError(ConfigurationError):
    """An embedded storage folder is already opened by another client or engine."""


class EngineClosedError(QdrantAioError, RuntimeError):
    """The engine was closed; create a new one."""


class QdrantRequestError(QdrantAioError):
    """A request to Qdrant failed (after retries, when the failure was transient)."""


class IngestError(QdrantAioError):
    """An ingest could not write every point; ``ids_not_written`` lists the ones missing.

    Every id not in ``ids_not_written`` was acknowledged by Qdrant. Because point ids are fixed
    before the first attempt, running the same ingest again is safe: it overwrites, never
    duplicates.
    """

    def __init__(self, message: str, ids_not_written: Sequence[str]) -> None:
        self.ids_not_written: list[str] = list(ids_not_written)
        shown = ", ".join(self.ids_not_written[:10])
        more = len(self.ids_not_written) - 10
        tail = f" and {more} more" if more > 0 else ""
        self._message = message
        super().__init__(
            f"{message}; {len(self.ids_not_written)} id(s) not written: {shown}{tail}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self._message, self.ids_not_written)
