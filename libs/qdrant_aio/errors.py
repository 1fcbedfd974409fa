"""The exception tree of qdrant-aio.

Every error the package raises on purpose derives from :class:`QdrantAioError`. Errors caused by
bad input also derive from :class:`ValueError` (or :class:`TypeError`), so code written against
the plain built-ins keeps working. Errors that wrap a qdrant-client failure are raised ``from`` it.
"""

from __future__ import annotations

from collections.abc import Sequence

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

    def __init__(self, collection: str, what: str, expected: object, actual: object) -> None:
        self.collection = collection
        self.what = what
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"collection {collection!r}: {what} mismatch: expected {expected!r}, "
            f"found {actual!r}"
        )


class InvalidInputError(QdrantAioError, ValueError):
    """Input rejected before anything was written (lengths, values, sizes, ids)."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the collection's (or the batch's) dimension."""

    def __init__(self, expected: int, actual: int, *, where: str = "") -> None:
        self.expected = expected
        self.actual = actual
        suffix = f" ({where})" if where else ""
        super().__init__(
            f"vector dimension mismatch: expected {expected}, got {actual}{suffix}"
        )


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
        super().__init__(
            f"{message}; {len(self.ids_not_written)} id(s) not written: {shown}{tail}"
        )
