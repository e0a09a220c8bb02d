"""The core API against a real SQLite file (sqlite-vec, FTS5) with the fake embedder."""

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from memcli.errors import InputError, ModelError, NotFound, UsageError
from memcli.memory import Memory
from memcli.models.embed import FakeEmbedder
from memcli.records import Filters, NewMemory


def texts(hits) -> list[str]:
    return [h.record.text for h in hits]


def test_remember_then_recall_in_every_mode(fake_memory: Memory) -> None:
    fake_memory.remember(
        [
            NewMemory("The spare key is under the blue flower pot"),
            NewMemory("Ana likes orchids and jazz"),
            NewMemory("Deploy the blog with make publish", kind="procedural"),
        ]
    )
    for mode in ("hybrid", "fts", "vector"):
        hits = fake_memory.recall("where is the spare key", k=3, mode=mode)
        assert hits[0].record.text == "The spare key is under the blue flower pot", mode


def test_same_text_twice_is_a_noop(fake_memory: Memory) -> None:
    first = fake_memory.remember([NewMemory("Buy milk")])
    again = fake_memory.remember([NewMemory("  Buy milk  ")])
    assert [r.status for r in first] == ["added"]
    assert [r.status for r in again] == ["exists"]
    assert again[0].id == first[0].id
    assert fake_memory.stats().memories == 1


def test_same_text_for_another_user_is_separate(fake_memory: Memory) -> None:
    fake_memory.remember([NewMemory("Buy milk")])
    fake_memory.remember([NewMemory("Buy milk", user="guest")])
    assert fake_memory.stats().by_user == {"guest": 1, "tester": 1}


def test_users_never_see_each_other(fake_memory: Memory) -> None:
    fake_memory.remember([NewMemory("tester's secret recipe", user="tester")])
    fake_memory.remember([NewMemory("guest's secret recipe", user="guest")])
    for mode in ("hybrid", "fts", "vector"):
        hits = fake_memory.recall("secret recipe", Filters(user="guest"), mode=mode)
        assert texts(hits) == ["guest's secret recipe"]
    assert [r.text for r in fake_memory.list(Filters(user="guest"))] == ["guest's secret recipe"]
    exported = list(fake_memory.export(Filters(user="guest", include_expired=True)))
    assert [r["text"] for r in exported] == ["guest's secret recipe"]


def test_filters_by_kind_tag_and_time(fake_memory: Memory) -> None:
    fake_memory.remember(
        [
            NewMemory("meeting about the budget", tags=["work"], occurred_at="2024-01-10"),
            NewMemory("meeting with the plumber", tags=["home"], occurred_at="2024-03-10"),
            NewMemory("how to run the budget report", kind="procedural", tags=["work"]),
        ]
    )
    assert texts(fake_memory.recall("meeting", Filters(user="tester", tags=["home"]))) == [
        "meeting with the plumber"
    ]
    assert texts(fake_memory.recall("budget", Filters(user="tester", kinds=["procedural"]))) == [
        "how to run the budget report"
    ]
    assert texts(
        fake_memory.recall(
            "meeting", Filters(user="tester", since="2024-02-01T00:00:00Z", until="2024-04-01T00:00:00Z")
        )
    ) == ["meeting with the plumber"]


def test_narrow_filter_finds_a_match_beyond_the_vector_candidates(fake_memory: Memory) -> None:
    many = [NewMemory(f"note number {i} about gardening and tomatoes") for i in range(400)]
    many.append(NewMemory("tomato seeds from grandma", tags=["rare"]))
    fake_memory.remember(many)
    hits = fake_memory.recall(
        "gardening tomatoes note", Filters(user="tester", tags=["rare"]), mode="vector", min_score=0.0
    )
    assert texts(hits) == ["tomato seeds from grandma"]


def test_expired_memories_are_never_recalled(fake_memory: Memory) -> None:
    fake_memory.remember(
        [
            NewMemory("parking spot 42 level B", expires_at="2000-01-01T00:00:00Z"),
            NewMemory("parking at the station is free on sundays"),
        ]
    )
    for mode in ("hybrid", "fts", "vector"):
        assert texts(fake_memory.recall("parking spot", mode=mode)) == [
            "parking at the station is free on sundays"
        ]
    assert fake_memory.stats().expired == 1


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unbalanced',
        "a*",
        "col:value",
        "-minus",
        "NEAR(a b)",
        "AND",
        "OR NOT",
        "()",
        "'; DROP TABLE memories; --",
        "🙂",
        "x" * 5000,
    ],
)
def test_any_query_string_works(fake_memory: Memory, query: str) -> None:
    fake_memory.remember([NewMemory("AND OR NOT NEAR a b col value minus")])
    for mode in ("hybrid", "fts", "vector"):
        fake_memory.recall(query, mode=mode)
    assert fake_memory.stats().memories == 1


def test_long_text_is_chunked_and_every_chunk_findable(fake_memory: Memory) -> None:
    parts = [f"Section {i}: the keyword zebra{i} appears here. " + "filler words " * 60 for i in range(6)]
    results = fake_memory.remember([NewMemory("\n\n".join(parts), source="notes.md")])
    assert len(results) > 1
    assert len({r.doc_id for r in results}) == 1
    for i in range(6):
        hit = fake_memory.recall(f"zebra{i}", mode="fts", k=1)[0]
        assert f"zebra{i}" in hit.record.text
        assert hit.record.doc_id == results[0].doc_id and hit.record.source == "notes.md"


def test_edit_keeps_history_and_reindexes(fake_memory: Memory) -> None:
    [r] = fake_memory.remember([NewMemory("I live in Lisbon")])
    fake_memory.edit(r.id, "I live in Porto")
    assert texts(fake_memory.recall("Porto", mode="fts")) == ["I live in Porto"]
    assert fake_memory.recall("Lisbon", mode="fts") == []
    record, entries = fake_memory.history(r.id)
    assert [e.text for e in entries] == ["I live in Lisbon", "I live in Porto"]
    assert entries[-1].current and record.updated_at


def test_ids_are_short_and_prefixes_resolve(fake_memory: Memory) -> None:
    [r] = fake_memory.remember([NewMemory("prefix test")])
    assert len(r.id) == 8 and r.id.isalnum()
    assert fake_memory.get(r.id[:5]).text == "prefix test"
    with pytest.raises(NotFound):
        fake_memory.get("zzzzzzzz")


def test_invalid_input_stores_nothing(fake_memory: Memory) -> None:
    fake_memory.remember([NewMemory("kept")])
    for bad in [
        NewMemory("   "),
        NewMemory("nul\x00byte"),
        NewMemory("x", kind="dream"),
        NewMemory("x", importance=9),
    ]:
        with pytest.raises(InputError):
            fake_memory.remember([NewMemory("would be stored first"), bad])
    assert [r.text for r in fake_memory.list()] == ["kept"]


def test_export_import_round_trip_is_exact(fake_memory: Memory, tmp_path: Path) -> None:
    fake_memory.remember(
        [
            NewMemory(
                "alpha",
                tags=["x", "y"],
                meta={"k": "v", "n": 2},
                importance=5,
                occurred_at="2024-05-01T10:00:00Z",
            ),
            NewMemory("beta", kind="semantic", expires_at="2099-01-01T00:00:00Z", source="cli"),
            NewMemory("gamma " * 400 + "\n\n" + "delta " * 400),
        ]
    )
    fake_memory.edit(fake_memory.list()[-1].id, "alpha edited")
    first = list(fake_memory.export())
    other = Memory(tmp_path / "other.db", embedder=FakeEmbedder(), user="tester")
    report = other.import_records(json.loads(json.dumps(first)))
    assert len(report.added) == len(first) and not report.skipped
    assert list(other.export()) == first
    again = other.import_records(first)
    assert len(again.skipped) == len(first) and not again.added


def test_forget_removes_row_and_index_entries(fake_memory: Memory) -> None:
    [a, b] = fake_memory.remember([NewMemory("forget me please"), NewMemory("keep me")])
    assert fake_memory.forget([a.id]).forgotten == [a.id]
    stats = fake_memory.stats()
    assert stats.memories == stats.fts_rows == stats.vector_rows == stats.vec_index_rows == 1
    assert fake_memory.store.integrity_problems() == []
    with pytest.raises(NotFound):
        fake_memory.get(a.id)


def test_forgotten_text_is_gone_from_the_file_bytes(sqlite_memory: Memory, db_path: Path) -> None:
    marker = "zqxv" + "marker" + "7781"
    [r] = sqlite_memory.remember([NewMemory(f"my bank pin hint is {marker} and more words")])
    sqlite_memory.edit(r.id, f"changed hint {marker} second version")
    sqlite_memory.remember([NewMemory(f"unrelated filler {i}") for i in range(50)])
    sqlite_memory.forget([r.id])
    for path in [db_path, db_path.with_name(db_path.name + "-wal")]:
        if path.exists():
            assert marker.encode() not in path.read_bytes(), path


def test_database_file_is_private_and_in_wal_mode(sqlite_memory: Memory, db_path: Path) -> None:
    sqlite_memory.remember([NewMemory("x")])
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert sqlite_memory.store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_switching_model_without_reindex_is_refused(db_path: Path) -> None:
    with Memory(db_path, embedder=FakeEmbedder(), user="t") as mem:
        mem.remember([NewMemory("x")])
    other = FakeEmbedder(dim=128)
    other.name = "other-model"
    with Memory(db_path, embedder=other, user="t") as mem:
        with pytest.raises(ModelError, match="mem reindex"):
            mem.remember([NewMemory("y")])
        assert mem.reindex() == 1
        mem.remember([NewMemory("y")])
        assert mem.stats().embed_model == "other-model" and mem.stats().embed_dim == 128
        assert mem.stats().indexes_ok
        assert mem.recall("y", mode="vector")[0].record.text == "y"


def test_concurrent_writers_lose_nothing(db_path: Path) -> None:
    Memory(db_path, embedder=FakeEmbedder(), user="t").close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with Memory(db_path, embedder=FakeEmbedder(), user="t") as mem:
                for i in range(30):
                    mem.remember([NewMemory(f"writer {n} note {i}")])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Memory(db_path, embedder=FakeEmbedder(), user="t") as mem:
        stats = mem.stats()
        assert stats.memories == 120 and stats.indexes_ok


def _turns(thread: str, lines: list[str]) -> list[NewMemory]:
    return [NewMemory(line, doc_id=thread, chunk=i) for i, line in enumerate(lines, 1)]


def test_a_reply_is_found_by_the_words_of_its_thread(fake_memory: Memory) -> None:
    fake_memory.remember(
        _turns(
            "trip", ["Ana: How was the hike up Pico volcano?", "Ben: Exhausting but the view was worth it!"]
        )
        + [NewMemory("Ben: Exhausting week at work, worth a holiday")]
    )
    # The reply never names the volcano, yet its thread finds it; the look-alike
    # memory outside the thread is not found.
    hits = fake_memory.recall("pico volcano", k=5, mode="fts")
    assert texts(hits) == [
        "Ana: How was the hike up Pico volcano?",
        "Ben: Exhausting but the view was worth it!",
    ]


def test_thread_context_follows_every_change(fake_memory: Memory, db_path: Path) -> None:
    marker = "zqxv" + "neighbour" + "4410"
    [first, middle, last] = fake_memory.remember(
        _turns("t", ["opening line about gardens", f"the secret is {marker}", "closing line about bees"])
    )
    assert texts(fake_memory.recall(marker, k=5, mode="fts"))[0] == f"the secret is {marker}"
    assert len(fake_memory.recall(marker, k=5, mode="fts")) == 3  # its neighbours index it as context
    fake_memory.edit(first.id, "opening line about orchards")
    assert fake_memory.recall("gardens", k=5, mode="fts") == []
    assert {h.record.id for h in fake_memory.recall("orchards", k=5, mode="fts")} == {first.id, middle.id}
    assert fake_memory.store.integrity_problems() == []

    fake_memory.remember([NewMemory(f"filler {i}") for i in range(40)])
    fake_memory.forget([middle.id])
    assert fake_memory.recall(marker, k=5, mode="fts") == []
    assert fake_memory.store.integrity_problems() == []  # the index matches the neighbours' new context
    if fake_memory.store.capabilities.erasure == "overwrites":  # the file itself (SQLite)
        for path in [db_path, db_path.with_name(db_path.name + "-wal")]:
            assert not path.exists() or marker.encode() not in path.read_bytes(), path

    # A turn stored later joins the thread between its neighbours.
    fake_memory.remember(_turns("t", ["", "a new middle about wasps"])[1:])
    assert {h.record.id for h in fake_memory.recall("wasps", k=5, mode="fts")} == {first.id, last.id} | {
        h.record.id for h in fake_memory.recall("new middle", k=1, mode="fts")
    }
    assert fake_memory.store.integrity_problems() == []


def test_reciprocal_rank_fusion_is_a_setting(fake_memory: Memory) -> None:
    from memcli import config, ranking

    fake_memory.remember(
        [
            NewMemory(f"note {i} about the garden shed and its {w}")
            for i, w in enumerate(["key", "roof", "door"])
        ]
        + [NewMemory("The spare key is under the blue flower pot"), NewMemory("Ana likes orchids")]
    )
    query = "spare key under the pot"
    scored = fake_memory.recall(query, k=5)
    config.set_value("hybrid_fusion", "rrf")
    ranked = fake_memory.recall(query, k=5)
    assert ranked[0].record.text == "The spare key is under the blue flower pot"
    ordinary = 1 / ranking.most(ranking.Weights())  # what an ordinary, fresh memory keeps
    for hit in ranked:  # 1 / (60 + rank) from each list the memory is in, first in both = 1
        ranks = [r for r in (hit.fts_rank, hit.vector_rank) if r]
        assert hit.score == pytest.approx(sum(1 / (60 + r) for r in ranks) / (2 / 61) * ordinary, rel=1e-4)
        assert 0 <= hit.score <= 1
    assert [h.score for h in ranked] != [h.score for h in scored]
    assert fake_memory.recall(query, k=5, fusion="score")[0].score == pytest.approx(scored[0].score)
    with pytest.raises(UsageError, match="unknown fusion"):
        fake_memory.recall(query, fusion="borda")


def test_forget_takes_only_this_users_memories(db_path: Path) -> None:
    alice = Memory(db_path, embedder=FakeEmbedder(), user="alice")
    bob = Memory(db_path, embedder=FakeEmbedder(), user="bob")
    [secret] = alice.remember([NewMemory("alice's secret pin is 1234")])
    for key in (secret.id, secret.id[:4]):
        with pytest.raises(NotFound):
            bob.forget([key])
    assert alice.get(secret.id).text == "alice's secret pin is 1234"
    alice.close()
    bob.close()


def test_forget_by_query_needs_every_word_however_long(fake_memory: Memory) -> None:
    words = " ".join(f"w{i}" for i in range(40))
    fake_memory.remember([NewMemory(f"{words} keepme"), NewMemory(f"{words} deleteme")])
    [match] = fake_memory.matching(Filters(user="tester"), query=f"{words} deleteme")
    assert match.text.endswith("deleteme")


def test_reindex_of_an_empty_store_leaves_it_writable(fake_memory: Memory) -> None:
    [note] = fake_memory.remember([NewMemory("soon gone")])
    fake_memory.forget([note.id])
    assert fake_memory.reindex() == 0
    assert fake_memory.store.embedding_space() == (fake_memory.embedder.name, fake_memory.embedder.dim)
    [again] = fake_memory.remember([NewMemory("hello again")])
    assert fake_memory.recall("hello", k=1)[0].record.id == again.id


def test_a_strong_match_in_meaning_outranks_a_weak_match_on_an_incidental_word(
    tmp_path: Path, real_embedder
) -> None:
    mem = Memory(tmp_path / "m.db", embedder=real_embedder, user="ann")
    car = "My car broke down on the motorway and had to be towed to a garage"
    mem.remember(
        [
            NewMemory(car),
            *[
                NewMemory(f"Bought {x} at the market yesterday")
                for x in ("apples", "bread", "cheese", "fish")
            ],
            *[NewMemory(f"Read chapter {i} of the history book") for i in range(1, 13)],
        ]
    )
    hits = mem.recall("automobile breakdown on the highway yesterday", k=3)
    assert hits[0].record.text == car
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    mem.close()


def test_a_query_that_matches_nothing_well_gets_nothing(tmp_path: Path, real_embedder) -> None:
    mem = Memory(tmp_path / "m.db", embedder=real_embedder, user="ann")
    mem.remember(
        [NewMemory("Ana's birthday is on March 3"), NewMemory("The spare key is under the blue pot")]
    )
    assert mem.recall("quantum physics lecture") == []
    everything = mem.recall("quantum physics lecture", min_score=0.0)
    assert len(everything) == 2 and all(h.score < 0.15 for h in everything)
    assert [h.record.text for h in mem.recall("where is the spare key")][0].startswith("The spare key")
    with pytest.raises(UsageError, match="min-score"):
        mem.recall("key", min_score=1.5)
    mem.close()


def test_a_time_the_query_names_ranks_what_happened_then_first(fake_memory: Memory) -> None:
    weekend, later = fake_memory.remember(
        [
            NewMemory("went hiking in the hills with Ana", occurred_at="2024-05-04T10:00:00Z"),
            NewMemory("went hiking in the hills with Bob", occurred_at="2024-05-15T10:00:00Z"),
        ]
    )
    as_of = "2024-05-20T12:00:00Z"  # a Monday: "last weekend" is 18-19 May
    first = fake_memory.recall("hiking on May 4th", as_of=as_of, min_score=0)
    assert first[0].record.id == weekend.id and len(first) == 2  # boost: the other still found
    only = fake_memory.recall("hiking on May 4th", as_of=as_of, time_mode="filter", min_score=0)
    assert [h.record.id for h in only] == [weekend.id]
    assert fake_memory.recall("hiking last weekend", as_of=as_of, time_mode="filter") == []
    # a time in which nothing happened says nothing: the scores stay as without it
    plain = fake_memory.recall("hiking", as_of=as_of, min_score=0)
    none_then = fake_memory.recall("hiking in 1999", as_of=as_of, min_score=0)
    assert [(h.record.id, h.score) for h in none_then] == [(h.record.id, h.score) for h in plain]
    # "off" reads the words as words: both match, the time words only add noise
    assert len(fake_memory.recall("hiking on May 4th", as_of=as_of, time_mode="off", min_score=0)) == 2
    with pytest.raises(UsageError, match="time mode"):
        fake_memory.recall("hiking", time_mode="sometimes")


def test_as_of_sees_the_memory_as_it_was_then(fake_memory: Memory) -> None:
    lisbon, porto = fake_memory.remember(
        [
            NewMemory("I live in Lisbon", kind="semantic", occurred_at="2023-01-01T00:00:00Z"),
            NewMemory("I live in Porto", kind="semantic", occurred_at="2024-03-01T00:00:00Z"),
        ]
    )
    fake_memory.store.patch(lisbon.id, {"valid_to": "2024-03-01T00:00:00Z", "superseded_by": porto.id})
    now = fake_memory.recall("where do I live", min_score=0)
    assert now[0].record.id == porto.id and now[1].score < now[0].score  # the superseded fact: halved
    then = fake_memory.recall("where do I live", as_of="2024-02-01", min_score=0)
    assert [h.record.id for h in then] == [lisbon.id]  # Porto had not happened; Lisbon was valid
    assert then[0].score == pytest.approx(now[1].score * 2, rel=0.2)  # not weighed as superseded
    assert fake_memory.recall("where do I live", as_of="2022-06-01T00:00:00Z", min_score=0) == []


def test_a_query_that_names_a_time_is_embedded_once(tmp_path: Path) -> None:
    class Counting(FakeEmbedder):
        calls: list[list[str]] = []

        def embed(self, texts):
            self.calls.append(list(texts))
            return super().embed(texts)

    embedder = Counting()
    mem = Memory(tmp_path / "m.db", embedder=embedder, user="ann")
    mem.remember([NewMemory("went hiking in the hills", occurred_at="2024-05-04T10:00:00Z")])
    embedder.calls.clear()
    assert mem.recall("hiking on May 4th", as_of="2024-05-20T12:00:00Z", min_score=0)
    assert embedder.calls == [["hiking"]]  # the words without the time, once for both searches
    mem.close()
