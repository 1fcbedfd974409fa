"""The dense-vector checks of the ingest path agree with numpy's float32 conversion."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from qdrant_aio.ingest import dense_rows, finite_float32

F32_MAX = float(np.finfo(np.float32).max)


def numpy_says(values: list[Any]) -> bool:
    """The reference: what numpy's float32 conversion of the numbers keeps finite."""
    try:
        array = np.asarray(values)
    except (OverflowError, ValueError, TypeError):
        return False
    if array.dtype.kind not in "biuf":
        return False  # strings, Decimals, objects
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(array.astype(np.float32)).all())


class OnlyFloat:
    """Converts to a float but is no number (numpy keeps it an object)."""

    def __float__(self) -> float:
        return 0.5


ROUNDS_DOWN = math.nextafter(F32_MAX + 2.0**103, 0.0)  # float32 rounds it to its maximum
SPECIAL = [
    float("nan"), float("inf"), -float("inf"), 1e39, -1e39, F32_MAX, -F32_MAX, 3.5e38, 1e308,
    0.0, -0.0, 5e-324, True, 7, 10**400, ROUNDS_DOWN, -ROUNDS_DOWN, F32_MAX + 2.0**103,
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
        ([Decimal("0.5"), 0.5], False),
        ([Decimal("0.5")], False),
        ([OnlyFloat(), 0.5], False),
        ([ROUNDS_DOWN, 1.0], True),
        ([F32_MAX + 2.0**103], False),
        (list(np.ones(3, dtype=np.float32)), True),
    ],
)
def test_finite_float32_edge_cases(values: list[Any], expected: bool) -> None:
    assert finite_float32(values) is expected
    assert numpy_says(values) is expected  # the list path and the float32 path agree


def test_dense_rows_refuses_what_float32_cannot_hold() -> None:
    good = [[0.5, 1.0], [F32_MAX, -F32_MAX]]
    rows = dense_rows(good, 2)
    assert rows is not None and rows.dtype == np.float32 and rows.shape == (2, 2)
    for bad in ([1e39, 0.0], [float("nan"), 0.0], ["a", 0.0], [0.0]):
        assert dense_rows([good[0], bad], 2) is None
    assert dense_rows([good[0], None], 2) is None


def test_list_vectors_of_numpy_scalars_are_sent_as_plain_floats() -> None:
    from qdrant_aio.ingest import _check_dense

    values = _check_dense(list(np.array([0.5, 0.25], dtype=np.float32)), 2, "p")
    assert values == [0.5, 0.25] and all(type(v) is float for v in values)
    assert _check_dense(np.array([0.5, 0.25]), 2, "p") == [0.5, 0.25]


@pytest.mark.parametrize(("values", "checked"), [
    ([0.5, np.float32(0.25), 0.125], False),  # a numpy scalar amid floats: no JSON for it
    ([1, 2, 3], False),  # whole numbers
    ([1, 2, 3], True),  # ... in a vector its caller checked already (dense_finite)
    ([True, False, 0.5], False),  # a bool would go out as JSON true, which Qdrant refuses
    ([0.5, 0.25, np.float64(1)], True),
])
def test_list_vectors_reach_the_request_as_plain_floats(values: list[Any], checked: bool) -> None:
    from qdrant_aio.ingest import _check_dense

    sent = _check_dense(values, 3, "p", finite=checked)
    assert sent == [float(v) for v in values] and all(type(v) is float for v in sent)


def test_an_empty_vector_is_refused() -> None:
    from qdrant_aio import InvalidInputError
    from qdrant_aio.ingest import _check_dense, _check_dense_array

    for check in (_check_dense, _check_dense_array):
        with pytest.raises(InvalidInputError, match="empty"):
            check([], None, "p")
