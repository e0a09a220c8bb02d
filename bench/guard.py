"""Does `mem ask` answer what the notes hold, and only that? The guard set, with the real models.

    python bench/guard.py [--split dev|heldout|all] [--model NAME] [--out bench/out/guard.json] [-v]

bench/guard_set.json holds a few dozen hand-written personal notes, questions
they answer (with the key words of a right answer) and questions close to a note
that no note answers ("Where did I park the bike?" beside the car's note). All
notes go into one Memory on a temporary SQLite file, embedded by the real
all-MiniLM-L6-v2; each question goes through memcli.ask.ask with the real
default generation model (or --model), as `mem ask` runs it. Reported per split:

- answerable: answered right (every key word of one accepted answer is in it,
  by stem), answered wrong (an answer, but not the right one: invented or off),
  "I don't know";
- unanswerable: invented (any answer) or refused;
- the median seconds per question, and how many needed the extractive retry.

Targets with the default 0.5B model: no invented answer on either side, and at
least 85% of the answerable ones answered right. Tune on "dev", report "heldout".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from memcli.verify import source_forms  # noqa: E402

SET = HERE / "guard_set.json"
USER = "me"


def right(answer: str, expect: list[str]) -> bool:
    """One accepted answer's words all in `answer`, compared by stem ("orchid" is "orchids", "4" is "four")."""
    said = source_forms(answer)
    return any(all(source_forms(word) & said for word in alt.split()) for alt in expect)


def run(split: str, model: str | None, verbose: bool) -> dict:
    from memcli.ask import ask
    from memcli.memory import Memory
    from memcli.models.generate import load_generator
    from memcli.models.registry import load_embedder
    from memcli.records import Filters, NewMemory

    data = json.loads(SET.read_text())
    splits = ["dev", "heldout"] if split == "all" else [split]
    generator = load_generator(model)
    embedder = load_embedder("all-MiniLM-L6-v2")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="memcli-guard-") as tmp:
        mem = Memory(Path(tmp) / "guard.db", embedder=embedder, user=USER)
        try:
            mem.remember([NewMemory(text) for text in data["notes"]])
            questions = [(q, True) for q in data["answerable"]] + [(q, False) for q in data["unanswerable"]]
            for item, answerable in questions:
                if item["split"] not in splits:
                    continue
                start = time.perf_counter()
                answer = ask(mem, generator, item["question"], Filters(user=USER))
                seconds = time.perf_counter() - start
                if answerable:
                    verdict = (
                        ("right" if right(answer.text, item["expect"]) else "wrong")
                        if answer.known
                        else "refused"
                    )
                else:
                    verdict = "invented" if answer.known else "refused"
                row = {
                    "split": item["split"],
                    "answerable": answerable,
                    "question": item["question"],
                    "answer": answer.text,
                    "verdict": verdict,
                    "reason": answer.reason,
                    "unsupported": answer.unsupported,
                    "attempts": answer.attempts,
                    "shown": len(answer.used),
                    "seconds": round(seconds, 2),
                }
                rows.append(row)
                if verbose:
                    mark = {"right": "ok ", "refused": "-- ", "wrong": "XX ", "invented": "XX "}[verdict]
                    extra = f"  ({answer.reason}; {', '.join(answer.unsupported)})" if answer.reason else ""
                    print(
                        f"{mark}[{item['split']}] {item['question']} -> {answer.text}{extra} "
                        f"[{answer.attempts} call(s), {seconds:.1f} s]",
                        file=sys.stderr,
                    )
        finally:
            mem.close()
    return {
        "model": generator.name,
        "splits": {s: summary([r for r in rows if r["split"] == s]) for s in splits},
        "rows": rows,
    }


def summary(rows: list[dict]) -> dict:
    yes = [r for r in rows if r["answerable"]]
    no = [r for r in rows if not r["answerable"]]

    def count(subset: list[dict], verdict: str) -> int:
        return sum(r["verdict"] == verdict for r in subset)

    return {
        "answerable": len(yes),
        "right": count(yes, "right"),
        "wrong": count(yes, "wrong"),
        "dont_know": count(yes, "refused"),
        "unanswerable": len(no),
        "invented": count(no, "invented"),
        "refused": count(no, "refused"),
        "retried": sum(r["attempts"] > 1 for r in rows),
        "seconds_p50": round(statistics.median(r["seconds"] for r in rows), 2) if rows else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["dev", "heldout", "all"], default="all")
    parser.add_argument("--model", help="a generation model name or GGUF path (default: the configured one)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "guard.json")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every question and answer")
    args = parser.parse_args(argv)
    report = run(args.split, args.model, args.verbose)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"mem ask on the guard set ({SET.name}), {report['model']}:")
    for split, s in report["splits"].items():
        share = s["right"] / s["answerable"] if s["answerable"] else 0.0
        print(
            f"  {split:<8} answerable {s['answerable']}: right {s['right']} ({share:.0%}), "
            f"wrong {s['wrong']}, I don't know {s['dont_know']}; "
            f"unanswerable {s['unanswerable']}: invented {s['invented']}, refused {s['refused']}; "
            f"retried {s['retried']}; {s['seconds_p50']} s per question (median)"
        )
    for row in report["rows"]:
        if row["verdict"] in ("wrong", "invented"):
            print(f"  {row['verdict']} [{row['split']}]: {row['question']} -> {row['answer']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
