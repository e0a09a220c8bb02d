"""The structured-output helper's logic, with a scripted model (no llama.cpp)."""

import json

import pytest

from memcli.structured import FieldStream, StructuredOutputError, generate_json, schema_problem

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "ids": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
        "n": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["answer", "ids"],
    "additionalProperties": False,
}


class Scripted:
    """Yields prepared replies in pieces, as a streaming model would."""

    name = "scripted"

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls: list[int] = []
        self.last_finish_reason = None

    def stream(self, messages, *, max_tokens, grammar=None, temperature=0.0, repeat_penalty=1.0):
        assert grammar and "root" in grammar  # the schema went to llama.cpp as a grammar
        self.calls.append(max_tokens)
        reply = self.replies.pop(0)
        self.last_finish_reason = "length" if not reply.endswith("}") else "stop"
        for i in range(0, len(reply), 3):
            yield reply[i : i + 3]


def test_valid_reply_is_returned_and_the_field_streamed() -> None:
    model = Scripted('{"answer": "Under the \\"blue\\" pot \\u00e9\\ud83d\\ude00", "ids": ["a"]}')
    seen: list[str] = []
    value = generate_json(model, [], SCHEMA, on_field=("answer", seen.append))
    assert value == {"answer": 'Under the "blue" pot \u00e9\U0001f600', "ids": ["a"]}
    assert "".join(seen) == value["answer"] and len(seen) > 3


def test_cut_off_reply_is_retried_with_more_room() -> None:
    model = Scripted('{"answer": "a long ans', '{"answer": "short", "ids": []}')
    assert generate_json(model, [], SCHEMA, max_tokens=50)["answer"] == "short"
    assert model.calls == [50, 100]


def test_bounded_retries_end_in_a_clear_error_carrying_the_text() -> None:
    model = Scripted('{"answer": "x", "ids": ["zzz"]}', '{"answer": "x", "ids": ["a", "b", "a"]}')
    with pytest.raises(StructuredOutputError) as caught:
        generate_json(model, [], SCHEMA, retries=1)
    assert "after 2 tries" in str(caught.value)
    assert str(caught.value).endswith("the reply does not fit the schema: $.ids: ['a', 'b', 'a'] is too long")
    assert json.loads(caught.value.raw)["ids"] == ["a", "b", "a"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"answer": "x", "ids": []}, None),
        ({"answer": "x"}, "$: 'ids' is a required property"),
        ({"answer": 3, "ids": []}, "$.answer: 3 is not of type 'string'"),
        (
            {"answer": "x", "ids": [], "extra": 1},
            "$: Additional properties are not allowed ('extra' was unexpected)",
        ),
        ({"answer": "x", "ids": [], "n": 9}, "$.n: 9 is greater than the maximum of 5"),
        ({"answer": "x", "ids": [], "n": True}, "$.n: True is not of type 'integer'"),
        ({"answer": "x", "ids": ["a", "c"]}, "$.ids[1]: 'c' is not one of ['a', 'b']"),
        ([], "$: [] is not of type 'object'"),
    ],
)
def test_schema_problem(value, problem) -> None:
    assert schema_problem(value, SCHEMA) == problem


FACTS = {  # the shape of consolidation's fact extraction: objects in an array
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fact": {"type": "string", "maxLength": 20},
                    "importance": {"enum": [1, 2, 3]},
                },
                "required": ["fact", "importance"],
            },
        }
    },
}


@pytest.mark.parametrize(
    ("fact", "problem"),
    [
        ({"fact": "moved to Porto", "importance": 2}, None),
        ({"fact": 5, "importance": 2}, "$.facts[1].fact: 5 is not of type 'string'"),
        ({"fact": "moved to Porto", "importance": 7}, "$.facts[1].importance: 7 is not one of [1, 2, 3]"),
        # True == 1 in Python, so `True in [1, 2, 3]`; not in JSON Schema
        (
            {"fact": "moved to Porto", "importance": True},
            "$.facts[1].importance: True is not one of [1, 2, 3]",
        ),
        ({"importance": 1}, "$.facts[1]: 'fact' is a required property"),
    ],
)
def test_nested_items_are_checked(fact, problem) -> None:
    reply = {"facts": [{"fact": "has a cat", "importance": 1}, fact]}
    assert schema_problem(reply, FACTS) == problem


def test_a_long_value_is_cut_in_the_message() -> None:
    problem = schema_problem({"facts": [{"fact": "x" * 500, "importance": 1}]}, FACTS)
    assert problem is not None and problem.startswith("$.facts[0].fact: 'xxx") and problem.endswith("\u2026")
    assert len(problem) < 200


def test_keywords_beyond_the_prompts_are_checked() -> None:
    # The old hand-written subset ignored these; a schema may now use any of 2020-12.
    schema = {
        "$defs": {"day": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
        "type": "array",
        "items": {"$ref": "#/$defs/day"},
        "uniqueItems": True,
    }
    assert schema_problem(["2026-03-03"], schema) is None
    assert (
        schema_problem(["3 March"], schema) == "$[0]: '3 March' does not match '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'"
    )
    assert (
        schema_problem(["2026-03-03", "2026-03-03"], schema)
        == "$: ['2026-03-03', '2026-03-03'] has non-unique elements"
    )


def test_any_of_names_the_nearest_shape() -> None:
    schema = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"ids": {"type": "array", "minItems": 1}, "answer": {"type": "string"}},
            },
            {"type": "object", "properties": {"ids": {"maxItems": 0}, "answer": {"const": "I don't know."}}},
        ]
    }
    assert schema_problem({"ids": [3], "answer": "Porto"}, schema) is None
    assert schema_problem({"ids": [], "answer": "I don't know."}, schema) is None
    # one miss against the first shape, two against the second
    assert schema_problem({"ids": [3], "answer": 5}, schema) == (
        "$ matches none of the allowed shapes (nearest: $.answer: 5 is not of type 'string')"
    )
    # a tie: the first shape ("should be non-empty" since jsonschema 4.21, "is too short" before)
    assert schema_problem({"ids": [], "answer": "Porto"}, schema).startswith(
        "$ matches none of the allowed shapes (nearest: $.ids: [] "
    )


def test_the_prompts_schemas_are_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    from memcli import ask, chat, consolidate, entities

    for schema in (
        ask.answer_schema([1, 2]),
        ask.answer_schema([1, 2], "quote", ids_first=False),
        chat.FIRST_SCHEMA,
        chat.SUMMARY_SCHEMA,
        consolidate.EXTRACT_SCHEMA,
        consolidate.SUMMARY_SCHEMA,
        consolidate.reconcile_schema(["1", "2"]),
        entities.entity_schema(["Ana"], ["Porto"]),
    ):
        Draft202012Validator.check_schema(schema)


def _streamed(text: str, field: str = "reply", size: int = 1) -> list[str]:
    stream = FieldStream(field)
    return [stream.feed(text[i : i + size]) for i in range(0, len(text), size)]


def test_field_stream_ignores_other_fields_and_non_strings() -> None:
    out = _streamed('{"remember": ["reply"], "x": {"reply": "inner"}, "reply": "hi\\nthere", "y": "no"}')
    assert "".join(out) == "hi\nthere"
    assert FieldStream("reply").feed('{"reply": 5}') == ""
    assert not any(_streamed('{"reply": 5, "other": "text"}'))


def test_field_stream_shows_what_the_reply_will_hold() -> None:
    # The grammar lets raw newlines into strings; an emoji is a pair of escapes,
    # never shown by halves; half a pair and controls are cleaned as in the reply.
    reply = '{"reply": "line one\nline two \\ud83d\\ude00 \\"q\\" \\ud83d\\u0007 end"}'
    out = _streamed(reply)
    assert "".join(out) == 'line one\nline two \U0001f600 "q" \ufffd end'
    assert all("\ud800" > piece[-1:] or piece[-1:] > "\udfff" for piece in out)
    assert generate_json(Scripted(reply), [], {"type": "object"})["reply"] == "".join(out)


def test_field_stream_of_a_reply_cut_off_midway() -> None:
    # what chat keeps of a reply that ran out of tokens
    assert (
        FieldStream("reply").feed('{"reply": "The key is under the \\u00e9') == "The key is under the \u00e9"
    )
    assert FieldStream("reply").feed('{"reply": "The key is under the \\u00') == "The key is under the "
    assert FieldStream("reply").feed("Sorry, no JSON here") == ""


def test_text_no_store_can_hold_is_cleaned_from_a_reply() -> None:
    # The grammar lets a model write any JSON escape: half an emoji, NUL, other controls.
    reply = r'{"answer": "Under the pot \ud83d\u0000 \ud83d\ude00\tok\nnext\u0007", "ids": ["a"]}'
    value = generate_json(Scripted(reply), [], SCHEMA)
    assert value["answer"] == "Under the pot \ufffd \U0001f600\tok\nnext"
    value["answer"].encode("utf-8")  # storable and printable


@pytest.mark.model
def test_greedy_grammar_decoding_gives_the_tokens_of_the_full_mask(real_generator) -> None:
    """memcli.models.sampling checks the best tokens against the grammar first;
    the replies must be those of llama.cpp's own sampler, which masks the whole
    vocabulary, for prompts where the model wants to leave the grammar."""
    import json as _json

    from llama_cpp import LlamaGrammar

    from memcli.structured import grammar_for

    llm = real_generator.llm
    schema = {
        "type": "object",
        "properties": {
            "city": {"enum": ["Lisbon", "Porto", "none"]},
            "facts": {"type": "array", "maxItems": 3, "items": {"type": "string", "maxLength": 60}},
        },
        "required": ["city", "facts"],
        "additionalProperties": False,
    }
    prompts = [
        "Write a haiku about the sea.",  # nothing like the schema: the mask decides every token
        "I moved from Lisbon to Porto in March and my sister Ana lives in Faro. Reply in JSON.",
    ]
    patched = llm._init_sampler
    stock = type(llm)._init_sampler.__get__(llm)

    def reply(prompt: str, penalty: float) -> str:
        grammar = LlamaGrammar.from_string(grammar_for(_json.dumps(schema)), verbose=False)
        # The whole prompt evaluated afresh each time: logits after a cached
        # prefix differ in the last bits from those of one batch.
        llm.reset()
        out = llm.create_chat_completion(
            messages=[{"role": "user", "content": prompt}],
            max_tokens=80,
            temperature=0.0,
            seed=0,
            repeat_penalty=penalty,
            grammar=grammar,
        )
        return out["choices"][0]["message"]["content"]

    try:
        for prompt in prompts:
            for penalty in (1.0, 1.1):
                llm._init_sampler = patched
                fast = reply(prompt, penalty)
                llm._init_sampler = stock
                assert reply(prompt, penalty) == fast
                _json.loads(fast)  # and it is the schema's JSON
    finally:
        llm._init_sampler = patched
