"""The embedded backend: one SQLite file with the rows, an FTS5 index and sqlite-vec vectors.

`SQLiteStore` implements the `Store` protocol of memcli.store.base, and nothing
outside memcli.store knows it is SQLite: its errors come out as StoreError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, ModelError, NotFound, StoreError
from ..records import (
    CHAT_THREAD_PREFIX,
    FIELD_TYPES,
    ID_LENGTH,
    MEMORY_FIELDS,
    UPDATABLE,
    ChatSession,
    Filters,
    GroupColumn,
    HistoryEntry,
    MemoryRecord,
    NewRow,
    Order,
    Patch,
    Scored,
    new_id,
    thread_slot,
)
from ..timeparse import now_str
from . import filter_sql, schema
from .base import Capabilities, relevance
from .connection import (
    BUSY_TIMEOUT_MS,
    DatabaseError,
    IntegrityError,
    OperationalError,
    connect,
    key_for,
    retry_busy,
    storage_errors,
    store_error,
    write_transaction,
)
from .graph_rows import GraphRows

if TYPE_CHECKING:
    import numpy as np

    from .binary import Codes

MIN_PREFIX = 4
# BM25 weight of a memory's thread neighbours against its own text (1.0). LoCoMo
# R@10 of fts mode: 0.606 without context, 0.699 at 0.5 (bench/locomo.py).
CONTEXT_WEIGHT = 0.5
_TOKENIZER = "porter unicode61 remove_diacritics 2"  # memories_fts's (store/schema.py)
# A memory's thread context: the texts of the turns before and after it (schema.m011).
_NEIGHBOUR = (
    "(SELECT o.text FROM memories o WHERE o.user = memories.user AND o.doc_id = memories.doc_id "
    "AND o.chunk = memories.chunk {op} 1 ORDER BY o.seq LIMIT 1)"
)
_THREAD_CONTEXT = (
    "CASE WHEN doc_id IS NULL OR chunk IS NULL THEN '' ELSE "
    f"coalesce({_NEIGHBOUR.format(op='-')}, '') || char(10) || coalesce({_NEIGHBOUR.format(op='+')}, '') END"
)
MAX_SQL_INT = 2**63 - 1
# A settings row a delete writes in its own transaction and a complete scrub removes (see scrub).
SCRUB_PENDING = "scrub_pending"
OPEN_SCRUB_WAIT_MS = 250  # opening waits this long for a reader that holds a pending scrub back
# What a public method raises when the file cannot be read or written: the
# drivers' errors, or ours (a public method called inside another translates them).
_UNREADABLE: tuple[type[Exception], ...] = (*DatabaseError, StoreError)
# The columns of the memories table: every field of a MemoryRecord but its tags
# (the memory_tags table), lists and dicts as JSON text; read back by name.
_STORED = tuple(name for name in MEMORY_FIELDS if name != "tags")
_JSON_EMPTY = {
    name: "{}" if FIELD_TYPES[name].startswith("dict") else "[]"
    for name in _STORED
    if FIELD_TYPES[name].startswith(("list", "dict"))
}
_NAMES = ("seq", *_STORED)
_COLUMNS = ", ".join(f"m.{name}" for name in _NAMES)
_ORDERS: dict[str, str] = {
    "stored": "m.seq",
    "oldest": "m.occurred_at, m.seq",
    "newest": "m.occurred_at DESC, m.seq DESC",
}


# How SQLite spells what filter_sql leaves to each backend.
_DIALECT = filter_sql.Dialect(
    mark="?",
    user="user",
    true="1",
    one_of=lambda column, values: (f"{column} IN ({','.join('?' * len(values))})", list(values)),
    all_words=lambda a, words: (
        f"{a}.seq IN (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?)",
        [f"text : ({_match(words, 'AND')})"],
    ),
    # memories_derived indexes the memories with sources; the ids are one JSON parameter.
    derived_from=lambda a, ids: (
        f"{a}.sources != '[]' AND EXISTS (SELECT 1 FROM json_each({a}.sources) j "
        "WHERE j.value IN (SELECT value FROM json_each(?)))",
        [json.dumps(list(ids))],
    ),
)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _match(words: Sequence[str], operator: str) -> str:
    """An FTS5 query of plain words: each quoted, so none is read as syntax."""
    return f" {operator} ".join('"' + w.replace('"', '""') + '"' for w in words)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@storage_errors
class SQLiteStore(GraphRows):
    """Rows, full-text index and vector index of one database file, kept in step.

    Opening a store finishes the scrub of a delete that did not finish its own
    (killed after its commit, or held back by a reader): see `scrub`.
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.traces_left = False  # forgotten text may still be readable in the files (see scrub)
        self.path = path
        self._cached()
        self.key = key_for(path, create=create)  # None: a plain store
        self.conn = connect(path, create=create, key=self.key)
        try:
            if not schema.is_current(self.conn):
                if not os.access(path, os.W_OK):
                    raise StoreError(f"{path} needs a schema upgrade but is read-only")
                schema.apply(self.conn)
        except DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"{path} is not a memcli database: {exc}") from None
        pending = False
        try:
            pending = self.setting(SCRUB_PENDING) is not None
            if pending:
                self.scrub(OPEN_SCRUB_WAIT_MS)
        except _UNREADABLE:
            # read-only here (the next writer finishes it), or damaged (mem doctor says)
            self.traces_left = pending

    @classmethod
    def _over(cls, conn: Any, path: Path) -> SQLiteStore:
        store = cls.__new__(cls)
        store.traces_left, store.path, store.conn, store.key = False, path, conn, None
        store._cached()
        return store

    def _cached(self) -> None:
        """Nothing cached from the data yet (see _generation)."""
        self._temp_changes = 0  # rows this connection wrote to its temporary tables
        self._codes: tuple[tuple[int, int], str | None, Any] | None = None  # (generation, user, codes)

    def snapshot(self) -> SQLiteStore:
        """A private copy of the store in memory, to try changes on (a dry run):
        the same data, so the same decisions; nothing reaches the file."""
        from .connection import copy_in_memory

        copy = SQLiteStore._over(copy_in_memory(self.conn, self.key), self.path)
        copy.key = self.key
        return copy

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            backend="sqlite",
            erasure="overwrites",  # secure_delete, merged full-text segments, then scrub empties the WAL
            scrub=True,
            encrypted=self.key is not None,
            vector_index="binary codes (sqlite-vec) ranked by Hamming distance, re-scored exactly",
        )

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several of this store's writes as one: all of them or none."""
        try:
            with write_transaction(self.conn):
                yield
        except DatabaseError as exc:
            raise store_error(exc) from exc

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """A lock file beside the database (`name` is the one lock there is: consolidate)."""
        from .filelock import exclusive

        return exclusive(self.path)

    def size(self) -> int:
        """Bytes of the database file and its write-ahead log."""
        return _size(self.path) + _size(self.path.with_name(self.path.name + "-wal"))

    # -- settings and the embedding space -----------------------------------------

    def setting(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def embedding_space(self) -> tuple[str, int] | None:
        """(model name, dimension) the stored vectors were made with, if any."""
        model, dim = self.setting("embed_model"), self.setting("embed_dim")
        return (model, int(dim)) if model and dim else None

    def check_embedding_space(self, model: str, dim: int | None = None) -> None:
        space = self.embedding_space()
        if space is None:
            return
        if space[0] != model or (dim is not None and space[1] != dim):
            raise ModelError(
                f"this store's vectors were made with {space[0]} ({space[1]} dims) but the "
                f"configured embedding model is {model}: run `mem reindex` to re-embed, "
                "or configure the old model again"
            )

    def _ensure_vector_index(self, model: str, dim: int) -> None:
        """Inside a write transaction: create the sqlite-vec index on first use."""
        space = self.embedding_space()
        if space is not None:
            self.check_embedding_space(model, dim)
            return
        self._create_vector_index(dim)
        self._set_space(model, dim)

    def _create_vector_index(self, dim: int) -> None:
        # Binary-quantised vectors: a Hamming scan over 48 bytes per memory finds
        # candidates that the float vectors then re-score exactly.
        self.conn.execute("DROP TABLE IF EXISTS vec_memories")
        self.conn.execute(
            f"CREATE VIRTUAL TABLE vec_memories USING vec0("
            f"user text partition key, embedding bit[{int(dim)}])"
        )

    def _set_space(self, model: str, dim: int) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
            [("embed_model", model), ("embed_dim", str(dim))],
        )

    def _has_vec_index(self) -> bool:
        row = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'vec_memories'").fetchone()
        return row is not None

    # -- writing -----------------------------------------------------------------

    def existing_hashes(self, user: str, kind: str, hashes: Sequence[str]) -> dict[str, str]:
        """content_hash -> id of memories of this kind this user already has."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for h, memory_id in self.conn.execute(
                f"SELECT content_hash, id FROM memories WHERE user = ? AND kind = ? "
                f"AND {schema.THREAD_SLOT} = '' AND content_hash IN ({marks})",
                [user, kind, *chunk],
            ):
                found[h] = memory_id
        return found

    def id_exists(self, memory_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM memories WHERE id = ?", [memory_id]).fetchone() is not None

    def insert(self, rows: Sequence[NewRow], vectors: np.ndarray, model: str) -> list[tuple[str, str]]:
        """Store rows with their vectors in one transaction.

        Returns (id, status) per row: "added", or "exists" when the same text is
        already stored for that user (or the id is taken, for imports).
        """
        import numpy as np

        dim = int(vectors.shape[1]) if len(rows) else 0
        results: list[tuple[str, str]] = []
        with write_transaction(self.conn):
            if rows:
                self._ensure_vector_index(model, dim)
            threads = [(r.record.user, r.record.doc_id, r.record.chunk) for r in rows]
            neighbours = self._thread_neighbours([t for t in threads if t[1] is not None])
            self._fts_unindex(neighbours)
            added: list[int] = []
            for row, vector in zip(rows, vectors):
                memory_id, status, seq = self._insert_one(
                    row, np.ascontiguousarray(vector, dtype=np.float32), model, dim
                )
                results.append((memory_id, status))
                if seq is not None:
                    added.append(seq)
            self._fts_index([*added, *neighbours])
        return results

    def _insert_one(
        self, row: NewRow, vector: np.ndarray, model: str, dim: int
    ) -> tuple[str, str, int | None]:
        record = row.record
        existing = self.conn.execute(
            f"SELECT id FROM memories WHERE user = ? AND kind = ? AND content_hash = ? "
            f"AND {schema.THREAD_SLOT} = ?",
            [record.user, record.kind, record.content_hash, thread_slot(record.doc_id, record.chunk)],
        ).fetchone()
        if existing:
            return existing[0], "exists", None
        preset_id = record.id
        if preset_id and self.id_exists(preset_id):
            return preset_id, "exists", None
        values = {name: getattr(record, name) for name in _STORED}
        for name, empty in _JSON_EMPTY.items():
            values[name] = _json(values[name]) if values[name] else empty
        tags = record.tags
        history = row.history
        values["embed_model"], values["embed_dim"] = model, dim
        for _attempt in range(10):
            values["id"] = preset_id or new_id()
            columns = ", ".join(values)
            marks = ", ".join("?" * len(values))
            try:
                cursor = self.conn.execute(
                    f"INSERT INTO memories ({columns}) VALUES ({marks})", list(values.values())
                )
                break
            except IntegrityError as exc:
                if preset_id or "memories.id" not in str(exc):
                    raise
        else:
            raise StoreError("could not allocate a unique memory id")
        seq = cursor.lastrowid
        self.conn.executemany(
            "INSERT OR IGNORE INTO memory_tags (seq, tag) VALUES (?, ?)", [(seq, t) for t in tags]
        )
        self.conn.executemany(
            "INSERT INTO memory_history (seq, text, changed_at) VALUES (?, ?, ?)",
            [(seq, h.text, h.changed_at) for h in history],
        )
        self._put_vector(seq, record.user, vector)
        return values["id"], "added", seq

    def _put_vector(self, seq: int, user: str, vector: np.ndarray) -> None:
        blob = vector.tobytes()
        self.conn.execute("INSERT OR REPLACE INTO memory_vectors (seq, embedding) VALUES (?, ?)", [seq, blob])
        self.conn.execute("DELETE FROM vec_memories WHERE rowid = ?", [seq])
        self.conn.execute(
            "INSERT INTO vec_memories (rowid, user, embedding) VALUES (?, ?, vec_quantize_binary(?))",
            [seq, user, blob],
        )

    # -- the full-text index ---------------------------------------------------------
    #
    # memories_fts indexes each memory's text and, as context, the text of its
    # neighbours in a thread, stored in memories.context (see schema.m004,
    # m011). An external-content FTS5 table must be told the exact values it
    # indexed to delete them, so every change un-indexes the rows it touches
    # (and their neighbours) before it writes, then recomputes their context
    # and indexes them again after.

    def _threads(self, seqs: Sequence[int]) -> list[tuple[str, str, int]]:
        rows: list[tuple[str, str, int]] = []
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start : start + 500])
            rows += self.conn.execute(
                f"SELECT user, doc_id, chunk FROM memories WHERE seq IN ({','.join('?' * len(chunk))}) "
                "AND doc_id IS NOT NULL AND chunk IS NOT NULL",
                chunk,
            ).fetchall()
        return rows

    def _thread_neighbours(self, threads: Sequence[tuple[str, str | None, int | None]]) -> list[int]:
        """Stored memories next to these (user, doc_id, chunk) positions."""
        found: dict[int, None] = {}
        for user, doc_id, chunk in threads:
            if doc_id is None or chunk is None:
                continue
            for (seq,) in self.conn.execute(
                "SELECT seq FROM memories WHERE user = ? AND doc_id = ? AND chunk IN (?, ?)",
                [user, doc_id, chunk - 1, chunk + 1],
            ):
                found[seq] = None
        return list(found)

    def _fts_unindex(self, seqs: Sequence[int]) -> None:
        self._fts_apply(
            "INSERT INTO memories_fts (memories_fts, rowid, text, context) "
            "SELECT 'delete', seq, text, context FROM memories WHERE seq IN ({})",
            seqs,
        )

    def _fts_index(self, seqs: Sequence[int]) -> None:
        self._fts_apply(f"UPDATE memories SET context = {_THREAD_CONTEXT} WHERE seq IN ({{}})", seqs)
        self._fts_apply(
            "INSERT INTO memories_fts (rowid, text, context) SELECT seq, text, context FROM memories WHERE seq IN ({})",
            seqs,
        )

    def _fts_erase(self) -> None:
        """Make the index drop deleted text for real: FTS5 marks a deleted row and
        keeps its tokens in older segments until they are merged, so merge them all
        (secure_delete then zeroes the freed pages). FTS5's own secure-delete
        option would do it row by row, but writes a file format SQLite before 3.44
        cannot read (schema.m011)."""
        self.conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')")

    def _fts_apply(self, sql: str, seqs: Sequence[int]) -> None:
        unique = list(dict.fromkeys(seqs))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            self.conn.execute(sql.format(",".join("?" * len(chunk))), chunk)

    def update_text(
        self, memory_id: str, text: str, content_hash: str, vector: np.ndarray, model: str
    ) -> None:
        """Replace a memory's text and vector; the previous text goes to history."""
        import numpy as np

        with write_transaction(self.conn):
            record = self.get(memory_id)
            self.check_embedding_space(model, int(vector.shape[0]))
            seq = self._seq(record.id)
            clash = self.conn.execute(
                "SELECT id FROM memories WHERE user = ? AND kind = ? AND content_hash = ? AND seq != ? "
                f"AND {schema.THREAD_SLOT} = ?",
                [record.user, record.kind, content_hash, seq, thread_slot(record.doc_id, record.chunk)],
            ).fetchone()
            if clash:
                raise InputError(f"memory {clash[0]} already holds this text")
            now = now_str()
            self.conn.execute(
                "INSERT INTO memory_history (seq, text, changed_at) VALUES (?, ?, ?)",
                [seq, record.text, now],
            )
            affected = [seq, *self._thread_neighbours(self._threads([seq]))]
            self._fts_unindex(affected)
            self.conn.execute(
                "UPDATE memories SET text = ?, content_hash = ?, updated_at = ? WHERE seq = ?",
                [text, content_hash, now, seq],
            )
            self._fts_index(affected)
            self._put_vector(seq, record.user, np.ascontiguousarray(vector, dtype=np.float32))

    def delete(self, memory_ids: Iterable[str]) -> int:
        """Delete memories with their index entries, tags and history, then scrub traces."""
        ids = list(dict.fromkeys(memory_ids))
        deleted = 0
        with write_transaction(self.conn):
            has_vec = self._has_vec_index()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                seqs = [
                    r[0] for r in self.conn.execute(f"SELECT seq FROM memories WHERE id IN ({marks})", chunk)
                ]
                if not seqs:
                    continue
                seq_marks = ",".join("?" * len(seqs))
                if has_vec:
                    self.conn.execute(f"DELETE FROM vec_memories WHERE rowid IN ({seq_marks})", seqs)
                threads = self._threads(seqs)
                neighbours = [n for n in self._thread_neighbours(threads) if n not in set(seqs)]
                self._forget_summaries(threads)
                self._fts_unindex([*seqs, *neighbours])
                # Tags, history and the float vectors go by ON DELETE CASCADE.
                deleted += self.conn.execute(
                    f"DELETE FROM memories WHERE seq IN ({seq_marks})", seqs
                ).rowcount
                # A fact replaced by one of these stays no longer valid, with no successor to name;
                # the episodes of a deleted digest are no longer digested.
                self.conn.execute(
                    f"UPDATE memories SET superseded_by = NULL WHERE superseded_by IN ({marks})", chunk
                )
                self.conn.execute(f"UPDATE memories SET digest_id = NULL WHERE digest_id IN ({marks})", chunk)
                self._fts_index(neighbours)
            if deleted:
                self._fts_erase()
                self._mark_scrub_pending()
                # sessions left without any turn go too
                self.conn.execute(
                    "DELETE FROM chat_sessions WHERE NOT EXISTS (SELECT 1 FROM memories m "
                    "WHERE m.user = chat_sessions.user AND m.doc_id = ? || chat_sessions.name)",
                    [CHAT_THREAD_PREFIX],
                )
        if deleted and not self.conn.in_transaction:  # a caller's transaction scrubs when it ends
            self.scrub()
        return deleted

    def _erased(self) -> None:
        self._mark_scrub_pending()
        if not self.conn.in_transaction:  # a caller's transaction scrubs when it ends
            self.scrub()

    def scrub(self, wait_ms: int = 3000) -> bool:
        """Make deleted text unreadable in the files: checkpoint the WAL and empty it.

        secure_delete zeroes freed pages and the FTS table deletes tokens for real,
        but those zeroed pages are written to the WAL: until a checkpoint copies them
        into the database file, the file keeps the old pages, and the WAL may hold
        older copies too. A reader in another process holds the checkpoint back; it
        waits up to `wait_ms` for it, and returns False if it is still there
        (`traces_left`: the text can still be read in the database file or its WAL).

        A delete writes SCRUB_PENDING in its own transaction and only a complete
        scrub removes it, so a delete killed between its commit and its scrub, or
        held back by a reader, is scrubbed by the next process to open the store.
        """
        cleared = self._checkpoint(wait_ms)
        if cleared and self.setting(SCRUB_PENDING) is not None:
            with write_transaction(self.conn):
                self.conn.execute("DELETE FROM settings WHERE key = ?", [SCRUB_PENDING])
            self._checkpoint(wait_ms)  # the WAL held only the mark's removal: empty it again
        self.traces_left = not cleared
        return cleared

    def _checkpoint(self, wait_ms: int) -> bool:
        self.conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        try:
            busy = retry_busy(lambda: self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return not busy

    def _mark_scrub_pending(self) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", [SCRUB_PENDING, now_str()]
        )

    # -- changing fields ---------------------------------------------------------------

    def patch(self, memory_id: str, changes: Patch) -> None:
        """Change fields of one memory (not its text: see update_text)."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values: dict[str, Any] = dict(changes)
        if not values:
            self._seq(memory_id)  # NotFound all the same
            return
        if "sources" in values:
            values["sources"] = _json(list(dict.fromkeys(values["sources"])))
        assignments = ", ".join(f"{k} = ?" for k in values)
        with write_transaction(self.conn):
            changed = self.conn.execute(
                f"UPDATE memories SET {assignments} WHERE id = ?", [*values.values(), memory_id]
            ).rowcount
        if not changed:
            raise NotFound(f"no memory with id {memory_id!r}")

    def add_tags(self, memory_id: str, tags: Sequence[str]) -> None:
        if not tags:
            return
        seq = self._seq(memory_id)
        with write_transaction(self.conn):
            self.conn.executemany(
                "INSERT OR IGNORE INTO memory_tags (seq, tag) VALUES (?, ?)", [(seq, t) for t in tags]
            )

    def remove_tags(self, memory_id: str, tags: Sequence[str]) -> None:
        seq = self._seq(memory_id)
        with write_transaction(self.conn):
            self.conn.executemany(
                "DELETE FROM memory_tags WHERE seq = ? AND tag = ?", [(seq, t) for t in dict.fromkeys(tags)]
            )

    def add_history(self, memory_id: str, text: str, changed_at: str) -> None:
        """Keep a text the memory absorbed (a merged duplicate) in its history."""
        with write_transaction(self.conn):
            self.conn.execute(
                "INSERT INTO memory_history (seq, text, changed_at) VALUES (?, ?, ?)",
                [self._seq(memory_id), text, changed_at],
            )

    def clear_history(self, memory_id: str) -> None:
        """Erase a memory's older texts (its current text stays); the caller scrubs."""
        with write_transaction(self.conn):
            self.conn.execute("DELETE FROM memory_history WHERE seq = ?", [self._seq(memory_id)])
            self._fts_erase()  # the index still holds the older texts' words
            self._mark_scrub_pending()

    def touch_recalled(self, memory_ids: Sequence[str], now: str) -> None:
        """Count that these memories were recalled. A lost count costs nothing, so
        this write skips the fsync every other write pays (WAL, synchronous=NORMAL)."""
        if not memory_ids or self.conn.in_transaction:
            return
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA busy_timeout = 200")  # never make a recall wait on a writer
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "UPDATE memories SET recalled = recalled + 1, last_recalled_at = ? WHERE id = ?",
                [(now, i) for i in memory_ids],
            )
            self.conn.execute("COMMIT")
        except DatabaseError:  # read-only file, busy (an OperationalError is one): the count is skipped
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        finally:
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def records_after(self, seq: int, user: str | None) -> list[tuple[int, MemoryRecord]]:
        """(seq, record) of memories stored after `seq`: the new work of a merge pass."""
        sql = f"SELECT {_COLUMNS} FROM memories m WHERE m.seq > ?"
        params: list[Any] = [seq]
        if user is not None:
            sql += " AND m.user = ?"
            params.append(user)
        rows = self.conn.execute(sql + " ORDER BY m.seq", params).fetchall()
        return list(zip([r[0] for r in rows], self._records(rows)))

    def vector_of(self, memory_id: str) -> np.ndarray | None:
        import numpy as np

        row = self.conn.execute(
            "SELECT v.embedding FROM memory_vectors v JOIN memories m ON m.seq = v.seq WHERE m.id = ?",
            [memory_id],
        ).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32)

    def set_setting(self, key: str, value: str) -> None:
        with write_transaction(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", [key, value])

    # -- threads and chat sessions ------------------------------------------------------

    def _forget_summaries(self, threads: Sequence[tuple[str, str, int]]) -> None:
        """A chat summary may quote a forgotten turn: drop it; the next resume rebuilds it."""
        for user, doc_id in {(u, d) for u, d, _ in threads if d.startswith(CHAT_THREAD_PREFIX)}:
            self.conn.execute(
                "UPDATE chat_sessions SET summary = '', summarized_through = 0 WHERE user = ? AND name = ?",
                [user, doc_id.removeprefix(CHAT_THREAD_PREFIX)],
            )

    def thread(
        self, user: str, doc_id: str, *, after_chunk: int = 0, limit: int | None = None
    ) -> list[MemoryRecord]:
        """The memories of a thread in order, from chunk `after_chunk` + 1 on (at most `limit`)."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM memories m WHERE m.user = ? AND m.doc_id = ? AND m.chunk > ? "
            "ORDER BY m.chunk, m.seq LIMIT ?",
            [user, doc_id, after_chunk, -1 if limit is None else limit],
        ).fetchall()
        return self._records(rows)

    def next_chunk(self, user: str, doc_id: str) -> int:
        row = self.conn.execute(
            "SELECT max(chunk) FROM memories WHERE user = ? AND doc_id = ?", [user, doc_id]
        ).fetchone()
        return int(row[0] or 0) + 1

    def save_chat_session(self, user: str, name: str, summary: str, summarized_through: int) -> None:
        now = now_str()
        with write_transaction(self.conn):
            self.conn.execute(
                "INSERT INTO chat_sessions (user, name, summary, summarized_through, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user, name) DO UPDATE SET "
                "summary = excluded.summary, summarized_through = excluded.summarized_through, "
                "updated_at = excluded.updated_at",
                [user, name, summary, summarized_through, now, now],
            )

    def chat_sessions(self, user: str | None, name: str | None = None) -> list[ChatSession]:
        """The chat sessions of `user` (every user when None), by user, then as created;
        with `name`, that one session (or none)."""
        sql = "SELECT user, name, summary, summarized_through, created_at, updated_at FROM chat_sessions"
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("user", user), ("name", name)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return [
            ChatSession(*row) for row in self.conn.execute(sql + " ORDER BY user, created_at, name", params)
        ]

    def restore_chat_session(self, session: ChatSession) -> bool:
        """Store an exported session as it was, times included; False (and nothing
        changed) when this user already has a session of that name."""
        with write_transaction(self.conn):
            return (
                self.conn.execute(
                    "INSERT INTO chat_sessions (user, name, summary, summarized_through, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user, name) DO NOTHING",
                    [
                        session.user,
                        session.name,
                        session.summary,
                        session.summarized_through,
                        session.created_at,
                        session.updated_at,
                    ],
                ).rowcount
                == 1
            )

    # -- reading -----------------------------------------------------------------

    def _seq(self, memory_id: str) -> int:
        row = self.conn.execute("SELECT seq FROM memories WHERE id = ?", [memory_id]).fetchone()
        if row is None:
            raise NotFound(f"no memory with id {memory_id!r}")
        return int(row[0])

    def resolve_id(self, id_or_prefix: str, user: str | None = None) -> str:
        """A full id, or a unique prefix of at least 4 characters, -> the full id.

        With `user`, only that user's memories count: another user's id is not found.
        """
        key = (id_or_prefix or "").strip().lower()
        if not key:
            raise NotFound("empty memory id")
        mine, params = ("", []) if user is None else (" AND user = ?", [user])
        row = self.conn.execute(f"SELECT id FROM memories WHERE id = ?{mine}", [key, *params]).fetchone()
        if row:
            return str(row[0])
        if len(key) >= MIN_PREFIX and len(key) < ID_LENGTH:
            rows = self.conn.execute(
                f"SELECT id FROM memories WHERE id >= ? AND id < ?{mine} LIMIT 3",
                [key, key + "\uffff", *params],
            ).fetchall()
            if len(rows) == 1:
                return str(rows[0][0])
            if len(rows) > 1:
                raise NotFound(f"id prefix {id_or_prefix!r} is ambiguous: give more characters")
        raise NotFound(f"no memory with id {id_or_prefix!r}")

    def get(self, id_or_prefix: str, user: str | None = None) -> MemoryRecord:
        memory_id = self.resolve_id(id_or_prefix, user)
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM memories m WHERE m.id = ?", [memory_id]).fetchone()
        return self._records([row])[0]

    def ranking_facts(self, memory_ids: Sequence[str]) -> dict[str, tuple[int, str, str | None, str | None]]:
        """id -> (importance, occurred_at, last_recalled_at, valid_to) for ranking."""
        if not memory_ids:
            return {}
        rows = self.conn.execute(
            "SELECT m.id, m.importance, m.occurred_at, m.last_recalled_at, m.valid_to "
            "FROM json_each(?) j CROSS JOIN memories m ON m.id = j.value",
            [json.dumps(list(memory_ids))],
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def places(self, memory_ids: Sequence[str]) -> dict[str, tuple[str | None, int | None, str]]:
        """id -> (doc_id, chunk, occurred_at)."""
        if not memory_ids:
            return {}
        rows = self.conn.execute(
            "SELECT m.id, m.doc_id, m.chunk, m.occurred_at FROM json_each(?) j CROSS JOIN memories m ON m.id = j.value",
            [json.dumps(list(memory_ids))],
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def neighbours(
        self, memory_ids: Sequence[str], filters: Filters, span: int, seconds: int
    ) -> dict[str, int]:
        if not memory_ids:
            return {}
        where, params = self.where(filters)
        # Each lookup by an index, the seeds as the outer loop (CROSS JOIN): a thread's
        # turns by (user, doc_id, chunk), notes without a thread by their seq (the rowid);
        # then the filters, on those few rows only.
        sql = (
            "WITH s AS (SELECT m.user, m.doc_id, m.chunk, m.seq, m.occurred_at "
            "FROM json_each(?) j CROSS JOIN memories m ON m.id = j.value), "
            "near AS ("
            "SELECT m.seq FROM s CROSS JOIN memories m ON m.user = s.user AND m.doc_id = s.doc_id "
            "AND m.chunk BETWEEN s.chunk - ? AND s.chunk + ? WHERE s.doc_id IS NOT NULL "
            "UNION "
            "SELECT m.seq FROM s CROSS JOIN memories m ON m.seq BETWEEN s.seq - ? AND s.seq + ? "
            "WHERE s.doc_id IS NULL AND m.doc_id IS NULL AND +m.user = s.user "
            "AND abs(julianday(m.occurred_at) - julianday(s.occurred_at)) * 86400 <= ?) "
            f"SELECT m.id, m.seq FROM near CROSS JOIN memories m ON m.seq = near.seq WHERE {where}"
        )
        ids = json.dumps(list(memory_ids))
        rows = self.conn.execute(sql, [ids, span, span, span, span, seconds, *params])
        return {r[0]: int(r[1]) for r in rows}

    def get_many(self, memory_ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """id -> record of those of these ids that exist."""
        out: dict[str, MemoryRecord] = {}
        for start in range(0, len(memory_ids), 500):
            chunk = list(memory_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM memories m WHERE m.id IN ({marks})", chunk
            ).fetchall()
            for record in self._records(rows):
                out[record.id] = record
        return out

    def _records(self, rows: Sequence[Sequence[Any]]) -> list[MemoryRecord]:
        if not rows:
            return []
        tags: dict[int, list[str]] = {row[0]: [] for row in rows}
        seqs = list(tags)
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for seq, tag in self.conn.execute(
                f"SELECT seq, tag FROM memory_tags WHERE seq IN ({marks}) ORDER BY tag", chunk
            ):
                tags[seq].append(tag)
        records = []
        for row in rows:
            values = dict(zip(_NAMES, row))
            seq = values.pop("seq")
            for name, empty in _JSON_EMPTY.items():
                values[name] = json.loads(values[name] or empty)
            values["recalled"] = values["recalled"] or 0
            records.append(MemoryRecord(**values, tags=tags[seq]))
        return records

    @staticmethod
    def where(filters: Filters, alias: str = "m") -> tuple[str, list[Any]]:
        return filter_sql.where(filters, _DIALECT, alias)

    def select(
        self, filters: Filters, *, order: Order = "stored", limit: int | None = None
    ) -> list[MemoryRecord]:
        """The memories that pass the filters, in `order` (at most `limit`)."""
        where, params = self.where(filters)
        sql = f"SELECT {_COLUMNS} FROM memories m WHERE {where} ORDER BY {_ORDERS[order]}"
        if limit is not None and limit < MAX_SQL_INT:  # SQLite integers are 64-bit; more is "all"
            sql += " LIMIT ?"
            params.append(max(limit, 0))
        return self._records(self.conn.execute(sql, params).fetchall())

    def select_ids(self, filters: Filters) -> list[str]:
        """Ids of the memories that pass the filters, in the order stored."""
        where, params = self.where(filters)
        return [
            r[0]
            for r in self.conn.execute(f"SELECT m.id FROM memories m WHERE {where} ORDER BY m.seq", params)
        ]

    def iter_records(self, filters: Filters, batch: int = 1000) -> Iterator[MemoryRecord]:
        """Every matching memory, oldest first, without holding them all in memory."""
        where, params = self.where(filters)
        last = 0
        while True:
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM memories m WHERE {where} AND m.seq > ? ORDER BY m.seq LIMIT ?",
                [*params, last, batch],
            ).fetchall()
            if not rows:
                return
            yield from self._records(rows)
            last = rows[-1][0]

    def history(self, id_or_prefix: str) -> tuple[MemoryRecord, list[HistoryEntry]]:
        record = self.get(id_or_prefix)
        rows = self.conn.execute(
            "SELECT text, changed_at FROM memory_history WHERE seq = ? ORDER BY id",
            [self._seq(record.id)],
        ).fetchall()
        entries = [HistoryEntry(text=r[0], changed_at=r[1]) for r in rows]
        entries.append(
            HistoryEntry(text=record.text, changed_at=record.updated_at or record.created_at, current=True)
        )
        return record, entries

    def histories(self, memory_ids: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        """id -> the older texts of that memory, oldest first; ids without any are left out.

        One query per 500 ids, so an export reads history at the pace of its rows.
        """
        found: dict[str, list[HistoryEntry]] = {}
        ids = list(dict.fromkeys(memory_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for memory_id, text, changed_at in self.conn.execute(
                "SELECT m.id, h.text, h.changed_at FROM memories m JOIN memory_history h ON h.seq = m.seq "
                f"WHERE m.id IN ({','.join('?' * len(chunk))}) ORDER BY h.id",
                chunk,
            ):
                found.setdefault(memory_id, []).append(HistoryEntry(text=text, changed_at=changed_at))
        return found

    # -- search ------------------------------------------------------------------

    def fts_search(self, terms: Sequence[str], filters: Filters, limit: int) -> list[Scored]:
        """Memories with any of `terms`, best first, scored by relevance in [0, 1]:
        FTS5's BM25 (negated: FTS5's is lower-is-better) over what the query could
        attain (_attainable), through memcli.store.base.relevance.

        The best matches are ranked by the index alone, then filtered: joining
        every match to its row first costs a row lookup per match (5,000 for a
        common word at 100k memories: 20 ms instead of 5). Only when the
        filters leave fewer than `limit` of that pool is the full join run.
        """
        if limit <= 0 or not terms:
            return []
        match = _match(terms, "OR")
        pool = max(4 * limit, 200)
        score = f"bm25(memories_fts, 1.0, {CONTEXT_WEIGHT})"
        best = self._attainable(terms) or 1.0
        ranked = self.conn.execute(
            f"SELECT rowid, {score} AS score FROM memories_fts WHERE memories_fts MATCH ? ORDER BY score LIMIT ?",
            [match, pool],
        ).fetchall()
        where, params = self.where(filters)
        if ranked:
            # CROSS JOIN: look the ranked rows up by key; left alone, the planner
            # walks every memory of the user through the (user, kind) index.
            passing = dict(
                self.conn.execute(
                    f"SELECT m.seq, m.id FROM json_each(?) j CROSS JOIN memories m ON m.seq = j.value WHERE {where}",
                    [json.dumps([int(r[0]) for r in ranked]), *params],
                ).fetchall()
            )
            kept = [r for r in ranked if r[0] in passing][:limit]
            if len(kept) >= limit or len(ranked) < pool:
                return [Scored(passing[seq], relevance(-score / best), int(seq)) for seq, score in kept]
        sql = (
            f"SELECT f.rowid, m.id, {score} AS score FROM memories_fts f "
            f"JOIN memories m ON m.seq = f.rowid WHERE memories_fts MATCH ? AND {where} "
            "ORDER BY score LIMIT ?"
        )
        return [
            Scored(r[1], relevance(-r[2] / best), int(r[0]))
            for r in self.conn.execute(sql, [match, *params, limit])
        ]

    def _generation(self) -> tuple[int, int]:
        """A value that changes whenever the stored data may have: another connection
        committed (PRAGMA data_version) or this one wrote (total_changes, less its
        writes to its own temporary tables). What is cached from the data is kept
        while it stays the same."""
        (version,) = self.conn.execute("PRAGMA data_version").fetchone()
        return version, self.conn.total_changes - self._temp_changes

    def _attainable(self, terms: Sequence[str]) -> float:
        """The BM25 of a memory of average length that holds each query word once in
        its own text: the sum of the words' IDFs, as FTS5's bm25() weighs them
        (log((N - n + 0.5) / (n + 0.5)), at least 1e-6; a word no memory holds
        counts as if one did). A word is looked up as the index stores it (FTS5's own
        tokenizer stems it, through a temporary table of this connection); the counts
        are kept until the database changes."""
        import math

        version = self._generation()
        if getattr(self, "_text_stats_version", None) != version:
            if not getattr(self, "_term_tables", False):
                self.conn.execute(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.memcli_query_terms USING fts5(t, tokenize={_TOKENIZER!r})"
                )
                self.conn.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.memcli_query_terms_v "
                    "USING fts5vocab(temp, memcli_query_terms, 'instance')"
                )
                self.conn.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.memcli_fts_terms USING fts5vocab(main, memories_fts, 'row')"
                )
                self._term_tables = True
            (rows,) = self.conn.execute("SELECT count(*) FROM memories_fts_docsize").fetchone()
            self._text_rows = float(rows)
            self._term_docs: dict[str, int] = {}
            self._text_stats_version = version
        total, docs = self._text_rows, self._term_docs
        words = list(dict.fromkeys(terms))
        before = self.conn.total_changes
        self.conn.execute("DELETE FROM temp.memcli_query_terms")
        self.conn.executemany(
            "INSERT INTO temp.memcli_query_terms (rowid, t) VALUES (?, ?)", list(enumerate(words, 1))
        )
        tokens: dict[int, list[str]] = {}
        for word, token in self.conn.execute(
            "SELECT doc, term FROM temp.memcli_query_terms_v ORDER BY doc, offset"
        ):
            tokens.setdefault(word, []).append(token)
        self.conn.execute("DELETE FROM temp.memcli_query_terms")
        self._temp_changes += self.conn.total_changes - before
        attainable = 0.0
        for parts in tokens.values():
            for token in parts:
                if token not in docs:
                    row = self.conn.execute(
                        "SELECT doc FROM temp.memcli_fts_terms WHERE term = ?", [token]
                    ).fetchone()
                    docs[token] = row[0] if row else 0
            # a phrase is as rare as its rarest token; the vocabulary may still count a
            # deleted row until FTS5 merges its segments, so n is kept within the rows
            n = min(max(1, min(docs[token] for token in parts)), total)
            ratio = (total - n + 0.5) / (n + 0.5)
            attainable += math.log(ratio) if ratio > 1 else 1e-6
        return attainable

    def vector_search(
        self, query: np.ndarray, filters: Filters, limit: int, *, candidates: int = 400
    ) -> list[Scored]:
        """The nearest memories, best first, scored by cosine similarity.

        Binary-quantised candidates from sqlite-vec (`candidates` of them at
        least), re-scored with the float vectors. When filters leave too few
        candidates, the filtered rows are scanned exactly instead, so a narrow
        filter never hides a match.
        """
        import numpy as np

        if not self._has_vec_index() or limit <= 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32)
        n_cand = min(max(candidates, limit * 4), 4096)
        seqs = self.hamming_candidates(query, n_cand, filters.user)
        where, params = self.where(filters)
        scored = self._score(seqs, where, params, query)
        if len(scored) < limit and len(seqs) == n_cand:
            # The filters threw away most candidates and more rows exist: go exact.
            scored = self._score(None, where, params, query)
        scored.sort(key=lambda item: -item[1])
        best = scored[:limit]
        ids = self._ids_of([seq for seq, _ in best])
        return [Scored(ids[seq], similarity, seq) for seq, similarity in best]

    def _ids_of(self, seqs: list[int]) -> dict[int, str]:
        if not seqs:
            return {}
        sql = f"SELECT seq, id FROM memories WHERE seq IN ({','.join(map(str, seqs))})"
        return dict(self.conn.execute(sql).fetchall())

    def hamming_candidates(self, query: np.ndarray, n: int, user: str | None) -> list[int]:
        """The n memories whose binary codes are nearest the query's, by Hamming distance.

        sqlite-vec keeps the codes in chunks of 1,024 and its KNN keeps the best
        k with a selection that costs O(rows * k): 26 ms for k=200 over 100k
        memories here. The chunks are read straight from its shadow tables and
        ranked with numpy instead (5 ms for any k), falling back to sqlite-vec's
        own KNN whenever the tables do not look as expected. Both give the same
        candidates (tests/test_store.py).
        """
        import numpy as np

        from .binary import binary_code

        codes = self._code_chunks(user)
        if codes is None:
            return self._vec0_knn(query, n, user)
        ids, live, matrix = codes
        n = min(n, int(live.sum()))
        if n <= 0:
            return []
        distances = matrix.distances(binary_code(query))
        distances[~live] = np.iinfo(np.int32).max  # free slots of a chunk
        best = np.argpartition(distances, n - 1)[:n] if n < len(ids) else np.arange(len(ids))
        best = best[live[best]]
        best = best[np.lexsort((ids[best], distances[best]))]
        return [int(seq) for seq in ids[best]]

    def _vec0_knn(self, query: np.ndarray, n: int, user: str | None) -> list[int]:
        sql = "SELECT rowid FROM vec_memories WHERE embedding MATCH vec_quantize_binary(?) AND k = ?"
        params: list[Any] = [query.tobytes(), n]
        if user is not None:
            sql += " AND user = ?"
            params.append(user)
        return [r[0] for r in self.conn.execute(sql, params)]

    def _code_chunks(self, user: str | None) -> tuple[np.ndarray, np.ndarray, Codes] | None:
        """_read_code_chunks, kept while the data stays the same: a process that
        recalls again (chat, MCP, a bench) reads the codes once, not per query
        (4.8 MB at 100k memories). One user's codes are kept, 48 bytes a memory."""
        generation = self._generation()
        if self._codes is not None and self._codes[:2] == (generation, user):
            return self._codes[2]
        from .binary import Codes

        read = self._read_code_chunks(user)
        codes = None if read is None else (read[0], read[1], Codes(read[2]))
        self._codes = (generation, user, codes)
        return codes

    def _read_code_chunks(self, user: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(rowids, live mask, codes) of every slot of sqlite-vec's chunks, or None if unreadable."""
        import numpy as np

        dim = self.embedding_space()
        if dim is None:
            return None
        width = (dim[1] + 7) // 8
        sql = (
            "SELECT c.size, c.validity, c.rowids, v.vectors FROM vec_memories_chunks c "
            "JOIN vec_memories_vector_chunks00 v ON v.rowid = c.chunk_id"
        )
        params: list[Any] = []
        if user is not None:
            sql += " WHERE c.partition00 = ?"
            params.append(user)
        try:
            rows = self.conn.execute(sql, params).fetchall()
        except OperationalError:
            return None
        for size, validity, rowids, vectors in rows:
            if not (
                isinstance(size, int)
                and isinstance(validity, bytes)
                and isinstance(rowids, bytes)
                and isinstance(vectors, bytes)
                and size % 8 == 0
                and len(validity) * 8 == size
                and len(rowids) == 8 * size
                and len(vectors) == width * size
            ):
                return None
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), np.zeros((0, width), dtype=np.uint8)
        live = np.unpackbits(np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8), bitorder="little")
        ids = np.frombuffer(b"".join(r[2] for r in rows), dtype="<i8")
        matrix = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.uint8).reshape(-1, width)
        return ids, live.astype(bool), matrix

    def similarities(self, memory_ids: Sequence[str], query: np.ndarray) -> dict[str, float]:
        """Cosine of the query with the stored vectors of these (already filtered) memories."""
        import numpy as np

        query = np.ascontiguousarray(query, dtype=np.float32)
        if not memory_ids:
            return {}
        sql = (
            "SELECT m.id, v.embedding FROM json_each(?) j CROSS JOIN memories m ON m.id = j.value "
            "JOIN memory_vectors v ON v.seq = m.seq"
        )
        rows = [
            r
            for r in self.conn.execute(sql, [json.dumps(list(memory_ids))])
            if len(r[1]) == 4 * query.shape[0]
        ]
        if not rows:
            return {}
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
            len(rows), query.shape[0]
        )
        return {str(r[0]): float(s) for r, s in zip(rows, matrix @ query)}

    def _score(
        self, seqs: list[int] | None, where: str, params: list[Any], query: np.ndarray
    ) -> list[tuple[int, float]]:
        """(seq, cosine) of these candidates (None: of every memory) that pass the filters;
        plain tuples, as a recall scores hundreds of candidates to keep a few."""
        import numpy as np

        if seqs is None:
            sql = f"SELECT v.seq, v.embedding FROM memories m JOIN memory_vectors v ON v.seq = m.seq WHERE {where}"
        elif not seqs:
            return []
        else:
            # CROSS JOIN keeps the candidates' primary keys as the outer loop; left to
            # itself the planner scans every memory of the user through its index.
            sql = (
                "SELECT v.seq, v.embedding FROM memory_vectors v CROSS JOIN memories m ON m.seq = v.seq "
                f"WHERE v.seq IN ({','.join(map(str, seqs))}) AND {where}"
            )
        rows = self.conn.execute(sql, params).fetchall()
        if not rows:
            return []
        dim = query.shape[0]
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        sims = matrix @ query
        return [(int(r[0]), s) for r, s in zip(rows, sims.tolist())]

    # -- maintenance -------------------------------------------------------------

    def texts_for_reindex(self) -> list[tuple[str, str]]:
        """(id, text) of every memory, in the order stored."""
        return [(r[0], r[1]) for r in self.conn.execute("SELECT id, text FROM memories ORDER BY seq")]

    def replace_all_vectors(
        self,
        items: Sequence[tuple[str, str]],
        vectors: np.ndarray,
        model: str,
        dim: int,
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        """Swap in a whole new embedding space of `dim` dimensions at once (after `mem reindex`).

        `items` are the (id, text) the vectors were made from. Other
        processes keep writing while reindex embeds: memories added or edited
        since are embedded here with `embed`, inside the transaction (so none
        can slip past), and memories forgotten since are left out.
        """
        import numpy as np

        made = {memory_id: (text, i) for i, (memory_id, text) in enumerate(items)}
        with write_transaction(self.conn):
            current = self.conn.execute("SELECT seq, id, user, text FROM memories ORDER BY seq").fetchall()
            stale = [row for row in current if made.get(row[1], (None, 0))[0] != row[3]]
            late: dict[int, np.ndarray] = {}
            if stale:
                if embed is None:
                    raise StoreError(f"{len(stale)} memories changed during reindex: run it again")
                late = dict(zip([row[0] for row in stale], embed([row[3] for row in stale])))
            self.conn.execute("DELETE FROM memory_vectors")
            self._create_vector_index(dim)
            for seq, memory_id, user, _text in current:
                vector = late[seq] if seq in late else vectors[made[memory_id][1]]
                self._put_vector(seq, user, np.ascontiguousarray(vector, dtype=np.float32))
            self.conn.execute("UPDATE memories SET embed_model = ?, embed_dim = ?", [model, dim])
            self._set_space(model, dim)

    def counts(self) -> dict[str, int]:
        one = lambda sql: int(self.conn.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "rows": one("SELECT count(*) FROM memories"),
            "full_text": one("SELECT count(*) FROM memories_fts_docsize"),
            "vectors": one("SELECT count(*) FROM memory_vectors"),
            "vector_index": one("SELECT count(*) FROM vec_memories") if self._has_vec_index() else 0,
            "history": one("SELECT count(*) FROM memory_history"),
            "expired": int(
                self.conn.execute(
                    "SELECT count(*) FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ?",
                    [now_str()],
                ).fetchone()[0]
            ),
        }

    def group_counts(self, column: GroupColumn) -> dict[str, int]:
        if column not in ("kind", "user"):  # never into the SQL unchecked, whatever the type says
            raise ValueError(f"cannot count memories by {column!r}")
        return {
            r[0]: r[1]
            for r in self.conn.execute(f"SELECT {column}, count(*) FROM memories GROUP BY 1 ORDER BY 1")
        }

    def ids_starting(self, prefix: str, user: str, limit: int) -> list[tuple[str, str]]:
        if prefix and not prefix.isalnum():
            return []  # not an id; and no LIKE wildcard gets in
        order = "m.id" if prefix else "m.seq DESC"
        rows = self.conn.execute(
            "SELECT m.id, substr(m.text, 1, 200) FROM memories m WHERE m.user = ? AND m.id LIKE ? "
            f"ORDER BY {order} LIMIT ?",
            [user, prefix.lower() + "%", limit],
        )
        return [(r[0], r[1]) for r in rows]

    def tag_counts(self, filters: Filters) -> list[tuple[str, int]]:
        where, params = self.where(filters)
        sql = (
            "SELECT g.tag, count(*) FROM memory_tags g JOIN memories m ON m.seq = g.seq "
            f"WHERE {where} GROUP BY g.tag ORDER BY count(*) DESC, g.tag"
        )
        return [(r[0], int(r[1])) for r in self.conn.execute(sql, params)]

    def health(self) -> dict[str, list[str]]:
        """Each check of the file -> what it found wrong (nothing: it passed).

        The checks: the index counts against the rows, SQLite's integrity_check,
        the schema (every table and index of the migrations), the FTS index
        against its rows. One that cannot run (a damaged page) reports why; the
        others still run.
        """
        checks: dict[str, Callable[[], list[str]]] = {
            "index counts": self._count_mismatches,
            "integrity": lambda: [r[0] for r in self.conn.execute("PRAGMA integrity_check") if r[0] != "ok"],
            "schema": lambda: [f"{name} is missing" for name in schema.missing(self.conn)],
            "full-text index": self._fts_check,
        }
        found = {}
        for name, check in checks.items():
            try:
                found[name] = check()
            except _UNREADABLE as exc:  # a StoreError from a public method: the driver's own words
                found[name] = [str(exc.__cause__ or exc) if isinstance(exc, StoreError) else str(exc)]
        return found

    def integrity_problems(self) -> list[str]:
        """What `health` finds wrong, as one list."""
        return [f"{name}: {problem}" for name, problems in self.health().items() for problem in problems]

    def _count_mismatches(self) -> list[str]:
        counts = self.counts()
        labels = {"full_text": "fts rows", "vectors": "vector rows", "vector_index": "vec index rows"}
        return [
            f"{label}: {counts[key]} for {counts['rows']} memories"
            for key, label in labels.items()
            if counts[key] != counts["rows"]
        ]

    def _fts_check(self) -> list[str]:
        self.conn.execute("INSERT INTO memories_fts (memories_fts, rank) VALUES ('integrity-check', 1)")
        return []
