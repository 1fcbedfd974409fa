"""Shared fixtures of the unit tests (helpers live in engine_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qdrant_aio import QdrantEngine


@pytest.fixture
def engine() -> Iterator[QdrantEngine]:
    eng = QdrantEngine()
    yield eng
    eng.close()
