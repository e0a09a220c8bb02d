"""The `mem` command line end to end, with the real embedding model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.cli import app
from memcli.errors import ExitStatus

runner = CliRunner()


@pytest.fixture(autouse=True)
def _model(real_embedder):
    """CLI tests use the real model (loaded once per test session)."""


def mem(*args: str, input: str | bytes | None = None, code: int | None = 0):
    """Run mem in-process; `code` is the expected exit status (None: any)."""
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert code is None or result.exit_code == code, (
        result.exit_code,
        result.stdout,
        result.stderr,
        result.exception,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


def js(*args: str, input: str | None = None):
    return json.loads(mem(*args, "--json", input=input).stdout)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the store is: a SQLite file, or a fresh database on a real PostgreSQL server."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "cli.db")


@pytest.mark.parametrize("how", ["argument", "file", "stdin", "dash"])
def test_remember_from_every_input_then_recall(db: str, tmp_path: Path, how: str) -> None:
    text = "The spare house key is under the blue flower pot"
    if how == "argument":
        out = js("remember", "--db", db, *text.split())
    elif how == "file":
        note = tmp_path / "note.txt"
        note.write_text(text + "\n")
        out = js("remember", "--db", db, "-f", note)
    else:
        out = js("remember", "--db", db, *(["-"] if how == "dash" else []), input=text)
    [stored] = out["results"]
    assert stored["status"] == "added"
    mem("remember", "--db", db, "Ana's birthday is on 3 March")
    found = js("recall", "--db", db, "where did I leave the key?", "-k", "1")
    assert found["results"][0]["id"] == stored["id"]
    assert found["results"][0]["text"] == text


def test_remember_twice_is_a_noop_that_says_so(db: str) -> None:
    first = mem("remember", "--db", db, "buy oat milk")
    assert "Remembered" in first.stdout
    again = mem("remember", "--db", db, "buy oat milk")
    assert "Already known" in again.stdout
    assert js("remember", "--db", db, "buy oat milk")["results"][0]["status"] == "exists"
    assert js("stats", "--db", db)["memories"] == 1


def test_remember_options_are_stored(db: str) -> None:
    out = js(
        "remember",
        "--db",
        db,
        "standup moved to 10am",
        "--kind",
        "procedural",
        "--tag",
        "work",
        "--tag",
        "team",
        "--importance",
        "5",
        "--meta",
        "project=apollo",
        "--meta",
        "room=B2",
        "--at",
        "2024-05-01T09:00:00Z",
        "--ttl",
        "30d",
        "--user",
        "alice",
    )
    memory_id = out["results"][0]["id"]
    mem("show", "--db", db, memory_id, code=ExitStatus.NOT_FOUND)  # another user's memory is not there
    record = js("show", "--db", db, memory_id, "--user", "alice")
    assert record["kind"] == "procedural"
    assert record["tags"] == ["team", "work"]
    assert record["importance"] == 5
    assert record["meta"] == {"project": "apollo", "room": "B2"}
    assert record["occurred_at"] == "2024-05-01T09:00:00Z"
    assert record["expires_at"] > record["created_at"]
    assert record["user"] == "alice"
    assert record["embed_model"] == "all-MiniLM-L6-v2" and record["embed_dim"] == 384
    assert js("recall", "--db", db, "standup")["results"] == []  # another user's
    assert (
        js("recall", "--db", db, "standup", "--user", "alice")["results"][0]["text"]
        == "standup moved to 10am"
    )


def test_jsonl_bulk_load(db: str) -> None:
    lines = "\n".join(
        json.dumps(obj)
        for obj in [
            {"text": "Paris trip in June", "tags": ["travel"], "occurred_at": "2023-06-01"},
            {"text": "Use git bisect to find regressions", "kind": "procedural", "meta": {"src": "wiki"}},
            {"text": "Bob prefers tea", "user": "bob"},
        ]
    )
    out = js("remember", "--db", db, "--jsonl", input=lines)
    assert [r["status"] for r in out["results"]] == ["added"] * 3
    listed = js("list", "--db", db)["results"]
    assert {r["text"] for r in listed} == {"Paris trip in June", "Use git bisect to find regressions"}
    assert js("list", "--db", db, "--kind", "procedural")["results"][0]["meta"] == {"src": "wiki"}
    bad = mem("remember", "--db", db, "--jsonl", input='{"text": "ok"}\n{not json', code=ExitStatus.INPUT)
    assert "line 2" in bad.stderr
    assert len(js("list", "--db", db, "--user", "bob")["results"]) == 1


def test_recall_prints_markup_literally(db: str) -> None:
    mem("remember", "--db", db, "[red]not red[/red] and [/tmp] and [bold]")
    out = mem("recall", "--db", db, "not red tmp bold").stdout
    assert "[red]not red[/red] and [/tmp] and [bold]" in out


def test_recall_modes_and_json_shape(db: str) -> None:
    mem("remember", "--db", db, "The dentist appointment is on Friday at 3pm")
    mem("remember", "--db", db, "Grandma's apple pie needs cinnamon", "--tag", "recipes")
    for mode in ("hybrid", "fts", "vector"):
        out = js("recall", "--db", db, "dentist appointment", "--mode", mode)
        assert out["mode"] == mode
        top = out["results"][0]
        assert top["text"].startswith("The dentist")
        assert {"id", "score", "kind", "occurred_at", "tags", "meta"} <= set(top)
    assert [r["text"] for r in js("recall", "--db", db, "pie", "--tag", "recipes")["results"]] == [
        "Grandma's apple pie needs cinnamon"
    ]
    mem("recall", "--db", db, "x", "--mode", "psychic", code=ExitStatus.USAGE)


def test_scores_are_from_0_to_1_and_weak_matches_are_left_out(db: str) -> None:
    mem("remember", "--db", db, "The dentist appointment is on Friday at 3pm")
    mem("remember", "--db", db, "Grandma's apple pie needs cinnamon")
    for mode in ("hybrid", "fts", "vector"):
        out = js("recall", "--db", db, "dentist appointment on Friday", "--mode", mode, "--min-score", "0")
        assert out["results"] and all(0 <= r["score"] <= 1 for r in out["results"])
        assert all(
            r[key] is None or 0 <= r[key] <= 1 for r in out["results"] for key in ("relevance", "similarity")
        )
    weak = mem("recall", "--db", db, "quantum physics lecture")
    assert weak.stdout == "" and "No memory matches well" in weak.stderr and "--min-score 0" in weak.stderr
    assert js("recall", "--db", db, "quantum physics lecture")["results"] == []
    everything = js("recall", "--db", db, "quantum physics lecture", "--min-score", "0")
    assert everything["min_score"] == 0 and len(everything["results"]) == 2
    mem("config", "set", "min_score", "0")
    assert len(js("recall", "--db", db, "quantum physics lecture")["results"]) == 2
    mem("recall", "--db", db, "dentist", "--min-score", "2", code=ExitStatus.USAGE)


@pytest.mark.parametrize(
    "query", ['"unbalanced', "NEAR(a b", "a AND OR", "col:x*", "- -", "-x", "'); DROP TABLE memories;--"]
)
def test_hostile_queries_never_fail(db: str, query: str) -> None:
    mem("remember", "--db", db, "a note with AND OR NEAR words")
    mem("recall", "--db", db, "--", query)  # after "--", even "-x" is a query
    assert js("stats", "--db", db)["memories"] == 1


def test_recall_and_forget_read_stdin(db: str) -> None:
    [a, b, c] = js(
        "remember",
        "--db",
        db,
        "--jsonl",
        input='{"text": "red apple"}\n{"text": "green pear"}\n{"text": "blue plum"}\n',
    )["results"]
    assert js("recall", "--db", db, "-k", "1", input="green pear\n")["results"][0]["id"] == b["id"]
    assert js("recall", "--db", db, "-", "-k", "1", input="blue plum")["results"][0]["id"] == c["id"]
    mem("recall", "--db", db, input="  \n", code=ExitStatus.INPUT)
    assert js("forget", "--db", db, "-", input=f"{a['id']}\n{c['id']}\n\n")["forgotten"] == 2
    assert [r["id"] for r in js("list", "--db", db)["results"]] == [b["id"]]
    mem("forget", "--db", db, "-", input="\n", code=ExitStatus.INPUT)


def test_list_show_edit_history(db: str) -> None:
    [r] = js("remember", "--db", db, "I live in Lisbon")["results"]
    mem("edit", "--db", db, r["id"], "I live in Porto")
    assert js("show", "--db", db, r["id"][:5])["text"] == "I live in Porto"
    hist = js("history", "--db", db, r["id"])["history"]
    assert [h["text"] for h in hist] == ["I live in Lisbon", "I live in Porto"]
    assert "Lisbon" in mem("history", "--db", db, r["id"]).stdout
    assert js("recall", "--db", db, "Porto", "--mode", "fts")["results"][0]["id"] == r["id"]
    assert "I live in Porto" in mem("list", "--db", db).stdout
    mem("edit", "--db", db, r["id"], input="I live in Braga")
    assert js("show", "--db", db, r["id"])["text"] == "I live in Braga"


def test_forget_by_id_and_by_filter(db: str) -> None:
    ids = [
        js("remember", "--db", db, t, "--tag", "tmp")["results"][0]["id"] for t in ("one fish", "two fish")
    ]
    keep = js("remember", "--db", db, "red fish blue fish")["results"][0]["id"]
    mem("forget", "--db", db, ids[0])
    mem("show", "--db", db, ids[0], code=ExitStatus.NOT_FOUND)
    # A filter without --yes off a terminal is refused, and nothing is deleted.
    mem("forget", "--db", db, "--tag", "tmp", code=ExitStatus.USAGE)
    assert js("show", "--db", db, ids[1])["text"] == "two fish"
    out = js("forget", "--db", db, "--tag", "tmp", "--yes")
    server = db.startswith("postgresql://")
    assert out == {
        "forgotten": 1,
        "ids": [ids[1]],
        "derived": [],
        "kept": [],
        "requeued": [],
        "restored": [],
        "traces_left": server,  # a server keeps dead rows until it vacuums them
        **({} if server else {"wal_cleared": True}),
    }
    assert js("forget", "--db", db, "--query", "blue fish", "--yes")["ids"] == [keep]
    assert js("stats", "--db", db)["memories"] == 0
    mem("forget", "--db", db, "nosuchid", code=ExitStatus.NOT_FOUND)


def test_forget_all_of_a_user_and_before(db: str) -> None:
    mem("remember", "--db", db, "old note", "--at", "2020-01-01", "--user", "guest")
    mem("remember", "--db", db, "new note", "--user", "guest")
    mem("remember", "--db", db, "mine")
    assert js("forget", "--db", db, "--user", "guest", "--before", "2021-01-01", "--yes")["forgotten"] == 1
    assert js("forget", "--db", db, "--user", "guest", "--all", "--yes")["forgotten"] == 1
    assert js("stats", "--db", db)["by_user"] == {"tester": 1}


def test_forgotten_text_is_not_in_the_file(db: str) -> None:
    marker = "qqz" + "unique" + "marker" + "9931"
    [r] = js("remember", "--db", db, f"the alarm code is {marker}")["results"]
    mem("edit", "--db", db, r["id"], f"the alarm code is still {marker}!")
    for i in range(20):
        mem("remember", "--db", db, f"filler note {i}")
    mem("forget", "--db", db, r["id"])
    for suffix in ("", "-wal"):
        path = Path(db + suffix)
        if path.exists():
            assert marker.encode() not in path.read_bytes()


def test_export_import_round_trip(db: str, tmp_path: Path) -> None:
    mem("remember", "--db", db, "alpha", "--tag", "a", "--meta", "k=v", "--at", "2022-02-02")
    mem("remember", "--db", db, "beta", "--kind", "semantic", "--ttl", "1y")
    mem("remember", "--db", db, "gamma", "--user", "other")
    out = tmp_path / "export.jsonl"
    mem("export", "--db", db, "--all-users", "-o", out)
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    assert all(
        {"id", "text", "kind", "user", "tags", "meta", "created_at", "occurred_at"} <= set(json.loads(x))
        for x in lines
    )
    new_db = str(tmp_path / "new.db")
    assert js("import", "--db", new_db, out) == {
        "added": 3,
        "skipped": 0,
        "ids": [json.loads(x)["id"] for x in lines],
        "sessions_added": 0,
        "sessions_skipped": 0,
        "entities_added": 0,
    }
    assert js("import", "--db", new_db, out)["skipped"] == 3
    again = tmp_path / "again.jsonl"
    mem("export", "--db", new_db, "--all-users", "-o", again)
    assert again.read_text() == out.read_text()
    assert mem("export", "--db", db).stdout.count("\n") == 2  # this user's only


def test_stats_and_doctor(db: str) -> None:
    mem("remember", "--db", db, "something")
    stats = js("stats", "--db", db)
    assert stats["memories"] == 1 and stats["indexes_ok"] is True
    assert stats["embed_model"] == "all-MiniLM-L6-v2"
    report = json.loads(mem("doctor", "--db", db, "--no-load", "--json", code=None).stdout)
    database = [c for c in report["checks"] if c["area"] == "database"]
    assert database[0]["ok"] and "1 memories" in database[0]["detail"], report
    assert "indexes" in mem("stats", "--db", db).stdout


def test_version() -> None:
    assert mem("--version").stdout.startswith("mem (memcli) ")


# -- errors: one line, documented exit code, nothing stored half-way ---------------


def test_bad_inputs(db: str, tmp_path: Path) -> None:
    mem("remember", "--db", db, "kept safe")
    cases = [
        (["remember", "--db", db], "   \n", ExitStatus.INPUT),
        (["remember", "--db", db], b"\xff\xfe bad utf8", ExitStatus.INPUT),
        (["remember", "--db", db], b"bin\x00ary", ExitStatus.INPUT),
        (["remember", "--db", db, "-f", tmp_path / "missing.txt"], None, ExitStatus.INPUT),
        (["remember", "--db", db, "-f", tmp_path], None, ExitStatus.INPUT),
        (["remember", "--db", db, "x", "--at", "someday"], None, ExitStatus.INPUT),
        (["remember", "--db", db, "x", "--ttl", "forever"], None, ExitStatus.INPUT),
        (["remember", "--db", db, "x", "--importance", "9"], None, ExitStatus.INPUT),
        (["remember", "--db", db, "x", "--kind", "dream"], None, ExitStatus.INPUT),
        (["remember", "--db", db, "x", "--meta", "novalue"], None, ExitStatus.USAGE),
        (["recall", "--db", db, "x", "--since", "13/45/2024"], None, ExitStatus.INPUT),
        (["recall", "--db", db, "x", "-k", "0"], None, ExitStatus.USAGE),
        (["show", "--db", db, "zzzzzzzz"], None, ExitStatus.NOT_FOUND),
        (["import", "--db", db, tmp_path / "nope.jsonl"], None, ExitStatus.INPUT),
    ]
    for args, stdin, code in cases:
        result = mem(*args, input=stdin, code=code)
        if code != ExitStatus.USAGE:
            assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert [r["text"] for r in js("list", "--db", db)["results"]] == ["kept safe"]


def test_database_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert "no database" in mem("recall", "--db", missing, "x", code=ExitStatus.DATABASE).stderr
    assert not missing.exists()
    mem("list", "--db", tmp_path, code=ExitStatus.DATABASE)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not sqlite" * 200)
    mem("remember", "--db", junk, "x", code=ExitStatus.DATABASE)
    assert junk.read_bytes() == b"definitely not sqlite" * 200


def _run(*args: str, input: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mem")
    return subprocess.run(
        [str(exe), *args],
        input=input if input is not None else b"",
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_installed_command_with_pipes_and_debug(db: str) -> None:
    done = _run("remember", "--db", db, input=b"piped through the real mem binary")
    assert done.returncode == 0, done.stderr
    found = _run("recall", "--db", db, "real binary", "--json")
    assert json.loads(found.stdout)["results"][0]["text"] == "piped through the real mem binary"
    bad = _run("show", "--db", db, "zzzzzzzz")
    assert bad.returncode == ExitStatus.NOT_FOUND and b"Traceback" not in bad.stderr
    debug = _run("--debug", "show", "--db", db, "zzzzzzzz")
    assert b"Traceback" in debug.stderr and debug.returncode == ExitStatus.NOT_FOUND
    after = _run("show", "--db", db, "zzzzzzzz", "--debug")  # anywhere on the line
    assert b"Traceback" in after.stderr and after.returncode == ExitStatus.NOT_FOUND
    literal = _run("remember", "--db", db, "--", "--debug")  # after --, it is text
    assert literal.returncode == 0 and b"Traceback" not in literal.stderr


def test_default_location_env_overrides_and_file_mode(
    isolated_home: Path, tmp_path: Path, monkeypatch
) -> None:
    import stat

    mem("remember", "in the data dir")
    default = isolated_home / "memory.db"
    assert default.exists() and stat.S_IMODE(default.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_home.stat().st_mode) == 0o700
    other = tmp_path / "env.db"
    monkeypatch.setenv("MEMCLI_DB", str(other))
    mem("remember", "in MEMCLI_DB")
    assert [r["text"] for r in js("list")["results"]] == ["in MEMCLI_DB"]
    assert [r["text"] for r in js("list", "--db", default)["results"]] == ["in the data dir"]
    monkeypatch.setenv("MEMCLI_USER", "someone")
    assert js("list")["results"] == []


def _on_a_terminal(args: list[str], answer: bytes) -> subprocess.CompletedProcess:
    """Run the installed `mem` with its stdin on a pseudo-terminal and type `answer`."""
    import pty

    leader, follower = pty.openpty()
    exe = Path(sys.executable).with_name("mem")
    try:
        proc = subprocess.Popen(
            [str(exe), *args], stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        os.write(leader, answer)
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_forget_asks_on_a_terminal(db: str) -> None:
    first = js("remember", "--db", db, "a note to keep after saying no", "--json")["results"][0]["id"]
    second = js("remember", "--db", db, "a note to drop after saying yes", "--json")["results"][0]["id"]

    refused = _on_a_terminal(["forget", "--db", db, first], b"n\n")
    assert refused.returncode == ExitStatus.USAGE, refused.stderr
    assert b"Forget 1 memory?" in refused.stderr and b"a note to keep" in refused.stderr
    assert js("show", "--db", db, first, "--json")["text"] == "a note to keep after saying no"

    agreed = _on_a_terminal(["forget", "--db", db, "--tag", "none", "--query", "drop", "--yes"], b"")
    assert agreed.returncode == 0  # --yes never asks; nothing matched the tag
    agreed = _on_a_terminal(["forget", "--db", db, "--query", "drop"], b"y\n")
    assert agreed.returncode == 0, agreed.stderr
    assert b"Forgot 1 memory." in agreed.stdout
    mem("show", "--db", db, second, code=ExitStatus.NOT_FOUND)
    assert [r["id"] for r in js("list", "--db", db)["results"]] == [first]


def test_ctrl_d_or_ctrl_c_at_the_prompt_forgets_nothing(db: str) -> None:
    import signal
    import time

    kept = js("remember", "--db", db, "a note that survives the prompt", "--json")["results"][0]["id"]
    eof = _on_a_terminal(["forget", "--db", db, kept], b"\x04")
    assert eof.returncode == ExitStatus.USAGE, eof.stderr
    assert eof.stderr.decode().splitlines()[-1] == "Error: no answer: nothing was done"

    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("mem")), "forget", "--db", db, kept],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(2)  # at the prompt
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == ExitStatus.INTERRUPTED and b"Error: interrupted" in err, err
    assert js("show", "--db", db, kept)["id"] == kept


def _stderr_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run the installed `mem` with its stderr on a pseudo-terminal; what it showed there."""
    import pty
    import threading

    leader, follower = pty.openpty()
    exe = Path(sys.executable).with_name("mem")
    shown = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        proc = subprocess.run(
            [str(exe), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, timeout=120
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return proc.returncode, shown.decode(errors="replace")


def test_long_commands_show_progress_on_a_terminal_only(db: str, tmp_path: Path) -> None:
    lines = tmp_path / "notes.jsonl"
    lines.write_text(
        "".join(json.dumps({"text": f"bulk note number {i} about tide pools"}) + "\n" for i in range(30))
    )
    code, shown = _stderr_on_a_terminal(["remember", "--db", db, "--jsonl", "-f", str(lines)])
    assert code == 0 and "Remembering" in shown and "30/30" in shown, shown
    code, shown = _stderr_on_a_terminal(["reindex", "--db", db])
    assert code == 0 and "Re-embedding" in shown and "30/30" in shown, shown
    assert "Re-embedded 30 memories" in shown

    quiet = _run("reindex", "--db", db)  # stderr is a pipe: the summary line only
    assert quiet.returncode == 0 and quiet.stderr.decode().splitlines() == [
        "Re-embedded 30 memories with all-MiniLM-L6-v2."
    ]


def test_read_only_database_reads_and_refuses_writes(db: str, read_only) -> None:
    js("remember", "--db", db, "stored before the file became read-only")
    before = mem("export", "--db", db).stdout
    read_only(Path(db))
    assert js("recall", "--db", db, "read-only", "--json")["results"][0]["text"].startswith("stored before")
    some_id = js("list", "--db", db)["results"][0]["id"]
    for args in (["remember", "a new note"], ["forget", some_id, "--yes"], ["edit", some_id, "changed"]):
        result = mem(args[0], "--db", db, *args[1:], code=None)
        assert result.exit_code == ExitStatus.DATABASE, result.stderr
        assert result.stderr.startswith("Error: cannot write: ") and result.stderr.count("\n") == 1
    assert mem("export", "--db", db).stdout == before


def test_times_are_typed_as_people_say_them_and_shown_in_the_local_zone(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        mem("remember", "--db", db, "dentist appointment", "--at", "2024-05-01 14:30")
        mem("remember", "--db", db, "hiked the ridge trail", "--at", "March 3 2024")
        listed = {r["text"]: r["occurred_at"] for r in js("list", "--db", db)["results"]}
        assert listed == {
            "dentist appointment": "2024-05-01T18:30:00Z",
            "hiked the ridge trail": "2024-03-03T05:00:00Z",
        }
        table = mem("list", "--db", db).stdout
        assert "2024-05-01 14:30 -04:00" in table and "2024-03-03 00:00 -05:00" in table
        mem("config", "set", "timezone", "utc")
        assert "2024-05-01 18:30 UTC" in mem("list", "--db", db).stdout
        since = js("recall", "--db", db, "dentist", "--since", "April 2024", "--min-score", "0")["results"]
        assert [r["text"] for r in since] == ["dentist appointment"]
        mem("recall", "--db", db, "dentist", "--since", "the day after never", code=ExitStatus.INPUT)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_recall_as_of_and_a_time_in_the_query(db: str) -> None:
    mem("remember", "--db", db, "went hiking in the hills with Ana", "--at", "2024-05-04")
    mem("remember", "--db", db, "went hiking in the hills with Bob", "--at", "2024-05-15")
    first = js("recall", "--db", db, "hiking last weekend", "--as-of", "2024-05-06", "--min-score", "0")
    assert first["results"][0]["text"].endswith("with Ana")
    assert [r["text"] for r in js("recall", "--db", db, "hiking", "--as-of", "2024-05-10")["results"]] == [
        "went hiking in the hills with Ana"
    ]


def test_a_command_runs_without_building_the_others(monkeypatch) -> None:
    """`mem recall ...` builds only recall; help, unknown names and completion see every command."""
    from memcli.cli.app import _app_for

    def names(typer_app) -> set[str]:
        import typer.main

        return set(typer.main.get_command(typer_app).commands)

    everything = names(app)
    assert {"recall", "remember", "models", "config", "man"} <= everything
    assert names(_app_for(["recall", "spare", "key"])) == {"recall"}
    assert names(_app_for(["--debug", "models", "list"])) == {"models"}
    assert names(_app_for(["import", "--file", "x"])) == {"import"}  # named unlike its function
    for args in (["--help"], ["-h", "recall"], ["--version"], ["reca"], [], ["--", "recall"]):
        assert names(_app_for(args)) == everything, args
    runner = CliRunner()
    for args in (["--help"], [], ["--help", "recall"], ["reca"], ["--version"]):  # as the whole app says it
        whole, cut = (
            runner.invoke(app, args, prog_name="mem"),
            runner.invoke(_app_for(args), args, prog_name="mem"),
        )
        assert (cut.exit_code, cut.output) == (whole.exit_code, whole.output), args
    monkeypatch.setenv("_MEM_COMPLETE", "complete_bash")
    assert names(_app_for(["recall", "x"])) == everything
    assert names(app) == everything  # the app itself is never cut down


def test_a_mistyped_command_gets_a_suggestion(tmp_path: Path) -> None:
    env = {**os.environ, "MEMCLI_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "memcli", "reca", "x"], capture_output=True, text=True, env=env
    )
    assert done.returncode == ExitStatus.USAGE
    assert "Did you mean 'recall'?" in done.stderr
