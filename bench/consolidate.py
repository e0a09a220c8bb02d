"""`mem consolidate` benchmark: throughput, and LoCoMo retrieval before and after.

    python bench/consolidate.py [--conversation 0] [--sessions 5] [--model NAME]

The first --sessions sessions of one LoCoMo conversation (../shared/bench/locomo10.json,
skipped with a message when absent) are stored as in bench/locomo.py: one memory
per turn, one thread per session. Questions of categories 1-4 whose evidence lies
entirely in those sessions are recalled (hybrid, top 10) before consolidation;
then `mem consolidate` runs with the default generation model (timed: episodes
per minute), and the same questions are recalled again. A fact or digest counts
for the dia_ids of the episodes in its `sources`, so recall@10 measures whether
consolidation kept (or improved) the way to the evidence. The number of
memories before and after, and the actions taken, are printed too.

Consolidating costs a few seconds of model time per episode on 2 cores, so the
default is a slice of one conversation (about 100 turns), not all 5,882 turns.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import locomo  # noqa: E402


def timed_calls(generator: object) -> dict[str, list]:
    """Wrap generator.stream: calls, seconds and streamed pieces per kind of prompt."""
    totals: dict[str, list] = {}
    stream = generator.stream  # type: ignore[attr-defined]

    def timed(messages, **kw):  # type: ignore[no-untyped-def]
        system = messages[0]["content"]
        kind = {"You extract": "extract", "You keep a ": "reconcile", "You find wh": "entities"}.get(
            system[:11], "other"
        )
        entry = totals.setdefault(kind, [0, 0.0, 0])
        entry[0] += 1
        started = time.perf_counter()
        for piece in stream(messages, **kw):
            entry[2] += 1
            yield piece
        entry[1] = round(entry[1] + time.perf_counter() - started, 2)

    generator.stream = timed  # type: ignore[attr-defined]
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversation", type=int, default=0)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--model", default=None, help="generation model (default: the configured one)")
    parser.add_argument("--data", type=Path, default=locomo.DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args(argv)
    data = locomo.load_data(args.data)
    if data is None:
        print(f"SKIP: LoCoMo data not found at {args.data}", file=sys.stderr)
        return 0
    from memcli.consolidate import Consolidator
    from memcli.memory import Memory
    from memcli.models.generate import load_generator
    from memcli.records import Filters

    conv = data[args.conversation]
    sessions = {f"D{n}" for n in range(1, args.sessions + 1)}
    questions = [
        q
        for q in conv["qa"]
        if q.get("category") in locomo.CATEGORIES
        and locomo.gold_ids(q)
        and all(g.split(":")[0] in sessions for g in locomo.gold_ids(q))
    ]
    items = locomo.turn_memories(conv, max_session=args.sessions)
    filters = Filters(user="locomo", include_expired=True)
    with tempfile.TemporaryDirectory(prefix="memcli-consolidate-") as tmp:
        mem = Memory(Path(tmp) / "locomo.db", user="locomo")
        try:
            mem.remember(items)
            dia_of = {r.id: r.meta.get("dia_id") for r in mem.list(filters, limit=None)}

            def recall_at_10() -> float:
                scores = []
                for q in questions:
                    gold = set(locomo.gold_ids(q))
                    found: set[str] = set()
                    for hit in mem.recall(q["question"], filters, k=10):
                        own = hit.record.meta.get("dia_id")
                        found |= {own} if own else {dia_of.get(s) for s in hit.record.sources}
                    scores.append(len(gold & found) / len(gold))
                return sum(scores) / len(scores) if scores else float("nan")

            before_count = mem.stats().memories
            before = recall_at_10()
            generator = load_generator(args.model)
            generator.llm  # noqa: B018  (load outside the timing)
            model_time = timed_calls(generator)
            started = time.perf_counter()
            report = Consolidator(mem, lambda: generator, user="locomo").run()
            minutes = (time.perf_counter() - started) / 60
            after_count = mem.stats().memories
            after = recall_at_10()
        finally:
            mem.close()
    result = {
        "conversation": conv.get("sample_id"),
        "sessions": args.sessions,
        "episodes": report.episodes,
        "questions": len(questions),
        "model": generator.name,
        "minutes": round(minutes, 2),
        "episodes_per_minute": round(report.episodes / minutes, 1) if minutes else None,
        "memories_before": before_count,
        "memories_after": after_count,
        "recall_at_10_before": round(before, 4),
        "recall_at_10_after": round(after, 4),
        "model_calls": model_time,
        "report": {k: v for k, v in report.to_dict().items() if k != "changes"},
        "sample_facts": [c.text for c in report.changes if c.action == "ADD"][:10],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "consolidate.json").write_text(json.dumps(result, indent=2))
    print(
        f"\nmem consolidate on LoCoMo {result['conversation']}, sessions 1-{args.sessions} "
        f"({report.episodes} episodes, {len(questions)} questions), model {generator.name}"
    )
    print(f"  {result['episodes_per_minute']} episodes/minute ({result['minutes']} min)")
    print(f"  memories: {before_count} before, {after_count} after")
    print(
        f"  entities: {report.entities} found, {report.relations} relations, "
        f"{report.profile} profile fields changed"
    )
    r = result["report"]
    print(
        f"  facts {r['facts']}: added {r['added']}, updated {r['updated']}, superseded {r['superseded']}, "
        f"already known {r['unchanged']}; merged {r['merged']}; failures {r['failures']}"
    )
    for kind, (calls, seconds, pieces) in model_time.items():
        print(f"  model {kind}: {calls} calls, {seconds:.1f} s, {pieces} pieces generated")
    print(f"  hybrid recall@10: {before:.3f} before, {after:.3f} after")
    print(f"wrote {args.out / 'consolidate.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
