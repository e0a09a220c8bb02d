"""Issue 12: the files memcli writes, the advice `mem doctor` gives about them, and
what a forget leaves behind. Each test starts from the issue's reproduction."""

import hashlib
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlean
from typer.testing import CliRunner

from memcli.cli import app
from memcli.errors import ExitStatus
from memcli.memory import Memory
from memcli.models.embed import FakeEmbedder
from memcli.records import NewMemory
from memcli.store.sqlite import SCRUB_PENDING, SQLiteStore

runner = CliRunner()


def mem(*args: object, code: int | None = 0, env: dict | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def store_with(db: Path, texts: list[str]) -> list[str]:
    with Memory(db, embedder=FakeEmbedder(), user="tester") as memory:
        return [r.id for r in memory.remember([NewMemory(t, tags=["t"]) for t in texts])]


def marker(seed: str) -> tuple[str, str]:
    """A word found nowhere else, and the part of it no file may hold once it is
    forgotten (FTS5 stores a term after the prefix it shares with the one before)."""
    letters = "".join("abcdefghijklmnoprstuvw"[b % 22] for b in hashlib.sha256(seed.encode()).digest()[:10])
    return f"zq{letters}qz", f"{letters[2:]}qz"


def holding(db: Path, needle: str) -> list[str]:
    """Which of the database's files hold needle."""
    files = [db, Path(f"{db}-wal")]
    return [p.name for p in files if p.exists() and needle.encode() in p.read_bytes()]


# -- 1. the cron line ------------------------------------------------------------------

INJECTED = "\n* * * * * touch /tmp/PWNED #"


@pytest.mark.parametrize("install", [False, True])
@pytest.mark.parametrize("where", ["--user", "--db", "MEMCLI_HOME"])
def test_a_control_character_never_reaches_the_crontab(
    where: str, install: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_crontab: Path
) -> None:
    home = tmp_path / "home"
    table = fake_crontab
    args = ["cron", *(["--install"] if install else [])]
    env = {}
    if where == "--user":
        args += ["--user", f"alice{INJECTED}"]
    elif where == "--db":
        args += ["--db", f"{tmp_path}/m{INJECTED}.db"]
    else:
        home = tmp_path / f"home{INJECTED}"
        env["MEMCLI_HOME"] = str(home)
    result = mem(*args, code=ExitStatus.INPUT, env=env)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "control character" in result.stderr
    assert table.read_text() == "0 1 * * * backup\n"
    assert not home.exists()


def test_printing_the_cron_line_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    line = mem("cron", env={"MEMCLI_HOME": str(home)}).stdout
    assert line.count("\n") == 1 and f"{home}/consolidate.log" in line
    assert not home.exists()


# -- 2. what mem doctor advises ----------------------------------------------------------


def doctor(*args: object, env: dict | None = None) -> tuple[int, list[dict]]:
    result = mem("doctor", "--no-load", "--json", *args, code=None, env=env)
    return result.exit_code, json.loads(result.stdout)["checks"]


def advice(checks: list[dict]) -> str:
    return "\n".join(f"{c['detail']} {c['fix']}" for c in checks)


@pytest.mark.parametrize(
    "db", [f"/tmp/memcli-test-{uuid.uuid4().hex}.db", f"/memcli-test-{uuid.uuid4().hex}.db"]
)
def test_doctor_never_advises_changing_a_shared_or_system_directory(db: str) -> None:
    assert not Path(db).exists()  # doctor only reads: nothing is made there
    _, checks = doctor("--db", db, env={"MEMCLI_MODELS_DIR": "/usr/share"})
    fixes = [c["fix"] or "" for c in checks]
    assert not [f for f in fixes if "chmod" in f], checks
    assert str(Path(db).parent) not in [c["name"] for c in checks if c["area"] == "files"]
    assert "/usr/share" not in [c["name"] for c in checks if c["area"] == "files"]
    assert not Path(db).exists()


def test_doctor_leaves_a_shared_sticky_directory_alone_even_with_a_db_in_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    (shared / ".memcli").write_text("anyone can put a marker in a shared directory")
    db = shared / "m.db"
    store_with(db, ["a note in a shared place"])
    status, checks = doctor("--db", db)
    files = {c["name"]: c for c in checks if c["area"] == "files"}
    assert str(shared) not in files and "chmod 700" not in advice(checks)
    assert files[str(db)]["ok"]  # the store memcli made is checked


def test_doctor_says_a_foreign_sqlite_file_is_not_a_store_and_advises_nothing_about_it(
    tmp_path: Path,
) -> None:
    other = tmp_path / "other.sqlite"
    conn = sqlean.connect(other)
    conn.execute("CREATE TABLE accounts (name TEXT)")
    conn.commit()
    conn.close()
    other.chmod(0o644)
    before = other.read_bytes()
    status, checks = doctor("--db", other)
    assert status == ExitStatus.DATABASE
    [database] = [c for c in checks if c["area"] == "database"]
    assert not database["ok"] and "is not a memcli database" in database["detail"]
    assert "restore" not in database["fix"] and "chmod" not in advice(checks)
    assert str(other) not in [c["name"] for c in checks if c["area"] == "files"]
    assert other.read_bytes() == before and mode(other) == 0o644


def test_doctor_still_asks_to_make_private_what_memcli_made(isolated_home: Path) -> None:
    store_with(isolated_home / "memory.db", ["a note"])
    assert (isolated_home / ".memcli").is_file()  # how doctor knows the directory is memcli's
    isolated_home.chmod(0o755)
    status, checks = doctor()
    [problem] = [c for c in checks if not c["ok"] and c["area"] == "files"]
    assert problem["fix"] == f"chmod 700 {isolated_home}" and status != ExitStatus.OK


# -- 3. private whatever the umask -------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize(
    "first_use", [["remember", "set-up note"], ["models", "install", "all-MiniLM-L6-v2"]]
)
def test_first_use_makes_a_private_home_that_doctor_passes(
    first_use: list[str], isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMCLI_MODELS_DIR")  # the models go in the home's models/
    assert not isolated_home.exists()
    done = subprocess.run(  # a process of its own: no model loaded before, so models/ is made
        [sys.executable, "-m", "memcli", *first_use],
        capture_output=True,
        preexec_fn=lambda: os.umask(0),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert mode(isolated_home) == 0o700 and mode(isolated_home / "models") == 0o700
    for path in isolated_home.rglob("*"):
        if path.is_file():
            assert mode(path) == 0o600, path
    status, checks = doctor()
    assert [c for c in checks if c["area"] == "files" and not c["ok"]] == []
    assert str(isolated_home) in [c["name"] for c in checks if c["area"] == "files"]


def test_parents_made_for_a_database_are_private_under_umask_0(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "db" / "m.db"
    with umask(0):
        memory = Memory(db, embedder=FakeEmbedder(), user="tester")
        memory.remember([NewMemory("a note")])
    try:
        for directory in (tmp_path / "a", tmp_path / "a" / "b", db.parent):
            assert mode(directory) == 0o700, directory
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert mode(path) == 0o600, path
    finally:
        memory.close()


def test_a_database_made_through_a_dangling_symlink_is_private(tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    link = tmp_path / "link.db"
    link.symlink_to(target)
    with umask(0):
        memory = Memory(link, embedder=FakeEmbedder(), user="tester")
        memory.remember([NewMemory("a note")])
    try:
        for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            assert mode(path) == 0o600, path
    finally:
        memory.close()


# -- 5. damaged files --------------------------------------------------------------------


def damaged_store(db: Path) -> None:
    store_with(db, [f"note number {i} about the blue pot and the key " * 5 for i in range(200)])
    assert db.stat().st_size > 16384
    with open(db, "r+b") as f:  # page 4: the root of the memories table
        f.seek(12288)
        f.write(b"\0" * 4096)


def test_doctor_reports_every_check_on_a_zeroed_page_and_stats_claims_no_health(tmp_path: Path) -> None:
    db = tmp_path / "damaged.db"
    damaged_store(db)
    status, checks = doctor("--db", db)
    assert status == ExitStatus.DATABASE
    database = {c["name"]: c for c in checks if c["area"] == "database"}
    assert {"index counts", "integrity", "schema", "full-text index"} <= set(database)
    assert not database["integrity"]["ok"] and "malformed" in database["integrity"]["detail"]
    assert "restore" in database["integrity"]["fix"]
    assert {c["area"] for c in checks} >= {"sqlite", "config", "database", "models", "disk"}
    text = mem("doctor", "--no-load", "--db", db, code=ExitStatus.DATABASE)
    assert "PROBLEM database  integrity: database disk image is malformed" in text.stdout
    assert "ok      sqlite" in text.stdout and "Error:" not in text.stderr
    stats = mem("stats", "--db", db, code=None)
    assert "indexes       ok" not in stats.stdout and "counts match" in stats.stdout


def test_doctor_finds_a_dropped_table(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store_with(db, ["a tagged note"])
    conn = sqlean.connect(db)
    conn.execute("DROP TABLE memory_tags")
    conn.commit()
    conn.close()
    assert "no such table: memory_tags" in mem("list", "--db", db, code=ExitStatus.DATABASE).stderr
    status, checks = doctor("--db", db)
    assert status == ExitStatus.DATABASE
    [problem] = [c for c in checks if c["area"] == "database" and not c["ok"]]
    assert problem["name"] == "schema" and "table memory_tags is missing" in problem["detail"]


# -- 7. what a forget leaves ---------------------------------------------------------------


def test_a_reader_holding_the_database_is_reported_where_the_text_is(isolated_home: Path) -> None:
    db = isolated_home / "memory.db"
    word, tail = marker("held back by a reader")
    [gone] = store_with(db, [f"the secret is {word}"])
    reader = SQLiteStore(db, create=False)
    try:
        reader.conn.execute("BEGIN")
        reader.conn.execute("SELECT count(*) FROM memories").fetchone()
        result = mem("forget", gone)
        assert "can still be read in the database file or its -wal file" in result.stderr
        assert holding(db, tail) == ["memory.db"]  # where the warning says
        reader.conn.execute("COMMIT")
        # The reader is done but still connected, so no closing checkpoint helps:
        # the next command clears what the forget had to leave, as the warning says.
        mem("stats")
        assert holding(db, tail) == []
    finally:
        reader.close()


KILLED_FORGET = """
import os, signal, sys
from pathlib import Path
from memcli.memory import Memory
from memcli.store.sqlite import SQLiteStore

# SIGKILL right after the forget commits, where the scrub would start.
SQLiteStore.scrub = lambda self, wait_ms=0: os.kill(os.getpid(), signal.SIGKILL)
memory = Memory(Path(sys.argv[1]), user="tester")
memory.forget([sys.argv[2]])
"""


def test_a_forget_killed_before_its_scrub_is_scrubbed_when_the_store_opens(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    word, tail = marker("killed forget")
    [gone, kept] = store_with(db, [f"forget {word} now", "an ordinary note"])
    done = subprocess.run([sys.executable, "-c", KILLED_FORGET, str(db), gone], capture_output=True)
    assert done.returncode == -9, done.stderr
    assert "m.db" in holding(db, tail)  # the state the kill leaves: the old page is in the file
    store = SQLiteStore(db)
    try:
        assert holding(db, tail) == []
        assert store.setting(SCRUB_PENDING) is None and not store.traces_left
        assert not store.id_exists(gone) and store.id_exists(kept)
    finally:
        store.close()


def test_a_searchs_words_never_reach_a_temporary_file(tmp_path: Path) -> None:
    """Full-text relevance tokenizes the query in a temporary table: it stays in memory,
    in the store and in a dry run's copy of it."""
    import numpy as np

    from memcli.records import Filters
    from memcli.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "m.db")
    try:
        store.insert([], np.zeros((0, 4), dtype=np.float32), "m")
        assert store.fts_search(["secret", "words"], Filters(user="ann"), 5) == []
        assert store.conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
        copy = store.snapshot()
        assert copy.conn.execute("PRAGMA temp_store").fetchone()[0] == 2
        copy.close()
    finally:
        store.close()
