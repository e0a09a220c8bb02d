"""What the core needs from a storage backend: the `Store` protocol and its `Capabilities`.

`memcli.memory`, `memcli.search`, `memcli.provenance` and `memcli.consolidate`
reach storage only through these methods, so another backend (PostgreSQL with
pgvector, for a memory shared across machines) implements this and nothing
else; `memcli.store.open_store` picks the backend from the location.
`SQLiteStore` is the embedded default; mypy checks that it conforms, and
tests/test_store_contract.py runs one suite against every backend.

The contract:

- A memory is a `MemoryRecord` (memcli.records, the one definition of its
  fields); it goes in as a `NewRow` and changes through a typed `Patch` or
  `update_text`. Memories are addressed by `id` (short, stable, printable).
  Each also has a `seq`, an integer the store gives in the order memories are
  stored: search candidates carry it to break ties (older first), and the
  merge pass of consolidation keeps its place with it (`records_after`).
- A backend keeps three things in step in every write: the rows, a full-text
  index and a vector index of unit vectors. Every score it returns is higher
  is better: full-text relevance in [0, 1] (`relevance`), cosine similarity.
- Queries are `Filters` (memcli.records): one `select` instead of a method per
  caller. Times are ISO 8601 UTC strings, compared as text.
- Deleting a memory erases its text for good, history included; how soon the
  bytes are gone from disk is a capability (`Capabilities.erasure`).
- Errors come out as memcli's own classes (memcli.errors): `StoreError` for
  the storage (exit status 5), `NotFound`, `InputError`, `ModelError`; never a
  driver's exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np

    from ..records import (
        ChatSession,
        Entity,
        Filters,
        GroupColumn,
        HistoryEntry,
        MemoryRecord,
        NewRow,
        Order,
        Patch,
        ProfileEntry,
        Relation,
        Scored,
    )


def relevance(ratio: float) -> float:
    """A full-text score in [0, 1] from BM25 over what the query could attain.

    `ratio` is a memory's BM25 divided by the BM25 a memory of average length
    would get holding each query word once in its own text (the sum of the
    words' IDFs, each backend by its own formula). tanh keeps the order and
    bounds it: a memory holding the query's one common word scores near 0, one
    holding all its words about 0.76, a short one holding them, or one whose
    thread neighbours hold them too, nearer 1. Unlike a score divided by the
    best match found, it does not call the best of weak matches a perfect one.
    """
    import math

    return math.tanh(max(ratio, 0.0))


@dataclass(frozen=True)
class Capabilities:
    """What differs between backends, for the commands that tell the user about it."""

    backend: str  # "sqlite" or "postgresql"
    # How a delete erases: "overwrites" (the text is overwritten where it was
    # stored; a copy may wait in a write-ahead log until `scrub` empties it), or
    # "vacuum" (the old rows stay on disk until the database vacuums them).
    erasure: Literal["overwrites", "vacuum"]
    scrub: bool  # `scrub` can be asked for (mem forget --scrub)
    encrypted: bool  # encrypted at rest by memcli
    vector_index: str  # how nearest vectors are found, for people to read

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Probe(NamedTuple):
    """One check of what a backend needs from the machine (mem doctor)."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


class Store(Protocol):
    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def traces_left(self) -> bool:
        """After a delete: whether the erased text may still be readable in storage
        (until `scrub` completes, or the database vacuums)."""
        ...

    # -- lifecycle and settings ------------------------------------------------

    def close(self) -> None: ...

    def snapshot(self) -> Store:
        """A private, throw-away copy of the whole store to try changes on (a dry run)."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """Several of this store's writes as one: all of them or none. Nests."""
        ...

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Hold the store's lock `name` ("consolidate") for the block: Busy (exit status 7)
        when another process holds it. Freed if the process dies."""
        ...

    def setting(self, key: str) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...

    def embedding_space(self) -> tuple[str, int] | None:
        """(model name, dimension) the stored vectors were made with, if any."""
        ...

    def check_embedding_space(self, model: str, dim: int | None = None) -> None:
        """ModelError when the stored vectors were made with another model or dimension."""
        ...

    # -- writing ---------------------------------------------------------------

    def existing_hashes(self, user: str, kind: str, hashes: Sequence[str]) -> dict[str, str]:
        """content_hash -> id of memories of this kind this user already has (chat turns aside)."""
        ...

    def insert(self, rows: Sequence[NewRow], vectors: np.ndarray, model: str) -> list[tuple[str, str]]:
        """Store rows with their vectors (one per row) and history in one transaction.

        (id, status) per row: "added", or "exists" when the same text is already
        stored for that user and kind (or the row's preset id is taken).
        """
        ...

    def update_text(
        self, memory_id: str, text: str, content_hash: str, vector: np.ndarray, model: str
    ) -> None:
        """Replace a memory's text and vector; the previous text goes to history."""
        ...

    def patch(self, memory_id: str, changes: Patch) -> None:
        """Change fields of one memory (not its text: see update_text); NotFound if there is none."""
        ...

    def add_tags(self, memory_id: str, tags: Sequence[str]) -> None: ...

    def remove_tags(self, memory_id: str, tags: Sequence[str]) -> None:
        """Take these tags off a memory (one it does not have is no error)."""
        ...

    def add_history(self, memory_id: str, text: str, changed_at: str) -> None:
        """Keep a text the memory absorbed (a merged duplicate) in its history."""
        ...

    def clear_history(self, memory_id: str) -> None:
        """Erase a memory's older texts (its current text stays)."""
        ...

    def delete(self, memory_ids: Iterable[str]) -> int:
        """Delete memories with their index entries, tags and history, and erase them (see scrub).

        What named them lets go: `superseded_by` and `digest_id` pointing at them
        are cleared, and a chat session left without turns goes too.
        """
        ...

    def scrub(self, wait_ms: int = 3000) -> bool:
        """Make deleted text unreadable in storage, waiting up to `wait_ms` for
        other readers; True when nothing is left (`traces_left` is then False)."""
        ...

    def touch_recalled(self, memory_ids: Sequence[str], now: str) -> None:
        """Count that these memories were recalled. A lost count costs nothing: a
        backend may make this write cheap (no fsync), or skip it when it would wait."""
        ...

    def texts_for_reindex(self) -> list[tuple[str, str]]:
        """(id, text) of every memory, in the order stored."""
        ...

    def replace_all_vectors(
        self,
        items: Sequence[tuple[str, str]],
        vectors: np.ndarray,
        model: str,
        dim: int,
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        """Swap in a whole new embedding space at once (after `mem reindex`): `items`
        are the (id, text) the vectors were made from; memories changed since are
        embedded again with `embed`, inside the swap."""
        ...

    # -- reading one memory ----------------------------------------------------

    def id_exists(self, memory_id: str) -> bool: ...

    def resolve_id(self, id_or_prefix: str, user: str | None = None) -> str:
        """A full id, or a unique prefix of at least 4 characters, -> the full id
        (NotFound otherwise); with `user`, only that user's memories count."""
        ...

    def get(self, id_or_prefix: str, user: str | None = None) -> MemoryRecord: ...

    def get_many(self, memory_ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """id -> record of those of these ids that exist."""
        ...

    def history(self, id_or_prefix: str) -> tuple[MemoryRecord, list[HistoryEntry]]:
        """The memory and its texts, oldest first, the current one last."""
        ...

    def histories(self, memory_ids: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        """id -> the older texts of that memory, oldest first; ids without any are left out."""
        ...

    def vector_of(self, memory_id: str) -> np.ndarray | None: ...

    # -- search: every score is higher-is-better ------------------------------

    def fts_search(self, terms: Sequence[str], filters: Filters, limit: int) -> list[Scored]:
        """Memories with any of `terms` (plain words, never query syntax), best
        first, scored by full-text relevance in [0, 1] (`relevance`)."""
        ...

    def vector_search(self, query: np.ndarray, filters: Filters, limit: int) -> list[Scored]:
        """The memories nearest the query vector, best first, scored by cosine similarity.
        A narrow filter never hides a match."""
        ...

    def similarities(self, memory_ids: Sequence[str], query: np.ndarray) -> dict[str, float]:
        """Cosine of the query with the stored vectors of these (already filtered) memories."""
        ...

    def ranking_facts(self, memory_ids: Sequence[str]) -> dict[str, tuple[int, str, str | None, str | None]]:
        """id -> (importance, occurred_at, last_recalled_at, valid_to), what ranking weighs."""
        ...

    def places(self, memory_ids: Sequence[str]) -> dict[str, tuple[str | None, int | None, str]]:
        """id -> (doc_id, chunk, occurred_at): where each memory stands among its neighbours."""
        ...

    def neighbours(
        self, memory_ids: Sequence[str], filters: Filters, span: int, seconds: int
    ) -> dict[str, int]:
        """id -> seq of the memories that pass `filters` and stand next to one of these: within
        `span` turns in its thread, or, when neither has a thread, stored within `span` of it
        and within `seconds` of its time (the memories themselves included)."""
        ...

    # -- listing ---------------------------------------------------------------

    def select(
        self, filters: Filters, *, order: Order = "stored", limit: int | None = None
    ) -> list[MemoryRecord]:
        """The memories that pass the filters, in `order` (at most `limit`)."""
        ...

    def select_ids(self, filters: Filters) -> list[str]:
        """Ids of the memories that pass the filters, in the order stored."""
        ...

    def iter_records(self, filters: Filters, batch: int = 1000) -> Iterator[MemoryRecord]:
        """`select` in the order stored, without holding every memory in memory."""
        ...

    def records_after(self, seq: int, user: str | None) -> list[tuple[int, MemoryRecord]]:
        """(seq, record) of the memories stored after `seq` (of `user`; None: every
        user), in the order stored: the new work of a merge pass."""
        ...

    def thread(
        self, user: str, doc_id: str, *, after_chunk: int = 0, limit: int | None = None
    ) -> list[MemoryRecord]:
        """The memories of a thread in order, from chunk `after_chunk` + 1 on (at most `limit`)."""
        ...

    def next_chunk(self, user: str, doc_id: str) -> int: ...

    # -- chat sessions ---------------------------------------------------------

    def chat_sessions(self, user: str | None, name: str | None = None) -> list[ChatSession]:
        """The chat sessions of `user` (every user when None), by user, then as created;
        with `name`, that one session (or none)."""
        ...

    def save_chat_session(self, user: str, name: str, summary: str, summarized_through: int) -> None: ...

    def restore_chat_session(self, session: ChatSession) -> bool:
        """Store an exported session as it was, times included; False (and nothing
        changed) when this user already has a session of that name."""
        ...

    # -- entities, relations, the profile (memcli.entities; rows in graph_rows.py) --

    def entities(self, user: str | None, ids: Sequence[str] | None = None) -> list[Entity]:
        """Entities of `user` (every user when None), oldest first, each with how many
        memories mention it; only those of `ids` when given."""
        ...

    def put_entity(self, entity: Entity) -> None:
        """Store an entity, or change the one with its id."""
        ...

    def delete_entities(self, ids: Sequence[str]) -> int:
        """Erase entities, their mentions and every relation they are in."""
        ...

    def link(self, pairs: Sequence[tuple[str, str]]) -> int:
        """(memory id, entity id): the memory mentions the entity. Returns the new links."""
        ...

    def unlink(self, pairs: Sequence[tuple[str, str]]) -> int: ...

    def links(
        self, *, memory_ids: Sequence[str] | None = None, entity_ids: Sequence[str] | None = None
    ) -> list[tuple[str, str]]:
        """(memory id, entity id) of the mentions of these memories, or of these entities."""
        ...

    def relations(self, user: str | None, entity_ids: Sequence[str] | None = None) -> list[Relation]:
        """Relations (current and ended) in the order they began; with `entity_ids`,
        those whose subject or object is one of them."""
        ...

    def put_relation(self, relation: Relation) -> None: ...

    def delete_relations(self, ids: Sequence[str]) -> int: ...

    def profile_entries(self, user: str | None) -> list[ProfileEntry]:
        """Every value every profile field had, by field, oldest first."""
        ...

    def put_profile_entry(self, entry: ProfileEntry) -> None: ...

    def delete_profile_entries(self, ids: Sequence[str]) -> int: ...

    # -- health ----------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """rows, full_text, vectors, vector_index (entries of each index), history, expired."""
        ...

    def group_counts(self, column: GroupColumn) -> dict[str, int]: ...

    def ids_starting(self, prefix: str, user: str, limit: int) -> list[tuple[str, str]]:
        """(id, the start of its text) of this user's memories whose id starts with
        `prefix`, at most `limit`; the newest first when no prefix is given."""
        ...

    def tag_counts(self, filters: Filters) -> list[tuple[str, int]]:
        """(tag, how many memories that pass the filters have it), most used first, then by name."""
        ...

    def size(self) -> int:
        """Bytes the store takes on disk (0 when the backend cannot tell)."""
        ...

    def health(self) -> dict[str, list[str]]:
        """Each check of the storage and its indexes -> what it found wrong (nothing: it passed)."""
        ...

    def integrity_problems(self) -> list[str]:
        """What `health` finds wrong, as one list."""
        ...
