"""The schema, as migrations: one function per change, never edited after release.

Applied with sqlite-utils' Migrations when a store opens. Importing sqlite_utils
costs a quarter of a second, so `is_current` answers the common case (nothing to
do) with one plain query and the import happens only when there is work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MIGRATION_SET = "memcli"
KINDS = ("episodic", "semantic", "procedural")

MigrationFn = Callable[[Any], None]  # receives a sqlite_utils.Database
MIGRATIONS: list[tuple[str, MigrationFn]] = []


def migration(fn: MigrationFn) -> MigrationFn:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def _run(db: Any, statements: list[str]) -> None:
    # Not executescript: it would COMMIT the migration's transaction first.
    for statement in statements:
        db.execute(statement)


@migration
def m001_memories(db: Any) -> None:
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    _run(
        db,
        [
            f"""CREATE TABLE memories (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                user TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ({kinds})),
                text TEXT NOT NULL,
                importance INTEGER NOT NULL DEFAULT 3 CHECK (importance BETWEEN 1 AND 5),
                created_at TEXT NOT NULL,
                occurred_at TEXT NOT NULL,
                updated_at TEXT,
                expires_at TEXT,
                source TEXT,
                doc_id TEXT,
                chunk INTEGER,
                meta TEXT NOT NULL DEFAULT '{{}}',
                content_hash TEXT NOT NULL,
                embed_model TEXT,
                embed_dim INTEGER
            )""",
            "CREATE UNIQUE INDEX memories_user_hash ON memories (user, content_hash)",
            "CREATE INDEX memories_user_kind ON memories (user, kind)",
            "CREATE INDEX memories_occurred ON memories (occurred_at)",
            "CREATE INDEX memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL",
            "CREATE INDEX memories_doc ON memories (doc_id) WHERE doc_id IS NOT NULL",
            """CREATE TABLE memory_tags (
                seq INTEGER NOT NULL REFERENCES memories (seq) ON DELETE CASCADE,
                tag TEXT NOT NULL,
                PRIMARY KEY (tag, seq)
            ) WITHOUT ROWID""",
            "CREATE INDEX memory_tags_seq ON memory_tags (seq)",
            """CREATE TABLE memory_history (
                id INTEGER PRIMARY KEY,
                seq INTEGER NOT NULL REFERENCES memories (seq) ON DELETE CASCADE,
                text TEXT NOT NULL,
                changed_at TEXT NOT NULL
            )""",
            "CREATE INDEX memory_history_seq ON memory_history (seq)",
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ],
    )


@migration
def m002_fts(db: Any) -> None:
    """BM25 full-text index of memories.text, kept in step by triggers."""
    _run(
        db,
        [
            """CREATE VIRTUAL TABLE memories_fts USING fts5(
                text, content='memories', content_rowid='seq',
                tokenize='porter unicode61 remove_diacritics 2'
            )""",
            # Deleting from the index really removes the tokens (SQLite >= 3.44).
            "INSERT INTO memories_fts (memories_fts, rank) VALUES ('secure-delete', 1)",
            """CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
                INSERT INTO memories_fts (rowid, text) VALUES (new.seq, new.text);
            END""",
            """CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
                INSERT INTO memories_fts (memories_fts, rowid, text)
                VALUES ('delete', old.seq, old.text);
            END""",
            """CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
                INSERT INTO memories_fts (memories_fts, rowid, text)
                VALUES ('delete', old.seq, old.text);
                INSERT INTO memories_fts (rowid, text) VALUES (new.seq, new.text);
            END""",
            # Rows stored before this migration get indexed too.
            "INSERT INTO memories_fts (memories_fts) VALUES ('rebuild')",
        ],
    )


@migration
def m003_vectors(db: Any) -> None:
    """Full-precision vectors; the sqlite-vec index over them is made per model dimension."""
    _run(
        db,
        [
            """CREATE TABLE memory_vectors (
                seq INTEGER PRIMARY KEY REFERENCES memories (seq) ON DELETE CASCADE,
                embedding BLOB NOT NULL
            )"""
        ],
    )


@migration
def m004_fts_context(db: Any) -> None:
    """Index each memory with its neighbours in a thread as a second, lighter column.

    Memories that share a doc_id (the chunks of one document, the turns of one
    conversation) are ordered by chunk. A short reply ("Yes, last Tuesday!")
    is then found by the words of the question it answers. The index's content
    is a view computing that context, so nothing is stored twice; the store
    re-indexes a memory's neighbours whenever it changes (triggers cannot see
    the neighbours' old context), which also keeps forgotten text out of them.
    """
    neighbour = (
        "(SELECT o.text FROM memories o WHERE o.user = m.user AND o.doc_id = m.doc_id "
        "AND o.chunk = m.chunk {op} 1 ORDER BY o.seq LIMIT 1)"
    )
    _run(
        db,
        [
            "DROP TRIGGER IF EXISTS memories_fts_insert",
            "DROP TRIGGER IF EXISTS memories_fts_delete",
            "DROP TRIGGER IF EXISTS memories_fts_update",
            "DROP TABLE IF EXISTS memories_fts",
            "CREATE INDEX memories_thread ON memories (user, doc_id, chunk) WHERE doc_id IS NOT NULL",
            f"""CREATE VIEW memories_fts_source AS
                SELECT m.seq AS seq, m.text AS text,
                    CASE WHEN m.doc_id IS NULL OR m.chunk IS NULL THEN ''
                    ELSE coalesce({neighbour.format(op="-")}, '') || char(10)
                        || coalesce({neighbour.format(op="+")}, '') END AS context
                FROM memories m""",
            """CREATE VIRTUAL TABLE memories_fts USING fts5(
                text, context, content='memories_fts_source', content_rowid='seq',
                tokenize='porter unicode61 remove_diacritics 2'
            )""",
            "INSERT INTO memories_fts (memories_fts, rank) VALUES ('secure-delete', 1)",
            "INSERT INTO memories_fts (memories_fts) VALUES ('rebuild')",
        ],
    )


@migration
def m005_chat_sessions(db: Any) -> None:
    """Working memory of named chat sessions: the rolling summary of older turns.

    The turns themselves are episodic memories in the thread `chat:<name>`.
    """
    _run(
        db,
        [
            """CREATE TABLE chat_sessions (
                user TEXT NOT NULL,
                name TEXT NOT NULL,
                summary TEXT NOT NULL DEFAULT '',
                summarized_through INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (user, name)
            )"""
        ],
    )


@migration
def m006_consolidation(db: Any) -> None:
    """Provenance, validity and use of memories, for `mem consolidate`."""
    _run(
        db,
        [
            "ALTER TABLE memories ADD COLUMN sources TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE memories ADD COLUMN valid_to TEXT",
            "ALTER TABLE memories ADD COLUMN superseded_by TEXT",
            "ALTER TABLE memories ADD COLUMN consolidated_at TEXT",
            "ALTER TABLE memories ADD COLUMN recalled INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE memories ADD COLUMN last_recalled_at TEXT",
            "ALTER TABLE memories ADD COLUMN digest_id TEXT",
            "CREATE INDEX memories_pending ON memories (user, seq) "
            "WHERE kind = 'episodic' AND consolidated_at IS NULL",
        ],
    )


@migration
def m007_unique_per_kind(db: Any) -> None:
    """The same text may be both an episode and the fact distilled from it."""
    _run(
        db,
        [
            "DROP INDEX memories_user_hash",
            "CREATE UNIQUE INDEX memories_user_kind_hash ON memories (user, kind, content_hash)",
        ],
    )


@migration
def m008_superseded_by_index(db: Any) -> None:
    """Forgetting a fact finds the facts it had replaced without a full scan."""
    _run(
        db,
        ["CREATE INDEX memories_superseded_by ON memories (superseded_by) WHERE superseded_by IS NOT NULL"],
    )


# A chat message is an event: the same words said twice in a session are two
# turns. Elsewhere the same text for the same user and kind is one memory.
THREAD_SLOT = "CASE WHEN doc_id LIKE 'chat:%' THEN doc_id || '#' || ifnull(chunk, 0) ELSE '' END"


@migration
def m009_truth_maintenance(db: Any) -> None:
    """Who said a memory (chat replies are the assistant's), and facts awaiting
    re-derivation after their source was edited."""
    _run(
        db,
        [
            "ALTER TABLE memories ADD COLUMN role TEXT NOT NULL DEFAULT 'user' "
            "CHECK (role IN ('user', 'assistant'))",
            "ALTER TABLE memories ADD COLUMN unverified_at TEXT",
            "DROP INDEX memories_user_kind_hash",
            f"CREATE UNIQUE INDEX memories_identity ON memories (user, kind, content_hash, {THREAD_SLOT})",
            # Derived memories (facts, digests) by what they came from: forgetting
            # or editing a memory finds them without reading every row.
            "CREATE INDEX memories_derived ON memories (seq) WHERE sources != '[]'",
        ],
    )


@migration
def m010_entities(db: Any) -> None:
    """Entities (who and what the memories are about), the memories that mention
    them, dated relations between them, and the user's profile (memcli.entities)."""
    from ..records import ENTITY_KINDS, PROFILE_ORIGINS

    kinds = ", ".join(f"'{k}'" for k in ENTITY_KINDS)
    origins = ", ".join(f"'{o}'" for o in PROFILE_ORIGINS)
    _run(
        db,
        [
            f"""CREATE TABLE entities (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                user TEXT NOT NULL,
                name TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ({kinds})),
                aliases TEXT NOT NULL DEFAULT '[]',
                pinned TEXT NOT NULL DEFAULT '[]',
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            "CREATE INDEX entities_user ON entities (user, name)",
            """CREATE TABLE entity_mentions (
                entity INTEGER NOT NULL REFERENCES entities (seq) ON DELETE CASCADE,
                memory INTEGER NOT NULL REFERENCES memories (seq) ON DELETE CASCADE,
                PRIMARY KEY (entity, memory)
            ) WITHOUT ROWID""",
            "CREATE INDEX entity_mentions_memory ON entity_mentions (memory)",
            """CREATE TABLE relations (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                user TEXT NOT NULL,
                subject INTEGER NOT NULL REFERENCES entities (seq) ON DELETE CASCADE,
                predicate TEXT NOT NULL,
                object INTEGER NOT NULL REFERENCES entities (seq) ON DELETE CASCADE,
                valid_from TEXT NOT NULL,
                valid_to TEXT,
                superseded_by TEXT,
                sources TEXT NOT NULL DEFAULT '[]',
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX relations_subject ON relations (subject)",
            "CREATE INDEX relations_object ON relations (object)",
            f"""CREATE TABLE profile (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                user TEXT NOT NULL,
                field TEXT NOT NULL,
                value TEXT NOT NULL,
                origin TEXT NOT NULL CHECK (origin IN ({origins})),
                set_at TEXT NOT NULL,
                valid_to TEXT,
                sources TEXT NOT NULL DEFAULT '[]'
            )""",
            "CREATE INDEX profile_user ON profile (user, field)",
        ],
    )


@migration
def m011_fts_tools(db: Any) -> None:
    """A full-text index the SQLite tools people use can read.

    FTS5's secure-delete option wrote a file format (5) that SQLite before 3.44
    refuses to read (Debian 12's sqlite3 shell, datasette and sqlite-utils on
    the stdlib sqlite3), and the index's content was a view, which datasette
    and sqlite-utils do not recognise as the full-text index of `memories`.
    Now each memory stores its thread context (its neighbours' text) in
    memories.context, the index's content is the memories table itself, and
    forgetting erases the index's copy by merging its segments (store.sqlite).
    """
    neighbour = (
        "(SELECT o.text FROM memories o WHERE o.user = memories.user AND o.doc_id = memories.doc_id "
        "AND o.chunk = memories.chunk {op} 1 ORDER BY o.seq LIMIT 1)"
    )
    _run(
        db,
        [
            "ALTER TABLE memories ADD COLUMN context TEXT NOT NULL DEFAULT ''",
            f"""UPDATE memories SET context = coalesce({neighbour.format(op="-")}, '') || char(10)
                || coalesce({neighbour.format(op="+")}, '')
                WHERE doc_id IS NOT NULL AND chunk IS NOT NULL""",
            "DROP TABLE memories_fts",
            "DROP VIEW memories_fts_source",
            # Double quotes: datasette and sqlite-utils find a table's index by
            # the text content="memories" in its declaration.
            """CREATE VIRTUAL TABLE memories_fts USING fts5(
                text, context, content="memories", content_rowid="seq",
                tokenize="porter unicode61 remove_diacritics 2"
            )""",
            "INSERT INTO memories_fts (memories_fts) VALUES ('rebuild')",
        ],
    )


def migration_names() -> list[str]:
    return [name for name, _ in MIGRATIONS]


def is_current(conn: Any) -> bool:
    try:
        rows = conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET]
        ).fetchall()
    except Exception:
        return False
    return {row[0] for row in rows} >= set(migration_names())


def missing(conn: Any) -> list[str]:
    """The tables, indexes, views and triggers of the migrations that the file lacks."""
    from .connection import sqlite3

    fresh = sqlite3.connect(":memory:", isolation_level=None)
    try:
        apply(fresh)
        want = set(fresh.execute(_OBJECTS))
    finally:
        fresh.close()
    return sorted(f"{kind} {name}" for kind, name in want - set(conn.execute(_OBJECTS)))


_OBJECTS = "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"


def apply(conn: Any, *, stop_before: str | None = None) -> None:
    """Apply pending migrations (each in its own transaction)."""
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for name, fn in MIGRATIONS:
        migrations(name=name)(fn)
    # One IMMEDIATE transaction around all of them: two processes opening a new
    # file at once must not both try to create the tables.
    from .connection import write_transaction

    with write_transaction(conn):
        # No sqlite-utils plugin may load into memcli's connection (sqlite-vec's crashes SQLCipher).
        migrations.apply(Database(conn, execute_plugins=False), stop_before=stop_before)
