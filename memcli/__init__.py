"""memcli: offline memory for LLMs in one SQLite file."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Imported on first use so `mem --help` does not pay for the store.
    if name == "Memory":
        from .memory import Memory

        return Memory
    if name in ("NewMemory", "Filters", "MemoryRecord", "Hit"):
        from . import records

        return getattr(records, name)
    raise AttributeError(name)
