"""Room for an add's points in qdrant-client's local mode, made once instead of by doubling.

Local mode keeps each dense vector of a collection in one 2-D numpy array and grows it point by
point: when a point's row does not fit, ``np.resize`` builds an array twice as large and fills
it by copying the old one over and over. An add of 20,000 points into a new collection therefore
builds arrays of 1, 3, 7, ... 32,767 rows, writes about twice the final size of fresh memory
and copies it, and ends with room for 12,767 rows it never uses (measured ~9% of a 20,000-point
upsert's wall time). An add knows how many points it brings, so the engine gives the arrays room
for them once, before the first batch: one array, whose memory is touched only as rows are
written.

This reaches into local mode's private state, so it does nothing unless that state looks
exactly as expected (a dict of 2-D numpy arrays, one row per stored point, and the payload
list that counts them); anything else leaves local mode to grow its arrays itself. Rows past
the stored points are never read (local mode slices every array to the number of points), so
zeros there are as good as the copies ``np.resize`` leaves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["reserve_dense_rows"]


def reserve_dense_rows(local: Any, collection_name: str, rows: int) -> int:
    """Give every dense vector array of the collection room for ``rows`` more points.

    ``local`` is qdrant-client's local store (``QdrantLocal`` / ``AsyncQdrantLocal``). Returns
    the number of rows each array now has room for, or 0 when nothing was done (local mode's
    state not as expected, or room enough already). Growth is at least twofold, as local mode's
    own, so many small adds in a row still copy each array a logarithmic number of times.
    """
    collections = getattr(local, "collections", None)
    collection = collections.get(collection_name) if isinstance(collections, dict) else None
    arrays = getattr(collection, "vectors", None)
    stored = getattr(collection, "payload", None)
    if rows <= 0 or not isinstance(arrays, dict) or not isinstance(stored, list):
        return 0
    used = len(stored)
    if not all(_is_row_store(array, used) for array in arrays.values()):
        return 0
    needed = used + rows
    if not arrays or all(array.shape[0] >= needed for array in arrays.values()):
        return 0
    capacity = max(needed, 2 * used + 1)
    for name, array in list(arrays.items()):
        if array.shape[0] >= needed:
            continue
        # np.zeros maps fresh zero pages without touching them: memory is paid for only as
        # rows are written.
        grown = np.zeros((capacity, array.shape[1]), dtype=array.dtype)
        grown[:used] = array[:used]
        arrays[name] = grown
    return capacity


def _is_row_store(array: Any, used: int) -> bool:
    return isinstance(array, np.ndarray) and array.ndim == 2 and array.shape[0] >= used
