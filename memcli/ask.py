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
   them; without any the only reply the grammar allows is "I don't know.".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import settings
from .errors import InputError
from .records import Filters, Hit
from .search import STOPWORDS, stem, stems
from .structured import StructuredOutputError, generate_json
from .timeparse import now_str

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
Each memory starts with its number in square brackets and its date.
Reply in JSON. "memory_ids": the numbers of the memories that contain the answer. \
"answer": one or two short sentences that answer the question from those memories.
If no memory contains the answer, reply {"memory_ids": [], "answer": "I don't know."}. \
Never guess and never use outside knowledge."""


@dataclass
class Answer:
    question: str
    text: str
    cited: list[str]
    used: list[Hit] = field(default_factory=list)  # the memories shown to the model
    known: bool = True
    reason: str | None = None  # why the answer is "I don't know", when it is

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "known": self.known,
            "cited": self.cited,
            "reason": self.reason,
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


def memory_line(hit: Hit, label: int | None = None) -> str:
    day = spoken_date(hit.record.occurred_at)
    text = " ".join(hit.record.text.split())
    if len(text) > MEMORY_CHARS:
        text = text[: MEMORY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return f"[{label or hit.record.id}] (noted {day}) {text}"


def labels(shown: list[Hit]) -> list[int]:
    """What the prompt calls the memories: 1, 2, 3... A random id ("7ytsnywb")
    is several noisy tokens, and the small model's answer came to depend on them
    (the same question answered with one id and refused with another)."""
    return list(range(1, len(shown) + 1))


def prompt_tokens() -> int:
    return settings.value("ask_prompt_tokens")


def build_messages(
    generator: Generator, question: str, hits: list[Hit], *, budget: int
) -> tuple[list[Message], list[Hit]]:
    """The prompt with as many of the best memories as fit in `budget` tokens."""
    shown = list(hits)
    while True:
        lines = "\n".join(memory_line(h, label) for h, label in zip(shown, labels(shown)))
        messages: list[Message] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Memories:\n{lines}\n\nQuestion: {question}"},
        ]
        if generator.prompt_tokens(messages) <= budget or len(shown) <= 1:
            return messages, shown
        shown.pop()  # drop the lowest-ranked memory


def answer_schema(ids: list[int]) -> dict[str, Any]:
    """Evidence first: the ids of the memories that answer, then the answer from
    them; or no ids and exactly "I don't know." Nothing else can be generated."""
    cited = {
        "type": "object",
        "properties": {
            "memory_ids": {
                "type": "array",
                "items": {"enum": ids},
                "minItems": 1,
                "maxItems": min(4, len(ids)),
            },
            "answer": {"type": "string"},
        },
        "required": ["memory_ids", "answer"],
        "additionalProperties": False,
    }
    unknown = {
        "type": "object",
        "properties": {
            "memory_ids": {"type": "array", "items": {"enum": ids}, "maxItems": 0},
            "answer": {"const": DONT_KNOW},
        },
        "required": ["memory_ids", "answer"],
        "additionalProperties": False,
    }
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
) -> Answer:
    question = checked_question(question)
    # A fact that a newer one superseded is history: the model would answer with it.
    filters = replace(filters, current_only=True)
    hits = relevant(memory.recall(question, filters, k=k, mode="hybrid"), question)
    if not hits:
        if on_text:
            on_text(DONT_KNOW)
        return Answer(question, DONT_KNOW, [], [], known=False, reason="no memory is relevant enough")
    budget = min(prompt_tokens(), generator.n_ctx - ANSWER_TOKENS * 2 - 16)
    messages, shown = build_messages(generator, question, hits, budget=budget)
    ids = labels(shown)
    by_label = {label: h.record.id for label, h in zip(ids, shown)}
    try:
        reply = generate_json(
            generator,
            messages,
            answer_schema(ids),
            max_tokens=ANSWER_TOKENS,
            on_field=("answer", on_text) if on_text else None,
        )
    except StructuredOutputError as exc:
        return Answer(question, DONT_KNOW, [], shown, known=False, reason=f"no usable answer: {exc}")
    text = " ".join(str(reply["answer"]).split())
    cited = [by_label[i] for i in dict.fromkeys(reply["memory_ids"]) if i in by_label]
    if is_dont_know(text):
        return Answer(question, DONT_KNOW, [], shown, known=False, reason="the memories do not say")
    if not cited:
        if on_text:
            on_text(f"\n(withdrawn: no memory supports it) {DONT_KNOW}")
        return Answer(question, DONT_KNOW, [], shown, known=False, reason="the answer cited no memory")
    memory.store.touch_recalled(cited, now_str())
    return Answer(question, text, cited, shown)
