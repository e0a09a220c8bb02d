"""What forgetting costs on a SQLite store, by store size.

    python bench/forget.py [--sizes 10000,100000] [--runs 11]

`mem forget` erases for real: the rows go, secure_delete zeroes their pages, and
the full-text index merges all its segments ('optimize'), since FTS5 keeps a
deleted row's words in older segments until they are merged (the FTS5
secure-delete option would not need the merge, but writes a format SQLite before
3.44 cannot read). The merge rewrites the whole index, so its cost grows with the
store. For each size, in one run:

- a store of n memories, corpus.notes(n) (real, distinct texts; vectors random
  unit vectors, as forgetting does not read them), built through the store
  contract in batches of 1,000;
- `Memory.forget([id])` of one memory, --runs times (each a separate call, a
  different memory), median and p95: what `mem forget ID` costs beyond start-up;
- one `Memory.forget` of 100 memories at once, to show the merge is paid once a call;
- and a check that the forgotten texts are gone from the file: each note carries
  a reference of its own ("ref k0001234q"), and the erased notes' references are
  searched in the file's bytes (beside as many kept ones, which must be found).

Start-up (`mem` itself) is measured by bench/recall_latency.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import corpus  # noqa: E402
from scale import USER, make_rows  # noqa: E402

from memcli.memory import Memory  # noqa: E402
from memcli.models.embed import FakeEmbedder  # noqa: E402
from memcli.timeparse import now_str  # noqa: E402

DIM = 384


def build(path: Path, n: int) -> Memory:
    mem = Memory(path, embedder=FakeEmbedder(dim=DIM), user=USER)
    rng = np.random.default_rng(1)
    now = now_str()
    notes = [(f"{text} (ref {marker(i)})", kind) for i, (text, kind) in enumerate(corpus.notes(n))]
    for start in range(0, n, 1000):
        rows = make_rows(notes[start : start + 1000], now)  # as bench/scale.py stores its notes
        vectors = rng.standard_normal((len(rows), DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        mem.store.insert(rows, vectors, mem.embedder.name)
    return mem


def marker(i: int) -> str:
    return f"k{i:07d}q"


def timed_forget(mem: Memory, ids: list[str]) -> float:
    start = time.perf_counter()
    mem.forget(ids)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    print("size     build s  forget 1: p50 ms  p95 ms  forget 100: ms  erased texts left")
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "forget.db"
            start = time.perf_counter()
            mem = build(path, n)
            built = time.perf_counter() - start
            ids = mem.store.select_ids(mem_filters(mem))
            rng = np.random.default_rng(2)
            chosen = [ids[i] for i in rng.choice(len(ids), size=args.runs + 100, replace=False)]
            texts = {i: mem.store.get(i).text for i in chosen}
            singles = [timed_forget(mem, [i]) for i in chosen[: args.runs]]
            hundred = timed_forget(mem, chosen[args.runs :])
            mem.store.scrub()
            mem.close()
            data = path.read_bytes()
            refs = {i: texts[i].rsplit("(ref ", 1)[1].rstrip(")") for i in chosen}
            left = sum(1 for ref in refs.values() if ref.encode() in data)
            erased = set(refs.values())
            sample = [marker(i) for i in range(n) if marker(i) not in erased][:: max(1, n // len(refs))]
            still = f"{sum(1 for ref in sample if ref.encode() in data)} of {len(sample)}"
            print(
                f"{n:<8} {built:7.1f}  {statistics.median(singles) * 1000:16.0f}  "
                f"{sorted(singles)[int(0.95 * (len(singles) - 1))] * 1000:6.0f}  {hundred * 1000:14.0f}  "
                f"{left} of {len(refs)} (kept: {still} found)"
            )


def mem_filters(mem: Memory, words: list[str] | None = None):
    from memcli.records import Filters

    return Filters(user=mem.user, include_expired=True, include_assistant=True, words=words or [])


if __name__ == "__main__":
    main()
