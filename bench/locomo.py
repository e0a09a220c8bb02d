"""Retrieval-only LoCoMo benchmark: recall@k of memcli's fts, vector and hybrid modes.

    python bench/locomo.py [--modes fts,vector,hybrid,rrf] [--limit-conversations N] [--out bench/out]

`hybrid` fuses the two lists by their scores (memcli's default); `rrf` is the
same hybrid recall with reciprocal-rank fusion (`hybrid_fusion rrf`).

For each of the 10 LoCoMo conversations a fresh store is built in a temporary
directory: every dialogue turn becomes one memory ("Speaker: text", plus
" [image: caption]" when the turn shared an image) with meta {"dia_id": ...}
and occurred_at = the session's date. Each session is stored as one thread
(doc_id = session, chunk = turn number), as `mem` stores any transcript, so
the full-text index sees every turn with its neighbours as context. Every question of categories 1-4
(1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop; 5 is adversarial and is
skipped) is then recalled top-20, and

    recall@k = |gold dia_ids among the top-k results| / |gold dia_ids|

is averaged per category and over all four. No judge model is needed.

The data (CC BY-NC 4.0, evaluation only) is read from ../shared/bench/locomo10.json
(or --data / $LOCOMO_PATH) and never copied into this repository; the
benchmark skips with a message when the file is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "bench" / "locomo10.json"
KS = (1, 5, 10, 20)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
DIA_ID = re.compile(r"D\d+:\d+")
DATE_FORMAT = "%I:%M %p on %d %B, %Y"  # "1:56 pm on 8 May, 2023"
FTS5_FLOOR = {"R@1": 0.282, "R@5": 0.493, "R@10": 0.559, "R@20": 0.629}  # ../shared/bench/README.md
HYBRID_TARGET_R10 = 0.70


def load_data(path: Path) -> list[dict] | None:
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def session_turns(conversation: dict) -> list[tuple[str | None, int, int, dict]]:
    """(occurred_at, session number, turn number, turn) for every turn of every session, in order."""
    out = []
    n = 1
    while f"session_{n}" in conversation or f"session_{n}_date_time" in conversation:
        turns = conversation.get(f"session_{n}") or []
        stamp = conversation.get(f"session_{n}_date_time")
        occurred = None
        if stamp:
            moment = datetime.strptime(stamp.strip(), DATE_FORMAT)
            occurred = moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # treated as UTC
        for i, turn in enumerate(turns, 1):
            out.append((occurred, n, i, turn))
        n += 1
    return out


def turn_text(turn: dict) -> str:
    text = f"{turn['speaker']}: {turn.get('text', '')}".strip()
    caption = turn.get("blip_caption")
    if caption:
        text += f" [image: {caption}]"
    return text


def turn_memories(conv: dict, max_session: int | None = None) -> list:
    """One memory per turn; each session is one thread (a doc_id, turns numbered in order)."""
    from memcli.records import NewMemory

    return [
        NewMemory(
            turn_text(t),
            occurred_at=occurred,
            meta={"dia_id": t["dia_id"]},
            source="locomo",
            doc_id=f"{conv.get('sample_id', '?')}:{session}",
            chunk=chunk,
        )
        for occurred, session, chunk, t in session_turns(conv["conversation"])
        if max_session is None or session <= max_session
    ]


def gold_ids(qa: dict) -> list[str]:
    ids: list[str] = []
    for item in qa.get("evidence") or []:
        ids.extend(DIA_ID.findall(str(item)))
    return list(dict.fromkeys(ids))


def make_embedder(kind: str):
    if kind == "fake":
        from memcli.models.embed import FakeEmbedder

        return FakeEmbedder()
    from memcli.models.registry import load_embedder

    embedder = load_embedder(kind)
    embedder.embed(["warm up"])
    return embedder


class CachedEmbedder:
    """The same question is embedded once for the vector and hybrid modes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._cache: dict[str, object] = {}

    def embed(self, texts):
        import numpy as np

        if len(texts) != 1:
            return self.inner.embed(texts)
        text = texts[0]
        if text not in self._cache:
            self._cache[text] = self.inner.embed([text])[0]
        return np.asarray([self._cache[text]])


def run(args: argparse.Namespace) -> dict | None:
    data = load_data(args.data)
    if data is None:
        print(
            f"SKIP: LoCoMo data not found at {args.data} (set --data or $LOCOMO_PATH). "
            "It is read from the shared directory and never copied into the repository.",
            file=sys.stderr,
        )
        return None
    from memcli.memory import Memory
    from memcli.records import Filters

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    conversations = data[: args.limit_conversations] if args.limit_conversations else data
    t0 = time.perf_counter()
    embedder = CachedEmbedder(make_embedder(args.embedder))
    load_s = time.perf_counter() - t0

    # per mode, per category: list of per-question recall@k dicts
    scores: dict[str, dict[int, list[dict[int, float]]]] = {m: {c: [] for c in CATEGORIES} for m in modes}
    recall_times: dict[str, list[float]] = {m: [] for m in modes}
    n_turns = 0
    n_questions = 0
    store_seconds = 0.0
    for conv in conversations:
        items = turn_memories(conv)
        questions = [q for q in conv["qa"] if q.get("category") in CATEGORIES and gold_ids(q)]
        with tempfile.TemporaryDirectory(prefix="memcli-locomo-") as tmp:
            mem = Memory(Path(tmp) / "locomo.db", embedder=embedder, user="locomo")
            try:
                t0 = time.perf_counter()
                results = mem.remember(items)
                store_seconds += time.perf_counter() - t0
                n_turns += len(items)
                dup = sum(r.status != "added" for r in results)
                filters = Filters(user="locomo", include_expired=True)
                for q in questions:
                    gold = set(gold_ids(q))
                    for mode in modes:
                        t0 = time.perf_counter()
                        hits = mem.recall(
                            q["question"],
                            filters,
                            k=max(KS),
                            mode="hybrid" if mode == "rrf" else mode,
                            fusion="rrf" if mode == "rrf" else "score",
                        )
                        recall_times[mode].append(time.perf_counter() - t0)
                        ranked = [h.record.meta.get("dia_id") for h in hits]
                        scores[mode][q["category"]].append(
                            {k: len(gold & set(ranked[:k])) / len(gold) for k in KS}
                        )
                n_questions += len(questions)
            finally:
                mem.close()
        print(
            f"  {conv.get('sample_id', '?')}: {len(items)} turns ({dup} duplicate texts), "
            f"{len(questions)} questions",
            file=sys.stderr,
        )

    def mean(rows: list[dict[int, float]]) -> dict[str, float]:
        return {f"R@{k}": (sum(r[k] for r in rows) / len(rows) if rows else float("nan")) for k in KS}

    report: dict = {
        "embedder": embedder.name,
        "conversations": len(conversations),
        "turns": n_turns,
        "questions": n_questions,
        "model_load_s": round(load_s, 3),
        "store_turns_per_s": round(n_turns / store_seconds, 1) if store_seconds else None,
        "fts5_floor": FTS5_FLOOR,
        "hybrid_target_R@10": HYBRID_TARGET_R10,
        "modes": {},
    }
    for mode in modes:
        per_cat = {}
        for cat, name in CATEGORIES.items():
            per_cat[f"{cat} {name}"] = {"n": len(scores[mode][cat]), **mean(scores[mode][cat])}
        overall_rows = [r for cat in CATEGORIES for r in scores[mode][cat]]
        times = sorted(recall_times[mode])
        report["modes"][mode] = {
            "overall": {"n": len(overall_rows), **mean(overall_rows)},
            "categories": per_cat,
            "recall_ms_p50": round(1000 * times[len(times) // 2], 2) if times else None,
        }
    if "hybrid" in modes:
        r10 = report["modes"]["hybrid"]["overall"]["R@10"]
        report["hybrid_target_met"] = bool(r10 >= HYBRID_TARGET_R10)
    return report


def print_table(report: dict) -> None:
    print(
        f"\nLoCoMo retrieval ({report['conversations']} conversations, {report['turns']} turns, "
        f"{report['questions']} questions of categories 1-4; embedder {report['embedder']})"
    )
    header = f"{'mode':<8} {'category':<15} {'n':>5} " + " ".join(f"{'R@' + str(k):>6}" for k in KS)
    print(header)
    print("-" * len(header))
    for mode, body in report["modes"].items():
        for label, row in [*body["categories"].items(), ("overall 1-4", body["overall"])]:
            cells = " ".join(f"{row[f'R@{k}']:>6.3f}" for k in KS)
            print(f"{mode:<8} {label:<15} {row['n']:>5} {cells}")
        print(
            f"{'':<8} recall p50 {body['recall_ms_p50']} ms (in-process, k=20; a question is embedded once, by the first mode that needs it)"
        )
    floor = " ".join(f"{FTS5_FLOOR[f'R@{k}']:>6.3f}" for k in KS)
    print(f"{'floor':<8} {'FTS5 OR (ref.)':<15} {'':>5} {floor}")
    if "hybrid_target_met" in report:
        r10 = report["modes"]["hybrid"]["overall"]["R@10"]
        verdict = "MET" if report["hybrid_target_met"] else "MISSED"
        print(f"hybrid overall R@10 = {r10:.3f} (target >= {HYBRID_TARGET_R10}): {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="fts,vector,hybrid,rrf")
    parser.add_argument("--limit-conversations", type=int, default=0, help="only the first N conversations")
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("LOCOMO_PATH") or DEFAULT_DATA), help="locomo10.json"
    )
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument(
        "--embedder",
        default="all-MiniLM-L6-v2",
        help="embedding model spec (default: the real model); 'fake' only to test the plumbing",
    )
    args = parser.parse_args(argv)
    for mode in args.modes.split(","):
        if mode.strip() and mode.strip() not in ("fts", "vector", "hybrid", "rrf"):
            parser.error(f"unknown mode {mode!r}")
    report = run(args)
    if report is None:
        return 0
    print_table(report)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "locomo.json" if args.embedder != "fake" else "locomo-fake.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
