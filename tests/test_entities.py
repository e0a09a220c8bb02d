"""Entities: found by consolidation, linked as notes are stored, dated relations,
`mem entities` / `mem about` / `mem entity`, and what forgetting and editing do to them."""

import csv
import io
import json
from pathlib import Path

import pytest
from test_consolidate import Scripted
from test_truth import file_bytes
from typer.testing import CliRunner

from memcli import entities
from memcli.cli import app
from memcli.consolidate import Consolidator
from memcli.memory import Memory
from memcli.records import Filters, NewMemory

runner = CliRunner()

SISTER = "My sister Ana lives in Porto and loves orchids"


def consolidate(memory: Memory, model: Scripted | None = None):
    return Consolidator(memory, lambda: model or Scripted({}), user="tester").run()


def remember(memory: Memory, text: str, **kw) -> str:
    [result] = memory.remember([NewMemory(text, **kw)])
    return result.id


def named(memory: Memory) -> dict[str, entities.Entity]:
    return {e.name: e for e in memory.store.entities("tester")}


def edges(memory: Memory, *, current: bool = True) -> list[tuple[str, str, str]]:
    by_id = {e.id: e.name for e in memory.store.entities("tester")}
    return [
        (by_id[r.subject], r.predicate, by_id[r.object])
        for r in memory.store.relations("tester")
        if r.current == current
    ]


def test_consolidation_finds_people_places_and_how_they_relate(fake_memory: Memory) -> None:
    note = remember(fake_memory, SISTER, occurred_at="2024-01-10")
    report = consolidate(fake_memory)
    found = named(fake_memory)
    assert found["Ana"].kind == "person" and found["Ana"].aliases == ["my sister"]
    assert found["Porto"].kind == "place"
    assert found["me"].kind == "self"
    assert sorted(edges(fake_memory)) == [("Ana", "lives in", "Porto"), ("Ana", "sister of", "me")]
    [relation] = [r for r in fake_memory.store.relations("tester") if r.predicate == "lives in"]
    assert relation.sources == [note] and relation.valid_from == "2024-01-10T00:00:00Z"
    assert report.entities == 3
    # the note and the fact made from it both mention Ana
    about = entities.about(fake_memory.store, found["Ana"])
    assert [m.kind for m in about.memories] == ["episodic", "semantic"]
    assert about.memories[0].id == note

    # a new note is linked at once, by a name or an alias, before any consolidation
    later = remember(fake_memory, "Called my sister about the party")
    other = remember(fake_memory, "Anabela sent the invoice")  # a longer word is not the name
    linked = [m for m, _ in fake_memory.store.links(entity_ids=[found["Ana"].id])]
    assert later in linked and other not in linked


def test_the_model_names_what_the_patterns_do_not_and_only_what_the_note_holds(fake_memory: Memory) -> None:
    text = "Dinner at Tasca do Zé with Rui, who works at Globex"
    remember(fake_memory, text)
    reply = {
        "entities": [
            {"name": "Rui", "kind": "person"},
            {"name": "Globex", "kind": "organisation"},
            {"name": "Tasca do Zé", "kind": "not a name"},
        ],
        "relations": [
            {"subject": "Rui", "relation": "works at", "object": "Globex"},
            {"subject": "Rui", "relation": "married to", "object": "the user"},  # nothing says so
        ],
    }
    model = Scripted({text: []}, entities={text: reply})
    consolidate(fake_memory, model)
    assert "entities" in model.calls
    found = named(fake_memory)
    assert found["Rui"].kind == "person" and found["Globex"].kind == "organisation"
    assert "Dinner" not in found and "Tasca do Zé" not in found
    assert edges(fake_memory) == [("Rui", "works at", "Globex")]


def test_a_new_home_ends_the_old_one_without_deleting_it(fake_memory: Memory) -> None:
    old = remember(fake_memory, "I live in Lisbon", occurred_at="2022-05-01")
    consolidate(fake_memory)
    new = remember(fake_memory, "We moved to Porto last week", occurred_at="2024-03-01")
    consolidate(fake_memory)
    assert edges(fake_memory) == [("me", "lives in", "Porto")]
    assert edges(fake_memory, current=False) == [("me", "lives in", "Lisbon")]
    ended = next(r for r in fake_memory.store.relations("tester") if not r.current)
    assert ended.valid_to == "2024-03-01T00:00:00Z" and ended.sources == [old]

    # forgetting the move: the only evidence the old home ended is gone
    porto = named(fake_memory)["Porto"].id
    report = fake_memory.forget([new])
    assert len(report.relations) == 1
    assert edges(fake_memory) == [("me", "lives in", "Lisbon")]
    assert "Porto" not in named(fake_memory) and report.entities == [porto]  # no memory mentions it


def test_forgetting_erases_the_entities_made_from_the_note(sqlite_memory: Memory, db_path: Path) -> None:
    note = remember(sqlite_memory, "My dog Zorbalino loves the beach at Quiaios")
    keep = remember(sqlite_memory, "Lunch with Ana at the harbour in Nazaré")
    consolidate(sqlite_memory)
    assert "Zorbalino" in named(sqlite_memory)
    sqlite_memory.forget([note])
    assert "Zorbalino" not in named(sqlite_memory)
    assert edges(sqlite_memory) == []  # "pet of" went with it
    assert b"Zorbalino" not in file_bytes(db_path)
    assert sqlite_memory.store.get(keep)


def test_editing_a_note_relinks_it_by_its_new_words(fake_memory: Memory) -> None:
    remember(fake_memory, SISTER)
    consolidate(fake_memory)
    note = remember(fake_memory, "Ana called about the party")
    ana = named(fake_memory)["Ana"]
    assert (note, ana.id) in fake_memory.store.links(memory_ids=[note])
    fake_memory.edit(note, "Mum called about the party")
    assert fake_memory.store.links(memory_ids=[note]) == []


def test_names_link_as_written(fake_memory: Memory) -> None:
    linker = entities.Linker(
        [
            entities.Entity("e1", "tester", "May", "person"),
            entities.Entity("e2", "tester", "Ana", "person", aliases=["my sister"]),
            entities.Entity("e3", "tester", "Ana", "person"),  # two Anas: "Ana" says neither
            entities.Entity("e4", "tester", "Rui", "person", aliases=["Rui Costa"]),
        ]
    )
    assert linker.find("May came over") == ["e1"]
    assert linker.find("it may rain") == []
    assert linker.find("My Sister called; Ana too") == ["e2"]
    assert linker.find("Rui Costa and Rui's bike") == ["e4"]
    assert entities.candidates("Lunch with Ana. On Monday we met Rui Costa at Acme Robotics") == [
        "Ana",
        "Rui Costa",
        "Acme Robotics",
    ]


# -- the commands ----------------------------------------------------------------------------


def cli(db: Path, *args: str):
    return runner.invoke(app, [*args, "--db", str(db)])


def test_entity_commands(sqlite_memory: Memory, db_path: Path) -> None:
    remember(sqlite_memory, SISTER)
    remember(sqlite_memory, "Ana Silva sent the photos")
    consolidate(sqlite_memory, Scripted({}, entities={}))
    sqlite_memory.remember([NewMemory("Ana Silva booked the flights")])
    listing = json.loads(cli(db_path, "entities", "--json").stdout)["results"]
    assert {e["name"] for e in listing} >= {"Ana", "Porto", "me"}

    result = cli(db_path, "about", "my sister")
    assert result.exit_code == 0, result.output
    assert "Ana sister of me" in result.stdout and "loves orchids" in result.stdout

    shown = json.loads(cli(db_path, "about", "Ana", "--json").stdout)
    assert shown["entity"]["name"] == "Ana"
    timeline = list(csv.DictReader(io.StringIO(cli(db_path, "about", "Ana", "--csv").stdout)))
    assert [r["id"] for r in timeline] == [m["id"] for m in shown["memories"]]
    assert any(r["text"] == SISTER for r in timeline)
    assert [r["object_name"] for r in shown["relations"] if r["predicate"] == "lives in"] == ["Porto"]

    hits = json.loads(
        cli(db_path, "recall", "orchids photos", "--about", "Ana", "--mode", "fts", "--json").stdout
    )["results"]
    assert hits and all("Ana" in h["text"] for h in hits)

    # a name nobody has: a clear error and exit status 3
    missing = cli(db_path, "about", "Zeca")
    assert missing.exit_code == 3 and "no entity called 'Zeca'" in missing.stderr

    renamed = json.loads(cli(db_path, "entity", "rename", "Ana", "Ana Sousa", "--json").stdout)
    assert renamed["name"] == "Ana Sousa" and "Ana" in renamed["aliases"]
    assert cli(db_path, "about", "Ana").exit_code == 0  # the old name still finds her

    sqlite_memory.store.put_entity(
        entities.Entity(entities.new_id(), "tester", "Sis", "person", created_at="2024", updated_at="2024")
    )
    merged = json.loads(cli(db_path, "entity", "merge", "Ana Sousa", "Sis", "--json").stdout)
    assert "Sis" in merged["aliases"] and "Sis" not in {
        e.name for e in sqlite_memory.store.entities("tester")
    }

    refused = cli(db_path, "entity", "forget", "Ana Sousa", "--memories")
    assert refused.exit_code == 2  # deleting memories needs --yes off a terminal
    gone = json.loads(cli(db_path, "entity", "forget", "Porto", "--json").stdout)
    assert gone["name"] == "Porto" and gone["relations"] == 1 and gone["memories"] == []
    assert "Porto" not in {e.name for e in sqlite_memory.store.entities("tester")}
    assert sqlite_memory.list(Filters(user="tester"), limit=None)  # the memories stay
    all_gone = json.loads(
        cli(db_path, "entity", "forget", "Ana Sousa", "--memories", "--yes", "--json").stdout
    )
    assert all_gone["memories"] and b"orchids" not in file_bytes(db_path)


def test_export_and_import_carry_entities_links_and_relations(fake_memory: Memory, tmp_path: Path) -> None:
    remember(fake_memory, "I live in Lisbon", occurred_at="2022-05-01")
    consolidate(fake_memory)
    remember(fake_memory, "We moved to Porto with my sister Ana", occurred_at="2024-03-01")
    consolidate(fake_memory)
    lines = list(fake_memory.export())
    assert {line["type"] for line in lines} >= {"memory", "entity", "relation"}

    copy = Memory(tmp_path / "copy.db", embedder=fake_memory._embedder, user="tester")
    report = copy.import_records(json.loads(json.dumps(lines)))
    assert report.entities_added == len([x for x in lines if x["type"] != "memory"])

    def graph(memory: Memory):
        store = memory.store
        found = sorted((e.id, e.name, e.kind, tuple(e.aliases), e.memories) for e in store.entities("tester"))
        return found, store.relations("tester"), sorted(store.links(entity_ids=[e[0] for e in found]))

    assert graph(copy) == graph(fake_memory)
    again = copy.import_records(lines)  # importing twice changes nothing
    assert again.entities_added == 0 and graph(copy) == graph(fake_memory)
    copy.close()


def test_an_alias_learnt_from_a_forgotten_note_goes_with_it(sqlite_memory: Memory, db_path: Path) -> None:
    remember(sqlite_memory, SISTER)
    consolidate(sqlite_memory)
    text = "Ana Silva sent the photos from Sintra"
    note = remember(sqlite_memory, text)
    reply = {"entities": [{"name": "Ana Silva", "kind": "person"}], "relations": []}
    consolidate(sqlite_memory, Scripted({text: []}, entities={text: reply}))
    ana = named(sqlite_memory)["Ana"]
    assert ana.aliases == ["my sister", "Ana Silva"]  # the full name is the Ana already known
    sqlite_memory.forget([note])
    assert named(sqlite_memory)["Ana"].aliases == ["my sister"]
    assert b"Silva" not in file_bytes(db_path)


def test_graph_recall_brings_the_memories_about_who_the_query_names(fake_memory: Memory) -> None:
    from memcli import config

    remember(fake_memory, SISTER)
    consolidate(fake_memory)
    about_ana = remember(fake_memory, "My sister prefers tulips in spring")  # Ana, by her alias
    near_ana = remember(fake_memory, "The flat in Porto needs a new boiler")  # Porto: where Ana lives
    for i in range(40):
        remember(fake_memory, f"Question {i} for the garden centre: what to plant")
    query = "What should I plant for Ana?"
    filters = Filters(user="tester")

    def ranked() -> list[str]:
        return [h.record.id for h in fake_memory.recall(query, filters, k=50, min_score=0)]

    before = ranked()
    assert about_ana not in before[:3]  # graph recall is off by default
    config.set_value("graph_weight", 0.3)
    after = ranked()
    assert about_ana in after[:3]
    assert after.index(near_ana) < before.index(near_ana)  # what is related to Ana rises too
    hits = fake_memory.recall(query, filters, k=50, min_score=0)
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    scores = {h.record.id: h.score for h in hits}
    assert scores[about_ana] > scores[near_ana]  # named beats related


def test_recall_ranks_what_the_person_asked_about_said_above_what_was_said_to_them(
    fake_memory: Memory,
) -> None:
    from memcli import config

    turns = [
        "Rui: Ana, I heard the hiking club met by the river again",
        "Ana: Yes, the hiking club met by the river, and I went along",
        *(f"Rui: Note {i} about the weather and the tides" for i in range(30)),
    ]
    ids = [remember(fake_memory, text, doc_id="call:2024-05-01", chunk=n) for n, text in enumerate(turns, 1)]
    entities.learn_plain(fake_memory.store, fake_memory.list(limit=None))  # the speakers become people
    assert named(fake_memory)["Ana"].kind == "person"
    query = "Did Ana go to the hiking club by the river?"
    filters = Filters(user="tester")

    def hits() -> dict[str, float]:
        return {h.record.id: h.score for h in fake_memory.recall(query, filters, k=5, min_score=0)}

    config.set_value("speaker_weight", 0.0)
    plain = hits()
    config.set_value("speaker_weight", 0.5)
    weighed = hits()
    assert plain[ids[0]] > plain[ids[1]]  # by words and vectors, what Rui said to Ana comes first
    assert weighed[ids[1]] > weighed[ids[0]]  # Ana's own turn first
    assert weighed[ids[1]] > plain[ids[1]] and weighed[ids[0]] == pytest.approx(plain[ids[0]])
    assert all(0.0 <= s <= 1.0 for s in weighed.values())
    # a note outside a transcript has no speaker: "Ana: ..." there is just text
    note = remember(fake_memory, "Ana: hiking club by the river, bring boots")
    with_weight = hits()[note]
    config.set_value("speaker_weight", 0.0)
    assert hits()[note] == pytest.approx(with_weight)


def test_the_model_is_asked_only_about_names_not_known_yet(fake_memory: Memory) -> None:
    remember(fake_memory, SISTER)
    consolidate(fake_memory)
    text = "Good news: the new job of Ana is at Globex"
    remember(fake_memory, text)
    reply = {
        "entities": [{"name": "Globex", "kind": "organisation"}],
        "relations": [{"subject": "Ana", "relation": "works at", "object": "Globex"}],
    }
    model = Scripted({text: []}, entities={text: reply})
    consolidate(fake_memory, model)
    assert [p.split("\n")[0] for p in model.entity_prompts] == ["Names: Globex"]  # not Ana again
    assert ("Ana", "works at", "Globex") in edges(fake_memory)
    assert [e.name for e in fake_memory.store.entities("tester") if e.name == "Ana"] == [
        "Ana"
    ]  # no second Ana
