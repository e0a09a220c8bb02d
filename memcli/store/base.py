"""What the core needs from a storage backend: the `Store` protocol.

`memcli.memory`, `memcli.search` and `memcli.consolidate` reach storage only
through these methods, so another backend (PostgreSQL with pgvector, for a
memory shared across machines) implements this and nothing else.
`SQLiteStore` is the embedded default; mypy checks that it conforms.

A backend keeps three things in step in every write: the rows, a full-text
index (BM25-like scores, lower is better, as FTS5 gives) and a vector index
of unit vectors. Memories are addressed by `id` (short, stable, printable)
and, inside one store, by `seq` (an increasing integer). Times are ISO 8601
UTC strings. Deleting a memory erases its text for good, history included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from ..records import ChatSession, Filters, HistoryEntry, MemoryRecord


class Store(Protocol):
    traces_left: bool  # after a delete: forgotten text may still be readable (see scrub)

    @property
    def encrypted(self) -> bool:
        """Whether the store is encrypted at rest."""
        ...

    # -- lifecycle and settings ------------------------------------------------

    def close(self) -> None: ...

    def snapshot(self) -> Store:
        """A private, throw-away copy of the whole store to try changes on (a dry run)."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """Several of this store's writes as one: all of them or none."""
        ...

    def setting(self, key: str) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...

    def embedding_space(self) -> tuple[str, int] | None:
        """(model name, dimension) the stored vectors were made with, if any."""
        ...

    def check_embedding_space(self, model: str, dim: int | None = None) -> None: ...

    # -- writing ---------------------------------------------------------------

    def existing_hashes(self, user: str, kind: str, hashes: Sequence[str]) -> dict[str, str]:
        """content_hash -> id of memories of this kind this user already has."""
        ...

    def insert(
        self, rows: Sequence[dict[str, Any]], vectors: np.ndarray, model: str
    ) -> list[tuple[str, str]]:
        """Store rows with their vectors in one transaction; a row's "history"
        (a list of HistoryEntry, oldest first) is stored with it."""
        ...

    def update_text(
        self, memory_id: str, text: str, content_hash: str, vector: np.ndarray, model: str
    ) -> None:
        """Replace a memory's text and vector; the previous text goes to history."""
        ...

    def set_fields(self, memory_id: str, **values: Any) -> None:
        """Change bookkeeping columns of one memory (not its text: see update_text)."""
        ...

    def add_tags(self, memory_id: str, tags: Sequence[str]) -> None: ...

    def add_history(self, memory_id: str, text: str, changed_at: str) -> None:
        """Keep a text the memory absorbed (a merged duplicate) in its history."""
        ...

    def delete(self, memory_ids: Iterable[str]) -> int:
        """Delete memories with their index entries, tags and history, then scrub traces."""
        ...

    def scrub(self, wait_ms: int = 3000) -> bool:
        """Make deleted text unreadable in the files; a delete not scrubbed yet is scrubbed at the next open."""
        ...

    def touch_recalled(self, memory_ids: Sequence[str], now: str) -> None:
        """Count that these memories were recalled. A lost count costs nothing, so this write skips the fsync every other write pays (WAL, synchronous=NORMAL)."""
        ...

    def replace_all_vectors(
        self,
        items: Sequence[tuple[int, str, str]],
        vectors: np.ndarray,
        model: str,
        dim: int,
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        """Swap in a whole new embedding space at once (after `mem reindex`)."""
        ...

    # -- reading one memory ----------------------------------------------------

    def id_exists(self, memory_id: str) -> bool: ...

    def resolve_id(self, id_or_prefix: str, user: str | None = None) -> str:
        """A full id, or a unique prefix of at least 4 characters, -> the full id."""
        ...

    def get(self, id_or_prefix: str, user: str | None = None) -> MemoryRecord: ...

    def history(self, id_or_prefix: str) -> tuple[MemoryRecord, list[HistoryEntry]]: ...

    def histories(self, memory_ids: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        """id -> the older texts of that memory, oldest first; ids without any are left out."""
        ...

    def vector_of(self, memory_id: str) -> np.ndarray | None: ...

    # -- search ----------------------------------------------------------------

    def fts_search(self, terms: Sequence[str], filters: Filters, limit: int) -> list[tuple[int, float]]:
        """(seq, bm25) of memories with any of `terms`, best first; bm25 is FTS5's score, lower is better."""
        ...

    def vector_search(
        self, query: np.ndarray, filters: Filters, limit: int, *, candidates: int = 400
    ) -> list[tuple[int, float]]:
        """(seq, cosine similarity) best first."""
        ...

    def similarities(self, seqs: Sequence[int], query: np.ndarray) -> dict[int, float]:
        """Cosine of the query with the stored vectors of these (already filtered) memories."""
        ...

    def ranking_facts(self, seqs: Sequence[int]) -> dict[int, tuple[int, str, str | None, str | None]]:
        """seq -> (importance, occurred_at, last_recalled_at, valid_to) for ranking."""
        ...

    def by_seq(self, seqs: Sequence[int]) -> dict[int, MemoryRecord]: ...

    # -- listing ---------------------------------------------------------------

    def iter_records(self, filters: Filters, batch: int = 1000) -> Iterator[MemoryRecord]:
        """Every matching memory, oldest first, without holding them all in memory."""
        ...

    def matching_ids(self, filters: Filters, *, words: Sequence[str] | None = None) -> list[str]:
        """Ids of the memories that pass the filters and contain every one of `words`."""
        ...

    def thread(
        self, user: str, doc_id: str, *, after_chunk: int = 0, limit: int | None = None
    ) -> list[MemoryRecord]:
        """The memories of a thread in order, from chunk `after_chunk` + 1 on (at most `limit`)."""
        ...

    def next_chunk(self, user: str, doc_id: str) -> int: ...

    def records_after(self, seq: int, user: str | None) -> list[tuple[int, MemoryRecord]]:
        """(seq, record) of memories stored after `seq`: the new work of a merge pass."""
        ...

    def max_seq(self) -> int: ...

    def texts_for_reindex(self) -> list[tuple[int, str, str]]: ...

    # -- consolidation ---------------------------------------------------------

    def pending_episodes(self, user: str | None, limit: int | None = None) -> list[MemoryRecord]:
        """Episodes whose facts were never extracted, or that changed since, oldest first."""
        ...

    def derived_from(self, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """The memories whose `sources` name any of these ids (facts, digests)."""
        ...

    def clear_history(self, memory_id: str) -> None:
        """Erase a memory's older texts (its current text stays)."""
        ...

    def superseded_by(self, memory_id: str) -> list[MemoryRecord]:
        """The facts this memory replaced."""
        ...

    def expired_ids(self, user: str | None, now: str) -> list[str]: ...

    def recalled_often(self, user: str | None, times: int) -> list[MemoryRecord]: ...

    def undigested_episodes(self, user: str | None, before: str) -> list[MemoryRecord]: ...

    # -- chat sessions ---------------------------------------------------------

    def chat_session(self, user: str, name: str) -> dict[str, Any] | None: ...

    def save_chat_session(self, user: str, name: str, summary: str, summarized_through: int) -> None: ...

    def chat_sessions(self, user: str) -> list[dict[str, Any]]: ...

    def chat_session_records(self, user: str | None) -> list[ChatSession]:
        """Every field of the chat sessions of `user` (of every user when None), for export."""
        ...

    def restore_chat_session(self, session: ChatSession) -> bool:
        """Store an exported session as it was, times included; False (and nothing
        changed) when this user already has a session of that name."""
        ...

    # -- health ----------------------------------------------------------------

    def counts(self) -> dict[str, int]: ...

    def group_counts(self, column: str) -> dict[str, int]: ...

    def health(self) -> dict[str, list[str]]:
        """Each check of the file and its indexes -> what it found wrong (nothing: it passed)."""
        ...

    def integrity_problems(self) -> list[str]:
        """What `health` finds wrong, as one list."""
        ...

    # -- last (its name would shadow the builtin in the annotations below it) ---

    def list(
        self, filters: Filters, *, limit: int | None = None, newest_first: bool = True
    ) -> list[MemoryRecord]: ...
