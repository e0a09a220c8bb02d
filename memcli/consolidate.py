"""`mem consolidate`: what a nightly cron job runs to turn episodes into a clean, current memory.

One run, in order:

1. purge: memories past their TTL are forgotten (same erasure as `mem forget`);
2. extract: each episode not consolidated yet (or edited since) gives atomic,
   self-contained facts, in the third person, relative dates resolved against
   when the episode happened. Small talk and questions give none, without the
   model; a short note (up to 60 words, at most 3 statements) is split into its
   statements in code (`plain_facts`); a longer one is read by the model (the
   structured-output helper, each fact checked against the note). Each fact is
   reconciled with the closest current facts of the same user:
   - ADD       nothing close is known: a new semantic memory;
   - UPDATE    same subject, more or newer detail: the fact's text is replaced,
               the old text goes to its history;
   - SUPERSEDE a contradiction: the old fact stays, marked no longer valid
               (valid_to, superseded_by) and ranked below the new one;
   - NOOP      already known: the episode joins the fact's sources, its
               importance rises;
   the clear cases are decided in code, the model only for the rest: a
   near-identical text with the same names and numbers (cosine >= 0.95) is
   NOOP, a known fact repeated word for word with more detail is UPDATE (and
   the reverse NOOP), a change of state ("moved", "quit", "no longer")
   SUPERSEDEs the closest fact, a fact less alike than 0.75 to every known one
   is ADD; the model picks the action only for a fact that close to a known one;
   every fact keeps the ids of the episodes it came from (`sources`);
3. merge: near-duplicate memories (same user and kind, cosine >= 0.95, not
   turns or chunks of a thread, which are distinct events) become one, with
   the union of sources and tags, the highest importance, and the other text
   in the survivor's history;
4. importance: memories recalled at least 3 times since the last run gain 1;
5. digest: episodes older than `digest_after_days` (30) are summarised per day
   (per session for chats) into a digest memory linked to them; the episodes
   are kept unless `episode_retention = "digested"` in the config.

Safety: a lock file lets one run at a time (a second exits with status 7);
each change commits on its own, and an episode is marked done only after its
facts are stored, so a run killed at any point leaves a consistent store and
the next run redoes at most that episode (its facts then reconcile as NOOP).
A second run right after the first changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import entities, profile, provenance, settings
from .chat import grounded
from .errors import MemcliError, ModelError, NotFound
from .memory import content_hash
from .records import Filters, MemoryRecord, NewMemory, Patch, RememberResult
from .search import STOPWORDS, stems
from .structured import StructuredOutputError, generate_json
from .timeparse import now_str, resolve_dates
from .verify import details, grounded_fact

if TYPE_CHECKING:
    from .memory import Memory
    from .models.generate import Generator, Message
    from .store.base import Store

log = logging.getLogger("memcli.consolidate")

SAME = 0.95  # cosine at which two memories say the same thing
RELATED = 0.35  # below this, a new fact is about something else: a change of state replaces nothing
ASK = 0.75  # below this, a new fact is not the same claim as a known one: ADD without asking the model
CANDIDATES = 3
RECALL_BUMP = 3
MIN_WORDS = 4  # shorter episodes ("Thanks!", "Haha ok") hold no facts
REPEAT_PENALTY = 1.1
MERGE_WATERMARK = "merge_watermark"
ACTIONS = ("ADD", "UPDATE", "SUPERSEDE", "NOOP")
SMALL_TALK = STOPWORDS | frozenset(
    """hi hey hello bye goodbye thanks thank ok okay yes yeah yep no nope sure cool great nice good
    awesome wow haha lol oh ah hmm well see soon later night morning talk chat glad fine too really""".split()
)


@dataclass
class Change:
    action: str  # ADD UPDATE SUPERSEDE NOOP MERGE EXPIRE DIGEST IMPORTANCE
    text: str
    id: str | None = None  # the memory created or changed
    target: str | None = None  # the memory it relates to
    sources: list[str] = field(default_factory=list)


@dataclass
class Report:
    dry_run: bool = False
    episodes: int = 0
    facts: int = 0
    added: int = 0
    updated: int = 0
    superseded: int = 0
    unchanged: int = 0
    merged: int = 0
    expired: int = 0
    summarised: int = 0
    importance_raised: int = 0
    failures: int = 0
    dropped: int = 0  # episodes forgotten or edited while the run was deciding: redone next run
    entities: int = 0  # new entities found in the episodes (memcli.entities)
    relations: int = 0  # relations between them, new or confirmed
    profile: int = 0  # profile fields that changed (memcli.profile)
    seconds: float = 0.0
    changes: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def count(self, change: Change) -> None:
        self.changes.append(change)
        key = {
            "ADD": "added",
            "UPDATE": "updated",
            "SUPERSEDE": "superseded",
            "NOOP": "unchanged",
            "MERGE": "merged",
            "EXPIRE": "expired",
            "DIGEST": "summarised",
            "IMPORTANCE": "importance_raised",
        }[change.action]
        setattr(self, key, getattr(self, key) + 1)


# -- prompts ----------------------------------------------------------------------------

# The same system prompt for every note (the note's date comes with the note), so
# llama.cpp reuses its evaluated prefix from one extraction to the next.
EXTRACT_PROMPT = """You extract facts about the user from one of their notes.
Each fact is one short sentence that stands on its own: name who or what it is about \
(never "he", "she", "it", "today"). Write dates as dates: turn "yesterday", "last week" \
or "next Friday" into the date they mean, counting from the day the note was written. \
Keep names and numbers exactly as written.
Only facts stated in the note; none for greetings, questions or small talk.
Give each fact an importance from 1 (trivia) to 5 (vital: health, family, money, deadlines).
Reply in JSON: {"facts": [{"fact": "...", "importance": 3}]}"""

EXTRACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "maxItems": 5,
            "items": {
                "type": "object",
                # maxLength: a small model otherwise rambles on inside the string
                "properties": {
                    "fact": {"type": "string", "maxLength": 160},
                    "importance": {"enum": [1, 2, 3, 4, 5]},
                },
                "required": ["fact", "importance"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["facts"],
    "additionalProperties": False,
}

RECONCILE_PROMPT = """You keep a list of facts about the user up to date. \
Compare the new fact with the known facts and choose one action:
ADD: the new fact is about something the known facts do not cover;
UPDATE: it says what a known fact says, and adds a detail;
SUPERSEDE: it says a known fact is no longer true (the user moved, changed jobs, \
sold something, ended something); "target" is that fact;
NOOP: a known fact already says the same.
Reply in JSON: {"action": "...", "target": "<number of the known fact, or none>"}."""

SUMMARY_PROMPT = """Summarise the user's notes in at most three sentences. \
Keep every name, number, date and decision; write about the user in the third person.
Reply in JSON: {"summary": "..."}"""
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"summary": {"type": "string", "maxLength": 400}},  # small models ramble on
    "required": ["summary"],
    "additionalProperties": False,
}


def reconcile_schema(labels: list[str]) -> dict[str, Any]:
    """The decision: an action and the number of the known fact it concerns."""
    return {
        "type": "object",
        "properties": {
            "action": {"enum": list(ACTIONS)},
            "target": {"enum": [*labels, "none"]},
        },
        "required": ["action", "target"],
        "additionalProperties": False,
    }


def long_date(stamp: str) -> str:
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return stamp
    return moment.strftime("%A %-d %B %Y")


def has_content(text: str) -> bool:
    """Whether a note can hold a fact, decided without the model: "Thanks!",
    "Haha ok, see you" and questions alone ("How did the race go?") cannot."""
    statements = " ".join(s for s in _SENTENCES.findall(text) if not s.rstrip().endswith("?"))
    words = re.findall(r"\w+", text.lower())
    said = [w for w in re.findall(r"\w+", statements.lower()) if w not in SMALL_TALK]
    return len(words) >= MIN_WORDS and len(said) >= 2


# -- short notes: facts without the model ---------------------------------------------

PLAIN_WORDS = 60  # a note up to this long, with at most PLAIN_FACTS statements, is split in code
PLAIN_FACTS = 3
SPEAKER = re.compile(r"^([A-Z][\w'’.-]*(?: [A-Z][\w'’.-]*){0,2}): (?=\S)")
# A sentence opening on these is about something said before it (or, for "you",
# about whoever the note speaks to).
_PRONOUNS = "it|this|that|these|those|he|she|they|his|her|its|their|them|you|your"
_REFERS = re.compile(rf"^({_PRONOUNS})\b", re.IGNORECASE)
# "I live in Lisbon and my sister is called Ana": two facts. Split only where the
# next clause is the note's own subject again (a "she" must stay with what it means).
_CLAUSE = re.compile(rf"(?:[;,] |,? (?:and|but) )(?=(?:I|my|My|we|We|our|Our)\b)|; (?!(?:{_PRONOUNS})\b)")
_OPENER = re.compile(
    r"^(?:(?:yeah|yes|yep|wow|oh|ah|well|so|ok|okay|hey|hi|haha|lol|hmm|um|totally|absolutely|"
    r"honestly|anyway|btw|by the way)\b[,!.]*\s*)+",
    re.IGNORECASE,
)


def plain_facts(text: str, occurred_at: str, *, transcript: bool = False) -> list[str] | None:
    """The facts of a short note, decided without the model, or None for a note
    the model must read (long, or saying many things).

    Each sentence that states something (not a question, not small talk) is a
    fact, in the third person and with its dates resolved; a sentence that opens
    on "it", "this", "she"... stays with the one before it, and is dropped
    without one (it cannot stand on its own). The line "Ana: I moved" of a
    `transcript` (a turn of a thread) is about its speaker: "Ana moved";
    elsewhere "Reminder: I need..." is the user's. What comes out is the note's
    own words, so nothing in it can be invented.
    """
    subject = "the user"
    speaker = SPEAKER.match(text) if transcript else None
    if speaker:
        subject, text = speaker.group(1), text[speaker.end() :]
    text = " ".join(text.split())
    if len(text.split()) > PLAIN_WORDS:
        return None
    facts: list[str] = []
    kept_last = False
    for sentence in (c.strip() for s in _SENTENCES.findall(text) for c in _CLAUSE.split(s)):
        sentence = _OPENER.sub("", sentence)
        if not sentence or sentence.endswith("?") or sentence.startswith("["):
            kept_last = False
            continue
        if _REFERS.match(sentence):
            if kept_last:
                facts[-1] = f"{facts[-1]} {sentence}"
            continue
        if not has_content(sentence):
            kept_last = False
            continue
        facts.append(sentence[:1].upper() + sentence[1:])
        kept_last = True
    if len(facts) > PLAIN_FACTS:
        return None
    out: list[str] = []
    for fact in facts:
        tidy = resolve_dates(third_person(fact, subject), occurred_at)
        tidy = tidy if tidy[-1:] in ".!" else f"{tidy.rstrip(',;:')}."
        if len(tidy.split()) >= 3 and tidy not in out:
            out.append(tidy)
    return out


_VITAL = re.compile(
    r"\b(allerg\w*|doctor|hospital|diagnos\w*|medic\w*|surgery|pregnan\w*|born|died|funeral|wedding|"
    r"married|divorc\w*|password|pin|code|bank|loan|rent|mortgage|salary|debt|deadline|due|appointment|"
    r"birthday|anniversary|emergency|insurance|passport|visa)\b",
    re.IGNORECASE,
)


def importance_of(fact: str) -> int:
    """A fact's importance without the model: 4 for health, family events, money,
    codes and dates that must not be missed, else 3 (the model's usual verdict)."""
    return 4 if _VITAL.search(fact) else 3


def episode_text(record: MemoryRecord) -> str:
    """What facts come from: a chat turn's user side only (the model's reply is not the user's word)."""
    if record.source == "chat" and record.text.startswith("User: "):
        return record.text.removeprefix("User: ").split("\nAssistant: ", 1)[0]
    return record.text


# -- making a model's fact fit to keep -----------------------------------------------------

CHANGED = re.compile(
    r"\b(moved|moving|relocated|no longer|not any ?more|anymore|quit|quitting|left|leaving|sold|"
    r"ended|stopped|divorced|broke up|changed|switched|new job|now (?:lives?|works?|is))\b",
    re.IGNORECASE,
)


def same(a: str, b: str, similarity: float) -> bool:
    """Two facts say the same thing: near-identical meaning and the same names and
    numbers ("Ana's birthday is on 3 March" and "... on 5 March" are 0.97 alike)."""
    return similarity >= SAME and details(a) == details(b)


_NEGATION = re.compile(r"\b(not|no|never|none|nor|neither|without)\b|n't\b", re.IGNORECASE)


def extends(longer: str, shorter: str) -> bool:
    """`longer` says all of `shorter`, word for word, and more ("The user plays
    tennis." -> "The user plays tennis on Sundays with Rui."), and denies nothing."""
    a, b = re.findall(r"\w+", longer.lower()), re.findall(r"\w+", shorter.lower())
    if len(b) < 3 or len(a) <= len(b):
        return False
    if _NEGATION.search(longer) and not _NEGATION.search(shorter):
        return False
    return any(a[i : i + len(b)] == b for i in range(len(a) - len(b) + 1))


def keeps_all(original: str, merged: str) -> bool:
    """Every word of `original` (by its first five letters) is still in `merged`:
    an UPDATE may add detail, never drop any ("every week")."""
    return stems(original) <= stems(merged)


_SENTENCES = re.compile(r"[^.!?]+[.!?]?")


def tidy_fact(
    fact: str, episode: str, occurred_at: str, *, embed: Callable[[list[str]], Any] | None = None
) -> str | None:
    """Keep the sentences the episode supports, in the third person, dates absolute.

    Small models pad a fact with invented context ("Lisbon is a city in
    Portugal...") and change what a note says ("The user's dog is allergic to
    cats." from a note saying chicken); they also leave "I", "my" and
    "yesterday" in place. A sentence is kept only when the episode says it
    (`verify.grounded_fact`: every name, number and date, and its words up to
    a paraphrase `embed` confirms); the dates the model may work out from when
    the note was written count as said.
    """
    said = f"{episode}\nWritten on {long_date(occurred_at)}. {resolve_dates(episode, occurred_at)}"
    kept = [
        s.strip()
        for s in _SENTENCES.findall(" ".join(fact.split()))
        if grounded(s, said) and grounded_fact(s, said, embed=embed)
    ]
    if not kept:
        return None
    text = resolve_dates(third_person(" ".join(kept)), occurred_at)
    return text if len(text.split()) >= 3 else None


def third_person(text: str, subject: str = "the user") -> str:
    """First person -> `subject` ("I live with my sister" -> "the user lives with the user's sister")."""
    swaps: list[tuple[str, Any]] = [
        (r"\bI am\b", f"{subject} is"),
        (r"\bI'm\b", f"{subject} is"),
        (r"\bI was\b", f"{subject} was"),
        (r"\bI have\b", f"{subject} has"),
        (r"\bI've\b", f"{subject} has"),
        (r"\bI'll\b", f"{subject} will"),
        (r"\bI'd\b", f"{subject} would"),
        (r"\bI (" + "|".join(_VERBS) + r")\b", lambda m: f"{subject} {_third(m.group(1))}"),
        (r"\bI\b", subject),
        (r"\b[Mm]y\b", f"{subject}'s"),
        (r"\b[Mm]ine\b", f"{subject}'s"),
        (r"\b[Mm]e\b", subject),
        (r"\b[Mm]yself\b", subject),
        (r"\b[Ww]e\b", f"{subject} and others"),
        (r"\b[Oo]ur\b", "their"),
    ]
    for pattern, replacement in swaps:
        text = re.sub(pattern, replacement, text)
    return text[:1].upper() + text[1:]


_VERBS = """live work have like love want need go do own prefer hate study play use know think feel eat
drink run drive speak teach take keep visit plan train read write cook walk swim ride""".split()


def _third(verb: str) -> str:
    irregular = {"have": "has", "go": "goes", "do": "does", "study": "studies", "teach": "teaches"}
    return irregular.get(verb, verb + "s")


# -- the run ------------------------------------------------------------------------------


@dataclass
class Decision:
    """What one extracted fact does to the store, decided before anything is written."""

    action: str  # ADD UPDATE SUPERSEDE NOOP
    text: str  # the fact to store (ADD, SUPERSEDE) or the target's new text (UPDATE)
    importance: int
    vector: Any  # the embedding of `text`
    target: MemoryRecord | None = None


class Consolidator:
    def __init__(
        self,
        memory: Memory,
        generator: Callable[[], Generator],
        *,
        user: str | None,
        dry_run: bool = False,
        limit: int | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        # A dry run is the real run on a private in-memory copy: the same
        # decisions at the same cost, and nothing written to the file.
        self.memory = memory.snapshot() if dry_run else memory
        self.store = self.memory.store
        self._generator_factory = generator
        self._generator: Generator | None = None
        self.user = user
        self.dry_run = dry_run
        self.limit = limit
        self.progress = progress or (lambda _stage, _done, _total: None)
        self.report = Report(dry_run=dry_run)
        self._users: set[str] = set()  # whose episodes this run consolidated

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = self._generator_factory()
        return self._generator

    def run(self) -> Report:
        started = time.perf_counter()
        try:
            self.purge_expired()
            self.extract_pending()
            self.refresh_profiles()
            self.merge_duplicates()
            self.raise_importance()
            self.digest_old_episodes()
            if not self.dry_run and (self.report.expired or self.report.merged):
                self.store.scrub()
        finally:
            if self.dry_run:
                self.store.close()
        self.report.seconds = round(time.perf_counter() - started, 2)
        log.info(
            "consolidated%s: %s",
            " (dry run)" if self.dry_run else "",
            {k: v for k, v in self.report.to_dict().items() if k != "changes"},
        )
        return self.report

    # -- 1. TTL ----------------------------------------------------------------

    def purge_expired(self) -> None:
        ids = self.store.select_ids(Filters(user=self.user, expired_only=True, include_assistant=True))
        if not ids:
            return
        records = [self.store.get(memory_id) for memory_id in ids]
        # The same erasure as `mem forget`: what was made from them goes too.
        erased = provenance.forget(self.store, ids)
        for record in records:
            self.report.count(Change("EXPIRE", record.text, id=record.id))
        if erased.derived:
            log.info("expired: %d made from them erased too: %s", len(erased.derived), erased.derived)

    # -- 2. facts ----------------------------------------------------------------

    def extract_pending(self, only: list[str] | None = None) -> None:
        """Facts from every pending episode, then reconciled and written episode
        by episode in order. The extractions run back to back, and so do the
        reconciliations: each model call then shares its system prompt with the
        one before, which llama.cpp does not evaluate again."""
        episodes = pending_episodes(self.store, self.user, self.limit)
        if only is not None:
            episodes = [e for e in episodes if e.id in set(only)]
        steps = 2 * len(episodes)
        extracted: list[tuple[MemoryRecord, list[tuple[str, int]]]] = []
        for done, episode in enumerate(episodes):
            self.progress("facts", done, steps)
            try:
                extracted.append((episode, self.facts_of(episode)))
            except MemcliError as exc:
                self._left_for_next_run(episode, exc)
        for done, (episode, facts) in enumerate(extracted, len(episodes)):
            self.progress("facts", done, steps)
            try:
                self.consolidate_episode(episode, facts)
            except MemcliError as exc:
                self._left_for_next_run(episode, exc)
        self.progress("facts", steps, steps)

    def refresh_profiles(self) -> None:
        """The profile fields made of relations, brought up to date (memcli.profile)."""
        for user in sorted(self._users):
            self.report.profile += len(profile.refresh(self.store, user))

    def entities_of(self, episode: MemoryRecord) -> entities.Found:
        """Who and what the episode is about (memcli.entities): the plain patterns,
        then the model for the other names; the plain patterns alone when the
        model is missing or its reply unusable (the facts still go on)."""
        text = episode_text(episode)
        transcript = episode.doc_id is not None
        known = [n for e in self.store.entities(episode.user) for n in e.names]
        try:
            model = self.generator if entities.candidates(text) else None
            return entities.extract(text, model, transcript=transcript, known=known)
        except (StructuredOutputError, ModelError) as exc:
            log.warning("episode %s: entities from the plain patterns only: %s", episode.id, exc)
            return entities.plain_patterns(text, transcript=transcript)

    def _left_for_next_run(self, episode: MemoryRecord, exc: MemcliError) -> None:
        if isinstance(exc, ModelError) and not isinstance(exc, StructuredOutputError):
            raise exc  # no model at all (missing, broken): the run stops and says why
        # Not marked done: the episode stays pending for the next run.
        self.report.failures += 1
        log.warning("episode %s left for the next run: %s", episode.id, exc)

    def consolidate_episode(self, episode: MemoryRecord, facts: list[tuple[str, int]] | None = None) -> None:
        """Decide what the episode's facts change (model calls, nothing written),
        then write it all in one transaction, only if the episode is still as it
        was read: a forget or an edit meanwhile wins, and an edited episode is
        done again next run."""
        text = episode_text(episode)
        if facts is None:
            facts = self.facts_of(episode)
        own = self._unverified_facts(episode)
        decisions: list[Decision] = []
        for fact, importance in facts:
            decision = self.decide(fact, importance, episode, decisions, own)
            if decision is not None:
                decisions.append(decision)
        found = self.entities_of(episode)
        with self.store.transaction():
            if not self._unchanged(episode):
                log.info(
                    "episode %s changed or was forgotten during the run: its facts were dropped", episode.id
                )
                self.report.dropped += 1
                return
            changes = [self.apply(decision, episode) for decision in decisions]
            changes += self._settle(episode, text, decisions, own)
            self._users.add(episode.user)
            if found.names or found.relations:
                before = len(self.store.entities(episode.user))
                entities.apply(self.store, episode, found)
                self.report.entities += len(self.store.entities(episode.user)) - before
                self.report.relations += len(found.relations)
            self.store.patch(episode.id, Patch(consolidated_at=now_str()))
        self.report.episodes += 1
        self.report.facts += len(facts)
        for change in changes:
            self.report.count(change)

    def _unchanged(self, episode: MemoryRecord) -> bool:
        try:
            now = self.store.get(episode.id)
        except NotFound:
            return False
        return (now.content_hash, now.updated_at) == (episode.content_hash, episode.updated_at)

    def _unverified_facts(self, episode: MemoryRecord) -> list[MemoryRecord]:
        """Facts made from an earlier text of this (edited) episode, awaiting a verdict."""
        return [
            r
            for r in provenance.derived_from(self.store, [episode.id])
            if r.unverified_at is not None and not provenance.is_digest(r)
        ]

    def facts_of(self, episode: MemoryRecord) -> list[tuple[str, int]]:
        """(fact, importance) pairs: none from small talk, a short note split in
        code, the model for the rest."""
        text = episode_text(episode)
        if not has_content(text):
            return []
        plain = plain_facts(text, episode.occurred_at, transcript=episode.doc_id is not None)
        if plain is not None:
            return [(fact, importance_of(fact)) for fact in plain]
        return self.extract(text, episode.occurred_at)

    def extract(self, text: str, occurred_at: str) -> list[tuple[str, int]]:
        messages: list[Message] = [
            {"role": "system", "content": EXTRACT_PROMPT},
            {"role": "user", "content": f"Written on {long_date(occurred_at)}:\n{text[:4000]}"},
        ]
        reply = generate_json(
            self.generator, messages, EXTRACT_SCHEMA, max_tokens=300, repeat_penalty=REPEAT_PENALTY
        )
        out: list[tuple[str, int]] = []
        for item in reply["facts"]:
            fact = tidy_fact(str(item["fact"]), text, occurred_at, embed=self.memory._embed)
            if fact and fact not in {f for f, _ in out}:
                out.append((fact, int(item["importance"])))
        return out

    def _closest(self, vector: Any, user: str) -> list[tuple[MemoryRecord, float]]:
        filters = Filters(user=user, kinds=["semantic"], current_only=True)
        found = self.store.vector_search(vector, filters, CANDIDATES)
        records = self.store.get_many([c.id for c in found])
        return [(records[c.id], c.score) for c in found if c.id in records]

    def decide(
        self,
        fact: str,
        importance: int,
        episode: MemoryRecord,
        earlier: list[Decision],
        own: list[MemoryRecord],
    ) -> Decision | None:
        """What this fact does, given the current facts, the facts decided before
        it from the same episode (`earlier`) and the episode's own facts from
        before an edit (`own`). None: an earlier decision already says it."""
        vector = self.memory._embed([fact])[0]
        for prior in earlier:  # the same note saying one thing twice
            if same(prior.text, fact, float(prior.vector @ vector)) or extends(prior.text, fact):
                return None
            if extends(fact, prior.text):
                prior.text, prior.vector = fact, vector
                return None
        # The episode's own earlier facts: restated (kept) or not; what the new
        # text no longer says is settled after all its facts (_settle).
        for record in own:
            old = self.store.vector_of(record.id)
            if (old is not None and same(record.text, fact, float(old @ vector))) or extends(
                record.text, fact
            ):
                return Decision("NOOP", fact, importance, vector, record)
            if extends(fact, record.text):
                return Decision("UPDATE", fact, importance, vector, record)
        closest = self._closest(vector, episode.user)
        if closest and same(closest[0][0].text, fact, closest[0][1]):
            return Decision("NOOP", fact, importance, vector, closest[0][0])
        related = [(r, s) for r, s in closest if s >= RELATED]
        if not related:
            return Decision("ADD", fact, importance, vector)
        # Decided here too: a fact that repeats a known one word for word, or a
        # known one that repeats it, with more detail.
        for record, _ in related:
            if extends(record.text, fact):
                return Decision("NOOP", fact, importance, vector, record)
            if extends(fact, record.text):
                return Decision("UPDATE", fact, importance, vector, record)
        if CHANGED.search(fact):
            # "moved", "no longer", "quit"...: a change of state replaces the closest
            # related fact. Decided here: the small models call it UPDATE or ADD.
            return Decision("SUPERSEDE", fact, importance, vector, related[0][0])
        close = [(r, s) for r, s in related if s >= ASK]
        if not close:  # about the same people or things, but another claim
            return Decision("ADD", fact, importance, vector)
        # The known facts are numbered 1, 2, 3 for the model: a memory id would
        # cost it some fifteen tokens to write out, and a merged text forty.
        known = "\n".join(f"[{n}] {r.text}" for n, (r, _) in enumerate(close, 1))
        messages: list[Message] = [
            {"role": "system", "content": RECONCILE_PROMPT},
            {"role": "user", "content": f"Known facts:\n{known}\n\nNew fact: {fact}"},
        ]
        labels = [str(n) for n in range(1, len(close) + 1)]
        choice = generate_json(self.generator, messages, reconcile_schema(labels), max_tokens=40)
        action, label = choice["action"], choice["target"]
        target = close[int(label) - 1][0] if label in labels else None
        if action == "ADD" or target is None:
            return Decision("ADD", fact, importance, vector)
        if action == "UPDATE":
            # The same thing with more detail: the new fact replaces the known
            # text only when it still says all of it; otherwise both are kept.
            if keeps_all(target.text, fact):
                return Decision("UPDATE", fact, importance, vector, target)
            return Decision("ADD", fact, importance, vector)
        return Decision(action, fact, importance, vector, target)

    # -- writing what was decided (inside the episode's transaction) -----------------

    def apply(self, decision: Decision, episode: MemoryRecord) -> Change:
        target = decision.target
        if target is not None:
            try:
                target = self.store.get(target.id)  # as it is now
            except NotFound:  # forgotten since: the fact stands alone
                target = None
        sources = [episode.id]
        if decision.action == "ADD" or target is None:
            return self._add(decision.text, decision.importance, episode, sources)
        if decision.action == "NOOP":
            return self._noop(target, decision.text, decision.importance, sources)
        if decision.action == "UPDATE":
            return self._update(target, decision.text, decision.importance, sources)
        return self._supersede(target, decision.text, decision.importance, episode, sources)

    def _add(self, fact: str, importance: int, episode: MemoryRecord, sources: list[str]) -> Change:
        result = self._store_fact(fact, importance, episode, sources)
        if result.status == "exists":  # the same text is known: a restatement
            return self._noop(self.store.get(result.id), fact, importance, sources)
        return Change("ADD", fact, id=result.id, sources=sources)

    def _store_fact(
        self, fact: str, importance: int, episode: MemoryRecord, sources: list[str]
    ) -> RememberResult:
        [result] = self.memory.remember(
            [
                NewMemory(
                    fact,
                    kind="semantic",
                    importance=importance,
                    occurred_at=episode.occurred_at,
                    source="consolidate",
                    user=episode.user,
                    sources=sources,
                )
            ]
        )
        return result

    def _noop(self, known: MemoryRecord, fact: str, importance: int, sources: list[str]) -> Change:
        merged_sources = list(dict.fromkeys([*known.sources, *sources]))
        if merged_sources != known.sources or known.unverified_at:
            self.store.patch(
                known.id,
                Patch(
                    sources=merged_sources,
                    importance=min(5, max(known.importance, importance) + (merged_sources != known.sources)),
                    unverified_at=None,  # said again by the new text
                ),
            )
        return Change("NOOP", fact, id=known.id, target=known.id, sources=sources)

    def _update(self, known: MemoryRecord, text: str, importance: int, sources: list[str]) -> Change:
        if text == known.text:  # nothing new was said: a restatement
            return self._noop(known, text, importance, sources)
        vector = self.memory._embed([text])[0]
        # The old text goes to history.
        self.store.update_text(known.id, text, content_hash(text), vector, self.memory.embedder.name)
        self.store.patch(
            known.id,
            Patch(
                sources=[*known.sources, *sources],
                importance=max(known.importance, importance),
                unverified_at=None,
            ),
        )
        return Change("UPDATE", text, id=known.id, target=known.id, sources=sources)

    def _supersede(
        self, known: MemoryRecord, fact: str, importance: int, episode: MemoryRecord, sources: list[str]
    ) -> Change:
        # The new fact is stored first: a contradiction never removes knowledge.
        new_id = self._store_fact(fact, max(importance, known.importance), episode, sources).id
        if new_id != known.id:
            self._retire(known, new_id, episode.occurred_at, keep=set(sources))
        return Change("SUPERSEDE", fact, id=new_id, target=known.id, sources=sources)

    def _retire(self, fact: MemoryRecord, successor: str | None, when: str, *, keep: set[str]) -> None:
        """`fact` no longer holds from `when`; so do the episodes that said nothing
        else still current (they are outdated, and left out of ask and chat)."""
        self.store.patch(fact.id, Patch(valid_to=when, superseded_by=successor, unverified_at=None))
        for source_id in fact.sources:
            if source_id in keep:
                continue
            try:
                source = self.store.get(source_id)
            except NotFound:
                continue
            if source.kind != "episodic" or source.valid_to is not None:
                continue
            made = [
                r for r in provenance.derived_from(self.store, [source_id]) if not provenance.is_digest(r)
            ]
            if made and all(r.valid_to is not None for r in made):
                self.store.patch(source_id, Patch(valid_to=when, superseded_by=successor))
                log.info("episode %s outdated by %s", source_id, successor)

    def _settle(
        self, episode: MemoryRecord, text: str, decisions: list[Decision], own: list[MemoryRecord]
    ) -> list[Change]:
        """After an edit: each fact of the old text that the new facts did not
        restate is kept if the new text (or its other sources) still says it,
        else superseded by the closest new fact."""
        touched = {d.target.id for d in decisions if d.target is not None}
        said = [text, *(d.text for d in decisions)]
        changes: list[Change] = []
        for record in own:
            if record.id in touched:
                continue
            if record.valid_to is not None:  # superseded before the edit: history either way
                self.store.patch(record.id, Patch(unverified_at=None))
                continue
            others = [s for s in record.sources if s != episode.id and self.store.id_exists(s)]
            if provenance.supported(record.text, said):
                self.store.patch(record.id, Patch(unverified_at=None))
                continue
            other_texts = [self.store.get(s).text for s in others]
            if others and provenance.supported(record.text, other_texts):
                self.store.patch(record.id, Patch(sources=others, unverified_at=None))
                continue
            vector = self.store.vector_of(record.id)
            successor = None
            if vector is not None and decisions:
                best = max(decisions, key=lambda d: float(d.vector @ vector))
                if float(best.vector @ vector) >= RELATED:
                    successor = self._fact_id(best, episode)
            self._retire(record, successor, episode.updated_at or now_str(), keep={episode.id})
            changes.append(
                Change("SUPERSEDE", record.text, id=successor, target=record.id, sources=[episode.id])
            )
        return changes

    def _fact_id(self, decision: Decision, episode: MemoryRecord) -> str | None:
        """The id the decision's fact has now (it was written in this transaction)."""
        if decision.target is not None and decision.action in ("NOOP", "UPDATE"):
            return decision.target.id
        found = self.store.existing_hashes(episode.user, "semantic", [content_hash(decision.text)])
        return found.get(content_hash(decision.text))

    # -- 3. near duplicates ---------------------------------------------------------

    def merge_duplicates(self) -> None:
        """Each memory stored since the last pass against its nearest neighbour."""
        watermark = int(self.store.setting(MERGE_WATERMARK) or 0)
        fresh = self.store.records_after(watermark, self.user)
        gone: set[str] = set()
        for done, (record_seq, record) in enumerate(fresh):
            self.progress("duplicates", done, len(fresh))
            if record.id in gone or not record.current or record.doc_id is not None:
                continue  # a thread's turns and chunks are distinct events, never merged
            vector = self.store.vector_of(record.id)
            if vector is None:
                continue
            filters = Filters(user=record.user, kinds=[record.kind], current_only=True, include_expired=True)
            for near in self.store.vector_search(vector, filters, 3):
                if near.score < SAME:
                    break
                other = self.store.get_many([near.id]).get(near.id)
                if other is None or other.id == record.id or other.id in gone or other.doc_id is not None:
                    continue
                if not same(record.text, other.text, near.score):
                    continue
                keep, drop = (
                    (other, record) if near.seq < record_seq else (record, other)
                )  # the first stored stays
                self._merge(keep, drop)
                gone.add(drop.id)
                break
        if fresh:
            self.store.set_setting(MERGE_WATERMARK, str(max(seq for seq, _ in fresh)))

    def _merge(self, keep: MemoryRecord, drop: MemoryRecord) -> None:
        self.report.count(Change("MERGE", drop.text, id=keep.id, target=drop.id, sources=drop.sources))
        with self.store.transaction():  # all or nothing: never lose the dropped text
            self.store.add_history(keep.id, drop.text, now_str())
            self.store.patch(
                keep.id,
                Patch(
                    sources=[*keep.sources, *drop.sources],
                    importance=max(keep.importance, drop.importance),
                    # the merged memory lives as long as the longest-lived of the two (None: for ever)
                    expires_at=None
                    if keep.expires_at is None or drop.expires_at is None
                    else max(keep.expires_at, drop.expires_at),
                ),
            )
            self.store.add_tags(keep.id, drop.tags)
            # What named the dropped memory names the one that stays.
            for derived in provenance.derived_from(self.store, [drop.id]):
                if derived.id != keep.id:
                    repointed = [keep.id if s == drop.id else s for s in derived.sources]
                    self.store.patch(derived.id, Patch(sources=repointed))
            for older in provenance.replaced_by(self.store, drop.id):
                if older.id != keep.id:
                    self.store.patch(older.id, Patch(superseded_by=keep.id))
            self.store.delete([drop.id])

    # -- 4. importance from use --------------------------------------------------------

    def raise_importance(self) -> None:
        often = Filters(
            user=self.user, min_recalled=RECALL_BUMP, include_expired=True, include_assistant=True
        )
        for record in self.store.select(often):
            raised = min(5, record.importance + 1)
            self.report.count(Change("IMPORTANCE", record.text, id=record.id))
            self.store.patch(record.id, Patch(importance=raised, recalled=0))

    # -- 5. digests -------------------------------------------------------------------

    def digest_old_episodes(self) -> None:
        days = settings.value("digest_after_days")
        if days <= 0:
            return
        self._drop_unverified_digests()
        cutoff = (datetime.now(UTC) - timedelta(days=float(days))).strftime("%Y-%m-%dT%H:%M:%SZ")
        groups: dict[tuple[str, str], list[MemoryRecord]] = {}
        undigested = Filters(
            user=self.user,
            kinds=["episodic"],
            until=cutoff,
            include_expired=True,
            consolidated=True,
            digested=False,
            without_tags=[provenance.DIGEST_TAG],
        )
        for record in self.store.select(undigested, order="oldest"):
            key = (
                record.doc_id
                if record.doc_id and record.doc_id.startswith("chat:")
                else record.occurred_at[:10]
            )
            groups.setdefault((record.user, key), []).append(record)
        todo = [g for g in groups.values() if len(g) >= 2]
        if self.limit is not None:
            todo = todo[: self.limit]
        retention = settings.value("episode_retention")
        for done, group in enumerate(todo):
            self.progress("digests", done, len(todo))
            try:
                self._digest(group, delete_episodes=retention == "digested")
            except StructuredOutputError as exc:
                self.report.failures += 1
                log.warning("digest of %d episodes left for the next run: %s", len(group), exc)

    def _drop_unverified_digests(self) -> None:
        """A digest one of whose episodes was edited is written again from the new text."""
        digests = Filters(user=self.user, tags=[provenance.DIGEST_TAG], include_expired=True)
        stale = [r.id for r in self.store.iter_records(digests) if r.unverified_at is not None]
        if stale:
            self.store.delete(stale)  # their episodes lose the link and are digested again

    def _digest(self, group: list[MemoryRecord], *, delete_episodes: bool) -> None:
        first = group[0]
        when = (
            f"the chat session {first.doc_id.removeprefix('chat:')}"
            if first.doc_id and first.doc_id.startswith("chat:")
            else long_date(first.occurred_at)
        )
        notes = "\n".join(f"- {episode_text(r)[:500]}" for r in group)[:6000]
        messages: list[Message] = [
            {"role": "system", "content": SUMMARY_PROMPT},
            {"role": "user", "content": f"Notes from {when}:\n{notes}"},
        ]
        summary = " ".join(
            str(
                generate_json(
                    self.generator, messages, SUMMARY_SCHEMA, max_tokens=200, repeat_penalty=REPEAT_PENALTY
                )["summary"]
            ).split()
        )
        if not summary:
            return
        text = f"Digest of {when}: {summary}"
        ids = [r.id for r in group]
        with self.store.transaction():
            if not all(self._unchanged(r) for r in group):
                log.info("episodes of a digest changed or were forgotten during the run: dropped")
                return
            [result] = self.memory.remember(
                [
                    NewMemory(
                        text,
                        kind="episodic",
                        tags=[provenance.DIGEST_TAG],
                        importance=max(r.importance for r in group),
                        occurred_at=first.occurred_at,
                        source="consolidate",
                        user=first.user,
                        sources=ids,
                        consolidated_at=now_str(),  # its facts came from its episodes already
                    )
                ]
            )
            for r in group:
                self.store.patch(r.id, Patch(digest_id=result.id))
            if delete_episodes:
                self.store.delete(ids)
        self.report.count(Change("DIGEST", text, id=result.id, sources=ids))


def pending_episodes(store: Store, user: str | None, limit: int | None = None) -> list[MemoryRecord]:
    """The user's episodes whose facts were never extracted, or whose text changed since, oldest first."""
    pending = Filters(user=user, kinds=["episodic"], pending_facts=True, include_expired=True)
    return store.select(pending, limit=limit)


def log_path() -> Path:
    from .paths import data_dir, ensure_private_dir

    return ensure_private_dir(data_dir()) / "consolidate.log"


def attach_log_file() -> Path:
    """Append this run's log lines to consolidate.log (0600) in the data dir."""
    path = log_path()
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    else:  # cron's `>> consolidate.log` creates it first, with cron's umask
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return path
