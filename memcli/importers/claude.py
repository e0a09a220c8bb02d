"""Claude's data export (Settings > Privacy > Export data): conversations.json.

A list of conversations {uuid, name, created_at, updated_at, chat_messages}, each
message {uuid, sender ("human" or "assistant"), text, content, created_at,
attachments, files}. `content` is a list of blocks: "text" blocks hold what
was said, others the model's thinking and its tool calls; `text` is the same
words flattened, in exports made before blocks existed. Times are ISO 8601 UTC.

Kept: the text of each human and assistant message, in order (where messages
name their parent and the conversation its current leaf, the shown branch).
Left out: thinking, tool calls and results, the contents of attachments (their
file names are kept with the message).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from .exports import Found, Message, conversation, export_json, listed, text_of, utc_time

WHAT = "a Claude export"
ROLES = {"human": "user", "user": "user", "assistant": "assistant"}


def read(path: Path, text: str | None) -> Found:
    data, where = export_json(path, text, "conversations.json", WHAT)
    items = []
    seen: set[str] = set()
    empty = 0
    for n, record in enumerate(listed(data, "conversations", where, WHAT), 1):
        if not isinstance(record, dict) or not isinstance(record.get("chat_messages"), list):
            raise InputError(f"{where} is not {WHAT}: conversation {n} has no 'chat_messages'")
        conversation_id = text_of(record.get("uuid"))
        if not conversation_id:
            raise InputError(f"{where}: conversation {n} has no 'uuid'")
        if conversation_id in seen:
            continue
        seen.add(conversation_id)
        messages = _messages(record, f"{where}: conversation {n}")
        if not messages:
            empty += 1
            continue
        title = text_of(record.get("name")) or None
        items.extend(conversation("claude", conversation_id, title, messages, source=str(path), where=where))
    return Found(items, len(seen), empty)


def _messages(record: dict[str, Any], where: str) -> list[Message]:
    started = utc_time(record.get("created_at"), where)
    model = text_of(record.get("model")) or None
    out: list[Message] = []
    last = started
    for message in _branch(record["chat_messages"], record.get("current_leaf_message_uuid"), where):
        role = ROLES.get(str(message.get("sender")))
        text = _text(message) if role else ""
        if not role or not text:
            continue
        when = utc_time(message.get("created_at"), f"{where}, message {message.get('uuid')}") or last
        last = when
        meta: dict[str, Any] = {"message_id": message.get("uuid")}
        files = [
            text_of(f.get("file_name"))
            for f in [*(message.get("attachments") or []), *(message.get("files") or [])]
            if isinstance(f, dict) and text_of(f.get("file_name"))
        ]
        if files:
            meta["attachments"] = list(dict.fromkeys(files))
        if role == "assistant" and model:
            meta["model"] = model
        out.append(Message(role, text, when, meta))
    return out


def _branch(messages: list[Any], leaf: Any, where: str) -> list[dict[str, Any]]:
    for n, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise InputError(f"{where}: message {n} is not an object")
    by_id = {m.get("uuid"): m for m in messages if isinstance(m.get("uuid"), str)}
    if not isinstance(leaf, str) or leaf not in by_id:
        return messages
    path: list[dict[str, Any]] = []
    current: Any = leaf
    while isinstance(current, str) and current in by_id and len(path) < len(messages):
        path.append(by_id[current])
        current = by_id[current].get("parent_message_uuid")
    return path[::-1]


def _text(message: dict[str, Any]) -> str:
    blocks = message.get("content")
    if isinstance(blocks, list) and blocks:
        said = [text_of(b.get("text")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        return "\n\n".join(s for s in said if s)
    return text_of(message.get("text"))
