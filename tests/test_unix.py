"""Unix habits: CSV, TSV and JSON lines beside --json, plain tables on a pipe,
`mem tags`, `mem edit` (its editor, tags, kind, importance), value completion,
`mem cron --uninstall`, and unknown JSON-lines keys kept in meta."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.cli import app
from memcli.errors import ExitStatus

runner = CliRunner()
MEM = Path(sys.executable).with_name("mem")
TRICKY = 'Line one, with a comma\nline\ttwo "quoted" \\ back'


@pytest.fixture(autouse=True)
def _model(real_embedder):
    """The commands run with the real embedding model (loaded once per session)."""


def mem(*args: str, input: str | None = None, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "unix.db")


def _stored(db: str) -> dict[str, str]:
    ids = {}
    for text, tags in [
        (TRICKY, ["x", "two words"]),
        ("The spare house key is under the blue flower pot", ["home", "x"]),
        ("Deploy the blog with make publish", []),
    ]:
        out = mem("remember", "--db", db, *(a for t in tags for a in ("--tag", t)), "--json", input=text)
        ids[text] = json.loads(out.stdout)["results"][0]["id"]
    return ids


# -- machine formats -------------------------------------------------------------------------


def test_list_in_csv_tsv_and_json_lines_gives_every_text_exactly(db: str) -> None:
    ids = _stored(db)
    rows = list(csv.DictReader(io.StringIO(mem("list", "--db", db, "--csv").stdout)))
    assert {r["id"]: r["text"] for r in rows} == {i: t for t, i in ids.items()}
    tricky = next(r for r in rows if r["id"] == ids[TRICKY])
    assert json.loads(tricky["tags"]) == ["two words", "x"] and tricky["kind"] == "episodic"
    assert tricky["valid_to"] == "" and tricky["importance"] == "3"

    lines = mem("list", "--db", db, "--tsv").stdout.splitlines()
    assert len(lines) == 4  # a header and one line per memory, whatever the texts hold
    header = lines[0].split("\t")
    cells = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    unescape = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}

    def decoded(cell: str) -> str:
        out, i = [], 0
        while i < len(cell):
            pair = cell[i : i + 2]
            if pair in unescape:
                out.append(unescape[pair])
                i += 2
            else:
                out.append(cell[i])
                i += 1
        return "".join(out)

    assert {c["id"]: decoded(c["text"]) for c in cells} == {i: t for t, i in ids.items()}

    records = [json.loads(line) for line in mem("list", "--db", db, "--nl").stdout.splitlines()]
    assert {r["id"]: r["text"] for r in records} == {i: t for t, i in ids.items()}
    assert all("meta" in r and "created_at" in r for r in records)  # every field, as --json


def test_recall_in_csv_has_scores_from_0_to_1(db: str) -> None:
    ids = _stored(db)
    rows = list(csv.DictReader(io.StringIO(mem("recall", "--db", db, "where is the key", "--csv").stdout)))
    assert rows[0]["id"] == ids["The spare house key is under the blue flower pot"]
    assert all(0 <= float(r["score"]) <= 1 for r in rows)
    assert list(rows[0])[:2] == ["id", "score"]


def test_two_formats_at_once_is_a_usage_error(tmp_path: Path) -> None:
    result = mem("list", "--db", tmp_path / "none.db", "--csv", "--nl", code=ExitStatus.USAGE)
    assert result.stderr.strip() == "Error: give one of --csv, --nl, not several"


def test_other_listings_speak_csv_and_json_lines(tmp_path: Path) -> None:
    models = list(csv.DictReader(io.StringIO(mem("models", "list", "--csv").stdout)))
    assert {"all-MiniLM-L6-v2", "qwen2.5-coder-0.5b-instruct"} <= {m["name"] for m in models}
    assert {m["installed"] for m in models} <= {"true", "false"}
    settings = [json.loads(line) for line in mem("config", "list", "--nl").stdout.splitlines()]
    assert "min_score" in {s["key"] for s in settings}
    db = tmp_path / "p.db"
    mem("profile", "set", "home", "Porto", "--db", db)
    [field] = list(csv.DictReader(io.StringIO(mem("profile", "--db", db, "--csv").stdout)))
    assert (field["field"], field["value"], field["origin"]) == ("home", "Porto", "set")
    assert mem("entities", "--db", db, "--tsv").stdout.splitlines()[0].split("\t")[:2] == ["id", "name"]


# -- tables on a pipe ------------------------------------------------------------------------


def test_a_piped_table_is_one_line_per_row_whole_and_unpadded(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    long_text = "The long one: " + " ".join(f"word{i}" for i in range(120))
    mem("remember", "--db", db, long_text)
    mem("remember", "--db", db, "short", "--tag", "t")
    mem("remember", "--db", db, "--tag", "t", input="two\nlines")
    lines = mem("list", "--db", db).stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ["id", "when", "kind", "text"]
    assert any(line.endswith(long_text) for line in lines)  # not cut, not folded
    assert any(line.endswith("two\\nlines  #t") for line in lines)
    assert all(line == line.rstrip() for line in lines)  # no padding out to a width
    assert max(len(line) for line in lines) < len(long_text) + 60
    # the columns before the last are aligned: every text starts in the same column
    start = lines[0].index("text")
    assert all(line[start - 2 : start] == "  " and line[start] != " " for line in lines)


def test_remember_confirms_a_long_text_whole_on_a_pipe(tmp_path: Path) -> None:
    text = "A note well over sixty characters long, so that a terminal would cut it short"
    assert text in mem("remember", "--db", tmp_path / "t.db", text).stdout


# -- mem tags --------------------------------------------------------------------------------


def test_tags_are_listed_most_used_first(db: str) -> None:
    _stored(db)
    mem("remember", "--db", db, "--kind", "procedural", "--tag", "howto", "Water the plants on Sunday")
    mem("remember", "--db", db, "--tag", "howto", "--tag", "old", "--ttl", "1s", "Soon gone")
    time.sleep(1.2)
    shown = mem("tags", "--db", db).stdout.splitlines()
    assert [line.split()[0] for line in shown] == ["tag", "x", "home", "howto", "two"]
    assert shown[1].split() == ["x", "2"]
    assert json.loads(mem("tags", "--db", db, "--json").stdout)["results"][0] == {"tag": "x", "memories": 2}
    assert mem("tags", "--db", db, "--kind", "procedural", "--tsv").stdout == "tag\tmemories\nhowto\t1\n"


def test_no_tags_says_so(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    mem("remember", "--db", db, "untagged")
    result = mem("tags", "--db", db)
    assert result.stdout == "" and "No tags yet" in result.stderr


# -- mem edit: tags, kind, importance ----------------------------------------------------------


def test_edit_changes_tags_kind_and_importance(db: str) -> None:
    ids = _stored(db)
    key = ids["The spare house key is under the blue flower pot"]
    mem("edit", key, "--db", db, "--tag", " keys ", "--untag", "home", "--kind", "semantic", "-i", "5")
    shown = json.loads(mem("show", key, "--db", db, "--json").stdout)
    assert (shown["tags"], shown["kind"], shown["importance"]) == (["keys", "x"], "semantic", 5)
    assert shown["text"] == "The spare house key is under the blue flower pot"  # the text stays
    found = json.loads(mem("list", "--db", db, "--kind", "semantic", "--tag", "keys", "--json").stdout)
    assert [r["id"] for r in found["results"]] == [key]
    history = json.loads(mem("history", key, "--db", db, "--json").stdout)["history"]
    assert [h["text"] for h in history] == [shown["text"]]  # no new text in its history


def test_history_lists_a_memory_s_texts_in_every_format(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    memory_id = json.loads(mem("remember", "--db", db, "first text", "--json").stdout)["results"][0]["id"]
    mem("edit", memory_id, "--db", db, input=TRICKY)
    rows = list(csv.DictReader(io.StringIO(mem("history", memory_id, "--db", db, "--csv").stdout)))
    assert [(r["text"], r["current"]) for r in rows] == [("first text", "false"), (TRICKY, "true")]
    lines = [json.loads(line) for line in mem("history", memory_id, "--db", db, "--nl").stdout.splitlines()]
    assert [line["text"] for line in lines] == ["first text", TRICKY]
    assert len(mem("history", memory_id, "--db", db, "--tsv").stdout.splitlines()) == 3


def test_a_bad_change_changes_nothing(db: str) -> None:
    ids = _stored(db)
    key = ids["The spare house key is under the blue flower pot"]
    before = json.loads(mem("show", key, "--db", db, "--json").stdout)
    bad = mem("edit", key, "--db", db, "--importance", "9", "--tag", "new", code=ExitStatus.INPUT)
    assert bad.stderr.strip() == "Error: importance must be 1-5, not 9"
    bad = mem("edit", key, "--db", db, "--kind", "fact", code=ExitStatus.INPUT)
    assert "unknown kind 'fact'" in bad.stderr
    # a text another memory holds is refused, and the tag given with it is not added
    clash = mem(
        "edit", key, "Deploy the blog with make publish", "--tag", "new", "--db", db, code=ExitStatus.INPUT
    )
    assert "already holds this text" in clash.stderr
    assert json.loads(mem("show", key, "--db", db, "--json").stdout) == before


def test_a_kind_change_that_would_make_a_duplicate_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    fact = json.loads(mem("remember", "--db", db, "--kind", "semantic", "Ana likes orchids", "--json").stdout)
    note = json.loads(mem("remember", "--db", db, "Ana likes orchids", "--json").stdout)
    refused = mem("edit", note["results"][0]["id"], "--db", db, "--kind", "semantic", code=ExitStatus.INPUT)
    assert f"memory {fact['results'][0]['id']} already holds this text as semantic" in refused.stderr


# -- mem edit: the editor, on a real terminal --------------------------------------------------


def _on_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as its stdin, stdout and stderr."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=10), output.decode("utf-8", "replace")


@pytest.fixture
def editor_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VISUAL", "EDITOR")}
    env["PATH"] = f"{MEM.parent}{os.pathsep}{env['PATH']}"
    return env


def _editor(tmp_path: Path, name: str, body: str) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_edit_with_no_text_opens_the_editor_and_stores_what_is_saved(
    tmp_path: Path, editor_env: dict[str, str]
) -> None:
    db = tmp_path / "t.db"
    memory_id = json.loads(mem("remember", "--db", db, "Ana's birthday is on 3 March", "--json").stdout)[
        "results"
    ][0]["id"]
    seen = tmp_path / "seen.txt"
    # the editor sees the text, in a file only its owner can read, and changes it
    editor_env["EDITOR"] = _editor(
        tmp_path,
        "ed.sh",
        f'cp "$1" {seen}; stat -c %a "$(dirname "$1")" >> {seen}; sed -i s/3/4/ "$1"',
    )
    code, output = _on_terminal([str(MEM), "edit", memory_id, "--db", str(db)], editor_env)
    assert code == 0, output
    assert "Updated" in output and "4 March" in output
    assert seen.read_text() == "Ana's birthday is on 3 March\n700\n"
    shown = json.loads(mem("show", memory_id, "--db", db, "--json").stdout)
    assert shown["text"] == "Ana's birthday is on 4 March"
    history = json.loads(mem("history", memory_id, "--db", db, "--json").stdout)["history"]
    assert [h["text"] for h in history] == ["Ana's birthday is on 3 March", "Ana's birthday is on 4 March"]


def test_quitting_the_editor_without_saving_changes_nothing(
    tmp_path: Path, editor_env: dict[str, str]
) -> None:
    db = tmp_path / "t.db"
    memory_id = json.loads(mem("remember", "--db", db, "keep me", "--json").stdout)["results"][0]["id"]
    editor_env["VISUAL"] = _editor(tmp_path, "quit.sh", "exit 0")
    code, output = _on_terminal([str(MEM), "edit", memory_id, "--db", str(db)], editor_env)
    assert code == 0 and f"No change to {memory_id}." in output
    # an editor that empties the file: refused, and the text stays
    editor_env["VISUAL"] = _editor(tmp_path, "empty.sh", ': > "$1"')
    code, output = _on_terminal([str(MEM), "edit", memory_id, "--db", str(db)], editor_env)
    assert code == ExitStatus.INPUT and "Error: the new text is empty" in output
    # an editor that fails
    editor_env["VISUAL"] = _editor(tmp_path, "fail.sh", "exit 3")
    code, output = _on_terminal([str(MEM), "edit", memory_id, "--db", str(db)], editor_env)
    assert code == ExitStatus.USAGE and "Error: the editor failed" in output
    assert json.loads(mem("show", memory_id, "--db", db, "--json").stdout)["text"] == "keep me"


def test_edit_with_no_text_and_no_terminal_says_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    memory_id = json.loads(mem("remember", "--db", db, "keep me", "--json").stdout)["results"][0]["id"]
    done = subprocess.run(
        [str(MEM), "edit", memory_id, "--db", str(db)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert done.returncode == ExitStatus.INPUT
    assert done.stderr.strip().startswith("Error: ")


# -- completion of values --------------------------------------------------------------------


def _complete(*words: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash completion offers for the last word (Typer's protocol, as its script calls it)."""
    line = " ".join(words)
    done = subprocess.run(
        [str(MEM)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            **(env or {}),
            "_MEM_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
        },
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_completion_offers_kinds_modes_keys_models_and_formats() -> None:
    assert _complete("mem", "recall", "--kind", "") == ["episodic", "semantic", "procedural"]
    assert _complete("mem", "recall", "--mode", "v") == ["vector"]
    assert _complete("mem", "config", "get", "min_") == ["min_score"]
    assert "qwen2.5-coder-0.5b-instruct" in _complete("mem", "models", "use", "")
    assert _complete("mem", "import", "--from", "c") == ["chatgpt", "claude"]
    assert _complete("mem", "entities", "--kind", "p") == ["person", "pet", "place"]


def test_completion_offers_the_store_s_tags_ids_entities_and_fields(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    ids = _stored(db)
    key = ids["The spare house key is under the blue flower pot"]
    assert _complete("mem", "list", "--db", db, "--tag", "") == ["x", "home", "two words"]
    mem("profile", "set", "home", "Porto", "--db", db)
    assert _complete("mem", "edit", "--db", db, "--untag", "h") == ["home"]
    assert key in _complete("mem", "show", "--db", db, "")
    assert _complete("mem", "show", "--db", db, key[:6]) == [key]
    assert "home" in _complete("mem", "profile", "unset", "--db", db, "")
    # another user's memories are not offered
    assert _complete("mem", "show", "--db", db, "--user", "someone-else", "") == []
    # no store there: nothing is offered, and nothing is made
    assert _complete("mem", "show", "--db", str(tmp_path / "none.db"), "") == []
    assert not (tmp_path / "none.db").exists()


def test_completion_reads_a_postgresql_store_and_skips_an_unreachable_one(pg_url: str) -> None:
    _stored(pg_url)
    assert _complete("mem", "list", "--db", pg_url, "--tag", "") == ["x", "home", "two words"]
    assert _complete("mem", "list", "--db", "postgresql://nobody@127.0.0.1:1/none", "--tag", "") == []


def test_completion_never_asks_for_an_encrypted_store_s_key(tmp_path: Path) -> None:
    db = tmp_path / "secret.db"
    key_file = tmp_path / "key"
    key_file.write_text("correct horse battery staple\n")
    key_file.chmod(0o600)
    env = {**os.environ, "MEMCLI_KEY_FILE": str(key_file)}
    done = subprocess.run(
        [str(MEM), "remember", "--db", str(db), "--tag", "private", "a secret"], env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    from memcli.store import encryption

    assert encryption.is_encrypted(db)  # a key file given: the new store is encrypted
    assert _complete("mem", "list", "--db", str(db), "--tag", "") == []  # no key given: nothing, no prompt
    assert _complete("mem", "list", "--db", str(db), "--tag", "", env={"MEMCLI_KEY_FILE": str(key_file)}) == [
        "private"
    ]


# -- mem cron --uninstall --------------------------------------------------------------------


def test_cron_uninstall_takes_out_only_its_own_line(tmp_path: Path, fake_crontab: Path) -> None:
    db = tmp_path / "c.db"
    other = tmp_path / "other.db"
    mem("cron", "--install", "--db", db)
    mem("cron", "--install", "--db", other)
    assert len(fake_crontab.read_text().splitlines()) == 3
    done = json.loads(mem("cron", "--uninstall", "--db", db, "--json").stdout)
    assert done["crontab"] == "uninstalled"
    table = fake_crontab.read_text()
    assert table.splitlines()[0] == "0 1 * * * backup"
    assert str(other) in table and f"--db {db}" not in table
    again = mem("cron", "--uninstall", "--db", db)
    assert "Not in your crontab" in again.stdout
    mem("cron", "--install", "--uninstall", code=ExitStatus.USAGE)


# -- JSON lines: keys memcli has no field for ---------------------------------------------------


def test_unknown_json_lines_keys_are_kept_in_meta_and_survive_export(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    lines = '{"text": "Met Rui at the cafe", "mood": "good", "people": ["Rui"], "meta": {"place": "Porto"}}\n'
    mem("remember", "--db", db, "--jsonl", input=lines)
    [stored] = json.loads(mem("list", "--db", db, "--json").stdout)["results"]
    assert stored["meta"] == {"place": "Porto", "mood": "good", "people": ["Rui"]}
    backup = mem("export", "--db", db).stdout
    mem("import", "-", "--db", tmp_path / "copy.db", input=backup)
    [copied] = json.loads(mem("list", "--db", tmp_path / "copy.db", "--json").stdout)["results"]
    assert copied["meta"] == stored["meta"] and "type" not in copied["meta"]
    both = mem(
        "remember", "--db", db, "--jsonl", input='{"text": "x", "mood": "a", "meta": {"mood": "b"}}\n', code=4
    )
    assert both.stderr.strip() == "Error: line 1: 'mood' is both a key of the line and a key of its 'meta'"
    assert len(json.loads(mem("list", "--db", db, "--json").stdout)["results"]) == 1


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_bash_script_completes_values_too(tmp_path: Path) -> None:
    script = tmp_path / "mem.bash"
    done = subprocess.run(
        [str(MEM)], capture_output=True, text=True, env={**os.environ, "_MEM_COMPLETE": "source_bash"}
    )
    script.write_text(done.stdout)
    program = (
        f'source "{script}"; COMP_WORDS=(mem recall --kind s); COMP_CWORD=3; _mem_completion mem; '
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{MEM.parent}{os.pathsep}{os.environ['PATH']}"}
    shown = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env)
    assert shown.stdout.split() == ["semantic"]
