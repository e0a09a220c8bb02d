"""`mem ask`: answer a question from the user's memories, citing them, or say "I don't know".

Small local models invent answers when the notes do not hold one ("What is my
dog's name?" -> "Ana", or the cat's name), so there are three guards:

1. in code, before the model: a memory is shown only when its cosine similarity
   to the question reaches `ask_min_similarity` and it is about what the
   question asks: it shares one of the question's key words (by their first
   five letters, so "birthday" finds "birthdays"), or, where it words things
   differently, its similarity reaches `ask_support_similarity`. With nothing
   left there is no generation at all;
2. in the prompt: answer only from the memories, otherwise exactly "I don't know.";
3. in the grammar and in code: the reply is JSON whose `memory_ids` come first
   and can only name the memories shown, and an answer needs at least one of
   them; without any the only reply the grammar allows is "I don't know.";
4. after the model, in code: the answer is checked against the memories it
   cites (memcli.verify: its names, numbers, dates and words must be in them,
   and it must answer the question). The first reply is the answer alone (a
   name, a date, a phrase); one that fails, or a first "I don't know", is asked
   for again as one or two sentences, then extractively (copy the words of the
   memory that answers); one that fails all three becomes "I don't know." with
   the closest memory kept in `Answer.closest`.

`on_text` gets the answer only once it has passed the check: a streamed answer
could not be taken back but by printing a withdrawal after it. The answer is
short (a sentence, 0.3-0.6 s of generation on 2 cores after ~2 s of reading the
prompt), so the first word comes that much later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import profile, settings
from .errors import InputError
from .provenance import newest_truth
from .records import Filters, Hit
from .search import STOPWORDS, stem, stems
from .structured import StructuredOutputError, generate_json
from .timeparse import now_str, resolve_dates, with_ages
from .verify import ASKS_AGE, Support, support

if TYPE_CHECKING:
    from .memory import Memory
    from .models.generate import Generator, Message

DONT_KNOW = "I don't know."
# The similarity floors are settings (settings.py): ask_min_similarity and
# ask_support_similarity.
# Words that say what kind of answer is wanted, not what it is about.
QUESTION_FILLER = STOPWORDS | frozenset(
    """name names named called call kind type sort thing things time times much many long
    often ever usually tell know remember say said s t d ll ve re m yesterday today
    tonight tomorrow last next ago recently week weeks month months year years day days""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)
RECALL_K = 8
MAX_QUESTION_CHARS = 2000  # with the memories it stays within ask_prompt_tokens
ANSWER_TOKENS = 120
MEMORY_CHARS = 600  # a longer memory (a document chunk) is cut in the prompt

SYSTEM_PROMPT = """You answer questions using only the user's memories shown below. \
Each memory starts with its number in square brackets and its date. \
"I" in a memory and "the user" both mean the person asking.
Reply in JSON. "memory_ids": the numbers of the memories that contain the answer. \
"answer": the answer alone, in the memories' words and as few of them as it takes \
(a name, a date, a place or a short phrase; a sentence only when the question needs one).
If no memory contains the answer, reply {"memory_ids": [], "answer": "I don't know."}. \
Never guess and never use outside knowledge."""
# The retries follow the question in the same prompt, so llama.cpp reuses the
# prompt read for the first answer (about 1 s less than a new system prompt).
# The first, after "I don't know" or an answer the memories lack, asks for a
# sentence: asked for the answer alone, the 0.5B model says "I don't know" to
# some questions its memories answer (LoCoMo dev: 85% answered with both
# retries, against 77% for one sentence prompt and a quote).
SENTENCE_PROMPT = """Answer in one or two short sentences from the memories, in their words."""
# The last: copy, do not write. The quote comes before the ids: asked for ids
# first, the 0.5B model chose none, and "I don't know", beside "My blood type
# is O negative."
EXTRACT_PROMPT = """Copy the words of the memory that answers the question, exactly, into "quote"; \
add no word of your own. If no memory answers it, reply {"quote": "I don't know.", "memory_ids": []}."""
NOT_IN_MEMORIES = "the answer is not in the cited memories"


@dataclass
class Answer:
    question: str
    text: str
    cited: list[str]
    used: list[Hit] = field(default_factory=list)  # the memories shown to the model
    known: bool = True
    reason: str | None = None  # why the answer is "I don't know", when it is
    # A withdrawn answer: the words the cited memories lack, and the memory that came closest.
    unsupported: list[str] = field(default_factory=list)
    closest: Hit | None = None
    attempts: int = 0  # model calls made: the answer, a sentence, a quote

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "known": self.known,
            "cited": self.cited,
            "reason": self.reason,
            "unsupported": self.unsupported,
            "closest": {"id": self.closest.record.id, "text": self.closest.record.text}
            if self.closest
            else None,
            "memories": [
                {
                    "id": h.record.id,
                    "text": h.record.text,
                    "occurred_at": h.record.occurred_at,
                    "kind": h.record.kind,
                    "score": h.score,
                    "similarity": h.similarity,
                }
                for h in self.used
            ],
        }


def min_similarity() -> float:
    return settings.value("ask_min_similarity")


def key_words(question: str) -> set[str]:
    """The stems of what a question is about: "What is my dog's name?" -> {"dog"}."""
    return {stem(w) for w in _WORD.findall(question.lower()) if w not in QUESTION_FILLER}


def relevant(hits: list[Hit], question: str) -> list[Hit]:
    """The hits that may answer `question` (see the module's first guard)."""
    floor, support = min_similarity(), settings.value("ask_support_similarity")
    keys = key_words(question)
    kept = []
    for hit in hits:
        if hit.similarity is None or hit.similarity < floor:
            continue
        if not keys or keys & stems(hit.record.text) or hit.similarity >= support:
            kept.append(hit)
    return kept


def spoken_date(stamp: str | None) -> str:
    """ "2023-06-09T..." -> "9 June 2023": the form people ask and answer in, so
    the model's answer says the date as the question expects it."""
    try:
        moment = datetime.strptime((stamp or "")[:10], "%Y-%m-%d")
    except ValueError:
        return (stamp or "")[:10]
    return f"{moment.day} {moment:%B %Y}"


def memory_line(hit: Hit, label: int | None = None, ages_on: datetime | None = None) -> str:
    return f"[{label or hit.record.id}] {shown_text(hit, ages_on)}"


def shown_text(hit: Hit, ages_on: datetime | None = None) -> str:
    """A memory as the prompt shows it, without its number: what an answer is checked
    against. Its relative dates are dates ("last Friday" in a note of Monday 23
    January is "on 20 January 2023"): the model cannot count back from the note's date.
    With `ages_on` (the question asks how old), the ages its dates give on that day
    follow them (timeparse.with_ages): the model cannot count years either."""
    text = resolve_dates(" ".join(hit.record.text.split()), hit.record.occurred_at or "")
    if ages_on is not None:
        text = with_ages(text, hit.record.occurred_at or "", ages_on)
    if len(text) > MEMORY_CHARS:
        text = text[: MEMORY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return f"(noted {spoken_date(hit.record.occurred_at)}) {text}"


def ages_day(question: str, as_of: str | None = None) -> datetime | None:
    """The day ages are counted to when the question asks one ("How old is Ana?"):
    `as_of`, else today (UTC); None for any other question."""
    if not ASKS_AGE.search(question):
        return None
    return datetime.strptime((as_of or now_str())[:10], "%Y-%m-%d")


def labels(shown: list[Hit]) -> list[int]:
    """What the prompt calls the memories: 1, 2, 3... A random id ("7ytsnywb")
    is several noisy tokens, and the small model's answer came to depend on them
    (the same question answered with one id and refused with another)."""
    return list(range(1, len(shown) + 1))


def prompt_tokens() -> int:
    return settings.value("ask_prompt_tokens")


def build_messages(
    generator: Generator,
    question: str,
    hits: list[Hit],
    *,
    budget: int,
    system: str = SYSTEM_PROMPT,
    as_of: str | None = None,
) -> tuple[list[Message], list[Hit]]:
    """The prompt with as many of the best memories as fit in `budget` tokens."""
    shown = list(hits)
    day = ages_day(question, as_of)
    while True:
        lines = "\n".join(memory_line(h, label, day) for h, label in zip(shown, labels(shown)))
        messages: list[Message] = [
            {"role": "system", "content": system},
            {"role": "user", "content": f"Memories:\n{lines}\n\nQuestion: {question}"},
        ]
        if generator.prompt_tokens(messages) <= budget or len(shown) <= 1:
            return messages, shown
        shown.pop()  # drop the lowest-ranked memory


def answer_schema(ids: list[int], key: str = "answer", *, ids_first: bool = True) -> dict[str, Any]:
    """Evidence first: the ids of the memories that answer, then the answer from
    them (under `key`: "quote" for the extractive retry, which comes before
    its ids); or no ids and exactly "I don't know." Nothing else can be generated."""
    cited: dict[str, Any] = {
        "type": "object",
        "properties": {
            "memory_ids": {
                "type": "array",
                "items": {"enum": ids},
                "minItems": 1,
                "maxItems": min(4, len(ids)),
            },
            key: {"type": "string"},
        },
        "required": ["memory_ids", key],
        "additionalProperties": False,
    }
    unknown: dict[str, Any] = {
        "type": "object",
        "properties": {
            "memory_ids": {"type": "array", "items": {"enum": ids}, "maxItems": 0},
            key: {"const": DONT_KNOW},
        },
        "required": ["memory_ids", key],
        "additionalProperties": False,
    }
    if not ids_first:  # the model writes the fields in this order
        for shape in (cited, unknown):
            shape["properties"] = dict(reversed(list(shape["properties"].items())))
            shape["required"] = [key, "memory_ids"]
    return {"anyOf": [cited, unknown]}


def is_dont_know(text: str) -> bool:
    plain = text.strip().lower().replace("\u2019", "'")
    return plain.startswith(("i don't know", "i do not know", "i dont know")) or not plain


def checked_question(question: str) -> str:
    """The question on one line; an InputError when it is empty or too long to ask."""
    question = " ".join(question.split())
    if not question:
        raise InputError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(question):,} characters; ask in at most {MAX_QUESTION_CHARS:,} "
            "(mem recall finds memories by the words of a longer text)"
        )
    return question


def ask(
    memory: Memory,
    generator: Generator,
    question: str,
    filters: Filters,
    *,
    k: int = RECALL_K,
    on_text: Callable[[str], None] | None = None,
    as_of: str | None = None,
) -> Answer:
    """Answer from the memories, citing them; with `as_of`, from the memory as it was
    then (Memory.recall)."""
    question = checked_question(question)
    hits = relevant(memory.recall(question, filters, k=k, mode="hybrid", as_of=as_of), question)
    if as_of is None:
        # What no longer holds (a superseded fact, an outdated episode, a fact whose
        # note was edited) is shown as what replaced it, if anything: the model
        # answers from the newest truth (memcli.provenance.newest_truth). As of a
        # past time, what was valid then is the truth.
        hits = newest_truth(memory.store, hits)
        # The profile's memories come first in every prompt (memcli.profile).
        hits = profile.with_profile(
            profile.prompt_hits(memory, generator, settings.value("profile_tokens"), line=memory_line), hits
        )
    if not hits:
        if on_text:
            on_text(DONT_KNOW)
        return Answer(question, DONT_KNOW, [], [], known=False, reason="no memory is relevant enough")
    budget = min(prompt_tokens(), generator.n_ctx - ANSWER_TOKENS * 2 - 16)
    messages, shown = build_messages(generator, question, hits, budget=budget, as_of=as_of)
    answer = answer_from(memory, generator, question, messages, shown, as_of=as_of)
    if answer.known:
        memory.store.touch_recalled(answer.cited, now_str())
    if on_text:
        on_text(answer.text)
    return answer


def answer_from(
    memory: Memory,
    generator: Generator,
    question: str,
    messages: list[Message],
    shown: list[Hit],
    *,
    as_of: str | None = None,
) -> Answer:
    """The model's answer if the memories hold it; else, after a sentence and a
    quote are asked for, "I don't know." (the module's fourth guard). A reply
    that is no answer at all (cut off at the token limit, the small model
    repeating itself) goes on to the next step as well. A first
    "I don't know" is retried too: the small model says it beside a memory that
    answers ("Where is the router?" next to "... the router is in the hallway
    cupboard"), and what a retry gives is checked like any answer."""
    ids = labels(shown)
    by_label = {label: h for label, h in zip(ids, shown)}
    unsupported: list[str] = []
    closest: Hit | None = None
    withdrawn = False  # an answer failed the check
    problem = ""  # the last step's reply that was no answer at all
    declined = False  # the model said it does not know
    attempt = 0
    asked = messages[-1]["content"]
    steps = [("answer", None), ("answer", SENTENCE_PROMPT), ("quote", EXTRACT_PROMPT)]
    for attempt, (key, note) in enumerate(steps, 1):
        if note:
            messages = [*messages[:-1], {"role": "user", "content": f"{asked}\n\n{note}"}]
        schema = answer_schema(ids, key, ids_first=key == "answer")
        try:
            reply = generate_json(generator, messages, schema, max_tokens=ANSWER_TOKENS)
        except StructuredOutputError as exc:  # a reply cut off or unparsable: the next step may do
            problem = f"no usable answer: {exc}"
            continue
        text = quoted(" ".join(str(reply[key]).split()))
        cited = [by_label[i] for i in dict.fromkeys(reply["memory_ids"]) if i in by_label]
        if is_dont_know(text):
            declined = True
            continue
        if not cited:  # the grammar cannot produce it; were it produced, it is not an answer
            return Answer(
                question, DONT_KNOW, [], shown, False, "the answer cited no memory", attempts=attempt
            )
        holders, check = holding(
            text,
            cited,
            shown,
            question,
            memory.embedder.embed,
            turn_before(memory),
            ages_day(question, as_of),
        )
        if holders:
            return Answer(question, text, [h.record.id for h in holders], shown, attempts=attempt)
        withdrawn, unsupported = True, check.missing
        closest = cited[check.closest] if check.closest is not None else cited[0]
    reason = (
        NOT_IN_MEMORIES if withdrawn else "the memories do not say" if declined or not problem else problem
    )
    return Answer(question, DONT_KNOW, [], shown, False, reason, unsupported, closest, attempt)


def holding(
    text: str,
    cited: list[Hit],
    shown: list[Hit],
    question: str,
    embed: Callable[[list[str]], Any],
    context: Callable[[Hit], str] | None = None,
    ages_on: datetime | None = None,
) -> tuple[list[Hit], Support]:
    """The memories that hold `text`: the cited ones, or else one other memory
    shown (the small model often gives the right answer the wrong number); none
    when no memory does, with the check of the cited ones."""
    context = context or (lambda _hit: "")
    check = support(
        text,
        [shown_text(h, ages_on) for h in cited],
        question,
        embed=embed,
        context=[context(h) for h in cited],
    )
    if check.ok:
        return cited, check
    for hit in shown:
        if (
            all(hit is not c for c in cited)
            and support(text, [shown_text(hit, ages_on)], question, embed=embed, context=[context(hit)]).ok
        ):
            return [hit], check
    return [], check


def turn_before(memory: Memory) -> Callable[[Hit], str]:
    """The text of the turn before a memory in its thread ("" for none): a reply
    in a conversation means something only with what it replies to."""

    def before(hit: Hit) -> str:
        record = hit.record
        if record.doc_id is None or not record.chunk or record.chunk <= 1:
            return ""
        previous = memory.store.thread(record.user, record.doc_id, after_chunk=record.chunk - 2, limit=1)
        return previous[0].text if previous and previous[0].chunk == record.chunk - 1 else ""

    return before


_QUOTED_LABEL = re.compile(r"^\s*(\[\d+\]\s*)?(\(noted [^)]*\)\s*)?")


def quoted(text: str) -> str:
    """A quote without the "[2] (noted 3 May 2026)" that a model may copy with it."""
    return _QUOTED_LABEL.sub("", text, count=1)
