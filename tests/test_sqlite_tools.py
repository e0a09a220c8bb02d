"""A store opens in the SQLite tools people use: the sqlite3 shell and Python's
own sqlite3 (whatever SQLite they were built with), sqlite-utils and datasette."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from memcli.memory import Memory
from memcli.records import NewMemory

BIN = Path(sys.executable).parent


@pytest.fixture
def store_file(sqlite_memory: Memory, db_path: Path) -> Path:
    """A store with a note, a thread, an edited note and a forgotten one: every
    path that writes the full-text index has run."""
    mem = sqlite_memory
    mem.remember([NewMemory("The spare house key is under the blue flower pot", tags=["home"])])
    mem.remember(
        [
            NewMemory("Where did you go last week?", doc_id="trip", chunk=0),
            NewMemory("To Porto, with Ana", doc_id="trip", chunk=1),
            NewMemory("How was the food?", doc_id="trip", chunk=2),
        ]
    )
    edited = mem.remember([NewMemory("The dentist is on Friday")])[0].id
    mem.edit(edited, "The dentist is on Monday at nine")
    gone = mem.remember([NewMemory("My old locker code is 4417")])[0].id
    mem.forget([gone])
    mem.close()
    return db_path


def test_the_python_sqlite3_module_reads_every_table_and_searches(store_file: Path) -> None:
    """Python's own sqlite3 (SQLite 3.40.1 on Debian 12) reads the rows and the
    full-text index; only the vector index needs sqlite-vec loaded."""
    conn = sqlite3.connect(f"file:{store_file}?mode=ro", uri=True)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        if table != "vec_memories":
            conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()
    found = conn.execute(
        "SELECT m.text FROM memories_fts f JOIN memories m ON m.seq = f.rowid "
        "WHERE memories_fts MATCH 'key' ORDER BY rank"
    ).fetchall()
    assert found == [("The spare house key is under the blue flower pot",)]
    # A thread's turn is found by its neighbour's words, as in `mem recall`.
    (text,) = conn.execute(
        "SELECT m.text FROM memories_fts f JOIN memories m ON m.seq = f.rowid WHERE memories_fts MATCH 'porto' "
        "AND m.text != 'To Porto, with Ana' ORDER BY m.seq LIMIT 1"
    ).fetchone()
    assert text == "Where did you go last week?"
    assert conn.execute("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH '4417'").fetchone() == (
        0,
    )
    conn.close()
    # This SQLite finds the index consistent with the rows (a check that writes nothing).
    sqlite3.connect(store_file).execute(
        "INSERT INTO memories_fts (memories_fts, rank) VALUES ('integrity-check', 1)"
    )


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="no sqlite3 shell (Debian: apt install sqlite3)")
def test_the_sqlite3_shell_reads_and_searches(store_file: Path) -> None:
    out = subprocess.run(
        ["sqlite3", "-readonly", str(store_file), "SELECT id, text FROM memories WHERE seq IN "
         "(SELECT rowid FROM memories_fts WHERE memories_fts MATCH 'flower')"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("|The spare house key is under the blue flower pot")


def sqlite_utils(*args: str) -> str:
    out = subprocess.run(
        [str(BIN / "sqlite-utils"), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return out.stdout


def test_sqlite_utils_lists_counts_reads_and_searches(store_file: Path) -> None:
    counts = {t["table"]: t["count"] for t in json.loads(sqlite_utils("tables", str(store_file), "--counts"))}
    assert counts["memories"] == 5 and counts["memories_fts"] == 5 and counts["vec_memories"] == 5
    rows = json.loads(sqlite_utils("rows", str(store_file), "memories", "-c", "text", "-c", "kind"))
    assert {"text": "The dentist is on Monday at nine", "kind": "episodic"} in rows
    found = json.loads(sqlite_utils("search", str(store_file), "memories", "dentist", "-c", "text"))
    assert found == [{"text": "The dentist is on Monday at nine"}]
    assert json.loads(sqlite_utils("search", str(store_file), "memories", "locker")) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_datasette_serves_the_memories_their_search_and_the_vector_table(store_file: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "datasette"), "serve", str(store_file), "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/{store_file.stem}"

    def get(path: str) -> object:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return json.loads(response.read())

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(".json")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"datasette did not start: {server.stderr and server.stderr.read()}"
                    ) from None
                time.sleep(0.2)
        rows = get("/memories.json?_shape=array&_col=text&_sort=seq")
        assert [r["text"] for r in rows][:2] == [  # type: ignore[index]
            "The spare house key is under the blue flower pot",
            "Where did you go last week?",
        ]
        found = get("/memories.json?_shape=array&_col=text&_search=flower+pot")
        assert [r["text"] for r in found] == ["The spare house key is under the blue flower pot"]  # type: ignore[index]
        counted = get("/vec_memories.json?_shape=array&_col=rowid&_size=max")  # needs datasette-sqlite-vec
        assert len(counted) == 5  # type: ignore[arg-type]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_store_made_before_the_readable_index_is_upgraded_and_then_opens(db_path: Path) -> None:
    """A store whose index used FTS5's secure-delete (a format SQLite before 3.44
    refuses) is rewritten when memcli opens it, keeping each turn's thread context."""
    from memcli.store import schema
    from memcli.store.connection import connect
    from memcli.store.sqlite import SQLiteStore

    conn = connect(db_path, create=True)
    schema.apply(conn, stop_before="m011_fts_tools")
    turns = [("Where did you go?", 0), ("To Porto, with Ana", 1), ("a line forgotten at once", 5)]
    for seq, (text, chunk) in enumerate(turns, 1):
        conn.execute(
            "INSERT INTO memories (id, user, kind, text, created_at, occurred_at, content_hash, doc_id, chunk) "
            "VALUES (?, 'tester', 'episodic', ?, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', ?, 'trip', ?)",
            [f"abcd234{seq}", text, f"h{seq}", chunk],
        )
    conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('rebuild')")
    # A delete through the secure-delete option is what wrote the newer format.
    conn.execute(
        "INSERT INTO memories_fts (memories_fts, rowid, text, context) "
        "SELECT 'delete', seq, text, context FROM memories_fts_source WHERE seq = 3"
    )
    conn.execute("DELETE FROM memories WHERE seq = 3")
    conn.close()
    old = sqlite3.connect(db_path)
    if sqlite3.sqlite_version_info < (3, 44):  # the reason for the upgrade
        with pytest.raises(sqlite3.DatabaseError):
            old.execute("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'porto'").fetchone()
    old.close()
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    assert conn.execute(
        "SELECT m.id FROM memories_fts f JOIN memories m ON m.seq = f.rowid WHERE memories_fts MATCH 'porto' "
        "ORDER BY m.seq"
    ).fetchall() == [("abcd2341",), ("abcd2342",)]
