"""Structured output from a local model: JSON-schema-constrained decoding, checked.

Every model call that must return structure (ask's answer and citations, chat's
memory functions, fact extraction) goes through `generate_json`:

1. the schema becomes a llama.cpp grammar, so the sampler can only produce
   text that parses as JSON of that shape;
2. the text is parsed and checked against the schema here as well, by
   jsonschema (a reply cut off by max_tokens, for one, is valid grammar so far
   but not JSON);
3. a failure is retried a bounded number of times, with more room;
4. then a StructuredOutputError says what went wrong and carries the raw text,
   so a caller never silently drops what the model produced.

`on_field` streams one string field of the reply (say "answer") to a terminal
as it is generated (FieldStream, on partial-json-parser).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

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
        wrong = schema_problem(value, schema)
        if wrong is None:
            return value
        problem = f"the reply does not fit the schema: {wrong}"
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


# -- checking a reply against its schema ---------------------------------------------


def schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """What is wrong with `value` as JSON Schema (2020-12) `schema` describes it,
    in a line ("$.ids[0]: 'zzz' is not one of ['a', 'b']"); None if nothing is.

    jsonschema is imported here, once a reply has been generated, not with this
    module: `mem ask` and `mem chat` start without it (it adds some 50 ms, once).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import relevance

    errors = list(Draft202012Validator(schema).iter_errors(value))
    return _describe(max(errors, key=relevance)) if errors else None


def _describe(error: ValidationError) -> str:
    if error.validator in ("anyOf", "oneOf") and error.context:
        # The library's text here repeats the whole reply: say instead why the
        # shape the reply came nearest to (the fewest misses) refused it.
        from jsonschema.exceptions import relevance

        by_shape: dict[Any, list[ValidationError]] = {}
        for miss in error.context:
            by_shape.setdefault(miss.relative_schema_path[0], []).append(miss)
        fewest = min(by_shape.values(), key=len)
        nearest = max(fewest, key=relevance)
        return f"{error.json_path} matches none of the allowed shapes (nearest: {_describe(nearest)})"
    message = error.message  # it quotes the value, which can be a paragraph of the reply
    if len(message) > _MESSAGE_CHARS:
        message = message[: _MESSAGE_CHARS - 1] + "\u2026"
    return f"{error.json_path}: {message}"


_MESSAGE_CHARS = 160


# -- streaming one string field out of JSON being generated ---------------------------


class FieldStream:
    """Feed JSON text as it arrives; get back the new characters of one top-level
    string field's value, decoded and cleaned as the reply will be, as soon as
    they are known.

    Each feed parses the text so far with partial-json-parser (a reply is a few
    KB: a fraction of a millisecond), through json.loads without strict, since
    the grammar lets raw newlines into strings.
    """

    def __init__(self, field: str) -> None:
        self.field = field
        self.buffer = ""
        self.sent = ""
        self.done = False

    def feed(self, text: str) -> str:
        self.buffer += text
        if self.done:
            return ""
        reply = self._parse(partial_strings=True)
        if self.field not in reply:
            return ""
        value = reply[self.field]
        if not isinstance(value, str):  # nothing to stream
            self.done = True
            return ""
        # the value is whole once another field follows it
        self.done = list(reply)[-1] != self.field
        if not self.done and value and "\ud800" <= value[-1] <= "\udbff":
            if self.field not in self._parse(partial_strings=False):
                value = value[:-1]  # half a pair: the other half is still to come
        value = _clean(value)
        if not value.startswith(self.sent):
            return ""
        new, self.sent = value[len(self.sent) :], value
        return new

    def _parse(self, *, partial_strings: bool) -> dict[str, Any]:
        from partial_json_parser import ALL, STR, MalformedJSON, loads

        try:
            reply = loads(self.buffer, ALL if partial_strings else ALL & ~STR, parser=_lenient_json)
        except (MalformedJSON, ValueError):  # not JSON (yet)
            return {}
        return reply if isinstance(reply, dict) else {}


def _lenient_json(text: str) -> Any:
    return json.loads(text, strict=False)
