"""Provenance that binds: what forgetting or editing a memory does to what was made from it.

A derived memory (a fact distilled by consolidation, a day digest, a fact saved
from a chat message) names the memories it came from in `sources`. Those links
are what forgetting and editing follow:

- forgetting a memory erases every derived memory it leaves without a source,
  and every derived memory whose text the remaining sources do not support
  (its words may be the forgotten note's). The remaining sources are queued for
  the next consolidation, which derives again from what is left (an episode
  loses its `consolidated_at`, a digest's episodes their `digest_id`). A
  derived memory that the remaining sources do support keeps its text, loses
  the forgotten source and its history (older texts may quote the forgotten
  note). What an erased memory had superseded is current again: the only
  evidence that it ended is gone. This repeats until nothing more is affected,
  all in one transaction with the deletes.
- editing a memory marks everything derived from it unverified (`unverified_at`):
  not current, so not shown by ask and chat, until the next consolidation has
  derived it again from the new text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import entities, profile
from .errors import NotFound
from .records import Filters, Patch
from .search import STOPWORDS, stem

if TYPE_CHECKING:
    from .records import Hit, MemoryRecord
    from .store.base import Store

DIGEST_TAG = "digest"
_WORD = re.compile(r"\w+", re.UNICODE)
# Words consolidation writes around what a note says ("The user's sister ...").
_FRAME = STOPWORDS | frozenset("user users user's s digest".split())


@dataclass
class ForgetReport:
    forgotten: list[str] = field(default_factory=list)  # the memories asked for
    derived: list[str] = field(default_factory=list)  # erased: made from them
    kept: list[str] = field(default_factory=list)  # derived, still supported by other sources
    requeued: list[str] = field(default_factory=list)  # sources to derive from again
    restored: list[str] = field(default_factory=list)  # current again: what an erased memory superseded
    relations: list[str] = field(default_factory=list)  # erased: relations made from them alone
    entities: list[str] = field(default_factory=list)  # erased: entities no memory mentions any more

    @property
    def count(self) -> int:
        return len(self.forgotten)

    def sentence(self) -> str:
        """ "Forgot 1 memory and 2 made from it." """
        n, d = len(self.forgotten), len(self.derived)
        text = f"Forgot {n} memor{'y' if n == 1 else 'ies'}"
        if d:
            text += f" and {d} made from {'it' if n == 1 else 'them'}"
        return text + "."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in _FRAME}


def supported(text: str, sources: Sequence[str]) -> bool:
    """Every content word of `text` (by stem) occurs in one of `sources`."""
    said: set[str] = set()
    for source in sources:
        said |= content_stems(source)
    return content_stems(text) <= said


def is_digest(record: MemoryRecord) -> bool:
    return DIGEST_TAG in record.tags and record.source == "consolidate"


def derived_from(store: Store, memory_ids: Sequence[str]) -> list[MemoryRecord]:
    """The memories whose `sources` name any of these ids (facts, digests), in the order stored."""
    return store.select(
        Filters(user=None, include_expired=True, include_assistant=True, derived_from=list(memory_ids))
    )


def replaced_by(store: Store, memory_id: str) -> list[MemoryRecord]:
    """The facts this memory superseded, in the order stored."""
    return store.select(
        Filters(user=None, include_expired=True, include_assistant=True, superseded_by=memory_id)
    )


def forget(store: Store, ids: Sequence[str]) -> ForgetReport:
    """Erase memories (full ids) and what was made from them; see the module doc."""
    report = ForgetReport(forgotten=list(dict.fromkeys(ids)))
    with store.transaction():
        gone = set(report.forgotten)
        frontier = set(report.forgotten)
        requeue_facts: set[str] = set()
        requeue_digests: set[str] = set()
        while frontier:
            affected = [r for r in derived_from(store, sorted(frontier)) if r.id not in gone]
            frontier = set()
            for record in affected:
                remaining = [s for s in record.sources if s not in gone and store.id_exists(s)]
                texts = [store.get(s).text for s in remaining]
                if remaining and not is_digest(record) and supported(record.text, texts):
                    store.patch(record.id, Patch(sources=remaining))
                    store.clear_history(record.id)
                    report.kept.append(record.id)
                    continue
                (requeue_digests if is_digest(record) else requeue_facts).update(remaining)
                report.derived.append(record.id)
                gone.add(record.id)
                frontier.add(record.id)
        for memory_id in [*report.forgotten, *report.derived]:
            for older in replaced_by(store, memory_id):
                if older.id not in gone:
                    store.patch(older.id, Patch(valid_to=None, superseded_by=None))
                    report.restored.append(older.id)
        for memory_id in sorted(requeue_facts - gone):
            store.patch(memory_id, Patch(consolidated_at=None))
            report.requeued.append(memory_id)
        for memory_id in sorted(requeue_digests - gone):
            store.patch(memory_id, Patch(digest_id=None))
            if memory_id not in report.requeued:
                report.requeued.append(memory_id)
        erased = [*report.forgotten, *report.derived]
        touched = entities.affected(store, erased)
        users = {r.user for r in store.get_many(erased).values()}
        report.relations = entities.drop_sources(store, erased)
        profile.drop_sources(store, erased)
        store.delete(erased)
        report.entities = entities.prune(store, touched)
        for user in sorted(users):
            profile.refresh(store, user)
    store.scrub()
    return report


def mark_unverified(store: Store, memory_id: str, when: str) -> list[str]:
    """Inside the edit's transaction: what was derived from `memory_id` (and from
    those, and so on) is unverified from `when` on. Returns their ids."""
    marked: list[str] = []
    frontier = [memory_id]
    seen = {memory_id}
    while frontier:
        derived = [r for r in derived_from(store, frontier) if r.id not in seen]
        frontier = []
        for record in derived:
            seen.add(record.id)
            frontier.append(record.id)
            if record.unverified_at is None:
                store.patch(record.id, Patch(unverified_at=when))
                marked.append(record.id)
    return marked


def newest_truth(store: Store, hits: list[Hit]) -> list[Hit]:
    """What ask and chat show instead of recall's hits: the current truth.

    A memory that is no longer current (a superseded fact, an episode outdated
    by that) is replaced by its successor, the memory that superseded it (and
    so on, to the current one): "Where do I live?" matches "I live in Lisbon"
    best, and what answers it now is "The user moved to Porto". An episode that
    still holds something current but also said what a newer memory replaced
    is shown as its facts: the still-current ones and the successors of the
    rest. A fact unverified since its source was edited has no successor yet:
    it is left out (the edited note itself is shown when it matches). Each
    replacement keeps the score and similarity of the hit it replaces, in its
    place in the ranking.
    """
    from dataclasses import replace

    episodes = [h.record.id for h in hits if h.record.kind == "episodic" and h.record.current]
    made: dict[str, list[MemoryRecord]] = {}
    for record in derived_from(store, episodes) if episodes else []:
        if not is_digest(record):
            for source in record.sources:
                made.setdefault(source, []).append(record)
    out: list[Hit] = []
    seen: set[str] = set()

    def add(record: MemoryRecord | None, hit: Hit) -> None:
        if record is not None and record.current and record.id not in seen:
            seen.add(record.id)
            out.append(hit if record is hit.record else replace(hit, record=record))

    for hit in hits:
        record = hit.record
        facts = made.get(record.id, []) if record.current else []
        if record.current and not any(f.valid_to for f in facts):
            add(record, hit)
        elif record.current:  # partly outdated: its facts, each as it is now
            for fact in facts:
                add(successor(store, fact), hit)
        else:
            add(successor(store, record), hit)
    return out


def successor(store: Store, record: MemoryRecord) -> MemoryRecord | None:
    """The current memory that replaced `record` (itself when current), if any."""
    seen = {record.id}
    while not record.current:
        if record.superseded_by is None or record.superseded_by in seen:
            return None
        seen.add(record.superseded_by)
        try:
            record = store.get(record.superseded_by)
        except NotFound:
            return None
    return record
