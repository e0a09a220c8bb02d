"""ChatGPT's data export (Settings > Data controls > Export data): conversations.json.

A list of conversations, each {id (or conversation_id), title, create_time,
current_node, mapping}. `mapping` is a tree of nodes {id, parent, children,
message}: editing a message or regenerating a reply starts a branch, and
`current_node` is the leaf of the branch the app shows. A message has
author.role (user, assistant, system, tool), create_time (epoch seconds),
content {content_type, parts} and metadata (model_slug, ...).

Kept: the user's and the assistant's visible text on the shown branch. Left
out: system and tool messages, hidden ones (custom instructions), the
assistant's calls to its tools, its reasoning (thoughts, reasoning_recap),
code it ran and empty messages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from .exports import Found, Message, conversation, export_json, listed, object_at, text_of, utc_time

WHAT = "a ChatGPT export"
_SHOWN = ("text", "multimodal_text")
# Web citations in a reply: private-use markers around "cite", "turn0search1", ...
_CITATION = re.compile("\ue200[^\ue201]*\ue201")


def read(path: Path, text: str | None) -> Found:
    data, where = export_json(path, text, "conversations.json", WHAT)
    items = []
    seen: set[str] = set()
    empty = 0
    records = listed(data, "conversations", where, WHAT)
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict) or not isinstance(record.get("mapping"), dict):
            raise InputError(f"{where} is not {WHAT}: conversation {n} has no 'mapping' of messages")
        conversation_id = text_of(record.get("conversation_id")) or text_of(record.get("id"))
        if not conversation_id:
            raise InputError(f"{where}: conversation {n} has no 'id'")
        if conversation_id in seen:
            continue
        seen.add(conversation_id)
        label = f"{where}: conversation {n}"
        messages = _messages(record, label)
        if not messages:
            empty += 1
            continue
        title = text_of(record.get("title")) or None
        items.extend(conversation("chatgpt", conversation_id, title, messages, source=str(path), where=where))
    return Found(items, len(seen), empty)


def _messages(record: dict[str, Any], where: str) -> list[Message]:
    started = utc_time(record.get("create_time"), where) or utc_time(record.get("update_time"), where)
    default_model = text_of(record.get("default_model_slug")) or None
    out: list[Message] = []
    last = started
    for node in _branch(record["mapping"], record.get("current_node"), where):
        message = node.get("message")
        if not isinstance(message, dict):
            continue
        role = object_at(message, "author").get("role")
        text = _visible_text(message) if role in ("user", "assistant") else ""
        if not role or not text:
            continue
        when = utc_time(message.get("create_time"), f"{where}, message {message.get('id')}") or last
        last = when
        meta: dict[str, Any] = {"message_id": message.get("id") or node.get("id")}
        if role == "assistant":
            meta["model"] = text_of(object_at(message, "metadata").get("model_slug")) or default_model
        out.append(Message(role, text, when, meta))
    return out


def _branch(mapping: dict[str, Any], current: Any, where: str) -> list[dict[str, Any]]:
    """The nodes of the shown branch, root first: from current_node up through the parents."""
    for node_id, node in mapping.items():
        if not isinstance(node, dict):
            raise InputError(f"{where}: node {node_id} is not an object")
    if not isinstance(current, str) or current not in mapping:
        current = _newest_leaf(mapping)
    path: list[dict[str, Any]] = []
    seen: set[str] = set()
    while isinstance(current, str) and current in mapping and current not in seen:
        seen.add(current)
        node = mapping[current]
        path.append(node)
        current = node.get("parent")
    return path[::-1]


def _newest_leaf(mapping: dict[str, Any]) -> str | None:
    """Without current_node: from the root, the newest child each time (the app shows the latest)."""
    roots = [key for key, node in mapping.items() if node.get("parent") not in mapping]
    current = roots[0] if roots else None
    seen: set[str] = set()
    while current is not None and current not in seen:
        seen.add(current)
        children = [c for c in mapping[current].get("children") or [] if c in mapping]
        if not children:
            break
        current = children[-1]
    return current


def _visible_text(message: dict[str, Any]) -> str:
    if object_at(message, "metadata").get("is_visually_hidden_from_conversation"):
        return ""
    if message.get("recipient") not in (None, "all"):  # the assistant calling a tool (python, web, ...)
        return ""
    if message.get("channel") == "analysis":  # reasoning the app does not show
        return ""
    content = message.get("content")
    if not isinstance(content, dict) or content.get("content_type") not in _SHOWN:
        return ""
    pieces = []
    for part in content.get("parts") or []:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict) and part.get("content_type") == "audio_transcription":
            pieces.append(text_of(part.get("text")))  # what was said in voice mode
    return _CITATION.sub("", "\n".join(p for p in pieces if p.strip())).strip()
