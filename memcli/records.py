"""The data the core returns: plain dataclasses, rendered by the CLI as tables or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("episodic", "semantic", "procedural")


@dataclass
class MemoryRecord:
    id: str
    text: str
    kind: str
    user: str
    tags: list[str]
    importance: int
    created_at: str
    occurred_at: str
    updated_at: str | None
    expires_at: str | None
    source: str | None
    doc_id: str | None
    chunk: int | None
    meta: dict[str, Any]
    content_hash: str
    embed_model: str | None
    embed_dim: int | None
    # Consolidation (mem consolidate): where a fact came from, whether it still holds.
    sources: list[str] = field(default_factory=list)  # ids of the memories it was derived from
    valid_to: str | None = None  # set when a newer fact superseded this one
    superseded_by: str | None = None
    consolidated_at: str | None = None  # episodes: when their facts were extracted
    recalled: int = 0  # times returned by mem recall / ask / chat
    last_recalled_at: str | None = None
    digest_id: str | None = None  # episodes: the digest that summarises them
    # Who said it: "user" (notes, the user's chat messages) or "assistant" (the model's replies in chat).
    role: str = "user"
    # Set when a memory this one was derived from was edited: not current until
    # the next consolidation has checked it against the new text.
    unverified_at: str | None = None

    @property
    def current(self) -> bool:
        return self.valid_to is None and self.unverified_at is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    include_expired: bool = False
    # Leave out what is no longer current: facts a newer one superseded, episodes
    # outdated by that, and facts whose source was edited since they were derived.
    current_only: bool = False
    # The assistant's replies in chat count only when asked for: they are not the user's word.
    include_assistant: bool = False


@dataclass
class Hit:
    record: MemoryRecord
    score: float
    fts_rank: int | None = None
    vector_rank: int | None = None
    bm25: float | None = None
    similarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.record.to_dict()
        data.update(
            score=round(self.score, 6),
            fts_rank=self.fts_rank,
            vector_rank=self.vector_rank,
            bm25=None if self.bm25 is None else round(self.bm25, 6),
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

    @property
    def indexes_ok(self) -> bool:
        return self.memories == self.fts_rows == self.vector_rows == self.vec_index_rows

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["indexes_ok"] = self.indexes_ok
        return data
