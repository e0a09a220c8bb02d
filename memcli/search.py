"""Hybrid retrieval: full-text candidates and vector candidates fused by their scores.

Every score the store returns is higher-is-better: full-text relevance (BM25),
cosine similarity. Candidates are memories by id; the store's `seq` (the order
stored) breaks ties, older first.

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

from .records import Filters, Hit, Scored

if TYPE_CHECKING:
    import numpy as np

    from .store.base import Store

MODES = ("hybrid", "fts", "vector")
FUSIONS = ("score", "rrf")
RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al.)
FTS_WEIGHT = 0.5  # hybrid score = FTS_WEIGHT * relevance / best + (1 - FTS_WEIGHT) * cosine / best cosine
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
    fts: list[Scored] = []
    vec: list[Scored] = []
    if mode in ("hybrid", "fts"):
        terms = query_terms(query)
        if terms:
            fts = store.fts_search(terms, filters, depth if mode == "hybrid" else k)
    query_vector = None
    if mode in ("hybrid", "vector"):
        query_vector = embed_query(query)
        vec = store.vector_search(query_vector, filters, depth if mode == "hybrid" else k)

    fts_rank = {c.id: i + 1 for i, c in enumerate(fts)}
    vec_rank = {c.id: i + 1 for i, c in enumerate(vec)}
    order = {c.id: c.seq for c in [*fts, *vec]}
    relevance = {c.id: c.score for c in fts}
    sims = {c.id: c.score for c in vec}
    if mode == "fts":
        scores = dict(relevance)
    elif mode == "vector":
        scores = dict(sims)
    else:
        missing = [c.id for c in fts if c.id not in sims]
        if missing and vec and query_vector is not None:  # vec is empty when the store has no vectors yet
            sims.update(store.similarities(missing, query_vector))
        scores = rrf(fts_rank, vec_rank) if fusion == "rrf" else fuse(relevance, sims)
    if adjust and scores:
        scores = adjusted(store, scores)
    best = sorted(scores, key=lambda memory_id: (-scores[memory_id], order[memory_id]))[:k]
    records = store.get_many(best)
    return [
        Hit(
            record=records[memory_id],
            score=scores[memory_id],
            fts_rank=fts_rank.get(memory_id),
            vector_rank=vec_rank.get(memory_id),
            relevance=relevance.get(memory_id),
            similarity=sims.get(memory_id),
        )
        for memory_id in best
        if memory_id in records
    ]


def adjusted(store: Store, scores: dict[str, float]) -> dict[str, float]:
    """Scores weighed by importance, recency and validity (memcli.ranking)."""
    from datetime import datetime

    from .ranking import Weights, factor

    weights = Weights.from_config()
    now = datetime.now(UTC)
    facts = store.ranking_facts(list(scores))
    return {
        memory_id: score * factor(*facts[memory_id], weights, now) if memory_id in facts else score
        for memory_id, score in scores.items()
    }


def fuse(
    relevance: dict[str, float], sims: dict[str, float], fts_weight: float = FTS_WEIGHT
) -> dict[str, float]:
    """Convex combination of max-scaled full-text relevance and cosine similarity.

    `relevance` holds the full-text scores (higher is better) of the full-text
    candidates; a memory missing from it scores 0 on that side. `sims` holds the
    cosine of every candidate. Each side is divided by its best value, so the
    best full-text match and the nearest vector both count 1 on their side.
    """
    best_text = max(relevance.values(), default=0.0)
    best_sim = max(sims.values(), default=0.0)
    scores: dict[str, float] = {}
    for memory_id in dict.fromkeys([*relevance, *sims]):
        t = relevance.get(memory_id, 0.0) / best_text if best_text > 0 else 0.0
        v = sims.get(memory_id, 0.0) / best_sim if best_sim > 0 else 0.0
        scores[memory_id] = fts_weight * t + (1.0 - fts_weight) * v
    return scores


def rrf(*rankings: dict[str, int], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal-rank fusion: each ranking adds 1 / (k + rank) to a candidate."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for memory_id, rank in ranking.items():
            scores[memory_id] = scores.get(memory_id, 0.0) + 1.0 / (k + rank)
    return scores
