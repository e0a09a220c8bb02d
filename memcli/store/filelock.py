"""A lock on a store file: one consolidation (or conversion) per database at a time."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import Busy


@contextmanager
def exclusive(db_path: Path) -> Iterator[None]:
    """One consolidation per database at a time (an advisory lock, freed if the process dies)."""
    lock_path = db_path.with_name(db_path.name + ".consolidate.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            raise Busy(
                f"another mem consolidate is running on {db_path}"
                + (f" (pid {holder})" if holder else "")
                + "; this run did nothing"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
