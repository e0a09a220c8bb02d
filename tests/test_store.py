"""Schema migrations and opening files, on real SQLite files."""

from pathlib import Path

import pytest
from test_store_contract import new_row

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

    [found] = store.fts_search(["otters"], Filters(), 5)
    assert (found.id, found.seq) == ("abcd2345", 1) and found.score > 0


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


def test_hamming_candidates_are_sqlite_vecs_own(db_path: Path) -> None:
    """The numpy scan of sqlite-vec's chunks finds what its KNN finds, per user, after deletes."""
    import numpy as np

    from memcli.store.binary import binary_code, hamming

    rng = np.random.default_rng(7)
    store = SQLiteStore(db_path)
    dim = 64
    rows, vectors = [], []
    for i in range(2500):  # three chunks for "ann", more than one for "bob"
        user = "ann" if i % 3 else "bob"
        rows.append(new_row(f"note {i}", user, content_hash=f"h{i}"))
        vectors.append(rng.normal(size=dim))
    ids = [memory_id for memory_id, _ in store.insert(rows, np.asarray(vectors, dtype=np.float32), "test")]
    store.delete(ids[:300:2])
    stored = {
        seq: np.frombuffer(blob, dtype=np.float32)
        for seq, blob in store.conn.execute("SELECT seq, embedding FROM memory_vectors")
    }
    for user in ("ann", "bob", None):
        users = {user} if user else {"ann", "bob"}
        live = {r[0] for r in store.conn.execute("SELECT seq, user FROM memories") if r[1] in users}
        for _ in range(5):
            query = rng.normal(size=dim).astype(np.float32)
            fast = store.hamming_candidates(query, 40, user)
            slow = store._vec0_knn(query, 40, user)
            assert set(fast) <= live and len(fast) == 40
            code = binary_code(query)
            distances = [
                sorted(int(hamming(binary_code(stored[s])[None, :], code)[0]) for s in found)
                for found in (fast, slow)
            ]
            assert distances[0] == distances[1]  # the same neighbours, up to ties


def test_vector_search_sees_every_write_despite_kept_codes(db_path: Path) -> None:
    """The binary codes a store keeps between searches never hide a memory stored or
    deleted since, by this connection or another one."""
    import numpy as np

    from memcli.records import Filters

    rng = np.random.default_rng(3)
    store, other = SQLiteStore(db_path), SQLiteStore(db_path)
    base = rng.normal(size=(300, 64)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    store.insert([new_row(f"note {i}", "ann", content_hash=f"h{i}") for i in range(300)], base, "test")
    target = rng.normal(size=64).astype(np.float32)
    target /= np.linalg.norm(target)
    filters = Filters(user="ann")
    assert store.vector_search(target, filters, 1)[0].score < 0.9  # codes read and kept

    [(mine, _)] = store.insert([new_row("mine", "ann", content_hash="m")], target[None, :], "test")
    assert store.vector_search(target, filters, 1)[0].id == mine  # this connection's write
    store.delete([mine])
    assert store.vector_search(target, filters, 1)[0].id != mine

    [(theirs, _)] = other.insert([new_row("theirs", "ann", content_hash="t")], target[None, :], "test")
    assert store.vector_search(target, filters, 1)[0].id == theirs  # another connection's commit
    other.delete([theirs])
    assert store.vector_search(target, filters, 1)[0].id != theirs
    store.fts_search(["note"], filters, 5)  # full-text searches write only temporary tables
    assert store._generation() == store._generation()


def test_vector_search_falls_back_to_sqlite_vec_knn(db_path: Path, monkeypatch) -> None:
    import numpy as np

    from memcli.records import Filters

    store = SQLiteStore(db_path)
    rows = [new_row(f"note {i}", "ann", content_hash=f"h{i}") for i in range(50)]
    vectors = np.eye(64, dtype=np.float32)[:50]
    store.insert(rows, vectors, "test")
    expected = store.vector_search(vectors[17], Filters(user="ann"), 3)
    monkeypatch.setattr(store, "_read_code_chunks", lambda user: None)
    assert store.vector_search(vectors[17], Filters(user="ann"), 3) == expected
    assert expected[0].seq == 18 and expected[0].score == pytest.approx(1.0)


def test_the_columns_are_the_fields_of_a_memory(db_path: Path) -> None:
    """A field added to MemoryRecord needs a migration that adds its column (and no more)."""
    from memcli.records import MEMORY_FIELDS

    store = SQLiteStore(db_path)
    columns = {r[1] for r in store.conn.execute("PRAGMA table_info(memories)")}
    # tags: the memory_tags table; context: what the full-text index reads of a thread
    assert columns == ({"seq", "context", *MEMORY_FIELDS} - {"tags"})
