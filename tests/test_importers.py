"""`mem import --from FORMAT`: other assistants' exports and notes become memories.

The fixtures under fixtures/import/ are written from each format's documentation
(ChatGPT's and Claude's data exports, a mem0 get_all result, Markdown notes with
front matter); llm's logs.db is written by llm itself (the echo model), and its
older layout from the schema in llm's migrations.
"""

import json
import os
import shutil
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.cli import app
from memcli.errors import ExitStatus
from memcli.models import registry
from memcli.models.embed import FakeEmbedder

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures" / "import"
CHATGPT = FIXTURES / "chatgpt-export"
CLAUDE = FIXTURES / "claude-export"
TRIP = "chat:chatgpt:6632a1f0-1111-4a6b-9c1d-000000000001"
CAT = "chat:chatgpt:6632a1f0-2222-4a6b-9c1d-000000000002"
GARDEN = "chat:claude:5f0c9a8e-1111-4c3d-9e2f-0000000000a1"
RHYME = "chat:claude:5f0c9a8e-2222-4c3d-9e2f-0000000000a2"


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mem` run in-process embeds with the fake model."""
    monkeypatch.setenv("MEMCLI_EMBED_MODEL", "fake")
    monkeypatch.setitem(registry._loaded, "fake", FakeEmbedder())


def mem(*args: object, code: int = 0, input: str | None = None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def imported(fmt: str, path: object, db: Path, *more: object, input: str | None = None) -> dict:
    return json.loads(mem("import", "--from", fmt, path, "--db", db, "--json", *more, input=input).stdout)


def listing(db: Path) -> list[dict]:
    """Every memory, in thread order (doc_id, chunk), then as stored."""
    rows = json.loads(mem("list", "--db", db, "-n", "0", "--json").stdout)["results"]
    return sorted(rows, key=lambda r: (r["doc_id"] or "", r["chunk"] or 0, r["created_at"], r["text"]))


def thread(db: Path, doc_id: str) -> list[tuple[str, str, str]]:
    return [(r["role"], r["text"], r["occurred_at"]) for r in listing(db) if r["doc_id"] == doc_id]


def zipped(folder: Path, zip_path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, prefix + file.name)
    return zip_path


# -- ChatGPT ---------------------------------------------------------------------------


def _chatgpt_path(form: str, tmp_path: Path) -> tuple[str, str | None]:
    if form == "folder":
        return str(CHATGPT), None
    if form == "file":
        return str(CHATGPT / "conversations.json"), None
    if form == "zip":
        return str(zipped(CHATGPT, tmp_path / "chatgpt-export.zip")), None
    return "-", (CHATGPT / "conversations.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("form", ["folder", "file", "zip", "stdin"])
def test_chatgpt_conversations_become_threads_of_the_shown_branch(
    form: str, tmp_path: Path, db_path: Path, fake_model
) -> None:
    path, stdin = _chatgpt_path(form, tmp_path)
    report = imported("chatgpt", path, db_path, input=stdin)
    assert report | {"ids": []} == {
        "format": "chatgpt",
        "unit": "conversations",
        "read": 3,
        "empty": 1,  # "New chat": no message at all
        "memories": 9,
        "added": 9,
        "skipped": 0,
        "ids": [],
    }
    # The regenerated reply's abandoned branch, the system message, the hidden custom
    # instructions, the tool call and its result, the model's thoughts and an empty
    # reply are not turns; a web citation marker is dropped from the reply's text.
    assert thread(db_path, TRIP) == [
        ("user", "I'm planning a weekend in Porto with my sister Ana.", "2024-05-01T10:00:01Z"),
        ("assistant", "Porto is lovely in May. Try the Ribeira at sunset.", "2024-05-01T10:00:10Z"),
        ("user", "Is this the station?", "2024-05-01T10:01:40Z"),
        ("assistant", "Yes, that is São Bento station.", "2024-05-01T10:01:50Z"),
        ("user", "Thanks!", "2024-05-01T10:08:20Z"),
        ("assistant", "You're welcome. Enjoy Porto!", "2024-05-01T10:08:30Z"),
    ]
    assert thread(db_path, CAT) == [
        ("user", "My cat Miso only eats salmon pâté.", "2024-06-01T10:00:01Z"),
        (
            "assistant",
            "Many cats are picky; try mixing in a little of a new food each day.",
            "2024-06-01T10:00:05Z",
        ),
        ("user", "Thanks!", "2024-06-01T10:00:50Z"),  # said in both conversations: two memories
    ]
    rows = {(r["doc_id"], r["chunk"]): r for r in listing(db_path)}
    assert [r["chunk"] for r in rows.values() if r["doc_id"] == TRIP] == [1, 2, 3, 4, 5, 6]
    reply = rows[(TRIP, 4)]
    assert reply["meta"] == {
        "conversation_id": "6632a1f0-1111-4a6b-9c1d-000000000001",
        "title": "Trip to Porto",
        "message_id": "n4",
        "model": "gpt-4o-mini",
    }
    assert rows[(TRIP, 1)]["meta"] == {
        "conversation_id": "6632a1f0-1111-4a6b-9c1d-000000000001",
        "title": "Trip to Porto",
        "message_id": "n1",
    }
    assert {r["kind"] for r in rows.values()} == {"episodic"}
    assert {tuple(r["tags"]) for r in rows.values()} == {("chatgpt",)}


def test_the_summary_says_what_was_read_added_and_skipped(db_path: Path, fake_model) -> None:
    first = mem("import", "--from", "chatgpt", CHATGPT, "--db", db_path)
    assert first.stdout == ""
    assert first.stderr == (
        "Read 3 ChatGPT conversations (1 with nothing to import): added 9 memories, "
        "skipped 0 already present.\n"
    )
    again = mem("import", "--from", "chatgpt", CHATGPT, "--db", db_path)
    assert again.stderr.endswith(": added 0 memories, skipped 9 already present.\n")


def test_recall_finds_imported_words_and_the_assistants_only_when_asked(db_path: Path, fake_model) -> None:
    imported("chatgpt", CHATGPT, db_path)

    def recalled(*options: str) -> list[tuple[str, str]]:
        results = json.loads(
            mem("recall", "Porto sunset Ribeira", "--db", db_path, "--json", *options).stdout
        )
        return [(r["role"], r["text"]) for r in results["results"]]

    assert ("user", "I'm planning a weekend in Porto with my sister Ana.") in recalled()
    assert all(role == "user" for role, _ in recalled())  # the replies are not the user's word
    assert ("assistant", "Porto is lovely in May. Try the Ribeira at sunset.") in recalled("--assistant")


# -- Claude ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["folder", "file", "zip"])
def test_claude_conversations_become_threads(form: str, tmp_path: Path, db_path: Path, fake_model) -> None:
    path = {
        "folder": CLAUDE,
        "file": CLAUDE / "conversations.json",
        # the export's zip may hold its files in a folder of its own
        "zip": zipped(CLAUDE, tmp_path / "claude-export.zip", prefix="data-2024-05-01/"),
    }[form]
    report = imported("claude", path, db_path)
    assert (report["read"], report["empty"], report["added"]) == (3, 1, 7)
    assert thread(db_path, GARDEN) == [
        ("user", "My balcony faces north. Will cherry tomatoes grow there?", "2024-04-02T08:15:03Z"),
        # its thinking and the web search it ran are left out; the two text blocks are the reply
        (
            "assistant",
            "They will struggle: tomatoes want six hours of sun.\n\nLettuce and spinach cope with shade far better.",
            "2024-04-02T08:15:20Z",
        ),
        ("user", "Thanks!", "2024-04-02T08:19:00Z"),
        ("assistant", "Good luck with the balcony garden!", "2024-04-02T08:19:05Z"),
    ]
    # exported before content blocks existed: the words are in "text"
    assert thread(db_path, RHYME) == [
        ("user", "What rhymes with orange?", "2023-09-10T19:00:10Z"),
        ("assistant", "Almost nothing: 'door hinge' comes close.", "2023-09-10T19:00:15Z"),
        ("user", "Thanks!", "2023-09-10T19:01:00Z"),
    ]
    first = next(r for r in listing(db_path) if r["doc_id"] == GARDEN and r["chunk"] == 1)
    assert first["meta"] == {
        "conversation_id": "5f0c9a8e-1111-4c3d-9e2f-0000000000a1",
        "title": "Tomatoes on the balcony",
        "message_id": "m1",
        "attachments": ["balcony.txt"],
    }
    assert "north facing, 4 m2" not in json.dumps(listing(db_path))  # an attachment's content is not a turn


def test_claude_follows_the_current_branch_when_the_export_names_it(
    tmp_path: Path, db_path: Path, fake_model
) -> None:
    def message(uuid: str, parent: str, sender: str, text: str, second: int) -> dict:
        at = f"2024-05-02T10:00:{second:02d}Z"
        return {
            "uuid": uuid,
            "parent_message_uuid": parent,
            "sender": sender,
            "text": text,
            "content": [{"type": "text", "text": text}],
            "created_at": at,
            "updated_at": at,
        }

    root = "00000000-0000-4000-8000-000000000000"
    export = [
        {
            "uuid": "c1",
            "name": "Edited",
            "created_at": "2024-05-02T10:00:00Z",
            "updated_at": "2024-05-02T10:01:00Z",
            "current_leaf_message_uuid": "b2",
            "chat_messages": [
                message("a1", root, "human", "Name a red fruit", 1),
                message("a2", "a1", "assistant", "A strawberry.", 2),
                message("b1", root, "human", "Name a yellow fruit", 3),  # the question, edited
                message("b2", "b1", "assistant", "A banana.", 4),
            ],
        }
    ]
    (tmp_path / "conversations.json").write_text(json.dumps(export))
    imported("claude", tmp_path / "conversations.json", db_path)
    assert [text for _, text, _ in thread(db_path, "chat:claude:c1")] == ["Name a yellow fruit", "A banana."]


# -- llm -------------------------------------------------------------------------------


@pytest.fixture
def llm_logs(tmp_path: Path) -> Path:
    """A logs.db written by llm itself: two conversations with the echo model."""
    llm = pytest.importorskip("llm")
    sqlite_utils = pytest.importorskip("sqlite_utils")
    path = tmp_path / "llm" / "logs.db"
    path.parent.mkdir()
    db = sqlite_utils.Database(path)
    model = llm.get_model("echo")
    bike = model.conversation()
    for prompt, system in [("My bike is a blue Brompton", "Answer in one line"), ("Thanks!", None)]:
        response = bike.prompt(prompt, system=system)
        response.text()
        response.log_to_db(db)
    other = model.conversation().prompt("Thanks!")
    other.text()
    other.log_to_db(db)
    db.close()
    return path


def test_llm_conversations_become_threads(llm_logs: Path, db_path: Path, fake_model) -> None:
    logs = sqlite3.connect(llm_logs)
    threads = [row[0] for row in logs.execute("SELECT id FROM threads ORDER BY datetime_utc")]
    times = [
        row[0][:19] + "Z" for row in logs.execute("SELECT datetime_utc FROM turns ORDER BY datetime_utc")
    ]
    replies = [row[0] for row in logs.execute("SELECT response FROM turn_search ORDER BY id")]
    logs.close()
    before = llm_logs.read_bytes()
    report = imported("llm", llm_logs.parent, db_path)  # llm's folder, or the file itself
    assert llm_logs.read_bytes() == before  # opened read-only
    assert (report["read"], report["added"]) == (2, 6)
    assert thread(db_path, f"chat:llm:{threads[0]}") == [
        ("user", "My bike is a blue Brompton", times[0]),
        ("assistant", replies[0], times[0]),
        ("user", "Thanks!", times[1]),
        ("assistant", replies[1], times[1]),
    ]
    assert thread(db_path, f"chat:llm:{threads[1]}") == [
        ("user", "Thanks!", times[2]),
        ("assistant", replies[2], times[2]),
    ]
    rows = [r for r in listing(db_path) if r["doc_id"] == f"chat:llm:{threads[0]}"]
    assert rows[0]["meta"] == {
        "conversation_id": threads[0],
        "title": "My bike is a blue Brompton",
        "system": "Answer in one line",
    }
    assert rows[1]["meta"]["model"] == "echo"
    assert imported("llm", llm_logs, db_path)["added"] == 0


@pytest.fixture
def new_york():
    """Local time is New York's: a time an export writes without a zone must still read as UTC."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ")
    else:
        os.environ["TZ"] = saved
    time.tzset()


def test_llm_logs_of_the_older_layout_are_read(tmp_path: Path, db_path: Path, fake_model, new_york) -> None:
    """Up to llm 0.35: conversations and responses (llm/migrations.py, m010_create_new_log_tables)."""
    path = tmp_path / "logs.db"
    logs = sqlite3.connect(path)
    logs.executescript(
        """
        CREATE TABLE _llm_migrations (name TEXT PRIMARY KEY, applied_at TEXT);
        CREATE TABLE conversations (id TEXT PRIMARY KEY, name TEXT, model TEXT);
        CREATE TABLE responses (
            id TEXT PRIMARY KEY, model TEXT, prompt TEXT, system TEXT, prompt_json TEXT,
            options_json TEXT, response TEXT, response_json TEXT,
            conversation_id TEXT REFERENCES conversations(id), duration_ms INTEGER, datetime_utc TEXT
        );
        INSERT INTO conversations VALUES ('01h5c0000000000000000000c1', 'Sourdough starter', 'gpt-4o-mini');
        INSERT INTO responses (id, model, prompt, system, response, conversation_id, datetime_utc) VALUES
            ('01h5c0000000000000000000r1', 'gpt-4o-mini', 'How often do I feed a starter?', 'Be brief',
             'Once a day at room temperature.', '01h5c0000000000000000000c1', '2023-07-12T19:56:51.160547'),
            ('01h5c0000000000000000000r2', 'gpt-4o-mini', 'And in the fridge?', NULL,
             'Once a week.', '01h5c0000000000000000000c1', '2023-07-12T19:58:02.000001');
        """
    )
    logs.close()
    imported("llm", path, db_path)
    assert thread(db_path, "chat:llm:01h5c0000000000000000000c1") == [
        ("user", "How often do I feed a starter?", "2023-07-12T19:56:51Z"),
        ("assistant", "Once a day at room temperature.", "2023-07-12T19:56:51Z"),
        ("user", "And in the fridge?", "2023-07-12T19:58:02Z"),
        ("assistant", "Once a week.", "2023-07-12T19:58:02Z"),
    ]
    first, second = [r for r in listing(db_path)][:2]
    assert first["meta"] == {
        "conversation_id": "01h5c0000000000000000000c1",
        "title": "Sourdough starter",
        "response_id": "01h5c0000000000000000000r1",
        "system": "Be brief",
    }
    assert second["meta"]["model"] == "gpt-4o-mini"


# -- mem0 ------------------------------------------------------------------------------


def _mem0_file(form: str, tmp_path: Path) -> Path:
    records = json.loads((FIXTURES / "mem0.json").read_text())["results"]
    if form == "results":  # Memory.get_all() of the open-source library
        return FIXTURES / "mem0.json"
    path = tmp_path / f"mem0-{form}.json"
    if form == "list":  # MemoryClient.get_all() of the platform
        path.write_text(json.dumps(records))
    elif form == "page":  # the platform's paginated get_all
        path.write_text(json.dumps({"count": 3, "next": None, "previous": None, "results": records}))
    else:  # one memory per line
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("form", ["results", "list", "page", "jsonl"])
def test_mem0_memories_become_facts(form: str, tmp_path: Path, db_path: Path, fake_model) -> None:
    report = imported("mem0", _mem0_file(form, tmp_path), db_path)
    assert (report["unit"], report["read"], report["added"]) == ("memories", 3, 3)
    rows = {r["text"]: r for r in listing(db_path)}
    assert set(rows) == {
        "Is a vegetarian and allergic to nuts",
        "Works as a nurse in Leeds",
        "Prefers window seats on long flights",
    }
    assert {r["kind"] for r in rows.values()} == {"semantic"}
    vegetarian = rows["Is a vegetarian and allergic to nuts"]
    assert vegetarian["tags"] == ["food", "health", "mem0"]
    assert vegetarian["occurred_at"] == "2024-07-26T06:57:00Z"  # 23:57 at -07:00
    assert vegetarian["user"] == "tester"  # the importing user; mem0's is kept in meta
    assert vegetarian["meta"] == {
        "mem0_id": "892db2ae-06d9-49e5-8b3e-585ef9b85b8e",
        "user_id": "alex",
        "metadata": {"source": "onboarding"},
        "updated_at": "2024-07-26T00:10:00.000000-07:00",
    }
    assert rows["Works as a nurse in Leeds"]["meta"]["agent_id"] == "onboarding-bot"
    assert rows["Prefers window seats on long flights"]["expires_at"] == "2030-01-31T23:59:59Z"


def test_mem0_memories_go_to_the_user_given(db_path: Path, fake_model) -> None:
    imported("mem0", FIXTURES / "mem0.json", db_path, "--user", "alex")
    assert listing(db_path) == []  # not the default user's
    rows = json.loads(mem("list", "--db", db_path, "--user", "alex", "--json").stdout)["results"]
    assert len(rows) == 3 and {r["user"] for r in rows} == {"alex"}


# -- Markdown --------------------------------------------------------------------------


@pytest.fixture
def notes(tmp_path: Path, new_york) -> Path:
    """The notes, read in New York: their dates are local time, so UTC would not pass."""
    folder = shutil.copytree(FIXTURES / "notes", tmp_path / "notes")
    when = 1672628645  # 2023-01-02T03:04:05Z
    os.utime(folder / "plain.md", (when, when))
    return folder


def test_markdown_front_matter_becomes_tags_dates_and_meta(notes: Path, db_path: Path, fake_model) -> None:
    report = imported("markdown", notes, db_path)
    # draft.md has front matter and no body; .obsidian/ is the app's, not a note
    assert (report["unit"], report["read"], report["empty"], report["added"]) == ("notes", 4, 1, 3)
    rows = {r["meta"]["path"]: r for r in listing(db_path)}
    assert set(rows) == {"miso.md", "plain.md", "projects/garden.md"}
    miso = rows["miso.md"]
    assert miso["text"] == "Miso had her vaccinations at the Rua Direita clinic. Next booster in March 2025."
    assert (miso["kind"], miso["tags"], miso["importance"]) == ("episodic", ["health", "pets"], 3)
    assert miso["occurred_at"] == "2024-03-14T04:00:00Z"  # local midnight: New York on summer time
    assert miso["meta"] == {
        "title": "Miso's vet visit",
        "date": "2024-03-14",
        "aliases": ["vet"],
        "path": "miso.md",
    }
    garden = rows["projects/garden.md"]
    # `tags: garden, balcony #plants`: YAML reads " #plants" as a comment
    assert (garden["kind"], garden["tags"], garden["importance"]) == ("procedural", ["balcony", "garden"], 4)
    assert garden["occurred_at"] == "2024-04-20T22:30:00Z"  # 18:30 in New York
    plain = rows["plain.md"]
    assert plain["text"].startswith("# Wifi at home")
    assert plain["meta"]["title"] == "Wifi at home"  # no front matter: its heading
    assert plain["occurred_at"] == "2023-01-02T03:04:05Z"  # no date: when the file was last changed
    assert plain["source"] == str(notes / "plain.md")


def test_a_long_note_is_chunked_as_remember_f_chunks_it(tmp_path: Path, db_path: Path, fake_model) -> None:
    body = "\n\n".join(
        f"Paragraph {n}: "
        + " ".join(f"the walk to the lighthouse took us past field {n}.{w}" for w in range(12))
        for n in range(6)
    )
    note = tmp_path / "long.md"
    note.write_text(f"---\ntags: [walks]\ndate: 2024-02-03T10:00:00Z\n---\n{body}\n")
    imported("markdown", note, db_path)
    plain = tmp_path / "body.md"
    plain.write_text(body)
    other = tmp_path / "other.db"
    mem("remember", "-f", plain, "--db", other)
    chunks = [r for r in listing(db_path)]
    assert [r["text"] for r in chunks] == [r["text"] for r in listing(other)]
    assert len(chunks) > 1 and len({r["doc_id"] for r in chunks}) == 1
    assert [r["chunk"] for r in chunks] == list(range(1, len(chunks) + 1))
    assert {(tuple(r["tags"]), r["occurred_at"]) for r in chunks} == {(("walks",), "2024-02-03T10:00:00Z")}


def test_a_note_from_stdin(db_path: Path, fake_model) -> None:
    imported("markdown", "-", db_path, input="---\ntags: [idea]\n---\nA bench by the river would be nice.\n")
    [row] = listing(db_path)
    assert (row["text"], row["tags"], row["source"]) == (
        "A bench by the river would be nice.",
        ["idea"],
        "stdin",
    )


# -- every format ----------------------------------------------------------------------


def _source(fmt: str, request: pytest.FixtureRequest) -> Path:
    if fmt == "llm":
        return request.getfixturevalue("llm_logs")
    if fmt == "markdown":
        return request.getfixturevalue("notes")
    return {"chatgpt": CHATGPT, "claude": CLAUDE, "mem0": FIXTURES / "mem0.json"}[fmt]


@pytest.mark.parametrize("fmt", ["chatgpt", "claude", "llm", "mem0", "markdown"])
def test_importing_twice_changes_nothing(
    fmt: str, request: pytest.FixtureRequest, db_path: Path, fake_model
) -> None:
    path = _source(fmt, request)
    first = imported(fmt, path, db_path)
    assert first["added"] == first["memories"] > 0
    before = listing(db_path)
    again = imported(fmt, path, db_path)
    assert (again["added"], again["skipped"], again["ids"]) == (0, first["memories"], [])
    assert listing(db_path) == before
    stats = json.loads(mem("stats", "--db", db_path, "--json").stdout)
    assert stats["memories"] == first["memories"] and stats["indexes_ok"]


def _broken_json(tmp_path: Path) -> Path:
    path = tmp_path / "conversations.json"
    path.write_text('[{"title": "cut off", "mapping": {')
    return path


def _zip_without_conversations(tmp_path: Path) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("user.json", "{}")
    return path


def _bad_front_matter(tmp_path: Path) -> Path:
    folder = tmp_path / "vault"
    folder.mkdir()
    (folder / "good.md").write_text("A good note.\n")
    (folder / "bad.md").write_text("---\ntags: [one, two\n---\nThe body.\n")
    return folder


def _not_utf8_note(tmp_path: Path) -> Path:
    folder = tmp_path / "vault"
    folder.mkdir()
    (folder / "good.md").write_text("A good note.\n")
    (folder / "latin1.md").write_bytes("Caf\xe9 at nine".encode("latin-1"))
    return folder


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "logs.db"
    path.write_text("not a database\n")
    return path


@pytest.mark.parametrize(
    ("fmt", "make", "message"),
    [
        ("chatgpt", lambda t: t / "missing.json", "no such file: {path}"),
        (
            "chatgpt",
            _broken_json,
            "{path} is not valid JSON (line 1: Expecting property name enclosed in double quotes)",
        ),
        (
            "chatgpt",
            _zip_without_conversations,
            "{path} holds no conversations.json: is it a ChatGPT export?",
        ),
        (
            "chatgpt",
            lambda t: CLAUDE / "conversations.json",
            "{path} is not a ChatGPT export: conversation 1 has no 'mapping' of messages",
        ),
        (
            "claude",
            lambda t: CHATGPT,
            f"{CHATGPT}/conversations.json is not a Claude export: conversation 1 has no 'chat_messages'",
        ),
        (
            "mem0",
            lambda t: CHATGPT / "conversations.json",
            "{path} is not a mem0 export: memory 1 has no 'memory' text",
        ),
        ("llm", _text_file, "cannot read {path} as an llm logs database: file is not a database"),
        (
            "llm",
            lambda t: FIXTURES / "mem0.json",
            "cannot read {path} as an llm logs database: file is not a database",
        ),
        (
            "markdown",
            _bad_front_matter,
            "{path}/bad.md: the front matter is not valid YAML (expected ',' or ']', but got '<stream end>' at line 3)",
        ),
        ("markdown", _not_utf8_note, "{path}/latin1.md is not valid UTF-8 text (byte 3)"),
    ],
)
def test_bad_input_is_one_line_and_stores_nothing(
    fmt: str, make, message: str, tmp_path: Path, db_path: Path, fake_model
) -> None:
    path = make(tmp_path)
    result = mem("import", "--from", fmt, path, "--db", db_path, code=ExitStatus.INPUT)
    assert result.stderr == f"Error: {message.format(path=path)}\n"
    assert result.stdout == ""
    assert not db_path.exists()  # nothing stored, not even an empty database


def test_an_empty_export_is_refused(tmp_path: Path, db_path: Path, fake_model) -> None:
    result = mem("import", "--from", "claude", "-", "--db", db_path, input="[]", code=ExitStatus.INPUT)
    assert result.stderr == "Error: stdin holds no conversations\n"
    assert not db_path.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "bard", "x.json"],
            "unknown format 'bard' for --from: use one of chatgpt, claude, llm, mem0, markdown",
        ),
        (["--user", "ana", "backup.jsonl"], "--user goes with --from: a backup keeps each memory's user"),
    ],
)
def test_bad_usage_is_refused(args: list[str], message: str, db_path: Path, fake_model) -> None:
    result = mem("import", *args, "--db", db_path, code=ExitStatus.USAGE)
    assert result.stderr == f"Error: {message}\n"
    assert not db_path.exists()


def test_llm_logs_are_not_read_from_stdin(db_path: Path, fake_model) -> None:
    result = mem("import", "--from", "llm", "-", "--db", db_path, input="", code=ExitStatus.INPUT)
    assert result.stderr == "Error: llm's logs are a SQLite file: give its path (llm logs path), not stdin\n"


@pytest.mark.model
def test_an_imported_conversation_is_recalled_with_the_real_model(db_path: Path, real_embedder) -> None:
    imported("chatgpt", CHATGPT, db_path)
    imported("claude", CLAUDE, db_path)
    results = json.loads(mem("recall", "what does my cat eat?", "--db", db_path, "--json").stdout)["results"]
    assert results[0]["text"] == "My cat Miso only eats salmon pâté." and results[0]["doc_id"] == CAT
    garden = json.loads(
        mem("recall", "which vegetables grow in shade?", "--db", db_path, "--assistant", "--json").stdout
    )["results"]
    assert garden[0]["role"] == "assistant" and "Lettuce and spinach" in garden[0]["text"]


def test_the_command_knows_every_format_the_core_reads() -> None:
    from memcli import importers
    from memcli.cli import import_cmd

    assert import_cmd.FORMATS == tuple(importers.FORMATS)  # listed twice: `mem` starts without the core
    assert set(import_cmd._NAMES) == set(importers.FORMATS)
