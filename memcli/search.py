"""Hybrid retrieval: full-text candidates and vector candidates fused by their scores.

Every score is in [0, 1], higher is better, in every output:

- full-text relevance: BM25 over what the query could attain (see
  memcli.store.base.relevance): a memory that holds only a common word of the
  query scores near 0 however good the rest of the matches are;
- similarity: the cosine of the query's and the memory's vectors (below 0
  counts 0);
- hybrid: FTS_WEIGHT * relevance + (1 - FTS_WEIGHT) * similarity, a convex
  combination of the two absolute scores (Bruch et al., "An Analysis of Fusion
  Functions for Hybrid Retrieval", 2023). Neither side is divided by its best
  value among the candidates, so the best of weak lexical matches does not
  count as a perfect one and cannot drown a strong semantic match;
- in hybrid mode (score fusion), neighbours count (`in_context`): those of the
  best few candidates join the candidates, and a memory next to a better match
  (within two turns of it in a thread, or stored within two of it and within an
  hour when neither has a thread) scores at least halfway between its own
  score and that match's (`neighbour_lifted`). The answer to a question is often
  said beside the words that match it ("what did she reply?");
- then importance, recency and validity weigh it (memcli.ranking), scaled so
  that the most a memory can get stays 1.

Candidates are memories by id; the store's `seq` (the order stored) breaks
ties, older first. Every candidate gets both scores: the cosine of a
full-text-only candidate is computed from its stored vector; a memory outside
the full-text list holds none of the query's words it ranked and scores 0 there.

Reciprocal-rank fusion (each list adds 1 / (60 + rank), Cormack et al. 2009)
remains as the `hybrid_fusion` setting `rrf`. It throws the score margins
away, so a memory that is mediocre in both lists beats one that matched the
query's rare words exactly, and with a weak embedding model it does worse than
BM25 alone (bench/locomo.py prints both fusions).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from .records import Filters, Hit, Scored

if TYPE_CHECKING:
    import numpy as np

    from .records import Entity
    from .store.base import Store
    from .timequery import TimeRange

MODES = ("hybrid", "fts", "vector")
FUSIONS = ("score", "rrf")
RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al.)
# hybrid = FTS_WEIGHT * relevance + (1 - FTS_WEIGHT) * similarity; fitted on the
# development half of LoCoMo (bench/locomo.py --sweep), reported on the held-out half
FTS_WEIGHT = 0.5
# In time_mode "boost", a memory that happened outside the span a query names keeps
# 1 - TIME_WEIGHT of its score (bench/locomo.py --sweep, development half).
TIME_WEIGHT = 0.5
TIME_MODES = ("filter", "boost", "off")
# In hybrid mode (score fusion), a memory within NEIGHBOUR_SPAN turns of a better-scoring one in its
# thread (or, when neither has a thread, stored within NEIGHBOUR_SPAN of it and within
# NEIGHBOUR_SECONDS of its time) is lifted halfway to that one's score: what is said
# next to a match is its context (bench/locomo.py, development half). The neighbours of
# the NEIGHBOUR_SEEDS best candidates are candidates too.
NEIGHBOUR_SPAN = 2
NEIGHBOUR_SECONDS = 3600
NEIGHBOUR_SEEDS = 5
# Only a memory that relates to the query on its own is lifted: one scoring under this
# (a cosine under 0.2 and no word in common) is not, however close it was stored. On
# LoCoMo's development half the floor cost 0.001 of R@10 without threads, nothing with.
NEIGHBOUR_FLOOR = 0.1
MAX_TERMS = 32
# Graph recall (hybrid mode): the memories that mention an entity the query names
# score 1 on a third list, those that mention an entity related to it GRAPH_RELATED;
# hybrid = (1 - graph_weight) * its score + graph_weight * that (the graph_weight
# setting; bench/locomo.py --sweep-graph, development half). Each entity's memories
# are searched by the query's vector, GRAPH_DEPTH of them (half for a related one).
GRAPH_RELATED = 0.5
GRAPH_DEPTH = 50
GRAPH_MAX_RELATED = 5
# A turn of a transcript said by a person the query names ("Ana: ...", for "What
# does Ana do to relax?") scores times 1 + the speaker_weight setting (at most 1):
# what someone is asked about is mostly what they said. Swept on LoCoMo's
# development half (bench/locomo.py --sweep-speaker).

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into
    is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would
    you your yours yourself yourselves""".split()
)


def stem(word: str) -> str:
    """A crude stem for comparing words outside FTS5: no plural s, then the
    first five letters ("dogs" -> "dog", "birthdays" -> "birth", "planted" ->
    "plant")."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:5]


def stems(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text.lower())}


def query_terms(text: str) -> list[str]:
    """The words of any input that full-text search looks for (any of them).

    Only plain words reach the index, so no query syntax is ever parsed. Stop
    words are dropped (they match half the store and cost time) unless the
    query has nothing else.
    """
    words = all_terms(text)
    return ([w for w in words if w not in STOPWORDS] or words)[:MAX_TERMS]


def all_terms(text: str) -> list[str]:
    """Every word of the input, once: the precise match `mem forget --query` uses
    (never cut short: a memory it matches has every one of them)."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))


@dataclass
class Candidates:
    """What hybrid ranking starts from: each list's scores, ranks and seqs."""

    relevance: dict[str, float] = field(default_factory=dict)  # full-text, [0, 1]
    similarity: dict[str, float] = field(default_factory=dict)  # cosine, every candidate's in hybrid
    fts_rank: dict[str, int] = field(default_factory=dict)
    vector_rank: dict[str, int] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    span: tuple[str, str] | None = None  # set when those outside a query's time span are weighed down
    filters: Filters | None = None  # what every candidate passed
    query_vector: np.ndarray | None = None  # the query's embedding, when it was embedded
    graph: dict[str, float] = field(default_factory=dict)  # graph recall's list, [0, 1]
    named: list[Entity] = field(default_factory=list)  # the entities the query names


def candidates(
    store: Store,
    embed_query: Callable[[str], np.ndarray],
    query: str,
    filters: Filters,
    *,
    depth: int,
    mode: str = "hybrid",
    span: TimeRange | None = None,
    time_mode: str = "off",
    graph: bool = False,
) -> Candidates:
    """The full-text and vector candidates of a query (each list `depth` long), and
    with `graph` (hybrid mode) graph recall's (`graph_candidates`).

    With a time `span` (memcli.timequery) and time_mode "filter", only memories
    that happened in it; with "boost", those and the whole store's, merged (the
    scores of those outside the span are then lowered: `time_weighed`)."""
    if span is None or time_mode == "off":
        found = _gather(store, embed_query, query, filters, depth=depth, mode=mode)
        return with_graph(store, found, query) if graph else found
    start, end = span.stamps()
    vectors: dict[str, np.ndarray] = {}

    def embed_once(text: str) -> np.ndarray:  # both gatherings search the same words
        if text not in vectors:
            vectors[text] = embed_query(text)
        return vectors[text]

    within = dataclasses.replace(
        filters,
        since=max(start, filters.since or start),
        until=min(end, filters.until or end),
    )
    inside = _gather(store, embed_once, query, within, depth=depth, mode=mode)
    if time_mode == "filter":
        return with_graph(store, inside, query) if graph else inside
    found = _gather(store, embed_once, query, filters, depth=depth, mode=mode)
    for name in ("relevance", "similarity", "seq"):
        mine, more = getattr(found, name), getattr(inside, name)
        mine.update({k: v for k, v in more.items() if k not in mine})
    for name in ("fts_rank", "vector_rank"):  # in-span candidates ranked after the store's own list
        ranks, more = getattr(found, name), getattr(inside, name)
        offset = len(ranks)
        ranks.update({k: offset + r for k, r in more.items() if k not in ranks})
    found.span = (start, end)
    return with_graph(store, found, query) if graph else found


def with_names(store: Store, found: Candidates, query: str, known: list[Entity] | None = None) -> Candidates:
    """The candidates with the entities the query names (`Candidates.named`), by a name
    or an alias (memcli.entities.Linker) among `known` (the user's entities); no search."""
    from .entities import Linker

    if found.filters is None:
        return found
    if known is None:
        known = store.entities(found.filters.user)
    named = Linker(known).find(query)
    if not named:
        return found
    by_id = {e.id: e for e in known}
    return dataclasses.replace(found, named=[by_id[e] for e in named])


def with_graph(store: Store, found: Candidates, query: str) -> Candidates:
    """The candidates with graph recall's list: the memories that mention the entities
    the query names (memcli.entities: by a name or an alias, as remembering links
    them) score 1, those that mention an entity related to one of them GRAPH_RELATED.
    Each entity's memories are searched by the query's vector (GRAPH_DEPTH best); new
    candidates come with their similarity."""
    vector, filters = found.query_vector, found.filters
    if vector is None or filters is None:
        return found
    known = store.entities(filters.user)
    found = with_names(store, found, query, known)
    if not found.named:
        return found
    named = [e.id for e in found.named]
    related: list[str] = []
    for relation in store.relations(filters.user, named):
        if relation.current:
            other = relation.object if relation.subject in named else relation.subject
            if other not in named and other not in related:
                related.append(other)
    self_ids = {e.id for e in known if e.kind == "self"}
    related = [e for e in related if e not in self_ids][:GRAPH_MAX_RELATED]
    graph: dict[str, float] = {}
    similarity = dict(found.similarity)
    seq = dict(found.seq)
    for entity_id, score, depth in [
        *((e, 1.0, GRAPH_DEPTH) for e in named),
        *((e, GRAPH_RELATED, GRAPH_DEPTH // 2) for e in related),
    ]:
        about = dataclasses.replace(filters, about=[*filters.about, entity_id])
        for hit in store.vector_search(vector, about, depth):
            graph[hit.id] = max(graph.get(hit.id, 0.0), score)
            similarity.setdefault(hit.id, max(0.0, hit.score))
            seq.setdefault(hit.id, hit.seq)
    return dataclasses.replace(found, graph=graph, similarity=similarity, seq=seq)


def graph_blended(found: Candidates, scores: dict[str, float], weight: float) -> dict[str, float]:
    """Hybrid scores with graph recall's list: (1 - weight) * score + weight * graph score."""
    if not found.graph or weight <= 0:
        return scores
    return {i: (1.0 - weight) * s + weight * found.graph.get(i, 0.0) for i, s in scores.items()}


def speaker_weighed(
    store: Store, found: Candidates, scores: dict[str, float], weight: float, query: str
) -> dict[str, float]:
    """Scores of the transcript turns said by a person the query names, times 1 + weight
    (at most 1): the speaker of a turn is its "Name: " (memcli.entities.speaker_of), in
    a thread. The names are looked up only when there are such turns."""
    if weight <= 0 or not scores:
        return scores
    places = store.places(list(scores))
    turns = [i for i in scores if i in places and places[i][0] is not None]
    if not turns:
        return scores
    named = found.named or with_names(store, found, query).named
    people = [e for e in named if e.kind == "person"]
    if not people:
        return scores
    from .entities import Linker, speaker_of

    linker = Linker(people)
    said = set()
    for memory_id, record in store.get_many(turns).items():
        speaker = speaker_of(record.text)
        if speaker and linker.find(speaker):
            said.add(memory_id)
    return {i: min(1.0, s * (1.0 + weight)) if i in said else s for i, s in scores.items()}


def time_weighed(store: Store, found: Candidates, scores: dict[str, float]) -> dict[str, float]:
    """Scores of memories that happened outside the query's time span, times 1 - TIME_WEIGHT
    (unchanged when none of the candidates happened in it)."""
    if found.span is None or not scores:
        return scores
    start, end = found.span
    facts = store.ranking_facts(list(scores))

    def inside(memory_id: str) -> bool:
        occurred = facts[memory_id][1] if memory_id in facts else None
        return occurred is not None and start <= occurred < end

    within = {i for i in scores if inside(i)}
    if not within:  # nothing happened then: the time says nothing about these candidates
        return scores
    return {i: score if i in within else score * (1.0 - TIME_WEIGHT) for i, score in scores.items()}


def in_context(
    store: Store, found: Candidates, fused: dict[str, float], fts_weight: float = FTS_WEIGHT
) -> tuple[dict[str, float], Candidates]:
    """Hybrid scores with the candidates' context: the neighbours of the best few join
    the candidates (scored by their similarity alone: they were not among the full-text
    matches), then the time the query named weighs them (time_weighed) and neighbours
    lift each other (neighbour_lifted). Returns the scores and the candidates, the new
    ones included (a copy: `found` is left as it was)."""
    scores = time_weighed(store, found, fused)
    seeds = sorted(scores, key=lambda i: (-scores[i], found.seq[i]))[:NEIGHBOUR_SEEDS]
    vector, filters = found.query_vector, found.filters
    if seeds and vector is not None and filters is not None:
        near = store.neighbours(seeds, filters, NEIGHBOUR_SPAN, NEIGHBOUR_SECONDS)
        new = {memory_id: seq for memory_id, seq in near.items() if memory_id not in fused}
        if new:
            found = dataclasses.replace(found, seq={**found.seq, **new}, similarity=dict(found.similarity))
            cosines = store.similarities(list(new), vector)
            for memory_id in new:
                found.similarity[memory_id] = max(0.0, cosines.get(memory_id, 0.0))
            fused = {**fused, **{i: (1.0 - fts_weight) * found.similarity[i] for i in new}}
            scores = time_weighed(store, found, fused)
    return neighbour_lifted(store, found, scores), found


def neighbour_lifted(store: Store, found: Candidates, scores: dict[str, float]) -> dict[str, float]:
    """Each candidate's score, at least halfway to the best score of its neighbours
    among the candidates (NEIGHBOUR_SPAN, NEIGHBOUR_SECONDS); never above that score, so a
    match keeps its place ahead of what it lifts. Lifts do not chain: a neighbour lifts
    with its own score. A candidate scoring under NEIGHBOUR_FLOOR is left as it is: an
    unrelated note written in the same sitting stays unrelated."""
    if len(scores) < 2:
        return scores
    places = store.places(list(scores))
    lines: dict[str | None, list[tuple[int, float, str]]] = {}  # thread (None: none) -> (position, time, id)
    for memory_id in scores:
        if memory_id not in places:
            continue
        doc_id, chunk, occurred = places[memory_id]
        if doc_id is not None and chunk is not None:
            lines.setdefault(doc_id, []).append((chunk, 0.0, memory_id))
        elif doc_id is None and memory_id in found.seq:
            when = datetime.fromisoformat(occurred).timestamp() if occurred else float("nan")
            lines.setdefault(None, []).append((found.seq[memory_id], when, memory_id))
    lifted = dict(scores)
    for thread, line in lines.items():
        line.sort()
        for i, (position, when, memory_id) in enumerate(line):
            best = scores[memory_id]
            for step in (-1, 1):
                j = i + step
                while 0 <= j < len(line) and abs(line[j][0] - position) <= NEIGHBOUR_SPAN:
                    if thread is not None or abs(line[j][1] - when) <= NEIGHBOUR_SECONDS:
                        best = max(best, scores[line[j][2]])
                    j += step
            if best > scores[memory_id] >= NEIGHBOUR_FLOOR:
                lifted[memory_id] = (scores[memory_id] + best) / 2
    return lifted


def _gather(
    store: Store,
    embed_query: Callable[[str], np.ndarray],
    query: str,
    filters: Filters,
    *,
    depth: int,
    mode: str,
) -> Candidates:
    found = Candidates(filters=filters)
    fts: list[Scored] = []
    vec: list[Scored] = []
    # in hybrid mode the model embeds the query on the other core while the full-text
    # index is searched; vector mode has nothing to overlap it with
    embedded = _in_background(embed_query, query) if mode == "hybrid" else None
    if mode in ("hybrid", "fts"):
        terms = query_terms(query)
        if terms:
            fts = store.fts_search(terms, filters, depth)
    query_vector = None
    if mode in ("hybrid", "vector"):
        query_vector = embedded() if embedded is not None else embed_query(query)
        vec = store.vector_search(query_vector, filters, depth)
    found.query_vector = query_vector
    found.fts_rank = {c.id: i + 1 for i, c in enumerate(fts)}
    found.vector_rank = {c.id: i + 1 for i, c in enumerate(vec)}
    found.seq = {c.id: c.seq for c in [*fts, *vec]}
    found.relevance = {c.id: c.score for c in fts}
    found.similarity = {c.id: max(0.0, c.score) for c in vec}
    if mode == "hybrid":
        missing = [c.id for c in fts if c.id not in found.similarity]
        if missing and vec and query_vector is not None:  # vec is empty when the store has no vectors yet
            more = store.similarities(missing, query_vector)
            found.similarity.update({i: max(0.0, s) for i, s in more.items()})
    return found


def _in_background(fn: Callable[[str], np.ndarray], arg: str) -> Callable[[], np.ndarray]:
    """Start fn(arg) in a thread; the function returned waits for its result (or
    raises its exception). The model runs in C without Python's lock, so this
    overlaps the query's embedding with the full-text search."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn(arg)
        except BaseException as exc:  # handed to the caller, which raises it
            out["error"] = exc

    thread = threading.Thread(target=run, name="memcli-embed-query", daemon=True)
    thread.start()

    def result() -> np.ndarray:
        thread.join()
        if "error" in out:
            raise out["error"]
        return cast("np.ndarray", out["value"])

    return result


def scores_of(
    found: Candidates, mode: str, fusion: str = "score", fts_weight: float = FTS_WEIGHT
) -> dict[str, float]:
    if mode == "fts":
        return dict(found.relevance)
    if mode == "vector":
        return dict(found.similarity)
    if fusion == "rrf":
        return rrf(found.fts_rank, found.vector_rank)
    return fuse(found.relevance, found.similarity, fts_weight)


def recall(
    store: Store,
    embed_query: Callable[[str], np.ndarray],
    query: str,
    filters: Filters,
    *,
    k: int = 10,
    mode: str = "hybrid",
    fusion: str = "score",
    adjust: bool = True,
    min_score: float = 0.0,
    span: TimeRange | None = None,
    time_mode: str = "off",
    now: datetime | None = None,
    graph_weight: float = 0.0,
    speaker_weight: float = 0.0,
) -> list[Hit]:
    """The k best memories for a query, those scoring under `min_score` left out.
    `span` is the time the query named (searched for as `time_mode` says), `now`
    the moment ranking counts ages from."""
    depth = max(50, 3 * k) if mode == "hybrid" else k
    scored = mode == "hybrid" and fusion == "score"
    found = candidates(
        store,
        embed_query,
        query,
        filters,
        depth=depth,
        mode=mode,
        span=span,
        time_mode=time_mode,
        graph=scored and graph_weight > 0,
    )
    if scored:  # rrf stays the published formula
        scores, found = in_context(store, found, scores_of(found, mode, fusion))
        scores = graph_blended(found, scores, graph_weight)
        scores = speaker_weighed(store, found, scores, speaker_weight, query)
    else:
        scores = time_weighed(store, found, scores_of(found, mode, fusion))
    if adjust and scores:
        scores = adjusted(store, scores, now=now, valid_at=filters.valid_at)
    order = found.seq
    best = sorted(scores, key=lambda memory_id: (-scores[memory_id], order[memory_id]))[:k]
    if min_score > 0:
        best = [memory_id for memory_id in best if scores[memory_id] >= min_score]
    records = store.get_many(best)
    return [
        Hit(
            record=records[memory_id],
            score=scores[memory_id],
            fts_rank=found.fts_rank.get(memory_id),
            vector_rank=found.vector_rank.get(memory_id),
            relevance=found.relevance.get(memory_id),
            similarity=found.similarity.get(memory_id),
        )
        for memory_id in best
        if memory_id in records
    ]


def adjusted(
    store: Store, scores: dict[str, float], *, now: datetime | None = None, valid_at: str | None = None
) -> dict[str, float]:
    """Scores weighed by importance, recency and validity (memcli.ranking), divided by
    the most that weighing can give, so that they stay in [0, 1]. Ages count to `now`;
    a fact superseded after `valid_at` counts as valid."""
    from .ranking import Weights, factor, most

    weights = Weights.from_config()
    when = now or datetime.now(UTC)
    facts = store.ranking_facts(list(scores))
    top = most(weights)

    def weight(importance: int, occurred: str, recalled: str | None, valid_to: str | None) -> float:
        if valid_at and valid_to and valid_to > valid_at:
            valid_to = None
        return factor(importance, occurred, recalled, valid_to, weights, when) / top

    return {
        memory_id: min(1.0, score * weight(*facts[memory_id])) if memory_id in facts else score
        for memory_id, score in scores.items()
    }


def fuse(
    relevance: dict[str, float], sims: dict[str, float], fts_weight: float = FTS_WEIGHT
) -> dict[str, float]:
    """Convex combination of full-text relevance and cosine similarity, both in [0, 1].

    `relevance` holds the full-text scores of the full-text candidates; a memory
    missing from it scores 0 on that side. `sims` holds the cosine of every
    candidate (below 0 counts 0).
    """
    return {
        memory_id: fts_weight * relevance.get(memory_id, 0.0)
        + (1.0 - fts_weight) * max(0.0, sims.get(memory_id, 0.0))
        for memory_id in dict.fromkeys([*relevance, *sims])
    }


def rrf(*rankings: dict[str, int], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal-rank fusion: each ranking adds 1 / (k + rank) to a candidate, scaled
    so that first in every ranking scores 1."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for memory_id, rank in ranking.items():
            scores[memory_id] = scores.get(memory_id, 0.0) + 1.0 / (k + rank)
    top = len(rankings) / (k + 1) if rankings else 1.0
    return {memory_id: score / top for memory_id, score in scores.items()}
