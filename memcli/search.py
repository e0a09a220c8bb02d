"""Hybrid retrieval: BM25 candidates and vector candidates fused by their scores.

Hybrid mode takes the best BM25 matches and the nearest vectors, gives every
candidate both scores (the cosine of a full-text-only candidate is computed
from its stored vector; a memory outside the BM25 list matched too few query
words to count and scores 0 there), scales each score by its best value among
the candidates, and ranks by the equal-weight sum (a convex combination, as in
Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023).

Reciprocal-rank fusion (each list adds 1 / (60 + rank), Cormack et al. 2009)
remains as the `hybrid_fusion` setting `rrf`. It throws the score margins
away, so a memory that is mediocre in both lists beats one that matched the
query's rare words exactly, and with a weak embedding model it does worse than
BM25 alone (bench/locomo.py prints both fusions).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING

from .records import Filters, Hit

if TYPE_CHECKING:
    import numpy as np

    from .store.base import Store

MODES = ("hybrid", "fts", "vector")
FUSIONS = ("score", "rrf")
RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al.)
FTS_WEIGHT = 0.5  # hybrid score = FTS_WEIGHT * bm25 / best bm25 + (1 - FTS_WEIGHT) * cosine / best cosine
MAX_TERMS = 32

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
) -> list[Hit]:
    depth = max(50, 3 * k)
    fts: list[tuple[int, float]] = []
    vec: list[tuple[int, float]] = []
    if mode in ("hybrid", "fts"):
        terms = query_terms(query)
        if terms:
            fts = store.fts_search(terms, filters, depth if mode == "hybrid" else k)
    query_vector = None
    if mode in ("hybrid", "vector"):
        query_vector = embed_query(query)
        vec = store.vector_search(query_vector, filters, depth if mode == "hybrid" else k)

    fts_rank = {seq: i + 1 for i, (seq, _) in enumerate(fts)}
    vec_rank = {seq: i + 1 for i, (seq, _) in enumerate(vec)}
    bm25 = dict(fts)
    sims = dict(vec)
    if mode == "fts":
        scores = {seq: -score for seq, score in fts}  # FTS5's bm25 is lower-is-better
    elif mode == "vector":
        scores = dict(vec)
    else:
        missing = [seq for seq, _ in fts if seq not in sims]
        if missing and vec and query_vector is not None:  # vec is empty when the store has no vectors yet
            sims.update(store.similarities(missing, query_vector))
        scores = rrf(fts_rank, vec_rank) if fusion == "rrf" else fuse(bm25, sims)
    if adjust and scores:
        scores = adjusted(store, scores)
    best = sorted(scores, key=lambda seq: (-scores[seq], seq))[:k]
    records = store.by_seq(best)
    return [
        Hit(
            record=records[seq],
            score=scores[seq],
            fts_rank=fts_rank.get(seq),
            vector_rank=vec_rank.get(seq),
            bm25=bm25.get(seq),
            similarity=sims.get(seq),
        )
        for seq in best
        if seq in records
    ]


def adjusted(store: Store, scores: dict[int, float]) -> dict[int, float]:
    """Scores weighed by importance, recency and validity (memcli.ranking)."""
    from datetime import datetime

    from .ranking import Weights, factor

    weights = Weights.from_config()
    now = datetime.now(UTC)
    facts = store.ranking_facts(list(scores))
    return {
        seq: score * factor(*facts[seq], weights, now) if seq in facts else score
        for seq, score in scores.items()
    }


def fuse(bm25: dict[int, float], sims: dict[int, float], fts_weight: float = FTS_WEIGHT) -> dict[int, float]:
    """Convex combination of max-scaled BM25 and cosine similarity.

    `bm25` holds FTS5's scores (negative, lower is better) of the full-text
    candidates; a memory missing from it scores 0 on that side. `sims` holds the
    cosine of every candidate. Each side is divided by its best value, so the
    best full-text match and the nearest vector both count 1 on their side.
    """
    text = {seq: -score for seq, score in bm25.items()}
    best_text = max(text.values(), default=0.0)
    best_sim = max(sims.values(), default=0.0)
    scores: dict[int, float] = {}
    for seq in dict.fromkeys([*text, *sims]):
        t = text.get(seq, 0.0) / best_text if best_text > 0 else 0.0
        v = sims.get(seq, 0.0) / best_sim if best_sim > 0 else 0.0
        scores[seq] = fts_weight * t + (1.0 - fts_weight) * v
    return scores


def rrf(*rankings: dict[int, int], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal-rank fusion: each ranking adds 1 / (k + rank) to a candidate."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for seq, rank in ranking.items():
            scores[seq] = scores.get(seq, 0.0) + 1.0 / (k + rank)
    return scores
