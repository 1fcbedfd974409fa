"""Progress of long ingests (``show_progress=True``): tqdm when installed, else plain lines."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Counts acknowledged points. A no-op unless enabled."""

    def __init__(self, enabled: bool, total: int | None, description: str) -> None:
        self._bar: Any = None
        self._enabled = enabled
        self._total = total
        self._done = 0
        self._description = description
        self._last_line = 0
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - depends on the environment
            return
        self._bar = tqdm(total=total, desc=description, unit="pt")

    def advance(self, points: int) -> None:
        if not self._enabled:
            return
        self._done += points
        if self._bar is not None:
            self._bar.update(points)
            return
        # Without tqdm: one line per tenth of the total (or per 10,000 points).
        step = max(1, (self._total or 100_000) // 10)
        if self._done - self._last_line >= step or self._done == self._total:
            self._last_line = self._done
            total = f"/{self._total}" if self._total is not None else ""
            print(f"{self._description}: {self._done}{total} points", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
