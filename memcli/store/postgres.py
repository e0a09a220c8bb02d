"""The server backend: PostgreSQL with pgvector, for one memory shared by several machines or people.

`PostgresStore` implements the `Store` protocol of memcli.store.base with the
tables of memcli.store.pg_schema: full text in a generated tsvector column
(GIN index, ranked by ts_rank_cd), vectors in a pgvector column (an exact scan
while the store is small, an HNSW index past HNSW_MIN_ROWS), tags, history and
chat sessions beside them. Row-level security shows each database role its own
rows only. psycopg is imported only here, so the SQLite path never pays for it.

Order of storing: `seq` comes from a sequence, and PostgreSQL hands out
sequence values before commit, so two writers could commit 101 before 100 and a
reader that had seen 101 would never look back at 100. Every write transaction
of a role therefore takes that role's transaction-level advisory lock first
(`_write`): inserts commit in the order of their `seq`, which is what
`records_after` relies on, and no two writers deadlock on each other's rows.
Readers never wait.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Json, Jsonb

from ..errors import Busy, InputError, ModelError, NotFound, StoreError
from ..records import (
    CHAT_THREAD_PREFIX,
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
from . import display_url, filter_sql, pg_schema
from .base import Capabilities, Probe, relevance
from .graph_rows import GraphRows
from .translate import storage_errors

if TYPE_CHECKING:
    import numpy as np

MIN_PREFIX = 4
# Full text (fts_search): a memory's own words weigh 1, its thread neighbours' 0.5, as
# SQLite's BM25 weighs them; BM25's usual constants; how a word's matches are counted.
CONTEXT_WEIGHT = 0.5
BM25_K1, BM25_B = 1.2, 0.75
EXACT_COUNTS_BELOW = 20_000  # memories; past it a word's document frequency is the planner's estimate
RARE_WORD = 3_000  # a word in fewer memories than this finds candidates; commoner ones only score
COMMON_POOL = 2_000  # a query of common words only ranks at most this many of their matches
# Past this many vectors an HNSW index answers vector search (bench/scale.py, k=10, p50):
# the exact scan took 2.4 ms at 5k memories and 2.5 ms at 20k, as fast as the index, and
# is always right; at 100k it took 106 ms against 6 ms for the index.
HNSW_MIN_ROWS = 20_000
# Candidates the HNSW index walks per query (pgvector's default is 40). Vector recall@10
# against exact search at 100k memories: 0.915 at 100, 0.944 at 200, 0.972 at 400 (6 ms).
HNSW_EF_SEARCH = 400
# How the index is built (pgvector's defaults are 16 and 64). Near-duplicate memories make
# a graph built with 64 candidates lose its way: at 100k memories, recall@10 at ef_search
# 400 was 0.953 with 64, 0.987 with 128, 0.997 with 200, for 1.8x the build time of 64.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
# Advisory lock keys (pg_advisory_*): a role's writes take turns; one consolidation per
# role; one migration at a time.
_WRITE_LOCK = 0x6D656D01
_LOCKS = {"consolidate": 0x6D656D02}
_MIGRATION_LOCK = 0x6D656D00
_T = "t"  # alias of the memories table in every query

_STORED = tuple(name for name in MEMORY_FIELDS if name != "tags")
_COLUMNS = ", ".join(f'{_T}."{name}"' for name in ("seq", *_STORED))
_ORDERS = {
    "stored": f"{_T}.seq",
    "oldest": f"{_T}.occurred_at, {_T}.seq",
    "newest": f"{_T}.occurred_at DESC, {_T}.seq DESC",
}
_WORD = re.compile(r"\w+", re.UNICODE)


def _error_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def store_error(exc: BaseException) -> StoreError:
    """A psycopg error as memcli's own (exit status 5), in one line."""
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        message = f"the database refused: {_error_line(exc)} (is this role granted? see `mem server grant`)"
    elif isinstance(exc, psycopg.OperationalError):
        message = f"database server problem: {_error_line(exc)}"
    else:
        message = f"database problem: {_error_line(exc)} (run `mem doctor`)"
    error = StoreError(message)
    error.__cause__ = exc
    return error


_storage_errors = storage_errors((psycopg.Error,), store_error)


def _idf(d: int, total: float) -> float:
    """BM25's inverse document frequency of a word in d of `total` memories (Lucene's, never negative)."""
    import math

    return math.log(1.0 + (total - d + 0.5) / (d + 0.5))


def _quoted(lexeme: str, weight: str = "") -> str:
    """One lexeme as tsquery text (cast with ::tsquery, never parsed as words again)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" + (f":{weight}" if weight else "")


def tsquery(words: Iterable[str], operator: str, weight: str = "") -> str:
    """A to_tsquery text of plain words (never query syntax): each quoted lexeme, joined."""
    parts = []
    for word in words:
        for token in _WORD.findall(word):
            parts.append("'" + token.replace("'", "''") + "'" + (f":{weight}" if weight else ""))
    return f" {operator} ".join(parts)


def _all_words(a: str, words: Sequence[str]) -> tuple[str, list[Any]]:
    """The memory's own words (weight A) only, not its thread's context."""
    query = tsquery(words, "&", "A")
    return (f"{a}.tsv @@ to_tsquery('english', %s)", [query]) if query else ("false", [])


# How PostgreSQL spells what filter_sql leaves to each backend.
_DIALECT = filter_sql.Dialect(
    mark="%s",
    user='"user"',
    true="true",
    one_of=lambda column, values: (f"{column} = ANY(%s)", [list(values)]),
    all_words=_all_words,
    derived_from=lambda a, ids: (f"{a}.sources <> '[]' AND {a}.sources ?| %s", [list(ids)]),
)


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection to the server at `url` (autocommit: each write says its own
    transaction), in memcli's schema."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {display_url(url)}: {_error_line(exc)}") from None
    try:
        conn.execute(f"SET search_path = {pg_schema.SCHEMA}, public")
    except psycopg.Error as exc:
        conn.close()
        raise store_error(exc) from exc
    return conn


def _register_vector(conn: psycopg.Connection[Any]) -> bool:
    """pgvector's numpy adapters on this connection; False when the extension is missing."""
    from pgvector.psycopg import register_vector

    try:
        register_vector(conn)
    except psycopg.ProgrammingError:  # "vector type not found in the database"
        return False
    return True


def is_current(conn: psycopg.Connection[Any]) -> bool:
    try:
        with conn.transaction():
            rows = conn.execute(f"SELECT name FROM {pg_schema.SCHEMA}.migrations").fetchall()
    except psycopg.Error:
        return False
    return {r[0] for r in rows} >= set(pg_schema.migration_names())


def apply_migrations(conn: psycopg.Connection[Any]) -> None:
    """Create the schema or bring it up to date (one transaction; two at once wait for each other)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {pg_schema.SCHEMA}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
        for name, statements in pg_schema.MIGRATIONS:
            if name in done:
                continue
            for statement in statements:
                conn.execute(statement)  # no parameters: the text goes as written
            conn.execute("INSERT INTO migrations (name) VALUES (%s)", [name])


@_storage_errors
class PostgresStore(GraphRows):
    """memcli's tables in one PostgreSQL database, seen as the role connected."""

    _MARK = "%s"

    def __init__(self, url: str, *, create: bool = True, _throwaway: bool = False) -> None:
        self.url = url
        self.traces_left = False
        # A snapshot: one transaction that is rolled back at close, never committed.
        self._throwaway = _throwaway
        self.conn = connect(url)
        self._outer: Any = None
        self._avg_length: float | None = None  # lexemes per memory, for BM25 (sampled once)
        try:
            role, granted = self.conn.execute(
                "SELECT current_user, to_regnamespace(%s) IS NULL OR has_schema_privilege(%s, 'USAGE')",
                [pg_schema.SCHEMA, pg_schema.SCHEMA],
            ).fetchone() or ("?", True)
            if not granted:
                raise StoreError(
                    f"permission denied: role {role} may not use the memcli schema of {display_url(url)} "
                    f"(its owner runs: mem server grant {role})"
                )
            if not is_current(self.conn):
                if not create:
                    raise StoreError(f"{display_url(url)} has no memcli schema (run `mem server init`)")
                try:
                    apply_migrations(self.conn)
                except pg_errors.InsufficientPrivilege:
                    raise StoreError(
                        f"{display_url(url)} has no memcli schema and this role may not create it: "
                        "ask the database's owner to run `mem server init` and `mem server grant`"
                    ) from None
                except pg_errors.FeatureNotSupported as exc:
                    raise StoreError(f"{display_url(url)}: {_error_line(exc)}") from None
                except psycopg.errors.UndefinedFile:
                    raise StoreError(
                        f"{display_url(url)}: the server has no pgvector extension (install pgvector 0.5 or newer)"
                    ) from None
            if not _register_vector(self.conn):
                raise StoreError(
                    f"{display_url(url)}: the pgvector extension is not installed in this database"
                )
            if self._throwaway:  # every write from here on is a savepoint of this, rolled back at close
                self._outer = self.conn.transaction(force_rollback=True)
                self._outer.__enter__()
        except BaseException:
            self.conn.close()
            raise

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            backend="postgresql",
            erasure="vacuum",
            scrub=False,
            encrypted=False,
            vector_index=(
                "HNSW (pgvector), exact scan when filters leave too few"
                if self._hnsw_dim() is not None
                else "exact scan (pgvector)"
            ),
        )

    def close(self) -> None:
        if self._outer is not None and not self.conn.closed:
            self._outer.__exit__(None, None, None)
            self._outer = None
        self.conn.close()

    def snapshot(self) -> PostgresStore:
        """A private, throw-away view of the store: one transaction rolled back at close."""
        return PostgresStore(self.url, create=False, _throwaway=True)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self._write():
                yield
        except psycopg.Error as exc:
            raise store_error(exc) from exc

    @contextmanager
    def _write(self) -> Iterator[None]:
        """A write transaction (a savepoint inside another), holding this role's write lock.

        Writes of one role take turns, as SQLite's do: inserts then commit in the
        order of their seq (see the module's notes), and two writers never wait on
        each other's row locks in opposite orders (a deadlock), whatever rows they
        touch. The lock is a transaction-level advisory lock, taken again at no cost
        inside a transaction that holds it; a snapshot, never committed, needs none.
        """
        with self.conn.transaction():
            if not self._throwaway:
                self.conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_user))", [_WRITE_LOCK])
            yield

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        return self._exclusive(name)

    @contextmanager
    def _exclusive(self, name: str) -> Iterator[None]:
        """One `name` (consolidate) at a time per role: a session advisory lock, freed
        when the process dies."""
        key = _LOCKS[name]
        got = self.conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(current_user))", [key]).fetchone()
        if not got or not got[0]:
            raise Busy(f"another mem {name} is running on {display_url(self.url)}; this run did nothing")
        try:
            yield
        finally:
            if not self.conn.closed:
                self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(current_user))", [key])

    def size(self) -> int:
        return int(
            self.conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                [pg_schema.SCHEMA],
            ).fetchone()[0]  # type: ignore[index]
        )

    # -- settings and the embedding space -----------------------------------------

    def setting(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = %s", [key]).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self._write():
            self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (%s, %s) "
                "ON CONFLICT (owner, key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    def embedding_space(self) -> tuple[str, int] | None:
        row = self.conn.execute("SELECT model, dim FROM embedding_space").fetchone()
        return (row[0], int(row[1])) if row else None

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

    def _ensure_space(self, model: str, dim: int) -> None:
        """Inside a transaction: the store's embedding space is this one (set on first use)."""
        self.conn.execute(
            "INSERT INTO embedding_space (model, dim) VALUES (%s, %s) ON CONFLICT (one) DO NOTHING",
            [model, dim],
        )
        self.check_embedding_space(model, dim)

    def _dim(self) -> int | None:
        space = self.embedding_space()
        return space[1] if space else None

    def _hnsw_dim(self) -> int | None:
        """The dimension of the HNSW index, if there is one."""
        row = self.conn.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'memory_vectors_hnsw'",
            [pg_schema.SCHEMA],
        ).fetchone()
        if row is None:
            return None
        found = re.search(r"vector\((\d+)\)", row[0])
        return int(found.group(1)) if found else None

    def words_use_their_index(self) -> bool:
        """Whether a search by words can use the full-text index under row-level security
        (text search's @@ marked LEAKPROOF; see pg_schema.LEAKPROOF_SQL)."""
        row = self.conn.execute(
            "SELECT proleakproof FROM pg_proc WHERE oid = 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure"
        ).fetchone()
        return bool(row and row[0])

    def mark_leakproof(self) -> bool:
        """As a superuser: let searches by words use their index (pg_schema.LEAKPROOF_SQL).
        False when this role may not."""
        if self.words_use_their_index():
            return True
        superuser = self.conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        if not superuser or not superuser[0]:
            return False
        self.conn.execute(pg_schema.LEAKPROOF_SQL)
        return True

    def build_vector_index(self, *, force: bool = False) -> bool:
        """Build the HNSW index once the store is past HNSW_MIN_ROWS vectors (or now, with
        `force`). Only the tables' owner may; True when the index is there after."""
        dim = self._dim()
        if dim is None:
            return False
        if self._hnsw_dim() == dim:
            return True
        # The live rows the statistics collector counts (reltuples waits for ANALYZE).
        rows = self.conn.execute("SELECT pg_stat_get_live_tuples('memory_vectors'::regclass)").fetchone()[0]  # type: ignore[index]
        if not force and rows < HNSW_MIN_ROWS:
            return False
        owner = self.conn.execute(
            "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'memory_vectors'::regclass"
        ).fetchone()[0]  # type: ignore[index]
        if not owner:
            return False
        with self.conn.transaction():
            # An HNSW graph built in memory is several times faster: at least 1 GB, more if
            # the server gives more (the index takes about 2 KB a memory).
            self.conn.execute(
                "SELECT set_config('maintenance_work_mem', greatest(setting::bigint, 1048576)::text || 'kB', true) "
                "FROM pg_settings WHERE name = 'maintenance_work_mem'"
            )
            self.conn.execute("DROP INDEX IF EXISTS memory_vectors_hnsw")
            self.conn.execute(
                f"CREATE INDEX memory_vectors_hnsw ON memory_vectors USING hnsw "
                f"((embedding::vector({int(dim)})) vector_cosine_ops) "
                f"WITH (m = {int(HNSW_M)}, ef_construction = {int(HNSW_EF_CONSTRUCTION)})"
            )
        return True

    # -- writing -----------------------------------------------------------------

    def existing_hashes(self, user: str, kind: str, hashes: Sequence[str]) -> dict[str, str]:
        rows = self.conn.execute(
            f'SELECT content_hash, id FROM memories {_T} WHERE {_T}."user" = %s AND kind = %s '
            "AND slot = '' AND content_hash = ANY(%s)",
            [user, kind, list(dict.fromkeys(hashes))],
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def id_exists(self, memory_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM memories WHERE id = %s", [memory_id]).fetchone() is not None

    def insert(self, rows: Sequence[NewRow], vectors: np.ndarray, model: str) -> list[tuple[str, str]]:
        import numpy as np

        dim = int(vectors.shape[1]) if len(rows) else 0
        results: list[tuple[str, str]] = []
        with self._write():
            if not rows:
                return results
            self._ensure_space(model, dim)
            added: list[int] = []
            for row, vector in zip(rows, vectors):
                memory_id, status, seq = self._insert_one(
                    row, np.ascontiguousarray(vector, dtype=np.float32), model, dim
                )
                results.append((memory_id, status))
                if seq is not None:
                    added.append(seq)
            self._recontext(self._with_neighbours(added))
        if added and not self._throwaway:
            self.build_vector_index()
        return results

    def _insert_one(
        self, row: NewRow, vector: np.ndarray, model: str, dim: int
    ) -> tuple[str, str, int | None]:
        record = row.record
        preset_id = record.id
        values: dict[str, Any] = {name: getattr(record, name) for name in _STORED}
        values["meta"] = Json(values["meta"] or {})
        values["sources"] = Jsonb(values["sources"] or [])
        values["embed_model"], values["embed_dim"] = model, dim
        columns = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join(["%s"] * len(values))
        # One statement in the common case: the unique indexes decide (the same text of
        # this user and kind, or a taken id), never a plan made before the table has
        # statistics. Nothing stored: find out which one it was.
        for _attempt in range(10):
            values["id"] = preset_id or new_id()
            inserted = self.conn.execute(
                f"INSERT INTO memories ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING seq",
                list(values.values()),
            ).fetchone()
            if inserted is not None:
                seq = inserted[0]
                break
            existing = self.conn.execute(
                'SELECT id FROM memories WHERE "user" = %s AND kind = %s AND content_hash = %s AND slot = %s',
                [record.user, record.kind, record.content_hash, thread_slot(record.doc_id, record.chunk)],
            ).fetchone()
            if existing:
                return existing[0], "exists", None
            if preset_id:
                return preset_id, "exists", None
        else:
            raise StoreError("could not allocate a unique memory id")
        self.conn.execute("INSERT INTO memory_vectors (seq, embedding) VALUES (%s, %s)", [seq, vector])
        if record.tags:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO memory_tags (seq, tag) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    [(seq, t) for t in dict.fromkeys(record.tags)],
                )
        if row.history:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO memory_history (seq, text, changed_at) VALUES (%s, %s, %s)",
                    [(seq, h.text, h.changed_at) for h in row.history],
                )
        return values["id"], "added", int(seq)

    # -- thread context: each memory of a thread is indexed with its neighbours' text

    def _with_neighbours(self, seqs: Sequence[int]) -> list[int]:
        """These memories and their neighbours in their threads."""
        if not seqs:
            return []
        rows = self.conn.execute(
            f'SELECT o.seq FROM memories {_T} JOIN memories o ON o."user" = {_T}."user" '
            f"AND o.doc_id = {_T}.doc_id AND o.chunk BETWEEN {_T}.chunk - 1 AND {_T}.chunk + 1 "
            f"WHERE {_T}.seq = ANY(%s) AND {_T}.doc_id IS NOT NULL AND {_T}.chunk IS NOT NULL",
            [list(seqs)],
        ).fetchall()
        return list(dict.fromkeys([*seqs, *(int(r[0]) for r in rows)]))

    def _recontext(self, seqs: Sequence[int]) -> None:
        """Recompute the neighbours' context of these memories (the tsvector follows)."""
        if not seqs:
            return
        neighbour = (
            f'(SELECT o.text FROM memories o WHERE o."user" = {_T}."user" AND o.doc_id = {_T}.doc_id '
            f"AND o.chunk = {_T}.chunk {{op}} 1 ORDER BY o.seq LIMIT 1)"
        )
        self.conn.execute(
            f"UPDATE memories {_T} SET context = coalesce({neighbour.format(op='-')}, '') || E'\\n' "
            f"|| coalesce({neighbour.format(op='+')}, '') "
            f"WHERE {_T}.seq = ANY(%s) AND {_T}.doc_id IS NOT NULL AND {_T}.chunk IS NOT NULL",
            [list(seqs)],
        )

    def update_text(
        self, memory_id: str, text: str, content_hash: str, vector: np.ndarray, model: str
    ) -> None:
        import numpy as np

        with self._write():
            record = self.get(memory_id)
            self.check_embedding_space(model, int(vector.shape[0]))
            seq = self._seq(record.id)
            clash = self.conn.execute(
                'SELECT id FROM memories WHERE "user" = %s AND kind = %s AND content_hash = %s '
                "AND seq <> %s AND slot = %s",
                [record.user, record.kind, content_hash, seq, thread_slot(record.doc_id, record.chunk)],
            ).fetchone()
            if clash:
                raise InputError(f"memory {clash[0]} already holds this text")
            now = now_str()
            self.conn.execute(
                "INSERT INTO memory_history (seq, text, changed_at) VALUES (%s, %s, %s)",
                [seq, record.text, now],
            )
            self.conn.execute(
                "UPDATE memories SET text = %s, content_hash = %s, updated_at = %s WHERE seq = %s",
                [text, content_hash, now, seq],
            )
            self.conn.execute(
                "UPDATE memory_vectors SET embedding = %s WHERE seq = %s",
                [np.ascontiguousarray(vector, dtype=np.float32), seq],
            )
            self._recontext(self._with_neighbours([seq]))

    def patch(self, memory_id: str, changes: Patch) -> None:
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values: dict[str, Any] = dict(changes)
        if not values:
            self._seq(memory_id)
            return
        if "sources" in values:
            values["sources"] = Jsonb(list(dict.fromkeys(values["sources"])))
        assignments = ", ".join(f'"{k}" = %s' for k in values)
        with self._write():
            changed = self.conn.execute(
                f"UPDATE memories SET {assignments} WHERE id = %s", [*values.values(), memory_id]
            ).rowcount
        if not changed:
            raise NotFound(f"no memory with id {memory_id!r}")

    def add_tags(self, memory_id: str, tags: Sequence[str]) -> None:
        if not tags:
            return
        seq = self._seq(memory_id)
        with self._write(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO memory_tags (seq, tag) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(seq, t) for t in dict.fromkeys(tags)],
            )

    def remove_tags(self, memory_id: str, tags: Sequence[str]) -> None:
        seq = self._seq(memory_id)
        with self._write():
            self.conn.execute(
                "DELETE FROM memory_tags WHERE seq = %s AND tag = ANY(%s)", [seq, list(dict.fromkeys(tags))]
            )

    def add_history(self, memory_id: str, text: str, changed_at: str) -> None:
        with self._write():
            self.conn.execute(
                "INSERT INTO memory_history (seq, text, changed_at) VALUES (%s, %s, %s)",
                [self._seq(memory_id), text, changed_at],
            )

    def clear_history(self, memory_id: str) -> None:
        with self._write():
            if self.conn.execute(
                "DELETE FROM memory_history WHERE seq = %s", [self._seq(memory_id)]
            ).rowcount:
                self.traces_left = True

    def delete(self, memory_ids: Iterable[str]) -> int:
        ids = list(dict.fromkeys(memory_ids))
        if not ids:
            return 0
        with self._write():
            rows = self.conn.execute(
                'SELECT seq, "user", doc_id FROM memories WHERE id = ANY(%s)', [ids]
            ).fetchall()
            if not rows:
                return 0
            seqs = [int(r[0]) for r in rows]
            neighbours = [s for s in self._with_neighbours(seqs) if s not in set(seqs)]
            for user, doc_id in {(r[1], r[2]) for r in rows if r[2] and r[2].startswith(CHAT_THREAD_PREFIX)}:
                # a chat summary may quote a forgotten turn: the next resume rebuilds it
                self.conn.execute(
                    "UPDATE chat_sessions SET summary = '', summarized_through = 0 "
                    'WHERE "user" = %s AND name = %s',
                    [user, doc_id.removeprefix(CHAT_THREAD_PREFIX)],
                )
            # Tags and history go by ON DELETE CASCADE.
            deleted = self.conn.execute("DELETE FROM memories WHERE seq = ANY(%s)", [seqs]).rowcount
            self.conn.execute("UPDATE memories SET superseded_by = NULL WHERE superseded_by = ANY(%s)", [ids])
            self.conn.execute("UPDATE memories SET digest_id = NULL WHERE digest_id = ANY(%s)", [ids])
            self._recontext(neighbours)
            self.conn.execute(
                f"DELETE FROM chat_sessions s WHERE NOT EXISTS (SELECT 1 FROM memories {_T} "
                f'WHERE {_T}."user" = s."user" AND {_T}.doc_id = %s || s.name)',
                [CHAT_THREAD_PREFIX],
            )
        if deleted:
            self.traces_left = True  # dead tuples until VACUUM; WAL, archives and replicas keep copies
        return int(deleted)

    def _erased(self) -> None:
        self.traces_left = True  # dead tuples until VACUUM, as for memories

    def scrub(self, wait_ms: int = 3000) -> bool:
        """Nothing memcli can do: the server erases dead rows when it vacuums them."""
        return not self.traces_left

    def touch_recalled(self, memory_ids: Sequence[str], now: str) -> None:
        """Count recalls without waiting on a writer and without waiting for the WAL to flush."""
        if not memory_ids or self._throwaway or self.conn.info.transaction_status != 0:
            return
        try:
            with self.conn.transaction():
                self.conn.execute("SET LOCAL synchronous_commit = off")
                self.conn.execute("SET LOCAL lock_timeout = '200ms'")
                self.conn.execute(
                    "UPDATE memories SET recalled = recalled + 1, last_recalled_at = %s WHERE id = ANY(%s)",
                    [now, list(memory_ids)],
                )
        except psycopg.errors.LockNotAvailable:
            pass  # a lost count costs nothing
        except psycopg.errors.ReadOnlySqlTransaction:
            pass

    def texts_for_reindex(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.conn.execute("SELECT id, text FROM memories ORDER BY seq")]

    def replace_all_vectors(
        self,
        items: Sequence[tuple[str, str]],
        vectors: np.ndarray,
        model: str,
        dim: int,
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        import numpy as np

        made = {memory_id: (text, i) for i, (memory_id, text) in enumerate(items)}
        with self._write():
            current = self.conn.execute(
                "SELECT seq, id, text FROM memories ORDER BY seq FOR UPDATE"
            ).fetchall()
            stale = [row for row in current if made.get(row[1], (None, 0))[0] != row[2]]
            late: dict[int, np.ndarray] = {}
            if stale:
                if embed is None:
                    raise StoreError(f"{len(stale)} memories changed during reindex: run it again")
                late = dict(zip([row[0] for row in stale], embed([row[2] for row in stale])))
            if self._hnsw_dim() not in (None, dim):
                self.conn.execute("DROP INDEX memory_vectors_hnsw")
            with self.conn.cursor() as cur:
                cur.executemany(
                    "UPDATE memory_vectors SET embedding = %s WHERE seq = %s",
                    [
                        (
                            np.ascontiguousarray(
                                late[seq] if seq in late else vectors[made[memory_id][1]], dtype=np.float32
                            ),
                            seq,
                        )
                        for seq, memory_id, _text in current
                    ],
                )
            self.conn.execute("UPDATE memories SET embed_model = %s, embed_dim = %s", [model, dim])
            self.conn.execute(
                "INSERT INTO embedding_space (model, dim) VALUES (%s, %s) "
                "ON CONFLICT (one) DO UPDATE SET model = excluded.model, dim = excluded.dim",
                [model, dim],
            )
        self.build_vector_index()

    # -- reading one memory ------------------------------------------------------

    def _seq(self, memory_id: str) -> int:
        row = self.conn.execute("SELECT seq FROM memories WHERE id = %s", [memory_id]).fetchone()
        if row is None:
            raise NotFound(f"no memory with id {memory_id!r}")
        return int(row[0])

    def resolve_id(self, id_or_prefix: str, user: str | None = None) -> str:
        key = (id_or_prefix or "").strip().lower()
        if not key:
            raise NotFound("empty memory id")
        mine, params = ("", []) if user is None else (' AND "user" = %s', [user])
        row = self.conn.execute(f"SELECT id FROM memories WHERE id = %s{mine}", [key, *params]).fetchone()
        if row:
            return str(row[0])
        if MIN_PREFIX <= len(key) < ID_LENGTH and key.isalnum():
            rows = self.conn.execute(
                f"SELECT id FROM memories WHERE id >= %s AND id < %s{mine} ORDER BY id LIMIT 3",
                [key, key + "~", *params],
            ).fetchall()
            if len(rows) == 1:
                return str(rows[0][0])
            if len(rows) > 1:
                raise NotFound(f"id prefix {id_or_prefix!r} is ambiguous: give more characters")
        raise NotFound(f"no memory with id {id_or_prefix!r}")

    def get(self, id_or_prefix: str, user: str | None = None) -> MemoryRecord:
        memory_id = self.resolve_id(id_or_prefix, user)
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM memories {_T} WHERE {_T}.id = %s", [memory_id]
        ).fetchall()
        return self._records(rows)[0]

    def get_many(self, memory_ids: Sequence[str]) -> dict[str, MemoryRecord]:
        if not memory_ids:
            return {}
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM memories {_T} WHERE {_T}.id = ANY(%s)", [list(memory_ids)]
        ).fetchall()
        return {record.id: record for record in self._records(rows)}

    def history(self, id_or_prefix: str) -> tuple[MemoryRecord, list[HistoryEntry]]:
        record = self.get(id_or_prefix)
        rows = self.conn.execute(
            "SELECT text, changed_at FROM memory_history WHERE seq = %s ORDER BY id", [self._seq(record.id)]
        ).fetchall()
        entries = [HistoryEntry(text=r[0], changed_at=r[1]) for r in rows]
        entries.append(
            HistoryEntry(text=record.text, changed_at=record.updated_at or record.created_at, current=True)
        )
        return record, entries

    def histories(self, memory_ids: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        found: dict[str, list[HistoryEntry]] = {}
        if not memory_ids:
            return found
        for memory_id, text, changed_at in self.conn.execute(
            f"SELECT {_T}.id, h.text, h.changed_at FROM memories {_T} JOIN memory_history h ON h.seq = {_T}.seq "
            f"WHERE {_T}.id = ANY(%s) ORDER BY h.id",
            [list(dict.fromkeys(memory_ids))],
        ):
            found.setdefault(memory_id, []).append(HistoryEntry(text=text, changed_at=changed_at))
        return found

    def vector_of(self, memory_id: str) -> np.ndarray | None:
        import numpy as np

        row = self.conn.execute(
            f"SELECT v.embedding FROM memories {_T} JOIN memory_vectors v ON v.seq = {_T}.seq WHERE {_T}.id = %s",
            [memory_id],
        ).fetchone()
        if row is None or row[0] is None:
            return None
        value = row[0]
        return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)

    # -- search ------------------------------------------------------------------

    def fts_search(self, terms: Sequence[str], filters: Filters, limit: int) -> list[Scored]:
        """Memories with any of `terms`, best first, scored by relevance in [0, 1]: BM25
        over what the query could attain (memcli.store.base.relevance).

        PostgreSQL's own ranks (ts_rank, ts_rank_cd) know nothing of how rare a
        word is, and rank every match: a word in a tenth of a million memories
        costs a tenth of a second. So the score is BM25's, over the tsvector: each
        query word found weighs its inverse document frequency (see
        _document_frequencies), times 1 in the memory's own text or 0.5
        in its thread neighbours' context (CONTEXT_WEIGHT), normalised by the
        memory's length (tf counts 1: the notes are short). Candidates are the
        memories with a word rarer than RARE_WORD; a query of common words only
        takes the memories holding all of them, then, if too few, at most
        COMMON_POOL of those holding any.
        """
        if limit <= 0 or not terms:
            return []
        words = self._lexemes(terms)
        if not words:
            return []
        df, total = self._document_frequencies(words)
        found = [(w, d) for w, d in zip(words, df) if d > 0]
        if not found:
            return []
        score, score_params = self._bm25(found, total)
        where, params = self.where(filters)
        rare = [w for w, d in found if d < RARE_WORD]

        def ranked(match: str, pool: int | None = None) -> list[Any]:
            source = f"memories {_T}"
            if pool is not None:  # common words only: a bounded sample of their matches
                source = f"(SELECT * FROM memories {_T} WHERE {_T}.tsv @@ %s::tsquery AND {where} LIMIT {pool}) {_T}"
            sql = (
                f"SELECT {_T}.id, {score} AS score, {_T}.seq FROM {source} "
                f"WHERE {_T}.tsv @@ %s::tsquery AND {where} ORDER BY score DESC, {_T}.seq LIMIT %s"
            )
            head = [match, *params] if pool is not None else []
            return self.conn.execute(sql, [*score_params, *head, match, *params, limit]).fetchall()

        if rare:
            rows = ranked(" | ".join(_quoted(w) for w in rare))
        else:
            rows = ranked(" & ".join(_quoted(w) for w, _ in found))
            if len(rows) < limit:
                seen = {r[0] for r in rows}
                more = ranked(" | ".join(_quoted(w) for w, _ in found), COMMON_POOL)
                rows += [r for r in more if r[0] not in seen][: limit - len(rows)]
        # over what the query could attain: a memory of average length holding each of its
        # words once in its own text (a word no memory holds counts as if one did)
        attainable = sum(_idf(max(d, 1), total) for d in df) or 1.0
        return [Scored(r[0], relevance(float(r[1]) / attainable), int(r[2])) for r in rows]

    def _document_frequencies(self, words: list[str]) -> tuple[list[int], float]:
        """How many memories hold each lexeme, and how many there are: counted while the
        store is small, past EXACT_COUNTS_BELOW the planner's estimates (from the
        statistics ANALYZE keeps), as counting a common word's matches means visiting
        each of them (row-level security reads every row it lets through)."""
        row = self.conn.execute(
            "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'memories'::regclass"
        ).fetchone()
        total = float(row[0]) if row else 0.0
        if total >= EXACT_COUNTS_BELOW:
            df = []
            for word in words:
                plan = self.conn.execute(
                    "EXPLAIN (FORMAT JSON) SELECT 1 FROM memories WHERE tsv @@ %s::tsquery", [_quoted(word)]
                ).fetchone()
                df.append(int(plan[0][0]["Plan"]["Plan Rows"]) if plan else 1)
            return df, total
        counts = self.conn.execute(
            "SELECT "
            + ", ".join("(SELECT count(*) FROM memories WHERE tsv @@ %s::tsquery)" for _ in words)
            + ", (SELECT count(*) FROM memories)",
            [_quoted(w) for w in words],
        ).fetchone()
        assert counts is not None
        return [int(c) for c in counts[:-1]], max(float(counts[-1]), 1.0)

    def _lexemes(self, terms: Sequence[str]) -> list[str]:
        """The distinct lexemes of these words under the English configuration (stop words go)."""
        rows = self.conn.execute(
            "SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', t))) FROM unnest(%s::text[]) t",
            [list(terms)],
        ).fetchall()
        return sorted(r[0] for r in rows)

    def _bm25(self, found: list[tuple[str, int]], total: float) -> tuple[str, list[Any]]:
        """The SQL of a memory's BM25 score over these (lexeme, document frequency) pairs."""

        if self._avg_length is None:
            row = self.conn.execute(
                f"SELECT avg(length({_T}.tsv)) FROM (SELECT tsv FROM memories LIMIT 2000) {_T}"
            ).fetchone()
            self._avg_length = float(row[0]) if row and row[0] else 10.0
        parts, params = [], []
        for word, d in found:
            idf = _idf(d, total)
            parts.append(
                f"(CASE WHEN {_T}.tsv @@ %s::tsquery THEN 1.0 WHEN {_T}.tsv @@ %s::tsquery "
                f"THEN {CONTEXT_WEIGHT} ELSE 0 END) * {idf:.6f}"
            )
            params += [_quoted(word, "A"), _quoted(word)]
        norm = f"(1 - {BM25_B} + {BM25_B} * length({_T}.tsv) / {self._avg_length:.3f})"
        return f"(({' + '.join(parts)}) * {BM25_K1 + 1} / (1 + {BM25_K1} * {norm}))", params

    def vector_search(self, query: np.ndarray, filters: Filters, limit: int) -> list[Scored]:
        """The nearest memories by cosine similarity: through the HNSW index when there is
        one, then exactly when the filters left fewer than `limit` of its candidates."""
        import numpy as np

        dim = self._dim()
        if dim is None or limit <= 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32)
        where, params = self.where(filters)
        # ORDER BY the distance alone lets the HNSW index answer; with `, seq` beside it no
        # index can, so that query is exact whatever plan psycopg has prepared for it (a
        # prepared statement keeps its plan across SET enable_indexscan). Ties are broken
        # after either way.
        sql = (
            f"SELECT {_T}.id, 1 - (v.embedding::vector({dim}) <=> %s::vector({dim})) AS similarity, {_T}.seq "
            f"FROM memory_vectors v JOIN memories {_T} ON {_T}.seq = v.seq WHERE {where} "
            f"ORDER BY v.embedding::vector({dim}) <=> %s::vector({dim})"
        )
        args = [query, *params, query, limit]
        exact = sql + f", {_T}.seq LIMIT %s"
        if self._hnsw_dim() != dim:
            rows = self.conn.execute(exact, args).fetchall()
        else:
            with self.conn.transaction():
                self.conn.execute(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, limit)}")
                rows = self.conn.execute(sql + " LIMIT %s", args).fetchall()
            if len(rows) < limit:  # the filters hid the index's candidates: go exact
                rows = self.conn.execute(exact, args).fetchall()
        rows.sort(key=lambda r: (-r[1], r[2]))
        return [Scored(r[0], float(r[1]), int(r[2])) for r in rows]

    def similarities(self, memory_ids: Sequence[str], query: np.ndarray) -> dict[str, float]:
        import numpy as np

        dim = self._dim()
        if not memory_ids or dim is None:
            return {}
        rows = self.conn.execute(
            f"SELECT {_T}.id, 1 - (v.embedding::vector({dim}) <=> %s::vector({dim})) FROM memories {_T} "
            f"JOIN memory_vectors v ON v.seq = {_T}.seq WHERE {_T}.id = ANY(%s)",
            [np.ascontiguousarray(query, dtype=np.float32), list(memory_ids)],
        ).fetchall()
        return {r[0]: float(r[1]) for r in rows}

    def ranking_facts(self, memory_ids: Sequence[str]) -> dict[str, tuple[int, str, str | None, str | None]]:
        if not memory_ids:
            return {}
        rows = self.conn.execute(
            "SELECT id, importance, occurred_at, last_recalled_at, valid_to FROM memories WHERE id = ANY(%s)",
            [list(memory_ids)],
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def places(self, memory_ids: Sequence[str]) -> dict[str, tuple[str | None, int | None, str]]:
        if not memory_ids:
            return {}
        rows = self.conn.execute(
            "SELECT id, doc_id, chunk, occurred_at FROM memories WHERE id = ANY(%s)", [list(memory_ids)]
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def neighbours(
        self, memory_ids: Sequence[str], filters: Filters, span: int, seconds: int
    ) -> dict[str, int]:
        if not memory_ids:
            return {}
        where, params = self.where(filters)
        # A thread's turns by (owner, user, doc_id, chunk), notes without a thread by their
        # seq; then the filters, on those few rows only.
        sql = (
            'WITH s AS (SELECT owner, "user", doc_id, chunk, seq, occurred_at FROM memories WHERE id = ANY(%s)), '
            "near AS ("
            'SELECT n.seq FROM s JOIN memories n ON n.owner = s.owner AND n."user" = s."user" '
            "AND n.doc_id = s.doc_id AND n.chunk BETWEEN s.chunk - %s AND s.chunk + %s "
            "UNION "
            "SELECT n.seq FROM s JOIN memories n ON n.seq BETWEEN s.seq - %s AND s.seq + %s "
            'WHERE s.doc_id IS NULL AND n.doc_id IS NULL AND n.owner = s.owner AND n."user" = s."user" '
            "AND abs(extract(epoch FROM n.occurred_at::timestamptz - s.occurred_at::timestamptz)) <= %s) "
            f"SELECT {_T}.id, {_T}.seq FROM near JOIN memories {_T} ON {_T}.seq = near.seq WHERE {where}"
        )
        rows = self.conn.execute(sql, [list(memory_ids), span, span, span, span, seconds, *params])
        return {r[0]: int(r[1]) for r in rows}

    # -- listing -----------------------------------------------------------------

    def where(self, filters: Filters) -> tuple[str, list[Any]]:
        return filter_sql.where(filters, _DIALECT, _T)

    def select(
        self, filters: Filters, *, order: Order = "stored", limit: int | None = None
    ) -> list[MemoryRecord]:
        where, params = self.where(filters)
        sql = f"SELECT {_COLUMNS} FROM memories {_T} WHERE {where} ORDER BY {_ORDERS[order]}"
        if limit is not None and limit < 2**63 - 1:
            sql += " LIMIT %s"
            params.append(max(limit, 0))
        return self._records(self.conn.execute(sql, params).fetchall())

    def select_ids(self, filters: Filters) -> list[str]:
        where, params = self.where(filters)
        return [
            r[0]
            for r in self.conn.execute(
                f"SELECT {_T}.id FROM memories {_T} WHERE {where} ORDER BY {_T}.seq", params
            )
        ]

    def iter_records(self, filters: Filters, batch: int = 1000) -> Iterator[MemoryRecord]:
        where, params = self.where(filters)
        last = 0
        while True:
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM memories {_T} WHERE {where} AND {_T}.seq > %s ORDER BY {_T}.seq LIMIT %s",
                [*params, last, batch],
            ).fetchall()
            if not rows:
                return
            yield from self._records(rows)
            last = rows[-1][0]

    def records_after(self, seq: int, user: str | None) -> list[tuple[int, MemoryRecord]]:
        sql = f"SELECT {_COLUMNS} FROM memories {_T} WHERE {_T}.seq > %s"
        params: list[Any] = [seq]
        if user is not None:
            sql += f' AND {_T}."user" = %s'
            params.append(user)
        rows = self.conn.execute(sql + f" ORDER BY {_T}.seq", params).fetchall()
        return list(zip([int(r[0]) for r in rows], self._records(rows)))

    def thread(
        self, user: str, doc_id: str, *, after_chunk: int = 0, limit: int | None = None
    ) -> list[MemoryRecord]:
        sql = (
            f'SELECT {_COLUMNS} FROM memories {_T} WHERE {_T}."user" = %s AND {_T}.doc_id = %s '
            f"AND {_T}.chunk > %s ORDER BY {_T}.chunk, {_T}.seq"
        )
        params: list[Any] = [user, doc_id, after_chunk]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return self._records(self.conn.execute(sql, params).fetchall())

    def next_chunk(self, user: str, doc_id: str) -> int:
        row = self.conn.execute(
            'SELECT max(chunk) FROM memories WHERE "user" = %s AND doc_id = %s', [user, doc_id]
        ).fetchone()
        return int(row[0] or 0) + 1 if row else 1

    def _records(self, rows: Sequence[Sequence[Any]]) -> list[MemoryRecord]:
        if not rows:
            return []
        tags: dict[int, list[str]] = {int(row[0]): [] for row in rows}
        for seq, tag in self.conn.execute(
            "SELECT seq, tag FROM memory_tags WHERE seq = ANY(%s) ORDER BY tag", [list(tags)]
        ):
            tags[int(seq)].append(tag)
        records = []
        for row in rows:
            values = dict(zip(("seq", *_STORED), row))
            seq = int(values.pop("seq"))
            values["meta"] = values["meta"] or {}
            values["sources"] = values["sources"] or []
            records.append(MemoryRecord(**values, tags=tags[seq]))
        return records

    # -- chat sessions -----------------------------------------------------------

    def chat_sessions(self, user: str | None, name: str | None = None) -> list[ChatSession]:
        sql = 'SELECT "user", name, summary, summarized_through, created_at, updated_at FROM chat_sessions'
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (('"user"', user), ("name", name)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return [
            ChatSession(*row) for row in self.conn.execute(sql + ' ORDER BY "user", created_at, name', params)
        ]

    def save_chat_session(self, user: str, name: str, summary: str, summarized_through: int) -> None:
        now = now_str()
        with self._write():
            self.conn.execute(
                'INSERT INTO chat_sessions ("user", name, summary, summarized_through, created_at, updated_at) '
                'VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (owner, "user", name) DO UPDATE SET '
                "summary = excluded.summary, summarized_through = excluded.summarized_through, "
                "updated_at = excluded.updated_at",
                [user, name, summary, summarized_through, now, now],
            )

    def restore_chat_session(self, session: ChatSession) -> bool:
        with self._write():
            return (
                self.conn.execute(
                    'INSERT INTO chat_sessions ("user", name, summary, summarized_through, created_at, updated_at) '
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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

    # -- health ------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        row = self.conn.execute(
            "SELECT count(*), count(tsv), (SELECT count(*) FROM memory_vectors), "
            "count(*) FILTER (WHERE expires_at IS NOT NULL AND expires_at <= %s), "
            "(SELECT count(*) FROM memory_history) FROM memories",
            [now_str()],
        ).fetchone()
        assert row is not None  # an aggregate gives one row
        return {
            "rows": int(row[0]),
            "full_text": int(row[1]),
            "vectors": int(row[2]),
            # Exact search and the HNSW index both see every stored vector.
            "vector_index": int(row[2]),
            "history": int(row[4]),
            "expired": int(row[3]),
        }

    def group_counts(self, column: GroupColumn) -> dict[str, int]:
        if column not in ("kind", "user"):
            raise ValueError(f"cannot count memories by {column!r}")
        return {
            r[0]: int(r[1])
            for r in self.conn.execute(f'SELECT "{column}", count(*) FROM memories GROUP BY 1 ORDER BY 1')
        }

    def ids_starting(self, prefix: str, user: str, limit: int) -> list[tuple[str, str]]:
        if prefix and not prefix.isalnum():
            return []
        order = f"{_T}.id" if prefix else f"{_T}.seq DESC"
        rows = self.conn.execute(
            f'SELECT {_T}.id, left({_T}.text, 200) FROM memories {_T} WHERE {_T}."user" = %s '
            f"AND {_T}.id LIKE %s ORDER BY {order} LIMIT %s",
            [user, prefix.lower() + "%", limit],
        )
        return [(r[0], r[1]) for r in rows]

    def tag_counts(self, filters: Filters) -> list[tuple[str, int]]:
        where, params = self.where(filters)
        sql = (
            f"SELECT g.tag, count(*) FROM memory_tags g JOIN memories {_T} ON {_T}.seq = g.seq "
            f"WHERE {where} GROUP BY g.tag ORDER BY count(*) DESC, g.tag"
        )
        return [(r[0], int(r[1])) for r in self.conn.execute(sql, params)]

    def health(self) -> dict[str, list[str]]:
        checks: dict[str, Callable[[], list[str]]] = {
            "index counts": self._count_mismatches,
            "schema": self._schema_problems,
            "indexes": lambda: [
                f"index {r[0]} is invalid (rebuild it: REINDEX INDEX {pg_schema.SCHEMA}.{r[0]})"
                for r in self.conn.execute(
                    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT i.indisvalid",
                    [pg_schema.SCHEMA],
                )
            ],
            "row-level security": self._rls_problems,
        }
        found: dict[str, list[str]] = {}
        for name, check in checks.items():
            try:
                with self.conn.transaction():
                    found[name] = check()
            except psycopg.Error as exc:
                found[name] = [_error_line(exc)]
        return found

    def integrity_problems(self) -> list[str]:
        return [f"{name}: {problem}" for name, problems in self.health().items() for problem in problems]

    def _count_mismatches(self) -> list[str]:
        counts = self.counts()
        labels = {"full_text": "fts rows", "vectors": "vector rows"}
        return [
            f"{label}: {counts[key]} for {counts['rows']} memories"
            for key, label in labels.items()
            if counts[key] != counts["rows"]
        ]

    def _schema_problems(self) -> list[str]:
        applied = {r[0] for r in self.conn.execute("SELECT name FROM migrations")}
        tables = {
            r[0]
            for r in self.conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", [pg_schema.SCHEMA]
            )
        }
        return [
            f"migration {name} is not applied" for name in pg_schema.migration_names() if name not in applied
        ] + [f"table {name} is missing" for name in pg_schema.TABLES if name not in tables]

    def _rls_problems(self) -> list[str]:
        problems = [
            f"row-level security is off for {r[0]}: every role could read its rows"
            for r in self.conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = ANY(%s) AND NOT (c.relrowsecurity AND c.relforcerowsecurity)",
                [pg_schema.SCHEMA, list(pg_schema.OWNED_TABLES)],
            )
        ]
        bypass = self.conn.execute(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if bypass and bypass[0]:
            problems.append(
                "this role is a superuser or has BYPASSRLS: it sees every role's memories "
                "(connect as an ordinary role: mem server grant)"
            )
        return problems


def probes(url: str) -> list[Probe]:
    """What a PostgreSQL store needs: the server reachable, pgvector, the schema, and
    text search allowed to use its index under row-level security."""
    try:
        conn = connect(url)
    except StoreError as exc:
        return [
            Probe(
                "server", False, str(exc), "check the URL, that the server runs and that this role may log in"
            )
        ]
    found = [Probe("server", True, f"{display_url(url)}: {conn.info.parameter_status('server_version')}")]
    try:
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        found.append(
            Probe("pgvector", True, f"pgvector {version[0]}")
            if version
            else Probe(
                "pgvector", False, "the vector extension is not created in this database", "mem server init"
            )
        )
        found.append(
            Probe("schema", True, "memcli schema current")
            if is_current(conn)
            else Probe(
                "schema", False, "no memcli schema (or an old one)", "mem server init (as the tables' owner)"
            )
        )
        leakproof = conn.execute(
            "SELECT proleakproof FROM pg_proc WHERE oid = 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure"
        ).fetchone()
        found.append(
            Probe("text search", True, "searches by words can use the full-text index")
            if leakproof and leakproof[0]
            else Probe(
                "text search",
                False,
                "text search's @@ is not LEAKPROOF here, so under row-level security every search "
                "by words reads the whole table",
                f"as a superuser, once in this database: {pg_schema.LEAKPROOF_SQL}",
            )
        )
    finally:
        conn.close()
    return found
