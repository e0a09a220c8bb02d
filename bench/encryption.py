"""What encryption at rest costs: a plain store against a SQLCipher one, in one run.

    python bench/encryption.py [--notes 5000] [--queries 100] [--runs 7] [--out bench/out]

The same --notes personal notes (bench/corpus.py) go into a plain store and an
encrypted one through the real API (`Memory.remember` in batches, the path of
`mem remember --jsonl`). Their vectors come from the real all-MiniLM-L6-v2,
computed once beforehand, so the figures are the storage's own cost, not the
model's (add the embedding time for what a user sees end to end). Reported for
each store:

- bulk import, memories per second (rows, full-text and vector indexes);
- in-process `Memory.recall` p50 per mode over --queries queries (their
  vectors precomputed too);
- opening the store and answering one query, median of --runs fresh opens
  (SQLCipher derives the key from the passphrase with PBKDF2 at every open);
- cold `mem recall` from the shell (median of --runs), the model's load included;
- the file's size.

Prints a table and writes OUT/encryption.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402

USER = "bench"
KEY = "a passphrase of some length for the benchmark"
MODES = ("hybrid", "fts", "vector")


class Precomputed:
    """The real model's vectors, looked up: the storage is what is timed."""

    def __init__(self, model, texts: list[str]) -> None:
        self.name, self.dim = model.name, model.dim
        self.vectors = dict(zip(texts, model.embed(texts)))
        self.model = model

    def embed(self, texts):
        import numpy as np

        missing = [t for t in texts if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.model.embed(missing)))
        return np.stack([self.vectors[t] for t in texts])


def measure(path: Path, key: str | None, notes, queries, embedder, runs: int) -> dict:
    from memcli.memory import Memory
    from memcli.records import Filters, NewMemory
    from memcli.store import encryption

    if key:
        os.environ[encryption.KEY_ENV] = key
    else:
        os.environ.pop(encryption.KEY_ENV, None)
    memory = Memory(path, embedder=embedder, user=USER)
    items = [NewMemory(text, kind=kind) for text, kind in notes]
    start = time.perf_counter()
    for at in range(0, len(items), 1000):
        memory.remember(items[at : at + 1000])
    imported = time.perf_counter() - start
    assert memory.stats().encrypted == bool(key)
    filters = Filters(user=USER)
    recall = {}
    for mode in MODES:
        times = []
        for q in queries:
            t = time.perf_counter()
            memory.recall(q, filters, k=10, mode=mode)
            times.append(time.perf_counter() - t)
        recall[mode] = statistics.median(times) * 1000
    memory.close()
    opens = []
    for _ in range(runs):
        t = time.perf_counter()
        fresh = Memory(path, embedder=embedder, user=USER)
        fresh.recall(queries[0], filters, k=10, mode="hybrid")
        opens.append(time.perf_counter() - t)
        fresh.close()
    cold = []
    env = {**os.environ, "MEMCLI_DB": str(path), "MEMCLI_USER": USER}
    exe = Path(sys.executable).with_name("mem")
    for q in queries[:runs]:
        t = time.perf_counter()
        subprocess.run([str(exe), "recall", q], env=env, check=True, capture_output=True)
        cold.append(time.perf_counter() - t)
    return {
        "import_per_s": len(items) / imported,
        "recall_p50_ms": recall,
        "open_and_query_ms": statistics.median(opens) * 1000,
        "cold_recall_s": statistics.median(cold),
        "file_mb": (path.stat().st_size + _size(path.with_name(path.name + "-wal"))) / 1e6,
    }


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args(argv)
    from memcli.models.registry import load_embedder

    notes = corpus.notes(args.notes, seed=11)
    queries = corpus.queries(args.queries, seed=3)
    print(f"embedding {len(notes)} notes and {len(queries)} queries once ...", file=sys.stderr)
    embedder = Precomputed(load_embedder("all-MiniLM-L6-v2"), [t for t, _ in notes] + queries)
    results = {}
    with tempfile.TemporaryDirectory(prefix="memcli-encryption-") as tmp:
        for name, key in (("plain", None), ("encrypted", KEY)):
            results[name] = measure(Path(tmp) / f"{name}.db", key, notes, queries, embedder, args.runs)
            print(f"  {name}: {results[name]}", file=sys.stderr)
    plain, enc = results["plain"], results["encrypted"]
    print(f"\nEncryption at rest, {args.notes} notes, {args.queries} queries (one run):")
    print(f"{'':28}{'plain':>12}{'encrypted':>12}{'ratio':>8}")

    def row(label: str, a: float, b: float, fmt: str = "{:.1f}") -> None:
        print(f"{label:28}{fmt.format(a):>12}{fmt.format(b):>12}{b / a:>8.2f}")

    row("bulk import (memories/s)", plain["import_per_s"], enc["import_per_s"], "{:.0f}")
    for mode in MODES:
        row(f"recall {mode} p50 (ms)", plain["recall_p50_ms"][mode], enc["recall_p50_ms"][mode], "{:.2f}")
    row("open + 1 query (ms)", plain["open_and_query_ms"], enc["open_and_query_ms"])
    row("cold mem recall (s)", plain["cold_recall_s"], enc["cold_recall_s"], "{:.3f}")
    row("file (MB)", plain["file_mb"], enc["file_mb"])
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "encryption.json"
    out.write_text(json.dumps({"notes": args.notes, "queries": args.queries, **results}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
