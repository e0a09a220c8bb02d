"""The data the core returns: plain dataclasses, rendered by the CLI as tables or JSON.

`MemoryRecord` is the one definition of a memory's fields: the store's columns,
the JSON of an export, an import's checks and the MCP tools' short view are all
derived from it (`MEMORY_FIELDS`, `TIME_FIELDS`, `BRIEF_FIELDS`). A new field is
added here and in a schema migration of each backend.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, fields
from dataclasses import field as _field  # ProfileEntry has a `field` of its own
from typing import Any, Literal, NamedTuple, TypedDict

KINDS = ("episodic", "semantic", "procedural")
CHAT_THREAD_PREFIX = "chat:"  # doc_id of a chat session's turns
ID_LENGTH = 8
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def thread_slot(doc_id: str | None, chunk: int | None) -> str:
    """A memory's place in its identity (the backends' THREAD_SLOT in SQL): a chat turn's
    place in its session, else '' (the same text of a user and kind is one memory)."""
    if doc_id is not None and doc_id.startswith(CHAT_THREAD_PREFIX):
        return f"{doc_id}#{chunk or 0}"
    return ""


def new_id() -> str:
    """A new memory id (or thread id): short, printable, random."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))


# Field metadata: "time" (an ISO 8601 UTC time, parsed on input), "brief" (its
# place in the short view of a memory that the MCP tools return).
_TIME = {"time": True}


def _brief(place: int, *, time: bool = False) -> dict[str, Any]:
    return {"brief": place, "time": time}


@dataclass
class MemoryRecord:
    id: str = field(metadata=_brief(1))
    text: str = field(metadata=_brief(2))
    kind: str = field(metadata=_brief(3))
    user: str
    tags: list[str] = field(metadata=_brief(4))
    importance: int = field(metadata=_brief(5))
    created_at: str = field(metadata=_brief(7, time=True))
    occurred_at: str = field(metadata=_brief(6, time=True))
    updated_at: str | None = field(metadata=_TIME)
    expires_at: str | None = field(metadata=_brief(8, time=True))
    source: str | None
    doc_id: str | None
    chunk: int | None
    meta: dict[str, Any]
    content_hash: str
    embed_model: str | None
    embed_dim: int | None
    # Consolidation (mem consolidate): where a fact came from, whether it still holds.
    sources: list[str] = field(default_factory=list)  # ids of the memories it was derived from
    # Set when a newer fact superseded this one.
    valid_to: str | None = field(default=None, metadata=_brief(9, time=True))
    superseded_by: str | None = None
    # Episodes: when their facts were extracted.
    consolidated_at: str | None = field(default=None, metadata=_TIME)
    recalled: int = 0  # times returned by mem recall / ask / chat
    last_recalled_at: str | None = field(default=None, metadata=_TIME)
    digest_id: str | None = None  # episodes: the digest that summarises them
    # Who said it: "user" (notes, the user's chat messages) or "assistant" (the model's replies in chat).
    role: str = "user"
    # Set when a memory this one was derived from was edited: not current until
    # the next consolidation has checked it against the new text.
    unverified_at: str | None = field(default=None, metadata=_TIME)

    @property
    def current(self) -> bool:
        return self.valid_to is None and self.unverified_at is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MEMORY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MemoryRecord))
FIELD_TYPES: dict[str, str] = {f.name: str(f.type) for f in fields(MemoryRecord)}
TIME_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MemoryRecord) if f.metadata.get("time"))
BRIEF_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in sorted(fields(MemoryRecord), key=lambda f: f.metadata.get("brief", 0))
    if f.metadata.get("brief")
)
# Never given by a caller (NewMemory): the core hashes the text, the store records the embedding model.
STORE_FIELDS = ("content_hash", "embed_model", "embed_dim")


class Patch(TypedDict, total=False):
    """The fields `Store.patch` may change, with their types (each one a MemoryRecord
    field of the same type; a memory's text changes through `Store.update_text`)."""

    importance: int
    kind: str
    sources: list[str]
    valid_to: str | None
    superseded_by: str | None
    consolidated_at: str | None
    recalled: int
    digest_id: str | None
    updated_at: str | None
    expires_at: str | None
    unverified_at: str | None


UPDATABLE: frozenset[str] = frozenset(Patch.__annotations__)

# What `Store.group_counts` counts memories by.
GroupColumn = Literal["kind", "user"]
# The orders `Store.select` lists memories in: "stored" (the order they were
# stored in), "oldest" / "newest" (by occurred_at, then the order stored).
Order = Literal["stored", "oldest", "newest"]


@dataclass
class NewRow:
    """A memory for `Store.insert`: the record as it is to be stored, and its older texts.

    An empty `record.id` asks the store for a new one; `embed_model` and
    `embed_dim` are the store's to set.
    """

    record: MemoryRecord
    history: list[HistoryEntry] = field(default_factory=list)


class Scored(NamedTuple):
    """A search candidate: a memory by id, its score (higher is better, from every
    backend), and `seq`, the store's order of storing (older first), which breaks ties."""

    id: str
    score: float
    seq: int


@dataclass
class NewMemory:
    """What a caller asks to store; the core fills in ids, hashes and times."""

    text: str
    kind: str = "episodic"
    tags: list[str] = field(default_factory=list)
    importance: int = 3
    occurred_at: str | None = None
    expires_at: str | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    # Set by imports, which preserve them.
    id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    doc_id: str | None = None
    chunk: int | None = None
    sources: list[str] = field(default_factory=list)
    valid_to: str | None = None
    superseded_by: str | None = None
    consolidated_at: str | None = None
    recalled: int = 0
    last_recalled_at: str | None = None
    digest_id: str | None = None
    role: str = "user"
    unverified_at: str | None = None
    # The memory's older texts, oldest first (an import restores them).
    history: list[HistoryEntry] = field(default_factory=list)


ROLES = ("user", "assistant")


@dataclass
class RememberResult:
    id: str
    status: str  # "added" or "exists" (the same text was already stored for this user)
    text: str
    doc_id: str | None = None
    chunk: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Filters:
    user: str | None = None  # None: every user
    kinds: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # a memory must carry all of them
    since: str | None = None  # occurred_at >= since
    until: str | None = None  # occurred_at < until
    valid_at: str | None = None  # only what was still valid then: valid_to is None or after it
    include_expired: bool = False
    # Leave out what is no longer current: facts a newer one superseded, episodes
    # outdated by that, and facts whose source was edited since they were derived.
    current_only: bool = False
    # The assistant's replies in chat count only when asked for: they are not the user's word.
    include_assistant: bool = False
    # Conditions of the core's own passes (consolidation, forget); the defaults add none.
    words: list[str] = field(default_factory=list)  # the text holds every one of them
    expired_only: bool = False  # expires_at has passed (whatever include_expired says)
    pending_facts: bool = False  # facts never extracted, or the text changed since
    consolidated: bool | None = None  # consolidated_at set (True) or not (False)
    digested: bool | None = None  # digest_id set (True) or not (False)
    without_tags: list[str] = field(default_factory=list)  # a memory must carry none of them
    min_recalled: int | None = None  # recalled at least this many times
    superseded_by: str | None = None  # the facts this memory replaced
    derived_from: list[str] | None = None  # `sources` names one of these ids ([]: none does)
    about: list[str] = field(default_factory=list)  # entity ids: a memory must mention every one


@dataclass
class Hit:
    record: MemoryRecord
    score: float
    fts_rank: int | None = None
    vector_rank: int | None = None
    relevance: float | None = None  # the full-text score, in [0, 1]
    similarity: float | None = None  # the cosine similarity, in [0, 1] (below 0 counts 0)

    def to_dict(self) -> dict[str, Any]:
        data = self.record.to_dict()
        data.update(
            score=round(self.score, 6),
            fts_rank=self.fts_rank,
            vector_rank=self.vector_rank,
            relevance=None if self.relevance is None else round(self.relevance, 6),
            similarity=None if self.similarity is None else round(self.similarity, 6),
        )
        return data


@dataclass
class HistoryEntry:
    text: str
    changed_at: str
    current: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChatSession:
    """A named chat session's working memory; its turns are the memories of the
    thread `chat:<name>`."""

    user: str
    name: str
    summary: str  # what the turns up to `summarized_through` said
    summarized_through: int  # the last chunk the summary covers (0: none)
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Stats:
    path: str
    file_size: int
    memories: int
    by_kind: dict[str, int]
    by_user: dict[str, int]
    expired: int
    embed_model: str | None
    embed_dim: int | None
    configured_model: str | None
    fts_rows: int
    vector_rows: int
    vec_index_rows: int
    history_rows: int
    encrypted: bool = False  # a SQLCipher store (memcli.store.encryption)
    backend: str = "sqlite"  # Capabilities.backend

    @property
    def indexes_ok(self) -> bool:
        return self.memories == self.fts_rows == self.vector_rows == self.vec_index_rows

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["indexes_ok"] = self.indexes_ok
        return data


# -- entities, relations and the profile (memcli.entities) ------------------------

# What an entity is: "self" is the user themself (one per user).
ENTITY_KINDS = ("person", "pet", "place", "organisation", "thing", "self")


@dataclass
class Entity:
    """Someone or something the memories are about, by its names.

    `aliases` are the other names it goes by in the memories ("Ana Silva", "my
    sister"); `pinned` are the names the user gave it (rename, merge), which stay
    whatever is forgotten. `memories` counts the memories that mention it.
    """

    id: str
    user: str
    name: str
    kind: str
    aliases: list[str] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    memories: int = 0

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys([self.name, *self.aliases, *self.pinned]))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Relation:
    """A dated edge between two entities ("Ana" "lives in" "Porto"), made from the
    memories in `sources`; a newer relation of the same kind ends it (`valid_to`,
    `superseded_by`) without deleting it, as facts are superseded."""

    id: str
    user: str
    subject: str  # entity id
    predicate: str
    object: str  # entity id
    valid_from: str
    valid_to: str | None = None
    superseded_by: str | None = None
    sources: list[str] = field(default_factory=list)  # memory ids
    created_at: str = ""

    @property
    def current(self) -> bool:
        return self.valid_to is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# How a profile value came to be: the user set it, or consolidation derived it.
PROFILE_ORIGINS = ("set", "derived")


@dataclass
class ProfileEntry:
    """One value of a profile field over a span of time: the current value has no
    `valid_to`; older values are the field's history."""

    id: str
    user: str
    field: str
    value: str
    origin: str  # "set" or "derived"
    set_at: str
    valid_to: str | None = None
    sources: list[str] = _field(default_factory=list)  # memory ids (derived values)

    @property
    def current(self) -> bool:
        return self.valid_to is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
