"""Storage backends behind one contract (memcli.store.base): `open_store` picks one by location.

A location is a path (the embedded SQLite store) or a database URL;
PostgreSQL (`postgresql://...`) is the next backend. Backends are imported
only when opened, so importing this costs nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError

if TYPE_CHECKING:
    from .base import Probe, Store

# A path given through --db loses one slash of the URL ("postgresql:/host/db").
_POSTGRES = re.compile(r"postgres(ql)?:/", re.IGNORECASE)


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether a --db / MEMCLI_DB value names a database server, not a file."""
    return bool(_POSTGRES.match(os.fspath(location)))


def open_store(location: str | os.PathLike[str], *, create: bool = True) -> Store:
    """The store at `location`: a SQLite file (made when missing, with `create`), or a
    database URL. StoreError (exit status 5) when it cannot be opened."""
    if is_url(location):
        raise StoreError("PostgreSQL stores are not supported yet: point --db or MEMCLI_DB at a file")
    from .sqlite import SQLiteStore

    return SQLiteStore(Path(location), create=create)


def probes(location: str | os.PathLike[str]) -> list[Probe]:
    """What the backend of `location` needs from this machine, checked (mem doctor)."""
    if is_url(location):
        return []
    from .connection import probes as sqlite_probes

    return sqlite_probes()
