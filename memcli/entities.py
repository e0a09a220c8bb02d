"""Who and what the memories are about: entities, their names, the relations between them.

Three passes keep them:

- **Linking** (model-free, at `mem remember` time and after every change): a
  memory that names a known entity, by its name or an alias, as a whole word,
  mentions it. Names that start with a capital letter match with that capital
  ("May" the person, not "may"); lower-case aliases ("my sister") match in any
  case. A name two entities share links neither: it cannot say which.
- **Extraction** (during `mem consolidate`): names found in an episode become
  entities. A few plain patterns need no model ("my sister Ana", "I live in
  Porto", "I work at Acme"); the model then says, for the capitalised names
  the text holds, which are people, pets, places, organisations or things, and
  how they relate, picking from those names and a fixed list of relations (the
  schema allows nothing else, so every name is grounded in its source).
- **Truth maintenance**: a relation is made from memories (`sources`). A newer
  relation of a kind one holds at a time ("lives in", "works at") ends the
  older one (valid_to, superseded_by) without deleting it. Forgetting or
  editing a memory drops it from the sources of its relations (a relation left
  without any is erased, and what it had ended is current again), and an
  entity no memory mentions any more is erased with its aliases and edges;
  aliases that no remaining memory uses go too, unless the user gave them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InputError, NotFound
from .records import ENTITY_KINDS, Entity, Filters, MemoryRecord, Patch, Relation, new_id
from .search import STOPWORDS
from .timeparse import now_str

if TYPE_CHECKING:
    from .models.generate import Generator, Message
    from .store.base import Store

SELF_NAME = "me"  # the user themself: one entity of kind "self" per user
# Relations the extraction knows; a new one of the first group ends the older
# relation of the same subject and kind (one home, one employer at a time).
EXCLUSIVE = ("lives in", "works at", "studies at", "married to", "partner of")
# Family: the profile's "family" field is made of these (memcli.profile).
KIN = (
    "sister of",
    "brother of",
    "mother of",
    "father of",
    "daughter of",
    "son of",
    "child of",
    "parent of",
    "cousin of",
)
PREDICATES = (
    *EXCLUSIVE,
    "is from",
    *KIN,
    "friend of",
    "colleague of",
    "boss of",
    "neighbour of",
    "pet of",
    "owns",
    "member of",
    "located in",
    "knows",
)
# "my sister Ana": the word, the entity's kind, and the relation it has to the user.
FAMILY = {
    "sister": "sister of",
    "brother": "brother of",
    "mother": "mother of",
    "mom": "mother of",
    "mum": "mother of",
    "father": "father of",
    "dad": "father of",
    "daughter": "daughter of",
    "son": "son of",
    "wife": "married to",
    "husband": "married to",
    "partner": "partner of",
    "girlfriend": "partner of",
    "boyfriend": "partner of",
    "cousin": "cousin of",
    "friend": "friend of",
    "colleague": "colleague of",
    "boss": "boss of",
    "neighbour": "neighbour of",
    "neighbor": "neighbour of",
}
PETS = ("dog", "cat", "puppy", "kitten", "rabbit", "hamster", "parrot", "horse", "pet")
_NAME = r"[A-Z][\w'’-]*(?:\s+(?:de|da|do|dos|van|von|der|la|le|del|di)?\s*[A-Z][\w'’-]*)*"
# The patterns as text: `re` compiles each the first time it is used and keeps it
# (compiling them all at import would cost every `mem recall` 4 ms).
_PERSON = (
    rf"\b(?i:my)\s+(?:(?:little|big|older|younger|best|new|old)\s+)?({'|'.join(FAMILY)})\s*,?\s+({_NAME})"
)
_PET = rf"\b(?i:my)\s+(?:\w+\s+)?({'|'.join(PETS)})\s*,?\s+(?:called\s+|named\s+)?({_NAME})"
_HOME = rf"\b(?:I|[Ww]e)\s+(?:now\s+)?(?:live|moved|have moved|am moving|are moving|relocated)\s+(?:back\s+)?(?:in|to)\s+({_NAME})"
_WORK = rf"\bI\s+(?:now\s+)?(?:work|am working|started working|got a job)\s+(?:at|for|with)\s+({_NAME})"
# "Ana lives in Porto", "Rui works at Acme": a relation between two names.
_THEIR_HOME = rf"\b({_NAME})\s+(?:now\s+)?(?:lives|moved|has moved|is moving|relocated)\s+(?:back\s+)?(?:in|to)\s+({_NAME})"
_THEIR_WORK = rf"\b({_NAME})\s+(?:now\s+)?(?:works|is working|started working)\s+(?:at|for)\s+({_NAME})"
_CANDIDATE = _NAME
# Capitalised words that are not names: the start of a sentence, days, months.
_NOT_NAMES = STOPWORDS | frozenset(
    """monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays
    thursdays fridays saturdays sundays january february march april june july august
    may september october november december today tomorrow yesterday tonight yes no ok okay
    hi hello hey thanks thank wow oh well sure also just still maybe please sorry great
    good nice cool lol user assistant dear let lets it's i'm i've i'll i'd we're we've
    that's there's what's mr mrs ms dr""".split()
)
ENTITY_PROMPT = """You find who and what a note is about. For each name listed, say what it \
names: a person, a pet, a place, an organisation, a thing, or "not a name". Then list how \
they relate, as stated in the note ("the user" is the note's author).
Reply in JSON: {"entities": [{"name": "...", "kind": "..."}], \
"relations": [{"subject": "...", "relation": "...", "object": "..."}]}"""
USER = "the user"


@dataclass
class Found:
    """What one text says about entities: names with their kinds, and relations
    (subject, predicate, object) between those names ("the user" is its author)."""

    names: dict[str, str] = field(default_factory=dict)  # name as written -> kind
    aliases: dict[str, str] = field(default_factory=dict)  # alias ("my sister") -> name
    relations: list[tuple[str, str, str]] = field(default_factory=list)
    existing: set[str] = field(default_factory=set)  # names of known entities the relations use

    def add(self, name: str, kind: str) -> None:
        self.names.setdefault(name, kind)


def _clean(name: str) -> str:
    return re.sub(r"(?:'s|’s)$", "", " ".join(name.split())).strip(" '’-")


def _is_name(name: str) -> bool:
    words = name.split()
    return bool(words) and words[0].lower() not in _NOT_NAMES and len(name) >= 2


def candidates(text: str) -> list[str]:
    """The capitalised names a text holds, in order: not days or months, and not a
    lone word that starts a sentence ("Lunch with Ana") unless the text also
    writes it with a capital elsewhere, or as a speaker ("Ana: ...")."""
    found: list[str] = []
    inside = {m.group(0) for m in re.finditer(r"(?<=[\w,;] )[A-Z][\w'’-]*", text)}
    for match in re.finditer(_CANDIDATE, text):
        words = _clean(match.group(0)).split()
        while words and words[0].lower() in _NOT_NAMES:  # "The Hague" keeps "Hague"; "On Monday" nothing
            words = words[1:]
        name = " ".join(words)
        if not name or not _is_name(name) or name in found:
            continue
        starts = match.start() == 0 or re.search(r"[.!?:\n]\s*$", text[: match.start()]) is not None
        speaker = text[match.end() : match.end() + 1] == ":"
        if len(words) == 1 and starts and not speaker and name not in inside:
            continue
        found.append(name)
    return found


_SPEAKER = re.compile(r"\s*([A-Z][\w'’-]*(?: [A-Z][\w'’-]*)?):\s")


def speaker_of(text: str) -> str | None:
    """Who says a turn of a transcript ("Ana: see you at six" -> "Ana"), if it names one."""
    match = _SPEAKER.match(text)
    return match.group(1) if match and _is_name(match.group(1)) else None


def plain_patterns(text: str, *, transcript: bool = False) -> Found:
    """What needs no model: "my sister Ana", "my dog Rex", "I live in Porto", "I work at
    Acme", and in a transcript (a thread of turns) the speaker of a turn ("Ana: ...")."""
    found = Found()
    speaker = speaker_of(text) if transcript else None
    if speaker:
        found.add(speaker, "person")
    for match in re.finditer(_PERSON, text):
        word, name = match.group(1).lower(), _clean(match.group(2))
        if _is_name(name):
            found.add(name, "person")
            found.aliases[f"my {word}"] = name
            found.relations.append((name, FAMILY[word], USER))
    for match in re.finditer(_PET, text):
        word, name = match.group(1).lower(), _clean(match.group(2))
        if _is_name(name):
            found.add(name, "pet")
            found.aliases[f"my {word}"] = name
            found.relations.append((name, "pet of", USER))
    for pattern, kind, predicate in (
        (_THEIR_HOME, "place", "lives in"),
        (_THEIR_WORK, "organisation", "works at"),
    ):
        for match in re.finditer(pattern, text):
            who, where = _clean(match.group(1)), _clean(match.group(2))
            if who.split()[0].lower() in ("my", "we", "i") or not (_is_name(who) and _is_name(where)):
                continue
            found.add(who, "person")
            found.add(where, kind)
            found.relations.append((who, predicate, where))
    for pattern, kind, predicate in ((_HOME, "place", "lives in"), (_WORK, "organisation", "works at")):
        for match in re.finditer(pattern, text):
            name = _clean(match.group(1))
            if _is_name(name):
                found.add(name, kind)
                found.relations.append((USER, predicate, name))
    return found


# A relation the model gives is kept only when the text has a word that says it.
CUES = {
    "lives in": ("live", "lives", "living", "lived", "moved", "home", "resident"),
    "works at": ("work", "works", "working", "worked", "job", "employed", "employer", "joined"),
    "studies at": ("study", "studies", "studying", "student", "school", "university", "college"),
    "married to": ("married", "wife", "husband", "spouse"),
    "partner of": ("partner", "girlfriend", "boyfriend", "dating"),
    "is from": ("from", "born", "grew"),
    "child of": ("child", "son", "daughter", "kid"),
    "parent of": ("parent", "mother", "father", "mom", "mum", "dad"),
    "pet of": ("pet", "dog", "cat", "puppy", "kitten", "adopted"),
    "owns": ("own", "owns", "bought", "has", "have"),
    "member of": ("member", "joined", "club", "team", "band", "group"),
    "located in": ("in", "near"),
    "knows": ("know", "knows", "met", "friend", "friends"),
}


def _cued(predicate: str, text: str) -> bool:
    words = set(re.findall(r"\w+", text.lower()))
    cues = CUES.get(predicate) or tuple(predicate.split()[:1])  # "sister of": "sister"
    return any(cue in words for cue in cues)


def entity_schema(names: Sequence[str], others: Sequence[str] = ()) -> dict[str, Any]:
    """The model's answer: only these names (their kinds), only these kinds and
    relations, between them, `others` (known names the text holds) and the user."""
    who = [*names, *others, USER]
    return {
        "type": "object",
        "properties": {
            "entities": {
                "type": "array",
                "maxItems": len(names),
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"enum": list(names)},
                        "kind": {"enum": [k for k in ENTITY_KINDS if k != "self"] + ["not a name"]},
                    },
                    "required": ["name", "kind"],
                    "additionalProperties": False,
                },
            },
            "relations": {
                "type": "array",
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "properties": {
                        "subject": {"enum": who},
                        "relation": {"enum": list(PREDICATES)},
                        "object": {"enum": who},
                    },
                    "required": ["subject", "relation", "object"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["entities", "relations"],
        "additionalProperties": False,
    }


def extract(
    text: str, generator: Generator | None, *, transcript: bool = False, known: Iterable[str] = ()
) -> Found:
    """The entities and relations of one text: the plain patterns, then the model
    for the other capitalised names (none without a model). Names in `known` (those
    of the entities there are already) are not asked about: linking finds them."""
    found = plain_patterns(text, transcript=transcript)
    folded = {n.casefold() for n in known}
    rest = [n for n in candidates(text) if n not in found.names and n.casefold() not in folded]
    if not rest or generator is None:
        return found
    from .structured import generate_json

    names = rest[:8]
    present = [n for n in candidates(text) if n.casefold() in folded or n in found.names][:8]
    messages: list[Message] = [
        {"role": "system", "content": ENTITY_PROMPT},
        {"role": "user", "content": f"Names: {', '.join(names)}\nNote: {text[:3000]}"},
    ]
    schema = entity_schema(names, [n for n in present if n not in names])
    reply = generate_json(generator, messages, schema, max_tokens=60 + 25 * len(names))
    for item in reply["entities"]:
        if item["kind"] != "not a name" and item["name"] in names:
            found.add(item["name"], item["kind"])
    for item in reply["relations"]:
        subject, predicate, obj = item["subject"], item["relation"], item["object"]
        known = set(found.names) | set(present) | {USER}
        if (
            subject != obj
            and subject in known
            and obj in known
            and _cued(predicate, text)
            and (subject, predicate, obj) not in found.relations
        ):
            found.relations.append((subject, predicate, obj))
            for name in (subject, obj):
                if name != USER and name not in found.names:
                    found.existing.add(name)  # known already: apply finds it by its name
    return found


# -- linking ----------------------------------------------------------------------------


class Linker:
    """Finds the known entities a text names (see the module doc), by runs of whole
    words: a dictionary lookup per word, whatever the number of entities."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self.by_name: dict[str, set[str]] = {}
        self.longest = 0
        for entity in entities:
            if entity.kind == "self":
                continue
            for name in entity.names:
                words = _words(name)
                if words:
                    self.by_name.setdefault(_key(" ".join(words)), set()).add(entity.id)
                    self.longest = max(self.longest, len(words))

    def find(self, text: str) -> list[str]:
        """Ids of the entities `text` names, in the order first named; the longest
        name wins ("Rui Costa" before "Rui")."""
        if not self.by_name:
            return []
        words = _words(text)
        out: list[str] = []
        i = 0
        while i < len(words):
            for n in range(min(self.longest, len(words) - i), 0, -1):
                ids = self._lookup(words[i : i + n])
                if ids is not None:
                    if len(ids) == 1 and (entity_id := next(iter(ids))) not in out:
                        out.append(entity_id)
                    i += n
                    break
            else:
                i += 1
        return out

    def _lookup(self, words: list[str]) -> set[str] | None:
        phrase = " ".join(words)
        for form in (phrase, re.sub(r"['’]s$", "", phrase)):  # "Ana's" is Ana
            ids = self.by_name.get(form) or self.by_name.get("~" + form.lower())
            if ids:
                return ids
        return None


def _words(text: str) -> list[str]:
    return re.findall(r"\w+(?:['’-]\w+)*", text)


def _key(name: str) -> str:
    """Names with a capital match as written; lower-case ones ("my sister") in any case."""
    return name if name[:1].isupper() else "~" + name.lower()


def link_memories(store: Store, records: Sequence[MemoryRecord]) -> int:
    """Link these memories to the known entities they name (the model-free pass)."""
    pairs: list[tuple[str, str]] = []
    for user in {r.user for r in records}:
        known = store.entities(user)
        if not known:
            continue
        linker = Linker(known)
        pairs += [(r.id, e) for r in records if r.user == user for e in linker.find(r.text)]
    return store.link(pairs) if pairs else 0


def backfill(store: Store, entity: Entity) -> int:
    """Link the stored memories that name `entity` (found through the full-text index)."""
    linker = Linker([entity])
    ids: list[str] = []
    for name in entity.names:
        words = re.findall(r"\w+", name.lower())
        if words:
            ids += store.select_ids(
                Filters(user=entity.user, include_expired=True, include_assistant=True, words=words)
            )
    records = store.get_many(list(dict.fromkeys(ids)))
    return store.link([(r.id, entity.id) for r in records.values() if entity.id in linker.find(r.text)])


# -- storing what extraction found -------------------------------------------------------


def self_entity_of(store: Store, user: str) -> Entity | None:
    """The user's own entity, if relations have made one."""
    return next((e for e in store.entities(user) if e.kind == "self"), None)


def self_entity(store: Store, user: str) -> Entity:
    """The user's own entity, made if need be."""
    entity = self_entity_of(store, user)
    if entity is not None:
        return entity
    now = now_str()
    entity = Entity(new_id(), user, SELF_NAME, "self", created_at=now, updated_at=now)
    store.put_entity(entity)
    return entity


def resolve(known: Sequence[Entity], name: str, kind: str) -> Entity | None:
    """The known entity `name` is (by a name or alias, in any case; a full name
    "Ana Silva" is the known "Ana" of the same kind), if exactly one."""
    folded = name.casefold()
    same = [e for e in known if e.kind != "self" and folded in {n.casefold() for n in e.names}]
    if len(same) == 1:
        return same[0]
    if not same and " " in name:
        first = folded.split()[0]
        same = [e for e in known if e.kind == kind and first in {n.casefold() for n in e.names}]
        if len(same) == 1:
            return same[0]
    return None


def apply(store: Store, memory: MemoryRecord, found: Found) -> list[str]:
    """Store what one memory says: its entities (new ones, new aliases), its
    relations (ending the older ones they replace), its links. Returns the ids of
    the entities it mentions. Inside the caller's transaction."""
    now = now_str()
    known = store.entities(memory.user)
    ids: dict[str, str] = {}  # name as found -> entity id
    fresh: list[Entity] = []
    for name, kind in found.names.items():
        entity = resolve(known, name, kind)
        if entity is None:
            entity = Entity(new_id(), memory.user, name, kind, created_at=now, updated_at=now)
            fresh.append(entity)
            known = [*known, entity]
        aliases = [a for a, n in found.aliases.items() if n == name]
        if name.casefold() not in {n.casefold() for n in entity.names}:
            aliases.append(name)
        new_aliases = [a for a in aliases if a.casefold() not in {n.casefold() for n in entity.names}]
        if new_aliases or entity in fresh:
            entity.aliases = [*entity.aliases, *new_aliases]
            entity.updated_at = now
            store.put_entity(entity)
            if entity not in fresh:
                known = [entity if e.id == entity.id else e for e in known]
        ids[name] = entity.id
    for name in found.existing:
        entity = resolve(known, name, "")
        if entity is not None:
            ids[name] = entity.id
    for entity in known:
        if entity.id in ids.values() and entity in fresh:
            backfill(store, entity)
    if any(USER in (subject, obj) for subject, _, obj in found.relations):
        ids[USER] = self_entity(store, memory.user).id
    for subject, predicate, obj in found.relations:
        if subject in ids and obj in ids:
            relate(store, memory, ids[subject], predicate, ids[obj])
    mentioned = list(dict.fromkeys(v for k, v in ids.items() if k != USER))
    store.link([(memory.id, e) for e in mentioned])
    link_memories(store, [memory])  # known names the extraction did not list
    return mentioned


def relate(store: Store, memory: MemoryRecord, subject: str, predicate: str, obj: str) -> Relation:
    """Record that `subject` `predicate` `obj` from `memory` on; see the module doc."""
    current = [r for r in store.relations(memory.user, [subject]) if r.current and r.subject == subject]
    for relation in current:
        if relation.predicate == predicate and relation.object == obj:
            if memory.id not in relation.sources:
                relation.sources = [*relation.sources, memory.id]
                store.put_relation(relation)
            return relation
    new = Relation(
        new_id(),
        memory.user,
        subject,
        predicate,
        obj,
        memory.occurred_at,
        sources=[memory.id],
        created_at=now_str(),
    )
    store.put_relation(new)
    if predicate in EXCLUSIVE:
        for relation in current:
            if relation.predicate == predicate and relation.valid_from <= new.valid_from:
                store.put_relation(
                    dataclasses.replace(relation, valid_to=new.valid_from, superseded_by=new.id)
                )
                outdate_facts(store, relation, new)
    return new


def outdate_facts(store: Store, old: Relation, new: Relation) -> list[str]:
    """When a relation ends another ("lives in Porto" after "lives in Lisbon"), the
    facts that said the old one end with it: the current facts made from the old
    relation's memories that name its object ("Lisbon") but not the new one, in words
    that say the relation ("live", "moved", ...). Each is superseded by the fact of
    the new relation's memory that names the new object, else by that memory itself,
    so ask and chat answer from the newer (memcli.provenance.newest_truth).
    Returns the ids of the facts ended."""
    from .provenance import derived_from, is_digest

    def facts(sources: list[str], entity: str) -> list[MemoryRecord]:
        linked = {m for m, _ in store.links(entity_ids=[entity])}
        return [
            r
            for r in derived_from(store, sources)
            if r.kind == "semantic" and r.current and not is_digest(r) and r.id in linked
        ]

    newer = [f for f in facts(new.sources, new.object) if _cued(new.predicate, f.text)]
    successor = newer[0].id if newer else new.sources[0]
    keep = {m for m, _ in store.links(entity_ids=[new.object])}
    ended = []
    for fact in facts(old.sources, old.object):
        if fact.id not in keep and fact.id != successor and _cued(old.predicate, fact.text):
            store.patch(fact.id, Patch(valid_to=new.valid_from, superseded_by=successor))
            ended.append(fact.id)
    return ended


# -- what forgetting and editing do ------------------------------------------------------


def drop_sources(store: Store, memory_ids: Sequence[str]) -> list[str]:
    """Before these memories are deleted (or after they were edited): the relations
    made from them lose them as sources; a relation left with none is erased and
    what it had ended is current again. Returns the ids of the erased relations."""
    gone = set(memory_ids)
    users = {r.user for r in store.get_many(list(memory_ids)).values()}
    erased: list[str] = []
    for user in users:
        relations = store.relations(user)
        for relation in relations:
            if not gone & set(relation.sources):
                continue
            remaining = [s for s in relation.sources if s not in gone]
            if remaining:
                store.put_relation(dataclasses.replace(relation, sources=remaining))
            else:
                erased.append(relation.id)
        for relation in relations:
            if relation.superseded_by in erased and relation.id not in erased:
                store.put_relation(dataclasses.replace(relation, valid_to=None, superseded_by=None))
    store.delete_relations(erased)
    return erased


def prune(store: Store, entity_ids: Sequence[str]) -> list[str]:
    """After memories were forgotten or edited, for the entities they mentioned:
    one that no memory mentions any more goes (with its edges), and so do aliases
    no remaining memory uses, unless the user gave them. The user's own entity
    goes when no relation is left to it. Returns the ids of the erased entities."""
    erased: list[str] = []
    for entity in store.entities(None, entity_ids):
        if entity.kind == "self":
            if not store.relations(entity.user, [entity.id]):
                erased.append(entity.id)
            continue
        if entity.memories == 0:
            erased.append(entity.id)
            continue
        mentions = [m for m, _ in store.links(entity_ids=[entity.id])]
        texts = "\n".join(r.text for r in store.get_many(mentions).values())

        aliases = [a for a in entity.aliases if _said(a, texts)]
        name = entity.name
        if name not in entity.pinned and not _said(name, texts):  # its name left with the forgotten note
            name = (aliases or entity.pinned or [name])[0]
            aliases = [a for a in aliases if a != name]
        if aliases != entity.aliases or name != entity.name:
            store.put_entity(dataclasses.replace(entity, name=name, aliases=aliases, updated_at=now_str()))
    store.delete_entities(erased)
    return erased


def _said(name: str, text: str) -> bool:
    """Whether `text` names `name`, by the linker's rules."""
    return bool(Linker([Entity("", "", name, "thing")]).find(text))


def affected(store: Store, memory_ids: Sequence[str]) -> list[str]:
    """The entities that forgetting or editing these memories may change: those they
    mention, and the user's own entity when one of its relations came from them."""
    ids = [e for _, e in store.links(memory_ids=memory_ids)]
    users = {r.user for r in store.get_many(list(memory_ids)).values()}
    ids += [e.id for user in users for e in store.entities(user) if e.kind == "self"]
    return list(dict.fromkeys(ids))


# -- what the commands do ----------------------------------------------------------------


def find(store: Store, user: str, name: str) -> Entity:
    """The entity a person means by `name`: an id, a name or an alias (any case)."""
    known = store.entities(user)
    for entity in known:
        if entity.id == name:
            return entity
    folded = name.strip().casefold()
    if folded in ("me", "myself", "i", USER):
        for entity in known:
            if entity.kind == "self":
                return entity
    matches = [e for e in known if e.name.casefold() == folded] or [
        e for e in known if folded in {n.casefold() for n in e.names}
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(f"{e.name} ({e.id})" for e in matches)
        raise InputError(f"{name!r} names {len(matches)} entities: {listed}; give an id")
    raise NotFound(f"no entity called {name!r} (mem entities lists them)")


@dataclass
class About:
    """`mem about NAME`: the entity, its current relations, the ended ones, and the
    memories that mention it (a timeline, oldest first)."""

    entity: Entity
    relations: list[tuple[Relation, Entity, Entity]]  # current, with their entities
    ended: list[tuple[Relation, Entity, Entity]]
    memories: list[MemoryRecord]

    def to_dict(self) -> dict[str, Any]:
        def edge(item: tuple[Relation, Entity, Entity]) -> dict[str, Any]:
            relation, subject, obj = item
            return {**relation.to_dict(), "subject_name": subject.name, "object_name": obj.name}

        return {
            "entity": self.entity.to_dict(),
            "relations": [edge(r) for r in self.relations],
            "ended": [edge(r) for r in self.ended],
            "memories": [m.to_dict() for m in self.memories],
        }


def about(store: Store, entity: Entity, *, limit: int | None = None) -> About:
    relations = store.relations(entity.user, [entity.id])
    entities = {e.id: e for e in store.entities(entity.user)}
    edges = [
        (r, entities[r.subject], entities[r.object])
        for r in relations
        if r.subject in entities and r.object in entities
    ]
    filters = Filters(user=entity.user, about=[entity.id])
    memories = store.select(filters, order="oldest", limit=limit)
    return About(entity, [e for e in edges if e[0].current], [e for e in edges if not e[0].current], memories)


def rename(store: Store, entity: Entity, name: str) -> Entity:
    name = " ".join(name.split())
    if not name:
        raise InputError("the new name is empty")
    old = entity.name
    aliases = [a for a in [*entity.aliases, old] if a.casefold() != name.casefold()]
    changed = dataclasses.replace(
        entity,
        name=name,
        aliases=list(dict.fromkeys(aliases)),
        pinned=list(dict.fromkeys([*entity.pinned, name])),
        updated_at=now_str(),
    )
    with store.transaction():
        store.put_entity(changed)
        backfill(store, changed)
    return changed


def merge(store: Store, keep: Entity, others: Sequence[Entity]) -> Entity:
    """One entity from several: `keep` takes the others' names, mentions and edges."""
    others = [o for o in others if o.id != keep.id]
    if not others:
        raise InputError("give two different entities to merge")
    names = [*keep.aliases, *(n for o in others for n in o.names)]
    merged = dataclasses.replace(
        keep,
        aliases=[n for n in dict.fromkeys(names) if n.casefold() != keep.name.casefold()],
        pinned=list(dict.fromkeys([*keep.pinned, *(n for o in others for n in o.names)])),
        updated_at=now_str(),
    )
    gone = {o.id for o in others}
    with store.transaction():
        store.put_entity(merged)
        store.link([(m, keep.id) for m, _ in store.links(entity_ids=list(gone))])
        for relation in store.relations(keep.user, list(gone)):
            subject = keep.id if relation.subject in gone else relation.subject
            obj = keep.id if relation.object in gone else relation.object
            if subject != obj:
                store.put_relation(dataclasses.replace(relation, subject=subject, object=obj))
        store.delete_entities(list(gone))
    [merged] = store.entities(keep.user, [keep.id])
    return merged


@dataclass
class EntityForgetReport:
    entity: str
    name: str
    relations: int
    memories: list[str]  # the memories forgotten with it (with --memories)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def forget(memory: Any, entity: Entity, *, memories: bool = False) -> EntityForgetReport:
    """Erase an entity, its aliases and its relations (with `memories`, the memories
    that mention it too, and what was made from them: memcli.provenance)."""
    from . import provenance

    store = memory.store
    mentioned = [m for m, _ in store.links(entity_ids=[entity.id])]
    edges = len(store.relations(entity.user, [entity.id]))
    store.delete_entities([entity.id])  # first: a failure below leaves the memories, not the name
    forgotten = provenance.forget(store, mentioned).forgotten if memories and mentioned else []
    store.scrub()
    return EntityForgetReport(entity.id, entity.name, edges, forgotten)


# -- export and import -------------------------------------------------------------------

EXPORT_TYPES = ("entity", "relation", "profile")


def export(store: Store, user: str | None) -> Iterable[dict[str, Any]]:
    """The lines of `mem export` after the memories: {"type": "entity"} with the ids
    of the memories that mention it ("mentions"), {"type": "relation"}, {"type": "profile"}."""
    from .records import ProfileEntry  # noqa: F401  (the type of the profile lines)

    for entity in store.entities(user):
        data = entity.to_dict()
        data.pop("memories")
        mentions = [m for m, _ in store.links(entity_ids=[entity.id])]
        yield {"type": "entity", **data, "mentions": mentions}
    for relation in store.relations(user):
        yield {"type": "relation", **relation.to_dict()}
    for entry in store.profile_entries(user):
        yield {"type": "profile", **entry.to_dict()}


def _text(data: dict[str, Any], key: str, where: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise InputError(f"{where}'{key}' must be a non-empty string")
    return value


def _strings(data: dict[str, Any], key: str, where: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{where}'{key}' must be a list of strings")
    return list(value)


def from_export(data: dict[str, Any], line: int = 0) -> tuple[str, Any, list[str]]:
    """An entity, relation or profile line of an export, validated: (type, record, mentions)."""
    from .records import PROFILE_ORIGINS, ProfileEntry
    from .timeparse import parse_time

    where = f"line {line}: " if line else ""
    kind = data["type"]
    try:
        if kind == "entity":
            if data.get("kind") not in ENTITY_KINDS:
                raise InputError(f"{where}'kind' must be one of {', '.join(ENTITY_KINDS)}")
            entity = Entity(
                _text(data, "id", where),
                data.get("user") or "",
                _text(data, "name", where),
                data["kind"],
                _strings(data, "aliases", where),
                _strings(data, "pinned", where),
                parse_time(data.get("created_at") or now_str()),
                parse_time(data.get("updated_at") or data.get("created_at") or now_str()),
            )
            return kind, entity, _strings(data, "mentions", where)
        if kind == "relation":
            relation = Relation(
                _text(data, "id", where),
                data.get("user") or "",
                _text(data, "subject", where),
                _text(data, "predicate", where),
                _text(data, "object", where),
                parse_time(_text(data, "valid_from", where)),
                parse_time(data["valid_to"]) if data.get("valid_to") else None,
                _text(data, "superseded_by", where, optional=True),
                _strings(data, "sources", where),
                parse_time(data.get("created_at") or data["valid_from"]),
            )
            return kind, relation, []
        if data.get("origin") not in PROFILE_ORIGINS:
            raise InputError(f"{where}'origin' must be one of {', '.join(PROFILE_ORIGINS)}")
        entry = ProfileEntry(
            _text(data, "id", where),
            data.get("user") or "",
            _text(data, "field", where),
            _text(data, "value", where),
            data["origin"],
            parse_time(_text(data, "set_at", where)),
            parse_time(data["valid_to"]) if data.get("valid_to") else None,
            _strings(data, "sources", where),
        )
        return kind, entry, []
    except InputError as exc:
        message = str(exc)
        raise InputError(
            message if message.startswith("line ") or not where else f"{where}{message}"
        ) from None


def restore(
    store: Store, graph: Sequence[tuple[str, Any, list[str]]], user: str, renamed: dict[str, str]
) -> int:
    """Store the entities, relations and profile entries of a backup: what has an id
    the store already holds is left as it is. Returns how many were added."""
    added = 0
    with store.transaction():
        have = {e.id for e in store.entities(None)}
        relations = {r.id for r in store.relations(None)}
        entries = {e.id for e in store.profile_entries(None)}
        for kind, record, mentions in graph:
            record = dataclasses.replace(record, user=record.user or user)
            if kind == "entity" and record.id not in have:
                store.put_entity(record)
                have.add(record.id)
                store.link([(renamed.get(m, m), record.id) for m in mentions])
                added += 1
            elif (
                kind == "relation" and record.id not in relations and {record.subject, record.object} <= have
            ):
                store.put_relation(
                    dataclasses.replace(record, sources=[renamed.get(s, s) for s in record.sources])
                )
                added += 1
            elif kind == "profile" and record.id not in entries:
                store.put_profile_entry(
                    dataclasses.replace(record, sources=[renamed.get(s, s) for s in record.sources])
                )
                added += 1
    return added


def learn_plain(store: Store, records: Sequence[MemoryRecord]) -> int:
    """Consolidation's entity step without the model, over stored memories: the plain
    patterns of each (a transcript's speakers among them), stored and linked. Returns
    how many entities there are after. For bulk loads (bench/locomo.py) where running
    the model over every memory is not wanted."""
    with store.transaction():
        for record in records:
            found = plain_patterns(record.text, transcript=record.doc_id is not None)
            if found.names:
                apply(store, record, found)
    return len(store.entities(records[0].user)) if records else 0
