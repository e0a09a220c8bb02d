"""The store contract (memcli.store.base), run against every backend.

Each test talks to the `Store` protocol only. A backend is added by naming it in
BACKENDS and opening it in `open_backend` (PostgreSQL: from a URL in the
environment, skipped without one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_type_hints

import numpy as np
import pytest

from memcli.errors import ExitStatus, InputError, MemcliError, ModelError, NotFound, StoreError
from memcli.records import (
    MEMORY_FIELDS,
    STORE_FIELDS,
    UPDATABLE,
    ChatSession,
    Entity,
    Filters,
    HistoryEntry,
    MemoryRecord,
    NewMemory,
    NewRow,
    Patch,
    ProfileEntry,
    Relation,
    new_id,
)
from memcli.store import open_store
from memcli.store.base import Capabilities, Store

BACKENDS = ["sqlite", "postgresql"]
DIM = 8
MODEL = "contract-model"
T0 = "2024-01-01T00:00:00Z"


def open_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if name == "sqlite":
        return open_store(tmp_path / "contract.db")
    if name == "postgresql":  # a real server (tests/conftest.py), a fresh database per test
        return open_store(request.getfixturevalue("pg_url"))
    raise AssertionError(f"no fixture opens the {name} backend")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = open_backend(request.param, request, tmp_path)
    yield opened
    opened.close()


def new_row(
    text: str, user: str = "ann", *, history: list[HistoryEntry] | None = None, **fields: Any
) -> NewRow:
    """A row as the core would store it; `fields` override the defaults."""
    values: dict[str, Any] = {
        "id": "",
        "text": text,
        "kind": "episodic",
        "user": user,
        "tags": [],
        "importance": 3,
        "created_at": T0,
        "occurred_at": T0,
        "updated_at": None,
        "expires_at": None,
        "source": None,
        "doc_id": None,
        "chunk": None,
        "meta": {},
        "content_hash": f"hash of {text}",
        "embed_model": None,
        "embed_dim": None,
    }
    values.update(fields)
    return NewRow(MemoryRecord(**values), history or [])


def unit(*weights: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(weights)] = weights
    return vector / np.linalg.norm(vector)


def add(store: Store, *rows: NewRow, vectors: list[np.ndarray] | None = None) -> list[str]:
    if vectors is None:
        vectors = [unit(*([0.0] * (i % DIM)), 1.0) for i in range(len(rows))]
    return [memory_id for memory_id, _ in store.insert(rows, np.asarray(vectors, dtype=np.float32), MODEL)]


EVERY = Filters(user=None, include_expired=True, include_assistant=True)


# -- one definition of a memory's fields ------------------------------------------------


def test_new_memory_takes_every_field_of_a_record_the_caller_sets() -> None:
    given = [f.name for f in dataclasses.fields(NewMemory) if f.name != "history"]
    assert sorted(given) == sorted(set(MEMORY_FIELDS) - set(STORE_FIELDS))
    new_types = get_type_hints(NewMemory)
    record_types = get_type_hints(MemoryRecord)
    for name in given:  # the same type, or optional where the core fills it in
        assert new_types[name] in (record_types[name], record_types[name] | None), name


def test_a_patch_names_record_fields_with_their_types() -> None:
    assert UPDATABLE <= set(MEMORY_FIELDS)
    record_types = get_type_hints(MemoryRecord)
    for name, kind in get_type_hints(Patch).items():
        assert kind == record_types[name], name


# -- writing and reading one memory -----------------------------------------------------


def test_insert_then_get_gives_back_every_field(store: Store) -> None:
    row = new_row(
        "The spare key is under the blue pot",
        tags=["home", "keys"],
        importance=4,
        occurred_at="2023-12-24T18:00:00Z",
        expires_at="2999-01-01T00:00:00Z",
        source="note",
        meta={"where": "porch", "n": [1, 2]},
        sources=["abcd2345"],
        recalled=2,
        role="user",
    )
    [(memory_id, status)] = store.insert([row], np.asarray([unit(1.0)]), MODEL)
    assert status == "added" and len(memory_id) == 8
    got = store.get(memory_id)
    expected = dataclasses.replace(row.record, id=memory_id, embed_model=MODEL, embed_dim=DIM)
    assert got == expected
    assert store.get(memory_id[:5]) == got  # a unique prefix
    assert store.get_many([memory_id, "zzzzzzzz"]) == {memory_id: got}
    assert store.id_exists(memory_id) and not store.id_exists("zzzzzzzz")
    assert store.embedding_space() == (MODEL, DIM)


def test_another_users_memory_is_not_found(store: Store) -> None:
    [memory_id] = add(store, new_row("a private note", user="ann"))
    assert store.resolve_id(memory_id, "ann") == memory_id
    with pytest.raises(NotFound):
        store.get(memory_id, "bob")
    with pytest.raises(NotFound):
        store.get("zzzzzzzz")


def test_the_same_text_is_stored_once_per_user_and_kind(store: Store) -> None:
    [first] = add(store, new_row("tea at five"))
    outcomes = store.insert(
        [new_row("tea at five"), new_row("tea at five", kind="semantic"), new_row("tea at five", user="bob")],
        np.asarray([unit(1.0)] * 3),
        MODEL,
    )
    assert outcomes[0] == (first, "exists")
    assert [status for _, status in outcomes[1:]] == ["added", "added"]
    assert store.existing_hashes("ann", "episodic", ["hash of tea at five", "nope"]) == {
        "hash of tea at five": first
    }


def test_a_preset_id_is_kept_and_not_taken_twice(store: Store) -> None:
    [kept] = add(store, new_row("imported", id="abcd2345"))
    assert kept == "abcd2345"
    [(again, status)] = store.insert([new_row("other text", id="abcd2345")], np.asarray([unit(1.0)]), MODEL)
    assert (again, status) == ("abcd2345", "exists") and store.get(kept).text == "imported"


def test_update_text_keeps_the_old_text_in_history(store: Store) -> None:
    [memory_id] = add(store, new_row("the meeting is on Monday"))
    store.update_text(memory_id, "the meeting is on Tuesday", "h2", unit(0.0, 1.0), MODEL)
    record, entries = store.history(memory_id)
    assert record.text == "the meeting is on Tuesday" and record.updated_at is not None
    assert [e.text for e in entries] == ["the meeting is on Monday", "the meeting is on Tuesday"]
    assert [e.current for e in entries] == [False, True]
    assert store.histories([memory_id]) == {memory_id: entries[:1]}
    np.testing.assert_allclose(store.vector_of(memory_id), unit(0.0, 1.0), atol=1e-6)
    [other] = add(store, new_row("another"))
    with pytest.raises(InputError):  # the same text twice for one user and kind
        store.update_text(other, "the meeting is on Tuesday", "h2", unit(1.0), MODEL)


def test_history_goes_in_with_a_row_and_can_be_cleared(store: Store) -> None:
    older = [
        HistoryEntry("first words", "2023-01-01T00:00:00Z"),
        HistoryEntry("second", "2023-02-01T00:00:00Z"),
    ]
    [memory_id] = add(store, new_row("now", history=older))
    store.add_history(memory_id, "merged words", "2023-03-01T00:00:00Z")
    assert [e.text for e in store.histories([memory_id])[memory_id]] == [
        "first words",
        "second",
        "merged words",
    ]
    store.clear_history(memory_id)
    assert store.histories([memory_id]) == {}
    assert store.get(memory_id).text == "now"


def test_patch_changes_only_what_it_names(store: Store) -> None:
    [memory_id] = add(store, new_row("a fact", kind="semantic"))
    store.patch(memory_id, Patch(importance=5, sources=["abcd2345", "abcd2345", "efgh6789"], valid_to=T0))
    record = store.get(memory_id)
    assert (record.importance, record.sources, record.valid_to) == (5, ["abcd2345", "efgh6789"], T0)
    assert record.text == "a fact" and record.recalled == 0
    store.patch(memory_id, Patch(valid_to=None))
    assert store.get(memory_id).valid_to is None
    with pytest.raises(NotFound):
        store.patch("zzzzzzzz", Patch(importance=1))
    with pytest.raises(ValueError):
        store.patch(memory_id, {"text": "sneaked in"})  # type: ignore[typeddict-unknown-key]


def test_tags_are_added_once_and_filter_together(store: Store) -> None:
    a, b = add(store, new_row("one", tags=["x"]), new_row("two", tags=["x", "y"]))
    store.add_tags(a, ["y", "z", "y"])
    assert store.get(a).tags == ["x", "y", "z"]
    assert store.select_ids(Filters(user="ann", tags=["x", "y"])) == [a, b]
    assert store.select_ids(Filters(user="ann", tags=["z"])) == [a]
    assert store.select_ids(Filters(user="ann", without_tags=["z"])) == [b]


def test_tags_come_off_and_are_counted_by_use(store: Store) -> None:
    a, b, c, _ = add(
        store,
        new_row("one", tags=["x", "y"]),
        new_row("two", tags=["x"], kind="procedural"),
        new_row("gone", tags=["x", "old"], expires_at="2000-01-01T00:00:00Z"),
        new_row("hers", user="bea", tags=["x", "z"]),
    )
    assert store.tag_counts(Filters(user="ann")) == [("x", 2), ("y", 1)]  # expired: not counted
    assert store.tag_counts(Filters(user="ann", kinds=["procedural"])) == [("x", 1)]
    assert store.tag_counts(Filters(user="ann", include_expired=True)) == [("x", 3), ("old", 1), ("y", 1)]
    store.remove_tags(a, ["y", "never-there"])
    assert store.get(a).tags == ["x"]
    assert store.tag_counts(Filters(user="ann")) == [("x", 2)]
    with pytest.raises(NotFound):
        store.remove_tags("zzzzzzzz", ["x"])


def test_ids_are_offered_by_prefix_for_one_user(store: Store) -> None:
    ids = add(store, *(new_row(f"note {i}") for i in range(5)), new_row("not yours", user="bea"))
    mine, theirs = ids[:5], ids[5]
    newest = store.ids_starting("", "ann", 3)
    assert [i for i, _ in newest] == mine[::-1][:3] and newest[0][1] == "note 4"
    assert store.ids_starting(mine[2][:7], "ann", 50)[0] == (mine[2], "note 2")
    assert all(i.startswith(mine[2][:7]) for i, _ in store.ids_starting(mine[2][:7], "ann", 50))
    assert store.ids_starting(theirs, "ann", 50) == []
    assert store.ids_starting("%", "ann", 50) == [] and store.ids_starting("_", "ann", 50) == []


def test_a_memory_changes_kind(store: Store) -> None:
    (memory_id,) = add(store, new_row("Deploy with make release"))
    store.patch(memory_id, Patch(kind="procedural"))
    assert store.get(memory_id).kind == "procedural"
    assert store.select_ids(Filters(user="ann", kinds=["procedural"])) == [memory_id]


def test_delete_erases_a_memory_and_what_pointed_at_it(store: Store) -> None:
    old, new, digest, episode = add(
        store,
        new_row("lives in Lisbon", kind="semantic"),
        new_row("lives in Porto", kind="semantic"),
        new_row("a digest"),
        new_row("an episode"),
    )
    store.patch(old, Patch(valid_to=T0, superseded_by=new))
    store.patch(episode, Patch(digest_id=digest))
    assert store.delete([new, digest, new]) == 2
    assert not store.id_exists(new) and store.get_many([new]) == {}
    assert store.get(old).superseded_by is None and store.get(old).valid_to == T0
    assert store.get(episode).digest_id is None
    assert store.delete(["zzzzzzzz"]) == 0
    if store.capabilities.scrub:  # the text is overwritten where it was stored
        assert store.scrub() and not store.traces_left
    else:  # dead rows stay on disk until the database vacuums them, and the store says so
        assert store.capabilities.erasure == "vacuum" and store.traces_left
    assert store.counts()["rows"] == 2


# -- filters and listing ------------------------------------------------------------------


def test_select_applies_each_filter(store: Store) -> None:
    ids = add(
        store,
        new_row("episode early", occurred_at="2024-01-01T00:00:00Z"),
        new_row("fact", kind="semantic", occurred_at="2024-02-01T00:00:00Z"),
        new_row("expired", occurred_at="2024-03-01T00:00:00Z", expires_at="2020-01-01T00:00:00Z"),
        new_row("reply", role="assistant", occurred_at="2024-04-01T00:00:00Z"),
        new_row("bob's", user="bob", occurred_at="2024-05-01T00:00:00Z"),
        new_row("superseded", kind="semantic", valid_to=T0, occurred_at="2024-06-01T00:00:00Z"),
        new_row("unverified", kind="semantic", unverified_at=T0, occurred_at="2024-07-01T00:00:00Z"),
    )
    early, fact, expired, reply, bobs, superseded, unverified = ids

    def texts(filters: Filters, **options: Any) -> list[str]:
        return [r.text for r in store.select(filters, **options)]

    assert texts(Filters(user="ann")) == ["episode early", "fact", "superseded", "unverified"]
    assert store.select_ids(Filters(user="ann", include_expired=True, include_assistant=True)) == [
        early,
        fact,
        expired,
        reply,
        superseded,
        unverified,
    ]
    assert texts(Filters(user="ann", kinds=["semantic"], current_only=True)) == ["fact"]
    assert texts(Filters(user="ann", since="2024-02-01T00:00:00Z", until="2024-07-01T00:00:00Z")) == [
        "fact",
        "superseded",
    ]
    assert texts(Filters(user=None, expired_only=True)) == ["expired"]
    assert texts(Filters(user="bob")) == ["bob's"]
    assert texts(Filters(user="ann"), order="newest", limit=2) == ["unverified", "superseded"]
    assert texts(Filters(user="ann"), order="oldest", limit=1) == ["episode early"]
    assert [r.id for r in store.iter_records(EVERY, batch=2)] == ids
    assert store.counts()["expired"] == 1


def test_select_follows_provenance_and_consolidation_state(store: Store) -> None:
    a, b, fact, digest = add(
        store,
        new_row("episode a", consolidated_at=T0),
        new_row("episode b"),
        new_row("a fact", kind="semantic", sources=["placeholder"]),
        new_row("a digest", sources=["placeholder"]),
    )
    store.patch(fact, Patch(sources=[a], superseded_by=b))
    store.patch(digest, Patch(sources=[a, b]))
    store.patch(b, Patch(digest_id=digest, recalled=4))
    assert store.select_ids(dataclasses.replace(EVERY, derived_from=[a])) == [fact, digest]
    assert store.select_ids(dataclasses.replace(EVERY, derived_from=[b])) == [digest]
    assert store.select_ids(dataclasses.replace(EVERY, derived_from=[])) == []
    assert store.select_ids(dataclasses.replace(EVERY, superseded_by=b)) == [fact]
    assert store.select_ids(dataclasses.replace(EVERY, min_recalled=3)) == [b]
    assert store.select_ids(dataclasses.replace(EVERY, kinds=["episodic"], consolidated=True)) == [a]
    assert store.select_ids(dataclasses.replace(EVERY, kinds=["episodic"], digested=False)) == [a, digest]
    pending = dataclasses.replace(EVERY, kinds=["episodic"], pending_facts=True)
    assert store.select_ids(pending) == [b, digest]
    store.update_text(a, "episode a, edited", "h-a2", unit(1.0), MODEL)  # changed since it was consolidated
    assert store.select_ids(pending) == [a, b, digest]


def test_words_filter_needs_every_word_of_the_memorys_own_text(store: Store) -> None:
    a, _, c = add(store, new_row("the red bicycle"), new_row("a red car"), new_row("Bicycles, red ones"))
    assert store.select_ids(Filters(user="ann", words=["red", "bicycle"])) == [a, c]
    assert store.select_ids(Filters(user="ann", words=["blue"])) == []


def test_records_after_gives_the_order_stored(store: Store) -> None:
    add(store, new_row("one"), new_row("two"))
    stored = store.records_after(0, None)
    assert [r.text for _, r in stored] == ["one", "two"]
    first_seq = stored[0][0]
    assert [r.text for _, r in store.records_after(first_seq, "ann")] == ["two"]
    assert store.records_after(stored[-1][0], None) == []


def test_threads_in_chunk_order(store: Store) -> None:
    add(
        store,
        *[new_row(f"turn {i}", doc_id="chat:garden", chunk=i) for i in (2, 1, 3)],
        new_row("elsewhere", doc_id="other", chunk=1),
    )
    assert [r.text for r in store.thread("ann", "chat:garden")] == ["turn 1", "turn 2", "turn 3"]
    assert [r.text for r in store.thread("ann", "chat:garden", after_chunk=1, limit=1)] == ["turn 2"]
    assert store.next_chunk("ann", "chat:garden") == 4 and store.next_chunk("ann", "nothing") == 1


def test_chat_sessions_are_kept_restored_and_dropped_with_their_turns(store: Store) -> None:
    [turn] = add(store, new_row("hello", doc_id="chat:garden", chunk=1))
    store.save_chat_session("ann", "garden", "They said hello.", 1)
    [session] = store.chat_sessions("ann", "garden")
    assert (session.summary, session.summarized_through) == ("They said hello.", 1)
    assert store.chat_sessions("ann", "nope") == []
    kept = ChatSession("bob", "work", "", 0, "2023-01-01T00:00:00Z", "2023-01-02T00:00:00Z")
    assert store.restore_chat_session(kept) is True
    assert store.restore_chat_session(dataclasses.replace(kept, summary="other")) is False
    assert store.chat_sessions("bob") == [kept]
    assert [s.name for s in store.chat_sessions(None)] == ["garden", "work"]
    store.delete([turn])
    assert store.chat_sessions("ann") == []


def test_touch_recalled_counts(store: Store) -> None:
    [memory_id] = add(store, new_row("often asked"))
    store.touch_recalled([memory_id], "2024-05-05T00:00:00Z")
    store.touch_recalled([memory_id], "2024-05-06T00:00:00Z")
    record = store.get(memory_id)
    assert (record.recalled, record.last_recalled_at) == (2, "2024-05-06T00:00:00Z")


# -- search: higher is better ---------------------------------------------------------


def test_full_text_scores_are_higher_is_better_and_filtered(store: Store) -> None:
    ids = add(
        store,
        new_row("otters otters otters swim"),
        new_row("an otter was seen once among many other animals of the river"),
        new_row("otters for bob", user="bob"),
        *[new_row(f"nothing about it, note {i}") for i in range(8)],  # so that the word is rare
    )
    found = store.fts_search(["otters"], Filters(user="ann"), 10)
    assert [c.id for c in found] == ids[:2]
    assert found[0].score > found[1].score > 0
    assert found[0].seq < found[1].seq  # the order stored
    assert store.fts_search(["otters"], Filters(user="ann", kinds=["semantic"]), 10) == []
    assert len(store.fts_search(["otters"], Filters(user="ann"), 1)) == 1
    assert store.fts_search([], Filters(user="ann"), 10) == []


def test_full_text_relevance_is_absolute_from_0_to_1(store: Store) -> None:
    """A memory holding every word of the query scores high; the best of the
    memories holding only its common word scores low, not 1."""
    ids = add(
        store,
        new_row("the garden gate needs a new hinge"),
        *[new_row(f"watered the garden, note {i}") for i in range(30)],
        *[new_row(f"unrelated note {i} about the kitchen") for i in range(30)],
    )
    everything = store.fts_search(["garden", "gate", "hinge"], Filters(user="ann"), 5)
    assert everything[0].id == ids[0] and 0.6 <= everything[0].score <= 1.0
    common = store.fts_search(["garden", "lecture", "quantum"], Filters(user="ann"), 40)
    assert len(common) == 31 and all(0 <= c.score < 0.3 for c in common)
    assert store.fts_search(["lecture"], Filters(user="ann"), 5) == []
    store.delete(ids[1:])  # the counts follow the deletes
    (alone,) = store.fts_search(["garden", "gate", "hinge"], Filters(user="ann"), 5)
    assert alone.id == ids[0] and 0 < alone.score <= 1


def test_vector_scores_are_cosine_best_first(store: Store) -> None:
    ids = add(
        store,
        new_row("north"),
        new_row("north-east"),
        new_row("east"),
        new_row("bob north", user="bob"),
        vectors=[unit(1.0), unit(1.0, 1.0), unit(0.0, 1.0), unit(1.0)],
    )
    found = store.vector_search(unit(1.0), Filters(user="ann"), 3)
    assert [c.id for c in found] == ids[:3]
    assert found[0].score == pytest.approx(1.0, abs=1e-5)
    assert found[1].score == pytest.approx(2**-0.5, abs=1e-5)
    assert found[2].score == pytest.approx(0.0, abs=1e-5)
    assert [c.id for c in store.vector_search(unit(1.0), Filters(user="bob"), 3)] == [ids[3]]
    sims = store.similarities(ids[1:3], unit(1.0))
    assert sims[ids[1]] == pytest.approx(2**-0.5, abs=1e-5) and sims[ids[2]] == pytest.approx(0.0, abs=1e-5)
    facts = store.ranking_facts(ids[:1])
    assert facts == {ids[0]: (3, T0, None, None)}


def test_a_narrow_filter_never_hides_the_nearest_match(store: Store) -> None:
    rows = [new_row(f"note {i}") for i in range(60)] + [new_row("the one fact", kind="semantic")]
    vectors = [unit(1.0, 0.01 * i) for i in range(60)] + [unit(0.0, 0.0, 1.0)]
    ids = add(store, *rows, vectors=vectors)
    found = store.vector_search(unit(1.0), Filters(user="ann", kinds=["semantic"]), 1)
    assert [c.id for c in found] == [ids[-1]]


def test_reindex_swaps_every_vector(store: Store) -> None:
    ids = add(store, new_row("a"), new_row("b"))
    items = store.texts_for_reindex()
    assert items == [(ids[0], "a"), (ids[1], "b")]
    store.replace_all_vectors(
        items, np.asarray([unit(0.0, 1.0), unit(1.0)] * 1, dtype=np.float32), "new", DIM
    )
    assert store.embedding_space() == ("new", DIM)
    assert store.get(ids[0]).embed_model == "new"
    assert [c.id for c in store.vector_search(unit(1.0), Filters(user="ann"), 1)] == [ids[1]]
    with pytest.raises(ModelError):
        store.check_embedding_space(MODEL, DIM)


# -- transactions, counts, capabilities, errors -----------------------------------------


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    [kept] = add(store, new_row("kept"))
    with pytest.raises(RuntimeError), store.transaction():
        add(store, new_row("lost"))
        store.patch(kept, Patch(importance=5))
        with store.transaction():  # nested: part of the outer one
            store.delete([kept])
        raise RuntimeError("abort")
    assert [r.text for r in store.select(EVERY)] == ["kept"]
    assert store.get(kept).importance == 3
    with store.transaction():
        add(store, new_row("stored"))
    assert store.counts()["rows"] == 2


def test_counts_and_groups(store: Store) -> None:
    add(
        store,
        new_row("a"),
        new_row("b", kind="semantic"),
        new_row("c", user="bob", history=[HistoryEntry("c0", T0)]),
    )
    counts = store.counts()
    assert {
        key: counts[key] for key in ("rows", "full_text", "vectors", "vector_index", "history", "expired")
    } == {
        "rows": 3,
        "full_text": 3,
        "vectors": 3,
        "vector_index": 3,
        "history": 1,
        "expired": 0,
    }
    assert store.group_counts("kind") == {"episodic": 2, "semantic": 1}
    assert store.group_counts("user") == {"ann": 2, "bob": 1}
    assert store.integrity_problems() == [] and all(not found for found in store.health().values())
    assert store.size() > 0


def test_capabilities_are_declared(store: Store) -> None:
    capabilities = store.capabilities
    assert isinstance(capabilities, Capabilities)
    assert capabilities.erasure in ("overwrites", "vacuum")
    assert capabilities.encrypted is False
    assert isinstance(capabilities.scrub, bool) and capabilities.vector_index


def test_settings_and_snapshots(store: Store) -> None:
    [memory_id] = add(store, new_row("original"))
    store.set_setting("watermark", "7")
    assert store.setting("watermark") == "7" and store.setting("nope") is None
    copy = store.snapshot()
    try:
        copy.delete([memory_id])
        copy.set_setting("watermark", "8")
        assert not copy.id_exists(memory_id)
    finally:
        copy.close()
    assert store.id_exists(memory_id) and store.setting("watermark") == "7"


def test_errors_are_memclis_own(store: Store) -> None:
    with pytest.raises(NotFound):
        store.history("zzzzzzzz")
    store.close()
    with pytest.raises(StoreError) as caught:  # not the driver's exception
        store.counts()
    assert isinstance(caught.value, MemcliError) and caught.value.exit_status == ExitStatus.DATABASE


def test_a_server_that_cannot_be_reached_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot connect to postgresql://memcli:\\*\\*\\*@") as caught:
        open_store(f"postgresql://memcli:secret@/memories?host={tmp_path}")
    assert caught.value.exit_status == ExitStatus.DATABASE and "secret" not in str(caught.value)


def test_places_say_where_each_memory_stands(store: Store) -> None:
    ids = add(
        store,
        new_row("turn 1", doc_id="chat:garden", chunk=1),
        new_row("a loose note", occurred_at="2024-05-01T10:00:00Z"),
    )
    assert store.places([*ids, "nosuchid"]) == {
        ids[0]: ("chat:garden", 1, T0),
        ids[1]: (None, None, "2024-05-01T10:00:00Z"),
    }
    assert store.places([]) == {}


def test_neighbours_are_within_the_span_the_hour_the_thread_and_the_filters(store: Store) -> None:
    ids = add(
        store,
        *[new_row(f"turn {i}", doc_id="chat", chunk=i) for i in range(1, 7)],
        new_row("other thread", doc_id="other", chunk=2),
        new_row("loose a", occurred_at="2024-05-01T10:00:00Z"),
        new_row("loose b, same sitting", occurred_at="2024-05-01T10:30:00Z"),
        new_row("loose c, next day", occurred_at="2024-05-02T10:30:00Z"),
        new_row("loose d, same sitting, a fact", occurred_at="2024-05-01T10:40:00Z", kind="semantic"),
        new_row("bob's note", "bob", occurred_at="2024-05-01T10:05:00Z"),
    )
    turns, other, loose, bobs = ids[:6], ids[6], ids[7:11], ids[11]
    ann = Filters(user="ann")
    assert set(store.neighbours([turns[2]], ann, 2, 3600)) == set(turns[:5])  # turns 1-5 around turn 3
    assert set(store.neighbours([loose[0]], ann, 2, 3600)) == {loose[0], loose[1]}  # d is three away
    assert set(store.neighbours([loose[1]], ann, 2, 3600)) == {loose[0], loose[1], loose[3]}
    assert set(store.neighbours([loose[1]], Filters(user="ann", kinds=["episodic"]), 2, 3600)) == set(
        loose[:2]
    )
    assert other not in store.neighbours(turns, ann, 2, 3600) and bobs not in store.neighbours(
        loose, EVERY, 2, 3600
    )
    seqs = store.neighbours([turns[0]], ann, 1, 3600)  # id -> seq, the order stored
    assert set(seqs) == set(turns[:2]) and seqs[turns[0]] < seqs[turns[1]]
    assert store.neighbours([], ann, 2, 3600) == {}


# -- entities, relations, the profile ---------------------------------------------------


def entity(name: str, kind: str = "person", user: str = "ann", **fields: Any) -> Entity:
    return Entity(id=new_id(), user=user, name=name, kind=kind, created_at=T0, updated_at=T0, **fields)


def test_entities_keep_their_names_and_count_the_memories_that_mention_them(store: Store) -> None:
    ana = entity("Ana", aliases=["Ana Silva", "my sister"])
    porto = entity("Porto", "place")
    store.put_entity(ana)
    store.put_entity(porto)
    store.put_entity(entity("Bob", user="bob"))
    a, b, c = add(store, new_row("Ana moved to Porto"), new_row("Ana likes orchids"), new_row("Rain all day"))
    assert store.link([(a, ana.id), (a, porto.id), (b, ana.id), (b, ana.id), ("zzzzzzzz", ana.id)]) == 3
    assert store.link([(a, ana.id)]) == 0  # already known

    listed = {e.name: e for e in store.entities("ann")}
    assert set(listed) == {"Ana", "Porto"}
    assert listed["Ana"].aliases == ["Ana Silva", "my sister"] and listed["Ana"].memories == 2
    assert listed["Porto"].memories == 1 and listed["Porto"].kind == "place"
    assert [e.name for e in store.entities(None)] == ["Ana", "Porto", "Bob"]
    assert [e.name for e in store.entities("ann", [porto.id, "zzzzzzzz"])] == ["Porto"]
    assert sorted(store.links(memory_ids=[a])) == sorted([(a, ana.id), (a, porto.id)])
    assert store.links(entity_ids=[ana.id]) == [(a, ana.id), (b, ana.id)]

    # the memories about an entity, as a filter
    about = dataclasses.replace(EVERY, about=[ana.id])
    assert store.select_ids(about) == [a, b]
    assert store.select_ids(dataclasses.replace(EVERY, about=[ana.id, porto.id])) == [a]
    assert c not in store.select_ids(about)

    renamed = dataclasses.replace(
        listed["Ana"], name="Ana S.", pinned=["Ana S."], updated_at="2024-02-01T00:00:00Z"
    )
    store.put_entity(renamed)
    [got] = store.entities("ann", [ana.id])
    assert (got.name, got.pinned, got.updated_at, got.created_at) == (
        "Ana S.",
        ["Ana S."],
        "2024-02-01T00:00:00Z",
        T0,
    )

    assert store.unlink([(b, ana.id)]) == 1
    store.delete([a])  # a forgotten memory mentions nothing any more
    assert store.links(entity_ids=[ana.id, porto.id]) == []
    assert {e.name: e.memories for e in store.entities("ann")} == {"Ana S.": 0, "Porto": 0}


def test_relations_are_dated_edges_that_go_with_their_entities(store: Store) -> None:
    ana, lisbon, porto = entity("Ana"), entity("Lisbon", "place"), entity("Porto", "place")
    for e in (ana, lisbon, porto):
        store.put_entity(e)
    [note] = add(store, new_row("Ana moved to Porto"))
    old = Relation(new_id(), "ann", ana.id, "lives in", lisbon.id, "2020-01-01T00:00:00Z", created_at=T0)
    new = Relation(new_id(), "ann", ana.id, "lives in", porto.id, "2024-03-01T00:00:00Z", sources=[note])
    store.put_relation(old)
    store.put_relation(new)
    store.put_relation(dataclasses.replace(old, valid_to=new.valid_from, superseded_by=new.id))
    got = store.relations("ann")
    assert [(r.object, r.valid_to, r.superseded_by) for r in got] == [
        (lisbon.id, new.valid_from, new.id),
        (porto.id, None, None),
    ]
    assert got[1].sources == [note] and got[1].created_at == new.valid_from and got[0].created_at == T0
    assert [r.id for r in store.relations("ann", [porto.id])] == [new.id]
    assert store.relations("bob") == []

    assert store.delete_entities([porto.id]) == 1  # its relations go with it
    assert [r.id for r in store.relations("ann")] == [old.id]
    assert store.delete_relations([old.id]) == 1 and store.relations(None) == []
    assert [e.name for e in store.entities("ann")] == ["Ana", "Lisbon"]


def test_profile_entries_keep_every_value_a_field_had(store: Store) -> None:
    first = ProfileEntry(
        new_id(), "ann", "home", "Lisbon", "derived", "2020-01-01T00:00:00Z", sources=["abcd2345"]
    )
    now = ProfileEntry(new_id(), "ann", "home", "Porto", "set", "2024-03-01T00:00:00Z")
    name = ProfileEntry(new_id(), "ann", "name", "Ann", "set", "2024-01-01T00:00:00Z")
    for e in (now, name, first):
        store.put_profile_entry(e)
    store.put_profile_entry(dataclasses.replace(first, valid_to=now.set_at))
    store.put_profile_entry(ProfileEntry(new_id(), "bob", "home", "Oslo", "set", T0))
    got = store.profile_entries("ann")
    assert [(e.field, e.value, e.valid_to) for e in got] == [
        ("home", "Lisbon", now.set_at),
        ("home", "Porto", None),
        ("name", "Ann", None),
    ]
    assert got[0].sources == ["abcd2345"] and got[0].origin == "derived" and got[1].current
    assert len(store.profile_entries(None)) == 4
    assert store.delete_profile_entries([first.id, "zzzzzzzz"]) == 1
    assert [e.value for e in store.profile_entries("ann")] == ["Porto", "Ann"]
