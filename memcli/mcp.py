"""An MCP server over stdio, so an agent can use the memory as tools.

The Model Context Protocol's stdio transport is JSON-RPC 2.0, one message per
line: the client writes requests to our stdin, we answer on stdout, and logs go
to stderr. A tools-only server needs `initialize`, `ping`, `tools/list` and
`tools/call`; notifications (no id) are never answered, and a batch (a JSON
array) is answered with one array of its responses. Output is ASCII JSON. A
tool that fails (bad input, an unknown id) answers a result with `isError`,
which the agent reads; a malformed message gets a JSON-RPC error. Nothing here
ends the server but the end of its input.

Tools: remember, recall, forget, list_memories; all scoped to one user.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any

from . import __version__
from .errors import MemcliError
from .records import BRIEF_FIELDS, KINDS, Filters, NewMemory

if TYPE_CHECKING:
    from .memory import Memory

PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")  # newest first
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
MAX_K = 50

_KIND = {"type": "string", "enum": list(KINDS), "description": "episodic (what happened, the default), "
         "semantic (a fact) or procedural (how to do something, a preference)"}  # fmt: skip
_WHEN = (
    "A date as people type it: 2024-05-01, 2024-05-01T14:30, 'March 3 2024', 'last monday', "
    "'yesterday 9am', or an offset like '2d' or '3 weeks ago'."
)

TOOLS: list[dict[str, Any]] = [
    {
        "name": "remember",
        "title": "Remember",
        "description": "Store a memory about the user: something that happened, a fact, or how they "
        "like things done. Storing the same text again changes nothing.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "What to remember, in a full sentence."},
                "kind": _KIND,
                "tags": {"type": "array", "items": {"type": "string"}},
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
            "properties": {
                "kind": {
                    "type": "string",
                    "enum": ["person", "pet", "place", "organisation", "thing", "self"],
                }
            },
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
        "with the memories it comes from.",
        "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
        "annotations": {"readOnlyHint": True},
    },
]


class ToolError(Exception):
    """Bad arguments for a tool: the agent is told, the server goes on."""


class Server:
    """Answers MCP messages with one Memory (one database file, one user)."""

    def __init__(self, open_memory: Callable[[], Memory]) -> None:
        self._open_memory = open_memory
        self._memory: Memory | None = None

    @property
    def memory(self) -> Memory:
        if self._memory is None:
            self._memory = self._open_memory()
        return self._memory

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()

    def handle(self, message: Any) -> dict[str, Any] | None:
        """The response to one decoded message; None for a notification."""
        if (
            not isinstance(message, dict)
            or message.get("jsonrpc") != "2.0"
            or not isinstance(message.get("method"), str)
        ):
            return _error(_echoable_id(message), INVALID_REQUEST, "invalid request")
        if "id" not in message:
            return None  # notifications/initialized, notifications/cancelled, ...
        request_id, method = message["id"], message["method"]
        if not _valid_id(request_id):
            return _error(None, INVALID_REQUEST, "invalid request: id must be a string, a number or null")
        params = message.get("params")
        params = {} if params is None else params
        if not isinstance(params, dict):
            return _error(request_id, INVALID_PARAMS, "params must be an object")
        if method == "initialize":
            return _result(request_id, self._initialize(params))
        if method == "ping":
            return _result(request_id, {})
        if method == "tools/list":
            return _result(request_id, {"tools": TOOLS})
        if method == "tools/call":
            name, arguments = params.get("name"), params.get("arguments")
            arguments = {} if arguments is None else arguments
            if not isinstance(name, str) or name not in {tool["name"] for tool in TOOLS}:
                return _error(request_id, INVALID_PARAMS, f"unknown tool {name!r}")
            if not isinstance(arguments, dict):
                return _error(request_id, INVALID_PARAMS, "arguments must be an object")
            return _result(request_id, self.call(name, arguments))
        return _error(request_id, METHOD_NOT_FOUND, f"method not found: {method}")

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        return {
            "protocolVersion": asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0],
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "memcli", "title": "memcli", "version": __version__},
            "instructions": "A personal memory kept on this machine. recall before answering questions "
            "about the user; remember what they tell you that will matter later.",
        }

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run one tool: its text for the model, and the same data structured."""
        try:
            text, data = getattr(self, f"_tool_{name}")(**_checked(name, arguments))
        except (ToolError, MemcliError) as exc:
            # the store's errors are MemcliErrors too (read-only, full, locked): told as to a person
            return _tool_error(str(exc))
        return {"content": [{"type": "text", "text": text}], "structuredContent": data, "isError": False}

    # -- the tools -----------------------------------------------------------------

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
        lines = [
            f"{'Remembered' if r.status == 'added' else 'Already known'} {r.id}: {_line(r.text)}"
            for r in results
        ]
        return "\n".join(lines), {"results": [r.to_dict() for r in results]}

    def _tool_recall(
        self,
        query: str,
        k: int = 5,
        kind: str | None = None,
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

    def _tool_list_memories(self, limit: int = 10, kind: str | None = None) -> tuple[str, dict[str, Any]]:
        filters = Filters(user=self.memory.user, kinds=[kind] if kind else [], include_assistant=True)
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
        if kind == "array" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ToolError(f"{key} must be a list of strings")
        if "enum" in spec and value not in spec["enum"]:
            raise ToolError(f"{key} is one of {', '.join(spec['enum'])}, not {value!r}")
        if kind == "integer" and not spec["minimum"] <= value <= spec["maximum"]:
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


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": _text(message)}}


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


def _answer(server: Server, message: Any) -> str | None:
    """The line to write for one decoded message or batch; None when nothing is to be written."""
    if isinstance(message, list):  # a batch (protocol 2025-03-26): one array of responses
        if not message:
            return _dumps(_error(None, INVALID_REQUEST, "invalid request: empty batch"))
        responses = [r for r in (_respond(server, m) for m in message) if r is not None]
        return "[" + ", ".join(_dumps(r) for r in responses) + "]" if responses else None
    response = _respond(server, message)
    return None if response is None else _dumps(response)


def serve(server: Server, lines: Iterable[bytes], out: IO[str]) -> None:
    """Answer each line of input until it ends; stdout carries JSON-RPC only."""
    for raw in lines:
        if not raw.strip():
            continue
        line: str | None
        try:
            try:
                message = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
                line = _dumps(_error(None, PARSE_ERROR, "parse error: not a JSON message"))
            else:
                line = _answer(server, message)
        except Exception as exc:  # never expected; still, the server goes on
            line = _dumps(_error(None, INTERNAL_ERROR, _describe(exc)))
        if line is not None:
            try:
                out.write(line + "\n")
                out.flush()
            except (OSError, ValueError):  # the client stopped reading: go on until the input ends
                pass
