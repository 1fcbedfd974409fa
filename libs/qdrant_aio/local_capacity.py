"""Room for an add's points in qdrant-client's local mode, made once instead of by doubling.

Local mode keeps each dense vector of a collection in one 2-D numpy array and grows it point by
point: when a point's row does not fit, ``np.resize`` makes room for twice as many rows by
concatenating three copies of the old array. An add of 20,000 points (384 dimensions) into a new
collection therefore goes through arrays of 1, 3, 7, ... 32,767 rows and writes about 150 MB of
fresh memory, which the kernel must first zero, for 30 MB of vectors (measured: ~9% of a
20,000-point local upsert's wall time, and most of an add's kernel time). An add knows how many
points it brings, so the engine gives the arrays room for them once, before the first batch: one
array, of which only the add's rows are touched, all at once (see ``_make_resident``).

This reaches into local mode's private state, so it does nothing unless that state looks
exactly as expected (a dict of 2-D numpy arrays, one row per stored point, and the payload
list that counts them); anything else leaves local mode to grow its arrays itself, and so does
a reservation that cannot be allocated. Rows past the stored points are never read (search
slices each array to the number of points, and every other read takes the rows of stored
points by position), so zeros there are as good as the copies ``np.resize`` leaves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

__all__ = ["reserve_dense_rows"]


def reserve_dense_rows(
    local: Any,
    collection_name: str,
    rows: int,
    installing: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
) -> int:
    """Give every dense vector array of the collection room for ``rows`` more points.

    ``local`` is qdrant-client's local store (``QdrantLocal`` / ``AsyncQdrantLocal``); the
    collection may be named by an alias. Returns the number of rows every array now has room
    for at least, or 0 when nothing was done (local mode's state not as expected, room enough
    already, or no memory for it). Growth is at least twofold, as local mode's own, so many
    small adds in a row still copy each array a logarithmic number of times.

    The new arrays are built (allocated, filled with the stored rows, the add's rows written)
    beside the old ones, which reads may go on using; only putting them in place happens inside
    ``installing`` (the caller's write lock). Call it where no other write can run meanwhile
    (the engine's storage thread): a write between the two would be lost, so the arrays are
    put in place only if the collection still holds the same arrays and points.
    """
    collection = _collection(local, collection_name)
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
    replaced: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, array in list(arrays.items()):
        if array.shape[0] >= needed:
            continue
        try:
            # np.zeros maps fresh zero pages without touching them: memory is paid for only
            # as rows are written.
            grown = np.zeros((capacity, array.shape[1]), dtype=array.dtype)
        except MemoryError:
            # Room for ids that may all be stored already (a re-add), or on a machine that
            # counts untouched memory: the add itself may still fit, so let it try.
            return 0
        grown[:used] = array[:used]
        _make_resident(grown[used:needed])
        replaced[name] = (array, grown)
    with installing():
        if len(stored) != used or any(arrays.get(n) is not old for n, (old, _) in replaced.items()):
            return 0
        for name, (_, grown) in replaced.items():
            arrays[name] = grown
    return capacity


def _make_resident(rows: np.ndarray) -> None:
    """Write the rows an add is about to fill, so that their memory is mapped now, in one call
    that lets go of the interpreter lock, rather than a page at a time as points arrive.

    numpy asks the kernel for transparent huge pages on arrays of 4 MB and more, so writing the
    rows one by one faults in 2 MB at a time (~1,365 rows of 384 floats), each zeroed by the
    kernel inside the write that touches it, which holds the interpreter lock: measured, every
    ~47 ms of a 20,000-point add into a new collection your loop waited ~4.2 ms for the lock
    (its p99 lateness 4.3-4.6 ms in a process's first add, on a VM where memory is slow to touch
    the first time). Writing zeros (the array's contents already) costs the same page faults,
    with your loop running meanwhile, and with reads going on (this happens before the write
    lock is taken: 250,000 rows took ~0.85 s here, which reads waited out when it was inside).
    Only the rows of this add: the rest of the room stays untouched until used, as before."""
    rows[...] = 0


def _collection(local: Any, name: str) -> Any:
    collections = getattr(local, "collections", None)
    if not isinstance(collections, dict):
        return None
    if name not in collections:
        aliases = getattr(local, "aliases", None)
        if isinstance(aliases, dict) and isinstance(aliases.get(name), str):
            name = aliases[name]
    return collections.get(name)


def _is_row_store(array: Any, used: int) -> bool:
    return isinstance(array, np.ndarray) and array.ndim == 2 and array.shape[0] >= used
