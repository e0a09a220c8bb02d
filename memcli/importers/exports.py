"""Reading other programs' exports: JSON from a file, a folder or a zip, their times,
and conversations turned into threads."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import InputError
from ..memory import prepare_rows
from ..records import CHAT_THREAD_PREFIX, NewMemory
from ..timeparse import format_time

# An export may be far larger than one memory: as large as a backup `mem import` reads.
MAX_EXPORT_BYTES = 1024 * 1024 * 1024


class Found(NamedTuple):
    """What a format's reader found: the memories to store, how many conversations
    (notes, facts) it read, and how many of those held nothing to keep."""

    items: list[NewMemory]
    read: int
    empty: int


def read_bytes(path: Path) -> bytes:
    """A file's bytes, or InputError saying why it cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_EXPORT_BYTES + 1)
    except IsADirectoryError:
        raise InputError(f"{path} is a directory") from None
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_EXPORT_BYTES:
        raise InputError(f"{path} is larger than {MAX_EXPORT_BYTES // 1048576} MB")
    return data


def decode(data: bytes, where: str) -> str:
    if b"\x00" in data:
        raise InputError(f"{where} contains NUL bytes: it is not a text file")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is no part of the JSON
    except UnicodeDecodeError as exc:
        raise InputError(f"{where} is not valid UTF-8 text (byte {exc.start})") from None


def parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(f"{where} is not valid JSON (nested too deeply)") from None


def export_json(path: Path, text: str | None, member: str, what: str) -> tuple[Any, str]:
    """The JSON of an export's `member` (conversations.json) and where it was found.

    `path` is the file itself, the unzipped export folder, or the export's zip;
    `text` is the file's content when it came from stdin.
    """
    if text is not None:
        return parse_json(text, "stdin"), "stdin"
    if path.is_dir():
        found = sorted(path.rglob(member), key=lambda p: (len(p.parts), str(p)))
        if not found:
            raise InputError(f"{path} holds no {member}: is it {what}?")
        return parse_json(decode(read_bytes(found[0]), str(found[0])), str(found[0])), str(found[0])
    if path.is_file() and zipfile.is_zipfile(path):
        return _zip_member(path, member, what)
    return parse_json(decode(read_bytes(path), str(path)), str(path)), str(path)


def _zip_member(path: Path, member: str, what: str) -> tuple[Any, str]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [
                info
                for info in archive.infolist()
                if not info.is_dir() and info.filename.rsplit("/", 1)[-1] == member
            ]
            if not names:
                raise InputError(f"{path} holds no {member}: is it {what}?")
            info = min(names, key=lambda i: (i.filename.count("/"), i.filename))
            where = f"{path}:{info.filename}"
            if info.file_size > MAX_EXPORT_BYTES:
                raise InputError(f"{where} is larger than {MAX_EXPORT_BYTES // 1048576} MB")
            data = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise InputError(f"cannot read the zip file {path}: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_json(decode(data, where), where), where


def listed(data: Any, key: str, where: str, what: str) -> list[Any]:
    """The list of records of an export: the JSON itself, or the list under `key`."""
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return list(data[key])
    if not isinstance(data, list):
        raise InputError(f"{where} is not {what}: expected a list of {key}")
    return data


def utc_time(value: Any, where: str) -> str | None:
    """A time of an export -> the stored UTC string; None when it has none.

    Epoch seconds (ChatGPT) or ISO 8601 (Claude, llm, mem0). These programs
    write UTC, so a time without an offset is UTC, not the local time.
    """
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise InputError(f"{where}: bad time {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment)


def text_of(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def object_at(record: dict[str, Any], key: str) -> dict[str, Any]:
    """The object under `key`, or {} when the export has none there."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def checked(item: NewMemory, where: str) -> NewMemory:
    """The item, or InputError naming where it came from when it cannot be stored."""
    try:
        prepare_rows(item, "")
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return item


@dataclass
class Message:
    """One turn of a conversation as an export has it."""

    role: str  # "user" or "assistant"
    text: str
    time: str | None  # stored UTC time
    meta: dict[str, Any] = field(default_factory=dict)


def thread_id(fmt: str, conversation_id: str) -> str:
    """The doc_id of an imported conversation: a chat thread (memcli.records), so
    each turn is an event in its place, and the same words in two conversations
    (or twice in one) are two memories."""
    return f"{CHAT_THREAD_PREFIX}{fmt}:{conversation_id}"


def conversation(
    fmt: str,
    conversation_id: str,
    title: str | None,
    messages: list[Message],
    *,
    source: str,
    where: str,
) -> list[NewMemory]:
    """A conversation's turns as memories of one thread, numbered in order."""
    doc_id = thread_id(fmt, conversation_id)
    base: dict[str, Any] = {"conversation_id": conversation_id}
    if title:
        base["title"] = title
    items = []
    for chunk, message in enumerate(messages, 1):
        item = NewMemory(
            text=message.text,
            kind="episodic",
            tags=[fmt],
            occurred_at=message.time,
            source=source,
            meta={**base, **{k: v for k, v in message.meta.items() if v not in (None, "")}},
            doc_id=doc_id,
            chunk=chunk,
            role=message.role,
        )
        label = f"conversation {title!r}" if title else f"conversation {conversation_id}"
        items.append(checked(item, f"{where}: {label}, message {chunk}"))
    return items
