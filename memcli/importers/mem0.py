"""A mem0 export: the memories `get_all` returns, saved as JSON.

The open-source `Memory.get_all()` returns {"results": [...]}, the platform's
`MemoryClient.get_all()` a list or a page {"count", "next", "results"}; a file of
one memory per line (JSON lines) is read too. Each memory is {id, memory,
user_id, agent_id, run_id, metadata, categories (platform), created_at,
updated_at, expiration_date}.

Each becomes a fact (kind semantic) of the importing user, dated by its
created_at, its categories as tags (and the tag "mem0"); its ids and metadata
are kept in meta.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..records import NewMemory
from .exports import Found, checked, decode, read_bytes, text_of, utc_time

WHAT = "a mem0 export"
_KEPT = ("user_id", "agent_id", "app_id", "run_id", "actor_id", "metadata", "updated_at")


def read(path: Path, text: str | None) -> Found:
    where = "stdin" if text is not None else str(path)
    if text is None:
        text = decode(read_bytes(path), where)
    items = []
    empty = 0
    records = _records(text, where)
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict) or not isinstance(record.get("memory"), str):
            raise InputError(f"{where} is not {WHAT}: memory {n} has no 'memory' text")
        memory = text_of(record["memory"])
        if not memory:
            empty += 1
            continue
        label = f"{where}: memory {record.get('id') or n}"
        categories = record.get("categories") or []
        if not isinstance(categories, list):
            categories = [categories]
        meta: dict[str, Any] = {"mem0_id": record.get("id")}
        meta.update({key: record[key] for key in _KEPT if record.get(key) not in (None, "", {})})
        item = NewMemory(
            text=memory,
            kind="semantic",
            tags=[*(str(c) for c in categories if c), "mem0"],
            occurred_at=utc_time(record.get("created_at"), label),
            expires_at=_expiry(record.get("expiration_date"), label),
            source=where,
            meta={k: v for k, v in meta.items() if v is not None},
        )
        items.append(checked(item, label))
    return Found(items, len(records), empty)


def _records(text: str, where: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        data = _json_lines(text)
        if data is None:
            raise InputError(f"{where} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(f"{where} is not valid JSON (nested too deeply)") from None
    if isinstance(data, dict):
        for key in ("results", "memories"):
            if isinstance(data.get(key), list):
                return list(data[key])
        if "memory" in data:
            return [data]
    if not isinstance(data, list):
        raise InputError(f'{where} is not {WHAT}: expected a list of memories or {{"results": [...]}}')
    return data


def _json_lines(text: str) -> list[Any] | None:
    """One memory per line, or None when the text is not that either."""
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, RecursionError):
        return None


def _expiry(value: Any, where: str) -> str | None:
    if not value:
        return None
    if isinstance(value, str) and len(value.strip()) == 10:  # a date: its end, in UTC
        return utc_time(value.strip() + "T23:59:59", where)
    return utc_time(value, where)
