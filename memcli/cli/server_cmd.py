"""`mem server`: set up a PostgreSQL database that several people or machines share."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from . import render
from .app import app
from .commands import DbOpt, JsonOpt

server_app = typer.Typer(
    help="""Set up a PostgreSQL store (pgvector) that several people or machines share.

    Each person connects as their own database role, and row-level security
    shows each role its own memories only, whatever --user says. Run init as the
    ordinary role that is to own the tables (not a superuser: superusers are not
    held to row-level security), then grant each person's role.

    Examples:

      mem server init --db postgresql://memcli@db.example.org/memories

      mem server grant alice bob --db postgresql://memcli@db.example.org/memories

      mem server sql --grant alice > memcli-setup.sql
    """,
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")

RolesArg = Annotated[list[str], typer.Argument(help="Database roles to let in.", show_default=False)]
GrantOpt = Annotated[
    list[str] | None, typer.Option("--grant", help="Also let this database role in (repeatable).")
]


def _url(db: str | None) -> str:
    from ..paths import db_location

    location = db_location(db)
    if not isinstance(location, str):
        raise UsageError("mem server works on a PostgreSQL store: give --db postgresql://... (or MEMCLI_DB)")
    return location


def _grant(store: object, roles: list[str]) -> None:
    from ..store import pg_schema
    from ..store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    with store.transaction():
        for role in roles:
            for statement in pg_schema.grant_statements(role):
                store.conn.execute(statement)


@server_app.command()
def init(db: DbOpt = None, grant: GrantOpt = None, json_out: JsonOpt = False) -> None:
    """Create memcli's schema in the database (or bring it up to date), with row-level security.

    Needs the pgvector extension in the database (CREATE EXTENSION vector, as
    a superuser, if this role may not create it), and, for searches by words to
    use their index under row-level security, a superuser's ALTER FUNCTION
    pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF (mem server sql prints it). Past 20,000 memories it also
    builds the HNSW vector index, which only the tables' owner may do.

    Examples:

      mem server init --db postgresql://memcli@db.example.org/memories

      mem server init --grant alice --grant bob --json
    """
    from ..store import display_url
    from ..store.postgres import PostgresStore

    url = _url(db)
    store = PostgresStore(url)
    try:
        if grant:
            _grant(store, grant)
        store.build_vector_index()
        indexed_words = store.mark_leakproof()
        role, superuser = store.conn.execute(
            "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone() or ("?", False)
        result = {
            "url": display_url(url),
            "owner": role,
            "granted": grant or [],
            "memories_visible": store.counts()["rows"],
            "vector_index": store.capabilities.vector_index,
            "text_search_indexed": indexed_words,
            "problems": store.integrity_problems(),
        }
    finally:
        store.close()
    if json_out:
        render.emit_json(result)
        return
    out = render.console()
    out.print(render.printable(f"memcli schema ready in {result['url']} (tables owned by {role})."))
    if grant:
        out.print(render.printable(f"Granted: {', '.join(grant)}."))
    out.print(f"Vector search: {result['vector_index']}.")
    if not indexed_words:
        from ..store.pg_schema import LEAKPROOF_SQL

        render.console(stderr=True).print(
            "Warning: under row-level security a search by words cannot use its index until a "
            f"superuser runs, once in this database: {LEAKPROOF_SQL}"
        )
    if superuser:
        render.console(stderr=True).print(
            f"Warning: {role} is a superuser (or has BYPASSRLS) and sees every role's memories: "
            "connect as ordinary roles for everyday use"
        )


@server_app.command("grant")
def grant_cmd(roles: RolesArg, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Let database roles use the store: each sees and changes its own memories only.

    Run as the tables' owner. The roles must exist (CREATE ROLE alice LOGIN
    PASSWORD '...'); each person then connects as their own role.

    Examples:

      mem server grant alice bob --db postgresql://memcli@db.example.org/memories
    """
    from ..store.postgres import PostgresStore

    store = PostgresStore(_url(db), create=False)
    try:
        _grant(store, roles)
    finally:
        store.close()
    if json_out:
        render.emit_json({"granted": roles})
    else:
        render.console().print(render.printable(f"Granted: {', '.join(roles)}."))


@server_app.command()
def sql(grant: GrantOpt = None, json_out: JsonOpt = False) -> None:
    """Print the SQL that sets up the schema, its row-level security and the grants,
    for a database administrator to review and run (psql -f).

    Examples:

      mem server sql --grant alice --grant bob > memcli-setup.sql

      psql -U memcli -f memcli-setup.sql memories
    """
    from ..store.pg_schema import setup_sql

    script = setup_sql(grant or [])
    if json_out:
        render.emit_json({"sql": script, "granted": grant or []})
    else:
        print(script, end="")
