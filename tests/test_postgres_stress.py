"""One PostgreSQL server, many machines: concurrent clients beside `mem consolidate`, killed imports.

The PostgreSQL versions of tests/test_reliability.py's concurrency and crash
tests (bench/stress.py --backend postgresql runs them at scale). `mem` runs as
real processes, each client with a MEMCLI_HOME of its own (as separate machines
would have), all against one database of the session's pgserver, with the real
embedding model. Every random choice is seeded.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import INSTALLED_MODELS_DIR, PgServer

from memcli.store import open_store

MEM = Path(sys.executable).with_name("mem")
CLIENTS = 8
TOPICS = ["rent", "tea", "bikes", "jazz", "garden", "taxes", "flights", "dentist", "Ana", "Porto"]
# Notes two clients each wrote, one with a full stop (0.97-0.99 alike, consolidate.SAME is
# 0.95, the same names and numbers; under 0.45 alike across pairs): consolidation merges
# each pair into one.
NOTES = [
    "My passport is in the top drawer of the oak desk",
    "The spare bike key hangs on the hook by the front door",
    "Ana's birthday is on the third of March",
    "The dentist appointment is on Tuesday at nine",
    "We keep the garden hose in the shed behind the house",
    "The wifi password is written on the back of the router",
    "My tax papers are in the blue folder on the shelf",
    "Rui prefers green tea without sugar in the morning",
]
PAIRS = [(note, note + ".") for note in NOTES]


@pytest.fixture(autouse=True)
def _model(real_embedder):
    """`mem` uses the real embedding model (converted once per session into the shared models dir)."""


@pytest.fixture
def beside(shared_models_dir: Path) -> str:
    """What runs beside the clients: `mem consolidate` with the generation model when the
    set-up installed it (linked into the shared models dir, not loaded here), else `mem reindex`."""
    from memcli.models import catalog

    spec = catalog.get(catalog.DEFAULT_GENERATE_MODEL)
    source = catalog.model_path(spec, INSTALLED_MODELS_DIR)
    if not source.is_file():
        return "reindex"
    for path in (source, catalog.checksum_path(source)):
        link = shared_models_dir / path.name
        if path.exists() and not link.exists():
            link.symlink_to(path)
    return "consolidate"


@pytest.fixture
def server_url(pg_server: PgServer) -> str:
    """A fresh database on the session's server, as the ordinary role that owns its tables."""
    return pg_server.url("memcli", pg_server.new_database())


def run(
    *args, input: bytes = b"", home: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """The installed `mem` as its own process; `home`: that machine's MEMCLI_HOME."""
    env = dict(os.environ, **({"MEMCLI_HOME": str(home)} if home else {}))
    return subprocess.run(
        [str(MEM), *map(str, args)], input=input, capture_output=True, timeout=timeout, env=env
    )


def jsonl(texts: list[str], **extra) -> bytes:
    return "".join(json.dumps({"text": t, **extra}) + "\n" for t in texts).encode()


def exported(url: str, home: Path) -> list[dict]:
    done = run("export", "--db", url, "--all-users", home=home)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def health(url: str) -> tuple[dict[str, int], list[str]]:
    store = open_store(url, create=False)
    try:
        return store.counts(), store.integrity_problems()
    finally:
        store.close()


def assert_clean(done: subprocess.CompletedProcess) -> None:
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 0, (done.args, err)
    assert "Traceback" not in err and "Error" not in err, (done.args, err)


# -- concurrency ----------------------------------------------------------------------


def test_eight_clients_and_consolidate_lose_nothing_and_store_nothing_twice(
    server_url: str, tmp_path: Path, beside: str
) -> None:
    """8 clients, each its own MEMCLI_HOME, write at once (a JSON-lines batch with lines
    every client sends, then single notes) while `mem consolidate` runs beside them in a
    loop: every text is there exactly once (less what consolidate says it merged), and
    each pair of near-duplicates two clients wrote ends as one (no write slipped in
    behind the consolidation's watermark: rows commit in seq order)."""
    url = server_url
    homes = [tmp_path / f"machine-{n}" for n in range(CLIENTS)]
    seed = [f"seed note {i} about {TOPICS[i % len(TOPICS)]}, number {i * 37}" for i in range(20)]
    assert_clean(run("remember", "--db", url, "--jsonl", input=jsonl(seed), home=tmp_path / "seeder"))
    shared = [f"shared note {i}: every client stores this exact text" for i in range(5)]
    plans = []
    for n in range(CLIENTS):
        own = [
            f"client {n} note {i}: the {TOPICS[(n + i) % len(TOPICS)]} bill was {n * 100 + i} euros"
            for i in range(13)
        ] + [PAIRS[n][0], PAIRS[(n + 1) % CLIENTS][1]]
        plans.append((own, [f"client {n} single {i}: call {TOPICS[i]} at {n}:{i}0" for i in range(2)]))
    expected = set(seed) | set(shared) | {t for bulk, singles in plans for t in bulk + singles}
    outcomes: list[subprocess.CompletedProcess] = []
    lock = threading.Lock()

    def client(home: Path, bulk: list[str], singles: list[str]) -> None:
        done = [run("remember", "--db", url, "--jsonl", input=jsonl(bulk + shared), home=home)]
        done += [run("remember", "--db", url, text, home=home) for text in singles]
        with lock:
            outcomes.extend(done)

    threads = [threading.Thread(target=client, args=(h, *p)) for h, p in zip(homes, plans)]
    for t in threads:
        t.start()
    side_runs: list[subprocess.CompletedProcess] = []
    merged: set[str] = set()
    side_home = tmp_path / "consolidating-machine"

    def side_job() -> subprocess.CompletedProcess:
        if beside != "consolidate":
            return run("reindex", "--db", url, home=side_home)
        done = run("consolidate", "--db", url, "--all-users", "--limit", "2", "--json", home=side_home)
        if done.returncode == 0:
            for change in json.loads(done.stdout).get("changes", []):
                if change.get("action") in ("MERGE", "EXPIRE"):
                    merged.add(change.get("text", ""))
        return done

    while any(t.is_alive() for t in threads) or not side_runs:
        side_runs.append(side_job())
    for t in threads:
        t.join()
    side_runs.append(side_job())  # one more after the last write: it merges what came last
    assert len(outcomes) == CLIENTS * 3 and side_runs
    for done in [*outcomes, *side_runs]:
        assert_clean(done)
    rows = [r for r in exported(url, tmp_path / "reader") if r["type"] == "memory"]
    episodes = [r["text"] for r in rows if r["kind"] == "episodic"]
    assert not (expected - set(episodes) - merged), "lost"
    assert len(episodes) == len(set(episodes)), "duplicates"
    assert set(episodes) <= expected
    if beside == "consolidate":
        for pair in PAIRS:
            kept = [t for t in episodes if t in pair]
            assert len(kept) == 1, kept
            assert merged >= set(pair) - set(kept)
    counts, problems = health(url)
    assert problems == []
    assert counts["rows"] == counts["full_text"] == counts["vectors"] == len(rows)


# -- crash safety ---------------------------------------------------------------------


def test_killed_import_leaves_nothing_half_stored_and_a_rerun_completes_it(
    server_url: str, tmp_path: Path
) -> None:
    """SIGKILL a `mem remember --jsonl` once the server holds some of its rows, twice:
    each memory is there whole (row, tags, embedding, full text) or not at all, and
    running the import again stores every text exactly once."""
    url = server_url
    rng = random.Random(20240917)
    home = tmp_path / "machine"
    texts = [f"imported note {i}: {rng.choice(TOPICS)} {i * 31 % 97}" for i in range(320)]
    lines = "".join(
        json.dumps({"text": t, "tags": ["import", f"n{i}"], "meta": {"line": i}}) + "\n"
        for i, t in enumerate(texts)
    ).encode()
    tags_of = {t: ["import", f"n{i}"] for i, t in enumerate(texts)}
    assert_clean(run("remember", "--db", url, "kept before the crashes", "--tag", "keep", home=home))
    tags_of["kept before the crashes"] = ["keep"]
    watcher = open_store(url, create=False)
    killed_mid_import, seen = 0, 1
    try:
        for _ in range(2):
            proc = subprocess.Popen(
                [str(MEM), "remember", "--db", url, "--jsonl"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(os.environ, MEMCLI_HOME=str(home)),
            )
            assert proc.stdin is not None
            proc.stdin.write(lines)
            proc.stdin.close()
            target = seen + rng.randint(1, 60)
            while proc.poll() is None and watcher.counts()["rows"] < target:
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.1))
            killed_mid_import += proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            counts, problems = health(url)
            assert problems == [], problems
            assert counts["rows"] == counts["full_text"] == counts["vectors"], counts
            stored = exported(url, home)
            assert len(stored) == counts["rows"]
            for r in stored:  # whole: its tags and its embedding are there with it
                assert sorted(r["tags"]) == tags_of[r["text"]] and r["embed_dim"] == 384, r
            found = [r["text"] for r in stored]
            assert "kept before the crashes" in found
            assert len(found) == len(set(found)) and set(found) <= set(tags_of)
            assert len(found) >= seen
            seen = len(found)
    finally:
        watcher.close()
    assert killed_mid_import >= 1  # (on a fast machine one kill may come after the import ended)
    assert_clean(run("remember", "--db", url, "--jsonl", input=lines, home=home))
    stored = exported(url, home)
    assert sorted(r["text"] for r in stored) == sorted(tags_of)  # each exactly once
    assert all(sorted(r["tags"]) == tags_of[r["text"]] for r in stored)
    counts, problems = health(url)
    assert problems == [] and counts["rows"] == counts["full_text"] == counts["vectors"] == len(tags_of)
