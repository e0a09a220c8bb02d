"""Schema migrations and opening files, on real SQLite files."""

from pathlib import Path

import pytest

from memcli.errors import StoreError
from memcli.store import schema
from memcli.store.connection import connect
from memcli.store.sqlite import SQLiteStore


def applied(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]


def test_migrations_on_an_empty_file(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    assert applied(store.conn) == schema.migration_names()
    assert schema.is_current(store.conn)
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
    assert {"memories", "memories_fts", "memory_vectors", "memory_tags", "memory_history"} <= tables


def test_migrations_applied_twice_change_nothing(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = connect(db_path, create=False)
    before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    schema.apply(conn)
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    assert applied(conn) == schema.migration_names()


def test_upgrading_an_old_file_indexes_its_rows(db_path: Path) -> None:
    conn = connect(db_path, create=True)
    schema.apply(conn, stop_before="m002_fts")
    conn.execute(
        "INSERT INTO memories (id, user, kind, text, created_at, occurred_at, content_hash) "
        "VALUES ('abcd2345', 'tester', 'episodic', 'an old note about otters', '2020-01-01T00:00:00Z', "
        "'2020-01-01T00:00:00Z', 'h')"
    )
    conn.close()
    store = SQLiteStore(db_path)
    assert applied(store.conn) == schema.migration_names()
    from memcli.records import Filters

    assert store.fts_search('"otters"', Filters(), 5)[0][0] == 1


def test_missing_file_is_not_created_by_readers(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database"):
        SQLiteStore(tmp_path / "nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 50],
)
def test_not_a_database(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(content)
    with pytest.raises(StoreError):
        SQLiteStore(path)
    assert path.read_bytes() == content


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        SQLiteStore(tmp_path)
