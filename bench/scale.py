"""Scale: bulk import, recall latency and vector recall@10 of both backends at 100k and 1M memories.

    python bench/scale.py [--sizes 100000,1000000] [--backends sqlite,postgresql] [--keep]

For each size and each backend (SQLite; PostgreSQL + pgvector), in one run:

- bulk import throughput (memories/s) through the store contract,
  `store.insert(rows, vectors, model)` in batches of 1,000 rows made as the core
  makes them (memcli.memory.prepare_rows' fields, one memcli user). The figure is
  the store's own cost: it EXCLUDES embedding. The real model's embedding
  throughput is reported beside it (on the base set, and on 640 notes now);
- in-process `Memory.recall` p50/p95 per mode (hybrid, fts, vector) over
  --queries queries from corpus.queries(), the real model loaded and the query's
  embedding included; and the same calls with the query vector precomputed
  ("search only", the backend's part);
- recall@10 of vector search (store.vector_search, k=10, the vector mode's call)
  against exact search: numpy cosine over the very float vectors stored.

Vectors at scale. The real model embeds ~60-100 texts/s on these 2 cores, so a
million texts are out of reach; the vectors are made once and reused:

1. a base set, the first --base notes of bench/corpus.py (default 20,000), is
   embedded once with the real model (all-MiniLM-L6-v2, 384 dims, batches of 64)
   and cached as OUT/scale-base-N.texts.npy and .vectors.npy (with a .json of
   how long it took), reused by later runs;
2. a store of n memories holds corpus.notes(n): n distinct texts, the first
   --base of them the base set. Row i < base keeps its own real vector; row
   i >= base gets the vector of base note (i mod base) plus Gaussian noise,
   renormalised: v = (b + sigma z) / |b + sigma z|, z ~ N(0, I), sigma = --sigma
   (default 0.025). Each base note thus stands for a cloud of n/base vectors
   around it: a derived vector's cosine to its base is ~1/sqrt(1 + 384 sigma^2)
   (0.90 at 0.025; printed as measured, beside the median cosine of a real note
   to its nearest other note of the base set, the spacing of real
   near-duplicates), and two derived vectors of one base are ~0.81 apart, so no
   two vectors coincide and exact top-10s are well defined. The noise of row i
   depends only on (--seed, i): a smaller store's vectors are a prefix of a
   larger one's, and a kept store is checked against them.
   The text of a derived row is not what its vector means: full-text search sees
   n real distinct texts, vector search n vectors with the real set's structure,
   and hybrid fuses two lists that agree less than real embeddings would. What is
   measured is time and vector recall, not answer quality;
3. queries are real: corpus.queries(), embedded by the real model at query time.

PostgreSQL: a server from the pgserver wheel (PostgreSQL 16, pgvector 0.6), its
data directory OUT/scale-pg, unix socket only; one database per size, opened as
the ordinary LOGIN role `bench` that owns the database (the superuser only
creates the database and the vector extension), as tests/conftest.py does.
Server settings for the build, by ALTER SYSTEM and a restart: shared_buffers
4GB, maintenance_work_mem 4GB, max_parallel_maintenance_workers 2,
max_wal_size 4GB, effective_cache_size 12GB (SERVER_SETTINGS; printed as in
force). The store's build_vector_index raises maintenance_work_mem to at least
1GB for the HNSW build, never lowers it. Each database gets what the README asks
of an administrator: the vector extension and text search's @@ marked LEAKPROOF,
so that searches by words can use their index under row-level security.

The HNSW index. The store builds it itself: insert calls build_vector_index
after each batch, which builds it once the live rows (pg_stat_get_live_tuples)
pass HNSW_MIN_ROWS; every later insert then goes into the index. Two ways to
load are measured:

- deferred (the stores measured): the per-batch call is disabled on the store
  instance during the load (an instance attribute; memcli is not changed), then
  VACUUM (ANALYZE) and store.build_vector_index(force=True) once: the import
  rate without index and the index build time are reported apart;
- inline (sizes up to --inline-max, a second database built only to time it,
  then dropped): the store's own path. The bench runs ANALYZE once the first
  HNSW_MIN_ROWS rows are in (autovacuum would, at a time of its choosing); the
  store builds the index in the next insert and inserts every later row into it.

Vector search on PostgreSQL, k=10, p50 and recall@10 against numpy exact search,
at the --crossover sizes (small databases built for it, then dropped) and at
every size measured: the store's vector_search as it is, with whether its plan
walks the HNSW index (EXPLAIN); an exact scan (the store's exact query: `, seq`
beside the distance in ORDER BY, which no index can answer); and the HNSW index at each
--ef (the store's query, hnsw.ef_search set at run time). The crossover is the
smallest size where the index beats the exact scan at HNSW_EF_SEARCH; the exact
scan's cost per row is printed beside it. "matches" is the median number of
memories holding a query word (fts_search with no limit).

Stores are deleted after the run unless --keep, which keeps them (SQLite files
OUT/scale-sqlite-N.db, PostgreSQL databases in OUT/scale-pg) and reuses them on
the next run when size, base, sigma, seed and model match (their import figures
then come from their build record). Prints tables; writes OUT/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
from recall_latency import exact_top, ms, pct, remove_db, timed  # noqa: E402

from memcli.memory import Memory, content_hash, prepare_rows  # noqa: E402
from memcli.records import Filters, MemoryRecord, NewMemory, NewRow, Scored  # noqa: E402
from memcli.store import open_store  # noqa: E402
from memcli.timeparse import now_str  # noqa: E402

USER = "bench"
SOURCE = "bench"
ROLE = "bench"  # the PostgreSQL role that owns the bench's databases
MODES = ("hybrid", "fts", "vector")
BATCH = 1000  # rows per store.insert
EMBED_BATCH = 64  # as Memory.remember
NOISE_CHUNK = 65536  # rows per noise draw: row i's noise depends on (seed, i // NOISE_CHUNK) only
SERVER_SETTINGS = {
    "shared_buffers": "4GB",
    "maintenance_work_mem": "4GB",
    "max_parallel_maintenance_workers": "2",
    "max_wal_size": "4GB",
    "effective_cache_size": "12GB",
}
TARGETS = {"pg_hybrid_p50_ms_at_1m": 50.0, "pg_vector_recall_at_10_at_1m": 0.95}


SERVER_PID: int | None = None  # the postmaster, once started: its CPU is counted apart


class Cpu:
    """Where the CPU went during a phase, as shares of both cores: this process, the
    PostgreSQL server (its processes alive at both ends of the phase), and everything
    else: other work on the machine, and PostgreSQL's parallel query workers, which
    exit after each query."""

    def __init__(self) -> None:
        self.start = self._snap()

    @staticmethod
    def _server() -> dict[int, float]:
        """CPU seconds of each live server process (backends that exit in between are lost)."""
        if SERVER_PID is None:
            return {}
        import psutil

        found: dict[int, float] = {}
        try:
            top = psutil.Process(SERVER_PID)
            for proc in [top, *top.children(recursive=True)]:
                try:
                    t = proc.cpu_times()
                    found[proc.pid] = t.user + t.system
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return found

    @classmethod
    def _snap(cls) -> tuple[float, float, float, dict[int, float]]:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        total, idle = sum(fields[:8]) / tick, (fields[3] + fields[4]) / tick
        t = os.times()
        return total, total - idle, t.user + t.system, cls._server()

    def result(self) -> dict[str, float]:
        end = self._snap()
        total, busy, own = (e - s for e, s in zip(end[:3], self.start[:3], strict=True))
        server = sum(max(0.0, t - self.start[3].get(pid, 0.0)) for pid, t in end[3].items())
        if total <= 0:
            return {}
        return {
            "bench": round(own / total, 3),
            "server": round(server / total, 3),
            "others": round(max(0.0, busy - own - server) / total, 3),
        }


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def p50_p95(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": ms(pct(times, 50)),
        "p95_ms": ms(pct(times, 95)),
        "mean_ms": ms(statistics.fmean(times)),
    }


# -- the base set and the vectors of a store --------------------------------------------------


def make_embedder(spec: str):
    from memcli.models.registry import load_embedder

    embedder = load_embedder(spec)
    embedder.embed(["warm up"])
    return embedder


def embed_all(embedder, texts: list[str], label: str) -> np.ndarray:
    out = np.empty((len(texts), embedder.dim), dtype=np.float32)
    t0 = last = time.perf_counter()
    for start in range(0, len(texts), EMBED_BATCH):
        out[start : start + EMBED_BATCH] = embedder.embed(texts[start : start + EMBED_BATCH])
        now = time.perf_counter()
        done = min(start + EMBED_BATCH, len(texts))
        if now - last > 30 or done == len(texts):
            rate = done / (now - t0)
            say(
                f"    {label}: embedded {done}/{len(texts)} ({rate:.0f}/s, ~{(len(texts) - done) / rate:.0f} s left)"
            )
            last = now
    return out


def base_set(out: Path, n: int, embedder) -> tuple[np.ndarray, dict]:
    """The real vectors of the first n corpus notes: cached, else embedded now."""
    stem = out / f"scale-base-{n}"
    texts_path, vectors_path, info_path = (
        Path(f"{stem}{s}") for s in (".texts.npy", ".vectors.npy", ".json")
    )
    texts = [text for text, _ in corpus.notes(n)]
    if texts_path.exists() and vectors_path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("model") == embedder.name and np.load(texts_path).tolist() == texts:
            vectors = np.load(vectors_path)
            if vectors.shape == (n, embedder.dim):
                return vectors, {**info, "cached": True}
    # A smaller cached base set is a prefix of this one (corpus.notes is deterministic).
    done = np.empty((0, embedder.dim), dtype=np.float32)
    for smaller in sorted(out.glob("scale-base-*.json"), key=lambda p: -int(p.stem.split("-")[-1])):
        m = int(smaller.stem.split("-")[-1])
        prefix = out / f"scale-base-{m}"
        if m < n and json.loads(smaller.read_text()).get("model") == embedder.name:
            if np.load(f"{prefix}.texts.npy").tolist() == texts[:m]:
                done = np.load(f"{prefix}.vectors.npy")
                say(f"reusing the {m} cached vectors of {prefix.name}")
                break
    say(f"embedding the base set: {n - len(done)} notes with {embedder.name} (once; cached in {out})")
    cpu = Cpu()
    seconds, rest = timed(embed_all, embedder, texts[len(done) :], "base set")
    vectors = np.concatenate([done, rest])
    info = {
        "n": n,
        "model": embedder.name,
        "dim": int(vectors.shape[1]),
        "seconds": round(seconds, 1),
        "embedded_now": n - len(done),
        "texts_per_s": round((n - len(done)) / seconds, 1),
        "embedded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpu": cpu.result(),
    }
    np.save(texts_path, np.array(texts))
    np.save(vectors_path, vectors)
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    return vectors, {**info, "cached": False}


def store_vectors(base: np.ndarray, n: int, sigma: float, seed: int) -> np.ndarray:
    """Row i: base[i] for i < len(base), else base[i mod len(base)] + sigma * noise, unit length."""
    n_base, dim = base.shape
    out = np.empty((n, dim), dtype=np.float32)
    for chunk, start in enumerate(range(0, n, NOISE_CHUNK)):
        stop = min(start + NOISE_CHUNK, n)
        rng = np.random.default_rng([seed, chunk])
        noise = rng.standard_normal((NOISE_CHUNK, dim), dtype=np.float32)[: stop - start]
        rows = np.arange(start, stop)
        v = base[rows % n_base] + np.float32(sigma) * noise
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        real = rows < n_base
        v[real] = base[rows[real]]
        out[start:stop] = v
    return out


def vector_geometry(base: np.ndarray, sigma: float, seed: int) -> dict:
    """How far a derived vector is from its base, against how far real notes are from each other."""
    n_base = len(base)
    sample = store_vectors(base, n_base + min(n_base, 20000), sigma, seed)[n_base:]
    to_base = (sample * base[np.arange(len(sample)) % n_base]).sum(axis=1)
    rng = np.random.default_rng(seed)
    picks = rng.choice(n_base, size=min(2000, n_base), replace=False)
    sims = base[picks] @ base.T
    sims[np.arange(len(picks)), picks] = -np.inf  # not itself
    nearest = sims.max(axis=1)
    return {
        "derived_to_base_cosine_mean": round(float(to_base.mean()), 4),
        "derived_to_base_cosine_min": round(float(to_base.min()), 4),
        "expected_cosine": round(1 / (1 + base.shape[1] * sigma**2) ** 0.5, 4),
        "real_note_to_nearest_other_cosine_median": round(float(np.median(nearest)), 4),
        "real_note_to_nearest_other_cosine_p10": round(float(np.percentile(nearest, 10)), 4),
    }


# -- rows and loading ---------------------------------------------------------------------------


def make_rows(notes: list[tuple[str, str]], now: str) -> list[NewRow]:
    """The rows the core would store for these notes (as prepare_rows makes them), built directly:
    prepare_rows validates every field and costs ~250 us a row, 4 minutes per million."""
    return [
        NewRow(
            MemoryRecord(
                id="",
                text=text,
                kind=kind,
                user=USER,
                tags=[],
                importance=3,
                created_at=now,
                occurred_at=now,
                updated_at=None,
                expires_at=None,
                source=SOURCE,
                doc_id=None,
                chunk=None,
                meta={},
                content_hash=content_hash(text),
                embed_model=None,
                embed_dim=None,
            )
        )
        for text, kind in notes
    ]


def check_rows(notes: list[tuple[str, str]]) -> None:
    """make_rows gives what prepare_rows gives (times aside)."""
    for text, kind in notes[:50]:
        [core] = prepare_rows(NewMemory(text, kind=kind, source=SOURCE), USER)
        [mine] = make_rows([(text, kind)], core.record.created_at)
        if core != mine:
            raise SystemExit(f"make_rows differs from prepare_rows for {text!r}:\n{core}\n{mine}")


def load(
    store,
    notes: list[tuple[str, str]],
    vectors: np.ndarray,
    model: str,
    label: str,
    after_batch: Callable[[int], None] | None = None,
) -> dict:
    """Insert every note with its vector in batches of BATCH; time store.insert alone."""
    n = len(notes)
    now = now_str()
    batch_s: list[float] = []
    cpu = Cpu()
    t_start = last = time.perf_counter()
    for start in range(0, n, BATCH):
        rows = make_rows(notes[start : start + BATCH], now)
        t0 = time.perf_counter()
        results = store.insert(rows, vectors[start : start + BATCH], model)
        batch_s.append(time.perf_counter() - t0)
        if sum(status == "added" for _, status in results) != len(rows):
            raise SystemExit(f"{label}: some rows were not added at {start}")
        done = start + len(rows)
        if after_batch:
            after_batch(done)
        now_t = time.perf_counter()
        if now_t - last > 30 or done == n:
            rate = done / sum(batch_s)
            say(f"    {label}: {done}/{n} ({rate:.0f}/s, ~{(n - done) / rate:.0f} s left)")
            last = now_t
    wall = time.perf_counter() - t_start
    insert_s = sum(batch_s)
    sizes = [min(BATCH, n - start) for start in range(0, n, BATCH)]
    parts = zip(np.array_split(np.array(sizes), 10), np.array_split(np.array(batch_s), 10))
    by_tenth = [round(float(rows.sum() / secs.sum()), 1) for rows, secs in parts if len(rows)]
    return {
        "rows": n,
        "insert_seconds": round(insert_s, 2),
        "memories_per_s": round(n / insert_s, 1),
        "wall_seconds": round(wall, 2),
        "rate_by_tenth": by_tenth,
        "batch_s": [round(t, 4) for t in batch_s],
        "slowest_batch_s": round(max(batch_s), 3),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpu": cpu.result(),
    }


def seq_order(store) -> np.ndarray:
    """The stores' seqs in insert order: row i of the vectors is the i-th."""
    return np.array(
        [r[0] for r in store.conn.execute("SELECT seq FROM memories ORDER BY seq")], dtype=np.int64
    )


def check_store(location, size: int, vectors: np.ndarray, label: str) -> None:
    """A built or kept store holds `size` memories and this run's vectors."""
    store = open_store(location)
    try:
        order = seq_order(store)
        if len(order) != size:
            raise SystemExit(f"{label} holds {len(order)} memories, not {size}: rebuild it")
        check_vectors(store, order, vectors)
    finally:
        store.close()


def check_vectors(store, order: np.ndarray, vectors: np.ndarray) -> None:
    """A kept store holds the vectors this run made (same base, sigma, seed)."""
    for i in sorted({0, len(order) // 2, len(order) - 1}):
        (memory_id,) = store.conn.execute(
            "SELECT id FROM memories WHERE seq = " + str(int(order[i]))
        ).fetchone()
        stored = store.vector_of(memory_id)
        if stored is None or not np.allclose(stored, vectors[i], atol=1e-6):
            raise SystemExit(f"stored vector {i} differs from this run's: rebuild (run without --keep)")


# -- PostgreSQL server ---------------------------------------------------------------------------


class PgServer:
    """A pgserver PostgreSQL with the vector extension, set up for a bulk build."""

    def __init__(self, data_dir: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' RuntimeDirWarning without XDG_RUNTIME_DIR
            import pgserver
        self.data_dir = data_dir
        self.created = not (data_dir / "PG_VERSION").exists()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server = pgserver.get_server(data_dir, cleanup_mode="stop")
        query = parse_qs(urlparse(self.server.get_uri()).query)
        self.host = query["host"][0]
        self.settings = self.configure()
        global SERVER_PID
        SERVER_PID = self.server.get_pid()

    def admin(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(f"postgresql://postgres@/{database}?host={self.host}", autocommit=True)

    def url(self, database: str) -> str:
        return f"postgresql://{ROLE}@/{database}?host={self.host}"

    def configure(self) -> dict[str, str]:
        with self.admin() as conn:
            for name, value in SERVER_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)
            pending = [r[0] for r in conn.execute("SELECT name FROM pg_settings WHERE pending_restart")]
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE]).fetchone():
                conn.execute(f'CREATE ROLE "{ROLE}" LOGIN')
        if pending:
            say(f"restarting PostgreSQL for {', '.join(pending)}")
            self.restart()
        with self.admin() as conn:
            names = [*SERVER_SETTINGS, "server_version", "max_parallel_workers_per_gather"]
            found = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}
            found["pgvector"] = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()[0]
        return found

    def restart(self) -> None:
        from pgserver._commands import pg_ctl
        from pgserver.utils import PostmasterInfo

        pg_ctl(
            ["-w", "-m", "fast", "-l", str(self.data_dir / "log"), "restart"],
            pgdata=self.data_dir,
            user=self.server.system_user,
            timeout=120,
        )
        # pgserver stops the server at exit by the postmaster it knows: tell it the new one.
        self.server._postmaster_info = PostmasterInfo.read_from_pgdata(self.data_dir)

    def exists(self, database: str) -> bool:
        with self.admin() as conn:
            return (
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
                is not None
            )

    def create(self, database: str) -> None:
        """An empty database owned by the bench role, with the vector extension."""
        self.drop(database)
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{database}" OWNER "{ROLE}"')
        with self.admin(database) as conn:
            from memcli.store.pg_schema import SUPERUSER_SQL

            for statement in SUPERUSER_SQL:  # the extension, and text search's @@ LEAKPROOF (README)
                conn.execute(statement)
            conn.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{ROLE}"')

    def drop(self, database: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def database_mb(self, database: str) -> float:
        with self.admin() as conn:
            return round(conn.execute("SELECT pg_database_size(%s)", [database]).fetchone()[0] / 1e6, 1)

    def stop(self, remove: bool) -> None:
        self.server.cleanup()
        if remove:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def relation_mb(store, name: str) -> float | None:
    row = store.conn.execute("SELECT pg_relation_size(to_regclass(%s))", [name]).fetchone()
    return round(row[0] / 1e6, 1) if row and row[0] is not None else None


def build_pg(pg: PgServer, database: str, notes, vectors: np.ndarray, model: str, *, inline: bool) -> dict:
    """A database of these notes; deferred (one index build at the end) or inline (the store's own way).

    Either way, after each batch the bench notes whether the table has statistics yet
    (pg_class.reltuples >= 0: autovacuum has analysed it, or the bench's ANALYZE has)."""
    from memcli.store import postgres

    pg.create(database)
    store = open_store(pg.url(database))
    notices: list[str] = []
    store.conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    label = f"postgresql {database}"
    stats_after: list[int] = []
    analyzed: list[float] = []

    def after_batch(done: int) -> None:
        if not stats_after:
            (reltuples,) = store.conn.execute(
                "SELECT reltuples FROM pg_class WHERE oid = 'memories'::regclass"
            ).fetchone()
            if reltuples >= 0:
                stats_after.append(done)
        if inline and done >= postgres.HNSW_MIN_ROWS and not analyzed:  # as autovacuum would, some time
            analyzed.append(timed(store.conn.execute, "ANALYZE memories")[0])

    try:
        if not inline:
            store.build_vector_index = lambda *, force=False: False  # no per-batch check during the load
            info = load(store, notes, vectors, model, label, after_batch)
            del store.build_vector_index
            info["load"] = "deferred"
            info["first_statistics_after_rows"] = stats_after[0] if stats_after else None
            info["vacuum_analyze_s"] = round(timed(store.conn.execute, "VACUUM (ANALYZE) memories")[0], 2)
            notices.clear()
            seconds, built = timed(store.build_vector_index, force=True)
            info["index"] = {
                "built": built,
                "seconds": round(seconds, 2),
                "rows_per_s": round(len(notes) / seconds, 1),
                "size_mb": relation_mb(store, "memcli.memory_vectors_hnsw"),
                "notices": [n for n in notices if "does not exist, skipping" not in n][:5],
            }
            info["table_mb"] = relation_mb(store, "memcli.memories")
            info["database_mb"] = pg.database_mb(database)
            return info
        calls: list[tuple[float, bool]] = []  # one per insert batch: (seconds, index there after)
        original = store.build_vector_index

        def watched(*, force: bool = False) -> bool:
            t0 = time.perf_counter()
            built = original(force=force)
            calls.append((time.perf_counter() - t0, built))
            return built

        store.build_vector_index = watched
        info = load(store, notes, vectors, model, label + " (inline)", after_batch)
        first = next((i for i, (_, built) in enumerate(calls) if built), None)
        info["load"] = "inline"
        info["first_statistics_after_rows"] = stats_after[0] if stats_after else None
        info["analyze_s"] = round(analyzed[0], 2) if analyzed else None
        if first is not None:
            info["index_built_after_rows"] = min((first + 1) * BATCH, len(notes))
            info["index_build_in_insert_s"] = round(calls[first][0], 2)
            later = [s for s, _ in calls[first + 1 :]]
            info["check_after_index_ms_p50"] = ms(pct(later, 50)) if later else None
            done = info["index_built_after_rows"]
            rest = len(notes) - done
            info["rows_into_index_per_s"] = (
                round(rest / sum(info["batch_s"][done // BATCH :]), 1) if rest > 0 else None
            )
        before = [s for s, _ in calls[: first if first is not None else len(calls)]]
        info["check_before_index_ms_p50"] = ms(pct(before, 50)) if before else None
        info["index_size_mb"] = relation_mb(store, "memcli.memory_vectors_hnsw")
        info["notices"] = [n for n in notices if "does not exist, skipping" not in n][:5]
        return info
    finally:
        store.close()


# -- measuring ------------------------------------------------------------------------------------


class Precomputed:
    """An embedder that answers the bench's queries from their vectors (search-only timings)."""

    def __init__(self, name: str, dim: int, vectors: dict[str, np.ndarray]) -> None:
        self.name, self.dim, self._vectors = name, dim, vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])


def recall_overlap(found: list[list[int]], exact: list[np.ndarray]) -> float:
    return round(statistics.fmean(len(set(f) & set(e.tolist())) / len(e) for f, e in zip(found, exact)), 4)


def rows_of(order: np.ndarray, hits: list[Scored]) -> list[int]:
    return np.searchsorted(order, [h.seq for h in hits]).tolist()


def pg_vector_sql(store, filters: Filters, *, tie_break: bool) -> tuple[str, list[Any], int]:
    """PostgresStore.vector_search's query (memcli/store/postgres.py), with or without a
    `, seq` tie-break in ORDER BY (which keeps PostgreSQL from walking the index): (sql,
    filter params, dim). The query vector goes
    before and after the filter params, then the limit."""
    dim = store._dim()
    where, params = store.where(filters)
    t = "t"  # the store's alias of memories in every query
    sql = (
        f"SELECT {t}.id, 1 - (v.embedding::vector({dim}) <=> %s::vector({dim})) AS similarity, {t}.seq "
        f"FROM memory_vectors v JOIN memories {t} ON {t}.seq = v.seq WHERE {where} "
        f"ORDER BY v.embedding::vector({dim}) <=> %s::vector({dim}){f', {t}.seq' if tie_break else ''} LIMIT %s"
    )
    return sql, params, dim


def indexed_vector_search(store, query: np.ndarray, filters: Filters, limit: int) -> list[Scored]:
    """PostgresStore.vector_search's indexed query at the module's HNSW_EF_SEARCH (which the
    sweep sets), then the store's exact fallback when the filters left too few."""
    from memcli.store import postgres

    sql, params, _ = pg_vector_sql(store, filters, tie_break=False)
    query = np.ascontiguousarray(query, dtype=np.float32)
    with store.conn.transaction():
        store.conn.execute(f"SET LOCAL hnsw.ef_search = {max(postgres.HNSW_EF_SEARCH, limit)}")
        rows = store.conn.execute(sql, [query, *params, query, limit]).fetchall()
    if len(rows) < limit:
        return store.vector_search(query, filters, limit)
    return [Scored(r[0], float(r[1]), int(r[2])) for r in rows]


def measure_recall(
    location,
    embedder,
    queries: list[str],
    qvecs: np.ndarray,
    exact: list[np.ndarray],
    patch: Callable[[Any], None] | None = None,
) -> dict:
    """Memory.recall p50/p95 per mode (embedding included, then search only) and vector recall@10."""
    out: dict[str, Any] = {"queries": len(queries)}
    cpu = Cpu()
    mem = Memory(location, embedder=embedder, user=USER)
    # What recall embeds: the query, or its words without the time it names (memcli.timequery).
    from memcli import timequery

    searched = {timequery.find(q).text for q in queries} - set(queries)
    known = dict(zip(queries, qvecs))
    if searched:
        known.update(zip(sorted(searched), np.asarray(embedder.embed(sorted(searched)), dtype=np.float32)))
    fast = Memory(location, embedder=Precomputed(embedder.name, embedder.dim, known), user=USER)
    if patch:
        patch(mem.store)
        patch(fast.store)
    try:
        for m in (mem, fast):  # warm the caches and the code paths
            for q in queries[:3]:
                for mode in MODES:
                    m.recall(q, k=10, mode=mode)
        for key, m in (("e2e", mem), ("search_only", fast)):
            out[key] = {}
            for mode in MODES:
                times = [timed(m.recall, q, k=10, mode=mode)[0] for q in queries]
                out[key][mode] = p50_p95(times)
        out["embed_query"] = p50_p95([timed(embedder.embed, [q])[0] for q in queries])
        order = seq_order(fast.store)
        filters = Filters(user=USER)
        found = [rows_of(order, fast.store.vector_search(qv, filters, 10)) for qv in qvecs]
        out["vector_recall_at_10"] = recall_overlap(found, exact)
        # How many memories the full-text side ranks per query (the store scores every match).
        from memcli import search

        matches = [len(fast.store.fts_search(search.query_terms(q), filters, 10**9)) for q in queries[:30]]
        out["fts_matches"] = {"p50": int(pct(matches, 50)), "max": max(matches)}
    finally:
        mem.close()
        fast.close()
    out["cpu"] = cpu.result()
    return out


def pg_vector_sweep(
    url: str, qvecs: np.ndarray, exact: list[np.ndarray], efs: list[int], exact_queries: int
) -> dict:
    """Vector search k=10 on PostgreSQL, p50 and recall@10: the store's vector_search as it is
    (and its plan), an exact scan, and the HNSW index at each ef_search (without the tie-break)."""
    from memcli.store import postgres

    store = open_store(url)
    out: dict[str, Any] = {}
    filters = Filters(user=USER)
    try:
        order = seq_order(store)
        out["rows"] = len(order)
        out["index"] = store._hnsw_dim() is not None

        def run(search: Callable[[np.ndarray], list[Scored]], vectors: np.ndarray) -> dict:
            for qv in vectors[:3]:
                search(qv)
            times, found = [], []
            for qv in vectors:
                t, hits = timed(search, qv)
                times.append(t)
                found.append(rows_of(order, hits))
            return {
                "p50_ms": ms(pct(times, 50)),
                "recall_at_10": recall_overlap(found, exact[: len(vectors)]),
                "queries": len(vectors),
            }

        # The store's per-call look-ups (the embedding space; whether there is an index).
        out["lookup_p50_ms"] = ms(
            pct([timed(lambda: (store._dim(), store._hnsw_dim()))[0] for _ in range(50)], 50)
        )
        few = qvecs[:exact_queries]
        sql, params, _ = pg_vector_sql(store, filters, tie_break=False)  # the store's own query
        q0 = np.ascontiguousarray(qvecs[0])
        plan = [r[0] for r in store.conn.execute("EXPLAIN " + sql, [q0, *params, q0, 10])]
        out["store_plan_uses_hnsw"] = any("memory_vectors_hnsw" in line for line in plan)
        out["store"] = run(lambda qv: store.vector_search(qv, filters, 10), few)
        exact_sql, params, _ = pg_vector_sql(store, filters, tie_break=True)  # no index can answer it

        def exact_search(qv: np.ndarray) -> list[Scored]:
            rows = store.conn.execute(exact_sql, [qv, *params, qv, 10]).fetchall()
            return [Scored(r[0], float(r[1]), int(r[2])) for r in rows]

        out["exact"] = run(exact_search, few)
        if out["index"]:
            saved = postgres.HNSW_EF_SEARCH
            out["hnsw"] = {}
            try:
                for ef in efs:
                    postgres.HNSW_EF_SEARCH = ef
                    out["hnsw"][str(ef)] = run(
                        lambda qv: indexed_vector_search(store, qv, filters, 10), qvecs
                    )
            finally:
                postgres.HNSW_EF_SEARCH = saved
    finally:
        store.close()
    return out


# -- one size ---------------------------------------------------------------------------------------


def build_record_path(out: Path, backend: str, size: int) -> Path:
    return out / f"scale-{backend}-{size}.build.json"


def reusable(path: Path, params: dict) -> dict | None:
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    return info if info.get("params") == params else None


def run_sqlite(args, size, notes, vectors, model, params, queries, qvecs, exact, embedder) -> dict:
    path = args.out / f"scale-sqlite-{size}.db"
    record = build_record_path(args.out, "sqlite", size)
    build = reusable(record, params) if args.keep and path.exists() else None
    if build:
        say(f"[{size}] sqlite: reusing {path}")
        build["reused"] = True
    else:
        say(f"[{size}] sqlite: building {path}")
        remove_db(path)
        store = open_store(path)
        try:
            build = load(store, notes, vectors, model, f"sqlite {size}")
            build["checkpoint_s"] = round(timed(store.conn.execute, "PRAGMA wal_checkpoint(TRUNCATE)")[0], 2)
        finally:
            store.close()
        build["file_mb"] = round(path.stat().st_size / 1e6, 1)
        build["params"] = params
        record.write_text(json.dumps(build, indent=2) + "\n")
        build["reused"] = False
    check_store(path, size, vectors, str(path))
    say(f"[{size}] sqlite: recall")
    result = {"build": build, "recall": measure_recall(path, embedder, queries, qvecs, exact)}
    if not args.keep:
        remove_db(path)
        record.unlink(missing_ok=True)
    return result


def run_postgres(args, pg, size, notes, vectors, model, params, queries, qvecs, exact, embedder) -> dict:
    database = f"scale_{size}"
    record = build_record_path(args.out, "postgresql", size)
    build = reusable(record, params) if args.keep and pg.exists(database) else None
    if build:
        say(f"[{size}] postgresql: reusing database {database}")
        build["reused"] = True
    else:
        say(f"[{size}] postgresql: building database {database} (deferred index)")
        build = build_pg(pg, database, notes, vectors, model, inline=False)
        build["params"] = params
        record.write_text(json.dumps(build, indent=2) + "\n")
        build["reused"] = False
    url = pg.url(database)
    check_store(url, size, vectors, database)
    result: dict[str, Any] = {"build": build}
    if size <= args.inline_max:
        say(f"[{size}] postgresql: the store's own inline index build, for comparison")
        result["inline_build"] = build_pg(pg, f"{database}_inline", notes, vectors, model, inline=True)
        pg.drop(f"{database}_inline")
    say(f"[{size}] postgresql: recall")
    result["recall"] = measure_recall(url, embedder, queries, qvecs, exact)
    say(f"[{size}] postgresql: exact scan against HNSW")
    result["vector_sweep"] = pg_vector_sweep(url, qvecs, exact, args.ef, args.exact_queries)
    if not args.keep:
        pg.drop(database)
        record.unlink(missing_ok=True)
    return result


def crossover_points(args, pg, base, model, qvecs) -> list[dict]:
    """Small PostgreSQL stores built only to place HNSW_MIN_ROWS, then dropped."""
    points = []
    for size in args.crossover:
        notes = corpus.notes(size)
        vectors = store_vectors(base, size, args.sigma, args.seed)
        exact = [exact_top(vectors, qv, 10) for qv in qvecs]
        database = f"scale_x_{size}"
        say(f"[crossover {size}] postgresql: building {database}")
        build = build_pg(pg, database, notes, vectors, model, inline=False)
        point = {
            "size": size,
            "build": build,
            **pg_vector_sweep(pg.url(database), qvecs, exact, args.ef, args.exact_queries),
        }
        pg.drop(database)
        points.append(point)
    return points


# -- report -----------------------------------------------------------------------------------------


def crossover_summary(points: list[dict], default_ef: int) -> dict:
    """Where the HNSW index (at ef_search default_ef) starts to beat the exact scan."""
    ef = str(default_ef)
    rows = sorted((p for p in points if ef in p.get("hnsw", {})), key=lambda p: p["rows"])
    faster = [p["rows"] for p in rows if p["hnsw"][ef]["p50_ms"] < p["exact"]["p50_ms"]]
    first = min(faster) if faster else None
    return {
        "ef_search": default_ef,
        "hnsw_faster_from_rows": first,
        "exact_faster_up_to_rows": max(
            (p["rows"] for p in rows if first is None or p["rows"] < first), default=None
        ),
    }


def print_report(report: dict) -> None:
    b = report["base"]
    print(f"\nmemcli scale benchmark ({report['machine']}; embedder {report['embedder']})")
    print(
        f"base set: {b['n']:,} real notes, embedded {'(cached, then) ' if b['cached'] else ''}at "
        f"{b['texts_per_s']} texts/s ({b['seconds']} s); the real model now: {report['embed_now_per_s']} "
        f"texts/s (batches of 64); model load {report['model_load_s']} s"
    )
    g = report["vectors"]
    print(
        f"derived vectors: base + N(0, {report['params']['sigma']}^2) per dimension, renormalised: cosine to "
        f"their base {g['derived_to_base_cosine_mean']} mean (min {g['derived_to_base_cosine_min']}); a real "
        f"note to its nearest other real note: {g['real_note_to_nearest_other_cosine_median']} median"
    )
    if report.get("postgres_settings"):
        s = dict(report["postgres_settings"])
        version, pgvector = s.pop("server_version", "?"), s.pop("pgvector", "?")
        print(f"PostgreSQL {version}, pgvector {pgvector}: " + ", ".join(f"{k}={v}" for k, v in s.items()))
        h = report.get("hnsw_build", {})
        print(
            f"HNSW index (the store's): m={h.get('m')}, ef_construction={h.get('ef_construction')}, "
            f"ef_search={report['hnsw_ef_search']}, built past {report['hnsw_min_rows']:,} rows"
        )

    print("\nbulk import through store.insert, batches of 1,000 rows (embedding EXCLUDED)")
    print(
        f"  {'size':>9} {'backend':<16} {'memories/s':>10} {'import s':>9} {'disk MB':>8}  memories/s by tenth of the load"
    )
    for size, body in report["sizes"].items():
        for backend, r in body.items():
            bd = r["build"]
            disk = bd.get("file_mb") or bd.get("database_mb")
            print(
                f"  {int(size):>9,} {backend:<16} {bd['memories_per_s']:>10.0f} {bd['insert_seconds']:>9.1f} "
                f"{disk!s:>8}  {bd['rate_by_tenth']}{' (reused store)' if bd.get('reused') else ''}"
            )
            if backend != "postgresql":
                continue
            ix = bd.get("index", {})
            print(
                f"  {'':>9} {'':<16} first statistics after {bd.get('first_statistics_after_rows') or 'no'} rows; then "
                f"VACUUM ANALYZE {bd.get('vacuum_analyze_s')} s, HNSW build {ix.get('seconds')} s "
                f"({ix.get('rows_per_s')} rows/s; index {ix.get('size_mb')} MB, table {bd.get('table_mb')} MB)"
                + (f"; notices: {ix['notices']}" if ix.get("notices") else "")
            )
            total = bd["insert_seconds"] + bd.get("vacuum_analyze_s", 0) + ix.get("seconds", 0)
            print(
                f"  {'':>9} {'':<16} deferred total: {total:.1f} s = {int(size) / total:.0f} memories/s with the index"
            )
            il = r.get("inline_build")
            if il:
                print(
                    f"  {int(size):>9,} {'pg inline index':<16} {il['memories_per_s']:>10.0f} {il['insert_seconds']:>9.1f} "
                    f"{'':>8}  {il['rate_by_tenth']}"
                )
                if il.get("index_built_after_rows") is None:
                    how = "the store's own path: it never built the index (the table stayed under HNSW_MIN_ROWS)"
                else:
                    how = (
                        f"the store's own path: index built in the insert after {il['index_built_after_rows']} "
                        f"rows ({il['index_build_in_insert_s']} s), later rows into it at {il['rows_into_index_per_s']}/s"
                    )
                first = il.get("first_statistics_after_rows") or "no"
                print(f"  {'':>9} {'':<16} {how}; first statistics after {first} rows")

    print(
        "\nin-process Memory.recall, k=10: p50 / p95 ms (e2e: query embedding included; search: vector given)"
    )
    print(
        f"  {'size':>9} {'backend':<16}"
        + "".join(f" {mode + ' e2e':>15} {mode + ' search':>15}" for mode in MODES)
        + f" {'embed':>6} {'recall@10':>9} {'matches':>7}  CPU bench/server/others"
    )
    labels = {"recall": ""}
    for size, body in report["sizes"].items():
        for backend, r in body.items():
            for key, suffix in labels.items():
                rc = r.get(key)
                if not rc:
                    continue
                cells = "".join(
                    f" {rc['e2e'][m]['p50_ms']:>6.1f} /{rc['e2e'][m]['p95_ms']:>6.1f} "
                    f"{rc['search_only'][m]['p50_ms']:>6.1f} /{rc['search_only'][m]['p95_ms']:>6.1f}"
                    for m in MODES
                )
                cpu = rc.get("cpu", {})
                print(
                    f"  {int(size):>9,} {backend + suffix:<16}{cells} {rc['embed_query']['p50_ms']:>6.1f} "
                    f"{rc['vector_recall_at_10']:>9.3f} {rc.get('fts_matches', {}).get('p50', '')!s:>7}  "
                    f"{cpu.get('bench')}/{cpu.get('server')}/{cpu.get('others')}"
                )
    print("  matches: median number of memories the full-text search ranks per query (it scores each one)")

    points = report.get("vector_sweep", [])
    if points:
        efs = sorted({int(e) for p in points for e in p.get("hnsw", {})})
        print("\nPostgreSQL vector search, k=10: p50 ms (recall@10 vs numpy exact)")
        print(
            f"  {'rows':>9} {'vector_search':>15} {'plan':>5} {'exact scan':>15}"
            + "".join(f" {'HNSW ef ' + str(e):>15}" for e in efs)
            + f" {'look-ups':>9}"
        )
        for p in sorted(points, key=lambda p: p["rows"]):
            cells = "".join(
                f" {p['hnsw'][str(e)]['p50_ms']:>7.2f} ({p['hnsw'][str(e)]['recall_at_10']:.3f})"
                if str(e) in p.get("hnsw", {})
                else f" {'':>15}"
                for e in efs
            )
            st, ex = p["store"], p["exact"]
            plan = "hnsw" if p["store_plan_uses_hnsw"] else "scan"
            print(
                f"  {p['rows']:>9,} {st['p50_ms']:>7.2f} ({st['recall_at_10']:.3f}) {plan:>5} "
                f"{ex['p50_ms']:>7.2f} ({ex['recall_at_10']:.3f}){cells} {p['lookup_p50_ms']:>9.2f}"
            )
        per_row = ", ".join(
            f"{p['rows']:,}: {p['exact']['p50_ms'] * 1000 / p['rows']:.2f}"
            for p in sorted(points, key=lambda p: p["rows"])
        )
        print(f"  exact scan, us per row: {per_row}")
        c = report["crossover"]
        if c["exact_faster_up_to_rows"] is None:
            where = f"HNSW is faster at every size measured (from {c['hnsw_faster_from_rows']} rows)"
        else:
            where = (
                f"the exact scan is faster up to {c['exact_faster_up_to_rows']} rows, "
                f"HNSW from {c['hnsw_faster_from_rows']} rows"
            )
        print(
            "  vector_search: the store's call as it is; exact scan: its exact query (`, seq` in ORDER BY); "
            f"HNSW: its indexed query at each ef_search.\n  crossover at ef_search {c['ef_search']}: {where} "
            f"(HNSW_MIN_ROWS is {report['hnsw_min_rows']})"
        )
    if report.get("targets"):
        print("\ntargets at 1M (reported, not asserted):")
        for name, v in report["targets"].items():
            print(f"  {name:<42} {v['value']} (target {v['target']}): {'met' if v['met'] else 'MISSED'}")


def targets(report: dict) -> dict:
    sizes = report["sizes"].get("1000000", {})
    found: dict[str, dict] = {}
    for label, backend, key in (
        ("postgresql", "postgresql", "recall"),
        ("sqlite", "sqlite", "recall"),
    ):
        rc = sizes.get(backend, {}).get(key)
        if not rc:
            continue
        hybrid, recall = rc["e2e"]["hybrid"]["p50_ms"], rc["vector_recall_at_10"]
        found[f"{label}: hybrid p50 ms"] = {
            "value": hybrid,
            "target": "< 50",
            "met": hybrid < TARGETS["pg_hybrid_p50_ms_at_1m"],
        }
        found[f"{label}: vector recall@10"] = {
            "value": recall,
            "target": ">= 0.95",
            "met": recall >= TARGETS["pg_vector_recall_at_10_at_1m"],
        }
    return found


def int_list(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int_list, default=int_list("100000,1000000"))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--json", type=Path, default=None, help="report file (default OUT/scale.json)")
    parser.add_argument("--keep", action="store_true", help="keep the stores, and reuse kept ones")
    parser.add_argument("--base", type=int, default=20000, help="real notes embedded once for the vectors")
    parser.add_argument("--sigma", type=float, default=0.025, help="noise per dimension of derived vectors")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--exact-queries", type=int, default=30, help="queries for the PostgreSQL exact scan")
    parser.add_argument(
        "--ef", type=int_list, default=int_list("40,100,200,400"), help="hnsw.ef_search values"
    )
    parser.add_argument(
        "--crossover", type=int_list, default=int_list("5000,20000,50000"), help="extra PostgreSQL sizes"
    )
    parser.add_argument(
        "--inline-max", type=int, default=100000, help="time the inline index build up to this size"
    )
    parser.add_argument("--embedder", default="all-MiniLM-L6-v2")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backends {sorted(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    from memcli.store import postgres

    load_s, embedder = timed(make_embedder, args.embedder)
    from recall_latency import embed_throughput

    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "embedder": embedder.name,
        "model_load_s": round(load_s, 3),
        "embed_now_per_s": round(embed_throughput(embedder), 1),
        "params": {"base": args.base, "sigma": args.sigma, "seed": args.seed, "batch": BATCH},
        "hnsw_min_rows": postgres.HNSW_MIN_ROWS,
        "hnsw_ef_search": postgres.HNSW_EF_SEARCH,
        "hnsw_build": {"m": postgres.HNSW_M, "ef_construction": postgres.HNSW_EF_CONSTRUCTION},
        "sizes": {},
    }
    base, report["base"] = base_set(args.out, args.base, embedder)
    report["vectors"] = vector_geometry(base, args.sigma, args.seed)
    say(f"derived vectors: {report['vectors']}")
    queries = corpus.queries(args.queries)
    qvecs = np.asarray(embedder.embed(queries), dtype=np.float32)
    model = embedder.name
    params = {**report["params"], "model": model, "hnsw": report["hnsw_build"]}

    pg = None
    if "postgresql" in backends:
        say(f"starting PostgreSQL in {args.out / 'scale-pg'}")
        pg = PgServer(args.out / "scale-pg")
        report["postgres_settings"] = dict(pg.settings)
    try:
        sweep: list[dict] = []
        if pg and args.crossover:
            sweep.extend(crossover_points(args, pg, base, model, qvecs))
        for size in sorted(args.sizes):
            say(f"[{size}] corpus and vectors")
            notes = corpus.notes(size)
            check_rows(notes)
            vectors = store_vectors(base, size, args.sigma, args.seed)
            exact = [exact_top(vectors, qv, 10) for qv in qvecs]
            body: dict[str, Any] = {}
            if "sqlite" in backends:
                body["sqlite"] = run_sqlite(
                    args, size, notes, vectors, model, params, queries, qvecs, exact, embedder
                )
            if pg:
                body["postgresql"] = run_postgres(
                    args, pg, size, notes, vectors, model, params, queries, qvecs, exact, embedder
                )
                sweep.append({"size": size, **body["postgresql"]["vector_sweep"]})
            report["sizes"][str(size)] = body
            del notes, vectors
        if pg:
            report["vector_sweep"] = sweep
            report["crossover"] = crossover_summary(sweep, postgres.HNSW_EF_SEARCH)
    finally:
        if pg:
            pg.stop(remove=pg.created and not args.keep)
    report["targets"] = targets(report)
    print_report(json.loads(json.dumps(report)))
    path = args.json or args.out / "scale.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
