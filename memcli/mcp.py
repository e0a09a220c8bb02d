"""An MCP server over stdio, so an agent can use the memory as tools and resources.

The Model Context Protocol's stdio transport is JSON-RPC 2.0, one message per
line: the client writes requests to our stdin, we answer on stdout, and logs go
to stderr. Notifications (no id) are never answered, and a batch (a JSON array)
is answered with one array of its responses. Output is ASCII JSON. A tool that
fails (bad input, an unknown id) answers a result with `isError`, which the
agent reads; a malformed message gets a JSON-RPC error. Nothing here ends the
server but the end of its input.

Two eras of the protocol are served side by side, each request by its own:

- 2026-07-28 is stateless: every request names its protocol version and the
  client's capabilities in `params._meta`, `server/discover` tells a client
  what the server speaks, every result carries `resultType`, and lists and
  reads carry caching hints (`ttlMs`, `cacheScope`). `ping` and `initialize`
  are gone from it; `subscriptions/listen` replaces resource subscriptions.
- 2025-11-25, 2025-06-18, 2025-03-26 and 2024-11-05 choose a version once, by
  `initialize`; the answers take the shapes of the version chosen (tool titles,
  output schemas and `structuredContent` arrived in 2025-06-18, tool
  annotations in 2025-03-26).

Tools: remember, recall, forget, list_memories, entities, about, profile; each
declares the schema of its `structuredContent`. Resources: each memory, as
`memory://ID`. All of it is scoped to one user.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable
from functools import cache
from typing import IO, TYPE_CHECKING, Any

from . import __version__
from .errors import MemcliError, NotFound
from .records import BRIEF_FIELDS, ENTITY_KINDS, KINDS, Entity, Filters, MemoryRecord, NewMemory, Relation

if TYPE_CHECKING:
    from .memory import Memory

# The stateless versions: each request carries its version in `_meta`.
MODERN_VERSIONS = ("2026-07-28",)
# The versions chosen once by the `initialize` handshake, newest first.
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
PROTOCOL_VERSIONS = (*MODERN_VERSIONS, *HANDSHAKE_VERSIONS)  # newest first

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
# A missing resource before 2026-07-28 (from then on: INVALID_PARAMS).
RESOURCE_NOT_FOUND = -32002
UNSUPPORTED_PROTOCOL_VERSION = -32022
MAX_K = 50
RESOURCE_PAGE = 100  # memories per page of resources/list

_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

# How long a client may keep an answer (ms) and whether a shared cache may: the tools and
# the template never change while the server runs; the memories change with every call.
_CACHING = {
    "server/discover": (3_600_000, "public"),
    "tools/list": (3_600_000, "public"),
    "resources/templates/list": (3_600_000, "public"),
    "resources/list": (0, "private"),
    "resources/read": (0, "private"),
}

_CAPABILITIES = {"tools": {"listChanged": False}, "resources": {"subscribe": False, "listChanged": False}}
_INSTRUCTIONS = (
    "A personal memory kept on this machine. recall before answering questions about the user; "
    "remember what they tell you that will matter later."
)
_URI_SCHEME = "memory://"
_ID = re.compile(r"[0-9a-z]{8}")  # records.new_id

_KIND = {"type": "string", "enum": list(KINDS), "description": "episodic (what happened, the default), "
         "semantic (a fact) or procedural (how to do something, a preference)"}  # fmt: skip
_TAGS = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Only memories that carry every one of these tags.",
}
_WHEN = (
    "A date as people type it: 2024-05-01, 2024-05-01T14:30, 'March 3 2024', 'last monday', "
    "'yesterday 9am', or an offset like '2d' or '3 weeks ago'."
)

TOOLS: list[dict[str, Any]] = [
    {
        "name": "remember",
        "title": "Remember",
        "description": "Store a memory about the user: something that happened, a fact, or how they "
        "like things done. Storing the same text again changes nothing. A long text is stored as "
        "chunks of one document. Answers the ids stored, not the text.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "What to remember, in a full sentence."},
                "kind": _KIND,
                "tags": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Labels to find it by later (recall and list_memories filter by them).",
                },
                "importance": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3},
                "occurred_at": {"type": "string", "description": "When it happened. " + _WHEN},
                "ttl": {"type": "string", "description": "Forget it after this long, e.g. '30d', '12h'."},
            },
            "required": ["text"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True},
    },
    {
        "name": "recall",
        "title": "Recall",
        "description": "Find the user's memories most relevant to a query, by meaning and by words "
        "(best first, with their ids and when they happened).",
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in words."},
                "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 5},
                "kind": _KIND,
                "tags": _TAGS,
                "since": {"type": "string", "description": "Only memories from then on. " + _WHEN},
                "until": {"type": "string", "description": "Only memories before then. " + _WHEN},
                "as_of": {
                    "type": "string",
                    "description": "See the memory as it was then (what had happened, the facts "
                    "valid then). " + _WHEN,
                },
                "about": {
                    "type": "string",
                    "description": "Only memories that mention this person, place or thing (a name "
                    "or another name it goes by; see the entities tool).",
                },
                "min_score": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "Leave out matches scoring under this (scores go from 0 to 1; "
                    "default: the min_score setting, 0.15).",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True},
    },
    {
        "name": "forget",
        "title": "Forget",
        "description": "Erase memories by id, for good (their text does not stay in the database), "
        "and the facts and digests made from them.",
        "inputSchema": {
            "type": "object",
            "properties": {"ids": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
            "required": ["ids"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True},
    },
    {
        "name": "list_memories",
        "title": "List memories",
        "description": "The user's most recent memories, newest first.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
                "kind": _KIND,
                "tags": _TAGS,
            },
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True},
    },
    {
        "name": "entities",
        "title": "Entities",
        "description": "The people, pets, places, organisations and things the user's memories are "
        "about, with their other names and how many memories mention each.",
        "inputSchema": {
            "type": "object",
            "properties": {"kind": {"type": "string", "enum": list(ENTITY_KINDS)}},
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True},
    },
    {
        "name": "about",
        "title": "About",
        "description": "What the memories say about someone or something: its current relations "
        "(lives in, works at, sister of, ...), the ended ones, and the memories that mention it.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "A name, another name it goes by, or 'me'."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 20},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True},
    },
    {
        "name": "profile",
        "title": "Profile",
        "description": "The user's key facts by field (name, home, work, family, pets, ...), each "
        "with the memories it comes from and its earlier values.",
        "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
        "annotations": {"readOnlyHint": True},
    },
]
_TOOL_NAMES = frozenset(tool["name"] for tool in TOOLS)

TEMPLATE = {
    "uriTemplate": _URI_SCHEME + "{id}",
    "name": "memory",
    "title": "A memory",
    "description": "One of the user's memories by its id (the ids recall and list_memories give), "
    "as plain text.",
    "mimeType": "text/plain",
}


# -- the schemas of the tools' structured results ------------------------------------


def _schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a value of this type, as `dataclasses.asdict` writes it."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _object(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [_schema(a) for a in args if a is not type(None)]
        if type(None) in args and len(options) == 1 and set(options[0]) == {"type"}:
            return {"type": [options[0]["type"], "null"]}
        return {"anyOf": options + ([{"type": "null"}] if type(None) in args else [])}
    if origin is list:
        return {"type": "array", "items": _schema(args[0])}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if hint is Any:
        return {}
    # A KeyError here is a new field of a type this mapping has not been taught.
    return {"type": {str: "string", int: "integer", float: "number", bool: "boolean"}[hint]}


def _object(cls: type, names: Iterable[str] | None = None, **extra: dict[str, Any]) -> dict[str, Any]:
    """A dataclass (those of its fields in `names`) as a closed JSON object, plus `extra` keys."""
    hints = typing.get_type_hints(cls)
    chosen = [f.name for f in dataclasses.fields(cls)] if names is None else list(names)
    return _closed(**{name: _schema(hints[name]) for name in chosen}, **extra)


def _closed(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these keys."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


@cache
def output_schemas() -> dict[str, dict[str, Any]]:
    """Tool name -> the JSON Schema of its `structuredContent`, derived from the records it returns."""
    from .profile import Field

    brief = _object(MemoryRecord, BRIEF_FIELDS)
    ids = _array({"type": "string"})
    edge = _object(Relation, subject_name={"type": "string"}, object_name={"type": "string"})
    return {
        "remember": _closed(
            ids={**ids, "description": "The ids stored, in order (a long text's chunks: the first first)."},
            added={"type": "integer", "description": "How many of them are new."},
            existing={"type": "integer", "description": "How many were stored before (the same text)."},
            existing_ids={**ids, "description": "The ids of those stored before."},
            doc_id={"type": ["string", "null"], "description": "The document a long text's chunks share."},
        ),
        "recall": _closed(results=_array(_object(MemoryRecord, BRIEF_FIELDS, score={"type": "number"}))),
        "forget": _closed(forgotten=ids, derived=ids),
        "list_memories": _closed(results=_array(brief)),
        "entities": _closed(results=_array(_object(Entity))),
        "about": _closed(
            entity=_object(Entity), relations=_array(edge), ended=_array(edge), memories=_array(brief)
        ),
        "profile": _closed(fields=_array(_object(Field))),
    }


class ToolError(Exception):
    """Bad arguments for a tool: the agent is told, the server goes on."""


class _Refusal(Exception):
    """A request answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class Server:
    """Answers MCP messages with one Memory (one database file, one user)."""

    def __init__(self, open_memory: Callable[[], Memory]) -> None:
        self._open_memory = open_memory
        self._memory: Memory | None = None
        # The version `initialize` chose; before it (a client that skips it), the newest of that era.
        self.version = HANDSHAKE_VERSIONS[0]
        self._listening: list[Any] = []  # ids of the open subscriptions/listen requests
        self._notices: list[dict[str, Any]] = []  # notifications to write before the next answer

    @property
    def memory(self) -> Memory:
        if self._memory is None:
            self._memory = self._open_memory()
        return self._memory

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()

    def notices(self) -> list[dict[str, Any]]:
        """The notifications due before the answer to the last message (taken once)."""
        out, self._notices = self._notices, []
        return out

    def finish(self) -> list[dict[str, Any]]:
        """The input has ended: each open subscription is closed with its final result."""
        closing = [
            _result(
                rid,
                {"resultType": "complete", "_meta": {_SUBSCRIPTION_ID: rid, _SERVER_INFO: _server_info()}},
            )
            for rid in self._listening
        ]
        self._listening = []
        return closing

    def handle(self, message: Any) -> dict[str, Any] | None:
        """The response to one decoded message; None for a notification."""
        if (
            not isinstance(message, dict)
            or message.get("jsonrpc") != "2.0"
            or not isinstance(message.get("method"), str)
        ):
            return _error(_echoable_id(message), INVALID_REQUEST, "invalid request")
        if "id" not in message:
            self._notified(message["method"], message.get("params"))
            return None
        request_id, method = message["id"], message["method"]
        if not _valid_id(request_id):
            return _error(None, INVALID_REQUEST, "invalid request: id must be a string, a number or null")
        params = message.get("params")
        params = {} if params is None else params
        if not isinstance(params, dict):
            return _error(request_id, INVALID_PARAMS, "params must be an object")
        meta = params.get("_meta")
        try:
            # `initialize` belongs to the handshake era whatever its _meta says.
            if method != "initialize" and isinstance(meta, dict) and _PROTOCOL_VERSION in meta:
                return self._modern(request_id, method, params, meta)
            return self._handshake(request_id, method, params)
        except _Refusal as refusal:
            return _error(request_id, refusal.code, refusal.message, refusal.data)

    def _notified(self, method: str, params: Any) -> None:
        if method == "notifications/cancelled" and isinstance(params, dict):
            cancelled = params.get("requestId")
            self._listening = [rid for rid in self._listening if rid != cancelled]  # nothing more is sent

    def _handshake(self, request_id: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A request of the handshake era, answered in the shapes of the version `initialize` chose."""
        if method == "initialize":
            return _result(request_id, self._initialize(params))
        if method == "ping":
            return _result(request_id, {})
        if method == "server/discover":
            raise _Refusal(
                INVALID_PARAMS,
                f"server/discover needs params._meta with {_PROTOCOL_VERSION} and {_CLIENT_CAPABILITIES}",
            )
        return _result(request_id, self._serve(method, params, self.version))

    def _modern(
        self, request_id: Any, method: str, params: dict[str, Any], meta: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A stateless request: its version and the client's capabilities come with it."""
        version = meta[_PROTOCOL_VERSION]
        if not isinstance(version, str):
            raise _Refusal(INVALID_PARAMS, f"_meta {_PROTOCOL_VERSION} must be a string")
        if version not in MODERN_VERSIONS:
            supported = {"supported": list(PROTOCOL_VERSIONS), "requested": version}
            raise _Refusal(UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version", supported)
        if not isinstance(meta.get(_CLIENT_CAPABILITIES), dict):
            raise _Refusal(INVALID_PARAMS, f"_meta needs {_CLIENT_CAPABILITIES} (an object)")
        if request_id is None:
            raise _Refusal(INVALID_REQUEST, "invalid request: id must be a string or a number")
        if method == "subscriptions/listen":
            self._listen(request_id)
            return None  # the stream stays open; its result comes when it ends
        result: dict[str, Any]
        if method == "server/discover":
            result = {
                "supportedVersions": list(MODERN_VERSIONS),  # the versions a request's _meta may name
                "capabilities": _CAPABILITIES,
                "instructions": _INSTRUCTIONS,
            }
        else:
            result = self._serve(method, params, version)
        result = {"resultType": "complete", **result, "_meta": {_SERVER_INFO: _server_info()}}
        if method in _CACHING:
            result["ttlMs"], result["cacheScope"] = _CACHING[method]
        return _result(request_id, result)

    def _listen(self, request_id: Any) -> None:
        """Open a notification stream. Nothing here changes on its own while the server runs,
        so the acknowledgment honours none of the kinds asked for, and none is ever sent."""
        self._listening.append(request_id)
        self._notices.append(
            {
                "jsonrpc": "2.0",
                "method": "notifications/subscriptions/acknowledged",
                "params": {"_meta": {_SUBSCRIPTION_ID: request_id}, "notifications": {}},
            }
        )

    def _serve(self, method: str, params: dict[str, Any], version: str) -> dict[str, Any]:
        """The result of a method both eras have, in the shapes of `version`."""
        if method == "tools/list":
            return {"tools": [_tool_listing(tool, version) for tool in TOOLS]}
        if method == "tools/call":
            name, arguments = params.get("name"), params.get("arguments")
            arguments = {} if arguments is None else arguments
            if not isinstance(name, str) or name not in _TOOL_NAMES:
                raise _Refusal(INVALID_PARAMS, f"unknown tool {name!r}")
            if not isinstance(arguments, dict):
                raise _Refusal(INVALID_PARAMS, "arguments must be an object")
            result = self.call(name, arguments)
            if not _since(version, "2025-06-18"):
                result.pop("structuredContent", None)
            return result
        if method == "resources/list":
            return self._resources(params.get("cursor"), version)
        if method == "resources/read":
            return self._read(params.get("uri"), version)
        if method == "resources/templates/list":
            template = dict(TEMPLATE)
            if not _since(version, "2025-06-18"):
                del template["title"]
            return {"resourceTemplates": [template]}
        raise _Refusal(METHOD_NOT_FOUND, f"method not found: {method}")

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        self.version = asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[0]
        info = _server_info()
        if not _since(self.version, "2025-06-18"):
            del info["title"]
        return {
            "protocolVersion": self.version,
            "capabilities": _CAPABILITIES,
            "serverInfo": info,
            "instructions": _INSTRUCTIONS,
        }

    # -- resources -----------------------------------------------------------------

    def _scope(self) -> Filters:
        return Filters(user=self.memory.user, include_assistant=True)  # what list_memories sees

    def _resources(self, cursor: Any, version: str) -> dict[str, Any]:
        """A page of the user's memories as resources, the most recently stored first."""
        ids = self.memory.store.select_ids(self._scope())[::-1]
        start = _cursor_start(cursor, ids)
        page = ids[start : start + RESOURCE_PAGE]
        records = self.memory.store.get_many(page)
        result: dict[str, Any] = {"resources": [_resource(records[i], version) for i in page if i in records]}
        if start + len(page) < len(ids):
            result["nextCursor"] = f"{start + len(page)}.{page[-1]}"
        return result

    def _read(self, uri: Any, version: str) -> dict[str, Any]:
        if not isinstance(uri, str):
            raise _Refusal(INVALID_PARAMS, "uri must be a string")
        memory_id = uri.removeprefix(_URI_SCHEME) if uri.startswith(_URI_SCHEME) else ""
        try:
            # A whole id, never a prefix: a resource is named by its URI alone.
            record = self.memory.get(memory_id) if _ID.fullmatch(memory_id) else None
        except NotFound:  # forgotten, never stored, or another user's
            record = None
        if record is None:
            code = INVALID_PARAMS if version in MODERN_VERSIONS else RESOURCE_NOT_FOUND
            raise _Refusal(code, "Resource not found", {"uri": uri})
        return {"contents": [{"uri": uri, "mimeType": "text/plain", "text": record.text}]}

    # -- the tools -----------------------------------------------------------------

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run one tool: its text for the model, and the same data structured."""
        try:
            text, data = getattr(self, f"_tool_{name}")(**_checked(name, arguments))
        except (ToolError, MemcliError) as exc:
            # the store's errors are MemcliErrors too (read-only, full, locked): told as to a person
            return _tool_error(str(exc))
        return {"content": [{"type": "text", "text": text}], "structuredContent": data, "isError": False}

    def _tool_remember(
        self,
        text: str,
        kind: str = "episodic",
        tags: list[str] | None = None,
        importance: int = 3,
        occurred_at: str | None = None,
        ttl: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        from .timeparse import format_time, parse_duration, parse_time, utcnow

        item = NewMemory(
            text,
            kind=kind,
            tags=list(tags or []),
            importance=importance,
            occurred_at=parse_time(occurred_at) if occurred_at else None,
            expires_at=format_time(utcnow() + parse_duration(ttl)) if ttl else None,
            source="mcp",
        )
        results = self.memory.remember([item])
        ids = [r.id for r in results]
        known = [r.id for r in results if r.status != "added"]
        doc_id = next((r.doc_id for r in results if r.status == "added"), None)
        if doc_id is None and results[0].doc_id is not None:  # a long text stored before: its own document
            doc_id = self.memory.get(results[0].id).doc_id
        data = {"ids": ids, "added": len(ids) - len(known), "existing": len(known), "existing_ids": known}
        data["doc_id"] = doc_id
        if len(ids) == 1:
            return (f"Already known {ids[0]}." if known else f"Remembered {ids[0]}."), data
        summary = (
            f"Remembered a long text as {len(ids)} chunks of document {doc_id} ({len(ids) - len(known)} new, "
            f"{len(known)} already known); their ids in order: {', '.join(ids)}."
        )
        return summary, data

    def _tool_recall(
        self,
        query: str,
        k: int = 5,
        kind: str | None = None,
        tags: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        min_score: float | None = None,
        as_of: str | None = None,
        about: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        from . import entities
        from .timeparse import parse_time

        filters = Filters(
            user=self.memory.user,
            kinds=[kind] if kind else [],
            tags=list(tags or []),
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            about=[entities.find(self.memory.store, self.memory.user, about).id] if about else [],
        )
        moment = parse_time(as_of) if as_of else None
        hits = self.memory.recall(query, filters, k=k, touch=True, min_score=min_score, as_of=moment)
        if not hits:
            if min_score != 0 and self.memory.recall(query, filters, k=1, min_score=0.0, as_of=moment):
                return "No memory matches well (min_score 0 shows weaker matches).", {"results": []}
            return "No memories match.", {"results": []}
        lines = [
            f"[{h.record.id}] ({h.record.occurred_at[:10]}, {h.record.kind}) {_line(h.record.text)}"
            for h in hits
        ]
        return "\n".join(lines), {
            "results": [_brief(h.record.to_dict(), score=round(h.score, 4)) for h in hits]
        }

    def _tool_forget(self, ids: list[str]) -> tuple[str, dict[str, Any]]:
        records = [self.memory.get(i) for i in dict.fromkeys(ids)]  # another user's id is not found
        report = self.memory.forget([r.id for r in records])
        return report.sentence(), {"forgotten": report.forgotten, "derived": report.derived}

    def _tool_list_memories(
        self, limit: int = 10, kind: str | None = None, tags: list[str] | None = None
    ) -> tuple[str, dict[str, Any]]:
        filters = Filters(
            user=self.memory.user, kinds=[kind] if kind else [], tags=list(tags or []), include_assistant=True
        )
        records = self.memory.list(filters, limit=limit)
        if not records:
            return "No memories.", {"results": []}
        lines = [f"[{r.id}] ({r.occurred_at[:10]}, {r.kind}) {_line(r.text)}" for r in records]
        return "\n".join(lines), {"results": [_brief(r.to_dict()) for r in records]}

    def _tool_entities(self, kind: str | None = None) -> tuple[str, dict[str, Any]]:
        found = [e for e in self.memory.store.entities(self.memory.user) if kind is None or e.kind == kind]
        if not found:
            return "No entities yet.", {"results": []}
        lines = [
            f"[{e.id}] {_line(e.name)} ({e.kind}; {e.memories} memories"
            + (f"; also {_line(', '.join(e.aliases))})" if e.aliases else ")")
            for e in found
        ]
        return "\n".join(lines), {"results": [e.to_dict() for e in found]}

    def _tool_about(self, name: str, limit: int = 20) -> tuple[str, dict[str, Any]]:
        from . import entities

        entity = entities.find(self.memory.store, self.memory.user, name)
        found = entities.about(self.memory.store, entity, limit=limit)
        lines = [f"{_line(entity.name)} ({entity.kind})"]
        for title, edges in (("now", found.relations), ("before", found.ended)):
            lines += [
                f"{title}: {_line(s.name)} {r.predicate} {_line(o.name)} (since {r.valid_from[:10]})"
                for r, s, o in edges
            ]
        lines += [f"[{m.id}] ({m.occurred_at[:10]}, {m.kind}) {_line(m.text)}" for m in found.memories]
        data = found.to_dict()
        data["memories"] = [_brief(m) for m in data["memories"]]
        return "\n".join(lines), data

    def _tool_profile(self) -> tuple[str, dict[str, Any]]:
        from . import profile

        fields = profile.fields(self.memory.store, self.memory.user)
        if not fields:
            return "The profile is empty.", {"fields": []}
        lines = [f"{f.field}: {_line(f.value)} (from {', '.join(f.sources) or 'the user'})" for f in fields]
        return "\n".join(lines), {"fields": [f.to_dict() for f in fields]}


def _since(version: str, first: str) -> bool:
    """Whether `version` is `first` or newer."""
    return PROTOCOL_VERSIONS.index(version) <= PROTOCOL_VERSIONS.index(first)


def _server_info() -> dict[str, Any]:
    return {"name": "memcli", "title": "memcli", "version": __version__}


def _tool_listing(tool: dict[str, Any], version: str) -> dict[str, Any]:
    """A tool as `version` describes one."""
    entry = {key: tool[key] for key in ("name", "description", "inputSchema")}
    if _since(version, "2025-06-18"):
        entry["title"] = tool["title"]
        entry["outputSchema"] = output_schemas()[tool["name"]]
    if _since(version, "2025-03-26"):
        # A memory is a closed world; before tools had a title, annotations carried it.
        entry["annotations"] = {**tool["annotations"], "openWorldHint": False}
        if "title" not in entry:
            entry["annotations"]["title"] = tool["title"]
    return entry


def _resource(record: MemoryRecord, version: str) -> dict[str, Any]:
    """A memory as a resource: named by the start of its text, described by kind, date and tags."""
    words = _line(record.text)
    description = f"{record.kind} memory of {record.occurred_at[:10]}"
    if record.tags:
        description += f", tagged {', '.join(record.tags)}"
    entry: dict[str, Any] = {
        "uri": _URI_SCHEME + record.id,
        "name": words if len(words) <= 60 else words[:59].rstrip() + "\N{HORIZONTAL ELLIPSIS}",
        "description": description,
        "mimeType": "text/plain",
        "size": len(record.text.encode()),
    }
    if _since(version, "2025-06-18"):
        entry["annotations"] = {"lastModified": record.updated_at or record.created_at}
    return entry


def _cursor_start(cursor: Any, ids: list[str]) -> int:
    """Where a page starts: after the last memory of the page before, or at its place if
    that one was forgotten in between. A cursor is "<place>.<id>" (clients do not read it)."""
    if cursor is None:
        return 0
    place, _, last = cursor.partition(".") if isinstance(cursor, str) else ("", "", "")
    if not place.isdecimal() or not _ID.fullmatch(last):
        raise _Refusal(INVALID_PARAMS, f"invalid cursor {cursor!r}")
    return ids.index(last) + 1 if last in ids else min(int(place), len(ids))


def _checked(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments, checked against the tool's input schema (types, bounds, enums)."""
    schema = next(tool["inputSchema"] for tool in TOOLS if tool["name"] == name)
    properties = schema["properties"]
    for key in arguments:
        if key not in properties:
            raise ToolError(f"{name} takes no argument {key!r}")
    for key in schema.get("required", []):
        if key not in arguments:
            raise ToolError(f"{name} needs {key!r}")
    for key, value in arguments.items():
        spec = properties[key]
        kind = spec["type"]
        if kind == "string" and not isinstance(value, str):
            raise ToolError(f"{key} must be a string")
        if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
            raise ToolError(f"{key} must be a whole number")
        if kind == "number" and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise ToolError(f"{key} must be a number")
        if kind == "array" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ToolError(f"{key} must be a list of strings")
        if "enum" in spec and value not in spec["enum"]:
            raise ToolError(f"{key} is one of {', '.join(spec['enum'])}, not {value!r}")
        if kind in ("integer", "number") and not spec["minimum"] <= value <= spec["maximum"]:
            raise ToolError(f"{key} must be from {spec['minimum']} to {spec['maximum']}")
        if kind == "array" and len(value) < spec.get("minItems", 0):
            raise ToolError(f"{key} cannot be empty")
    return arguments


def _tool_error(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": _text(f"Error: {message}")}], "isError": True}


def _brief(data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**{key: data[key] for key in BRIEF_FIELDS}, **extra}


def _line(text: str) -> str:
    return " ".join(text.split())


def _valid_id(request_id: Any) -> bool:
    """JSON-RPC ids are strings, numbers (finite: NaN and Infinity are not JSON) or null."""
    if request_id is None or isinstance(request_id, str):
        return True
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, int):
        return True
    return isinstance(request_id, float) and math.isfinite(request_id)


def _echoable_id(message: Any) -> Any:
    """The id to answer an error with: the message's own if it is a valid one, else null."""
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if _valid_id(request_id) else None


def _text(text: str) -> str:
    """Text that encodes as UTF-8: a lone surrogate (from a JSON escape) is written out as `\\udxxx`."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _result(request_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": _text(message)}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose str() fails
        return type(exc).__name__


def _respond(server: Server, message: Any) -> dict[str, Any] | None:
    """The response to one decoded message, whatever goes wrong while handling it."""
    try:
        return server.handle(message)
    except Exception as exc:  # the server outlives any one request
        return _error(_echoable_id(message), INTERNAL_ERROR, _describe(exc))


def _dumps(response: dict[str, Any]) -> str:
    """One response as JSON text, ASCII only; one that cannot be written becomes an internal error."""
    try:
        return json.dumps(response, ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:  # NaN, an object JSON has no form for, ...
        error = _error(_echoable_id(response), INTERNAL_ERROR, f"unserializable response: {_describe(exc)}")
        return json.dumps(error, ensure_ascii=True, allow_nan=False)


def _answer(server: Server, message: Any) -> list[str]:
    """The lines to write for one decoded message or batch: its notifications, then its answer."""
    if isinstance(message, list):  # a batch (protocol 2025-03-26): one array of responses
        if not message:
            return [_dumps(_error(None, INVALID_REQUEST, "invalid request: empty batch"))]
        responses = [r for r in (_respond(server, m) for m in message) if r is not None]
        batch = ["[" + ", ".join(_dumps(r) for r in responses) + "]"] if responses else []
        return [_dumps(n) for n in server.notices()] + batch
    response = _respond(server, message)
    return [_dumps(n) for n in server.notices()] + ([] if response is None else [_dumps(response)])


def serve(server: Server, lines: Iterable[bytes], out: IO[str]) -> None:
    """Answer each line of input until it ends; stdout carries JSON-RPC only."""

    def write(line: str) -> None:
        try:
            out.write(line + "\n")
            out.flush()
        except (OSError, ValueError):  # the client stopped reading: go on until the input ends
            pass

    for raw in lines:
        if not raw.strip():
            continue
        answer: list[str]
        try:
            try:
                message = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
                answer = [_dumps(_error(None, PARSE_ERROR, "parse error: not a JSON message"))]
            else:
                answer = _answer(server, message)
        except Exception as exc:  # never expected; still, the server goes on
            answer = [_dumps(_error(None, INTERNAL_ERROR, _describe(exc)))]
        for line in answer:
            write(line)
    for closing in server.finish():
        write(_dumps(closing))
