"""llm's log database (`llm logs path`): every prompt and response, in SQLite.

Two layouts, both read. Up to llm 0.35, `responses` rows {id, model, prompt,
system, response, conversation_id, datetime_utc} grouped by `conversations`
{id, name, model}: each row is a user turn (the prompt) and an assistant turn
(the response). From llm 0.36, a conversation is a `threads` row {id, name,
tip_message_hash}: its messages {hash, parent_hash, role} chain back from the
tip, their text in `parts` {message_hash, position, type, text, payload}, and
`turns` {thread_id, tip_message_hash, model, datetime_utc} date each model call.
A responses row that is also a turn is llm's own copy of it, and a conversation
carried on from the old layout is whole in its thread: those rows are skipped.

Kept: the text of user and assistant messages (a prompt's typed words, not the
fragments it was given: what `llm logs` searches). Left out: system prompts
(kept with the turn that follows), tool calls and results, reasoning.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InputError
from .exports import Found, Message, conversation, text_of, utc_time

FORMAT = "llm"


def read(path: Path, text: str | None) -> Found:
    if text is not None or str(path) == "-":
        raise InputError("llm's logs are a SQLite file: give its path (llm logs path), not stdin")
    if path.is_dir():
        path = path / "logs.db"  # llm's own folder
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    with _read_only(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"_llm_migrations", "responses"} & tables:
            raise InputError(f"{path} is not an llm logs database (see `llm logs path`)")
        found = []
        threads: set[str] = set()
        if {"threads", "turns", "messages", "parts"} <= tables:
            for thread in db.execute("SELECT * FROM threads ORDER BY datetime_utc, id").fetchall():
                threads.add(thread["id"])
                found.append((thread["id"], thread["name"], _thread(db, thread)))
        if {"responses", "conversations"} <= tables:
            found.extend(_legacy(db, threads, "turns" in tables))
    items = []
    empty = 0
    for conversation_id, title, messages in found:
        if not messages:
            empty += 1
            continue
        title = text_of(title) or None
        items.extend(
            conversation(FORMAT, conversation_id, title, messages, source=str(path), where=str(path))
        )
    return Found(items, len(found), empty)


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"cannot open {path}: {exc}") from None
    db.row_factory = sqlite3.Row
    try:
        yield db
    except sqlite3.DatabaseError as exc:  # not a database, or one llm did not write
        raise InputError(f"cannot read {path} as an llm logs database: {exc}") from None
    finally:
        db.close()


def _thread(db: sqlite3.Connection, thread: sqlite3.Row) -> list[Message]:
    """A thread's messages from the root to its tip, each dated by the first model call that
    reached it (messages carry no time of their own)."""
    chain: list[sqlite3.Row] = []
    seen: set[str] = set()
    current = thread["tip_message_hash"]
    while current is not None and current not in seen:
        seen.add(current)
        row = db.execute("SELECT hash, parent_hash, role FROM messages WHERE hash = ?", [current]).fetchone()
        if row is None:
            break
        chain.append(row)
        current = row["parent_hash"]
    chain.reverse()
    place = {row["hash"]: i for i, row in enumerate(chain)}
    dated: dict[int, tuple[str | None, str | None]] = {}  # chain index -> (time, model)
    reached = -1
    calls = db.execute(
        "SELECT tip_message_hash, model, datetime_utc FROM turns WHERE thread_id = ? ORDER BY datetime_utc, id",
        [thread["id"]],
    )
    for call in calls:
        end = place.get(call["tip_message_hash"], -1)
        when = utc_time(call["datetime_utc"], f"thread {thread['id']}")
        for i in range(reached + 1, end + 1):
            dated[i] = (when, call["model"])
        reached = max(reached, end)
    started = utc_time(thread["datetime_utc"], f"thread {thread['id']}")
    out: list[Message] = []
    system = None
    for i, row in enumerate(chain):
        text = _message_text(db, row["hash"])
        if row["role"] == "system":
            system = text or None
            continue
        if row["role"] not in ("user", "assistant") or not text:
            continue
        when, model = dated.get(i, (started, None))
        meta: dict[str, Any] = {}
        if row["role"] == "assistant":
            meta["model"] = model
        elif system:
            meta["system"], system = system, None
        out.append(Message(row["role"], text, when, meta))
    return out


def _message_text(db: sqlite3.Connection, message_hash: str) -> str:
    pieces = []
    for part in db.execute(
        "SELECT type, text, payload FROM parts WHERE message_hash = ? ORDER BY position", [message_hash]
    ):
        if part["type"] != "text":
            continue
        if part["text"] is not None:
            pieces.append(part["text"])
            continue
        try:
            payload = json.loads(part["payload"] or "{}")
        except ValueError:
            continue
        # Text that quotes a fragment is stored as literals and fragment references.
        refs = payload.get("text_ref") if isinstance(payload, dict) else None
        if isinstance(refs, list):
            pieces.append(
                "".join(
                    r["literal"] for r in refs if isinstance(r, dict) and isinstance(r.get("literal"), str)
                )
            )
        elif isinstance(payload, dict) and isinstance(payload.get("text"), str):
            pieces.append(payload["text"])
    return "\n".join(p.strip() for p in pieces if p.strip())


def _legacy(
    db: sqlite3.Connection, threads: set[str], has_turns: bool
) -> list[tuple[str, str | None, list[Message]]]:
    """Conversations of the old layout, each response a prompt and its reply."""
    skip_turns = "AND r.id NOT IN (SELECT id FROM turns)" if has_turns else ""
    rows = db.execute(
        "SELECT r.id, r.model, r.prompt, r.system, r.response, r.datetime_utc, "
        "coalesce(r.conversation_id, r.id) AS conversation, c.name "
        f"FROM responses r LEFT JOIN conversations c ON c.id = r.conversation_id WHERE 1 {skip_turns} "
        "ORDER BY r.datetime_utc, r.id"
    ).fetchall()
    grouped: dict[str, tuple[str | None, list[Message]]] = {}
    for row in rows:
        if row["conversation"] in threads:
            continue
        name, messages = grouped.setdefault(row["conversation"], (row["name"], []))
        when = utc_time(row["datetime_utc"], f"response {row['id']}")
        prompt, response = text_of(row["prompt"]), text_of(row["response"])
        if prompt:
            meta = {"response_id": row["id"], "system": text_of(row["system"])}
            messages.append(Message("user", prompt, when, meta))
        if response:
            messages.append(
                Message("assistant", response, when, {"response_id": row["id"], "model": row["model"]})
            )
    return [(conversation_id, name, messages) for conversation_id, (name, messages) in grouped.items()]
