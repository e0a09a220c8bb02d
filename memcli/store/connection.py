"""Opening the SQLite file: a driver that can load extensions, sqlite-vec, pragmas."""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The Python build of many systems cannot load extensions; sqlean.py ships an
# SQLite (with FTS5) that can, on Linux, macOS and Windows.
import sqlean as sqlite3  # noqa: E402

from ..errors import ForeignDatabase, StoreError
from ..paths import ensure_private_dir
from . import encryption, translate
from .schema import MIGRATION_SET

if TYPE_CHECKING:
    from .base import Probe

try:  # SQLCipher, for encrypted stores (memcli.store.encryption); 5 ms to import
    import sqlcipher3 as _sqlcipher
except ImportError:  # pragma: no cover - a platform without the wheel: plain stores only
    _sqlcipher = None

BUSY_TIMEOUT_MS = 10_000
Connection = Any  # sqlean.Connection or sqlcipher3.Connection; kept loose so no type stubs are needed
# The errors of either driver, for `except` and isinstance.
_DRIVERS = [sqlite3] + ([_sqlcipher] if _sqlcipher is not None else [])
Error: tuple[type[Exception], ...] = tuple(d.Error for d in _DRIVERS)
DatabaseError: tuple[type[Exception], ...] = tuple(d.DatabaseError for d in _DRIVERS)
OperationalError: tuple[type[Exception], ...] = tuple(d.OperationalError for d in _DRIVERS)
IntegrityError: tuple[type[Exception], ...] = tuple(d.IntegrityError for d in _DRIVERS)


MMAP_BYTES = 1 << 30
ENCRYPTED_CACHE_KIB = 64 * 1024  # at most this much RAM of decrypted pages per connection


def database_message(exc: BaseException) -> str:
    """One line for an SQLite error, saying what became of the write."""
    text = str(exc)
    if "readonly" in text:
        return "cannot write: the database file or its directory is read-only; nothing was changed"
    # A failed write rolls back its own transaction only: a bulk load keeps the
    # batches stored before it (running it again skips them).
    if "disk is full" in text:
        return "cannot write: the disk is full; the write in progress was rolled back"
    if "disk I/O error" in text:
        return "disk I/O error (disk full, a file size limit, or failing storage); the write in progress was rolled back"
    return f"database problem: {text} (run `mem doctor`)"


def store_error(exc: BaseException) -> StoreError:
    """A driver's error as memcli's own (exit status 5)."""
    error = StoreError(database_message(exc))
    error.__cause__ = exc  # --debug shows the driver's traceback
    return error


# The driver's errors out of every public method of SQLiteStore come out as StoreError.
storage_errors = translate.storage_errors(DatabaseError, store_error)


def _create_private_file(path: Path) -> None:
    """Create an empty database file with mode 0600 before SQLite opens it.

    SQLite gives its -wal and -shm files the mode of the database. Through a
    dangling symlink the file made is the link's target.
    """
    target = path.resolve()
    ensure_private_dir(target.parent)
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(target, 0o600)  # whatever the umask


def key_for(path: Path, *, create: bool) -> str | None:
    """The key the store at `path` is opened with: None for a plain store. A new
    store is encrypted when the environment gives a key (memcli.store.encryption)."""
    if encryption.is_encrypted(path):
        return encryption.key_to_open(path)
    try:
        new = path.stat().st_size == 0
    except OSError:
        new = True
    return encryption.given_key() if new and create else None


def connect(path: Path, *, create: bool, key: str | None = None) -> Connection:
    """Open (or, with create=True, make) the database at *path*, with SQLCipher when `key` is given.

    Raises StoreError with a one-line explanation for a missing file, a directory,
    a file that is not SQLite, a wrong key, or one that cannot be opened.
    """
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    if not path.exists():
        if not create:
            raise StoreError(
                f"no database at {path}: store a memory first (mem remember ...) "
                "or point --db / MEMCLI_DB at an existing file"
            )
        try:
            _create_private_file(path)
        except FileExistsError:
            pass  # another process created it first
        except OSError as exc:
            raise StoreError(f"cannot create database {path}: {exc.strerror}") from None
    elif not os.access(path, os.R_OK):
        raise StoreError(f"cannot read database {path}: permission denied")
    try:
        conn = _open_checked(path, str(path), key=key)
    except DatabaseError as exc:
        if key is not None and "not a database" in str(exc):
            raise StoreError(
                f"cannot open {path}: the key is wrong (or it is not a database); nothing was changed"
            ) from None
        if not _read_only_place(path) or "unable to open" not in str(exc):
            raise StoreError(f"{path} is not a usable database: {exc}") from None
        # A WAL database in a read-only directory (read-only media, a frozen
        # backup): SQLite cannot create the -shm file beside it, so it is read
        # read-only, or as immutable when there is no WAL to honour.
        conn = _open_read_only(path, key)
    try:
        _refuse_foreign(conn, path)
        if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
            mode = retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            if mode.lower() != "wal":
                raise StoreError(f"cannot switch {path} to WAL mode (journal mode {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted content is overwritten with zeros, so forgotten text does not linger.
        conn.execute("PRAGMA secure_delete = ON")
        # Temporary tables and sorts stay in memory: a search's words (full-text
        # relevance tokenizes them in a temporary table) never reach a file.
        conn.execute("PRAGMA temp_store = MEMORY")
        # Reads through a memory map: the vector-candidate scan reads ~5 MB of
        # sqlite-vec chunks per query at 100k memories; mapped, that is 2x faster.
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        if key is not None:
            # SQLCipher maps nothing (pages are decrypted as they are read): keep
            # decrypted pages in a larger cache instead, so a long-lived process
            # (mem mcp, mem chat) decrypts each page once, not at every query.
            conn.execute(f"PRAGMA cache_size = -{ENCRYPTED_CACHE_KIB}")
    except DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path} is not a usable database: {exc}") from None
    return conn


def _refuse_foreign(conn: Connection, path: Path) -> None:
    """A SQLite file of another program is left as it is: no WAL, no tables of ours."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    if not tables:
        return  # a new or empty file
    if (
        "_sqlite_migrations" in tables
        and conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = ? LIMIT 1", [MIGRATION_SET]
        ).fetchone()
    ):
        return
    conn.close()
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    raise ForeignDatabase(
        f"{path} is not a memcli database (it holds other tables: {shown}); nothing was changed"
    )


def driver(key: str | None) -> Any:
    """The DB-API module for a store: SQLCipher for an encrypted one, else sqlean."""
    return encryption.cipher() if key is not None else sqlite3


def _open_checked(path: Path, target: str, *, uri: bool = False, key: str | None = None) -> Connection:
    """Connect, load sqlite-vec and touch the schema: that reveals a file that is not SQLite, or a wrong key."""
    try:
        conn = driver(key).connect(
            target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False, uri=uri
        )
    except Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    try:
        if key is not None:
            encryption.unlock(conn, key)
        _load_vec(conn)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _read_only_place(path: Path) -> bool:
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK))


def _open_read_only(path: Path, key: str | None = None) -> Connection:
    from urllib.parse import quote

    base = "file:" + quote(str(path.resolve()))
    wal = path.with_name(path.name + "-wal")
    options = ["mode=ro"]
    if not wal.exists() or wal.stat().st_size == 0:
        options.append("immutable=1")
    last: Exception | None = None
    for option in options:
        try:
            return _open_checked(path, f"{base}?{option}", uri=True, key=key)
        except DatabaseError as exc:
            last = exc
    raise StoreError(f"{path} is not a usable database: {last}") from None


def _vec_extension_path() -> str:
    # `import sqlite_vec` would import numpy.typing (0.1 s); only its file is needed.
    import importlib.util

    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("the sqlite-vec package is missing: pip install sqlite-vec")
    return os.path.join(list(spec.submodule_search_locations)[0], "vec0")


def _load_vec(conn: Connection) -> None:
    conn.enable_load_extension(True)
    try:
        conn.load_extension(_vec_extension_path())
    finally:
        conn.enable_load_extension(False)


def is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)


def retry_busy(fn, *, attempts: int = 8):  # type: ignore[no-untyped-def]
    """Call fn, retrying with jittered backoff while SQLite reports the file busy.

    busy_timeout already waits inside SQLite; this covers the cases it does not
    (a WAL-mode switch, a read transaction that must be upgraded).
    """
    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


_savepoints = itertools.count()


@contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error.

    IMMEDIATE takes the write lock up front, so a concurrent writer waits in
    busy_timeout instead of failing when a read transaction tries to upgrade.
    """
    if conn.in_transaction:  # nested: a savepoint inside the caller's transaction
        name = f"nested_{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            _undo(conn, f"ROLLBACK TO {name}", f"RELEASE {name}")
            raise
        else:
            conn.execute(f"RELEASE {name}")
        return
    retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        yield conn
        retry_busy(lambda: conn.execute("COMMIT"))
    except BaseException:
        _undo(conn, "ROLLBACK")
        raise


def _undo(conn: Connection, *statements: str) -> None:
    """Roll back what is left of a failed transaction. After a disk or I/O error
    SQLite may have rolled it back itself; the original error is what counts."""
    for sql in statements:
        if not conn.in_transaction:
            return
        try:
            conn.execute(sql)
        except Error:
            return


def copy_in_memory(conn: Connection, key: str | None = None) -> Connection:
    """A private in-memory copy of the whole database, sqlite-vec loaded: what a
    dry run works on (it never touches the disk, so no copy of the memories stays).
    SQLCipher copies an encrypted store only into a copy keyed the same way."""
    copy = driver(key).connect(":memory:", isolation_level=None, check_same_thread=False)
    if key is not None:
        encryption.unlock(copy, key)
    _load_vec(copy)
    conn.backup(copy)
    copy.execute("PRAGMA foreign_keys = ON")
    copy.execute("PRAGMA temp_store = MEMORY")
    return copy


def probes() -> list[Probe]:
    """What the SQLite backend needs from this machine: SQLite with FTS5, extension
    loading and sqlite-vec (sqlean.py), and SQLCipher for encrypted stores."""
    from ..errors import MemcliError
    from .base import Probe

    found: list[Probe] = []
    conn = sqlite3.connect(":memory:")
    try:
        version = conn.execute("SELECT sqlite_version()").fetchone()[0]
        found.append(Probe("version", True, f"SQLite {version} (sqlean.py)"))
        try:
            conn.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
            found.append(Probe("fts5", True, "FTS5 full-text search is built in"))
        except sqlite3.Error as exc:
            found.append(Probe("fts5", False, f"no FTS5: {exc}", "pip install --force-reinstall sqlean.py"))
        try:
            _load_vec(conn)
            vec = conn.execute("SELECT vec_version()").fetchone()[0]
            found.append(Probe("sqlite-vec", True, f"extension loading works; sqlite-vec {vec}"))
        except (sqlite3.Error, MemcliError, AttributeError) as exc:
            found.append(
                Probe(
                    "sqlite-vec",
                    False,
                    f"cannot load sqlite-vec: {exc}",
                    "pip install --force-reinstall sqlite-vec",
                )
            )
    finally:
        conn.close()
    found.append(_sqlcipher_probe())
    return found


def _sqlcipher_probe() -> Probe:
    from .base import Probe

    if _sqlcipher is None:
        return Probe("sqlcipher", True, "SQLCipher is not installed: stores cannot be encrypted")
    conn = _sqlcipher.connect(":memory:")
    try:
        version = conn.execute("PRAGMA cipher_version").fetchone()[0]
    finally:
        conn.close()
    return Probe("sqlcipher", True, f"SQLCipher {version} for encrypted stores (mem encrypt)")
