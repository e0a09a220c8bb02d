"""`mem chat`: a conversation with working memory and long-term memory.

Working memory (what the model sees each turn) stays within a token budget:

    system prompt + rolling summary of older turns      (changes rarely)
    the most recent turns, verbatim                     (grows, then folds)
    relevant long-term memories + the new message       (changes every turn)

in that order, so llama.cpp reuses the evaluated prefix from one turn to the
next. When the recent turns outgrow their budget the oldest are folded into
the summary (one constrained model call). Every exchange is also stored in the
thread `chat:<session>`, numbered in order: the user's message as their
episodic memory, the reply as a memory of role "assistant" (never taken for the
user's word: recall, ask and consolidation leave it out unless asked), so nothing
said is lost when it leaves the window, and `--session NAME` resumes a session
from its summary and the turns after it.

The model can use two memory functions, MemGPT style but through a JSON
schema instead of free-form tool calls (small models cannot be trusted with
those): it either replies (optionally listing facts to remember, which are
saved and shown to the user), or asks to search memory first, once per turn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import ask as ask_mod
from . import profile, settings
from .errors import InputError
from .provenance import newest_truth
from .records import CHAT_THREAD_PREFIX, Filters, Hit, MemoryRecord, NewMemory
from .search import stem, stems
from .structured import FieldStream, StructuredOutputError, generate_json
from .timeparse import now_str
from .verify import grounded_fact, support

if TYPE_CHECKING:
    from .memory import Memory
    from .models.generate import Generator, Message

REPLY_TOKENS = 160
SUMMARY_TOKENS = 200
TURNS_BUDGET = 900  # recent turns, verbatim
MEMORIES_BUDGET = 400  # long-term memories injected per turn
MEMORIES_K = 4
MESSAGE_TOKENS = 1024  # one message; with the turns, memories and reply it fits a 4,096-token window
REPEAT_PENALTY = 1.1  # small models otherwise loop on their own sentences

SYSTEM_PROMPT = """You are a helpful assistant with a long-term memory of the user's notes. \
Be brief: one to three sentences, speaking to the user as "you".
Reply in JSON. Usually: {"reply": "...", "remember": []}. \
Put in "remember" only new facts about the user, stated in this message, worth keeping for later \
(most messages have none); write each as a short standalone sentence.
If you need to look something up in the user's memory before replying, reply {"search": "words to look for"} instead.
Use the memories shown when they help; never invent facts about the user."""

REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reply": {"type": "string"},
        "remember": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    },
    "required": ["reply", "remember"],
    "additionalProperties": False,
}
SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"search": {"type": "string"}},
    "required": ["search"],
    "additionalProperties": False,
}
FIRST_SCHEMA: dict[str, Any] = {"anyOf": [REPLY_SCHEMA, SEARCH_SCHEMA]}

SUMMARY_PROMPT = """Update the running summary of a conversation between a user and an assistant. \
Keep every name, date, number, decision and fact about the user; drop small talk. \
At most 120 words. Reply in JSON: {"summary": "..."}"""
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"summary": {"type": "string"}},
    "required": ["summary"],
    "additionalProperties": False,
}


@dataclass
class Turn:
    chunk: int  # of the turn's last memory (the reply)
    user: str
    assistant: str

    def text(self) -> str:
        return f"User: {self.user}\nAssistant: {self.assistant}"


def turns(records: list[MemoryRecord]) -> list[Turn]:
    """A session's memories in thread order -> its turns: the user's message
    (role user) and the reply (role assistant) are two memories. Sessions stored
    before roles existed hold both in one memory, "User: ...\nAssistant: ..."."""
    out: list[Turn] = []
    said: MemoryRecord | None = None
    for record in records:
        if record.role == "assistant":
            out.append(Turn(record.chunk or 0, said.text if said else "", record.text))
            said = None
        elif record.text.startswith("User: ") and "\nAssistant: " in record.text:
            user, _, assistant = record.text.partition("\nAssistant: ")
            out.append(Turn(record.chunk or 0, user.removeprefix("User: "), assistant))
        else:
            if said is not None:  # a message whose reply was forgotten
                out.append(Turn(said.chunk or 0, said.text, ""))
            said = record
    if said is not None:
        out.append(Turn(said.chunk or 0, said.text, ""))
    return out


@dataclass
class Reply:
    text: str
    saved: list[tuple[str, str]] = field(default_factory=list)  # (id, text) remembered by the model
    searched: str | None = None
    memories: list[Hit] = field(default_factory=list)
    turn_id: str | None = None
    checked: str | None = None  # set when the model's own reply was withdrawn, and why


class Chat:
    def __init__(
        self,
        memory: Memory,
        generator: Callable[[], Generator],
        session: str,
        filters: Filters,
    ) -> None:
        self.memory = memory
        self._generator_factory = generator
        self._generator: Generator | None = None
        self.session = session
        self.thread = CHAT_THREAD_PREFIX + session
        self.user = filters.user or memory.user
        self.filters = filters
        state = memory.store.chat_sessions(self.user, session)
        self.resumed = bool(state)
        self.summary = state[0].summary if state else ""
        self.summarized_through = state[0].summarized_through if state else 0
        self.turns = turns(memory.store.thread(self.user, self.thread, after_chunk=self.summarized_through))

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = self._generator_factory()
        return self._generator

    # -- the prompt ----------------------------------------------------------------

    def _head(self) -> list[Message]:
        system = SYSTEM_PROMPT
        if self.summary:
            system += f"\n\nSummary of the conversation so far:\n{self.summary}"
        messages: list[Message] = [{"role": "system", "content": system}]
        for turn in self.turns:
            messages.append({"role": "user", "content": turn.user})
            messages.append({"role": "assistant", "content": turn.assistant})
        return messages

    def _recall(self, query: str) -> list[Hit]:
        window = {c for t in self.turns for c in (t.chunk - 1, t.chunk)}  # the message and its reply
        hits = ask_mod.relevant(self.memory.recall(query, self.filters, k=MEMORIES_K + len(window)), query)
        hits = newest_truth(self.memory.store, hits)  # what is true now, as in ask
        fresh = [h for h in hits if not (h.record.doc_id == self.thread and h.record.chunk in window)]
        budget = settings.value("profile_tokens")  # the profile's memories first (memcli.profile)
        known = profile.prompt_hits(self.memory, self.generator, budget, line=ask_mod.memory_line)
        fresh = [h for h in fresh if h.record.id not in {k.record.id for k in known}]
        shown: list[Hit] = known
        used = 0
        for hit in fresh[:MEMORIES_K]:
            cost = self.generator.count_tokens(ask_mod.memory_line(hit)) + 1
            if used + cost > MEMORIES_BUDGET:
                break
            shown.append(hit)
            used += cost
        return shown

    @staticmethod
    def _message(text: str, hits: list[Hit], searched: str | None = None) -> Message:
        parts = []
        if hits:
            label = f'Memories found for "{searched}"' if searched else "Memories that may help"
            parts.append(f"{label}:\n" + "\n".join(ask_mod.memory_line(h) for h in hits))
        elif searched:
            parts.append(f'No memories found for "{searched}".')
        parts.append(f"Message: {text}" if parts else text)
        return {"role": "user", "content": "\n\n".join(parts)}

    def working_memory_tokens(self) -> int:
        return self.generator.prompt_tokens(self._head())

    # -- a turn ----------------------------------------------------------------------

    def respond(self, text: str, on_text: Callable[[str], None] | None = None) -> Reply:
        """Answer one message, store the exchange, fold old turns if needed."""
        text = " ".join(text.split()) if "\n" not in text else text.strip()
        size = self.generator.count_tokens(text)
        if size > MESSAGE_TOKENS:  # one turn must never outgrow the model's window
            raise InputError(
                f"the message is {size:,} tokens; a chat message holds at most {MESSAGE_TOKENS:,}"
            )
        hits = self._recall(text)
        head = self._head()
        stream = ("reply", on_text) if on_text else None
        result = self._generate([*head, self._message(text, hits)], FIRST_SCHEMA, stream)
        searched = None
        if "search" in result:
            searched = " ".join(str(result["search"]).split()) or text
            hits = [
                h for h in self._recall(searched) if h.record.id not in {x.record.id for x in hits}
            ] or hits
            result = self._generate([*head, self._message(text, hits, searched)], REPLY_SCHEMA, stream)
        reply = Reply(text=without_repeats(str(result["reply"])), searched=searched, memories=hits)
        if hits and asks(text):
            self._check(reply, text, on_text)
        self.memory.store.touch_recalled([h.record.id for h in hits], now_str())
        reply.turn_id = self._store_turn(text, reply.text)
        for fact in result.get("remember", [])[:2]:
            fact = " ".join(str(fact).split())
            if fact and grounded(fact, text) and grounded_fact(fact, text, embed=self.memory._embed):
                [saved] = self.memory.remember(
                    [
                        NewMemory(
                            fact,
                            kind="semantic",
                            source="chat",
                            tags=["chat"],
                            meta={"session": self.session},
                            user=self.user,
                            sources=[reply.turn_id],  # forgetting the message forgets the fact
                        )
                    ]
                )
                reply.saved.append((saved.id, fact))
        self._fold()
        return reply

    def _check(self, reply: Reply, question: str, on_text: Callable[[str], None] | None) -> None:
        """A reply to a question about the user must hold nothing that the memories
        shown, the conversation and the question lack (memcli.verify, as in ask);
        otherwise the question is answered as `mem ask` answers it: from the same
        memories, retried extractively, else "I don't know."."""
        said = [
            *(ask_mod.shown_text(h) for h in reply.memories),
            self.summary,
            *(f"{t.user} {t.assistant}" for t in self.turns),
        ]
        if support(reply.text, said, question, embed=self.memory._embed).ok:
            return
        budget = min(ask_mod.prompt_tokens(), self.generator.n_ctx - ask_mod.ANSWER_TOKENS * 2 - 16)
        messages, shown = ask_mod.build_messages(self.generator, question, reply.memories, budget=budget)
        answer = ask_mod.answer_from(self.memory, self.generator, question, messages, shown)
        if on_text:
            on_text(f"\n(withdrawn: your memories do not say that) {answer.text}")
        reply.text, reply.checked = answer.text, answer.reason or "answered from the memories"

    def _generate(
        self,
        messages: list[Message],
        schema: dict[str, Any],
        stream: tuple[str, Callable[[str], None]] | None,
    ) -> dict[str, Any]:
        """One constrained reply. A reply that runs past its budget (small models
        can loop) is kept up to where it was cut, marked as cut; nothing is saved
        from it."""
        try:
            return generate_json(
                self.generator,
                messages,
                schema,
                max_tokens=REPLY_TOKENS,
                retries=0,
                on_field=stream,
                repeat_penalty=REPEAT_PENALTY,
            )
        except StructuredOutputError as exc:
            partial = FieldStream("reply").feed(exc.raw).strip()
            if not partial:
                raise
            return {"reply": partial + " [cut off]", "remember": []}

    def _store_turn(self, user_text: str, assistant_text: str) -> str:
        """Store the message as the user's episode and the reply as the assistant's,
        next to each other in the session's thread; returns the message's id."""
        chunk = self.memory.store.next_chunk(self.user, self.thread)
        said, replied = self.memory.remember(
            [
                NewMemory(
                    text,
                    kind="episodic",
                    source="chat",
                    doc_id=self.thread,
                    chunk=chunk + offset,
                    meta={"session": self.session},
                    user=self.user,
                    role=role,
                )
                for offset, (role, text) in enumerate(
                    [("user", user_text), ("assistant", assistant_text or "…")]
                )
            ]
        )
        self.turns.append(Turn(chunk + 1, user_text, assistant_text))
        self.memory.store.save_chat_session(self.user, self.session, self.summary, self.summarized_through)
        return said.id

    def _turns_tokens(self) -> int:
        return sum(self.generator.count_tokens(t.text()) for t in self.turns)

    def _fold(self) -> None:
        """Fold the oldest turns into the summary until the recent ones fit their budget."""
        if self._turns_tokens() <= TURNS_BUDGET or len(self.turns) < 2:
            return
        keep = len(self.turns)
        while (
            keep > 1
            and sum(self.generator.count_tokens(t.text()) for t in self.turns[-keep:]) > TURNS_BUDGET // 2
        ):
            keep -= 1
        old, recent = self.turns[:-keep], self.turns[-keep:]
        transcript = "\n".join(t.text() for t in old)
        messages: list[Message] = [
            {"role": "system", "content": SUMMARY_PROMPT},
            {
                "role": "user",
                "content": f"Summary so far:\n{self.summary or '(none)'}\n\nOlder turns:\n{transcript}",
            },
        ]
        try:
            summary = str(
                generate_json(self.generator, messages, SUMMARY_SCHEMA, max_tokens=SUMMARY_TOKENS)["summary"]
            )
        except StructuredOutputError:
            # The turns stay stored as memories; the working summary keeps their
            # opening words rather than nothing.
            summary = " ".join(filter(None, [self.summary, *(t.user for t in old)]))
        self.summary = self._clip(" ".join(summary.split()), SUMMARY_TOKENS)
        self.summarized_through = old[-1].chunk
        self.turns = recent
        self.memory.store.save_chat_session(self.user, self.session, self.summary, self.summarized_through)

    def _clip(self, text: str, tokens: int) -> str:
        words = text.split()
        while words and self.generator.count_tokens(" ".join(words)) > tokens:
            words = words[: max(1, int(len(words) * 0.9))] if len(words) > 1 else []
        return " ".join(words)

    def describe(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "turns_stored": len(turns(self.memory.store.thread(self.user, self.thread))),
            "turns_in_window": len(self.turns),
            "summary": self.summary,
            "working_memory_tokens": self.working_memory_tokens() if self._generator else None,
        }


_WORD = re.compile(r"\w+", re.UNICODE)
_FILLER = frozenset(
    "user users the a an is are was were has have had to of in on at and or my me i you your".split()
)


def grounded(fact: str, message: str) -> bool:
    """A fact the model wants to save must come from what the user just said.

    Small models "remember" their own inventions ("The user lives in New York"
    after "Where do I live?"): at least two thirds of the fact's content words
    (compared by `search.stem`, so "planted" matches "plants") must be in the
    user's message.
    """
    if len(fact.split()) < 3:  # "Porto" is not a fact
        return False
    said = stems(message)
    words = [stem(w) for w in _WORD.findall(fact.lower()) if w not in _FILLER]
    return bool(words) and sum(w in said for w in words) >= math.ceil(len(words) * 2 / 3)


_SENTENCE = re.compile(r"[^.!?]+[.!?]*")


_ASKING = re.compile(
    r"^(who|whom|whose|what|when|where|which|why|how|do|does|did|is|are|was|were|can|could|have|has|had)\b"
)


def asks(text: str) -> bool:
    """Whether a message asks something (the replies that are checked like ask's answers)."""
    plain = text.strip().lower()
    return plain.endswith("?") or bool(_ASKING.match(plain))


def without_repeats(text: str) -> str:
    """Drop sentences the reply already said (a looping small model), and the
    cut-off marker when the cut fell inside such a loop."""
    cut = text.endswith(" [cut off]")
    body = text.removesuffix(" [cut off]").strip()
    seen: set[str] = set()
    kept: list[str] = []
    repeated = False
    for sentence in _SENTENCE.findall(body):
        key = " ".join(sentence.lower().split()).strip(" .!?")
        if not key:
            continue
        if key in seen or any(key in s for s in seen if len(key) > 12):
            repeated = True
            continue
        seen.add(key)
        kept.append(sentence.strip())
    if repeated and kept and not kept[-1].endswith((".", "!", "?")):
        kept.pop()  # the unfinished tail of a loop
    out = " ".join(kept)
    return out + (" [cut off]" if cut and not repeated else "")
