"""The dense-vector checks of the ingest path agree with numpy's float32 conversion."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from qdrant_aio.ingest import dense_rows, finite_float32

F32_MAX = float(np.finfo(np.float32).max)


def numpy_says(values: list[Any]) -> bool:
    """The reference: every value a number that float32 holds finitely."""
    if not all(isinstance(v, (int, float)) for v in values):
        return False
    try:
        wide = np.asarray(values, dtype=np.float64)
    except OverflowError:
        return False
    return bool(np.isfinite(wide).all() and (np.abs(wide) <= F32_MAX).all())


SPECIAL = [
    float("nan"), float("inf"), -float("inf"), 1e39, -1e39, F32_MAX, -F32_MAX, 3.5e38, 1e308,
    0.0, -0.0, 5e-324, True, 7, 10**400,
]


def random_vectors(n: int) -> list[list[Any]]:
    rng = random.Random(11)
    vectors: list[list[Any]] = []
    for _ in range(n):
        size = rng.choice([1, 2, 3, 16, 384])
        vector: list[Any] = [rng.gauss(0, 1) for _ in range(size)]
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            vector[rng.randrange(size)] = rng.choice(SPECIAL)
        vectors.append(vector)
    return vectors


def test_finite_float32_agrees_with_numpy_on_random_vectors() -> None:
    vectors = random_vectors(3000)
    outcomes = [finite_float32(v) for v in vectors]
    assert outcomes == [numpy_says(v) for v in vectors]
    assert 0 < sum(outcomes) < len(outcomes)  # both answers occur


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], True),
        ([F32_MAX] * 4, True),  # a norm beyond float32, every value within it
        ([F32_MAX, 1e39], False),
        ([float("inf"), float("nan")], False),
        ([1.0, "2"], False),
        ([1.0, None], False),
        ([10**400], False),
    ],
)
def test_finite_float32_edge_cases(values: list[Any], expected: bool) -> None:
    assert finite_float32(values) is expected


def test_dense_rows_refuses_what_float32_cannot_hold() -> None:
    good = [[0.5, 1.0], [F32_MAX, -F32_MAX]]
    rows = dense_rows(good, 2)
    assert rows is not None and rows.dtype == np.float32 and rows.shape == (2, 2)
    for bad in ([1e39, 0.0], [float("nan"), 0.0], ["a", 0.0], [0.0]):
        assert dense_rows([good[0], bad], 2) is None
    assert dense_rows([good[0], None], 2) is None
