"""Encryption at rest: SQLCipher, its key, and turning a store encrypted or plain.

An encrypted store is a SQLCipher file: every page, the header included, is
encrypted (AES-256, keyed from the passphrase by PBKDF2), so the file's bytes
hold nothing readable and no sign that it is a database. It is opened through
the `sqlcipher3` module (the `sqlcipher3-binary` wheel, a DB-API module like
sqlite3 with FTS5 and extension loading); a plain store through sqlean.

The key is never an argument (it would be in the shell's history and in `ps`).
It comes, in this order, from:

1. MEMCLI_KEY, the passphrase itself;
2. MEMCLI_KEY_FILE, a file readable by its owner only (0600) that holds it;
3. the OS keyring, through the `keyring` package where it is installed and has a
   backend (`mem encrypt --keyring` puts the key there, under the service
   "memcli" and the database's absolute path);
4. a prompt, when stdin is a terminal.

A new store is encrypted when a key is given by 1 or 2; an existing one is
opened as what it is (its first 16 bytes say which).
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError, StoreError

KEY_ENV = "MEMCLI_KEY"
KEY_FILE_ENV = "MEMCLI_KEY_FILE"
KEYRING_SERVICE = "memcli"
PLAIN_HEADER = b"SQLite format 3\x00"
MAX_KEY_BYTES = 4096


def cipher() -> Any:
    """The sqlcipher3 module, or a StoreError saying how to install it."""
    try:
        import sqlcipher3
    except ImportError:
        raise StoreError(
            "encrypted stores need the sqlcipher3-binary package: pip install sqlcipher3-binary"
        ) from None
    return sqlcipher3


def is_encrypted(path: Path) -> bool:
    """Whether a database file is not plain SQLite: an encrypted store (or no database at all)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(PLAIN_HEADER))
    except OSError:
        return False
    return len(head) == len(PLAIN_HEADER) and head != PLAIN_HEADER


def given_key() -> str | None:
    """The key given by the environment (MEMCLI_KEY, else MEMCLI_KEY_FILE), if any."""
    if key := os.environ.get(KEY_ENV):
        return checked(key, KEY_ENV)
    if name := os.environ.get(KEY_FILE_ENV):
        return checked(read_key_file(Path(name)), f"the key file {name}")
    return None


def read_key_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise StoreError(f"cannot read the key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        found = os.fstat(f.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise StoreError(f"the key file {path} is not a regular file")
        if found.st_mode & 0o077:
            raise StoreError(
                f"the key file {path} can be read by others (mode {stat.S_IMODE(found.st_mode):04o}): "
                f"chmod 600 {path}"
            )
        raw = f.read(MAX_KEY_BYTES + 1)
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise StoreError(f"the key file {path} is not UTF-8 text") from None


def checked(key: str, where: str) -> str:
    if not key:
        raise StoreError(f"{where} is empty: an encrypted store needs a passphrase")
    if "\x00" in key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise StoreError(f"{where} is not a usable passphrase (a NUL, or over {MAX_KEY_BYTES} bytes)")
    return key


def keyring_key(path: Path) -> str | None:
    """The key the OS keyring holds for this database, if `keyring` and a backend exist."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        key = keyring.get_password(KEYRING_SERVICE, str(path.resolve()))
    except (KeyringError, RuntimeError, OSError):
        return None  # no backend, or it is locked: the other ways remain
    return checked(key, "the keyring's key") if key else None


def save_in_keyring(path: Path, key: str) -> None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        raise StoreError("--keyring needs the keyring package: pip install keyring") from None
    try:
        keyring.set_password(KEYRING_SERVICE, str(path.resolve()), key)
    except (KeyringError, RuntimeError, OSError) as exc:
        raise StoreError(f"the OS keyring cannot keep the key: {exc}") from None


def forget_from_keyring(path: Path) -> None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return
    try:
        keyring.delete_password(KEYRING_SERVICE, str(path.resolve()))
    except (KeyringError, RuntimeError, OSError):
        pass  # nothing kept there, or no backend


def key_to_open(path: Path) -> str:
    """The key of an encrypted store: from the environment, the keyring, or a prompt on a terminal."""
    key = given_key() or keyring_key(path)
    if key is None and sys.stdin is not None and sys.stdin.isatty():
        try:
            key = checked(getpass.getpass(f"Key for {path}: "), "the key typed")
        except (EOFError, KeyboardInterrupt):
            key = None
    if key is None:
        raise StoreError(
            f"{path} is not a usable database without a key: if it is an encrypted store, give its "
            f"key in {KEY_ENV} or {KEY_FILE_ENV}, keep it in the OS keyring (mem encrypt --keyring), "
            "or type it on a terminal"
        )
    return key


def new_key() -> str:
    """The key for `mem encrypt`: given by the environment, else typed twice on a terminal."""
    if key := given_key():
        return key
    if sys.stdin is None or not sys.stdin.isatty():
        raise InputError(
            f"give the new key in {KEY_ENV} or {KEY_FILE_ENV} (never on the command line), "
            "or run this on a terminal to type it"
        )
    key = checked(getpass.getpass("New key: "), "the key typed")
    if getpass.getpass("The same key again: ") != key:
        raise InputError("the two keys differ; nothing was changed")
    return key


def pragma_key(key: str) -> str:
    """`PRAGMA key` takes no parameters: the passphrase as an SQL string literal."""
    return "'" + key.replace("'", "''") + "'"


def unlock(conn: Any, key: str) -> None:
    """Key a SQLCipher connection, quietly: a wrong key is an error of ours, not log lines."""
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = {pragma_key(key)}")


def convert(path: Path, *, old_key: str | None, new_key: str | None) -> int:
    """Rewrite the store at `path` under `new_key` (None: plain), atomically; the memories it holds.

    The new form is written beside the old one (0600, by sqlcipher_export), checked
    and renamed over it, so the path holds the whole store in one form or the
    other whatever happens. The old file is then overwritten with zeros through
    a descriptor opened before the rename, so no copy in the old form is left in
    the directory. While it runs the store is locked: other commands wait, and a
    process that had it open before (a `mem chat`, a `mem mcp`) must be restarted.
    A driver's error (a full disk, say) comes out as StoreError.
    """
    from .connection import DatabaseError, store_error

    try:
        return _convert(path, old_key=old_key, new_key=new_key)
    except DatabaseError as exc:
        raise store_error(exc) from exc


def _convert(path: Path, *, old_key: str | None, new_key: str | None) -> int:
    from .connection import BUSY_TIMEOUT_MS, _create_private_file, _load_vec

    sqlcipher3 = cipher()
    conn = sqlcipher3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    temp = path.with_name(f".{path.name}.{os.getpid()}.converting")
    try:
        if old_key is not None:
            unlock(conn, old_key)
        else:
            conn.execute("PRAGMA cipher_log_level = NONE")
        _load_vec(conn)
        try:
            count = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
        except sqlcipher3.DatabaseError as exc:
            reason = "the key is wrong" if old_key is not None and "not a database" in str(exc) else exc
            raise StoreError(f"cannot open {path}: {reason}; nothing was changed") from None
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # held until the rename is done
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file, the WAL empty
        temp.unlink(missing_ok=True)
        _create_private_file(temp)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"ATTACH DATABASE ? AS converted KEY {pragma_key(new_key or '')}", [str(temp)])
        conn.execute("SELECT sqlcipher_export('converted')")
        conn.execute(f"PRAGMA converted.user_version = {int(version)}")
        conn.execute("DETACH DATABASE converted")
        _check_copy(temp, new_key, count)
        old = os.open(path, os.O_RDWR)
        try:
            os.replace(temp, path)
            _fsync(path.parent)
            conn.close()
            _zero(old)
        finally:
            os.close(old)
    except BaseException:
        conn.close()
        temp.unlink(missing_ok=True)
        raise
    return int(count)


def _check_copy(temp: Path, key: str | None, count: int) -> None:
    """The new file opens with its key and holds every memory, before it replaces the old one."""
    from .connection import _load_vec

    copy = cipher().connect(str(temp), isolation_level=None)
    try:
        if key is not None:
            unlock(copy, key)
        _load_vec(copy)
        found = copy.execute("SELECT count(*) FROM memories").fetchone()[0]
        problems = [r[0] for r in copy.execute("PRAGMA quick_check")]
    finally:
        copy.close()
    if found != count or problems != ["ok"]:
        raise StoreError(
            f"the converted copy is not whole ({found} of {count} memories); nothing was changed"
        )
    _fsync(temp)


def _zero(fd: int) -> None:
    size = os.fstat(fd).st_size
    block = b"\0" * (1 << 20)
    done = 0
    while done < size:
        done += os.pwrite(fd, block[: min(len(block), size - done)], done)
    os.fsync(fd)


def _fsync(path: Path) -> None:
    """Flush a file, or a directory's entries (a rename), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
