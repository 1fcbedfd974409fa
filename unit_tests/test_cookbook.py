"""Every cookbook example runs, quickly, and finds what it says it finds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

COOKBOOK = Path(__file__).resolve().parent.parent / "cookbook"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cookbook_{name}", COOKBOOK / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_quickstart_finds_the_nearest_cities() -> None:
    found = await load("quickstart").main()
    assert found == ["New York", "Berlin", "Munich", "Berlin", "Munich"]


def test_quickstart_runs_from_its_file() -> None:
    result = subprocess.run(
        [sys.executable, str(COOKBOOK / "quickstart.py")],
        capture_output=True, text=True, check=True, timeout=120,
    )
    assert "nearest in Germany" in result.stdout
