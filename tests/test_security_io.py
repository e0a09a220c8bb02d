"""Issue 12: what memcli prints from data cannot drive a terminal, and every bad
input or storage failure is one line with a documented exit code."""

import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlean
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from memcli.cli import app
from memcli.cli.render import printable
from memcli.errors import ExitStatus, InputError
from memcli.mcp import Server, serve
from memcli.memory import Memory
from memcli.models import registry
from memcli.models.embed import FakeEmbedder
from memcli.records import NewMemory
from memcli.store.sqlite import SQLiteStore

runner = CliRunner()
DOCUMENTED = {int(s) for s in ExitStatus}
# What must never reach a terminal raw: C0 but tab and newline, DEL, C1, bidi controls.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(autouse=True)
def _fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mem` run in-process embeds with the fake model; no generation model is ever loaded."""
    monkeypatch.setenv("MEMCLI_EMBED_MODEL", "fake")
    monkeypatch.setenv("MEMCLI_MODEL", "/nonexistent/generator.gguf")
    monkeypatch.setitem(registry._loaded, "fake", FakeEmbedder())


def mem(*args, input: str | bytes | None = None, code: int | None = 0):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert code is None or result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def error_line(result) -> str:
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def strict_json(text: str):
    """json.loads that refuses what JSON does not have (NaN, Infinity)."""

    def refuse(name: str):
        raise AssertionError(f"{name} in the output")

    return json.loads(text, parse_constant=refuse)


def export_all(db: Path | str) -> list[dict]:
    """Every memory as exported, less the recall counts (reading a memory updates them)."""
    lines = mem("export", "--db", db, "--all-users").stdout.splitlines()
    return [
        {k: v for k, v in strict_json(x).items() if k not in ("recalled", "last_recalled_at")} for x in lines
    ]


# -- 4. terminal injection ---------------------------------------------------------------

HOSTILE_USER = "\x1b[31mREDUSER\x1b[0m\x00\x9b"
HOSTILE_TEXT = "title \x1b]0;pwned\x07 clear \x1b[2J rtl \u202eevil\u2066 al \u061cmark \u200fx"


@pytest.fixture
def hostile_db(tmp_path: Path) -> tuple[str, str]:
    """A store holding what an imported JSONL file (or an older version) may have put there."""
    db = str(tmp_path / "hostile.db")
    line = {
        "text": HOSTILE_TEXT + "\nsecond line",
        "user": HOSTILE_USER,
        "tags": ["t\x1b[5m", "\u202etag"],
        "meta": {"k\x1b[1m": "v\u2067", "n": 1},
        "source": "file\x1b[8m.md",
    }
    mem("import", "--db", db, "-", input=json.dumps(line) + "\n")
    [record] = export_all(db)
    mem("edit", "--db", db, "--user", HOSTILE_USER, record["id"], HOSTILE_TEXT + "\nsecond line, edited")
    return db, record["id"]


def test_data_prints_escaped_in_every_human_view(hostile_db: tuple[str, str]) -> None:
    db, memory_id = hostile_db
    as_user = ["--db", db, "--user", HOSTILE_USER]
    outputs = {
        "stats": mem("stats", "--db", db),
        "list": mem("list", *as_user),
        "recall": mem("recall", *as_user, "evil title", "--mode", "fts"),
        "show": mem("show", *as_user, memory_id),
        "history": mem("history", *as_user, memory_id),
        "not found": mem("show", *as_user, "zz\x1b[31mzz\u202e", code=ExitStatus.NOT_FOUND),
        "bad file": mem("remember", "--db", db, "-f", "/no/\x1b[31mdir\u202e", code=ExitStatus.INPUT),
    }
    for name, result in outputs.items():
        seen = result.stdout + result.stderr
        assert not RAW.search(seen), (name, seen)
    assert "\\x1b[31mREDUSER\\x1b[0m\\x00\\x9b: 1" in outputs["stats"].stdout
    for name in ("list", "recall", "show", "history"):
        assert "\\x1b]0;pwned\\x07" in outputs[name].stdout, name
        assert "\\u202eevil\\u2066" in outputs[name].stdout and "\\u061cmark" in outputs[name].stdout
    assert "#t\\x1b[5m" in outputs["list"].stdout
    assert (
        '"k\\u001b[1m": "v\\u2067"' in outputs["show"].stdout and "file\\x1b[8m.md" in outputs["show"].stdout
    )
    # A memory's text shown whole keeps its lines; a one-line field never breaks.
    assert (
        "\nsecond line, edited" in outputs["show"].stdout and "\nsecond line\n" in outputs["history"].stdout
    )
    assert "\\x0a" not in outputs["show"].stdout
    assert error_line(outputs["not found"]) and "\\x1b[31mzz\\u202e" in outputs["not found"].stderr
    assert "\\x1b[31mdir\\u202e" in error_line(outputs["bad file"])


def test_printable_escapes_what_a_terminal_would_obey() -> None:
    assert printable("a\x1b[31mb\x07") == "a\\x1b[31mb\\x07"
    assert printable("x\u061c\u202e\u2069\u200e\x85") == "x\\u061c\\u202e\\u2069\\u200e\\x85"
    assert printable("one\ntwo\r\nthree\rfour\tend") == "one\\x0atwo\\x0d\\x0athree\\x0dfour\tend"
    # lines=True keeps newlines (and CR LF), never a lone CR that rewrites the line
    assert printable("one\ntwo\r\nthree\rfour", lines=True) == "one\ntwo\r\nthree\\x0dfour"
    assert printable("undecodable \udcff") == "undecodable \\udcff"


def test_json_output_escapes_bidi_and_c1_and_reads_back_exactly(hostile_db: tuple[str, str]) -> None:
    db, memory_id = hostile_db
    raw = mem("show", "--db", db, "--user", HOSTILE_USER, memory_id, "--json").stdout
    assert not RAW.search(raw), raw
    assert "\\u202e" in raw and "\\u009b" in raw  # escaped, not dropped
    record = strict_json(raw)
    assert record["user"] == HOSTILE_USER and record["text"].startswith(HOSTILE_TEXT)
    assert record["meta"] == {"k\x1b[1m": "v\u2067", "n": 1}
    exported = mem("export", "--db", db, "--all-users").stdout
    assert not RAW.search(exported)
    assert strict_json(exported.splitlines()[0])["tags"] == sorted(["t\x1b[5m", "\u202etag"])


def test_readable_letters_stay_readable_in_json(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    mem("remember", "--db", db, "Café in Zürich, 東京")
    assert "Café in Zürich, 東京" in mem("list", "--db", db, "--json").stdout


def test_new_memories_refuse_a_user_name_with_control_characters(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    refused = mem("remember", "--db", db, "x", "--user", "\x1b[31mREDUSER\x1b[0m", code=ExitStatus.INPUT)
    assert "bad user name '\\x1b[31mREDUSER\\x1b[0m'" in error_line(refused)
    assert not db.exists()  # bad input never creates the database
    lines = '{"text": "fine"}\n\n{"text": "evil", "user": "ana\\u202e"}\n'
    refused = mem("remember", "--db", db, "--jsonl", input=lines, code=ExitStatus.INPUT)
    assert "line 3: bad user name" in error_line(refused)
    assert not db.exists()
    mem("remember", "--db", db, "fine", "--user", "Ana Lúcia")
    # Reading under any name still works: a name stored before can be listed and forgotten.
    assert mem("list", "--db", db, "--user", "\x1b[31m").stderr == "No memories.\n"


def test_nan_stored_by_an_older_version_is_written_as_null(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    [stored] = strict_json(mem("remember", "--db", db, "old note", "--json").stdout)["results"]
    store = SQLiteStore(db, create=False)  # what an older version let through
    store.conn.execute(
        "UPDATE memories SET meta = ? WHERE id = ?", ['{"x": NaN, "y": [Infinity, 1]}', stored["id"]]
    )
    store.conn.commit()
    store.close()
    for args in (["show", stored["id"], "--json"], ["list", "--json"], ["export"]):
        out = mem(*args, "--db", db).stdout
        assert "NaN" not in out and "Infinity" not in out
        strict_json(out.splitlines()[0])
    assert export_all(db)[0]["meta"] == {"x": None, "y": [None, 1]}
    assert "NaN" in mem("show", "--db", db, stored["id"]).stdout  # a person sees what is stored


# -- 6. exit codes and messages ---------------------------------------------------------


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, list[dict]]:
    db = tmp_path / "seeded.db"
    mem(
        "remember",
        "--db",
        db,
        "--jsonl",
        input='{"text": "Ana likes tulips"}\n{"text": "The key is under the pot"}\n',
    )
    return db, export_all(db)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("9" * 5000, "line 3: a number has more than 4300 digits"),
        ("[" * 100_000 + "]" * 100_000, "line 3: not valid JSON (nested too deeply)"),
        ('{"a": ' * 100 + "1" + "}" * 100, "line 3: a metadata entry is nested more than 64 levels deep"),
        ('{"x": NaN}', "line 3: not valid JSON (NaN is not a JSON number)"),
        ('{"x": -Infinity}', "line 3: not valid JSON (-Infinity is not a JSON number)"),
        ('{"x": 1e999}', "line 3: not valid JSON (1e999 is too large for a JSON number)"),
    ],
    ids=["5000 digits", "100000 deep", "meta 100 deep", "NaN", "-Infinity", "1e999"],
)
def test_json_lines_json_cannot_hold_are_refused_by_line(seeded, value: str, says: str) -> None:
    db, before = seeded
    lines = '{"text": "a fine line"}\n\n{"text": "bad", "meta": ' + value + "}\n"
    for command in (["remember", "--db", db, "--jsonl"], ["import", "--db", db, "-"]):
        result = mem(*command, input=lines, code=ExitStatus.INPUT)
        assert says in error_line(result)
    assert export_all(db) == before


def test_numbers_json_cannot_hold_are_refused_from_python_too(fake_memory: Memory) -> None:
    for meta in ({"x": math.nan}, {"x": [math.inf]}, {"n": 10**5000}):
        with pytest.raises(InputError, match="holds a number JSON cannot hold"):
            fake_memory.remember([NewMemory("note", meta=meta)])
    deep: dict = {}
    for _ in range(100_000):
        deep = {"a": deep}
    with pytest.raises(InputError, match="nested more than 64 levels"):
        fake_memory.remember([NewMemory("note", meta=deep)])
    assert fake_memory.store.counts()["rows"] == 0


@pytest.mark.parametrize("command", ["recall", "remember", "show", "edit", "ask", "forget"])
def test_undecodable_arguments_are_input_errors_everywhere(seeded, command: str) -> None:
    db, before = seeded
    args = {"edit": [before[0]["id"], "\udcff\udcfe"], "forget": ["\udcff\udcfe", "--yes"]}.get(
        command, ["\udcff\udcfe"]
    )
    result = mem(command, "--db", db, *args, code=ExitStatus.INPUT)
    assert "not valid UTF-8" in error_line(result)
    assert export_all(db) == before


@pytest.mark.parametrize(
    "args",
    [["remember", "x"], ["recall", "x"], ["list"], ["forget", "--yes"], ["ask", "what?"]],
    ids=lambda a: a[0],
)
def test_an_unknown_kind_is_the_same_input_error_in_every_command(seeded, args: list[str]) -> None:
    db, before = seeded
    result = mem(*args, "--db", db, "--kind", "bogus", code=ExitStatus.INPUT)
    assert "unknown kind 'bogus': use one of episodic, semantic, procedural" in error_line(result)
    assert export_all(db) == before


def test_export_to_a_missing_directory_names_the_users_path(seeded, tmp_path: Path) -> None:
    db, _ = seeded
    result = mem("export", "--db", db, "-o", tmp_path / "no" / "dir" / "x.jsonl", code=ExitStatus.INPUT)
    assert (
        error_line(result)
        == f"Error: cannot write {tmp_path}/no/dir/x.jsonl: there is no directory {tmp_path}/no/dir\n"
    )
    (tmp_path / "file").write_text("")
    result = mem("export", "--db", db, "-o", tmp_path / "file" / "x.jsonl", code=ExitStatus.INPUT)
    assert f"{tmp_path}/file is not a directory" in error_line(result)
    assert ".tmp" not in result.stderr


@pytest.fixture
def mount(tmpfs):
    """A 1 MB tmpfs, or skip; `remount(options)` changes it."""
    where = tmpfs("1m")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)

    return where, remount


def fill(where: Path) -> None:
    """Fill the disk at where to the last byte."""
    fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_read_only_mount_is_the_storage_code(mount, tmp_path: Path) -> None:
    where, remount = mount
    db = where / "a.db"
    mem("remember", "--db", db, "I moved to Porto in May")
    before = export_all(db)
    remount("ro")
    result = mem("consolidate", "--db", db, "--dry-run", code=ExitStatus.DATABASE)
    assert f"cannot consolidate {db}: Read-only file system" in error_line(result)
    result = mem("export", "--db", db, "-o", where / "x.jsonl", code=ExitStatus.DATABASE)
    assert f"cannot write {where}/x.jsonl: Read-only file system; nothing was written" in error_line(result)
    assert export_all(db) == before


def test_full_disk_is_the_storage_code(mount) -> None:
    where, _ = mount
    db = where / "a.db"
    mem("remember", "--db", db, "I moved to Porto in May")
    before = export_all(db)
    holder = sqlean.connect(db)  # keeps the -wal and -shm files, so the database opens on a full disk
    holder.execute("SELECT count(*) FROM memories").fetchone()
    try:
        fill(where)
        result = mem("consolidate", "--db", db, "--dry-run", code=ExitStatus.DATABASE)
        assert "No space left on device; nothing was changed" in error_line(result)
        result = mem("export", "--db", db, "-o", where / "x.jsonl", code=ExitStatus.DATABASE)
        assert "No space left on device; nothing was written" in error_line(result)
        assert not list(where.glob(".x.jsonl.*"))  # no partial copy of the memories left behind
        (where / "filler").unlink()
        assert export_all(db) == before
    finally:
        holder.close()


def test_a_log_line_lost_to_a_full_disk_prints_no_traceback(mount, tmp_path: Path) -> None:
    where, _ = mount
    db = tmp_path / "a.db"
    mem("remember", "--db", db, "Ana likes tulips")
    fill(where)  # the data dir, where consolidate.log goes, is on the full disk
    child = (
        "import sys; from memcli.models import registry; from memcli.models.embed import FakeEmbedder\n"
        "registry._loaded['fake'] = FakeEmbedder(); from memcli.cli import main\n"
        f"sys.argv = ['mem', 'consolidate', '--db', {str(db)!r}, '--dry-run']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        env={**os.environ, "MEMCLI_HOME": str(where / "home"), "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "Dry run: nothing was changed" in done.stdout


def mcp_server(db: Path) -> Server:
    return Server(lambda: Memory(db, embedder=FakeEmbedder(), user="tester"))


def tool_call(server: Server, name: str, **arguments) -> dict:
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    response = server.handle(message)
    assert "result" in response, response
    return response["result"]


def test_mcp_remember_on_a_read_only_database_is_a_tool_error(mount) -> None:
    where, remount = mount
    db = where / "a.db"
    Memory(db, embedder=FakeEmbedder(), user="tester").remember([NewMemory("Ana likes tulips")])
    remount("ro")
    server = mcp_server(db)
    try:
        result = tool_call(server, "remember", text="a new note")
        assert result["isError"] is True
        assert "read-only; nothing was changed" in result["content"][0]["text"]
        assert (
            tool_call(server, "list_memories")["structuredContent"]["results"][0]["text"]
            == "Ana likes tulips"
        )
    finally:
        server.close()


# -- properties: whatever the input, a documented answer and nothing stored changes -------

_FIELDS = [
    "text",
    "kind",
    "tags",
    "meta",
    "user",
    "importance",
    "occurred_at",
    "doc_id",
    "chunk",
    "id",
    "type",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["\udcff", "\x1b[31m", "\u202e", "2024-05-01", "episodic", "7d"]),
)
_values = st.recursive(
    _scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=8,
)
_objects = st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=5) | st.fixed_dictionaries(
    {"text": st.text(min_size=1, max_size=40)}, optional={"meta": _values, "kind": st.text(max_size=10)}
)
# A line is JSON, JSON with what JSON does not allow spliced in, or any text.
_lines = st.one_of(
    _objects.map(json.dumps),
    st.tuples(
        _objects.map(json.dumps), st.sampled_from(["NaN", "Infinity", "1e999", "9" * 4400, "[" * 3000])
    ).map(lambda p: p[0][:-1] + (', "meta": ' if len(p[0]) > 2 else '"meta": ') + p[1] + "}"),
    st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t),
)


def test_any_json_lines_get_a_documented_answer_and_change_nothing_stored(seeded) -> None:
    db, before = seeded

    @settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_lines, min_size=1, max_size=4))
    def check(lines: list[str]) -> None:
        result = runner.invoke(app, ["remember", "--db", str(db), "--jsonl"], input="\n".join(lines) + "\n")
        assert result.exit_code in DOCUMENTED and result.exit_code != ExitStatus.ERROR, (lines, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        if result.exit_code:
            error_line(result)
        now = {r["id"]: r for r in export_all(db)}
        assert all(now.get(r["id"]) == r for r in before), lines

    check()


_methods = st.sampled_from(["initialize", "ping", "tools/list", "tools/call", "tools/call", "nope"])
_tools = st.sampled_from(["remember", "recall", "list_memories", "forget", "bogus"])
_arguments = st.dictionaries(
    st.sampled_from(
        ["text", "query", "kind", "tags", "importance", "k", "limit", "ids", "since", "ttl", "x"]
    ),
    _values,
    max_size=4,
)
_messages = st.one_of(
    st.builds(
        lambda method, name, arguments, id_: {
            "jsonrpc": "2.0",
            "id": id_,
            "method": method,
            "params": {"name": name, "arguments": arguments},
        },
        _methods,
        _tools,
        _arguments,
        _scalars,
    ),
    _values,
)


def test_any_mcp_message_gets_a_json_rpc_answer_and_changes_nothing_stored(seeded) -> None:
    db, before = seeded
    server = mcp_server(db)

    @settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(_messages | st.text(max_size=30).map(lambda t: t.replace("\n", " ")), min_size=1, max_size=3)
    )
    def check(messages: list) -> None:
        raw = "\n".join(m if isinstance(m, str) else json.dumps(m) for m in messages) + "\n"
        out = io.StringIO()
        serve(server, io.BytesIO(raw.encode("utf-8", "surrogatepass")), out)
        for line in out.getvalue().splitlines():
            answer = strict_json(line)
            for response in answer if isinstance(answer, list) else [answer]:
                assert ("result" in response) != ("error" in response), response
                if "error" in response:
                    assert response["error"]["code"] in (-32700, -32600, -32601, -32602), response
                elif "isError" in response["result"]:
                    assert isinstance(response["result"]["isError"], bool)
        now = {r["id"]: r for r in export_all(db)}
        assert all(now.get(r["id"]) == r for r in before), messages

    try:
        check()
    finally:
        server.close()
