"""How importance, recency and validity adjust a memory's retrieval score.

    adjusted = score
             * (1 + importance_weight * (importance - 3))            importance 1-5
             * (1 - recency_weight + recency_weight * 0.5 ** (age_days / half_life_days))
             * (superseded_factor if the fact was superseded else 1)

`age_days` counts from the later of when the memory happened and when it was
last recalled, so what keeps being used stays fresh. With the defaults
(importance_weight 0.05, recency_weight 0.1, half_life_days 90,
superseded_factor 0.5) a vital memory (5) gets 10% more than an ordinary one
(3), a year-old memory at most 10% less than today's, and a superseded fact
half: still found, but after the fact that replaced it. Each weight can be
set in the config file (`mem config` keys of the same names).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from . import settings

DEFAULTS = {
    key: settings.SETTINGS[key].default
    for key in ("importance_weight", "recency_weight", "half_life_days", "superseded_factor")
}


@dataclass(frozen=True)
class Weights:
    importance_weight: float = DEFAULTS["importance_weight"]
    recency_weight: float = DEFAULTS["recency_weight"]
    half_life_days: float = DEFAULTS["half_life_days"]
    superseded_factor: float = DEFAULTS["superseded_factor"]

    @classmethod
    def from_config(cls) -> Weights:
        return cls(**{key: settings.value(key) for key in DEFAULTS})


def _days_since(stamp: str | None, now: datetime) -> float:
    if not stamp:
        return 0.0
    try:  # fromisoformat: ~20x faster than strptime, and recall weighs every candidate
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds() / 86400)


def factor(
    importance: int,
    occurred_at: str | None,
    last_recalled_at: str | None,
    valid_to: str | None,
    weights: Weights,
    now: datetime,
) -> float:
    freshest = max(filter(None, [occurred_at, last_recalled_at]), default=None)
    age = _days_since(freshest, now)
    recency = 1 - weights.recency_weight + weights.recency_weight * 0.5 ** (age / weights.half_life_days)
    value = (1 + weights.importance_weight * (importance - 3)) * recency
    return value * (weights.superseded_factor if valid_to else 1.0)


def most(weights: Weights) -> float:
    """The largest factor there is (importance 5, fresh, valid): search divides by it."""
    importance = max(1 + weights.importance_weight * 2, 1 - weights.importance_weight * 2)
    recency = max(1.0, 1 - weights.recency_weight)  # a weight below 0 favours the old
    return max(importance * recency, 1e-9)
