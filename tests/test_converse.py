"""ask and chat logic around the model, with a scripted model (fast; the real one is in test_llm.py)."""

import json

import pytest

from memcli.ask import DONT_KNOW, ask, key_words, relevant
from memcli.chat import Chat
from memcli.memory import Memory
from memcli.records import Filters, Hit, NewMemory


class Fake:
    """Stands in for models.generate.Generator: replies come from `script(messages, grammar)`."""

    name = "fake-llm"

    def __init__(self, script, n_ctx: int = 4096) -> None:
        self.script = script
        self.n_ctx = n_ctx
        self.prompts: list[list[dict]] = []
        self.last_finish_reason = None

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, messages) -> int:
        return sum(self.count_tokens(m["content"]) + 8 for m in messages)

    def stream(self, messages, *, max_tokens, grammar=None, temperature=0.0, repeat_penalty=1.0):
        self.prompts.append(list(messages))
        reply = self.script(messages, grammar)
        self.last_finish_reason = "stop"
        yield from (reply[i : i + 4] for i in range(0, len(reply), 4))


def shown_in(prompt: str) -> dict[str, int]:
    """The memories a prompt shows: text -> the number the prompt gives it."""
    found = {}
    for line in prompt.splitlines():
        if line.startswith("["):
            label, _, rest = line[1:].partition("] ")
            found[rest.partition(") ")[2]] = int(label)
    return found


@pytest.fixture
def notes(fake_memory: Memory) -> dict[str, str]:
    results = fake_memory.remember(
        [
            NewMemory("The spare house key is under the blue flower pot"),
            NewMemory("Ana's birthday is on 3 March; she likes orchids"),
        ]
    )
    return {"key": results[0].id, "ana": results[1].id}


def test_ask_cites_the_memory_it_used(fake_memory: Memory, notes) -> None:
    def script(messages, grammar):
        shown = shown_in(messages[-1]["content"])
        key = shown["The spare house key is under the blue flower pot"]  # shown by number, not by id
        return json.dumps({"answer": "Under the blue flower pot.", "memory_ids": [key]})

    streamed: list[str] = []
    answer = ask(
        fake_memory,
        Fake(script),
        "where is the spare house key?",
        Filters(user="tester"),
        on_text=streamed.append,
    )
    assert answer.known and answer.text == "Under the blue flower pot." and answer.cited == [notes["key"]]
    assert "".join(streamed) == "Under the blue flower pot."


def test_ask_without_a_relevant_memory_never_calls_the_model(fake_memory: Memory, notes) -> None:
    model = Fake(lambda *_: pytest.fail("the model was called"))
    answer = ask(fake_memory, model, "xylophone zebra quartz", Filters(user="tester"))
    assert (answer.text, answer.known, answer.cited) == (DONT_KNOW, False, [])
    assert answer.reason == "no memory is relevant enough"


def test_a_memory_about_something_else_is_not_shown(fake_memory: Memory) -> None:
    cat, ana = fake_memory.remember(
        [
            NewMemory("My cat is called Miso and she is three years old"),
            NewMemory("Ana's birthdays are in March"),
        ]
    )
    records = {r.id: fake_memory.get(r.id) for r in (cat, ana)}

    def hit(memory_id: str, similarity: float) -> Hit:
        return Hit(records[memory_id], score=similarity, similarity=similarity)

    assert key_words("What is my dog's name?") == {"dog"}
    # Similar, but about a cat: the model would name the cat (measured 0.46 with MiniLM).
    assert relevant([hit(cat.id, 0.46)], "What is my dog's name?") == []
    assert relevant([hit(cat.id, 0.46)], "What is my cat's name?") != []
    assert relevant([hit(ana.id, 0.3)], "When is Ana's birthday?") != []  # "birthday" finds "birthdays"
    assert relevant([hit(cat.id, 0.55)], "Do I have pets?") != []  # worded differently, but very similar
    assert relevant([hit(cat.id, 0.2)], "What is my cat's name?") == []  # below ask_min_similarity


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ({"answer": "I don't know.", "memory_ids": []}, "the memories do not say"),
        # The grammar cannot produce this; were it produced, it is not an answer.
        (
            {"answer": "Your dog is called Ana.", "memory_ids": []},
            "no usable answer: fake-llm gave no usable",
        ),
    ],
)
def test_ask_abstains_when_the_model_does_or_cites_nothing(fake_memory: Memory, notes, reply, reason) -> None:
    answer = ask(
        fake_memory, Fake(lambda *_: json.dumps(reply)), "what is Ana's dog called?", Filters(user="tester")
    )
    assert (answer.text, answer.known) == (DONT_KNOW, False) and answer.reason.startswith(reason)


def test_a_reply_that_is_no_answer_goes_on_to_the_next_step(fake_memory: Memory, notes) -> None:
    calls: list[int] = []

    def reply(messages, grammar) -> str:
        calls.append(1)
        if len(calls) <= 2:  # the first step and its retry: cut off, as at the token limit
            return '{"memory_ids": [1], "answer": "Ana Ana Ana Ana'
        return json.dumps({"memory_ids": [1], "answer": "3 March"})

    answer = ask(fake_memory, Fake(reply), "When is Ana's birthday?", Filters(user="tester"))
    assert answer.known and answer.text == "3 March" and answer.attempts == 2, answer


def test_ask_prompt_stays_within_the_context(fake_memory: Memory) -> None:
    fake_memory.remember([NewMemory(f"garden note {i}: " + "tomatoes need water " * 40) for i in range(8)])
    model = Fake(
        lambda m, g: json.dumps({"answer": "Water.", "memory_ids": [1]}),
        n_ctx=900,
    )
    answer = ask(fake_memory, model, "what do the garden tomatoes need?", Filters(user="tester"))
    assert model.prompt_tokens(model.prompts[0]) <= 900 - 2 * 120 - 16
    assert 1 <= len(answer.used) < 8 and answer.known


def chat_script(replies: list[dict]):
    def script(messages, grammar):
        if "running summary" in messages[0]["content"]:
            return json.dumps({"summary": "Talked about Porto and cats."})
        return json.dumps(replies.pop(0))

    return script


def test_chat_stores_turns_and_resumes_a_session(fake_memory: Memory) -> None:
    replies = [
        {"reply": "Nice!", "remember": ["The user moved to Porto."]},
        {"reply": "Porto, you said.", "remember": []},
    ]
    model = Fake(chat_script(replies))
    first = Chat(fake_memory, lambda: model, "trip", Filters(user="tester"))
    reply = first.respond("I moved to Porto last week")
    assert reply.text == "Nice!" and [t for _, t in reply.saved] == ["The user moved to Porto."]
    assert fake_memory.get(reply.saved[0][0]).kind == "semantic"

    again = Chat(fake_memory, lambda: model, "trip", Filters(user="tester"))
    assert again.resumed and [t.user for t in again.turns] == ["I moved to Porto last week"]
    again.respond("where do I live?")
    prompt = model.prompts[-1]
    assert prompt[1] == {"role": "user", "content": "I moved to Porto last week"}  # the resumed turn
    stored = fake_memory.store.thread("tester", "chat:trip")
    # The user's words are theirs; the model's replies are the assistant's.
    assert [(r.chunk, r.role, r.text) for r in stored] == [
        (1, "user", "I moved to Porto last week"),
        (2, "assistant", "Nice!"),
        (3, "user", "where do I live?"),
        (4, "assistant", "Porto, you said."),
    ]
    # The fact saved from a message is derived from it: forgetting the message forgets the fact.
    assert fake_memory.get(reply.saved[0][0]).sources == [stored[0].id]
    assert fake_memory.recall("Porto said", Filters(user="tester", kinds=["episodic"])) != []
    assert all(h.record.role == "user" for h in fake_memory.recall("Porto you said", Filters(user="tester")))
    with_replies = fake_memory.recall("Porto you said", Filters(user="tester", include_assistant=True))
    assert "assistant" in {h.record.role for h in with_replies}
    report = fake_memory.forget([stored[0].id])
    assert report.derived == [reply.saved[0][0]]


def test_a_session_stored_before_roles_resumes(fake_memory: Memory) -> None:
    fake_memory.remember(
        [NewMemory("User: hello there\nAssistant: Hi!", doc_id="chat:old", chunk=1, source="chat")]
    )
    model = Fake(chat_script([{"reply": "Yes.", "remember": []}]))
    old = Chat(fake_memory, lambda: model, "old", Filters(user="tester"))
    assert [(t.user, t.assistant) for t in old.turns] == [("hello there", "Hi!")]
    old.respond("still there?")
    assert [(t.user, t.assistant) for t in old.turns] == [("hello there", "Hi!"), ("still there?", "Yes.")]


def test_chat_search_function_runs_one_recall(fake_memory: Memory, notes) -> None:
    replies = [{"search": "spare key"}, {"reply": "Under the blue pot.", "remember": []}]
    model = Fake(chat_script(replies))
    reply = Chat(fake_memory, lambda: model, "s", Filters(user="tester")).respond("hmm, remind me")
    assert reply.searched == "spare key" and reply.text == "Under the blue pot."
    assert 'Memories found for "spare key"' in model.prompts[-1][-1]["content"]
    assert notes["key"] in model.prompts[-1][-1]["content"]


def test_chat_folds_old_turns_into_the_summary(fake_memory: Memory, monkeypatch) -> None:
    import memcli.chat as chat_mod

    monkeypatch.setattr(chat_mod, "TURNS_BUDGET", 60)
    replies = [{"reply": f"answer number {i} " + "words " * 10, "remember": []} for i in range(6)]
    model = Fake(chat_script(replies))
    session = Chat(fake_memory, lambda: model, "long", Filters(user="tester"))
    for i in range(6):
        session.respond(f"message number {i} about cats")
    assert session.summary == "Talked about Porto and cats." and session.summarized_through >= 2
    assert sum(model.count_tokens(t.text()) for t in session.turns) <= 60
    resumed = Chat(fake_memory, lambda: model, "long", Filters(user="tester"))
    assert resumed.summary == session.summary
    assert [t.chunk for t in resumed.turns] == [t.chunk for t in session.turns]
    assert "Summary of the conversation so far:\nTalked about Porto" in resumed._head()[0]["content"]

    # Forgetting a turn drops the summary that may quote it.
    first = fake_memory.store.thread("tester", "chat:long")[0]
    fake_memory.forget([first.id])
    assert fake_memory.store.chat_sessions("tester", "long")[0].summary == ""


def test_only_facts_the_user_said_are_saved() -> None:
    from memcli.chat import grounded

    assert grounded("The user moved to Porto last week.", "I moved to Porto last week, finally!")
    assert grounded("The user is moving to Porto in May.", "we're moving to porto in may")
    assert not grounded("The user lives in New York City.", "Where do I live now?")
    assert not grounded("Porto", "I moved to Porto")  # not a sentence


def test_looping_replies_are_trimmed() -> None:
    from memcli.chat import without_repeats

    loop = "You live in Porto. It is lovely. You live in Porto. It is lovely. You li [cut off]"
    assert without_repeats(loop) == "You live in Porto. It is lovely."
    assert without_repeats("Cut in the middle of a long thought [cut off]").endswith("[cut off]")
    assert without_repeats("Hi! How are you?") == "Hi! How are you?"


def test_a_fact_needs_most_of_its_words_from_the_message() -> None:
    from memcli.chat import grounded

    assert not grounded("Porto is a city", "I moved to Porto last week.")


def test_a_chat_reply_the_memories_do_not_hold_is_answered_as_ask_answers(fake_memory: Memory, notes) -> None:
    def script(messages, grammar):  # keyed by what is asked: the grammar's fields
        if "memory_ids" in grammar:  # ask's cited answer
            key = "quote" if "quote" in grammar else "answer"
            return json.dumps({"memory_ids": [1], key: "She likes orchids."})
        return json.dumps({"reply": "Buy her red roses, she loves them!", "remember": []})

    model = Fake(script)
    chat = Chat(fake_memory, lambda: model, "gifts", Filters(user="tester"))
    shown: list[str] = []
    reply = chat.respond("What does Ana like for her birthday?", on_text=shown.append)
    assert reply.text == "She likes orchids." and reply.checked
    assert "withdrawn" in "".join(shown)
    stored = fake_memory.store.thread("tester", "chat:gifts")
    assert [r.text for r in stored if r.role == "assistant"] == ["She likes orchids."]
    # A reply the memories hold stands.
    model.script = lambda m, g: json.dumps({"reply": "She likes orchids.", "remember": []})
    assert chat.respond("What does Ana like for her birthday then?").checked is None
