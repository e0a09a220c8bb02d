"""What this machine can do at most, and what the embedding model must compute.

    python bench/limits.py

The figures the speed benchmarks set memcli's beside:

- matmul peak: float32 matrix products through numpy's BLAS on every core,
  the best this CPU reaches on the work an embedding model is made of;
- read bandwidth: summing a 512 MB array, the most data a search can read
  from RAM per second;
- the model's work: multiply-adds per token of the embedding model, read from
  its GGUF (a BERT encoder: four attention projections and two feed-forward
  matrices per layer, plus attention over the text's own tokens).

From these, floors: the embedding of a text can take no less than its FLOPs over
the matmul peak, and a scan no less than its bytes over the bandwidth.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any


def matmul_peak_gflops(n: int = 2048, repeats: int = 7) -> float:
    """The best of `repeats` float32 n x n products, in GFLOP/s (2 n^3 each)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm up the BLAS threads
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def read_bandwidth_gbs(megabytes: int = 512, repeats: int = 5) -> float:
    """The best of `repeats` sums over an array of that size, in GB/s."""
    import numpy as np

    data = np.ones(megabytes * 1024 * 1024 // 8, dtype=np.float64)
    data.sum()
    best = min(_seconds(data.sum) for _ in range(repeats))
    return data.nbytes / best / 1e9


def _seconds(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def encoder_flops(gguf: Path, tokens: int) -> float:
    """FLOPs (2 per multiply-add) of one pass of a BERT-style encoder over `tokens` tokens."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from memcli.models.gguf_bert import read_metadata

    meta = read_metadata(gguf)
    arch = meta["general.architecture"]
    d, ff, layers = (
        meta[f"{arch}.embedding_length"],
        meta[f"{arch}.feed_forward_length"],
        meta[f"{arch}.block_count"],
    )
    per_token = 4 * d * d + 2 * d * ff  # q, k, v, output projections; up and down
    attention = 2 * tokens * d  # scores and the weighted sum, per token
    return 2.0 * layers * tokens * (per_token + attention)


def measure() -> dict[str, float]:
    return {
        "matmul_peak_gflops": round(matmul_peak_gflops(), 1),
        "read_bandwidth_gbs": round(read_bandwidth_gbs(), 2),
        "cores": float(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        ),
    }


def main() -> int:
    figures = measure()
    print(
        f"matmul peak {figures['matmul_peak_gflops']} GFLOP/s, read bandwidth {figures['read_bandwidth_gbs']} GB/s"
    )
    model = Path(os.environ.get("MEMCLI_MODELS_DIR", "~/.local/share/memcli/models")).expanduser()
    gguf = model / "all-MiniLM-L6-v2.F16.gguf"
    if gguf.is_file():
        for tokens in (10, 40):
            flops = encoder_flops(gguf, tokens)
            floor = flops / (figures["matmul_peak_gflops"] * 1e9)
            print(
                f"  {tokens}-token text: {flops / 1e6:.0f} MFLOP, at least {floor * 1000:.2f} ms "
                f"(at most {1 / floor:.0f} texts/s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
