"""Truth maintenance: forgetting and editing reach what was made from a note, the
newest truth wins, and no consolidation running meanwhile undoes either."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_consolidate import Scripted
from typer.testing import CliRunner

from memcli.cli import app
from memcli.cli.render import status_note
from memcli.consolidate import Consolidator, pending_episodes
from memcli.memory import Memory
from memcli.models.embed import FakeEmbedder
from memcli.records import Filters, NewMemory, Patch

runner = CliRunner()

BIRTHDAY = "Ana's birthday is on 3 March; she likes orchids"


def consolidate(memory: Memory, model: Scripted, **kw):
    return Consolidator(memory, lambda: model, user="tester", **kw).run()


def facts(memory: Memory, *, current_only: bool = False):
    filters = Filters(user="tester", kinds=["semantic"], current_only=current_only)
    return memory.list(filters, limit=None)


def file_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))


def remember(memory: Memory, text: str, **kw) -> str:
    [result] = memory.remember([NewMemory(text, **kw)])
    return result.id


# -- forgetting reaches what was made from a note ---------------------------------------------


def test_forgetting_a_note_erases_the_fact_made_from_it(sqlite_memory: Memory, db_path: Path) -> None:
    note = remember(sqlite_memory, BIRTHDAY)
    consolidate(sqlite_memory, Scripted({BIRTHDAY: ["Ana's birthday is on 3 March; she likes orchids."]}))
    [fact] = facts(sqlite_memory)
    assert fact.sources == [note]
    report = sqlite_memory.forget([note])
    assert report.forgotten == [note] and report.derived == [fact.id]
    assert report.sentence() == "Forgot 1 memory and 1 made from it."
    assert sqlite_memory.list(Filters(user="tester", include_expired=True), limit=None) == []
    assert sqlite_memory.recall("Ana birthday orchids") == []
    assert b"orchids" not in file_bytes(db_path)


def test_forget_on_the_command_line_says_what_it_erased(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    memory = Memory(db, embedder=FakeEmbedder(), user="tester")
    note = remember(memory, BIRTHDAY)
    consolidate(memory, Scripted({BIRTHDAY: ["Ana's birthday is on 3 March."]}))
    [fact] = facts(memory)
    memory.close()
    result = runner.invoke(app, ["forget", note, "--db", str(db), "--json"], env={"MEMCLI_EMBED_MODEL": ""})
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ids"] == [note] and out["derived"] == [fact.id] and out["forgotten"] == 1


def test_a_fact_with_another_source_is_kept_only_if_that_source_says_it(fake_memory: Memory) -> None:
    a = remember(fake_memory, "I play tennis every Sunday")
    b = remember(fake_memory, "Tennis again this Sunday, every Sunday, at the Belem club")
    # Two facts, each with both episodes as sources: one both say, one only b says.
    both = remember(fake_memory, "The user plays tennis every Sunday.", kind="semantic", sources=[a, b])
    only_b = remember(
        fake_memory, "The user plays tennis at the Belem club.", kind="semantic", sources=[a, b]
    )
    fake_memory.store.add_history(
        both, "The user plays tennis at the Belem club sometimes.", "2024-01-01T00:00:00Z"
    )
    fake_memory.store.patch(a, Patch(consolidated_at="2024-01-02T00:00:00Z"))
    report = fake_memory.forget([b])
    assert report.kept == [both] and report.derived == [only_b]
    kept = fake_memory.get(both)
    assert kept.sources == [a]
    assert [h.text for h in fake_memory.history(both)[1]] == [kept.text]  # older texts may quote b
    assert report.requeued == [a] and fake_memory.get(a).consolidated_at is None  # derived again next run


def test_forgetting_one_episode_of_a_digest_erases_the_digest(
    fake_memory: Memory, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEMCLI_HOME", str(tmp_path / "home"))
    secret = "Told Ben the alarm code is 4471"
    other = remember(fake_memory, "Walked the dog along the river", occurred_at="2020-05-01")
    told = remember(fake_memory, secret, occurred_at="2020-05-01")
    consolidate(fake_memory, Scripted({}))
    digest = next(r for r in fake_memory.list(limit=None) if "digest" in r.tags)
    assert set(digest.sources) == {other, told}
    report = fake_memory.forget([told])
    assert digest.id in report.derived
    assert fake_memory.get(other).digest_id is None  # digested again, without the forgotten note
    if isinstance(fake_memory.path, Path):  # a file's bytes (a server keeps dead rows until VACUUM)
        assert b"4471" not in file_bytes(fake_memory.path)
    assert "4471" not in json.dumps(list(fake_memory.export()))


def test_forgetting_a_user_erases_their_facts_and_ttl_erases_what_it_made(fake_memory: Memory) -> None:
    note = remember(fake_memory, "The gate code is 2580 until Friday", expires_at="2020-01-01")
    fake_memory.store.patch(note, Patch(expires_at=None))
    consolidate(fake_memory, Scripted({"The gate code is 2580 until Friday": ["The gate code is 2580."]}))
    assert len(facts(fake_memory)) == 1
    fake_memory.store.patch(note, Patch(expires_at="2020-01-01T00:00:00Z"))  # its TTL has passed
    report = consolidate(fake_memory, Scripted({}))
    assert report.expired == 1 and facts(fake_memory) == []


def test_forgetting_what_superseded_a_fact_makes_it_current_again(fake_memory: Memory) -> None:
    lisbon = remember(fake_memory, "I live in Lisbon", occurred_at="2024-01-10")
    consolidate(fake_memory, Scripted({"I live in Lisbon": ["I live in Lisbon."]}))
    porto = remember(fake_memory, "I moved from Lisbon to Porto", occurred_at="2024-03-05")
    consolidate(fake_memory, Scripted({"I moved from Lisbon to Porto": ["I moved from Lisbon to Porto."]}))
    old = next(f for f in facts(fake_memory) if f.sources == [lisbon])
    assert old.valid_to == "2024-03-05T00:00:00Z"
    assert fake_memory.get(lisbon).valid_to == "2024-03-05T00:00:00Z"  # the episode is outdated too
    report = fake_memory.forget([porto])
    assert set(report.restored) == {old.id, lisbon}
    assert fake_memory.get(old.id).current and fake_memory.get(lisbon).current


# -- the newest truth wins ------------------------------------------------------------------


def test_an_episode_that_only_said_the_old_fact_is_outdated(fake_memory: Memory) -> None:
    lisbon = remember(fake_memory, "I live in Lisbon with Rui", occurred_at="2024-01-10")
    consolidate(fake_memory, Scripted({"I live in Lisbon with Rui": ["I live in Lisbon with Rui."]}))
    remember(fake_memory, "I moved to Porto with Rui", occurred_at="2024-03-05")
    consolidate(fake_memory, Scripted({"I moved to Porto with Rui": ["I moved to Porto with Rui."]}))
    episode = fake_memory.get(lisbon)
    new = next(f for f in facts(fake_memory, current_only=True) if "Porto" in f.text)
    assert episode.valid_to == "2024-03-05T00:00:00Z" and episode.superseded_by == new.id
    current = fake_memory.recall("where do I live with Rui", Filters(user="tester", current_only=True))
    assert lisbon not in [h.record.id for h in current]
    assert status_note(episode.to_dict()) == f"  (no longer true from 2024-03-05: see {new.id})"


def test_an_episode_that_still_says_something_current_is_not_outdated(fake_memory: Memory) -> None:
    note = "I live in Lisbon and my sister is called Ana"
    lisbon = remember(fake_memory, note, occurred_at="2024-01-10")
    consolidate(fake_memory, Scripted({note: ["I live in Lisbon.", "My sister is called Ana."]}))
    remember(fake_memory, "I moved from Lisbon to Porto", occurred_at="2024-03-05")
    report = consolidate(
        fake_memory, Scripted({"I moved from Lisbon to Porto": ["I moved to Porto from Lisbon."]})
    )
    assert report.superseded == 1
    assert fake_memory.get(lisbon).current


def test_ask_and_chat_see_the_successor_of_what_the_question_matches(fake_memory: Memory) -> None:
    from memcli.provenance import newest_truth

    lisbon = remember(fake_memory, "I live in Lisbon with Rui", occurred_at="2024-01-10")
    consolidate(fake_memory, Scripted({"I live in Lisbon with Rui": ["I live in Lisbon with Rui."]}))
    remember(fake_memory, "I moved to Porto with Rui", occurred_at="2024-03-05")
    consolidate(fake_memory, Scripted({"I moved to Porto with Rui": ["I moved to Porto with Rui."]}))
    hits = fake_memory.recall("live in Lisbon with Rui", Filters(user="tester"), k=2)
    assert hits[0].record.id == lisbon  # the words match the old note best
    shown = newest_truth(fake_memory.store, hits)
    assert lisbon not in [h.record.id for h in shown]
    assert "Porto" in shown[0].record.text and shown[0].score == hits[0].score
    assert len({h.record.id for h in shown}) == len(shown)


def test_a_partly_outdated_episode_is_shown_as_its_current_facts(fake_memory: Memory) -> None:
    from memcli.provenance import newest_truth

    note = "I live in Lisbon and my sister is called Ana"
    remember(fake_memory, note, occurred_at="2024-01-10")
    consolidate(fake_memory, Scripted({note: ["I live in Lisbon.", "My sister is called Ana."]}))
    remember(fake_memory, "I moved from Lisbon to Porto", occurred_at="2024-03-05")
    report = consolidate(
        fake_memory, Scripted({"I moved from Lisbon to Porto": ["I moved to Porto from Lisbon."]})
    )
    assert report.superseded == 1
    hits = fake_memory.recall(note, Filters(user="tester", kinds=["episodic"]), k=1)
    shown = [h.record.text for h in newest_truth(fake_memory.store, hits)]
    assert shown == ["The user moved from Lisbon to Porto.", "The user's sister is called Ana."]


# -- edits propagate --------------------------------------------------------------------------


KEY = "The spare house key is under the blue flower pot"
NEW_KEY = "The spare house key is now in the garage drawer"


def test_an_edit_marks_what_was_made_from_the_note_unverified_until_consolidated(fake_memory: Memory) -> None:
    note = remember(fake_memory, KEY)
    consolidate(fake_memory, Scripted({KEY: ["The spare house key is under the blue flower pot."]}))
    [old] = facts(fake_memory)
    fake_memory.edit(note, NEW_KEY)
    assert fake_memory.get(old.id).unverified_at is not None
    assert facts(fake_memory, current_only=True) == []  # not current: ask and chat leave it out
    assert "unverified: its source was edited" in status_note(fake_memory.get(old.id).to_dict())
    report = consolidate(
        fake_memory, Scripted({NEW_KEY: ["The spare house key is now in the garage drawer."]})
    )
    [new] = facts(fake_memory, current_only=True)
    assert "garage drawer" in new.text and new.sources == [note]
    retired = fake_memory.get(old.id)
    assert not retired.current and retired.superseded_by == new.id and retired.unverified_at is None
    assert report.superseded == 1


def test_an_edit_that_keeps_a_fact_verifies_it_again(fake_memory: Memory) -> None:
    text = "My dog Biscuit is allergic to chicken"
    note = remember(fake_memory, text)
    consolidate(fake_memory, Scripted({text: ["My dog Biscuit is allergic to chicken."]}))
    [fact] = facts(fake_memory)
    edited = "My dog Biscuit is allergic to chicken, the vet said"
    fake_memory.edit(note, edited)
    consolidate(fake_memory, Scripted({edited: ["The vet said my dog Biscuit is allergic to chicken."]}))
    again = fake_memory.get(fact.id)
    assert again.current, again
    assert [f.id for f in facts(fake_memory, current_only=True)] == [fact.id]


# -- dry run ----------------------------------------------------------------------------------


def test_a_dry_run_plans_exactly_what_the_run_does_and_writes_nothing(fake_memory: Memory) -> None:
    remember(fake_memory, "I live in Lisbon", occurred_at="2024-01-10")
    remember(fake_memory, "I moved from Lisbon to Porto", occurred_at="2024-03-05")
    script = {
        "I live in Lisbon": ["I live in Lisbon."],
        "I moved from Lisbon to Porto": ["I moved to Porto."],
    }
    before = list(fake_memory.export())
    planned = consolidate(fake_memory, Scripted(script), dry_run=True)
    assert list(fake_memory.export()) == before
    done = consolidate(fake_memory, Scripted(script))
    assert [(c.action, c.text) for c in planned.changes] == [(c.action, c.text) for c in done.changes]
    assert planned.superseded == done.superseded == 1


# -- races with a run, in real processes -------------------------------------------------------

RUN_PAUSED = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from memcli.consolidate import Consolidator
    from memcli.memory import Memory
    from memcli.models.embed import FakeEmbedder

    gate = Path(sys.argv[2])

    class Paused(Consolidator):
        def decide(self, *args, **kw):
            # Has read the episode and its facts; waits for the test to change
            # the store before deciding and writing.
            (gate / "deciding").touch()
            while not (gate / "go").exists():
                time.sleep(0.02)
            return super().decide(*args, **kw)

    memory = Memory(Path(sys.argv[1]), embedder=FakeEmbedder(), user="guest")
    report = Paused(memory, lambda: None, user="guest").run()  # short notes: no model
    print(json.dumps({"episodes": report.episodes, "dropped": report.dropped}))
    """
)


def _paused_run(db: Path, gate: Path) -> subprocess.Popen:
    gate.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_PAUSED, str(db), str(gate)], stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not (gate / "deciding").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)
    return proc


def _mem(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mem")
    env = {**os.environ, "MEMCLI_EMBED_MODEL": ""}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=60)


def _guest_store(db: Path, texts: list[str]) -> list[str]:
    memory = Memory(db, embedder=FakeEmbedder(), user="guest")
    ids = [remember(memory, t) for t in texts]
    memory.close()
    return ids


def test_forget_during_a_run_leaves_no_fact_behind(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEMCLI_EMBED_MODEL", "")
    db = tmp_path / "race.db"
    _guest_store(db, ["The guest room wifi password is tulip42", "The guest leaves on Sunday morning"])
    proc = _paused_run(db, tmp_path / "gate")
    done = _mem("forget", "--user", "guest", "--all", "--yes", "--db", str(db))
    assert done.returncode == 0, done.stderr
    (tmp_path / "gate" / "go").touch()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert json.loads(out)["dropped"] >= 1
    memory = Memory(db, embedder=FakeEmbedder(), user="guest")
    assert memory.list(Filters(user="guest", include_expired=True), limit=None) == []
    memory.close()
    assert b"tulip42" not in file_bytes(db)


def test_an_edit_during_a_run_is_consolidated_next_time(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "race.db"
    [note] = _guest_store(db, [KEY])
    proc = _paused_run(db, tmp_path / "gate")
    memory = Memory(db, embedder=FakeEmbedder(), user="guest")
    memory.edit(note, NEW_KEY)  # a second process meanwhile (the run is paused in its own)
    (tmp_path / "gate" / "go").touch()
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out) == {"episodes": 0, "dropped": 1}
    assert memory.list(Filters(user="guest", kinds=["semantic"]), limit=None) == []
    assert pending_episodes(memory.store, "guest")[0].id == note  # still to do, with its new text
    model = Scripted({NEW_KEY: ["The spare house key is now in the garage drawer."]})
    Consolidator(memory, lambda: model, user="guest").run()
    [fact] = memory.list(Filters(user="guest", kinds=["semantic"]), limit=None)
    assert "garage" in fact.text
    memory.close()


# -- with the real models: the README's tour --------------------------------------------------


def _cli(db: Path):
    """`mem ARGS --db DB` in-process; its stdout, after checking it succeeded."""

    def mem(*args: str) -> str:
        result = runner.invoke(app, [*args, "--db", str(db)])
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    return mem


@pytest.mark.model
def test_real_model_answers_from_the_newest_truth(tmp_path: Path, real_embedder, real_generator) -> None:
    mem = _cli(tmp_path / "tour.db")

    mem("remember", "I live in Lisbon with my partner Rui.", "--at", "2024-01-10")
    mem("remember", "I moved to Porto last month.", "--at", "2024-03-05")
    mem("consolidate")
    answer = json.loads(mem("ask", "Where do I live?", "--json"))
    # Never the outdated truth: the model is shown what replaced the Lisbon note,
    # and a move says where one lives now.
    assert "Lisbon" not in answer["answer"] and "Porto" in answer["answer"], answer
    shown = [m["text"] for m in answer["memories"]]  # the profile's memory of the move among them
    assert "The user moved to Porto in February 2024." in shown, answer
    assert not any("Lisbon" in text for text in shown), answer


@pytest.mark.model
def test_real_model_answers_from_the_edited_note(tmp_path: Path, real_embedder, real_generator) -> None:
    mem = _cli(tmp_path / "key.db")

    note = json.loads(mem("remember", KEY, "--json"))["results"][0]["id"]
    mem("consolidate")
    mem("edit", note, "The spare house key is now in the garage drawer")
    answer = json.loads(mem("ask", "Where is the spare key?", "--json"))
    assert "flower" not in answer["answer"], answer
    mem("consolidate")
    answer = json.loads(mem("ask", "Where is the spare key?", "--json"))
    assert "garage" in answer["answer"] and "flower" not in answer["answer"], answer


def test_editing_a_digested_note_remakes_its_facts_and_its_digest(
    fake_memory: Memory, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEMCLI_HOME", str(tmp_path / "home"))
    note = remember(fake_memory, KEY, occurred_at="2020-05-01")
    remember(fake_memory, "Walked the dog along the river", occurred_at="2020-05-01")
    consolidate(fake_memory, Scripted({KEY: ["The spare house key is under the blue flower pot."]}))
    old_digest = fake_memory.get(note).digest_id
    assert old_digest is not None
    fake_memory.edit(note, NEW_KEY)
    assert not fake_memory.get(old_digest).current  # it repeats the old text
    consolidate(fake_memory, Scripted({NEW_KEY: ["The spare house key is now in the garage drawer."]}))
    [fact] = [f for f in facts(fake_memory, current_only=True) if "key" in f.text]
    assert "garage" in fact.text
    digest_id = fake_memory.get(note).digest_id
    assert digest_id not in (None, old_digest) and fake_memory.get(digest_id).current
