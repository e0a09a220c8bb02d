"""`mem encrypt` and `mem decrypt`: turn a store encrypted at rest, or plain again."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from . import render
from .app import app
from .commands import DbOpt, JsonOpt

KeyringOpt = Annotated[
    bool,
    typer.Option("--keyring", help="Also keep the key in the OS keyring (needs the keyring package)."),
]


def _converted(db: str | None, *, encrypt: bool, keyring: bool, json_out: bool) -> None:
    from ..paths import db_location, db_path
    from ..store import encryption, is_url
    from ..store.filelock import exclusive
    from ..store.sqlite import SQLiteStore

    if is_url(db_location(db)):
        raise UsageError("encryption at rest is for a SQLite file; a database server encrypts its own disk")
    path = db_path(db)
    # Opened as any command opens it first: a missing, foreign or damaged file, or a
    # wrong key, is the same one-line error; the key of an encrypted store is asked once.
    store = SQLiteStore(path, create=False)
    old_key = store.key
    store.close()
    if (old_key is not None) == encrypt:
        raise UsageError(f"{path} is {'already' if encrypt else 'not'} encrypted; nothing was changed")
    new_key = encryption.new_key() if encrypt else None
    with exclusive(path):  # no consolidation runs while the file is rewritten
        count = encryption.convert(path, old_key=old_key, new_key=new_key)
    if keyring and new_key:
        encryption.save_in_keyring(path, new_key)
    elif not encrypt:
        encryption.forget_from_keyring(path)
    if json_out:
        render.emit_json({"path": str(path), "encrypted": encrypt, "memories": count, "keyring": keyring})
        return
    done = "Encrypted" if encrypt else "Decrypted"
    render.console().print(
        render.printable(f"{done} {path} ({count} memories); no copy in the old form is left.")
    )
    if encrypt and not keyring:
        render.console().print(
            f"Every mem command now needs the key: {encryption.KEY_ENV}, {encryption.KEY_FILE_ENV}, "
            "the keyring (mem encrypt --keyring) or a prompt on a terminal."
        )


@app.command()
def encrypt(db: DbOpt = None, keyring: KeyringOpt = False, json_out: JsonOpt = False) -> None:
    """Encrypt a store at rest (SQLCipher), in place, leaving no plain copy behind.

    The new key comes from $MEMCLI_KEY or $MEMCLI_KEY_FILE (a 0600 file), else it
    is typed twice on a terminal; never from an argument. Stop `mem chat` and
    `mem mcp` on this store first: they hold the old file open.

    Examples:

      mem encrypt

      MEMCLI_KEY_FILE=~/.config/memcli/key mem encrypt --keyring
    """
    _converted(db, encrypt=True, keyring=keyring, json_out=json_out)


@app.command()
def decrypt(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Turn an encrypted store back into a plain SQLite file, in place.

    The key is read as for every command ($MEMCLI_KEY, $MEMCLI_KEY_FILE, the OS
    keyring, a prompt); the keyring's copy of it is removed.

    Example:

      mem decrypt
    """
    _converted(db, encrypt=False, keyring=False, json_out=json_out)
