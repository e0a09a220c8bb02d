"""Less travelled paths of the core commands: every input option, filters with
valid values, foreign and drifted databases, bytes that are not UTF-8."""

import getpass
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlean
from test_cli import _run, js, mem

from memcli.errors import ExitStatus


@pytest.fixture(autouse=True)
def _model(real_embedder):
    """These tests use the real model (loaded once per test session)."""


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "paths.db")


def _day(stamp: str) -> str:
    return stamp[:10]


def _ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d")


def test_every_input_option_is_stored(db: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("The boiler was serviced by Rui\n")
    second.write_text("The gutter needs clearing before winter\n")
    out = js("remember", "--db", db, "-f", first, "-f", second, "--tag", "house")
    assert [r["status"] for r in out["results"]] == ["added", "added"]
    assert {r["text"]: r["source"] for r in js("list", "--db", db)["results"]} == {
        "The boiler was serviced by Rui": str(first),
        "The gutter needs clearing before winter": str(second),
    }

    two_days = js("remember", "--db", db, "dentist appointment moved", "--at", "2d")["results"][0]["id"]
    yesterday = js("remember", "--db", db, "called the bank", "--at", "yesterday")["results"][0]["id"]
    assert _day(js("show", "--db", db, two_days)["occurred_at"]) == _ago(2)
    assert _day(js("show", "--db", db, yesterday)["occurred_at"]) == _ago(1)

    expires = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%d")
    dated = js("remember", "--db", db, "parking permit valid", "--expires", expires)["results"][0]["id"]
    assert _day(js("show", "--db", db, dated)["expires_at"]) == expires


def test_jsonl_lines_take_their_own_fields_and_the_options_fill_the_rest(db: str) -> None:
    lines = "\n".join(
        json.dumps(obj)
        for obj in [
            {"text": "Trip to Porto", "occurred_at": "2023-06-01T10:00:00Z"},
            {"text": "Gym at seven"},
        ]
    )
    js("remember", "--db", db, "--jsonl", "--at", "2024-01-05", "--ttl", "30d", "--tag", "bulk", input=lines)
    rows = {r["text"]: r for r in js("list", "--db", db)["results"]}
    assert rows["Trip to Porto"]["occurred_at"] == "2023-06-01T10:00:00Z"
    assert _day(rows["Gym at seven"]["occurred_at"]) == "2024-01-05"
    soon = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert {_day(r["expires_at"]) for r in rows.values()} == {soon}
    assert all(r["tags"] == ["bulk"] for r in rows.values())


def test_recall_and_list_filters_with_valid_values(db: str) -> None:
    js("remember", "--db", db, "garden hose leaks at the tap", "--at", "2020-05-01")
    js("remember", "--db", db, "garden shears are in the shed", "--at", "2024-05-01", "--kind", "semantic")
    js("remember", "--db", db, "to fix the garden hose, replace its washer", "--kind", "procedural")

    def recalled(*args: str) -> set[str]:
        return {r["text"] for r in js("recall", "--db", db, "garden hose shears", *args)["results"]}

    assert recalled("--kind", "procedural") == {"to fix the garden hose, replace its washer"}
    assert recalled("--kind", "semantic", "--kind", "procedural") == {
        "garden shears are in the shed",
        "to fix the garden hose, replace its washer",
    }
    assert recalled("--until", "2021-01-01") == {"garden hose leaks at the tap"}
    assert recalled("--since", "2021-01-01", "--until", "2025-01-01") == {"garden shears are in the shed"}
    listed = {
        r["text"] for r in js("list", "--db", db, "--since", "2019-01-01", "--until", "2021-01-01")["results"]
    }
    assert listed == {"garden hose leaks at the tap"}


def test_import_reads_stdin_and_refuses_bad_lines_whole(db: str, tmp_path: Path) -> None:
    mem("remember", "--db", db, "kept before the bad imports")
    before = mem("export", "--db", db).stdout
    other = str(tmp_path / "other.db")
    assert js("import", "--db", other, "-", input=before)["added"] == 1
    assert mem("export", "--db", other).stdout == before

    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text(before + "{not json\n")
    result = mem("import", "--db", db, bad_json, code=ExitStatus.INPUT)
    assert "line 2" in result.stderr and result.stderr.count("\n") == 1
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(json.dumps({"text": "x"}).encode().replace(b"x", b"caf\xe9"))
    result = mem("import", "--db", db, latin1, code=ExitStatus.INPUT)
    assert "UTF-8" in result.stderr
    assert mem("export", "--db", db).stdout == before


def test_stats_counts_by_kind_and_user_with_the_file_size(db: str) -> None:
    for text, kind in [("a", "episodic"), ("b", "episodic"), ("c", "semantic"), ("d", "procedural")]:
        mem("remember", "--db", db, f"note {text}", "--kind", kind)
    mem("remember", "--db", db, "someone else's note", "--user", "ana")
    stats = js("stats", "--db", db)
    assert stats["by_kind"] == {"episodic": 3, "semantic": 1, "procedural": 1}
    assert stats["by_user"] == {"tester": 4, "ana": 1}
    assert stats["file_size"] == Path(db).stat().st_size > 0


def test_the_user_defaults_to_the_login_name(db: str, monkeypatch) -> None:
    monkeypatch.delenv("MEMCLI_USER")
    js("remember", "--db", db, "whose note is this")
    assert js("list", "--db", db)["results"][0]["user"] == getpass.getuser()


def test_help_never_loads_a_model(tmp_path: Path) -> None:
    models = tmp_path / "no-models"
    code = (
        "import sys; from memcli.cli import main; sys.argv = ['mem', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('llama_cpp', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "MEMCLI_MODELS_DIR": str(models)},
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("[]"), done.stdout + done.stderr
    assert not models.exists()


def test_a_sqlite_file_of_another_program_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "notes.sqlite"
    conn = sqlean.connect(str(other))
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.execute("INSERT INTO recipes VALUES ('bread')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    for args in (["list"], ["recall", "bread"], ["remember", "bread"], ["stats"]):
        result = mem(args[0], "--db", other, *args[1:], code=ExitStatus.DATABASE)
        assert "not a memcli database" in result.stderr and "recipes" in result.stderr
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]  # no -wal, no -shm


def test_refused_input_never_creates_the_database(db: str) -> None:
    for args, stdin in [
        (["remember", "--kind", "dream", "x"], None),
        (["remember", "--importance", "9", "x"], None),
        (["remember", "-"], ""),
        (["remember", "--jsonl"], '{"text": ""}\n'),
    ]:
        mem(args[0], "--db", db, *args[1:], input=stdin, code=None)
        assert not Path(db).exists(), args
    result = mem("recall", "--db", db, "x", code=ExitStatus.DATABASE)
    assert "no database" in result.stderr


def test_arguments_that_are_not_utf8_are_input_errors(db: str) -> None:
    mem("remember", "--db", db, "stored before", "--tag", "ok")
    before = mem("export", "--db", db).stdout
    exe = os.fsencode(Path(sys.executable).with_name("mem"))
    for args in (
        [b"remember", b"caf\xe9 au lait"],
        [b"remember", b"fine text", b"--tag", b"caf\xe9"],
        [b"remember", b"fine text", b"--meta", b"drink=caf\xe9"],
        [b"remember", b"fine text", b"--user", b"jos\xe9"],
        [b"list", b"--tag", b"caf\xe9"],
        [b"forget", b"--tag", b"caf\xe9", b"--yes"],
    ):
        done = subprocess.run(
            [exe, args[0], b"--db", os.fsencode(db), *args[1:]], capture_output=True, timeout=60
        )
        assert done.returncode == ExitStatus.INPUT, (args, done.stderr)
        assert b"not valid UTF-8" in done.stderr and done.stderr.count(b"\n") == 1, done.stderr
    assert mem("export", "--db", db).stdout == before
    assert _run("recall", "--db", db, "stored", "--json").returncode == 0


@pytest.mark.parametrize("table", ["memory_vectors", "memories_fts"])
def test_index_drift_is_reported_by_stats_and_doctor(db: str, table: str) -> None:
    for i in range(3):
        mem("remember", "--db", db, f"note number {i} about drift")
    conn = sqlean.connect(db)
    if table == "memories_fts":  # an external-content index: drop one entry by its command
        row = conn.execute("SELECT seq, text FROM memories LIMIT 1").fetchone()
        conn.execute(
            "INSERT INTO memories_fts (memories_fts, rowid, text, context) VALUES ('delete', ?, ?, '')",
            [row[0], row[1]],
        )
    else:
        conn.execute(f"DELETE FROM {table} WHERE rowid = (SELECT min(rowid) FROM {table})")
    conn.commit()
    conn.close()
    stats = js("stats", "--db", db)
    assert stats["indexes_ok"] is False
    assert "MISMATCH" in mem("stats", "--db", db, code=None).stdout
    doctor = mem("doctor", "--db", db, "--no-load", code=ExitStatus.DATABASE)
    assert "PROBLEM database" in doctor.stdout


def test_a_bad_line_anywhere_in_an_import_stores_nothing(db: str, tmp_path: Path) -> None:
    good = [json.dumps({"text": f"imported note {i}"}) for i in range(70)]
    for bad in (
        '{"text": "bad one", "source": "\\udc80"}',
        '{"text": "bad one", "recalled": 99999999999999999999}',
        '{"text": "bad one", "doc_id": "d", "chunk": 9223372036854775807}',
        '{"id": "ABCD1234", "text": "an id memcli never makes"}',
    ):
        path = tmp_path / "in.jsonl"
        path.write_text("\n".join([*good, bad]) + "\n", encoding="utf-8", errors="surrogatepass")
        result = mem("import", "--db", db, path, code=ExitStatus.INPUT)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
        assert not Path(db).exists() or js("stats", "--db", db)["memories"] == 0


def test_a_long_memory_round_trips_as_one(db: str, tmp_path: Path) -> None:
    [short] = js("remember", "--db", db, "short note")["results"]
    long_text = " ".join(f"Sentence {i} of a long description of the garden." for i in range(60))
    mem("edit", "--db", db, short["id"], long_text)
    backup = mem("export", "--db", db).stdout
    other = str(tmp_path / "restored.db")
    assert js("import", "--db", other, "-", input=backup)["ids"] == [short["id"]]
    assert mem("export", "--db", other).stdout == backup
    assert js("import", "--db", db, "-", input=backup)["skipped"] == 1


def test_jsonl_lines_take_meta_from_the_option_too(db: str) -> None:
    lines = (
        json.dumps({"text": "Ana likes green tea"})
        + "\n"
        + json.dumps({"text": "b", "meta": {"project": "own"}})
    )
    js("remember", "--db", db, "--jsonl", "--meta", "project=home", "--meta", "via=bulk", input=lines)
    metas = {r["text"]: r["meta"] for r in js("list", "--db", db)["results"]}
    assert metas == {
        "Ana likes green tea": {"project": "home", "via": "bulk"},
        "b": {"project": "own", "via": "bulk"},
    }


def test_a_failed_export_leaves_no_copy_behind(db: str, tmp_path: Path) -> None:
    mem("remember", "--db", db, "my bank PIN is 1234")
    target = tmp_path / "backup"
    target.mkdir()
    result = mem("export", "--db", db, "-o", target, code=ExitStatus.INPUT)
    assert "is a directory" in result.stderr
    missing = tmp_path / "no-such-dir" / "out.jsonl"
    mem("export", "--db", db, "-o", missing, code=None)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".db" and "-wal" not in p.name]
    assert [p for p in leftovers if "paths.db" not in p.name] == []
    good = tmp_path / "good.jsonl"
    mem("export", "--db", db, "-o", good)
    assert "1234" in good.read_text() and (good.stat().st_mode & 0o077) == 0


def test_a_fact_whose_successor_was_forgotten_is_current_again(db: str, tmp_path: Path) -> None:
    lines = [
        {"id": "aaaaaaaa", "text": "Ana lives in Lisbon", "kind": "semantic", "valid_to": "2025-01-01T00:00:00Z",
         "superseded_by": "bbbbbbbb"},
        {"id": "bbbbbbbb", "text": "Ana moved to Porto", "kind": "semantic"},
    ]  # fmt: skip
    mem("import", "--db", db, "-", input="".join(json.dumps(x) + "\n" for x in lines))
    assert js("forget", "--db", db, "bbbbbbbb", "--yes", "--json")["restored"] == ["aaaaaaaa"]
    history = js("history", "--db", db, "aaaaaaaa")  # nothing left says Ana moved
    assert history["superseded_by"] is None and history["valid_to"] is None
    assert "Ana lives in Lisbon" in mem("history", "--db", db, "aaaaaaaa").stdout


def test_an_empty_question_is_an_input_error(db: str) -> None:
    result = mem("ask", "--db", db, input="  \n", code=ExitStatus.INPUT)
    assert result.stderr == "Error: the question is empty\n"


def test_extract_without_a_model_says_what_was_stored(db: str, monkeypatch) -> None:
    monkeypatch.setenv("MEMCLI_MODEL", "no-such-model")
    note = "I moved to Porto on Monday. The flat has two bedrooms. Rui starts at the hospital in June. We adopted a cat."
    result = mem("remember", "--db", db, "--extract", note, code=ExitStatus.MODEL)
    [stored] = js("list", "--db", db)["results"]
    assert result.stderr.startswith(f"Error: remembered {stored['id']}, but extracted no facts: ")


def test_a_question_too_long_to_ask_is_an_input_error(db: str) -> None:
    mem("remember", "--db", db, "The spare key is under the blue flower pot")
    question = "where is the spare key? " + "please tell me about the spare key location " * 60
    result = mem("ask", "--db", db, question, code=ExitStatus.INPUT)
    assert "characters; ask in at most 2,000" in result.stderr and result.stderr.count("\n") == 1


def test_a_superseded_fact_is_marked_in_recall_and_ask_sees_its_successor(db: str, real_embedder) -> None:
    from memcli.ask import ask
    from memcli.memory import Memory
    from memcli.records import Filters

    lines = [
        {"id": "aaaaaaaa", "text": "The user lives in Lisbon with Rui", "kind": "semantic",
         "valid_to": "2024-03-05T00:00:00Z", "superseded_by": "bbbbbbbb"},
        {"id": "bbbbbbbb", "text": "The user moved to Porto in February 2024", "kind": "semantic"},
    ]  # fmt: skip
    mem("import", "--db", db, "-", input="".join(json.dumps(x) + "\n" for x in lines))
    table = mem("recall", "--db", db, "where does the user live in Lisbon").stdout
    assert "no longer true from 2024-03-05: see bbbbbbbb" in " ".join(table.split())
    from test_converse import Fake

    model = Fake(lambda m, g: json.dumps({"memory_ids": [1], "answer": "The user moved to Porto."}))
    memory = Memory(db, embedder=real_embedder, user="tester")
    try:
        answer = ask(memory, model, "Does the user live in Lisbon?", Filters(user="tester"))
    finally:
        memory.close()
    # Lisbon is history: the model is shown what replaced it.
    shown = model.prompts[0][-1]["content"].split("Question:")[0]
    assert "Porto" in shown and "Lisbon" not in shown
    assert "aaaaaaaa" not in [h.record.id for h in answer.used]


def test_config_set_checks_model_names_and_takes_negative_numbers() -> None:
    for key, value in [("generate_model", "nosuch"), ("embed_model", "/etc/hostname"),
                       ("generate_model", "all-MiniLM-L6-v2")]:  # fmt: skip
        result = mem("config", "set", key, value, code=ExitStatus.INPUT)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    result = mem("config", "set", "half_life_days", "-3", code=ExitStatus.INPUT)
    assert "at least 0.001" in result.stderr


def test_an_empty_edit_says_so(db: str) -> None:
    [note] = js("remember", "--db", db, "keep me")["results"]
    result = mem("edit", "--db", db, note["id"], "   ", code=ExitStatus.INPUT)
    assert result.stderr == "Error: the new text is empty (mem forget ID erases a memory)\n"
    assert js("show", "--db", db, note["id"])["text"] == "keep me"


@pytest.mark.parametrize("how", ["--db", "MEMCLI_DB"])
def test_a_postgresql_url_is_a_server_never_a_file(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql://memcli:hunter2@/memories?host={tmp_path}/no-server-here"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    if how == "MEMCLI_DB":
        monkeypatch.setenv("MEMCLI_DB", url)
        done = mem("remember", "a note", code=ExitStatus.DATABASE)
    else:
        done = mem("remember", "--db", url, "a note", code=ExitStatus.DATABASE)
    [line] = done.stderr.splitlines()
    assert line.startswith("Error: cannot connect to postgresql://memcli:***@/memories")
    assert "hunter2" not in done.stderr  # the password is never printed
    assert list(work.iterdir()) == []  # no file or directory made for it
