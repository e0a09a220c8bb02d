"""Recall latency, bulk import throughput, cold CLI times and memory of memcli.

    python bench/recall_latency.py [--sizes 10000,100000] [--out bench/out] [--rebuild]

For each size, a store of that many realistic personal notes (bench/corpus.py)
is built through the real API (`Memory.remember` in batches, the path of
`mem remember --jsonl`) with the real embedding model, and kept under --out
for the next run (reused unless --rebuild). Then, all single-process:

- bulk import throughput (memories/s, embeddings included);
- in-process `Memory.recall` p50/p95 per mode over ~100 varied queries, the
  query's embedding included, the model already loaded, min_score 0 (every
  query gets its 10 results, so recall@10 below measures the index alone);
- recall@10 of the vector mode against exact float search over the same vectors;
- brute-force baselines over the same vectors: the `llm similar` approach (an
  SQLite function that decodes each blob with struct and computes the cosine in
  Python), and numpy exact scans (loading from SQLite per query, and in RAM);
- cold CLI wall times (median of --cli-runs subprocesses) of `mem recall`,
  `mem remember` (on a copy of the store) and `mem --help`, with the peak RSS
  of each process (os.wait4).

Prints a table and writes everything to OUT/recall_latency.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sqlite3 as _stdlib_sqlite3  # noqa: F401  (only to report the version)
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402

USER = "bench"
MODES = ("hybrid", "fts", "vector")
BUILD_BATCH = 2000  # items per Memory.remember call (it stores in transactions of 64)
TARGETS = {  # the speed targets of the project's recall work; met: value <= target (>= for rates)
    "hybrid_p50_ms_at_100k": 10.0,
    "vector_recall_at_10_at_100k": 0.98,
    "cold_recall_s": 0.35,
    "cold_remember_s": 0.5,
    "help_s": 0.15,
    "locomo_import_per_s": 180.0,
    "recall_peak_rss_mb": 300.0,
}
HIGHER_IS_BETTER = {"vector_recall_at_10_at_100k", "locomo_import_per_s"}


def pct(values: list[float], q: float) -> float:
    """Percentile by linear interpolation (q in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """(seconds, result) of fn(*args, **kwargs)."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


class CpuMonitor:
    """How busy the machine was with other work during a phase.

    Other people's processes share these 2 cores (they may be invisible to ps);
    /proc/stat counts them, os.times() counts this process and its children.
    foreign_busy is the fraction of all CPU time (both cores) used by others.
    """

    def __init__(self) -> None:
        self.start = self._snap()

    @staticmethod
    def _snap() -> tuple[float, float, float]:
        try:
            with open("/proc/stat") as f:
                fields = [float(x) for x in f.readline().split()[1:]]
        except OSError:
            return (0.0, 0.0, 0.0)
        tick = os.sysconf("SC_CLK_TCK")
        total = sum(fields[:8]) / tick
        idle = (fields[3] + fields[4]) / tick
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return (total, total - idle, own)

    def result(self) -> dict[str, float]:
        end = self._snap()
        total, busy, own = (e - s for e, s in zip(end, self.start, strict=True))
        if total <= 0:
            return {}
        return {
            "own_cpu_share": round(own / total, 3),
            "foreign_busy": round(max(0.0, busy - own) / total, 3),
        }


# -- the embedding model ---------------------------------------------------------------


def make_embedder(spec: str):
    if spec == "fake":
        from memcli.models.embed import FakeEmbedder

        return FakeEmbedder()
    from memcli.models.registry import load_embedder

    embedder = load_embedder(spec)
    embedder.embed(["warm up"])
    return embedder


# -- building the stores -----------------------------------------------------------------


def store_paths(out: Path, size: int, fake: bool) -> tuple[Path, Path]:
    stem = f"store-{size}{'-fake' if fake else ''}"
    return out / f"{stem}.db", out / f"{stem}.build.json"


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def build_store(path: Path, info_path: Path, size: int, embedder, rebuild: bool) -> dict:
    """Build (or reuse) a store of `size` notes; return the build record."""
    from memcli.memory import Memory
    from memcli.records import NewMemory

    if not rebuild and path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("size") == size and info.get("embedder") == embedder.name:
            info["reused"] = True
            return info
    remove_db(path)
    info_path.unlink(missing_ok=True)
    notes = corpus.notes(size)
    items = [NewMemory(text, kind=kind, source="bench") for text, kind in notes]
    done = 0
    t_start = time.perf_counter()
    last_print = t_start

    def progress(n: int) -> None:
        nonlocal done, last_print
        done += n
        now = time.perf_counter()
        if now - last_print > 15 or done == size:
            rate = done / (now - t_start)
            print(
                f"    built {done}/{size} ({rate:.0f}/s, ~{(size - done) / rate:.0f} s left)", file=sys.stderr
            )
            last_print = now

    mem = Memory(path, embedder=embedder, user=USER)
    cpu = CpuMonitor()
    added = 0
    try:
        for start in range(0, size, BUILD_BATCH):
            results = mem.remember(items[start : start + BUILD_BATCH], progress=progress)
            added += sum(r.status == "added" for r in results)
    finally:
        mem.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        mem.close()
    elapsed = time.perf_counter() - t_start
    info = {
        "size": size,
        "added": added,
        "embedder": embedder.name,
        "seconds": round(elapsed, 2),
        "memories_per_s": round(size / elapsed, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "cpu": cpu.result(),
    }
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    info["reused"] = False
    return info


def embed_throughput(embedder, n: int = 640) -> float:
    """Embedding alone, same batches of 64 as Memory.remember: the import's upper bound."""
    texts = [t for t, _ in corpus.notes(n, seed=4242)]
    t0 = time.perf_counter()
    for start in range(0, n, 64):
        embedder.embed(texts[start : start + 64])
    return n / (time.perf_counter() - t0)


# -- in-process measurements --------------------------------------------------------------


def load_vectors(conn, dim: int):
    import numpy as np

    rows = conn.execute(
        "SELECT v.seq, m.id, v.embedding FROM memory_vectors v JOIN memories m USING (seq) ORDER BY v.seq"
    ).fetchall()
    seqs = [r[0] for r in rows]
    ids = [r[1] for r in rows]
    matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return seqs, ids, matrix


def exact_top(matrix, query, k: int):
    import numpy as np

    sims = matrix @ query
    top = np.argpartition(-sims, k)[:k]
    return top[np.argsort(-sims[top])]


def llm_similar(conn, query_vec, k: int) -> list[int]:
    """The `llm similar` approach: an SQLite function decodes every blob with struct and
    computes the cosine in pure Python (as llm.Collection.similar_by_vector does)."""
    query = list(map(float, query_vec))

    def decode(binary: bytes):
        return struct.unpack("<" + "f" * (len(binary) // 4), binary)

    def cosine_similarity(a, b) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=False))
        ma = sum(x * x for x in a) ** 0.5
        mb = sum(x * x for x in b) ** 0.5
        return dot / (ma * mb)

    def distance_score(other: bytes) -> float:
        return cosine_similarity(decode(other), query)

    conn.create_function("distance_score", 1, distance_score)
    rows = conn.execute(
        "SELECT seq, distance_score(embedding) AS score FROM memory_vectors ORDER BY score DESC LIMIT ?", [k]
    ).fetchall()
    return [r[0] for r in rows]


def numpy_from_sqlite(conn, query_vec, k: int, dim: int) -> list[int]:
    """Exact scan, vectorised: read every blob from SQLite, one matrix product."""
    import numpy as np

    rows = conn.execute("SELECT seq, embedding FROM memory_vectors").fetchall()
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    top = exact_top(matrix, np.asarray(query_vec, dtype=np.float32), k)
    return [rows[i][0] for i in top]


def vector_diagnostics(store, filters, qvecs, seqs, matrix) -> dict:
    """Where SQLiteStore.vector_search spends its time, and what two fixes would save.

    - sqlite-vec's own bit KNN for several candidate counts (its cost grows with k),
      against the numpy Hamming scan of its chunks that vector_search uses;
    - the float re-score query of SQLiteStore._score as written (JOIN memories ...
      WHERE <filters> AND v.seq IN (...)), whose plan can walk every memory of the
      user through the (user, kind) index, against the same query driven by the
      IN-list of rowids (CROSS JOIN keeps memory_vectors as the outer loop);
    - recall@10 against exact search for fewer candidates.
    """
    conn = store.conn
    where, params = store.where(filters)
    knn = "SELECT rowid FROM vec_memories WHERE embedding MATCH vec_quantize_binary(?) AND k = ? AND user = ?"

    def med(fn: Callable[..., Any], *args: Any) -> float:
        return ms(pct([timed(fn, qv, *args)[0] for qv in qvecs], 50))

    def bit_knn(qv, k: int) -> list:
        return conn.execute(knn, [qv.tobytes(), k, USER]).fetchall()

    out: dict[str, Any] = {}
    for k in (50, 100, 200):
        out[f"bit_knn_k{k}_ms"] = med(bit_knn, k)
        out[f"numpy_scan_k{k}_ms"] = med(lambda qv, k=k: store.hamming_candidates(qv, k, USER))
    cands = {id(qv): [r[0] for r in conn.execute(knn, [qv.tobytes(), 200, USER])] for qv in qvecs}
    out["score_200_as_written_ms"] = med(lambda qv: store._score(cands[id(qv)], where, params, qv))

    def rowid_driven(qv):
        import numpy as np

        ids = ",".join(map(str, cands[id(qv)]))
        rows = conn.execute(
            f"SELECT v.seq, v.embedding FROM memory_vectors v CROSS JOIN memories m ON m.seq = v.seq "
            f"WHERE v.seq IN ({ids}) AND {where}",
            params,
        ).fetchall()
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return mat @ qv

    out["score_200_rowid_driven_ms"] = med(rowid_driven)
    some = ",".join(map(str, cands[id(qvecs[0])]))
    plan = conn.execute(
        f"EXPLAIN QUERY PLAN SELECT v.seq, v.embedding FROM memory_vectors v JOIN memories m ON m.seq = v.seq "
        f"WHERE {where} AND v.seq IN ({some})",
        params,
    ).fetchall()
    out["score_plan_as_written"] = "; ".join(str(r[-1]) for r in plan)
    for n_cand in (100, 200, 400):
        overlaps = []
        for qv in qvecs:
            got = {c.seq for c in store.vector_search(qv, filters, 10, candidates=n_cand)}
            exact = {seqs[i] for i in exact_top(matrix, qv, 10)}
            overlaps.append(len(got & exact) / 10)
        out[f"recall_at_10_candidates_{n_cand}"] = round(statistics.fmean(overlaps), 4)
    return out


def thread_ab(embedder, rounds: int = 3) -> dict | None:
    """Embedding throughput with 1 and 2 llama.cpp threads, interleaved (A/B/A/B...)."""
    llm = getattr(embedder, "_llm", None)
    if llm is None:
        return None
    from memcli.models.llama import set_threads

    original = int(getattr(llm, "n_threads", 0) or 0)
    res: dict[str, list[float]] = {"1": [], "2": []}
    try:
        for _ in range(rounds):
            for n in (1, 2):
                set_threads(llm, n)
                res[str(n)].append(embed_throughput(embedder, 320))
    finally:
        if original:
            set_threads(llm, original)
    return {
        "threads_at_load": original,
        "per_s_1_thread": round(statistics.median(res["1"]), 1),
        "per_s_2_threads": round(statistics.median(res["2"]), 1),
    }


def measure_inprocess(path: Path, embedder, queries: list[str], bf_queries: int) -> dict:

    from memcli import search
    from memcli.memory import Memory
    from memcli.records import Filters

    mem = Memory(path, embedder=embedder, user=USER)
    filters = Filters(user=USER)
    out: dict[str, Any] = {"queries": len(queries)}
    try:
        for q in queries[:5]:  # warm the page cache and the code paths
            for mode in MODES:
                mem.recall(q, filters, k=10, mode=mode, min_score=0.0)

        # Latency per mode, the query embedding included.
        hits_by_mode: dict[str, list[list[str]]] = {}
        for mode in MODES:
            times = []
            hits_by_mode[mode] = []
            for q in queries:
                t, hits = timed(mem.recall, q, filters, k=10, mode=mode, min_score=0.0)
                times.append(t)
                hits_by_mode[mode].append([h.record.id for h in hits])
            out[mode] = {
                "p50_ms": ms(pct(times, 50)),
                "p95_ms": ms(pct(times, 95)),
                "mean_ms": ms(statistics.fmean(times)),
                "max_ms": ms(max(times)),
            }

        # Where hybrid's time goes (same calls search.recall makes, k=10 -> depth 50).
        depth = max(50, 3 * 10)
        parts: dict[str, list[float]] = {
            "embed": [],
            "fts_search": [],
            "vector_search": [],
            "fts_only_cosines": [],
            "get_many": [],
        }
        vectors = {}
        for q in queries:
            t, vec = timed(embedder.embed, [q])
            vec = vec[0]
            vectors[q] = vec
            parts["embed"].append(t)
            t, fts = timed(mem.store.fts_search, search.query_terms(q), filters, depth)
            parts["fts_search"].append(t)
            t, vres = timed(mem.store.vector_search, vec, filters, depth)
            parts["vector_search"].append(t)
            missing = [c.id for c in fts if c.id not in {v.id for v in vres}]  # hybrid's cosines for these
            t, _ = timed(mem.store.similarities, missing, vec) if missing else (0.0, {})
            parts["fts_only_cosines"].append(t)
            best = list(dict.fromkeys([c.id for c in fts[:5]] + [c.id for c in vres[:5]]))[:10]
            t, _ = timed(mem.store.get_many, best)
            parts["get_many"].append(t)
        out["hybrid_parts_p50_ms"] = {name: ms(pct(v, 50)) for name, v in parts.items() if v}
        out["fts_candidates_p50"] = int(
            pct(
                [
                    len(mem.store.fts_search(search.query_terms(q), filters, 10**9))
                    for q in queries[:20]
                    if search.query_terms(q)
                ],
                50,
            )
        )

        # recall@10 of the vector mode against exact float search.
        dim = int(next(iter(vectors.values())).shape[0])
        seqs, ids, matrix = load_vectors(mem.store.conn, dim)
        overlaps = []
        from memcli import timequery

        for q, got in zip(queries, hits_by_mode["vector"], strict=True):
            searched = timequery.find(q).text  # recall embeds the words without the time they name
            vector = vectors[q] if searched == q else mem.embedder.embed([searched])[0]
            exact = {ids[i] for i in exact_top(matrix, vector, 10)}
            overlaps.append(len(exact & set(got)) / 10)
        out["vector_recall_at_10_vs_exact"] = round(statistics.fmean(overlaps), 4)

        out["vector_search_diagnostics"] = vector_diagnostics(
            mem.store, filters, [vectors[q] for q in queries[:30]], seqs, matrix
        )

        # Brute-force baselines over the same vectors (search only; the query is embedded).
        import sqlean

        raw = sqlean.connect(str(path))
        try:
            t_llm, t_np_sql, t_np_ram = [], [], []
            agree_llm = []
            for q in queries[:bf_queries]:
                t, top = timed(llm_similar, raw, vectors[q], 10)
                t_llm.append(t)
                exact = [seqs[i] for i in exact_top(matrix, vectors[q], 10)]
                agree_llm.append(len(set(top) & set(exact)) / 10)
            for q in queries[: max(bf_queries, 20)]:
                t, _ = timed(numpy_from_sqlite, raw, vectors[q], 10, dim)
                t_np_sql.append(t)
            for q in queries:
                t, _ = timed(exact_top, matrix, vectors[q], 10)
                t_np_ram.append(t)
        finally:
            raw.close()
        embed_p50 = pct(parts["embed"], 50)
        bf = {
            "llm_similar_python_p50_ms": ms(pct(t_llm, 50)),
            "llm_similar_runs": len(t_llm),
            "llm_similar_agrees_with_exact": round(statistics.fmean(agree_llm), 4),
            "numpy_load_from_sqlite_p50_ms": ms(pct(t_np_sql, 50)),
            "numpy_in_ram_p50_ms": ms(pct(t_np_ram, 50)),
            "numpy_in_ram_matrix_mb": round(matrix.nbytes / 1e6, 1),
        }
        # Ratios: end to end, both sides paying the query embedding.
        for name in ("llm_similar_python", "numpy_load_from_sqlite", "numpy_in_ram"):
            e2e = bf[f"{name}_p50_ms"] + ms(embed_p50)
            bf[f"{name}_e2e_over_vector_mode"] = round(e2e / out["vector"]["p50_ms"], 2)
            bf[f"{name}_e2e_over_hybrid_mode"] = round(e2e / out["hybrid"]["p50_ms"], 2)
        out["brute_force"] = bf
    finally:
        mem.close()
    return out


# -- cold CLI ------------------------------------------------------------------------------


def mem_exe() -> list[str]:
    exe = Path(sys.executable).parent / "mem"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("mem")
    return [found] if found else [sys.executable, "-m", "memcli"]


# Peak RSS of the child itself. The kernel carries the parent's high-water mark
# into a forked child's ru_maxrss (os.wait4 would report this big benchmark
# process's RSS), so the child reports VmHWM of its own, fresh, address space.
RSS_WRAPPER = (
    "import atexit, sys\n"
    "def _hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.__stderr__.write('\\n@@VmHWM ' + line.split()[1] + '\\n')\n"
    "atexit.register(_hwm)\n"
    "from memcli.cli import main\n"
    "sys.argv[0] = 'mem'\n"
    "main()\n"
)


def run_cold(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, exit code) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        print(f"    warning: {' '.join(argv[:3])}... exited {proc.returncode}: {err[:300]}", file=sys.stderr)
    return wall, proc.returncode


def peak_rss_mb(args: list[str], env: dict[str, str]) -> float | None:
    """Peak RSS (VmHWM) of a `mem ARGS` process, in MB."""
    proc = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    for line in proc.stderr.decode(errors="replace").splitlines():
        if line.startswith("@@VmHWM "):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def measure_cli(path: Path, out_dir: Path, queries: list[str], runs: int, env: dict[str, str]) -> dict:
    mem = mem_exe()
    res: dict[str, Any] = {"command": " ".join(mem), "runs": runs}
    # byte-compiled, as an installed package is (pip compiles at install; a checkout
    # run with PYTHONDONTWRITEBYTECODE set would compile every changed module per run)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "memcli")], check=False)
    cpu = CpuMonitor()

    def series(name: str, make_args: Callable[[int], list[str]]) -> None:
        run_cold([*mem, *make_args(-1)], env)  # one untimed run: page cache
        walls, codes = [], []
        for i in range(runs):
            w, c = run_cold([*mem, *make_args(i)], env)
            walls.append(w)
            codes.append(c)
        res[name] = {
            "median_s": round(statistics.median(walls), 3),
            "min_s": round(min(walls), 3),
            "max_s": round(max(walls), 3),
            "peak_rss_mb": peak_rss_mb(make_args(runs), env),
            "failures": sum(c != 0 for c in codes),
        }

    series("help", lambda i: ["--help"])
    series("recall", lambda i: ["recall", "--db", str(path), queries[(i + 1) % len(queries)]])
    copy = out_dir / f"{path.stem}.copy.db"
    remove_db(copy)
    shutil.copyfile(path, copy)
    try:
        series(
            "remember",
            lambda i: [
                "remember",
                "--db",
                str(copy),
                f"Cold start check {i + 2} at {time.time_ns()}: call the plumber about the boiler",
            ],
        )
    finally:
        remove_db(copy)
    res["cpu"] = cpu.result()
    return res


def importtime_top(path: Path, query: str, env: dict[str, str], n: int = 12) -> list[dict]:
    """The heaviest imports (cumulative) of a cold `mem recall`, from -X importtime."""
    code = "import sys; from memcli.cli import main; sys.argv=['mem']+sys.argv[1:]; main()"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, "recall", "--db", str(path), query],
        env=env,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _self_us, cum_us, name = line[len("import time:") :].split("|")
        name = name.rstrip()
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append({"module": name.strip(), "cumulative_ms": round(int(cum_us) / 1000, 1), "depth": depth})
    top_level = [r for r in rows if r["depth"] <= 1]
    top_level.sort(key=lambda r: -r["cumulative_ms"])
    return top_level[:n]


# -- report ----------------------------------------------------------------------------------


# -- beside the hardware and a peer -------------------------------------------------------


LOCOMO = REPO.parent / "shared" / "bench" / "locomo10.json"


def locomo_turns(path: Path = LOCOMO) -> list[tuple[str, str, str | None]]:
    """(conversation, text, occurred_at) of every LoCoMo turn, as bench/locomo.py stores them."""
    import locomo

    data = locomo.load_data(path) or []
    return [
        (conv.get("sample_id", "?"), locomo.turn_text(turn), occurred)
        for conv in data
        for occurred, _, _, turn in locomo.session_turns(conv["conversation"])
    ]


def locomo_import(embedder, turns: list[tuple[str, str, str | None]], out_dir: Path) -> dict:
    """Bulk import of the LoCoMo turns through Memory.remember (the path of `mem remember
    --jsonl`), each turn its own memory, embeddings included, into a fresh store; and the
    turns' tokens, for the FLOP ceiling."""
    from memcli.memory import Memory
    from memcli.records import NewMemory

    path = out_dir / "locomo-import.db"
    remove_db(path)
    by_user: dict[str, list[NewMemory]] = {}
    for user, text, occurred in turns:
        by_user.setdefault(user, []).append(NewMemory(text, occurred_at=occurred, source="locomo"))
    cpu = CpuMonitor()
    seconds = 0.0
    try:
        for user, items in by_user.items():
            mem = Memory(path, embedder=embedder, user=user)
            try:
                t, _ = timed(mem.remember, items)
                seconds += t
            finally:
                mem.close()
    finally:
        remove_db(path)
    tokens = None
    llm = getattr(embedder, "_llm", None)
    if llm is not None:
        tokens = statistics.mean(len(embedder._tokens(llm, text)) for _, text, _ in turns)
    return {
        "turns": len(turns),
        "seconds": round(seconds, 1),
        "memories_per_s": round(len(turns) / seconds, 1),
        "tokens_per_turn_mean": round(tokens, 1) if tokens else None,
        "cpu": cpu.result(),
    }


def llm_peer(
    llm: Path, gguf: Path, turns: list[tuple[str, str, str | None]], queries: list[str], runs: int
) -> dict:
    """simonw's `llm` with the same GGUF through llm-gguf: `llm embed-multi` of the same
    turns (memories/s), and cold `llm similar` (median of `runs`), in a scratch LLM_USER_PATH."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="memcli-llm-peer-") as home:
        env = {**os.environ, "LLM_USER_PATH": home}

        def llm_run(*args: str, stdin: bytes | None = None) -> float:
            t0 = time.perf_counter()
            subprocess.run([str(llm), *args], env=env, input=stdin, stdout=subprocess.DEVNULL, check=True)
            return time.perf_counter() - t0

        llm_run("gguf", "register-embed-model", "minilm", str(gguf))
        lines = "".join(
            json.dumps({"id": str(i), "content": text}) + "\n" for i, (_, text, _) in enumerate(turns)
        )
        source = Path(home) / "turns.jsonl"
        source.write_text(lines, encoding="utf-8")
        seconds = llm_run("embed-multi", "turns", str(source), "--format", "nl", "-m", "gguf/minilm")
        llm_run("similar", "turns", "-c", queries[0], "-n", "10")  # page cache
        walls = [
            llm_run("similar", "turns", "-c", queries[(i + 1) % len(queries)], "-n", "10")
            for i in range(runs)
        ]
        version = subprocess.run(
            [str(llm), "--version"], env=env, capture_output=True, text=True
        ).stdout.strip()
    return {
        "version": version,
        "embed_multi_per_s": round(len(turns) / seconds, 1),
        "embed_multi_seconds": round(seconds, 1),
        "cold_similar_median_s": round(statistics.median(walls), 3),
        "runs": runs,
    }


def verdicts(report: dict) -> dict[str, dict]:
    sizes = report["sizes"]
    biggest = sizes[max(sizes, key=int)]
    v: dict[str, dict] = {}

    def add(name: str, value: float | None, target: float) -> None:
        if value is None:
            return
        met = value >= target if name in HIGHER_IS_BETTER else value <= target
        v[name] = {"value": value, "target": target, "met": bool(met)}

    if "100000" in sizes:
        recall = sizes["100000"]["recall"]
        add("hybrid_p50_ms_at_100k", recall["hybrid"]["p50_ms"], TARGETS["hybrid_p50_ms_at_100k"])
        add(
            "vector_recall_at_10_at_100k",
            recall["vector_recall_at_10_vs_exact"],
            TARGETS["vector_recall_at_10_at_100k"],
        )
    cli = biggest.get("cli")
    if cli:
        add("cold_recall_s", cli["recall"]["median_s"], TARGETS["cold_recall_s"])
        add("cold_remember_s", cli["remember"]["median_s"], TARGETS["cold_remember_s"])
        add("help_s", cli["help"]["median_s"], TARGETS["help_s"])
        add("recall_peak_rss_mb", cli["recall"]["peak_rss_mb"], TARGETS["recall_peak_rss_mb"])
    if report.get("locomo_import"):
        add("locomo_import_per_s", report["locomo_import"]["memories_per_s"], TARGETS["locomo_import_per_s"])
    return v


def print_report(report: dict) -> None:
    print(f"\nmemcli recall benchmark ({report['machine']}, embedder {report['embedder']})")
    print(
        f"model load {report['model_load_s']} s; embedding alone {report['embed_only_per_s']} texts/s (batches of 64)"
    )
    th = report.get("embed_threads")
    if th:
        print(
            f"llama.cpp threads chosen at load: {th['threads_at_load']}; embedding alone with 1 thread "
            f"{th['per_s_1_thread']}/s, 2 threads {th['per_s_2_threads']}/s"
        )
    for size, body in report["sizes"].items():
        b = body["build"]
        print(f"\n== {int(size):,} memories ({b['file_mb']} MB file) ==")
        how = "reused store, figure from its build" if b.get("reused") else "built now"
        print(
            f"bulk import: {b['memories_per_s']} memories/s ({b['seconds']} s; {how}, {b.get('built_at')}; CPU {b.get('cpu')})"
        )
        r = body["recall"]
        print(f"{'in-process recall (k=10)':<28} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
        for mode in MODES:
            print(
                f"  {mode:<26} {r[mode]['p50_ms']:>8.2f} {r[mode]['p95_ms']:>8.2f} {r[mode]['mean_ms']:>8.2f}"
            )
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r["hybrid_parts_p50_ms"].items())
        print(f"  hybrid parts p50 ms: {parts}  (median FTS matches/query: {r['fts_candidates_p50']})")
        print(f"  vector mode recall@10 vs exact float search: {r['vector_recall_at_10_vs_exact']:.3f}")
        d = r["vector_search_diagnostics"]
        print(
            f"  vector_search parts p50 ms: candidates k=50/100/200 by sqlite-vec KNN "
            f"{d['bit_knn_k50_ms']:.1f}/{d['bit_knn_k100_ms']:.1f}/{d['bit_knn_k200_ms']:.1f}, "
            f"by numpy scan of its chunks {d['numpy_scan_k50_ms']:.1f}/{d['numpy_scan_k100_ms']:.1f}/"
            f"{d['numpy_scan_k200_ms']:.1f}; float re-score of 200 as written {d['score_200_as_written_ms']:.1f}, "
            f"rowid-driven {d['score_200_rowid_driven_ms']:.1f}"
        )
        print(f"    re-score plan as written: {d['score_plan_as_written']}")
        print(
            f"    recall@10 vs exact: 100 candidates {d['recall_at_10_candidates_100']:.3f}, "
            f"200 {d['recall_at_10_candidates_200']:.3f}, 400 {d['recall_at_10_candidates_400']:.3f}"
        )
        if r.get("cpu"):
            print(
                f"  CPU during these measurements: this process {r['cpu'].get('own_cpu_share')}, others {r['cpu'].get('foreign_busy')} (share of 2 cores)"
            )
        bf = r["brute_force"]
        print(f"{'brute force (search only)':<28} {'p50 ms':>8} {'e2e/vector':>11} {'e2e/hybrid':>11}")
        for name, label in [
            ("llm_similar_python", f"llm-similar Python ({bf['llm_similar_runs']} q)"),
            ("numpy_load_from_sqlite", "numpy, load from SQLite"),
            ("numpy_in_ram", f"numpy, in RAM ({bf['numpy_in_ram_matrix_mb']} MB)"),
        ]:
            print(
                f"  {label:<26} {bf[name + '_p50_ms']:>8.2f} {bf[name + '_e2e_over_vector_mode']:>10.1f}x {bf[name + '_e2e_over_hybrid_mode']:>10.1f}x"
            )
        cli = body.get("cli")
        if cli:
            print(f"cold CLI ({cli['command']}, median of {cli['runs']}):")
            for name in ("recall", "remember", "help"):
                c = cli[name]
                print(
                    f"  mem {name:<10} {c['median_s']:.3f} s (min {c['min_s']:.3f}, max {c['max_s']:.3f}), peak RSS {c['peak_rss_mb']} MB"
                    + (f", {c['failures']} FAILED" if c["failures"] else "")
                )
    if report.get("importtime_top"):
        print("\nheaviest imports of a cold `mem recall` (cumulative ms):")
        print("  " + ", ".join(f"{r['module']} {r['cumulative_ms']}" for r in report["importtime_top"][:8]))
    print_beside(report)
    print("\ntargets:")
    for name, v in report["targets"].items():
        print(
            f"  {name:<28} {v['value']:>9} (target {'>=' if name in HIGHER_IS_BETTER else '<='} {v['target']}): {'met' if v['met'] else 'MISSED'}"
        )


def print_beside(report: dict) -> None:
    """memcli's figures beside the machine's limits and the peer's, all from this run."""
    lim = report.get("limits")
    if not lim:
        return
    print(
        f"\nthis machine, this run: matmul peak {lim['matmul_peak_gflops']} GFLOP/s, "
        f"read bandwidth {lim['read_bandwidth_gbs']} GB/s"
    )
    imp, peer = report.get("locomo_import"), report.get("llm_peer")
    if imp:
        line = f"LoCoMo turns ({imp['turns']:,}, {imp['tokens_per_turn_mean']} tokens each on average): memcli {imp['memories_per_s']}/s"
        if lim.get("embed_ceiling_per_s"):
            line += f", matmul ceiling {lim['embed_ceiling_per_s']}/s ({lim['embed_share_of_peak']:.0%} of peak used)"
        if peer:
            line += f", llm embed-multi {peer['embed_multi_per_s']}/s"
        print(line)
    sizes = report["sizes"]
    if "100000" in sizes:
        r = sizes["100000"]["recall"]
        parts = r["hybrid_parts_p50_ms"]
        print(
            f"at 100k: hybrid p50 {r['hybrid']['p50_ms']:.1f} ms; its query embedding {parts.get('embed', float('nan')):.1f} ms "
            f"(floor {lim.get('query_embed_floor_ms', float('nan')):.2f} ms at matmul peak); binary codes "
            f"{lim.get('codes_mb_at_100k', float('nan'))} MB, read in at least {lim.get('codes_read_floor_ms', float('nan')):.2f} ms"
        )
    cli = sizes[max(sizes, key=int)].get("cli")
    if cli and peer:
        print(
            f"cold: mem recall {cli['recall']['median_s']:.3f} s, llm similar {peer['cold_similar_median_s']:.3f} s ({peer['version']})"
        )
    elif cli:
        print("cold: the llm peer was not run (bench/out/llm-venv, or --llm PATH; see --help)")


def machine_limits(embedder, locomo_tokens: float | None) -> dict:
    import limits

    figures = limits.measure()
    gguf = getattr(embedder, "path", None)
    if gguf is not None:
        query_tokens = 10
        peak = figures["matmul_peak_gflops"] * 1e9
        figures["query_embed_floor_ms"] = round(limits.encoder_flops(gguf, query_tokens) / peak * 1000, 3)
        if locomo_tokens:
            per_turn = limits.encoder_flops(gguf, round(locomo_tokens))
            figures["embed_ceiling_per_s"] = round(peak / per_turn, 1)
    width = 384 // 8
    figures["codes_mb_at_100k"] = round(100_000 * width / 1e6, 1)
    figures["codes_read_floor_ms"] = round(100_000 * width / (figures["read_bandwidth_gbs"] * 1e9) * 1000, 3)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated store sizes")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the stores even if present")
    parser.add_argument("--queries", type=int, default=100, help="number of queries per mode")
    parser.add_argument("--bf-queries", type=int, default=5, help="queries for the slow llm-similar baseline")
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--no-cli", action="store_true", help="skip the cold CLI measurements")
    parser.add_argument(
        "--llm",
        type=Path,
        default=HERE / "out" / "llm-venv" / "bin" / "llm",
        help="the llm executable to measure beside memcli, with llm-gguf installed "
        "(python -m venv bench/out/llm-venv && bench/out/llm-venv/bin/pip install llm llm-gguf)",
    )
    parser.add_argument("--no-locomo", action="store_true", help="skip the LoCoMo import and the llm peer")
    parser.add_argument(
        "--embedder", default="all-MiniLM-L6-v2", help="model spec; 'fake' only to test the plumbing"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    fake = args.embedder == "fake"

    load_s, embedder = timed(lambda: make_embedder(args.embedder))
    queries = corpus.queries(args.queries)
    env = {**os.environ, "MEMCLI_USER": USER}
    if fake:
        print("NOTE: fake embedder: the figures test the plumbing only", file=sys.stderr)
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "embedder": embedder.name,
        "model_load_s": round(load_s, 3),
        "embed_only_per_s": round(embed_throughput(embedder), 1),
        "embed_threads": thread_ab(embedder) if not fake else None,
        "sizes": {},
    }
    for size in sizes:
        path, info_path = store_paths(args.out, size, fake)
        print(f"[{size}] store {path}", file=sys.stderr)
        build = build_store(path, info_path, size, embedder, args.rebuild)
        body: dict[str, Any] = {"build": build}
        print(f"[{size}] in-process recall", file=sys.stderr)
        cpu = CpuMonitor()
        body["recall"] = measure_inprocess(path, embedder, queries, args.bf_queries)
        body["recall"]["cpu"] = cpu.result()
        if not args.no_cli and not fake:
            print(f"[{size}] cold CLI", file=sys.stderr)
            body["cli"] = measure_cli(path, args.out, queries, args.cli_runs, env)
        report["sizes"][str(size)] = body
    if not args.no_cli and not fake:
        biggest, _ = store_paths(args.out, max(sizes), fake)
        report["importtime_top"] = importtime_top(biggest, queries[0], env)
    turns = locomo_turns() if not args.no_locomo and not fake and LOCOMO.is_file() else []
    if turns:
        print(f"LoCoMo import of {len(turns)} turns", file=sys.stderr)
        report["locomo_import"] = locomo_import(embedder, turns, args.out)
    if not fake:
        print("machine limits", file=sys.stderr)
        imported = report.get("locomo_import") or {}
        report["limits"] = machine_limits(embedder, imported.get("tokens_per_turn_mean"))
        if imported.get("tokens_per_turn_mean") and report["limits"].get("embed_ceiling_per_s"):
            report["limits"]["embed_share_of_peak"] = round(
                imported["memories_per_s"] / report["limits"]["embed_ceiling_per_s"], 3
            )
    if turns and args.llm.is_file() and getattr(embedder, "path", None) is not None:
        print("llm peer", file=sys.stderr)
        report["llm_peer"] = llm_peer(args.llm, embedder.path, turns, queries, args.cli_runs)
    report["targets"] = verdicts(report)
    print_report(report)
    name = "recall_latency.json" if not fake else "recall_latency-fake.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
