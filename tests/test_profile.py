"""The profile: fields made of the user's relations, set by the user, kept with their
history, in every ask prompt; forgetting reaches it; a relation that ends another ends
the facts that said it."""

import json
from pathlib import Path

import pytest
from test_entities import consolidate, remember
from test_truth import file_bytes
from test_verify import Fake
from typer.testing import CliRunner

from memcli import profile
from memcli.ask import ask
from memcli.cli import app
from memcli.memory import Memory
from memcli.provenance import newest_truth
from memcli.records import Filters

runner = CliRunner()


def values(memory: Memory) -> dict[str, str]:
    return {f.field: f.value for f in profile.fields(memory.store, "tester")}


def test_consolidation_keeps_the_fields_made_of_relations(fake_memory: Memory) -> None:
    remember(fake_memory, "I live in Lisbon", occurred_at="2022-01-01")
    remember(fake_memory, "My sister Ana lives in Porto")
    remember(fake_memory, "My dog Rex hates the rain")
    consolidate(fake_memory)
    assert values(fake_memory) == {"home": "Lisbon", "family": "Ana (sister)", "pets": "Rex"}

    move = remember(fake_memory, "We moved to Braga last month", occurred_at="2024-03-01")
    consolidate(fake_memory)
    [home] = [f for f in profile.fields(fake_memory.store, "tester") if f.field == "home"]
    assert (home.value, home.origin, home.sources, home.since) == (
        "Braga",
        "derived",
        [move],
        "2024-03-01T00:00:00Z",
    )
    assert [(h.value, h.valid_to) for h in home.history] == [("Lisbon", "2024-03-01T00:00:00Z")]

    # forgetting the move: Braga was never said, Lisbon is home again
    fake_memory.forget([move])
    assert values(fake_memory)["home"] == "Lisbon"
    assert "Braga" not in json.dumps([e.to_dict() for e in fake_memory.store.profile_entries(None)])


def test_a_value_the_user_sets_wins_and_keeps_its_history(fake_memory: Memory) -> None:
    remember(fake_memory, "I live in Lisbon")
    consolidate(fake_memory)
    first = profile.set_value(fake_memory, "Home", "Porto, Portugal")
    assert (first.field, first.value, first.origin) == ("home", "Porto, Portugal", "set")
    [note] = fake_memory.store.get_many(first.sources).values()
    assert note.text == "The user's home is Porto, Portugal." and note.tags == ["profile"]
    second = profile.set_value(fake_memory, "home", "Braga")
    assert values(fake_memory)["home"] == "Braga"
    assert fake_memory.store.get(note.id).superseded_by == second.sources[0]  # the old value no longer holds
    assert {h.value for h in second.history} == {"Porto, Portugal", "Lisbon"}

    ended = profile.unset_value(fake_memory, "home")
    assert {e.value for e in ended} == {"Braga", "Lisbon"}
    assert "home" not in values(fake_memory)
    consolidate(fake_memory)  # nothing changed in the relations: the field stays cleared
    assert "home" not in values(fake_memory)

    with pytest.raises(Exception, match="no 'home'"):
        profile.unset_value(fake_memory, "home")
    with pytest.raises(Exception, match="bad field name"):
        profile.set_value(fake_memory, "my home!", "x")
    with pytest.raises(Exception, match="empty"):
        profile.set_value(fake_memory, "home", "   ")


def test_forgetting_the_memory_of_a_set_value_erases_it(sqlite_memory: Memory, db_path: Path) -> None:
    shown = profile.set_value(sqlite_memory, "allergy", "penicillin")
    sqlite_memory.forget(shown.sources)
    assert sqlite_memory.store.profile_entries("tester") == []
    assert b"penicillin" not in file_bytes(db_path)


def test_every_ask_prompt_starts_with_the_profile(fake_memory: Memory) -> None:
    remember(fake_memory, "We moved to Braga in May")
    consolidate(fake_memory)
    for i in range(30):
        remember(fake_memory, f"Groceries list number {i}: bread, milk and eggs")
    model = Fake("Braga")
    answer = ask(fake_memory, model, "Which town did we move to?", Filters(user="tester"))
    first = model.prompts[0].split("\n")[1]  # the line after "Memories:"
    assert first.startswith("[1] (noted") and first.endswith("We moved to Braga in May")
    assert answer.text == "Braga" and answer.known

    # a question that shares no word with the note: a search alone would show the model nothing
    unrelated = "In which town is my house?"
    model = Fake("Braga")
    ask(fake_memory, model, unrelated, Filters(user="tester"))
    assert "We moved to Braga in May" in model.prompts[0]
    from memcli import config

    config.set_value("profile_tokens", 0)  # the profile left out
    model = Fake("Braga")
    answer = ask(fake_memory, model, unrelated, Filters(user="tester"))
    assert not any("Braga" in p for p in model.prompts) and not answer.known


def test_a_relation_that_ends_another_ends_the_facts_that_said_it(fake_memory: Memory) -> None:
    remember(fake_memory, "I live in Lisbon", occurred_at="2022-01-01")
    consolidate(fake_memory)
    remember(fake_memory, "We moved to Braga last month", occurred_at="2024-03-01")
    consolidate(fake_memory)
    facts = {f.text: f for f in fake_memory.list(Filters(user="tester", kinds=["semantic"]), limit=None)}
    old = facts["The user lives in Lisbon."]
    assert old.valid_to == "2024-03-01T00:00:00Z" and "Braga" in fake_memory.store.get(old.superseded_by).text
    hits = fake_memory.recall("where do I live, Lisbon?", Filters(user="tester"), k=5)
    assert all("Lisbon" not in h.record.text for h in newest_truth(fake_memory.store, hits))


def test_profile_commands(sqlite_memory: Memory, db_path: Path) -> None:
    remember(sqlite_memory, "My dog Rex hates the rain")
    consolidate(sqlite_memory)

    def cli(*args: str):
        return runner.invoke(app, [*args, "--db", str(db_path)])

    shown = cli("profile")
    assert shown.exit_code == 0 and "pets" in shown.stdout and "Rex" in shown.stdout
    data = json.loads(cli("profile", "show", "--json").stdout)
    assert data["fields"][0]["field"] == "pets" and data["fields"][0]["origin"] == "derived"
    cleared = json.loads(cli("profile", "unset", "pets", "--json").stdout)
    assert cleared["field"] == "pets" and cleared["ended"][0]["value"] == "Rex"
    history = json.loads(cli("profile", "--json").stdout)
    assert history == {"fields": []}
    missing = cli("profile", "unset", "pets")
    assert missing.exit_code == 3 and "no 'pets'" in missing.stderr
