"""The PostgreSQL schema, as migrations: one list of statements per change, never edited after release.

Everything lives in the schema `memcli` of the database (pgvector's `vector`
type where the extension was created, usually `public`). Each row carries the
database role that stored it (`owner`), and row-level security shows a role
its own rows only, whatever memcli user it asks for: on a shared server the
roles are the people, and `--user` only namespaces one person's memories.

The migrations are applied by the role that owns the schema (`mem server init`,
or the first `mem` command of a role that may create it); other roles are let
in with `mem server grant ROLE`. `setup_sql()` is the same, as one script for
a database administrator.
"""

from __future__ import annotations

from ..records import ENTITY_KINDS, PROFILE_ORIGINS

SCHEMA = "memcli"
# Tables whose rows belong to one role, under row-level security.
OWNED_TABLES = (
    "memories",
    "memory_vectors",
    "memory_tags",
    "memory_history",
    "chat_sessions",
    "settings",
    "entities",
    "entity_mentions",
    "relations",
    "profile",
)
# Tables every role shares: the applied migrations, and the embedding space (one
# vector space for the whole store, as every role's vectors sit in one index).
SHARED_TABLES = ("migrations", "embedding_space")
TABLES = (*SHARED_TABLES, *OWNED_TABLES)

_C = 'text COLLATE "C"'  # byte order, as SQLite compares text: ids and ISO times sort right
_OWNER = f"owner {_C} NOT NULL DEFAULT current_user"
# A chat message is an event: the same words said twice in a session are two
# turns. Elsewhere the same text for the same user and kind is one memory.
THREAD_SLOT = "CASE WHEN doc_id LIKE 'chat:%' THEN doc_id || '#' || coalesce(chunk, 0) ELSE '' END"


def _policies(table: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        # The owner of the tables is held to the policy too (superusers and
        # BYPASSRLS roles never are: memcli's roles must be neither).
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY own_rows ON {table} USING (owner = current_user) WITH CHECK (owner = current_user)",
    ]


MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "p001_memories",
        [
            "CREATE EXTENSION IF NOT EXISTS vector",
            f"""CREATE TABLE memories (
                seq bigserial PRIMARY KEY,
                {_OWNER},
                id {_C} NOT NULL,
                "user" {_C} NOT NULL,
                kind {_C} NOT NULL CHECK (kind IN ('episodic', 'semantic', 'procedural')),
                text text NOT NULL,
                importance integer NOT NULL DEFAULT 3 CHECK (importance BETWEEN 1 AND 5),
                created_at {_C} NOT NULL,
                occurred_at {_C} NOT NULL,
                updated_at {_C},
                expires_at {_C},
                source {_C},
                doc_id {_C},
                chunk integer,
                meta json NOT NULL DEFAULT '{{}}',  -- json, not jsonb: keys keep their order
                content_hash {_C} NOT NULL,
                embed_model {_C},
                embed_dim integer,
                sources jsonb NOT NULL DEFAULT '[]',
                valid_to {_C},
                superseded_by {_C},
                consolidated_at {_C},
                recalled integer NOT NULL DEFAULT 0,
                last_recalled_at {_C},
                digest_id {_C},
                role {_C} NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'assistant')),
                unverified_at {_C},
                -- the text of its neighbours in a thread, kept by the store: a short
                -- reply is found by the words of the question it answers
                context text NOT NULL DEFAULT '',
                slot {_C} GENERATED ALWAYS AS ({THREAD_SLOT}) STORED,
                tsv tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', text), 'A')
                    || setweight(to_tsvector('english', context), 'B')
                ) STORED,
                UNIQUE (owner, id)
            )""",
            'CREATE UNIQUE INDEX memories_identity ON memories (owner, "user", kind, content_hash, slot)',
            'CREATE INDEX memories_user_kind ON memories (owner, "user", kind)',
            "CREATE INDEX memories_occurred ON memories (occurred_at)",
            "CREATE INDEX memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL",
            'CREATE INDEX memories_thread ON memories (owner, "user", doc_id, chunk) WHERE doc_id IS NOT NULL',
            "CREATE INDEX memories_superseded_by ON memories (superseded_by) WHERE superseded_by IS NOT NULL",
            "CREATE INDEX memories_digest ON memories (digest_id) WHERE digest_id IS NOT NULL",
            "CREATE INDEX memories_derived ON memories USING gin (sources) WHERE sources <> '[]'",
            'CREATE INDEX memories_pending ON memories (owner, "user", seq) '
            "WHERE kind = 'episodic' AND consolidated_at IS NULL",
            "CREATE INDEX memories_fts ON memories USING gin (tsv)",
            # The vectors in a table of their own: a search by words then reads narrow
            # rows (a 384-dimension vector is 1.5 KB, five times the rest of a memory).
            f"""CREATE TABLE memory_vectors (
                seq bigint PRIMARY KEY REFERENCES memories (seq) ON DELETE CASCADE,
                {_OWNER},
                embedding vector NOT NULL
            )""",
            f"""CREATE TABLE memory_tags (
                seq bigint NOT NULL REFERENCES memories (seq) ON DELETE CASCADE,
                tag {_C} NOT NULL,
                {_OWNER},
                PRIMARY KEY (seq, tag)
            )""",
            "CREATE INDEX memory_tags_tag ON memory_tags (tag, seq)",
            f"""CREATE TABLE memory_history (
                id bigserial PRIMARY KEY,
                seq bigint NOT NULL REFERENCES memories (seq) ON DELETE CASCADE,
                text text NOT NULL,
                changed_at {_C} NOT NULL,
                {_OWNER}
            )""",
            "CREATE INDEX memory_history_seq ON memory_history (seq)",
            f"""CREATE TABLE chat_sessions (
                {_OWNER},
                "user" {_C} NOT NULL,
                name {_C} NOT NULL,
                summary text NOT NULL DEFAULT '',
                summarized_through integer NOT NULL DEFAULT 0,
                created_at {_C} NOT NULL,
                updated_at {_C} NOT NULL,
                PRIMARY KEY (owner, "user", name)
            )""",
            f"""CREATE TABLE settings (
                {_OWNER},
                key {_C} NOT NULL,
                value text NOT NULL,
                PRIMARY KEY (owner, key)
            )""",
            f"""CREATE TABLE embedding_space (
                one boolean PRIMARY KEY DEFAULT true CHECK (one),
                model {_C} NOT NULL,
                dim integer NOT NULL
            )""",
            *[statement for table in OWNED_TABLES[:6] for statement in _policies(table)],
        ],
    ),
    (
        # Entities, the memories that mention them, dated relations between them and
        # the user's profile (memcli.entities); lists are JSON text, as in SQLite.
        "p002_entities",
        [
            f"""CREATE TABLE entities (
                seq bigserial PRIMARY KEY,
                {_OWNER},
                id {_C} NOT NULL,
                "user" {_C} NOT NULL,
                name text NOT NULL,
                kind {_C} NOT NULL CHECK (kind IN ({", ".join(f"'{k}'" for k in ENTITY_KINDS)})),
                aliases text NOT NULL DEFAULT '[]',
                pinned text NOT NULL DEFAULT '[]',
                created_at {_C} NOT NULL,
                updated_at {_C} NOT NULL,
                UNIQUE (owner, id)
            )""",
            'CREATE INDEX entities_user ON entities (owner, "user", name)',
            f"""CREATE TABLE entity_mentions (
                entity bigint NOT NULL REFERENCES entities (seq) ON DELETE CASCADE,
                memory bigint NOT NULL REFERENCES memories (seq) ON DELETE CASCADE,
                {_OWNER},
                PRIMARY KEY (entity, memory)
            )""",
            "CREATE INDEX entity_mentions_memory ON entity_mentions (memory)",
            f"""CREATE TABLE relations (
                seq bigserial PRIMARY KEY,
                {_OWNER},
                id {_C} NOT NULL,
                "user" {_C} NOT NULL,
                subject bigint NOT NULL REFERENCES entities (seq) ON DELETE CASCADE,
                predicate text NOT NULL,
                object bigint NOT NULL REFERENCES entities (seq) ON DELETE CASCADE,
                valid_from {_C} NOT NULL,
                valid_to {_C},
                superseded_by {_C},
                sources text NOT NULL DEFAULT '[]',
                created_at {_C} NOT NULL,
                UNIQUE (owner, id)
            )""",
            "CREATE INDEX relations_subject ON relations (subject)",
            "CREATE INDEX relations_object ON relations (object)",
            f"""CREATE TABLE profile (
                seq bigserial PRIMARY KEY,
                {_OWNER},
                id {_C} NOT NULL,
                "user" {_C} NOT NULL,
                field {_C} NOT NULL,
                value text NOT NULL,
                origin {_C} NOT NULL CHECK (origin IN ({", ".join(f"'{o}'" for o in PROFILE_ORIGINS)})),
                set_at {_C} NOT NULL,
                valid_to {_C},
                sources text NOT NULL DEFAULT '[]',
                UNIQUE (owner, id)
            )""",
            'CREATE INDEX profile_user ON profile (owner, "user", field)',
            *[statement for table in OWNED_TABLES[6:] for statement in _policies(table)],
        ],
    ),
]


def migration_names() -> list[str]:
    return [name for name, _ in MIGRATIONS]


# Under row-level security the planner uses an index only for a condition whose function
# is LEAKPROOF (it cannot reveal a row the policy hides). Text search's @@ is not marked
# so (it raises no error that depends on the data it reads), and without it every search
# by words reads the whole table; only a superuser may mark it, once per database.
LEAKPROOF_SQL = "ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF"
SUPERUSER_SQL = ("CREATE EXTENSION IF NOT EXISTS vector", LEAKPROOF_SQL)


def setup_sql(roles: list[str] | None = None) -> str:
    """The schema, its row-level security and the grants to `roles`, as one SQL script."""
    lines = [
        "-- memcli's schema for PostgreSQL 14+ with pgvector. Run it as the role that is to own",
        "-- the tables (not a superuser: superusers are not held to row-level security).",
        "-- First, once per database, a superuser runs:",
        *(f"--   {statement};" for statement in SUPERUSER_SQL),
        "BEGIN;",
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA};",
        f"SET LOCAL search_path = {SCHEMA}, public;",
        "CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());",
    ]
    for name, statements in MIGRATIONS:
        lines.append(f"-- {name}")
        lines += [statement + ";" for statement in statements]
        lines.append(f"INSERT INTO migrations (name) VALUES ('{name}');")
    for role in roles or []:
        lines += [statement + ";" for statement in grant_statements(role)]
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def grant_statements(role: str) -> list[str]:
    """What lets a role use the store: its own rows only, through row-level security."""
    quoted = quote_ident(role)
    return [
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO {quoted}",
        f"REVOKE INSERT, UPDATE, DELETE ON {SCHEMA}.migrations FROM {quoted}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {quoted}",
        # and the tables of later migrations, which the owner creates
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT USAGE ON SEQUENCES TO {quoted}",
    ]


def quote_ident(name: str) -> str:
    """A role or object name as a PostgreSQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'
