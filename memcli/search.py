"""Hybrid retrieval: BM25 candidates and vector candidates fused by reciprocal rank."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from .records import Filters, Hit

if TYPE_CHECKING:
    import numpy as np

    from .store.sqlite import SQLiteStore

MODES = ("hybrid", "fts", "vector")
RRF_K = 60  # the constant of Cormack et al.; dampens the weight of the top ranks
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


def fts_query(text: str) -> str | None:
    """Plain words of any input, OR-ed and quoted: FTS5 syntax in a query is never parsed.

    Stop words are dropped (they match half the store and cost time) unless the
    query has nothing else.
    """
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    content = [w for w in words if w not in STOPWORDS] or words
    if not content:
        return None
    return " OR ".join(f'"{w}"' for w in content[:MAX_TERMS])


def all_words_query(text: str) -> str | None:
    """Every word must occur: the precise match `mem forget --query` uses."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    return " AND ".join(f'"{w}"' for w in words[:MAX_TERMS]) if words else None


def recall(
    store: "SQLiteStore",
    embed_query: Callable[[str], "np.ndarray"],
    query: str,
    filters: Filters,
    *,
    k: int = 10,
    mode: str = "hybrid",
) -> list[Hit]:
    depth = max(50, 3 * k)
    fts: list[tuple[int, float]] = []
    vec: list[tuple[int, float]] = []
    if mode in ("hybrid", "fts"):
        match = fts_query(query)
        if match:
            fts = store.fts_search(match, filters, depth if mode == "hybrid" else k)
    if mode in ("hybrid", "vector"):
        vec = store.vector_search(embed_query(query), filters, depth if mode == "hybrid" else k)

    fts_rank = {seq: i + 1 for i, (seq, _) in enumerate(fts)}
    vec_rank = {seq: i + 1 for i, (seq, _) in enumerate(vec)}
    bm25 = dict(fts)
    sims = dict(vec)
    if mode == "fts":
        scores = {seq: -score for seq, score in fts}  # FTS5's bm25 is lower-is-better
    elif mode == "vector":
        scores = dict(vec)
    else:
        scores = {}
        for ranks in (fts_rank, vec_rank):
            for seq, rank in ranks.items():
                scores[seq] = scores.get(seq, 0.0) + 1.0 / (RRF_K + rank)
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
