"""`mem export` is a backup: imported into a fresh store it gives back every field,
every history and every chat session (the vectors are made again)."""

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.cli import app
from memcli.errors import ExitStatus, InputError
from memcli.memory import Memory
from memcli.models import registry
from memcli.models.embed import FakeEmbedder
from memcli.records import Filters, MemoryRecord, NewMemory, Patch

runner = CliRunner()
EVERYTHING = Filters(user=None, include_expired=True, include_assistant=True)


@pytest.fixture(autouse=True)
def _fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mem` run in-process embeds with the fake model, as the Memory objects here do."""
    monkeypatch.setenv("MEMCLI_EMBED_MODEL", "fake")
    monkeypatch.setitem(registry._loaded, "fake", FakeEmbedder())


def open_memory(path: Path) -> Memory:
    return Memory(path, embedder=FakeEmbedder(), user="tester")


def build(mem: Memory) -> dict[str, str]:
    """A store holding everything a backup must keep, made through the real code paths."""
    [note, cat, lisbon, porto, digest, gone] = [
        r.id
        for r in mem.remember(
            [
                NewMemory(
                    "Ana's birthday is on 3 March",
                    tags=["family", "dates"],
                    meta={"who": "Ana", "n": 2, "nested": {"ok": True}},
                    importance=4,
                    occurred_at="2024-03-01T09:00:00Z",
                    source="cli",
                ),
                NewMemory(
                    "I adopted a grey cat called Miso",
                    occurred_at="2024-01-10T12:00:00Z",
                    expires_at="2099-01-01T00:00:00Z",
                ),
                NewMemory("The user lives in Lisbon", kind="semantic", tags=["home"]),
                NewMemory("The user moved to Porto", kind="procedural", meta={"confidence": 0.9}),
                NewMemory("January: the user adopted Miso", tags=["digest"], importance=2),
                NewMemory("forget this one"),
            ]
        )
    ]
    mem.edit(note, "Ana's birthday is on 4 March")
    mem.edit(note, "Ana's birthday is on 4 March; she likes tulips")
    mem.store.add_history(cat, "A grey cat, Miso, joined us", "2024-01-11T08:00:00Z")  # a merged duplicate
    mem.store.patch(lisbon, Patch(valid_to="2024-02-01T00:00:00Z", superseded_by=porto))
    mem.store.patch(porto, Patch(sources=[cat, note], unverified_at="2024-03-02T00:00:00Z"))
    mem.store.patch(digest, Patch(sources=[cat]))
    mem.store.patch(cat, Patch(digest_id=digest, consolidated_at="2024-02-01T10:00:00Z"))
    mem.recall("Ana birthday tulips", k=1, touch=True)
    mem.forget([gone])
    turns = mem.remember(
        [
            NewMemory("What should I plant?", doc_id="chat:garden", chunk=1, source="chat"),
            NewMemory(
                "Tulips, in the autumn.", role="assistant", doc_id="chat:garden", chunk=2, source="chat"
            ),
            NewMemory("Thanks!", doc_id="chat:garden", chunk=3, source="chat"),
            NewMemory("Thanks!", doc_id="chat:garden", chunk=4, source="chat"),  # said twice: two turns
            NewMemory("Standup at ten", user="guest", doc_id="chat:work", chunk=1),
        ]
    )
    assert [t.status for t in turns] == ["added"] * 5
    mem.store.save_chat_session("tester", "garden", "The user asked what to plant.", 2)
    mem.store.save_chat_session("guest", "work", "", 0)
    return {"note": note, "cat": cat, "lisbon": lisbon, "gone": gone}


def contents(mem: Memory) -> tuple[list[MemoryRecord], dict, list]:
    records = list(mem.store.iter_records(EVERYTHING))
    histories = {r.id: mem.store.history(r.id)[1] for r in records}  # what `mem history` shows
    return records, histories, mem.store.chat_sessions(None)


def assert_same(original: Memory, restored: Memory) -> None:
    records, histories, sessions = contents(original)
    records_after, histories_after, sessions_after = contents(restored)
    assert [r.id for r in records_after] == [r.id for r in records]  # and in the same order
    for before, after in zip(records, records_after):
        for f in dataclasses.fields(MemoryRecord):
            assert getattr(after, f.name) == getattr(before, f.name), (before.id, f.name)
    assert histories_after == histories
    assert sessions_after == sessions


def test_the_store_built_here_sets_every_field(fake_memory: Memory) -> None:
    """The round trips below would prove little about a field left at its default."""
    ids = build(fake_memory)
    records, histories, sessions = contents(fake_memory)
    for f in dataclasses.fields(MemoryRecord):
        assert any(getattr(r, f.name) for r in records), f.name
    assert {r.role for r in records} == {"user", "assistant"}
    assert [h.text for h in histories[ids["note"]]] == [
        "Ana's birthday is on 3 March",
        "Ana's birthday is on 4 March",
        "Ana's birthday is on 4 March; she likes tulips",
    ]
    assert histories[ids["cat"]][0].changed_at == "2024-01-11T08:00:00Z"
    assert ids["gone"] not in {r.id for r in records}
    assert [(s.user, s.name, s.summarized_through) for s in sessions] == [
        ("guest", "work", 0),
        ("tester", "garden", 2),
    ]


def test_export_then_import_gives_back_everything(fake_memory: Memory, tmp_path: Path) -> None:
    ids = build(fake_memory)
    lines = [json.loads(json.dumps(line)) for line in fake_memory.export()]
    [note] = [line for line in lines if line.get("id") == ids["note"]]
    assert [h["text"] for h in note["history"]] == [
        "Ana's birthday is on 3 March",
        "Ana's birthday is on 4 March",
    ]
    assert [line["type"] for line in lines][-2:] == ["chat_session", "chat_session"]
    with open_memory(tmp_path / "restored.db") as restored:
        report = restored.import_records(lines)
        assert len(report.added) == len(lines) - 2 and not report.skipped
        assert (report.sessions_added, report.sessions_skipped) == (["work", "garden"], [])
        assert_same(fake_memory, restored)
        assert list(restored.export()) == lines
        again = restored.import_records(lines)
        assert not again.added and not again.sessions_added
        assert len(again.skipped) == len(lines) - 2 and len(again.sessions_skipped) == 2
        assert_same(fake_memory, restored)


def test_an_imported_session_leaves_an_existing_one_alone(fake_memory: Memory, tmp_path: Path) -> None:
    build(fake_memory)
    lines = list(fake_memory.export())
    with open_memory(tmp_path / "other.db") as other:
        other.store.save_chat_session("tester", "garden", "Kept: this store's own summary.", 1)
        report = other.import_records(lines)
        assert report.sessions_skipped == ["garden"]
        assert other.store.chat_sessions("tester", "garden")[0].summary == "Kept: this store's own summary."


def mem(*args: object, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def test_mem_export_and_mem_import_round_trip(db_path: Path, tmp_path: Path) -> None:
    with open_memory(db_path) as original:
        ids = build(original)
    backup = tmp_path / "backup.jsonl"
    exported = mem("export", "--db", db_path, "--all-users", "-o", backup)
    lines = [json.loads(line) for line in backup.read_text(encoding="utf-8").splitlines()]
    memories = len(lines) - 2
    assert exported.stderr == f"Exported {memories} memories and 2 chat sessions to {backup}\n"
    fresh = tmp_path / "fresh.db"
    report = json.loads(mem("import", "--db", fresh, backup, "--json").stdout)
    assert report == {
        "added": memories,
        "skipped": 0,
        "ids": [line["id"] for line in lines[:memories]],
        "sessions_added": 2,
        "sessions_skipped": 0,
        "entities_added": 0,
    }
    with open_memory(db_path) as original, open_memory(fresh) as restored:
        assert_same(original, restored)
    history = json.loads(mem("history", "--db", fresh, ids["note"], "--json").stdout)["history"]
    assert [h["text"] for h in history][:2] == [
        "Ana's birthday is on 3 March",
        "Ana's birthday is on 4 March",
    ]
    again = mem("export", "--db", fresh, "--all-users").stdout
    assert again == backup.read_text(encoding="utf-8")


def test_one_users_export_holds_only_their_sessions(db_path: Path) -> None:
    with open_memory(db_path) as original:
        build(original)
    lines = [json.loads(line) for line in mem("export", "--db", db_path).stdout.splitlines()]
    assert {line["user"] for line in lines} == {"tester"}
    assert [line["name"] for line in lines if line["type"] == "chat_session"] == ["garden"]


def test_an_old_export_line_still_imports(fake_memory: Memory) -> None:
    old = [
        {"id": "aaaaaaaa", "text": "Ana lives in Porto", "kind": "semantic", "tags": ["home"],
         "created_at": "2023-05-01T10:00:00Z", "occurred_at": "2023-05-01T10:00:00Z", "meta": {}},
        {"text": "a hand-written line"},
    ]  # fmt: skip
    report = fake_memory.import_records(old)
    assert len(report.added) == 2 and report.added[0] == "aaaaaaaa"
    record, history = fake_memory.history("aaaaaaaa")
    assert (record.created_at, record.role, [h.current for h in history]) == (
        "2023-05-01T10:00:00Z",
        "user",
        [True],
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"text": "x", "history": "an old text"}, "line 3: 'history' must be a list of {text, changed_at}"),
        (
            {"text": "x", "history": [{"text": "old"}]},
            "line 3: 'history' must be a list of {text, changed_at}",
        ),
        (
            {"text": "x", "history": [{"text": "old", "changed_at": "someday"}]},
            "line 3: history entry 1: bad date 'someday'",
        ),
        ({"text": "x", "history": [{"text": " ", "changed_at": "2024-01-01"}]}, "line 3: history entry 1: "),
        ({"text": "x", "role": "model"}, "line 3: unknown role 'model'"),
        ({"text": "x", "unverified_at": 5}, "line 3: 'unverified_at' must be a string"),
        ({"type": "note", "text": "x"}, "line 3: unknown 'type' 'note'"),
        ({"type": "chat_session", "summary": "s"}, "line 3: a chat_session needs a 'name'"),
        (
            {"type": "chat_session", "name": "g", "summarized_through": -1},
            "line 3: 'summarized_through' must be",
        ),
        ({"type": "chat_session", "name": "g", "updated_at": "soon"}, "line 3: bad date 'soon'"),
    ],
)
def test_a_bad_line_is_one_error_and_stores_nothing(tmp_path: Path, line: dict, message: str) -> None:
    path = tmp_path / "in.jsonl"
    good = [{"text": "first good line"}, {"type": "chat_session", "name": "fine"}]
    path.write_text("".join(json.dumps(x) + "\n" for x in [*good, line]), encoding="utf-8")
    db = tmp_path / "never.db"
    result = mem("import", "--db", db, path, code=ExitStatus.INPUT)
    assert result.stderr.startswith(f"Error: {message}") and result.stderr.count("\n") == 1, result.stderr
    assert not db.exists()


def test_mem_remember_jsonl_refuses_a_session_line_and_reads_plain_lines(
    db_path: Path, tmp_path: Path
) -> None:
    session = tmp_path / "session.jsonl"
    session.write_text(json.dumps({"type": "chat_session", "name": "garden"}) + "\n")
    result = mem("remember", "--db", db_path, "--jsonl", "-f", session, code=ExitStatus.INPUT)
    assert (
        result.stderr
        == "Error: line 1: a chat_session line is part of an export: load the file with `mem import`\n"
    )
    plain = tmp_path / "plain.jsonl"
    plain.write_text(
        json.dumps({"text": "a plain note", "tags": ["t"]}) + "\n" + json.dumps("a bare string") + "\n"
    )
    stored = json.loads(mem("remember", "--db", db_path, "--jsonl", "-f", plain, "--json").stdout)["results"]
    assert [r["status"] for r in stored] == ["added", "added"]


def test_history_needs_its_texts_to_be_text() -> None:
    from memcli.memory import read_backup

    with pytest.raises(InputError, match="line 1: history entry 2: input contains NUL bytes"):
        read_backup(
            [
                {
                    "text": "x",
                    "history": [
                        {"text": "a", "changed_at": "2024-01-01"},
                        {"text": "b\x00", "changed_at": "2024-01-01"},
                    ],
                }
            ]
        )


def test_a_store_made_by_consolidation_chat_edits_and_forgets_round_trips(
    fake_memory: Memory, tmp_path: Path, monkeypatch
) -> None:
    from test_consolidate import Scripted
    from test_converse import Fake, chat_script

    from memcli.chat import Chat
    from memcli.consolidate import Consolidator

    monkeypatch.setenv("MEMCLI_HOME", str(tmp_path / "home"))
    notes = {
        "I live in Lisbon with Rui": ["I live in Lisbon with Rui."],
        "I moved from Lisbon to Porto with Rui": ["I moved to Porto with Rui."],
        "The spare key is under the blue pot": ["The spare key is under the blue pot."],
        "Walked the dog along the river": [],
        "Told Ben the alarm code": [],
        "Bought bread at the market": [],
    }
    ids = {}
    days = ["2020-01-10", "2020-03-05", "2020-03-05", "2020-05-01", "2020-05-01", "2020-05-01"]
    for (text, _), day in zip(notes.items(), days):
        [r] = fake_memory.remember([NewMemory(text, occurred_at=day)])
        ids[text] = r.id
    run = lambda: Consolidator(fake_memory, lambda: Scripted(notes), user="tester").run()  # noqa: E731
    first = run()
    assert first.superseded == 1 and first.summarised >= 1  # a supersession and a digest
    fake_memory.edit(ids["The spare key is under the blue pot"], "The spare key is in the garage drawer")
    notes["The spare key is in the garage drawer"] = ["The spare key is in the garage drawer."]
    run()
    assert fake_memory.forget([ids["Told Ben the alarm code"]]).derived  # its day's digest
    run()  # the rest of that day is digested again
    model = Fake(chat_script([{"reply": "Noted!", "remember": ["The user likes tulips."]}]))
    Chat(fake_memory, lambda: model, "garden", Filters(user="tester")).respond("I like tulips a lot")
    records = list(fake_memory.store.iter_records(EVERYTHING))
    assert any(r.valid_to for r in records) and any(r.role == "assistant" for r in records)
    assert any(r.sources for r in records) and any(r.digest_id for r in records)
    with open_memory(tmp_path / "restored.db") as restored:
        restored.import_records(list(fake_memory.export()))
        assert_same(fake_memory, restored)
        assert [h.text for h in restored.history(ids["The spare key is under the blue pot"])[1]] == [
            "The spare key is under the blue pot",
            "The spare key is in the garage drawer",
        ]
