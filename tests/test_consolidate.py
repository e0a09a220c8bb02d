"""`mem consolidate`: the logic with a scripted model, then the real model, a kill, the lock and cron."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.cli import app
from memcli.consolidate import Consolidator, pending_episodes, third_person
from memcli.errors import ExitStatus
from memcli.memory import Memory
from memcli.records import Filters, NewMemory
from memcli.store.filelock import exclusive

runner = CliRunner()


class Scripted:
    """A generation model for the logic: facts per episode text, one reconcile decision per call."""

    name = "scripted"
    n_ctx = 4096

    def __init__(
        self, facts: dict[str, list[str]], decisions: list[dict] | None = None, entities: dict | None = None
    ) -> None:
        self.facts = facts
        self.entities = entities or {}  # note -> {"entities": [...], "relations": [...]}
        self.entity_prompts: list[str] = []
        self.decisions = list(decisions or [])
        self.calls: list[str] = []
        self.asked: list[str] = []
        self.last_finish_reason = "stop"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages, *, max_tokens, grammar=None, temperature=0.0, repeat_penalty=1.0):
        system = messages[0]["content"]
        if system.startswith("You extract facts"):
            self.calls.append("extract")
            note = messages[1]["content"]  # the note, after the line with its date
            facts = max(
                ((k, v) for k, v in self.facts.items() if note.endswith(k)),
                default=("", []),
                key=lambda kv: len(kv[0]),
            )[1]
            reply = {"facts": [{"fact": f, "importance": 3} for f in facts]}
        elif system.startswith("You find who and what"):
            self.calls.append("entities")
            self.entity_prompts.append(messages[1]["content"])
            note = messages[1]["content"].split("\nNote: ", 1)[1]
            reply = self.entities.get(note, {"entities": [], "relations": []})
        elif system.startswith("You keep a list"):
            self.calls.append("reconcile")
            self.asked.append(messages[1]["content"])
            reply = dict(self.decisions.pop(0))
            reply.pop("text", None)  # as the grammar allows: an action and a number
        else:
            self.calls.append("summary")
            reply = {"summary": "The user met Ana and Ben and planned the garden."}
        yield json.dumps(reply)


def fact_calls(model: Scripted) -> list[str]:
    return [c for c in model.calls if c != "entities"]


def consolidate(memory: Memory, model: Scripted, **kw):
    return Consolidator(memory, lambda: model, user="tester", **kw).run()


def semantic(memory: Memory, *, current_only: bool = False):
    return memory.list(Filters(user="tester", kinds=["semantic"], current_only=current_only), limit=None)


def test_facts_are_stored_with_their_episode(fake_memory: Memory) -> None:
    [episode] = fake_memory.remember(
        [NewMemory("I adopted a grey cat called Miso", occurred_at="2024-01-10")]
    )
    model = Scripted({"I adopted a grey cat called Miso": ["I adopted a grey cat called Miso."]})
    report = consolidate(fake_memory, model)
    assert (report.episodes, report.facts, report.added) == (1, 1, 1)
    [fact] = semantic(fake_memory)
    assert fact.text == "The user adopted a grey cat called Miso."  # third person
    assert fact.sources == [episode.id] and fact.occurred_at == "2024-01-10T00:00:00Z"
    assert fake_memory.get(episode.id).consolidated_at is not None
    # Provenance is exported, so it survives a round trip.
    assert next(r for r in fake_memory.export() if r["id"] == fact.id)["sources"] == [episode.id]


def test_a_fact_not_in_the_episode_is_dropped(fake_memory: Memory) -> None:
    fake_memory.remember([NewMemory("Lunch with Ana at the harbour")])
    model = Scripted(
        {"Lunch with Ana at the harbour": ["Lunch with Ana at the harbour. Ana is a famous pilot."]}
    )
    consolidate(fake_memory, model)
    assert [f.text for f in semantic(fake_memory)] == ["Lunch with Ana at the harbour."]


def test_the_person_is_resolved() -> None:
    assert third_person("I live with my sister") == "The user lives with the user's sister"


def _known(memory: Memory, text: str) -> str:
    [result] = memory.remember([NewMemory(text, kind="semantic", user="tester")])
    return result.id


@pytest.mark.parametrize("action", ["ADD", "UPDATE", "SUPERSEDE", "NOOP"])
def test_reconciliation(fake_memory: Memory, action: str) -> None:
    old = _known(fake_memory, "The user plays tennis on Sundays.")
    episode_text = "On Sundays I play tennis at the club with Rui"
    [episode] = fake_memory.remember([NewMemory(episode_text)])
    decision = {
        "action": action,
        "target": "1",  # the known facts are numbered for the model
    }
    model = Scripted({episode_text: ["On Sundays I play tennis at the club with Rui."]}, [decision])
    report = consolidate(fake_memory, model)
    assert fact_calls(model) == ["reconcile"]  # a one-line note is split without the model
    assert "[1] The user plays tennis on Sundays." in model.asked[-1]
    facts = {f.id: f for f in semantic(fake_memory)}
    if action == "ADD":
        assert report.added == 1 and len(facts) == 2
    elif action == "UPDATE":
        assert report.updated == 1 and len(facts) == 1
        assert facts[old].text == "On Sundays the user plays tennis at the club with Rui."
        assert [h.text for h in fake_memory.history(old)[1]][0] == "The user plays tennis on Sundays."
        assert episode.id in facts[old].sources
    elif action == "SUPERSEDE":
        assert report.superseded == 1 and len(facts) == 2
        new = next(f for f in facts.values() if f.id != old)
        assert facts[old].valid_to is not None and facts[old].superseded_by == new.id and new.current
        assert [f.id for f in semantic(fake_memory, current_only=True)] == [new.id]
        hits = fake_memory.recall("tennis on Sundays", Filters(user="tester", kinds=["semantic"]))
        assert hits[0].record.id == new.id  # the current fact ranks first
        shown = runner.invoke(app, ["history", old, "--db", str(fake_memory.path)]).stdout
        assert f"no longer valid: superseded by {new.id}" in shown
        shown = runner.invoke(app, ["history", new.id, "--db", str(fake_memory.path), "--json"]).stdout
        assert [r["id"] for r in json.loads(shown)["supersedes"]] == [old]
    else:
        assert report.unchanged == 1 and len(facts) == 1
        assert facts[old].sources == [episode.id] and facts[old].importance == 4  # re-stated: more important


@pytest.mark.parametrize(
    ("known", "said", "action"),
    [
        ("The user plays tennis.", "I play tennis on Sundays with Rui.", "UPDATE"),
        ("The user plays tennis with Rui on Sundays.", "I play tennis with Rui.", "NOOP"),
        ("The user plays tennis.", "I do not play tennis anymore.", "SUPERSEDE"),  # a denial never extends
    ],
)
def test_repeating_a_known_fact_word_for_word_is_decided_without_asking(
    fake_memory: Memory, known: str, said: str, action: str
) -> None:
    old = _known(fake_memory, known)
    fake_memory.remember([NewMemory(said)])
    model = Scripted({})
    report = consolidate(fake_memory, model)
    assert fact_calls(model) == []
    assert (
        report.to_dict()[{"UPDATE": "updated", "NOOP": "unchanged", "SUPERSEDE": "superseded"}[action]] == 1
    )
    if action == "UPDATE":
        assert fake_memory.get(old).text == "The user plays tennis on Sundays with Rui."
        assert [h.text for h in fake_memory.history(old)[1]][0] == known
    elif action == "NOOP":
        assert fake_memory.get(old).text == known and len(semantic(fake_memory)) == 1


def test_a_change_of_state_supersedes_without_asking(fake_memory: Memory) -> None:
    lisbon = _known(fake_memory, "The user lives in Lisbon.")
    fake_memory.remember([NewMemory("I moved to Porto")])
    model = Scripted({})
    report = consolidate(fake_memory, model)
    assert report.superseded == 1 and fact_calls(model) == []
    old = fake_memory.get(lisbon)
    assert old.valid_to and fake_memory.get(old.superseded_by).text == "The user moved to Porto."


def test_a_second_run_changes_nothing(fake_memory: Memory) -> None:
    fake_memory.remember([NewMemory("Ana's birthday is on 3 March"), NewMemory("ok thanks")])
    model = Scripted({"Ana's birthday is on 3 March": ["Ana's birthday is on 3 March."]})
    first = consolidate(fake_memory, model)
    assert first.episodes == 2 and first.added == 1  # "ok thanks" holds no facts: no model call
    before = list(fake_memory.export())
    again = consolidate(fake_memory, model)
    assert (again.episodes, again.added, again.merged, again.expired, again.summarised) == (0, 0, 0, 0, 0)
    assert list(fake_memory.export()) == before


def test_dry_run_plans_but_changes_nothing(fake_memory: Memory) -> None:
    fake_memory.remember([NewMemory("Ben's phone number is 912 555 018")])
    before = list(fake_memory.export())
    model = Scripted({"Ben's phone number is 912 555 018": ["Ben's phone number is 912 555 018."]})
    report = consolidate(fake_memory, model, dry_run=True)
    assert report.added == 1 and report.changes[0].text == "Ben's phone number is 912 555 018."
    assert list(fake_memory.export()) == before


def test_expired_memories_are_purged_for_good(sqlite_memory: Memory, db_path: Path) -> None:
    marker = "zqx" + "expired" + "9931"
    sqlite_memory.remember(
        [NewMemory(f"temporary code {marker}", expires_at="2020-01-01"), NewMemory("keep me")]
    )
    report = consolidate(sqlite_memory, Scripted({}))
    assert report.expired == 1
    assert [r.text for r in sqlite_memory.list(Filters(user="tester", include_expired=True))] == ["keep me"]
    for path in (db_path, db_path.with_name(db_path.name + "-wal")):
        if path.exists():
            assert marker.encode() not in path.read_bytes()


def test_near_duplicates_are_merged(fake_memory: Memory) -> None:
    [a] = fake_memory.remember([NewMemory("Ana likes orchids and jazz", kind="semantic", tags=["ana"])])
    [b] = fake_memory.remember(
        [
            NewMemory(
                "Ana likes orchids and jazz.", kind="semantic", importance=5, tags=["music"], sources=["x1"]
            )
        ]
    )
    report = consolidate(fake_memory, Scripted({}))
    assert report.merged == 1
    [kept] = semantic(fake_memory)
    assert (
        kept.id == a.id and kept.importance == 5 and kept.tags == ["ana", "music"] and kept.sources == ["x1"]
    )
    assert [h.text for h in fake_memory.history(a.id)[1]][0] == "Ana likes orchids and jazz."
    assert consolidate(fake_memory, Scripted({})).merged == 0


def test_a_merge_never_shortens_a_memorys_life(fake_memory: Memory) -> None:
    soon = "2099-01-01T00:00:00Z"
    [short] = fake_memory.remember(
        [NewMemory("Ana likes orchids and jazz", kind="semantic", expires_at=soon)]
    )
    fake_memory.remember([NewMemory("Ana likes orchids and jazz.", kind="semantic")])  # no expiry
    assert consolidate(fake_memory, Scripted({})).merged == 1
    [kept] = semantic(fake_memory)
    assert kept.id == short.id and kept.expires_at is None  # the merged text lives for ever, as one did

    [a] = fake_memory.remember([NewMemory("Rui plays tennis on Sundays", kind="semantic", expires_at=soon)])
    fake_memory.remember(
        [NewMemory("Rui plays tennis on Sundays.", kind="semantic", expires_at="2100-01-01")]
    )
    consolidate(fake_memory, Scripted({}))
    assert fake_memory.get(a.id).expires_at == "2100-01-01T00:00:00Z"


def test_turns_of_a_thread_are_never_merged(fake_memory: Memory) -> None:
    fake_memory.remember(
        [
            NewMemory("User: hello again there", doc_id="chat:s", chunk=1),
            NewMemory("User: hello again there!", doc_id="chat:s", chunk=2),
        ]
    )
    assert consolidate(fake_memory, Scripted({})).merged == 0
    assert len(fake_memory.store.thread("tester", "chat:s")) == 2


def test_old_episodes_get_a_digest(fake_memory: Memory, monkeypatch) -> None:
    day = "2024-01-10T09:00:00Z"
    olds = fake_memory.remember(
        [
            NewMemory("Met Ana at the market", occurred_at=day),
            NewMemory("Planned the garden with Ben", occurred_at=day),
        ]
    )
    fake_memory.remember([NewMemory("Fresh note from today")])
    report = consolidate(fake_memory, Scripted({}))
    assert report.summarised == 1
    digest = fake_memory.list(Filters(user="tester", tags=["digest"]))[0]
    assert digest.sources == [r.id for r in olds] and digest.text.startswith(
        "Digest of Wednesday 10 January 2024"
    )
    assert all(fake_memory.get(r.id).digest_id == digest.id for r in olds)  # the episodes are kept
    assert consolidate(fake_memory, Scripted({})).summarised == 0


def test_frequent_recall_raises_importance(fake_memory: Memory) -> None:
    [r] = fake_memory.remember([NewMemory("The wifi password is on the fridge")])
    consolidate(fake_memory, Scripted({}))
    for _ in range(3):
        fake_memory.recall("wifi password", Filters(user="tester"), touch=True)
    assert fake_memory.get(r.id).recalled == 3
    # the note and the fact made from it were both recalled three times
    assert consolidate(fake_memory, Scripted({})).importance_raised == 2
    assert fake_memory.get(r.id).importance == 4 and fake_memory.get(r.id).recalled == 0


def test_a_second_consolidation_is_refused(db_path: Path, real_embedder) -> None:
    runner.invoke(app, ["remember", "--db", str(db_path), "a note"])
    with exclusive(db_path):
        result = runner.invoke(app, ["consolidate", "--db", str(db_path)])
    assert result.exit_code == ExitStatus.BUSY
    assert "another mem consolidate is running" in result.stderr and result.stderr.count("\n") == 1


def test_cron_line_and_install(tmp_path: Path, monkeypatch, fake_crontab: Path) -> None:
    line = runner.invoke(app, ["cron", "--db", str(tmp_path / "m.db")]).stdout.strip()
    assert line.startswith("17 3 * * * umask 077 && mkdir -p ") and "consolidate --quiet --db" in line
    assert " && MEMCLI_USER=tester MEMCLI_HOME=" in line
    assert f"MEMCLI_MODELS_DIR={os.environ['MEMCLI_MODELS_DIR']}" in line  # cron's environment is empty
    assert str(tmp_path / "m.db") in line and "consolidate.log" in line
    table = fake_crontab
    states = []
    for _ in range(2):
        result = runner.invoke(app, ["cron", "--install", "--db", str(tmp_path / "m.db"), "--json"])
        assert result.exit_code == 0, result.stderr
        states.append(json.loads(result.stdout))
    assert table.read_text().splitlines() == ["0 1 * * * backup", line]
    assert [s["crontab"] for s in states] == ["installed", "already installed"] and states[0]["line"] == line


def test_the_cron_line_runs_in_crons_empty_environment(tmp_path: Path, isolated_home: Path) -> None:
    db = tmp_path / "m.db"
    assert runner.invoke(app, ["remember", "--db", str(db), "--kind", "semantic", "a fact"]).exit_code == 0
    line = runner.invoke(app, ["cron", "--db", str(db)]).stdout.strip()
    command = line.split(" ", 5)[5]  # after the five schedule fields
    done = subprocess.run(  # cron's umask is often 022: the shell's `>>` makes the log 0644
        ["sh", "-c", f"umask 022; {command}"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 0
    log = isolated_home / "consolidate.log"  # the log the line names, in MEMCLI_HOME
    assert "INFO consolidated: {'dry_run': False, 'episodes': 0" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_percent_sign_in_the_cron_line_is_escaped(tmp_path: Path) -> None:
    line = runner.invoke(app, ["cron", "--db", str(tmp_path / "50%.db")]).stdout.strip()
    assert "50\\%.db" in line and "50%" not in line.replace("\\%", "")


LONG_NOTE = (
    "Busy week. I moved to Porto on Monday and the flat on Rua das Flores has two bedrooms. "
    "Rui starts at the hospital in June. We bought a blue sofa for the living room. "
    "My sister Ana visits in May and wants to see the river. The internet gets installed on Friday."
)  # too long and too many things to split without the model


def test_a_missing_model_stops_consolidation_with_exit_6(db_path: Path, real_embedder) -> None:
    assert runner.invoke(app, ["remember", "--db", str(db_path), LONG_NOTE]).exit_code == 0
    result = runner.invoke(app, ["consolidate", "--db", str(db_path), "--model", "no-such-model"])
    assert result.exit_code == ExitStatus.MODEL, (result.stdout, result.stderr)
    assert "no-such-model" in result.stderr


# -- with the real model --------------------------------------------------------------------


@pytest.mark.model
def test_real_model_supersedes_and_is_idempotent(tmp_path: Path, real_embedder, real_generator) -> None:
    db = str(tmp_path / "real.db")

    def mem(*args: str):
        result = runner.invoke(app, [*args, "--db", db])
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    lisbon = json.loads(
        mem("remember", "I live in Lisbon with my partner Rui.", "--at", "2024-01-10", "--json").stdout
    )
    first = json.loads(mem("consolidate", "--json").stdout)
    assert first["added"] >= 1
    porto = json.loads(mem("remember", "I moved to Porto last month.", "--at", "2024-03-05", "--json").stdout)
    second = json.loads(mem("consolidate", "--json").stdout)
    assert second["superseded"] == 1, second
    facts = json.loads(mem("list", "--kind", "semantic", "--json").stdout)["results"]
    old = next(f for f in facts if "Lisbon" in f["text"])
    new = next(f for f in facts if f["id"] == old["superseded_by"])
    assert old["valid_to"] == "2024-03-05T00:00:00Z" and old["sources"] == [lisbon["results"][0]["id"]]
    assert "Porto" in new["text"] and "February 2024" in new["text"] and new["valid_to"] is None
    assert new["sources"] == [porto["results"][0]["id"]]
    third = json.loads(mem("consolidate", "--json").stdout)
    assert third["episodes"] == third["added"] == third["superseded"] == 0


@pytest.mark.model
def test_real_model_updates_and_knows_what_it_knows(tmp_path: Path, real_embedder, real_generator) -> None:
    db = str(tmp_path / "real.db")

    def run(text: str) -> dict:
        assert runner.invoke(app, ["remember", "--db", db, text]).exit_code == 0
        result = runner.invoke(app, ["consolidate", "--db", db, "--json"])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    assert run("I play tennis every week.")["added"] == 1
    more = run("I play tennis every week at the Belem club.")
    assert more["updated"] == 1 and more["added"] == 0, more
    [fact] = json.loads(runner.invoke(app, ["list", "--db", db, "--kind", "semantic", "--json"]).stdout)[
        "results"
    ]
    assert "Belem" in fact["text"] and len(fact["sources"]) == 2
    history = json.loads(runner.invoke(app, ["history", fact["id"], "--db", db, "--json"]).stdout)["history"]
    assert "Belem" not in history[0]["text"] and "tennis" in history[0]["text"]  # the old text is kept
    again = run("Yes, I play tennis every week.")
    assert again["unchanged"] == 1 and again["added"] == again["updated"] == 0, again


@pytest.mark.model
def test_killed_halfway_the_next_run_completes(tmp_path: Path, real_embedder, real_generator) -> None:
    db = tmp_path / "kill.db"
    cities = "Rome Oslo Lima Kyiv Cork Bern Riga Faro Nice Gent Bonn Pisa Graz Linz Bari Oulu".split()
    names = "Ana Ben Cai Dee Eli Fay Gus Hal Ida Jo Kim Lu Mo Ned Oda Pia".split()
    notes = [
        f"Note {i}: I booked the {city} trip with {name} for {i + 2} nights."
        for i, (city, name) in enumerate(zip(cities, names))
    ]
    notes.append(LONG_NOTE)  # one for the model too
    assert (
        runner.invoke(
            app,
            ["remember", "--db", str(db), "--jsonl"],
            input="".join(json.dumps({"text": note}) + "\n" for note in notes),
        ).exit_code
        == 0
    )
    exe = Path(sys.executable).with_name("mem")
    proc = subprocess.Popen([str(exe), "consolidate", "--db", str(db), "--quiet"], env=dict(os.environ))

    def consolidated() -> list:
        with Memory(db, user="tester") as memory:
            episodes = memory.list(Filters(user="tester", kinds=["episodic"]), limit=None)
            return [e for e in episodes if e.consolidated_at]

    deadline = time.monotonic() + 120
    while not consolidated() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # some episodes done, and the run still going
    proc.wait()
    memory = Memory(db, user="tester")
    try:
        assert memory.store.integrity_problems() == []
        assert 0 < len(consolidated()) < len(notes)  # killed before the end
    finally:
        memory.close()
    result = runner.invoke(app, ["consolidate", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.stderr
    memory = Memory(db, user="tester")
    try:
        assert memory.store.integrity_problems() == []
        assert pending_episodes(memory.store, "tester") == []
        texts = [f.text for f in memory.list(Filters(user="tester", kinds=["semantic"]), limit=None)]
        assert len(texts) == len(set(texts))  # no fact stored twice
        assert sum(any(city in t for t in texts) for city in cities) == len(cities)
    finally:
        memory.close()


def test_a_fact_that_changes_what_the_note_says_is_not_stored(fake_memory: Memory) -> None:
    note = f"{LONG_NOTE} My dog Biscuit is allergic to chicken"
    fake_memory.remember([NewMemory(note, occurred_at="2024-03-05")])
    changed = ["The user's dog is allergic to cats.", "Biscuit is allergic to chicken."]
    consolidate(fake_memory, Scripted({note: changed}))
    assert [f.text for f in semantic(fake_memory)] == ["Biscuit is allergic to chicken."]


def test_a_date_worked_out_from_when_the_note_was_written_is_kept(fake_memory: Memory) -> None:
    note = "I saw Ana yesterday at the harbour"
    fake_memory.remember([NewMemory(note, occurred_at="2024-03-05")])
    consolidate(fake_memory, Scripted({note: ["The user saw Ana on 4 March 2024 at the harbour."]}))
    assert [f.text for f in semantic(fake_memory)] == ["The user saw Ana on 4 March 2024 at the harbour."]


@pytest.mark.parametrize(
    ("note", "facts"),
    [
        (
            "I live in Lisbon and my sister is called Ana",
            ["The user lives in Lisbon.", "The user's sister is called Ana."],
        ),
        (
            "Ana's birthday is on 3 March; she likes orchids",
            ["Ana's birthday is on 3 March; she likes orchids."],
        ),
        ("Thanks, see you tomorrow!", []),
        ("What should I cook tonight?", []),
        ("Did you see the match? It was amazing.", []),  # "it" means something only the question says
        (
            "Rui: Yeah, I sold my car last week. It was too old.",
            ["Rui sold Rui's car in the week of 26 February 2024. It was too old."],
        ),
    ],
)
def test_a_short_note_is_split_into_its_statements_without_the_model(note: str, facts: list[str]) -> None:
    from memcli.consolidate import plain_facts

    assert plain_facts(note, "2024-03-04T10:00:00Z", transcript=True) == facts


def test_a_label_is_a_speaker_only_in_a_transcript() -> None:
    from memcli.consolidate import plain_facts

    note = "Reminder: I need to renew my passport"
    assert plain_facts(note, "2024-03-04T10:00:00Z") == [
        "Reminder: the user needs to renew the user's passport."
    ]


def test_a_long_note_is_left_to_the_model() -> None:
    from memcli.consolidate import plain_facts

    assert plain_facts(LONG_NOTE, "2024-03-04T10:00:00Z") is None


def test_facts_with_other_numbers_or_names_are_not_the_same(fake_memory: Memory) -> None:
    known = _known(fake_memory, "Ana's birthday is on 3 March.")
    fake_memory.remember([NewMemory("Ana's birthday is on 5 March")])
    model = Scripted({}, [{"action": "SUPERSEDE", "target": "1"}])
    report = consolidate(fake_memory, model)
    assert fact_calls(model) == ["reconcile"]  # 0.97 alike, but not the same date: the model is asked
    assert report.superseded == 1 and not fake_memory.get(known).current
