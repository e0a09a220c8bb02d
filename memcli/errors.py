"""Error classes of the core and the exit codes the CLI maps them to."""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes of every `mem` command (documented in `mem --help` and the README)."""

    OK = 0
    ERROR = 1  # unexpected failure; rerun with --debug for the traceback
    USAGE = 2  # bad option or argument (also a refused confirmation)
    NOT_FOUND = 3  # unknown memory id
    INPUT = 4  # bad input: empty, not UTF-8, binary, unreadable file, bad date
    DATABASE = (
        5  # database missing, not a memcli/SQLite file, corrupt, read-only, locked, key wrong or missing
    )
    MODEL = 6  # a model missing or broken; embeddings not the store's; a model reply unusable after retries
    BUSY = 7  # another `mem consolidate` is running on this database
    INTERRUPTED = 130


# OSErrors that mean the storage is at fault, not the input: exit status DATABASE.
STORAGE_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class MemcliError(Exception):
    """Base class: a problem the user can fix, shown as one line."""

    exit_status = ExitStatus.ERROR


class UsageError(MemcliError):
    exit_status = ExitStatus.USAGE


class NotFound(MemcliError):
    exit_status = ExitStatus.NOT_FOUND


class InputError(MemcliError):
    exit_status = ExitStatus.INPUT


class StoreError(MemcliError):
    exit_status = ExitStatus.DATABASE


class ForeignDatabase(StoreError):
    """A SQLite file of another program: memcli leaves it as it is."""


class Busy(MemcliError):
    """Another `mem consolidate` (or a conversion of the file) holds the store's lock."""

    exit_status = ExitStatus.BUSY


class ModelError(MemcliError):
    exit_status = ExitStatus.MODEL
