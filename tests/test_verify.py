"""memcli.verify: an answer holds nothing its cited memories lack; and how `ask` uses it."""

import json

import numpy as np
import pytest

from memcli.ask import DONT_KNOW, NOT_IN_MEMORIES, ask
from memcli.memory import Memory
from memcli.records import Filters, NewMemory
from memcli.verify import grounded_fact, subject, support

ANA = "Ana's birthday is on 3 March; she likes orchids"
FLOWERS = "What flowers should I buy Ana?"


def alike(texts):
    """An embedding under which every text means the same (cosine 1)."""
    return np.ones((len(texts), 4), dtype=np.float32) / 2.0


def unlike(texts):
    """An embedding under which no two texts are alike (cosine 0)."""
    return np.eye(len(texts), len(texts) + 1, dtype=np.float32)


def test_an_invented_flower_is_not_supported() -> None:
    roses = support("Ana should buy roses.", [ANA], FLOWERS)
    assert not roses.ok and roses.missing == ["roses"]
    # However similar it reads: the one word of its own is the invented one.
    assert not support("Ana should buy roses.", [ANA], FLOWERS, embed=alike).ok
    assert support("Ana likes orchids, so buy her orchids.", [ANA], FLOWERS, embed=alike).ok
    assert support("Orchids.", [ANA], FLOWERS, embed=alike).ok
    # The note does not say "flowers": the answer's word must be like the word asked for.
    assert not support("Orchids.", [ANA], FLOWERS, embed=unlike).ok
    assert not support("Orchids.", [ANA], FLOWERS).ok  # no embedding: no allowance


def test_inflections_match() -> None:
    assert support("Ana likes an orchid.", [ANA], "What does Ana like?").ok
    assert support("I parked on level 3.", ["Parking: level 3 of the garage"]).ok
    assert grounded_fact("The user liked the orchids.", "I like orchids")


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("Ana's birthday is on 3 March.", True),
        ("On March 3rd.", True),
        ("Ana's birthday is on 4 March.", False),
        ("Ana's birthday is on 3 April.", False),
        ("Ana's birthday is on Monday.", False),
    ],
)
def test_numbers_and_dates_must_be_in_the_memory(answer: str, ok: bool) -> None:
    result = support(answer, [ANA], "When is Ana's birthday?")
    assert result.ok is ok, result


def test_number_words_are_numbers() -> None:
    cat = ["My cat is called Miso and she is three years old"]
    assert support("Miso is 3 years old.", cat, "How old is Miso?").ok
    assert not support("Miso is four years old.", cat, "How old is Miso?").ok


def test_a_name_must_be_in_the_memory_even_when_the_question_says_it() -> None:
    # "Ben" comes from the question; the birthday in the note is Ana's.
    result = support("Ben's birthday is on 3 March.", [ANA], "When is Ben's birthday?")
    assert not result.ok and "Ben" in result.reason


def test_a_fact_about_the_cat_is_not_about_the_dog() -> None:
    assert not grounded_fact("The user's dog is allergic to cats.", "Biscuit, my dog, is allergic to chicken")
    assert grounded_fact("The user's dog is allergic to chicken.", "Biscuit, my dog, is allergic to chicken")
    assert grounded_fact("The user is moving to Porto in May.", "we're moving to porto in may")
    assert not grounded_fact("The user lives in New York City.", "Where do I live now?")
    assert not grounded_fact("Porto", "I moved to Porto")  # not a sentence
    notes = ["Biscuit is our dog, a beagle.", "Miso the cat is allergic to fish."]
    answer = support("Your dog is allergic to fish.", notes, "What is my dog allergic to?")
    assert not answer.ok and answer.missing == ["fish"]  # the fish is in the cat's note


def test_an_answer_must_answer() -> None:
    notes = ["Biscuit is our dog, a beagle."]
    assert not support("Biscuit is a dog.", notes, "What is my dog allergic to?").ok
    assert not support("Your dog.", notes, "What is my dog allergic to?").ok  # only the question's words
    assert support("A beagle.", notes, "What breed is my dog?", embed=alike).ok
    assert support("Biscuit.", notes, "What is my dog's name?").ok  # a name is what is asked
    when = support("Ana likes orchids.", [ANA], "When is Ana's birthday?")
    assert not when.ok and when.reason == "the answer does not say when"
    club = ["The book club meets on the last Wednesday of the month"]
    assert not support("On the last Wednesday of the month.", club, "What time does the book club meet?").ok


def test_a_memory_about_the_subject_must_also_say_what_is_asked() -> None:
    # The whole note copied back: about Ana, true, and no answer to the question.
    phone = support(ANA, [ANA], "What is Ana's phone number?")
    assert not phone.ok and phone.reason == "the memories do not say what is asked (phone number)"
    assert not support(
        "Biscuit is our dog, a beagle.", ["Biscuit is our dog, a beagle."], "What is my dog allergic to?"
    ).ok
    assert support(
        "Biscuit is allergic to chicken.",
        ["Biscuit, our dog, is allergic to chicken"],
        "What is my dog allergic to?",
    ).ok


def test_an_age_is_said_by_a_birthday_to_come_or_past() -> None:
    mia = ["My cousin Mia turned forty in May and threw a party on the beach."]
    assert support("Mia is forty.", mia, "How old is Mia?").ok
    assert support(mia[0], mia, "How old is my cousin?").ok
    rui = ["Rui turns 12 next week and wants a bike."]
    assert support("Rui will be 12.", rui, "How old will Rui be?").ok
    # The number must be said as an age: not a count, a price or a birthday's day.
    bikes = ["Rui has 12 bikes in the garage."]
    assert not support("Rui has 12 bikes.", bikes, "How old is Rui?").ok
    gym = ["Rui pays 12 euros a year for the gym."]
    assert not support("12", gym, "How old is Rui?").ok
    assert not support("21", ["Leo turns seven on 21 August."], "How old will Leo be?").ok
    birthday = ["Ana's birthday is on 3 March."]
    assert not support("Ana is 3.", birthday, "How old is Ana?").ok
    party = ["Mia threw a party on the beach in May."]
    assert not support(party[0], party, "How old is Mia?").ok
    beagle = ["Biscuit is our dog, a four-year-old beagle."]
    assert support("Four.", beagle, "How old is Biscuit?").ok


def test_my_husband_is_not_her_husband() -> None:
    clara = ["My sister Clara lives in Lyon with her husband Tomas."]
    assert support("Tomas.", clara, "Who is Clara's husband?").ok
    assert not support("Your husband is Tomas.", clara, "What is my husband's name?").ok
    assert support("Lyon.", clara, "Where does my sister live?").ok


def test_the_memory_must_be_about_what_is_asked() -> None:
    car = ["I parked the car on level 3 of the Rua Augusta garage"]
    assert subject("Where did I park the bike?") == ["bike"]
    assert not support("On level 3 of the Rua Augusta garage.", car, "Where did I park the bike?").ok
    assert support("On level 3 of the Rua Augusta garage.", car, "Where did I park the car?").ok


def test_paraphrase_is_allowed_only_by_similarity_and_only_a_little() -> None:
    key = ["The spare house key is under the blue flower pot"]
    answer = "The spare key is hidden beneath the blue flower pot."
    assert not support(answer, key, "Where is the spare key?").ok  # "hidden", "beneath": not in the note
    concise = "Your key is beneath the blue flower pot."
    assert support(concise, key, "Where is the spare key?", embed=alike).ok  # 1 of its 4 own words
    assert not support(concise, key, "Where is the spare key?", embed=unlike).ok


# -- ask: the check after the model, with a scripted model ---------------------------


class Fake:
    """A generator whose reply depends on what is asked: the answer (the grammar
    has an "answer" field; asked again, `sentence` is the reply when given) or
    the extractive retry (a "quote" field)."""

    name = "fake-llm"
    n_ctx = 4096
    last_finish_reason = "stop"

    def __init__(self, answer: str | None, quote: str | None = None, *, sentence: str | None = None) -> None:
        self.replies = {"answer": answer, "quote": quote}
        self.again = sentence
        self.asked: list[str] = []
        self.prompts: list[str] = []

    def prompt_tokens(self, messages) -> int:
        return sum(len(m["content"].split()) + 8 for m in messages)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages, *, max_tokens, grammar=None, temperature=0.0, repeat_penalty=1.0):
        task = "quote" if "quote" in (grammar or "") else "answer"
        self.prompts.append(messages[-1]["content"])
        text = self.again if task == "answer" and task in self.asked and self.again else self.replies[task]
        self.asked.append(task)
        reply = {"memory_ids": [1] if text else [], task: text or DONT_KNOW}
        yield json.dumps(reply)


@pytest.fixture
def ana(fake_memory: Memory) -> str:
    fake_memory.remember([NewMemory("The spare house key is under the blue flower pot")])
    return fake_memory.remember([NewMemory(ANA)])[0].id


QUESTION = "What flowers does Ana like for her birthday?"


def test_an_invented_answer_is_retried_then_withdrawn(fake_memory: Memory, ana: str) -> None:
    model = Fake("Ana likes roses.", quote="She likes roses.")
    streamed: list[str] = []
    answer = ask(fake_memory, model, QUESTION, Filters(user="tester"), on_text=streamed.append)
    assert model.asked == ["answer", "answer", "quote"]  # the answer, a sentence, a quote
    assert (answer.text, answer.known, answer.reason) == (DONT_KNOW, False, NOT_IN_MEMORIES)
    assert answer.unsupported == ["roses"] and answer.closest is not None and answer.closest.record.id == ana
    assert answer.to_dict()["closest"]["text"] == ANA
    assert streamed == [DONT_KNOW]  # the invented answer never reached the terminal


def test_the_extractive_retry_can_save_the_answer(fake_memory: Memory, ana: str) -> None:
    model = Fake("Ana likes roses.", quote="[1] she likes orchids")
    answer = ask(fake_memory, model, QUESTION, Filters(user="tester"))
    assert (answer.text, answer.known, answer.cited, answer.attempts) == ("she likes orchids", True, [ana], 3)


def test_a_supported_answer_passes_at_once(fake_memory: Memory, ana: str) -> None:
    model = Fake("Ana likes orchids.", quote=None)
    streamed: list[str] = []
    answer = ask(fake_memory, model, QUESTION, Filters(user="tester"), on_text=streamed.append)
    assert model.asked == ["answer"]
    assert (answer.text, answer.known, answer.cited) == ("Ana likes orchids.", True, [ana])
    assert streamed == ["Ana likes orchids."]


def test_a_first_i_dont_know_is_asked_again_as_a_sentence(fake_memory: Memory, ana: str) -> None:
    model = Fake(None, sentence="Ana likes orchids.")
    answer = ask(fake_memory, model, QUESTION, Filters(user="tester"))
    assert model.asked == ["answer", "answer"] and (answer.text, answer.cited) == (
        "Ana likes orchids.",
        [ana],
    )


def test_the_model_reads_relative_dates_as_dates(fake_memory: Memory) -> None:
    when = "2023-04-25T10:00:00Z"
    [noted] = fake_memory.remember([NewMemory("I went to the pottery fair yesterday", occurred_at=when)])
    question = "When did I go to the pottery fair?"
    model = Fake("I went to the pottery fair on 24 April 2023")
    answer = ask(fake_memory, model, question, Filters(user="tester"))
    assert (answer.text, answer.cited) == ("I went to the pottery fair on 24 April 2023", [noted.id])
    assert "(noted 25 April 2023) I went to the pottery fair on 24 April 2023" in model.prompts[0]


def test_a_first_i_dont_know_is_retried_extractively(fake_memory: Memory, ana: str) -> None:
    model = Fake(None, quote="she likes orchids")
    answer = ask(fake_memory, model, QUESTION, Filters(user="tester"))
    assert model.asked == ["answer", "answer", "quote"] and (answer.text, answer.cited) == (
        "she likes orchids",
        [ana],
    )
    refused = ask(fake_memory, Fake(None, quote=None), QUESTION, Filters(user="tester"))
    assert (refused.text, refused.reason) == (DONT_KNOW, "the memories do not say")


def test_the_right_answer_under_the_wrong_number_cites_the_memory_that_holds_it(
    fake_memory: Memory, ana: str
) -> None:
    class WrongNumber(Fake):
        def stream(self, messages, **kw):
            shown = [line for line in messages[-1]["content"].splitlines() if line.startswith("[")]
            other = next(int(line[1]) for line in shown if "orchids" not in line)
            self.asked.append("answer")
            yield json.dumps({"memory_ids": [other], "answer": "Ana likes orchids."})

    fake_memory.remember([NewMemory("Ana moved to a flat in Porto after her birthday")])
    model = WrongNumber("unused")
    answer = ask(fake_memory, model, QUESTION, Filters(user="tester"))
    assert len(answer.used) >= 2  # the flat's note was shown too, and cited
    assert (answer.known, answer.cited, model.asked) == (True, [ana], ["answer"])


# -- the real default model --------------------------------------------------------


@pytest.mark.model
def test_the_real_model_does_not_invent_roses(tmp_path, real_embedder, real_generator) -> None:
    mem = Memory(tmp_path / "ana.db", embedder=real_embedder, user="tester")
    try:
        mem.remember(
            [
                NewMemory(ANA),
                NewMemory("The spare house key is under the blue flower pot"),
                NewMemory("My cat is called Miso and she is three years old"),
            ]
        )
        answer = ask(mem, real_generator, FLOWERS, Filters(user="tester"))
    finally:
        mem.close()
    assert "rose" not in answer.text.lower(), answer
    assert "orchid" in answer.text.lower() or not answer.known, answer
