"""The structured-output helper's logic, with a scripted model (no llama.cpp)."""

import json

import pytest

from memcli.structured import FieldStream, StructuredOutputError, generate_json, validate

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
    assert "after 2 tries" in str(caught.value) and "at most 2 items" in str(caught.value)
    assert json.loads(caught.value.raw)["ids"] == ["a", "b", "a"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"answer": "x", "ids": []}, None),
        ({"answer": "x"}, "$.ids is missing"),
        ({"answer": 3, "ids": []}, "$.answer should be string"),
        ({"answer": "x", "ids": [], "extra": 1}, "$.extra is not allowed"),
        ({"answer": "x", "ids": [], "n": 9}, "$.n is above 5"),
        ({"answer": "x", "ids": [], "n": True}, "$.n should be integer"),
        ([], "$ should be object"),
    ],
)
def test_validate(value, problem) -> None:
    problems = validate(value, SCHEMA)
    assert problems == ([] if problem is None else [problem])


def test_any_of() -> None:
    schema = {"anyOf": [{"type": "object", "required": ["a"]}, {"type": "object", "required": ["b"]}]}
    assert validate({"b": 1}, schema) == []
    assert validate({"c": 1}, schema) == ["$ matches none of the allowed shapes"]


def test_field_stream_ignores_other_fields_and_non_strings() -> None:
    stream = FieldStream("reply")
    out = "".join(stream.feed(c) for c in '{"remember": ["reply"], "reply": "hi\\nthere", "x": "no"}')
    assert out == "hi\nthere"
    assert FieldStream("reply").feed('{"reply": 5}') == ""


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
