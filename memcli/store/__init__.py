"""Storage backends behind one contract (memcli.store.base): `open_store` picks one by location.

A location is a path (the embedded SQLite store) or a database URL;
PostgreSQL (`postgresql://...`, memcli.store.postgres) the shared one. Backends are imported
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

_POSTGRES = re.compile(r"postgres(ql)?://", re.IGNORECASE)


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether a --db / MEMCLI_DB value names a database server, not a file."""
    return bool(_POSTGRES.match(os.fspath(location)))


_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def display_url(url: str) -> str:
    """A database URL to show people: its password (if any) replaced by ***."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def open_store(location: str | os.PathLike[str], *, create: bool = True) -> Store:
    """The store at `location`: a SQLite file (made when missing, with `create`), or a
    database URL. StoreError (exit status 5) when it cannot be opened."""
    if is_url(location):
        try:
            from .postgres import PostgresStore
        except ImportError:
            raise StoreError(
                "PostgreSQL stores need psycopg and pgvector: pip install 'memcli[postgres]'"
            ) from None
        return PostgresStore(os.fspath(location), create=create)
    from .sqlite import SQLiteStore

    return SQLiteStore(Path(location), create=create)


def probes(location: str | os.PathLike[str]) -> list[Probe]:
    """What the backend of `location` needs from this machine, checked (mem doctor)."""
    if is_url(location):
        try:
            from .postgres import probes as server_probes
        except ImportError:
            from .base import Probe

            return [
                Probe(
                    "psycopg",
                    False,
                    "psycopg and pgvector are not installed",
                    "pip install 'memcli[postgres]'",
                )
            ]
        return server_probes(os.fspath(location))
    from .connection import probes as sqlite_probes

    return sqlite_probes()
