"""Structured output from a local model: JSON-schema-constrained decoding, checked.

Every model call that must return structure (ask's answer and citations, chat's
memory functions, fact extraction) goes through `generate_json`:

1. the schema becomes a llama.cpp grammar, so the sampler can only produce
   text that parses as JSON of that shape;
2. the text is parsed and validated against the schema here as well (a reply
   cut off by max_tokens, for one, is valid grammar so far but not JSON);
3. a failure is retried a bounded number of times, with more room;
4. then a StructuredOutputError says what went wrong and carries the raw text,
   so a caller never silently drops what the model produced.

`on_field` streams one string field of the reply (say "answer") to a terminal
as it is generated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    from .models.generate import Generator, Message


class StructuredOutputError(ModelError):
    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


@lru_cache(maxsize=32)
def grammar_for(schema_json: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(schema_json)


def generate_json(
    generator: Generator,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    max_tokens: int = 256,
    retries: int = 1,
    on_field: tuple[str, Callable[[str], None]] | None = None,
    repeat_penalty: float = 1.0,
) -> dict[str, Any]:
    schema_json = json.dumps(schema)  # key order matters: the model writes the fields in this order
    grammar = grammar_for(schema_json)
    problem = ""
    raw = ""
    for attempt in range(retries + 1):
        budget = max_tokens * (attempt + 1)
        streamer = FieldStream(on_field[0]) if on_field else None
        pieces: list[str] = []
        for piece in generator.stream(
            messages, max_tokens=budget, grammar=grammar, repeat_penalty=repeat_penalty
        ):
            pieces.append(piece)
            if streamer is not None and on_field is not None:
                text = streamer.feed(piece)
                if text:
                    on_field[1](text)
        raw = "".join(pieces)
        try:
            value = json.loads(raw, strict=False)  # the grammar lets raw newlines into strings
        except json.JSONDecodeError as exc:
            cut = generator.last_finish_reason == "length"
            problem = (
                f"the reply was cut off at {budget} tokens" if cut else f"the reply is not JSON ({exc.msg})"
            )
            continue
        value = _clean(value)
        problems = validate(value, schema)
        if not problems:
            return value
        problem = f"the reply does not fit the schema: {problems[0]}"
    raise StructuredOutputError(
        f"{generator.name} gave no usable answer after {retries + 1} tries: {problem}", raw
    )


def _clean(value: Any) -> Any:
    """Text a model may escape into JSON but nothing can store or print: a lone
    surrogate (half an emoji) becomes U+FFFD; NUL and the other control
    characters but tab and newline are dropped."""
    if isinstance(value, str):
        return _CONTROLS.sub("", _SURROGATES.sub("\ufffd", value))
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


_SURROGATES = re.compile("[\ud800-\udfff]")  # json.loads has joined the pairs already
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


# -- validation of the JSON Schema subset the prompts use -----------------------------

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Problems of `value` against `schema` (type, enum, properties, required,
    additionalProperties, items, min/maxItems, min/maxLength, minimum/maximum)."""
    if "anyOf" in schema:
        if any(not validate(value, option, where) for option in schema["anyOf"]):
            return []
        return [f"{where} matches none of the allowed shapes"]
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_TYPES[k](value) for k in kinds):
        return [f"{where} should be {' or '.join(kinds)}"]
    if "const" in schema and value != schema["const"]:
        return [f"{where} should be {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where} should be one of {schema['enum']}"]
    problems: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{where}.{key} is missing" for key in schema.get("required", []) if key not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{where}.{key} is not allowed" for key in value if key not in properties]
        for key, sub in properties.items():
            if key in value:
                problems += validate(value[key], sub, f"{where}.{key}")
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{where} needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where} allows at most {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                problems += validate(item, schema["items"], f"{where}[{i}]")
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{where} is shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where} is longer than {schema['maxLength']} characters")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where} is above {schema['maximum']}")
    return problems


# -- streaming one string field out of JSON being generated ---------------------------

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class FieldStream:
    """Feed JSON text as it arrives; get back the new characters of one top-level
    string field's value, decoded (escapes resolved), as soon as they are known."""

    def __init__(self, field: str) -> None:
        # the key, unescaped (not inside another string), followed by a colon
        self.pattern = re.compile(r"(?<!\\)" + re.escape(json.dumps(field)) + r"\s*:\s*")
        self.buffer = ""
        self.start: int | None = None  # index just after the value's opening quote
        self.pos = 0
        self.done = False

    def feed(self, text: str) -> str:
        self.buffer += text
        if self.done:
            return ""
        if self.start is None:
            found = self.pattern.search(self.buffer)
            if found is None or found.end() == len(self.buffer):
                return ""
            if self.buffer[found.end()] != '"':  # not a string: nothing to stream
                self.done = True
                return ""
            self.start = self.pos = found.end() + 1
        out: list[str] = []
        buf = self.buffer
        while self.pos < len(buf):
            ch = buf[self.pos]
            if ch == '"':
                self.done = True
                break
            if ch != "\\":
                out.append(ch)
                self.pos += 1
                continue
            if self.pos + 1 >= len(buf):
                break  # wait for the escaped character
            code = buf[self.pos + 1]
            if code == "u":
                if self.pos + 6 > len(buf):
                    break
                try:
                    point = int(buf[self.pos + 2 : self.pos + 6], 16)
                except ValueError:
                    point = 0xFFFD
                width = 6
                if 0xD800 <= point < 0xDC00:  # a surrogate pair: wait for its second half
                    if self.pos + 12 > len(buf):
                        break
                    try:
                        low = int(buf[self.pos + 8 : self.pos + 12], 16)
                    except ValueError:
                        low = 0
                    if buf[self.pos + 6 : self.pos + 8] == "\\u" and 0xDC00 <= low < 0xE000:
                        point = 0x10000 + ((point - 0xD800) << 10) + (low - 0xDC00)
                        width = 12
                    else:
                        point = 0xFFFD
                elif 0xDC00 <= point < 0xE000:
                    point = 0xFFFD
                out.append(chr(point))
                self.pos += width
            else:
                out.append(_ESCAPES.get(code, code))
                self.pos += 2
        return "".join(out)
