"""The user's profile: their current key facts by field, always at hand.

A field's values over time are `ProfileEntry` rows: the current one has no
`valid_to`, older ones are its history. Two kinds of value:

- **derived** by consolidation (`refresh`) from the user's current relations
  (memcli.entities): home from "lives in", work from "works at", family from
  "sister of" and the like, pets from "pet of", and so on. Its `sources` are the
  memories the relations came from. A value changes when the relations do; the
  old value is ended, not deleted. Forgetting a memory erases the derived values
  made from it (their words may be its words), and `refresh` derives again from
  what is left; so does editing it.
- **set** by the user (`mem profile set FIELD VALUE`), which wins over a derived
  value of the same field. Setting a value stores it as a memory too ("The user's
  home is Porto."), so it is searched, cited, exported and forgotten like any; a
  later value supersedes it. `unset` ends the field's values; forgetting the
  memory erases the value.

`mem ask` and `mem chat` show the memories behind the current values first in
every prompt, within the `profile_tokens` budget (`prompt_hits`), so "where do I
live?" is answered from the profile even when a search would miss the note.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .entities import KIN
from .errors import InputError, NotFound
from .records import Hit, NewMemory, Patch, ProfileEntry, new_id
from .timeparse import now_str

if TYPE_CHECKING:
    from .memory import Memory
    from .models.generate import Generator
    from .records import Relation
    from .store.base import Store

PROFILE_TAG = "profile"
PROFILE_SOURCE = "profile"
# The fields consolidation keeps, in the order they are shown, and the relations
# (to or from the user's own entity) each is made of.
OUTGOING = {"lives in": "home", "works at": "work", "studies at": "studies", "is from": "from"}
INCOMING = {
    "married to": "partner",
    "partner of": "partner",
    "pet of": "pets",
    **{p: "family" for p in KIN},
    "friend of": "friends",
}
FIELDS = ("name", "home", "work", "studies", "from", "partner", "family", "pets", "friends")
_FIELD = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_VALUE_CHARS = 300


@dataclass
class Field:
    """A field as `mem profile` shows it: its current value and where it comes from."""

    field: str
    value: str
    origin: str
    since: str
    sources: list[str]
    history: list[ProfileEntry]

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "value": self.value,
            "origin": self.origin,
            "since": self.since,
            "sources": self.sources,
            "history": [e.to_dict() for e in self.history],
        }


def checked_field(name: str) -> str:
    field = name.strip().lower().replace(" ", "_")
    if not _FIELD.match(field):
        raise InputError(f"bad field name {name!r}: a lower-case word of up to 40 letters, digits, - or _")
    return field


def current(store: Store, user: str) -> dict[str, ProfileEntry]:
    """field -> its value in force: the user's own if set, else the derived one."""
    out: dict[str, ProfileEntry] = {}
    for entry in store.profile_entries(user):
        if entry.current and (entry.field not in out or entry.origin == "set"):
            out[entry.field] = entry
    order = {f: i for i, f in enumerate(FIELDS)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def fields(store: Store, user: str) -> list[Field]:
    entries = store.profile_entries(user)
    return [
        Field(
            name,
            entry.value,
            entry.origin,
            entry.set_at,
            entry.sources,
            [e for e in entries if e.field == name and e is not entry and e.id != entry.id],
        )
        for name, entry in current(store, user).items()
    ]


# -- derived values ------------------------------------------------------------------------


def derive(store: Store, user: str) -> dict[str, tuple[str, str, list[str]]]:
    """field -> (value, since, sources) from the user's current relations."""
    from .entities import self_entity_of

    me = self_entity_of(store, user)
    if me is None:
        return {}
    names = {e.id: e.name for e in store.entities(user)}
    found: dict[str, list[tuple[str, Relation]]] = {}
    for relation in store.relations(user, [me.id]):
        if not relation.current:
            continue
        if relation.subject == me.id and relation.predicate in OUTGOING:
            found.setdefault(OUTGOING[relation.predicate], []).append((names[relation.object], relation))
        elif relation.object == me.id and relation.predicate in INCOMING:
            field = INCOMING[relation.predicate]
            name = names[relation.subject]
            if field == "family":
                name = f"{name} ({relation.predicate.removesuffix(' of')})"
            found.setdefault(field, []).append((name, relation))
    derived = {}
    for field, items in found.items():
        if field in ("home", "work", "studies", "from", "partner"):  # one at a time: the newest
            items = [max(items, key=lambda item: item[1].valid_from)]
        value = ", ".join(dict.fromkeys(name for name, _ in items))
        since = max(r.valid_from for _, r in items)
        sources = list(dict.fromkeys(s for _, r in items for s in r.sources))
        derived[field] = (value, since, sources)
    return derived


def past(store: Store, user: str) -> dict[str, list[tuple[str, str, str, list[str]]]]:
    """field -> (value, from, to, sources) of the ended relations of the one-at-a-time
    fields (an earlier home, an earlier job), oldest first: a new field's history."""
    from .entities import self_entity_of

    me = self_entity_of(store, user)
    if me is None:
        return {}
    names = {e.id: e.name for e in store.entities(user)}
    out: dict[str, list[tuple[str, str, str, list[str]]]] = {}
    for relation in store.relations(user, [me.id]):
        if relation.valid_to and relation.subject == me.id and relation.predicate in OUTGOING:
            field = OUTGOING[relation.predicate]
            out.setdefault(field, []).append(
                (names[relation.object], relation.valid_from, relation.valid_to, relation.sources)
            )
    return out


def refresh(store: Store, user: str) -> list[str]:
    """Bring the derived values up to date with the relations; returns the fields changed."""
    now = now_str()
    derived = derive(store, user)
    earlier = past(store, user)
    entries = [e for e in store.profile_entries(user) if e.origin == "derived"]
    changed: list[str] = []
    with store.transaction():
        for field in sorted({e.field for e in entries} | set(derived)):
            mine = [e for e in entries if e.field == field]
            last = max(mine, key=lambda e: e.set_at) if mine else None
            live = [e for e in mine if e.current]
            if field not in derived:
                for entry in live:
                    store.put_profile_entry(replace(entry, valid_to=now))
                changed += [field] if live else []
                continue
            value, since, sources = derived[field]
            if last is not None and last.value == value:
                if last.current and last.sources != sources:
                    store.put_profile_entry(replace(last, sources=sources))
                continue  # the same value (ended by unset: it stays ended until it changes)
            for entry in live:
                store.put_profile_entry(replace(entry, valid_to=max(since, entry.set_at)))
            if not mine:  # a new field: what the relations say it was before
                for old, start, end, where in earlier.get(field, []):
                    store.put_profile_entry(
                        ProfileEntry(
                            new_id(), user, field, old, "derived", start, valid_to=end, sources=where
                        )
                    )
            store.put_profile_entry(
                ProfileEntry(new_id(), user, field, value, "derived", since, sources=sources)
            )
            changed.append(field)
    return changed


def drop_sources(store: Store, memory_ids: Sequence[str]) -> list[str]:
    """Before these memories are erased (or after they were edited): the values made
    from them go, the user's own included (their words are the memory's); the next
    `refresh` derives again from what is left. Returns the ids of the erased entries."""
    gone = set(memory_ids)
    entries = store.profile_entries(None)
    erased = [e for e in entries if gone & set(e.sources)]
    ids = {e.id for e in erased}
    for entry in entries:  # what an erased value had ended holds again (refresh decides)
        if entry.id not in ids and entry.valid_to and entry.origin == "derived":
            if any(
                e.user == entry.user and e.field == entry.field and e.set_at == entry.valid_to for e in erased
            ):
                store.put_profile_entry(replace(entry, valid_to=None))
    store.delete_profile_entries(list(ids))
    return list(ids)


# -- what the user sets ----------------------------------------------------------------------


def set_value(memory: Memory, name: str, value: str) -> Field:
    """Set a field (see the module doc); the previous value is ended and its memory superseded."""
    field = checked_field(name)
    value = " ".join(value.split())
    if not value:
        raise InputError("the value is empty (mem profile unset FIELD removes a field)")
    if len(value) > MAX_VALUE_CHARS:
        raise InputError(
            f"the value is {len(value)} characters; a profile value holds at most {MAX_VALUE_CHARS}"
        )
    store, user = memory.store, memory.user
    now = now_str()
    text = f"The user's {field.replace('_', ' ')} is {value}."
    [saved] = memory.remember(
        [NewMemory(text, kind="semantic", tags=[PROFILE_TAG], importance=4, source=PROFILE_SOURCE, user=user)]
    )
    with store.transaction():
        for entry in store.profile_entries(user):
            if entry.field == field and entry.current and entry.origin == "set":
                store.put_profile_entry(replace(entry, valid_to=now))
                for source in entry.sources:
                    if source != saved.id and store.id_exists(source):
                        store.patch(source, Patch(valid_to=now, superseded_by=saved.id))
        if saved.status == "exists":  # set again after a change: the memory holds again
            store.patch(saved.id, Patch(valid_to=None, superseded_by=None))
        store.put_profile_entry(ProfileEntry(new_id(), user, field, value, "set", now, sources=[saved.id]))
    return next(f for f in fields(store, user) if f.field == field)


def unset_value(memory: Memory, name: str) -> list[ProfileEntry]:
    """End a field's current values (the user's and the derived one). A derived value
    comes back only when the relations it is made of change."""
    field = checked_field(name)
    store, now = memory.store, now_str()
    live = [e for e in store.profile_entries(memory.user) if e.field == field and e.current]
    if not live:
        raise NotFound(f"the profile has no {field!r} (mem profile lists the fields)")
    with store.transaction():
        for entry in live:
            store.put_profile_entry(replace(entry, valid_to=now))
            if entry.origin == "set":
                for source in entry.sources:
                    if store.id_exists(source):
                        store.patch(source, Patch(valid_to=now))
    return live


# -- in the prompt ---------------------------------------------------------------------------


def prompt_hits(memory: Memory, generator: Generator, budget: int, *, line: Any) -> list[Hit]:
    """The memories behind the current profile values, in field order, as many as fit
    in `budget` tokens (`line` renders a hit as the prompt shows it)."""
    if budget <= 0:
        return []
    from .provenance import newest_truth

    entries = current(memory.store, memory.user)
    ids = list(dict.fromkeys(s for e in entries.values() for s in e.sources))
    records = memory.store.get_many(ids)
    # a note that also said what no longer holds is shown as what holds now
    found = newest_truth(memory.store, [Hit(records[i], score=1.0) for i in ids if i in records])
    hits: list[Hit] = []
    used = 0
    for hit in found:
        cost = generator.count_tokens(line(hit)) + 1
        if used + cost > budget:
            break
        hits.append(hit)
        used += cost
    return hits


def with_profile(profile: list[Hit], hits: list[Hit]) -> list[Hit]:
    """The profile's memories first, then the other hits."""
    seen = {h.record.id for h in profile}
    return [*profile, *(h for h in hits if h.record.id not in seen)]
