"""Hybrid recall lifts what is said next to a match (memcli.search.neighbour_lifted)."""

from pathlib import Path

import pytest

from memcli import search
from memcli.memory import Memory
from memcli.models.embed import FakeEmbedder
from memcli.records import Filters, NewMemory


@pytest.fixture
def mem(db_path: Path):
    with Memory(db_path, embedder=FakeEmbedder(), user="t") as memory:
        yield memory


def stored(mem: Memory, items: list[NewMemory]) -> list[str]:
    return [result.id for result in mem.remember(items)]


def candidates_of(mem: Memory, ids: list[str]) -> search.Candidates:
    found = search.Candidates()  # the order stored, as the store's seq gives it
    found.seq = {memory_id: seq for seq, memory_id in enumerate(ids, 1)}
    return found


def test_a_thread_lifts_the_turns_within_two_of_a_match(mem: Memory) -> None:
    turns = [f"turn {n} of the ferry talk" for n in range(1, 8)]
    ids = stored(mem, [NewMemory(text, doc_id="talk", chunk=n) for n, text in enumerate(turns, 1)])
    scores = dict.fromkeys(ids, 0.1)
    scores[ids[3]] = 0.9  # turn 4 matched
    found = candidates_of(mem, ids)
    lifted = search.neighbour_lifted(mem.store, found, scores)
    assert lifted[ids[3]] == 0.9  # the match keeps its score
    for near in (ids[1], ids[2], ids[4], ids[5]):  # turns 2, 3, 5, 6
        assert lifted[near] == pytest.approx(0.5)  # halfway from 0.1 to 0.9
    for far in (ids[0], ids[6]):  # three turns away
        assert lifted[far] == 0.1
    assert max(lifted.values()) <= 0.9


def test_notes_without_a_thread_lift_only_when_stored_together(mem: Memory) -> None:
    ids = stored(
        mem,
        [
            NewMemory("booked the ferry", occurred_at="2024-05-01T10:00:00Z"),
            NewMemory("back on the 28th", occurred_at="2024-05-01T10:20:00Z"),  # same sitting
            NewMemory("a note a day later", occurred_at="2024-05-02T10:20:00Z"),
        ],
    )
    scores = {ids[0]: 0.8, ids[1]: 0.2, ids[2]: 0.2}
    lifted = search.neighbour_lifted(mem.store, candidates_of(mem, ids), scores)
    assert lifted == {ids[0]: 0.8, ids[1]: pytest.approx(0.5), ids[2]: 0.2}


def test_lifts_do_not_chain_and_threads_do_not_mix(mem: Memory) -> None:
    ids = stored(mem, [NewMemory(f"talk a turn {n}", doc_id="a", chunk=n) for n in range(1, 6)])
    other = stored(mem, [NewMemory("talk b turn 2", doc_id="b", chunk=2)])
    scores = {**dict.fromkeys(ids, 0.2), other[0]: 0.2}
    scores[ids[0]] = 1.0
    lifted = search.neighbour_lifted(mem.store, candidates_of(mem, [*ids, *other]), scores)
    assert [lifted[i] for i in ids] == [1.0, 0.6, 0.6, 0.2, 0.2]  # turn 4 is not lifted by turn 3's lift
    assert lifted[other[0]] == 0.2  # chunk 2 of another thread


def test_a_note_unrelated_to_the_query_is_not_lifted_by_its_neighbour(mem: Memory) -> None:
    ids = stored(mem, [NewMemory(f"turn {n}", doc_id="talk", chunk=n) for n in (1, 2)])
    lifted = search.neighbour_lifted(mem.store, candidates_of(mem, ids), {ids[0]: 0.9, ids[1]: 0.05})
    assert lifted[ids[1]] == 0.05  # under NEIGHBOUR_FLOOR
    mem.remember(
        [NewMemory("The spare key is under the blue flower pot"), NewMemory("Ana's birthday is on 3 March")]
    )
    hits = mem.recall("where is the spare key?", Filters(user="t"))  # the min_score setting applies
    assert [hit.record.text for hit in hits] == ["The spare key is under the blue flower pot"]


# Two notes of one sitting: the second answers what the first asks, and shares no word
# with the question.
def sitting() -> list[NewMemory]:
    return [
        NewMemory("Ana asked when the ferry to Naxos leaves", occurred_at="2024-05-01T10:00:00Z"),
        NewMemory("Ben said it goes to the harbour on Tuesday at seven", occurred_at="2024-05-01T10:02:00Z"),
    ]


QUESTION = "when does the ferry to Naxos leave"


def test_recall_finds_the_reply_that_shares_no_word_with_the_question(mem: Memory, monkeypatch) -> None:
    """Two notes of one sitting: the second answers what the first asks, and shares no word
    with the query; older notes that mention the ferry in passing rank under it."""
    stored(
        mem,
        [
            *[
                NewMemory(
                    f"the ferry company newsletter number {n} arrived",
                    occurred_at=f"2024-04-{n + 1:02d}T09:00:00Z",
                )
                for n in range(8)
            ],
            *sitting(),
        ],
    )
    query = QUESTION
    hits = mem.recall(query, Filters(user="t"), k=3, min_score=0.0)
    texts = [hit.record.text for hit in hits]
    assert texts[:2] == [
        "Ana asked when the ferry to Naxos leaves",
        "Ben said it goes to the harbour on Tuesday at seven",
    ]
    assert all(0.0 <= hit.score <= 1.0 for hit in hits) and hits[1].score <= hits[0].score
    monkeypatch.setattr(search, "NEIGHBOUR_SPAN", 0)  # without the lift, a newsletter ranks above it
    unlifted = [hit.record.text for hit in mem.recall(query, Filters(user="t"), k=3, min_score=0.0)]
    assert unlifted[1].startswith("the ferry company newsletter")


def test_the_neighbours_of_the_best_matches_join_the_candidates(mem: Memory, monkeypatch) -> None:
    """A reply too unlike the query to be a full-text or vector candidate among many
    that are is still found, beside the note it answers."""
    stored(
        mem,
        [
            *[
                NewMemory(
                    f"ferry newsletter {n}: the Naxos ferry timetable for spring",
                    occurred_at=f"2024-0{1 + n % 4}-{1 + n % 28:02d}T0{n % 10}:00:00Z",
                )
                for n in range(80)
            ],
            *sitting(),
        ],
    )
    query = QUESTION
    found = search.candidates(mem.store, lambda q: mem._embed([q])[0], query, Filters(user="t"), depth=50)
    reply = next(
        r.id for r in mem.list(limit=None) if r.text == "Ben said it goes to the harbour on Tuesday at seven"
    )
    assert reply not in found.seq  # neither list had it
    hits = mem.recall(query, Filters(user="t"), k=3, min_score=0.0)
    assert [hit.record.text for hit in hits][:2] == [
        "Ana asked when the ferry to Naxos leaves",
        "Ben said it goes to the harbour on Tuesday at seven",
    ]
    assert hits[1].relevance is None and hits[1].fts_rank is None and hits[1].vector_rank is None
    assert mem.recall(query, Filters(user="t", kinds=["semantic"]), k=3, min_score=0.0) == []  # filters hold
    monkeypatch.setattr(search, "NEIGHBOUR_SEEDS", 0)
    unlifted = mem.recall(query, Filters(user="t"), k=10, min_score=0.0)
    assert "Ben said it goes to the harbour on Tuesday at seven" not in [hit.record.text for hit in unlifted]
