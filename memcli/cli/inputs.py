"""Reading text from arguments, files and stdin, strictly as UTF-8."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..limits import MAX_TEXT_BYTES
from .render import printable

# Bulk JSON lines may be far larger than one memory.
MAX_BULK_BYTES = 1024 * 1024 * 1024


def stdin_is_piped() -> bool:
    stream = sys.stdin
    return stream is not None and not stream.closed and not stream.isatty()


def _decode(data: bytes, where: str) -> str:
    if b"\x00" in data:
        raise InputError(f"{where} contains NUL bytes: binary data cannot be stored as a memory")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where} is not valid UTF-8 text (byte {exc.start})") from None


def _read_limited(stream: Any, limit: int, where: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{where} is larger than {limit // 1048576} MB")
    return data


def read_stdin(limit: int = MAX_TEXT_BYTES) -> str:
    if sys.stdin is None or sys.stdin.closed:
        raise InputError("no input: stdin is closed")
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    data = _read_limited(stream, limit, "stdin")
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return _decode(data, "stdin")


def read_file(path: Path | str, limit: int = MAX_TEXT_BYTES) -> str:
    if str(path) == "-":
        return read_stdin(limit)
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = _read_limited(f, limit, str(path))
    except IsADirectoryError:
        raise InputError(f"{path} is a directory") from None
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return _decode(data, str(path))


def utf8_argument(text: str, what: str) -> str:
    """The text of an argument, or an InputError when its bytes were not UTF-8
    (Python hands them over as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"the {what} is not valid UTF-8") from None
    return text


def new_user_name(name: str | None) -> str | None:
    """A user name new memories are stored under: one line of printable text.

    A name is an identifier, printed in stats and lists: control, bidi and
    undecodable characters are refused here (names stored before still print,
    escaped, and can still be used to read and forget)."""
    if name is not None:
        utf8_argument(name, "user name")
    if name is not None and (printable(name) != name or "\t" in name):
        raise InputError(f"bad user name {name!r}: control, bidi and undecodable characters are not allowed")
    return name
