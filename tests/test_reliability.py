"""Reliability and privacy: concurrent writers, crashes, hostile input, erasure, scoping.

Fast versions of what bench/stress.py runs at scale. `mem` runs as real
processes where processes matter (concurrency, SIGKILL, rlimits, umask) and
in-process elsewhere. Every random choice is seeded.
"""

import json
import os
import random
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from memcli.cli import app
from memcli.cli.inputs import MAX_BULK_BYTES
from memcli.errors import ExitStatus, NotFound
from memcli.memory import MAX_TEXT_BYTES, Memory
from memcli.models.embed import FakeEmbedder
from memcli.records import Filters, NewMemory
from memcli.store.sqlite import SQLiteStore

MEM = Path(sys.executable).with_name("mem")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _model(real_embedder):
    """`mem` uses the real embedding model (converted once per session into the shared models dir)."""


def mem(*args, input: str | bytes | None = None, code: int | None = 0):
    """Run mem in-process; `code` is the expected exit status (None: any)."""
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert code is None or result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def js(*args, input: str | None = None):
    return json.loads(mem(*args, "--json", input=input).stdout)


def run(*args, input: bytes = b"", timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run the installed `mem` as its own process."""
    return subprocess.run(
        [str(MEM), *map(str, args)], input=input, capture_output=True, timeout=timeout, **kwargs
    )


def one_line_error(stderr: str | bytes) -> str:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert text.startswith("Error: ") and text.count("\n") == 1, text
    assert "Traceback" not in text
    return text


def export_all(db: Path | str) -> str:
    """Every memory as exported, less the recall counts (reading a memory updates them)."""
    rows = [json.loads(line) for line in mem("export", "--db", db, "--all-users").stdout.splitlines()]
    return "".join(
        json.dumps({k: v for k, v in r.items() if k not in ("recalled", "last_recalled_at")}) + "\n"
        for r in rows
    )


def store_health(db: Path | str) -> tuple[dict[str, int], list[str]]:
    store = SQLiteStore(Path(db), create=False)
    try:
        return store.counts(), store.integrity_problems()
    finally:
        store.close()


def jsonl(texts: list[str], **extra) -> bytes:
    return "".join(json.dumps({"text": t, **extra}) + "\n" for t in texts).encode()


def marker(seed: str) -> tuple[str, str]:
    """A word found nowhere else, and the part of it the file must not hold.

    FTS5 stores a term after the prefix it shares with the term before it, and
    the porter stemmer trims endings: the random middle and the fixed "qz" end
    survive both, so scanning for them finds the term in any table or index.
    """
    import hashlib

    letters = "".join("abcdefghijklmnoprstuvw"[b % 22] for b in hashlib.sha256(seed.encode()).digest()[:10])
    return f"zq{letters}qz", f"{letters[2:]}qz"


def files_holding(root: Path, needle: str) -> list[Path]:
    """Every file under root whose bytes contain needle (UTF-8)."""
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


# -- concurrency ----------------------------------------------------------------------


def test_concurrent_writers_and_reindex_lose_nothing(tmp_path: Path) -> None:
    """4 processes remember at once (a JSON-lines batch, then single notes) while
    `mem reindex` re-embeds beside them: every memory is there exactly once."""
    db = tmp_path / "busy.db"
    seed = [f"seed note {i} about the garden" for i in range(40)]
    assert run("remember", "--db", db, "--jsonl", input=jsonl(seed)).returncode == 0
    shared = [f"shared note {i} every writer sends" for i in range(5)]
    expected = set(seed) | set(shared)
    outcomes: list[subprocess.CompletedProcess] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        mine = [f"writer {n} note {i} on topic {(n * 7 + i) % 11}" for i in range(15)]
        done = [run("remember", "--db", db, "--jsonl", input=jsonl(mine + shared))]
        for i in range(1):
            done.append(run("remember", "--db", db, f"writer {n} single {i}"))
        with lock:
            outcomes.extend(done)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for n in range(4):
        expected |= {f"writer {n} note {i} on topic {(n * 7 + i) % 11}" for i in range(15)}
        expected |= {f"writer {n} single {i}" for i in range(1)}
    for t in threads:
        t.start()
    reindexes = []
    while any(t.is_alive() for t in threads) and len(reindexes) < 2:
        reindexes.append(run("reindex", "--db", db))
    for t in threads:
        t.join()
    assert reindexes and len(outcomes) == 8
    for done in [*outcomes, *reindexes]:
        assert done.returncode == 0, done.stderr
        assert b"locked" not in done.stderr and b"Error" not in done.stderr, done.stderr
    texts = [json.loads(line)["text"] for line in export_all(db).splitlines()]
    assert sorted(texts) == sorted(expected)  # each exactly once
    counts, problems = store_health(db)
    assert problems == []
    assert counts["rows"] == counts["full_text"] == counts["vectors"] == counts["vector_index"]


def test_reindex_keeps_up_with_writes_made_while_it_embeds(tmp_path: Path) -> None:
    """Another process adds, edits and forgets memories while reindex embeds.

    Before the fix, a memory added then failed reindex ("added during reindex"),
    and one forgotten then broke it with a foreign-key error.
    """
    db = tmp_path / "race.db"
    base = Memory(db, embedder=FakeEmbedder(), user="tester")
    ids = [r.id for r in base.remember([NewMemory(f"note number {i}") for i in range(10)])]
    other = Memory(db, embedder=FakeEmbedder(), user="tester")
    fake = FakeEmbedder()

    class Meddling:
        name, dim = fake.name, fake.dim
        calls = 0

        def embed(self, texts):
            self.calls += 1
            if self.calls == 1:  # the reindex pass: another writer gets in
                other.remember([NewMemory("written during the reindex")])
                other.edit(ids[0], "edited during the reindex")
                other.forget([ids[1]])
            return fake.embed(texts)

    meddler = Memory(db, embedder=Meddling(), user="tester")  # type: ignore[arg-type]
    assert meddler.reindex() == 10
    counts, problems = store_health(db)
    assert problems == [] and counts["rows"] == counts["vectors"] == 10
    import numpy as np

    edited = base.store.vector_of(ids[0])
    assert np.allclose(edited, fake.embed(["edited during the reindex"])[0])  # not the old text's vector
    hit = base.recall("written during the reindex", k=1, mode="vector")[0]
    assert hit.record.text == "written during the reindex"
    for m in (base, other, meddler):
        m.close()


# -- crash safety ---------------------------------------------------------------------


def rows_in(db: Path) -> int:
    from memcli.store.connection import connect

    conn = connect(db, create=False)
    try:
        return int(conn.execute("SELECT count(*) FROM memories").fetchone()[0])
    finally:
        conn.close()


def kill_after(proc: subprocess.Popen, db: Path, rows: int, delay: float) -> bool:
    """SIGKILL proc once the store holds `rows` memories, `delay` seconds later; True if it was still running."""
    while proc.poll() is None and rows_in(db) < rows:
        time.sleep(0.02)
    time.sleep(delay)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return alive


def test_killed_bulk_import_leaves_whole_memories_and_resumes(tmp_path: Path) -> None:
    """SIGKILL a `mem remember --jsonl` at seeded random points: the file stays sound,
    each memory is wholly there (row, full-text, vector) or absent, and a rerun completes it."""
    rng = random.Random(20240501)
    db = tmp_path / "killed.db"
    texts = [
        f"imported note {i}: {rng.choice(['tea', 'bike', 'rent', 'jazz'])} {i * 31 % 97}" for i in range(450)
    ]
    lines = jsonl(texts)
    assert run("remember", "--db", db, "kept before the crashes").returncode == 0
    killed_mid_run = 0
    seen = [1]
    for _ in range(3):
        proc = subprocess.Popen(
            [str(MEM), "remember", "--db", str(db), "--jsonl", "--json"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc.stdin.write(lines)
        proc.stdin.close()
        # Kill in the middle of the work: after some batches, at a random moment.
        killed_mid_run += kill_after(proc, db, seen[-1] + rng.randint(1, 60), rng.uniform(0, 0.1))
        counts, problems = store_health(db)
        assert problems == [], problems
        assert counts["rows"] == counts["full_text"] == counts["vectors"] == counts["vector_index"]
        stored = [json.loads(x)["text"] for x in export_all(db).splitlines()]
        assert "kept before the crashes" in stored
        assert len(stored) == len(set(stored)) and set(stored) <= {*texts, "kept before the crashes"}
        assert len(stored) >= seen[-1]
        seen.append(len(stored))
    assert killed_mid_run >= 2  # most kills landed mid-import (on a fast machine one may come too late)
    done = run("remember", "--db", db, "--jsonl", input=lines)
    assert done.returncode == 0, done.stderr
    stored = [json.loads(x)["text"] for x in export_all(db).splitlines()]
    assert sorted(stored) == sorted([*texts, "kept before the crashes"])
    assert store_health(db)[1] == []


# -- hostile input --------------------------------------------------------------------


@pytest.fixture
def kept(tmp_path: Path) -> str:
    """A store holding one memory; the test compares its export before and after."""
    db = str(tmp_path / "kept.db")
    mem("remember", "--db", db, "kept safe through everything", "--tag", "keep")
    return db


def test_hostile_input_through_the_cli(kept: str, tmp_path: Path) -> None:
    db = kept
    before = export_all(db)
    [kept_id] = [json.loads(x)["id"] for x in before.splitlines()]
    too_big = tmp_path / "big.txt"
    too_big.write_bytes(b"word " * (MAX_TEXT_BYTES // 5 + 1))
    bad_utf8 = tmp_path / "latin1.txt"
    bad_utf8.write_bytes("café".encode("latin-1"))
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"text\x00more")
    blank = tmp_path / "blank.txt"
    blank.write_text(" \t\n\n  \r\n")
    cases: list[tuple[list, bytes | str | None, int]] = [
        (["remember", " \t ", "  "], None, ExitStatus.INPUT),
        (["remember", "-f", blank], None, ExitStatus.INPUT),
        (["remember"], b"x" * (MAX_TEXT_BYTES + 1), ExitStatus.INPUT),
        (["remember", "-f", too_big], None, ExitStatus.INPUT),
        (["remember", "-f", bad_utf8], None, ExitStatus.INPUT),
        (["remember", "-f", nul], None, ExitStatus.INPUT),
        (["remember", "--jsonl"], b'{"text": "caf\xe9"}\n', ExitStatus.INPUT),
        (["remember", "--jsonl"], '{"text": "a\\u0000b"}\n', ExitStatus.INPUT),
        (["remember", "--jsonl"], '{"text": "fine"}\n{"text": "   "}\n', ExitStatus.INPUT),
        (["remember", "--jsonl"], '{"text": "fine"}\n{"text": 5}\n', ExitStatus.INPUT),
        (["remember", "--jsonl"], '{"text": "fine", "importance": 99}\n', ExitStatus.INPUT),
        (["remember", "x", "--importance", "99"], None, ExitStatus.INPUT),
        (["remember", "x", "--importance", "-1"], None, ExitStatus.INPUT),
        (["remember", "x", "--ttl", "-5d"], None, ExitStatus.INPUT),
        (["remember", "x", "--expires", "2001-01-01"], None, ExitStatus.INPUT),
        (["remember", "x", "--at", "2024-02-30"], None, ExitStatus.INPUT),
        (["remember", "x", "--at", "99999-01-01"], None, ExitStatus.INPUT),
        (["recall", "x", "--since", "0000-00-00"], None, ExitStatus.INPUT),
        (["recall", "x", "--until", "next blue moon"], None, ExitStatus.INPUT),
        (["recall", "x", "-k", "-1"], None, ExitStatus.USAGE),
        (["recall", "x", "-k", "1000000"], None, ExitStatus.USAGE),
        (["list", "-n", "-5"], None, ExitStatus.USAGE),
        (["show", "zzzz"], None, ExitStatus.NOT_FOUND),
        (["show", "'; DROP TABLE memories;--"], None, ExitStatus.NOT_FOUND),
        (["show", "%"], None, ExitStatus.NOT_FOUND),
        (["show", kept_id[:3]], None, ExitStatus.NOT_FOUND),  # a prefix needs 4+ characters
        (["edit", "zzzzzzzz", "new text"], None, ExitStatus.NOT_FOUND),
        (["history", "zzzzzzzz"], None, ExitStatus.NOT_FOUND),
        (["forget", "zzzzzzzz", "--yes"], None, ExitStatus.NOT_FOUND),
        (["forget", kept_id, "zzzzzzzz", "--yes"], None, ExitStatus.NOT_FOUND),  # all or nothing
        (["forget", "--query", '"', "--yes"], None, ExitStatus.INPUT),
        (["forget", "--query", "*", "--yes"], None, ExitStatus.INPUT),
    ]
    for args, stdin, code in cases:
        result = mem(args[0], "--db", db, *args[1:], input=stdin, code=code)
        if code != ExitStatus.USAGE:
            one_line_error(result.stderr)
    # FTS5 syntax and SQL in queries and filters: no error, nothing deleted.
    for query in [
        "NEAR(kept safe",
        "kept*",
        "text:kept",
        "^kept",
        "kept OR 1=1",
        "'); DELETE FROM memories;--",
    ]:
        for mode in ("fts", "hybrid"):
            mem("recall", "--db", db, "--mode", mode, "--", query)
        mem("forget", "--db", db, "--query", "zzz " + query, "--yes")
    mem("forget", "--db", db, "--tag", "keep' OR '1'='1", "--yes")
    assert "kept safe" in mem("list", "--db", db, "-n", "99999999999999999999").stdout  # was an OverflowError
    assert export_all(db) == before


def test_terminal_escapes_bidi_and_markup_print_literally(tmp_path: Path) -> None:
    db = str(tmp_path / "esc.db")
    text = "a\x1b[31mred\x1b[0m \u202eevil\u2066 bell\x07 [red]markup[/red] [/tmp] [bold]x[/]"
    [r] = js("remember", "--db", db, text, "--tag", "[blink]", "--meta", "k=[/]")["results"]
    assert js("show", "--db", db, r["id"])["text"] == text  # stored literally
    outputs = [
        mem("list", "--db", db).stdout,
        mem("show", "--db", db, r["id"]).stdout,
        mem("recall", "--db", db, "markup evil bell", "--mode", "fts").stdout,
        mem("history", "--db", db, r["id"]).stdout,
    ]
    for out in outputs:
        for raw in ("\x1b", "\x07", "\u202e", "\u2066"):
            assert raw not in out, (raw, out)
        assert "\\x1b[31mred\\x1b[0m" in out and "\\u202eevil" in out
        assert "[red]markup[/red] [/tmp] [bold]x[/]" in out
    assert "[blink]" in outputs[0] and "k" in outputs[1] and "[/]" in outputs[1]


def test_long_lines_and_large_stdin(tmp_path: Path) -> None:
    db = str(tmp_path / "long.db")
    rng = random.Random(7)
    line = "".join(rng.choice("abcdefghij") for _ in range(10_000))  # one word, no spaces
    out = js("remember", "--db", db, input=line)["results"]
    assert all(r["status"] == "added" for r in out)
    stored = [json.loads(x) for x in export_all(db).splitlines()]
    assert "".join(r["text"] for r in sorted(stored, key=lambda r: r["chunk"])) == line
    assert max(len(x) for x in mem("list", "--db", db).stdout.splitlines()) < 10_000  # a row per chunk
    # Over the bulk limit, stdin is refused before anything is read into the store.
    assert MAX_BULK_BYTES > MAX_TEXT_BYTES
    result = mem("remember", "--db", db, input=b"y" * (MAX_TEXT_BYTES + 10), code=ExitStatus.INPUT)
    assert "larger than 2 MB" in one_line_error(result.stderr)
    assert len(export_all(db).splitlines()) == len(stored)


def test_bad_database_paths(kept: str, tmp_path: Path) -> None:
    before = export_all(kept)
    missing = tmp_path / "absent.db"
    for args in (
        ["list"],
        ["show", "abcd1234"],
        ["export"],
        ["stats"],
        ["history", "abcd1234"],
        ["forget", "--all", "--yes"],
    ):
        one_line_error(mem(args[0], "--db", missing, *args[1:], code=ExitStatus.DATABASE).stderr)
    assert not missing.exists()
    for args in (["remember", "x"], ["show", "abcd1234"], ["recall", "x", "--mode", "fts"]):
        assert "is a directory" in one_line_error(
            mem(args[0], "--db", tmp_path, *args[1:], code=ExitStatus.DATABASE).stderr
        )
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 2\x00" + bytes(range(256)) * 64)
    for args in (["list"], ["stats"], ["remember", "x"], ["recall", "x", "--mode", "fts"]):
        one_line_error(mem(args[0], "--db", junk, *args[1:], code=ExitStatus.DATABASE).stderr)
    assert junk.read_bytes() == b"SQLite format 2\x00" + bytes(range(256)) * 64
    assert export_all(kept) == before


def test_truncated_database_fails_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "whole.db"
    texts = [f"memory number {i} with some words about things {i}" for i in range(150)]
    assert run("remember", "--db", db, "--jsonl", input=jsonl(texts)).returncode == 0
    size = db.stat().st_size
    for cut in (size // 2, size - 4096, 4096 * 3):
        copy = tmp_path / f"cut-{cut}.db"
        copy.write_bytes(db.read_bytes()[:cut])
        copy.chmod(0o600)
        for args in (["list", "-n", "0"], ["stats"], ["recall", "things", "--mode", "fts"], ["export"]):
            result = mem(args[0], "--db", copy, *args[1:], code=None)
            if result.exit_code != 0:  # pages a command never reads can be missing unnoticed
                assert result.exit_code == ExitStatus.DATABASE, (args, result.stderr)
                one_line_error(result.stderr)
        result = mem("doctor", "--db", copy, "--no-load", "--json", code=None)
        database = [c for c in json.loads(result.stdout)["checks"] if c["area"] == "database"]
        assert not all(c["ok"] for c in database), database
    assert len(export_all(db).splitlines()) == 150


# -- property: whatever is remembered is found, and once forgotten is gone ------------

FTS_NOISE = st.sampled_from(
    ['"', "NEAR(", "AND", "OR", "NOT", "*", "^", "col:", "(", ")", "-", "'", ";", "--", "%", "_"]
)


def test_any_text_is_recalled_then_forgotten_for_good(tmp_path: Path, real_embedder) -> None:
    db = tmp_path / "prop.db"
    memory = Memory(db, embedder=real_embedder, user="tester")
    memory.remember([NewMemory(f"background note {i} about daily life") for i in range(20)])
    counter = iter(range(10_000))
    wal = Path(f"{db}-wal")

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(
        body=st.lists(
            st.one_of(
                st.text(
                    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
                ),
                FTS_NOISE,
            ),
            max_size=6,
        ).map(" ".join)
    )
    def check(body: str) -> None:
        word, tail = marker(f"property {next(counter)}")
        text = f"{word} {body}"
        [result] = memory.remember([NewMemory(text)])
        stored = memory.get(result.id)
        assert stored.text == unicodedata.normalize("NFC", text).strip()
        assert result.id in [h.record.id for h in memory.recall(text, k=5, mode="fts")]
        assert result.id in [h.record.id for h in memory.recall(stored.text, k=5, mode="hybrid")]
        memory.forget([result.id])
        with pytest.raises(NotFound):
            memory.get(result.id)
        assert result.id not in [r.id for r in memory.list(limit=None)]
        assert memory.recall(word, k=5, mode="fts") == []
        for path in (db, wal):
            if path.exists():
                assert tail.encode() not in path.read_bytes(), path

    check()
    assert memory.store.integrity_problems() == []
    memory.close()


# -- deletion that erases -------------------------------------------------------------


def test_forget_erases_every_trace_in_the_data_dir(isolated_home: Path) -> None:
    """Markers in text, tags, meta and user names: gone from every file of the data dir
    after forget by id, by --tag, by --query and by --user --all."""
    names = ["byid", "edited", "bytag", "byquery", "byuser", "tagname", "metaval", "username"]
    marks = {name: marker(name)[0] for name in names}
    tails = {name: marker(name)[1] for name in names}
    for i in range(30):
        mem("remember", f"filler note number {i}")
    by_id = js("remember", f"my pin is {marks['byid']}", "--meta", f"k={marks['metaval']}")["results"][0][
        "id"
    ]
    edited = js("remember", f"old wording {marks['edited']}")["results"][0]["id"]
    mem("edit", edited, "new wording without the secret")
    # The old text is in the history only: not in the row, not in the full-text index.
    assert [h["text"] for h in js("history", edited)["history"]][0] == f"old wording {marks['edited']}"
    assert js("recall", marks["edited"], "--mode", "fts")["results"] == []
    store = SQLiteStore(isolated_home / "memory.db", create=False)
    assert (
        store.conn.execute(
            "SELECT count(*) FROM memory_history WHERE text LIKE ?", [f"%{marks['edited']}%"]
        ).fetchone()[0]
        == 1
    )
    assert (
        store.conn.execute(
            "SELECT count(*) FROM memories WHERE text LIKE ?", [f"%{marks['edited']}%"]
        ).fetchone()[0]
        == 0
    )
    store.close()
    mem("remember", f"tagged secret {marks['bytag']}", "--tag", marks["tagname"])
    mem("remember", f"found by words {marks['byquery']} here")
    mem("remember", f"guest secret {marks['byuser']}", "--user", marks["username"])
    mem("remember", "another guest note", "--user", marks["username"])
    # Everything is on disk before the forgets (or the test would prove nothing).
    for tail in tails.values():
        assert files_holding(isolated_home, tail), tail
    mem("forget", by_id, edited)
    assert js("forget", "--tag", marks["tagname"], "--yes")["forgotten"] == 1
    assert js("forget", "--query", marks["byquery"], "--yes")["forgotten"] == 1
    assert js("forget", "--user", marks["username"], "--all", "--yes")["forgotten"] == 2
    for tail in tails.values():
        assert files_holding(isolated_home, tail) == [], tail
    assert js("stats")["memories"] == 30
    assert js("stats")["indexes_ok"] is True


def test_a_reader_holding_the_wal_is_reported_and_the_next_forget_clears_it(isolated_home: Path) -> None:
    mark, tail = marker("held-back")
    kept = js("remember", "an ordinary note")["results"][0]["id"]
    gone = js("remember", f"the secret is {mark}")["results"][0]["id"]
    db = isolated_home / "memory.db"
    reader = SQLiteStore(db, create=False)  # another process, in the middle of a read
    reader.conn.execute("BEGIN")
    reader.conn.execute("SELECT count(*) FROM memories").fetchone()
    try:
        result = mem("forget", gone, "--json")
        out = json.loads(result.stdout)
        assert (out["forgotten"], out["ids"], out["wal_cleared"]) == (1, [gone], False)
        assert (
            "another process has the database open" in result.stderr and "mem forget --scrub" in result.stderr
        )
        assert len(result.stderr.strip().splitlines()) == 1
        assert files_holding(isolated_home, tail)  # what the warning is about
        still = mem("forget", "--scrub", code=ExitStatus.DATABASE)
        assert "another process still has the database open" in still.stderr
    finally:
        reader.conn.execute("COMMIT")
        reader.close()
    assert js("forget", "--scrub") == {"wal_cleared": True}
    assert files_holding(isolated_home, tail) == []
    assert js("show", kept)["id"] == kept


# -- scoping --------------------------------------------------------------------------


def test_users_never_see_each_others_memories(tmp_path: Path, monkeypatch, real_embedder) -> None:
    from memcli.ask import ask, relevant

    db = str(tmp_path / "two.db")
    secret = "Alice's locker combination is 4711 zqlocker"
    [a] = js("remember", "--db", db, secret, "--user", "alice", "--tag", "private")["results"]
    js("remember", "--db", db, "Bob waters the plants on Sunday", "--user", "bob")
    as_bob = ["--db", db, "--user", "bob"]
    for mode in ("hybrid", "fts", "vector"):
        got = js("recall", *as_bob, "locker combination zqlocker", "--mode", mode)["results"]
        assert a["id"] not in [r["id"] for r in got]
    assert a["id"] in [
        r["id"] for r in js("recall", "--db", db, "--user", "alice", "locker combination")["results"]
    ]
    assert [r["text"] for r in js("list", *as_bob, "-n", "0")["results"]] == [
        "Bob waters the plants on Sunday"
    ]
    assert "zqlocker" not in mem("export", *as_bob).stdout
    assert js("list", *as_bob, "--tag", "private")["results"] == []
    # By id, another user's memory does not exist.
    monkeypatch.setenv("MEMCLI_USER", "bob")
    monkeypatch.setenv("MEMCLI_MODEL", str(tmp_path / "no-such-model.gguf"))  # slash commands only
    for args in (
        ["show", a["id"]],
        ["show", a["id"][:5]],
        ["history", a["id"]],
        ["edit", a["id"], "hijacked"],
        ["forget", a["id"], "--yes"],
    ):
        assert "no memory with id" in mem(args[0], "--db", db, *args[1:], code=ExitStatus.NOT_FOUND).stderr
    assert js("forget", *as_bob, "--query", "locker combination", "--yes")["forgotten"] == 0
    assert js("forget", *as_bob, "--all", "--yes")["forgotten"] == 1
    chat = runner.invoke(app, ["chat", *as_bob], input=f"/recall locker combination\n/forget {a['id']}\n")
    assert chat.exit_code == 0 and "zqlocker" not in chat.stdout and "Forgot" not in chat.stdout
    assert "no memory with id" in chat.stderr
    monkeypatch.setenv("MEMCLI_USER", "alice")
    assert js("show", "--db", db, a["id"])["text"] == secret  # untouched, and alice sees it
    # ask recalls with the same filters: nothing of alice's reaches bob's prompt.
    memory = Memory(db, embedder=real_embedder)
    question = "What is the locker combination?"
    assert relevant(memory.recall(question, Filters(user="alice")), question)
    answer = ask(memory, None, question, Filters(user="bob"))  # type: ignore[arg-type]
    assert not answer.known and answer.used == []
    memory.close()


# -- permissions ----------------------------------------------------------------------


def test_files_are_private_even_with_an_open_umask(isolated_home: Path) -> None:
    from memcli.consolidate import attach_log_file, log

    def open_umask() -> None:
        os.umask(0)

    assert run("remember", "a private note", preexec_fn=open_umask).returncode == 0
    assert run("config", "set", "half_life_days", "30", preexec_fn=open_umask).returncode == 0
    db = isolated_home / "memory.db"
    holder = SQLiteStore(db)  # an open connection keeps the -wal and -shm files
    holder.set_setting("probe", "1")
    old = os.umask(0)
    try:
        handler_count = len(log.handlers)
        log_file = attach_log_file()
    finally:
        os.umask(old)
        for handler in log.handlers[handler_count:]:
            log.removeHandler(handler)
            handler.close()
    wal = Path(f"{db}-wal")
    assert wal.exists()
    for path in (db, wal, Path(f"{db}-shm"), log_file, isolated_home / "config.toml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(isolated_home.stat().st_mode) == 0o700
    report = json.loads(run("doctor", "--no-load", "--json").stdout)
    holder.close()
    files = [c for c in report["checks"] if c["area"] == "files"]
    checked = {c["name"] for c in files}
    assert {str(db), str(wal), str(log_file), str(isolated_home / "config.toml")} <= checked
    assert all(c["ok"] for c in files), files


# -- a full disk and read-only media ---------------------------------------------------


def _fill_then_import(db: Path, **popen) -> subprocess.CompletedProcess:
    # Each memory takes ~2.5 KB (a 1.5 KB float vector, text, indexes), WAL frames more.
    texts = [f"bulk note {i} about {['rent', 'tea', 'bikes'][i % 3]}" for i in range(150)]
    return run("remember", "--db", db, "--jsonl", input=jsonl(texts), **popen)


def _seeded(db: Path) -> str:
    assert (
        run("remember", "--db", db, "--jsonl", input=jsonl([f"early note {i}" for i in range(20)])).returncode
        == 0
    )
    return export_all(db)


@pytest.fixture
def small_disk(tmpfs) -> Path:
    """A 360 KB tmpfs, or skip."""
    return tmpfs("360k")


def test_disk_full_is_one_clear_line_and_loses_nothing(small_disk: Path, tmp_path: Path) -> None:
    seeded = tmp_path / "seeded.db"
    before = _seeded(seeded)
    db = small_disk / "full.db"
    db.write_bytes(seeded.read_bytes())  # ~300 KB: the disk has room for about one batch less
    done = _fill_then_import(db)
    assert done.returncode == ExitStatus.DATABASE, done.stderr
    assert "the disk is full" in one_line_error(done.stderr)
    counts, problems = store_health(db)
    assert problems == []
    now = export_all(db).splitlines()
    assert set(before.splitlines()) <= set(now)  # earlier memories intact
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    assert _fill_then_import(db).returncode == 0  # with room again, the rerun completes it
    texts = [json.loads(x)["text"] for x in export_all(db).splitlines()]
    assert len(texts) == len(set(texts)) == 170


def test_file_size_limit_is_one_clear_line_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "limited.db"
    before = _seeded(db)
    limit = db.stat().st_size + 64 * 1024

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = _fill_then_import(db, preexec_fn=small_files)
    assert done.returncode == ExitStatus.DATABASE, done.stderr
    assert "disk I/O error (disk full" in one_line_error(done.stderr)
    assert store_health(db)[1] == []
    assert set(before.splitlines()) <= set(export_all(db).splitlines())


def test_database_on_read_only_media_reads_and_refuses_writes(tmp_path: Path, read_only) -> None:
    """A WAL database in a read-only directory: SQLite cannot create its -shm file.
    Before the fix even `mem list` failed ("unable to open database file")."""
    media = tmp_path / "media"
    media.mkdir()
    db = media / "copy.db"
    before = _seeded(db)
    some_id = json.loads(before.splitlines()[0])["id"]
    read_only(media)
    assert export_all(db) == before
    assert "early note 3" in mem("list", "--db", db, "-n", "0", "--user", "tester").stdout
    assert (
        js("recall", "--db", db, "early note 3", "--mode", "fts", "-k", "1")["results"][0]["text"]
        == "early note 3"
    )
    assert js("stats", "--db", db)["indexes_ok"] is True
    for args in (["remember", "a new note"], ["forget", some_id, "--yes"], ["edit", some_id, "changed"]):
        result = mem(args[0], "--db", db, *args[1:], code=ExitStatus.DATABASE)
        assert "read-only" in one_line_error(result.stderr)
    assert export_all(db) == before
    assert sorted(p.name for p in media.iterdir()) == ["copy.db"]
