"""Markdown notes: one .md file, or a folder of them (an Obsidian vault, a Jekyll or
Hugo site, a notes folder), read recursively; hidden folders (.obsidian, .git,
.trash) are left out.

A note may open with YAML front matter between `---` lines. Its tags (`tags`,
`tag`, `categories`, `category`: a list, or words split by commas or spaces;
a leading # is dropped) become the memory's tags; its date (`date`, else
`created`, else `created_at`; without one, the file's modification time) is
when it happened; `kind` and `importance`, when they are memcli's, are used;
every other key (`title`, `aliases`, ...) is kept in meta, with the note's
path, and its title when the front matter has none (the first `# heading`, else
the file name). The body is the memory; a long one is split into chunks as
`mem remember -f` splits a file.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..records import KINDS, NewMemory
from ..timeparse import format_time, parse_time
from .exports import Found, checked, decode, read_bytes

SUFFIXES = (".md", ".markdown")
TAG_KEYS = ("tags", "tag", "categories", "category")
DATE_KEYS = ("date", "created", "created_at")
_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE
)


def read(path: Path, text: str | None) -> Found:
    notes: list[tuple[str, Path | None, str]] = [("stdin", None, text)] if text is not None else []
    if text is None:
        notes = [(str(f), f, decode(read_bytes(f), str(f))) for f in _files(path)]
    items = []
    empty = 0
    for where, file, content in notes:
        item = _note(where, file, path, content)
        if item is None:
            empty += 1
        else:
            items.append(checked(item, where))
    return Found(items, len(notes), empty)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            f
            for f in path.rglob("*")
            if f.suffix.lower() in SUFFIXES
            and f.is_file()
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    return [path]


def _note(where: str, file: Path | None, root: Path, content: str) -> NewMemory | None:
    front, body = front_matter(content, where)
    body = body.strip()
    if not body:
        return None
    meta: dict[str, Any] = {}
    tags: list[str] = []
    kind, importance, occurred_at = "episodic", 3, None
    for key, value in front.items():
        if key in TAG_KEYS:
            tags.extend(_tags(value))
        elif key in DATE_KEYS:
            occurred_at = occurred_at or _time(value, f"{where}: {key}")
            meta[key] = _plain(value)
        elif key == "kind" and value in KINDS:
            kind = value
        elif key == "importance" and type(value) is int and 1 <= value <= 5:
            importance = value
        else:
            meta[key] = _plain(value)
    if file is not None:
        meta["path"] = (file.relative_to(root) if file != root else Path(file.name)).as_posix()
        meta.setdefault("title", _heading(body) or file.stem)
        if occurred_at is None:
            occurred_at = format_time(dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC))
    return NewMemory(
        text=body,
        kind=kind,
        tags=tags,
        importance=importance,
        occurred_at=occurred_at,
        source=where,
        meta=meta,
    )


def front_matter(content: str, where: str) -> tuple[dict[str, Any], str]:
    """A note's YAML front matter (as a dict with string keys) and its body."""
    match = _FRONT_MATTER.match(content)
    if match is None:
        return {}, content
    import yaml  # only for notes: `mem` starts without it

    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark is not None else ""  # counting the opening ---
        problem = getattr(exc, "problem", None) or "cannot be read"
        raise InputError(f"{where}: the front matter is not valid YAML ({problem}{line})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: the front matter is not a list of 'key: value' lines")
    return {str(k): v for k, v in data.items()}, content[match.end() :]


def _heading(body: str) -> str | None:
    """The note's title when it opens with one: `# Title`."""
    first = body.split("\n", 1)[0]
    return first.lstrip("#").strip() or None if re.match(r"#\s", first) else None


def _tags(value: Any) -> list[str]:
    words = value if isinstance(value, list) else re.split(r"[,\s]+", str(value or ""))
    return [str(w).strip().lstrip("#") for w in words if w is not None and str(w).strip().lstrip("#")]


def _time(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, dt.datetime):
            return format_time(value)  # without a zone: the local time, as `mem remember --at` reads it
        if isinstance(value, dt.date):
            return parse_time(value.isoformat())
        return parse_time(str(value))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _plain(value: Any) -> Any:
    """A front matter value as JSON holds it (YAML's dates become ISO text)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
