"""A store on a real PostgreSQL server (pgserver): roles kept apart by row-level security,
moving a memory between backends, the locks, and the vector index."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from test_cli import js, mem
from test_export import assert_same, build, open_memory

from memcli.errors import Busy, ExitStatus, StoreError
from memcli.mcp import Server
from memcli.memory import Memory
from memcli.models import registry
from memcli.models.embed import FakeEmbedder
from memcli.records import Filters, MemoryRecord, NewMemory, NewRow
from memcli.store import open_store
from memcli.store.postgres import HNSW_MIN_ROWS, PostgresStore


@pytest.fixture(autouse=True)
def _fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mem` run in-process embeds with the fake model, as the Memory objects here do."""
    monkeypatch.setenv("MEMCLI_EMBED_MODEL", "fake")
    monkeypatch.setitem(registry._loaded, "fake", FakeEmbedder())


@pytest.fixture
def shared(pg_server) -> dict[str, str]:
    """One database set up by its owner (`mem server init`), alice and bob granted."""
    name = pg_server.new_database()
    urls = {role: pg_server.url(role, name) for role in ("memcli", "alice", "bob")}
    done = js("server", "init", "--db", urls["memcli"], "--grant", "alice", "--grant", "bob")
    assert done["owner"] == "memcli" and done["granted"] == ["alice", "bob"] and done["problems"] == []
    return urls


# -- row-level security: on a shared server, no one reads another's memories --------------


def test_each_role_sees_only_its_own_memories_through_every_command(shared: dict[str, str]) -> None:
    alice, bob = shared["alice"], shared["bob"]
    bobs = js("remember", "--db", bob, "--user", "bob", "Bob's bank PIN is 4417", "--tag", "secret")
    bob_id = bobs["results"][0]["id"]
    js("remember", "--db", bob, "--user", "alice", "Bob wrote this under the name alice")
    mine = js("remember", "--db", alice, "--user", "alice", "Alice parks on level 3", "--tag", "secret")
    alice_id = mine["results"][0]["id"]

    for user in ("alice", "bob"):  # whatever --user alice asks for, bob's rows stay his
        found = js("recall", "--db", alice, "--user", user, "bank PIN name alice", "-k", "10")
        assert {r["id"] for r in found["results"]} <= {alice_id}
        listed = js("list", "--db", alice, "--user", user, "--tag", "secret")
        assert {r["id"] for r in listed["results"]} <= {alice_id}
    mem("show", "--db", alice, "--user", "bob", bob_id, code=ExitStatus.NOT_FOUND)
    mem("history", "--db", alice, bob_id, code=ExitStatus.NOT_FOUND)
    mem("edit", "--db", alice, "--user", "bob", bob_id, "PIN changed", code=ExitStatus.NOT_FOUND)
    mem("forget", "--db", alice, "--user", "bob", bob_id, code=ExitStatus.NOT_FOUND)
    assert js("forget", "--db", alice, "--user", "bob", "--all", "--yes")["forgotten"] == 0
    exported = mem("export", "--db", alice, "--all-users").stdout
    assert "4417" not in exported and "under the name alice" not in exported and "level 3" in exported
    stats = js("stats", "--db", alice)
    assert stats["memories"] == 1 and stats["by_user"] == {"alice": 1}

    # bob's memories are all there, unchanged
    assert js("show", "--db", bob, "--user", "bob", bob_id)["text"] == "Bob's bank PIN is 4417"
    assert js("stats", "--db", bob)["memories"] == 2


def test_mcp_tools_see_only_the_roles_own_memories(shared: dict[str, str]) -> None:
    with Memory(shared["bob"], embedder=FakeEmbedder(), user="tester") as bob:
        [theirs] = bob.remember([NewMemory("Bob's private diary entry")])
    server = Server(lambda: Memory(shared["alice"], embedder=FakeEmbedder(), user="tester"))
    try:

        def call(tool: str, **arguments: object) -> dict:
            message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
            response = server.handle(message | {"params": {"name": tool, "arguments": arguments}})
            return response["result"]

        assert call("recall", query="private diary entry")["structuredContent"]["results"] == []
        assert call("list_memories")["structuredContent"]["results"] == []
        gone = call("forget", ids=[theirs.id])
        assert gone["isError"] is True and "no memory" in gone["content"][0]["text"]
        assert call("remember", text="Alice's own note")["isError"] is False
    finally:
        server.close()
    with Memory(shared["bob"], embedder=FakeEmbedder(), user="tester") as bob:
        assert bob.get(theirs.id).text == "Bob's private diary entry"
        assert [r.text for r in bob.list()] == ["Bob's private diary entry"]


def test_sql_cannot_reach_or_hand_over_rows_either(shared: dict[str, str], pg_server) -> None:
    js("remember", "--db", shared["bob"], "Bob's note")
    with psycopg.connect(shared["alice"], autocommit=True) as conn:
        conn.execute("SET search_path = memcli, public")
        assert conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)
        assert conn.execute("UPDATE memories SET text = 'mine now'").rowcount == 0
        assert conn.execute("DELETE FROM memory_history").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a row given to bob is refused
            conn.execute("INSERT INTO settings (owner, key, value) VALUES ('bob', 'k', 'v')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the schema is the owner's
            conn.execute("DROP TABLE memories")
    assert [r["text"] for r in js("list", "--db", shared["bob"])["results"]] == ["Bob's note"]


def test_a_role_not_granted_is_refused_in_one_line(pg_server) -> None:
    name = pg_server.new_database()
    js("server", "init", "--db", pg_server.url("memcli", name))
    done = mem("list", "--db", pg_server.url("alice", name), code=ExitStatus.DATABASE)
    [line] = done.stderr.splitlines()
    assert "permission denied" in line and "mem server grant" in line


def test_a_superuser_is_warned_that_it_sees_everything(pg_server) -> None:
    url = pg_server.url("postgres", pg_server.new_database())
    done = mem("server", "init", "--db", url)
    assert "superuser" in done.stderr
    report = json.loads(mem("doctor", "--db", url, "--no-load", "--json", code=ExitStatus.DATABASE).stdout)
    [rls] = [c for c in report["checks"] if c["name"] == "row-level security"]
    assert not rls["ok"] and "every role's memories" in rls["detail"]


def test_doctor_and_init_say_when_searches_by_words_cannot_use_their_index(pg_server) -> None:
    name = pg_server.new_database()
    with pg_server.admin(name) as conn:  # as PostgreSQL ships it
        conn.execute("ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) NOT LEAKPROOF")
    url = pg_server.url("memcli", name)
    done = mem("server", "init", "--db", url)
    assert "LEAKPROOF" in done.stderr
    report = json.loads(mem("doctor", "--db", url, "--no-load", "--json", code=None).stdout)
    [check] = [c for c in report["checks"] if c["name"] == "text search"]
    assert not check["ok"] and "ts_match_vq" in check["fix"]
    assert js("server", "init", "--db", pg_server.url("postgres", name))["text_search_indexed"] is True
    report = json.loads(mem("doctor", "--db", url, "--no-load", "--json", code=None).stdout)
    assert all(c["ok"] for c in report["checks"] if c["area"] in ("postgresql", "database")), report


def test_the_setup_sql_gives_the_same_schema(pg_server) -> None:
    name = pg_server.new_database()
    script = mem("server", "sql", "--grant", "alice").stdout
    with psycopg.connect(pg_server.url("memcli", name), autocommit=True) as conn:
        conn.execute(script)
    alice = pg_server.url("alice", name)
    js("remember", "--db", alice, "a note through the shipped SQL")
    assert [r["text"] for r in js("list", "--db", alice)["results"]] == ["a note through the shipped SQL"]
    store = open_store(alice, create=False)
    try:
        assert store.integrity_problems() == []
    finally:
        store.close()


# -- moving a memory between backends ------------------------------------------------------


def test_export_and_import_move_a_memory_between_backends_losslessly(pg_url: str, tmp_path: Path) -> None:
    origin = tmp_path / "origin.db"
    with open_memory(origin) as original:
        build(original)
    backup = mem("export", "--db", origin, "--all-users").stdout
    report = js("import", "--db", pg_url, "-", input=backup)
    assert report["skipped"] == 0 and report["sessions_added"] == 2
    with open_memory(origin) as original, Memory(pg_url, embedder=FakeEmbedder(), user="tester") as server:
        assert_same(original, server)
    assert mem("export", "--db", pg_url, "--all-users").stdout == backup
    back = tmp_path / "back.db"
    js("import", "--db", back, "-", input=mem("export", "--db", pg_url, "--all-users").stdout)
    with open_memory(origin) as original, open_memory(back) as returned:
        assert_same(original, returned)
    again = js("import", "--db", pg_url, "-", input=backup)  # importing twice changes nothing
    assert again["added"] == 0 and again["sessions_added"] == 0


# -- consolidation's lock, the order of storing, the vector index ------------------------------


def test_one_consolidation_per_role_at_a_time(shared: dict[str, str]) -> None:
    first, second, other = (open_store(shared[r]) for r in ("alice", "alice", "bob"))
    try:
        with first.exclusive("consolidate"):
            with pytest.raises(Busy, match="another mem consolidate is running"):
                with second.exclusive("consolidate"):
                    pass
            with other.exclusive("consolidate"):  # bob's memories are his own to consolidate
                pass
        with second.exclusive("consolidate"):  # freed
            pass
    finally:
        for store in (first, second, other):
            store.close()


def _row(text: str) -> NewRow:
    return NewRow(
        MemoryRecord(
            id="",
            text=text,
            kind="episodic",
            user="ann",
            tags=[],
            importance=3,
            created_at="2024-01-01T00:00:00Z",
            occurred_at="2024-01-01T00:00:00Z",
            updated_at=None,
            expires_at=None,
            source=None,
            doc_id=None,
            chunk=None,
            meta={},
            content_hash=f"hash of {text}",
            embed_model=None,
            embed_dim=None,
        )
    )


def test_inserts_commit_in_the_order_of_seq(pg_url: str) -> None:
    """A reader that has seen seq N never later finds a new row below N (the merge watermark)."""
    slow, fast, reader = (PostgresStore(pg_url) for _ in range(3))
    vector = np.ones((1, 4), dtype=np.float32) / 2
    try:
        done: list[str] = []
        with slow.transaction():
            slow.insert([_row("slow")], vector, "m")
            worker = threading.Thread(
                target=lambda: done.append(fast.insert([_row("fast")], vector, "m")[0][0])
            )
            worker.start()
            time.sleep(0.3)
            assert not done  # the second insert waits for the first to commit
            assert reader.records_after(0, None) == []
        worker.join(10)
        seen = [(seq, r.text) for seq, r in reader.records_after(0, None)]
        assert [text for _, text in seen] == ["slow", "fast"] and seen[0][0] < seen[1][0]
    finally:
        for store in (slow, fast, reader):
            store.close()


def test_the_hnsw_index_gives_the_exact_answers_and_never_hides_a_filtered_match(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)  # more than the index walks
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = [_row(f"note {i}") for i in range(1999)]
    rare = _row("the only semantic one")
    rare.record.kind = "semantic"
    try:
        ids = [i for i, _ in store.insert([*rows, rare], vectors, "m")]
        assert store.capabilities.vector_index == "exact scan (pgvector)"  # small: no index yet
        assert len(ids) < HNSW_MIN_ROWS and store.build_vector_index() is False
        exact = [[c.id for c in store.vector_search(q, Filters(user="ann"), 10)] for q in vectors[:20]]
        assert store.build_vector_index(force=True) is True
        assert store.capabilities.vector_index.startswith("HNSW")
        indexed = [[c.id for c in store.vector_search(q, Filters(user="ann"), 10)] for q in vectors[:20]]
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, indexed)])
        assert overlap >= 0.95
        # a filter that leaves one row: the index's candidates miss it, the exact scan does
        # not, however many times the query has run (psycopg prepares it after five runs,
        # and the server may keep one plan for it then)
        for q in vectors[:16]:
            found = store.vector_search(q, Filters(user="ann", kinds=["semantic"]), 1)
            assert [c.id for c in found] == [ids[-1]]
    finally:
        store.close()


def test_a_database_without_the_schema_says_what_to_run(pg_server) -> None:
    url = pg_server.url("alice", pg_server.new_database(owner="memcli"))
    with pytest.raises(StoreError, match="mem server init"):
        open_store(url)


def test_ask_answers_from_the_roles_own_memories_only(
    shared: dict[str, str], real_embedder, real_generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCLI_EMBED_MODEL", real_embedder.name)  # ask weighs real similarities
    js("remember", "--db", shared["bob"], "--user", "alice", "Bob's bank PIN is 4417")
    js("remember", "--db", shared["alice"], "--user", "alice", "My bike lock code is 2290")
    theirs = js("ask", "--db", shared["alice"], "--user", "alice", "What is Bob's bank PIN?")
    assert "4417" not in json.dumps(theirs)
    mine = js("ask", "--db", shared["alice"], "--user", "alice", "What is my bike lock code?")
    assert "2290" in mine["answer"], mine


def test_entities_relations_and_profile_are_the_roles_own(shared: dict[str, str]) -> None:
    from test_entities import consolidate

    with Memory(shared["bob"], embedder=FakeEmbedder(), user="tester") as bob:
        bob.remember([NewMemory("My sister Ana lives in Porto")])
        consolidate(bob)
        assert {e.name for e in bob.store.entities("tester")} == {"Ana", "Porto", "me"}
    with Memory(shared["alice"], embedder=FakeEmbedder(), user="tester") as alice:
        store = alice.store
        assert (
            store.entities(None) == [] and store.relations(None) == [] and store.profile_entries(None) == []
        )
    mem("about", "--db", shared["alice"], "--user", "tester", "Ana", code=ExitStatus.NOT_FOUND)
    with psycopg.connect(shared["alice"], autocommit=True) as conn:
        conn.execute("SET search_path = memcli, public")
        for table in ("entities", "entity_mentions", "relations", "profile"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
            assert conn.execute(f"DELETE FROM {table}").rowcount == 0, table
    with Memory(shared["bob"], embedder=FakeEmbedder(), user="tester") as bob:
        assert len(bob.store.relations("tester")) == 2
