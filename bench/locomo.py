"""Retrieval-only LoCoMo benchmark: recall@k per category of memcli's fts, vector and hybrid modes.

    python bench/locomo.py [--split dev|held-out|all] [--loads threads,turns]
                           [--modes fts,vector,hybrid,rrf] [--sweep 0.2,0.3,...]

`hybrid` fuses the two lists by their scores (memcli's default); `rrf` is the
same candidates with reciprocal-rank fusion (`hybrid_fusion rrf`).

The ten conversations are split once, by position: the even ones (0, 2, 4,
6, 8: 788 questions) are the development part, where weights are tuned
(`--sweep`); the odd ones (1, 3, 5, 7, 9: 752 questions) are held out, and
figures are reported there. `--split all` runs both and prints each.

Two loads, each conversation in a fresh store in a temporary directory:

- threads: every dialogue turn is one memory ("Speaker: text", plus
  " [image: caption]" when the turn shared an image) with meta {"dia_id": ...}
  and occurred_at = the session's date, and each session is a thread
  (doc_id = session, chunk = turn number), as `mem` stores a transcript: the
  index sees every turn with its neighbours as context;
- turns: the same memories with no thread, as `mem remember` stores separate
  notes.

Every question of categories 1-4 (1 multi-hop, 2 temporal, 3 open-domain, 4
single-hop; 5 is adversarial and is skipped) is recalled top-20, and

    recall@k = |gold dia_ids among the top-k results| / |gold dia_ids|

is averaged per category and over all four. No judge model is needed. The
row "no shared word" holds the questions that share no content word (stem)
with their evidence: there only meaning can find it.

Each question's candidates are gathered once through memcli.search (the calls
`Memory.recall` makes, k=20) and ranked by every mode from them; the bench
checks that its hybrid ranking is what `Memory.recall` returns. `--sweep`
ranks hybrid at each full-text weight given (search.FTS_WEIGHT is the default).

`--vector-context prev|both` is a what-if: each threaded turn embedded with its
previous turn, or both its neighbours, as the full-text index sees them (memcli
embeds a turn alone: on the development half this lowered threaded R@10 of vector
from 0.522 to 0.494 / 0.483 and of hybrid from 0.755 to 0.742 / 0.740).

Vectors of the turns are cached in OUT/locomo-vectors-MODEL.npz (a text's
vector does not depend on the store); `--no-cache` embeds everything again
and reports the store's throughput with embedding.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "bench" / "locomo10.json"
KS = (1, 5, 10, 20)
OFF_TOPIC = 40  # questions of the next conversation asked of each store
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
DIA_ID = re.compile(r"D\d+:\d+")
DATE_FORMAT = "%I:%M %p on %d %B, %Y"  # "1:56 pm on 8 May, 2023"
FTS5_FLOOR = {"R@1": 0.282, "R@5": 0.493, "R@10": 0.559, "R@20": 0.629}  # ../shared/bench/README.md


def load_data(path: Path) -> list[dict] | None:
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def conversation_now(conv: dict) -> str:
    """The conversation's present: the day after its last session (what "recently",
    "in May" and "last year" are resolved against), as `mem recall --as-of` takes it."""
    last = max(filter(None, (o for o, _, _, _ in session_turns(conv["conversation"]))))
    now = datetime.strptime(last, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(days=1)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    """Each text is embedded once (questions by several modes, turns by both loads),
    and turns' vectors are kept on disk between runs unless `path` is None."""

    def __init__(self, inner, path: Path | None) -> None:
        import numpy as np

        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.path = path
        self.embedded = 0
        self.embed_seconds = 0.0
        self._cache: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                self._cache = dict(zip(data["texts"].tolist(), data["vectors"]))
        self._saved = len(self._cache)

    def embed(self, texts):
        import numpy as np

        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            t0 = time.perf_counter()
            vectors = self.inner.embed(todo)
            self.embed_seconds += time.perf_counter() - t0
            self.embedded += len(todo)
            self._cache.update(zip(todo, np.asarray(vectors, dtype=np.float32)))
        return np.stack([self._cache[t] for t in texts])

    def save(self) -> None:
        import numpy as np

        if self.path is None or len(self._cache) == self._saved:
            return
        texts = list(self._cache)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(self.path, texts=np.array(texts), vectors=np.stack([self._cache[t] for t in texts]))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def embed_with_context(how: str) -> None:
    """What-if (--vector-context): each threaded turn is embedded with its previous
    turn ("prev") or both neighbours ("both"), as the full-text index sees them. It
    patches Memory._store_batch in this process only; memcli embeds a turn alone."""
    from memcli.memory import Memory

    plain = Memory._store_batch

    def store_batch(self, batch):
        around = {(r.record.doc_id, r.record.chunk): r.record.text for r in batch if r.record.doc_id}
        first = {}
        for row in batch:
            first.setdefault(row.record.text, row.record)
        embed = self._embed

        def with_context(texts):
            out = []
            for text in texts:
                rec = first[text]
                parts = [text]
                if rec.doc_id and rec.chunk:
                    parts.insert(0, around.get((rec.doc_id, rec.chunk - 1)))
                    if how == "both":
                        parts.append(around.get((rec.doc_id, rec.chunk + 1)))
                out.append("\n".join(p for p in parts if p))
            return embed(out)

        self._embed = with_context
        try:
            return plain(self, batch)
        finally:
            del self._embed

    Memory._store_batch = store_batch


def split_of(index: int) -> str:
    return "dev" if index % 2 == 0 else "held-out"


def content_stems(text: str) -> set[str]:
    from memcli import search

    return {search.stem(w) for w in search.query_terms(text) if w not in search.STOPWORDS}


def rankings(
    mem,
    question: str,
    filters,
    weights: list[float],
    modes: list[str],
    now,
    time_weights: list[float],
    graph_weights: list[float] = (),
    speaker_weights: list[float] = (),
) -> dict[str, list[tuple[str, float]]]:
    """Each mode's top-20 (memory id, score), as Memory.recall ranks them at `now`; the
    modes (and --sweep weights) with the query_time setting's way with a time the
    question names, and hybrid with each of the three ("hybrid time=off", ...)."""
    from memcli import search, settings, timequery

    k = max(KS)
    depth = max(50, 3 * k)
    timed = timequery.find(question, now)
    default = settings.value("query_time")
    gathered: dict[str, object] = {}

    def found_for(time_mode: str):
        if time_mode not in gathered:
            text = question if time_mode == "off" else timed.text
            gathered[time_mode] = search.candidates(
                mem.store,
                lambda q: mem._embed([q])[0],
                text,
                filters,
                depth=depth,
                span=timed.span,
                time_mode=time_mode,
                graph=True,
            )
        return gathered[time_mode]

    def top(
        found,
        scores: dict[str, float],
        time_weight: float | None = None,
        lift: bool = True,
        fts_weight: float = search.FTS_WEIGHT,
        graph_weight: float | None = None,
        speaker_weight: float | None = None,
    ) -> list[tuple[str, float]]:
        saved = search.TIME_WEIGHT
        if time_weight is not None:
            search.TIME_WEIGHT = time_weight
        try:
            if lift:  # hybrid's context: neighbours join and lift (search.in_context), then the graph
                scores, found = search.in_context(mem.store, found, scores, fts_weight)
                weight = settings.value("graph_weight") if graph_weight is None else graph_weight
                scores = search.graph_blended(found, scores, weight)
                weight = settings.value("speaker_weight") if speaker_weight is None else speaker_weight
                scores = search.speaker_weighed(mem.store, found, scores, weight, question)
            else:
                scores = search.time_weighed(mem.store, found, scores)
        finally:
            search.TIME_WEIGHT = saved
        scores = search.adjusted(mem.store, scores, now=now, valid_at=filters.valid_at) if scores else scores
        return [(i, scores[i]) for i in sorted(scores, key=lambda i: (-scores[i], found.seq[i]))[:k]]

    out: dict[str, list[tuple[str, float]]] = {}
    found = found_for(default)
    for mode in modes:
        if mode == "rrf":
            out[mode] = top(found, search.scores_of(found, "hybrid", "rrf"), lift=False)
        else:
            out[mode] = top(found, search.scores_of(found, mode), lift=mode == "hybrid")
    if "hybrid" in modes:
        out["hybrid neighbours=off"] = top(found, search.scores_of(found, "hybrid"), lift=False)
        out["hybrid graph=off"] = top(found, search.scores_of(found, "hybrid"), graph_weight=0.0)
        out["hybrid speaker=off"] = top(found, search.scores_of(found, "hybrid"), speaker_weight=0.0)
    for w in speaker_weights:
        out[f"hybrid speaker@{w:g}"] = top(found, search.scores_of(found, "hybrid"), speaker_weight=w)
    for w in graph_weights:
        out[f"hybrid graph@{w:g}"] = top(found, search.scores_of(found, "hybrid"), graph_weight=w)
    for w in weights:
        out[f"hybrid@{w:g}"] = top(found, search.scores_of(found, "hybrid", fts_weight=w), fts_weight=w)
    if "hybrid" in modes:
        for time_mode in search.TIME_MODES:
            f = found_for(time_mode)
            out[f"hybrid time={time_mode}"] = top(f, search.scores_of(f, "hybrid"))
        for w in time_weights:
            f = found_for("boost")
            out[f"hybrid boost@{w:g}"] = top(f, search.scores_of(f, "hybrid"), time_weight=w)
    return out


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
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    weights = [float(w) for w in args.sweep.split(",") if w.strip()] if args.sweep else []
    time_weights = [float(w) for w in args.sweep_time.split(",") if w.strip()] if args.sweep_time else []
    graph_weights = [float(w) for w in args.sweep_graph.split(",") if w.strip()] if args.sweep_graph else []
    speaker_weights = (
        [float(w) for w in args.sweep_speaker.split(",") if w.strip()] if args.sweep_speaker else []
    )
    from memcli.entities import learn_plain

    splits = ["dev", "held-out"] if args.split == "all" else [args.split]
    picked = [(i, c) for i, c in enumerate(data) if split_of(i) in splits]
    if args.limit_conversations:
        picked = picked[: args.limit_conversations]
    if args.vector_context != "none":
        embed_with_context(args.vector_context)
    t0 = time.perf_counter()
    cache = None if args.no_cache else args.out / f"locomo-vectors-{args.embedder}.npz"
    embedder = CachedEmbedder(make_embedder(args.embedder), cache)
    load_s = time.perf_counter() - t0

    rows: dict[tuple[str, str, str], list[dict]] = {}  # (split, load, mode) -> per-question rows
    recall_times: list[float] = []
    gold_scores: dict[str, list[float]] = {}  # load -> hybrid scores of evidence found in a top 10
    off_topic: dict[str, list[float]] = {}  # load -> best hybrid score of another conversation's question
    store_seconds = 0.0
    graph_seconds = 0.0
    entity_counts: list[int] = []
    n_turns = 0
    checked = 0
    for index, conv in picked:
        split = split_of(index)
        questions = [q for q in conv["qa"] if q.get("category") in CATEGORIES and gold_ids(q)]
        as_of = conversation_now(conv)
        now = datetime.strptime(as_of, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        for load in loads:
            items = turn_memories(conv)
            if load == "turns":
                for item in items:
                    item.doc_id, item.chunk = None, None
            with tempfile.TemporaryDirectory(prefix="memcli-locomo-") as tmp:
                mem = Memory(Path(tmp) / "locomo.db", embedder=embedder, user="locomo")
                try:
                    t0 = time.perf_counter()
                    mem.remember(items)
                    store_seconds += time.perf_counter() - t0
                    if not args.no_graph:  # consolidation's entity step without the model
                        t0 = time.perf_counter()
                        n_entities = learn_plain(mem.store, mem.list(limit=None))
                        graph_seconds += time.perf_counter() - t0
                        entity_counts.append(n_entities)
                    n_turns += len(items)
                    by_id = {r.id: r.meta.get("dia_id") for r in mem.list(limit=None)}
                    filters = Filters(user="locomo", include_expired=True, until=as_of, valid_at=as_of)
                    for q in questions:
                        gold = set(gold_ids(q))
                        t0 = time.perf_counter()
                        ranked = rankings(
                            mem,
                            q["question"],
                            filters,
                            weights,
                            modes,
                            now,
                            time_weights,
                            graph_weights,
                            speaker_weights,
                        )
                        recall_times.append(time.perf_counter() - t0)
                        if checked < 20 and "hybrid" in ranked:  # the bench ranks as mem recall does
                            hits = mem.recall(
                                q["question"], filters, k=max(KS), fusion="score", as_of=as_of, min_score=0.0
                            )
                            if [h.record.id for h in hits] != [i for i, _ in ranked["hybrid"]]:
                                raise SystemExit(
                                    f"hybrid ranking differs from Memory.recall: {q['question']!r}"
                                )
                            checked += 1
                        evidence = " ".join(
                            turn_text(t)
                            for _, _, _, t in session_turns(conv["conversation"])
                            if t["dia_id"] in gold
                        )
                        shared = bool(content_stems(q["question"]) & content_stems(evidence))
                        for mode, found in ranked.items():
                            dia = [by_id.get(i) for i, _ in found]
                            row = {k: len(gold & set(dia[:k])) / len(gold) for k in KS}
                            row["category"], row["shared"] = q["category"], shared
                            rows.setdefault((split, load, mode), []).append(row)
                        if "hybrid" in ranked:
                            gold_scores.setdefault(load, []).extend(
                                score for i, score in ranked["hybrid"][:10] if by_id.get(i) in gold
                            )
                    # Questions about another conversation: what "nothing matches well" scores.
                    other = data[(index + 1) % len(data)]
                    for q in [q for q in other["qa"] if q.get("category") in CATEGORIES][:OFF_TOPIC]:
                        hits = mem.recall(q["question"], filters, k=1, min_score=0.0, as_of=as_of)
                        off_topic.setdefault(load, []).append(hits[0].score if hits else 0.0)
                finally:
                    mem.close()
        print(
            f"  {conv.get('sample_id', '?')} ({split}): {len(items)} turns, {len(questions)} questions",
            file=sys.stderr,
        )
    embedder.save()

    def mean(group: list[dict]) -> dict[str, float]:
        return {
            "n": len(group),
            **{f"R@{k}": (sum(r[k] for r in group) / len(group) if group else float("nan")) for k in KS},
        }

    report: dict = {
        "embedder": embedder.name,
        "split": "dev = conversations 0, 2, 4, 6, 8; held-out = 1, 3, 5, 7, 9",
        "conversations": len(picked),
        "turns": n_turns,
        "model_load_s": round(load_s, 3),
        "fts_weight": __import__("memcli.search", fromlist=["FTS_WEIGHT"]).FTS_WEIGHT,
        "time_weight": __import__("memcli.search", fromlist=["TIME_WEIGHT"]).TIME_WEIGHT,
        "query_time": __import__("memcli.settings", fromlist=["value"]).value("query_time"),
        "vector_context": args.vector_context,
        "store_turns_per_s_with_embedding": (
            round(n_turns / store_seconds, 1) if store_seconds and embedder.embedded >= n_turns / 2 else None
        ),
        "graph_weight": __import__("memcli.settings", fromlist=["value"]).value("graph_weight"),
        "speaker_weight": __import__("memcli.settings", fromlist=["value"]).value("speaker_weight"),
        "entities_per_store": entity_counts,
        "entity_pass_s": round(graph_seconds, 2),
        "ranking_ms_p50": round(1000 * sorted(recall_times)[len(recall_times) // 2], 2)
        if recall_times
        else None,
        "fts5_floor": FTS5_FLOOR,
        "results": {},
    }
    report["min_score"] = {
        load: {
            "evidence_in_top10_score_percentiles": {
                p: round(percentile(gold_scores[load], p), 3) for p in (1, 5, 10, 50)
            },
            "off_topic_best_score_percentiles": {
                p: round(percentile(off_topic[load], p), 3) for p in (50, 90, 99)
            },
            "by_threshold": {
                f"{t:.2f}": {
                    "evidence_kept": round(
                        sum(x >= t for x in gold_scores[load]) / len(gold_scores[load]), 4
                    ),
                    "off_topic_answered_none": round(
                        sum(x < t for x in off_topic[load]) / len(off_topic[load]), 4
                    ),
                }
                for t in THRESHOLDS
            },
        }
        for load in gold_scores
        if gold_scores[load] and off_topic.get(load)
    }
    for (split, load, mode), group in rows.items():
        body = report["results"].setdefault(split, {}).setdefault(load, {})
        body[mode] = {
            "overall": mean(group),
            "categories": {
                f"{c} {name}": mean([r for r in group if r["category"] == c])
                for c, name in CATEGORIES.items()
            },
            "no shared word": mean([r for r in group if not r["shared"]]),
        }
    return report


def print_table(report: dict) -> None:
    print(
        f"\nLoCoMo retrieval, R@10 (R@20 in the overall column's brackets): embedder {report['embedder']}, "
        f"hybrid fts weight {report['fts_weight']}, query_time {report['query_time']} (time weight {report['time_weight']}); {report['split']}"
    )
    labels = [f"{c} {name}" for c, name in CATEGORIES.items()]
    header = f"{'split':<9} {'load':<8} {'mode':<12} " + " ".join(f"{lab:>14}" for lab in labels)
    header += f" {'no shared word':>15} {'overall 1-4':>16}"
    print(header)
    print("-" * len(header))
    for split, loads in report["results"].items():
        for load, modes in loads.items():
            for mode, body in modes.items():
                cells = " ".join(f"{body['categories'][lab]['R@10']:>14.3f}" for lab in labels)
                o, ns = body["overall"], body["no shared word"]
                print(
                    f"{split:<9} {load:<8} {mode:<12} {cells} {ns['R@10']:>8.3f} (n={ns['n']:>3})"
                    f" {o['R@10']:>8.3f} ({o['R@20']:.3f})"
                )
    for load, body in report.get("min_score", {}).items():
        ev, off = body["evidence_in_top10_score_percentiles"], body["off_topic_best_score_percentiles"]
        print(
            f"hybrid scores, {load}: evidence in a top 10 p1/p5/p10/p50 "
            + "/".join(f"{ev[p]:.3f}" for p in ev)
            + "; another conversation's question, best p50/p90/p99 "
            + "/".join(f"{off[p]:.3f}" for p in off)
        )
        print(
            "  --min-score t: evidence kept / off-topic answered with nothing: "
            + ", ".join(
                f"{t} {v['evidence_kept']:.3f}/{v['off_topic_answered_none']:.3f}"
                for t, v in body["by_threshold"].items()
            )
        )
    print(f"floor: plain FTS5 OR over all ten conversations, overall R@10 {FTS5_FLOOR['R@10']}")
    if report.get("store_turns_per_s_with_embedding"):
        print(f"stored {report['store_turns_per_s_with_embedding']} turns/s (embedding included)")
    print(f"ranking p50 {report['ranking_ms_p50']} ms per question (every mode from one gathering)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="fts,vector,hybrid,rrf")
    parser.add_argument("--loads", default="threads,turns")
    parser.add_argument("--split", choices=("dev", "held-out", "all"), default="all")
    parser.add_argument(
        "--sweep", default="", help="full-text weights of hybrid to rank at too (tune on dev)"
    )
    parser.add_argument(
        "--sweep-time", default="", help="TIME_WEIGHT values of boost to rank at too (tune on dev)"
    )
    parser.add_argument(
        "--vector-context",
        choices=("none", "prev", "both"),
        default="none",
        help="what-if: embed each threaded turn with its previous turn, or both neighbours",
    )
    parser.add_argument("--limit-conversations", type=int, default=0, help="only the first N of the split")
    parser.add_argument("--no-cache", action="store_true", help="embed every turn again (and time the store)")
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("LOCOMO_PATH") or DEFAULT_DATA), help="locomo10.json"
    )
    parser.add_argument(
        "--sweep-graph", default="", help="graph recall weights to rank hybrid at (rows 'hybrid graph@W')"
    )
    parser.add_argument(
        "--sweep-speaker",
        default="",
        help="speaker weights to rank hybrid at (rows 'hybrid speaker@W')",
    )
    parser.add_argument("--no-graph", action="store_true", help="no entity pass: graph recall finds nothing")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--json", type=Path, default=None, help="report file (default OUT/locomo.json)")
    parser.add_argument(
        "--embedder",
        default="all-MiniLM-L6-v2",
        help="embedding model spec (default: the real model); 'fake' only to test the plumbing",
    )
    args = parser.parse_args(argv)
    for mode in args.modes.split(","):
        if mode.strip() and mode.strip() not in ("fts", "vector", "hybrid", "rrf"):
            parser.error(f"unknown mode {mode!r}")
    for load in args.loads.split(","):
        if load.strip() and load.strip() not in ("threads", "turns"):
            parser.error(f"unknown load {load!r}")
    report = run(args)
    if report is None:
        return 0
    print_table(report)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.json or (args.out / ("locomo.json" if args.embedder != "fake" else "locomo-fake.json"))
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
