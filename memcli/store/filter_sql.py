"""`Filters` as an SQL condition: one compiler, and what each backend spells its own way.

Every condition but four reads the same in SQLite and PostgreSQL; a `Dialect`
gives the backend's placeholder, how it names the `user` column, and the three
conditions its engine answers differently (one of several values, every word
of the text, a `sources` list naming one of several ids).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..records import Filters
from ..timeparse import now_str

Clause = tuple[str, list[Any]]  # SQL text and its parameters


@dataclass(frozen=True)
class Dialect:
    mark: str  # the driver's placeholder: "?" or "%s"
    user: str  # the user column, quoted as the engine needs
    true: str  # a condition that always holds
    one_of: Callable[[str, Sequence[str]], Clause]  # column, values
    all_words: Callable[[str, Sequence[str]], Clause]  # alias, words of the memory's own text
    derived_from: Callable[[str, Sequence[str]], Clause]  # alias, ids `sources` may name


def where(filters: Filters, dialect: Dialect, a: str) -> Clause:
    """The condition the memories of alias `a` must meet to pass `filters`."""
    p = dialect.mark
    clauses: list[str] = []
    params: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        clauses.append(sql)
        params.extend(values)

    def add_clause(clause: Clause) -> None:
        add(clause[0], *clause[1])

    if filters.user is not None:
        add(f"{a}.{dialect.user} = {p}", filters.user)
    if filters.kinds:
        add_clause(dialect.one_of(f"{a}.kind", filters.kinds))
    for tag in filters.tags:
        add(f"{a}.seq IN (SELECT seq FROM memory_tags WHERE tag = {p})", tag)
    if filters.since:
        add(f"{a}.occurred_at >= {p}", filters.since)
    if filters.until:
        add(f"{a}.occurred_at < {p}", filters.until)
    if filters.valid_at:
        add(f"({a}.valid_to IS NULL OR {a}.valid_to > {p})", filters.valid_at)
    if filters.current_only:
        add(f"{a}.valid_to IS NULL AND {a}.unverified_at IS NULL")
    if not filters.include_assistant:
        add(f"{a}.role = 'user'")
    if filters.expired_only:
        add(f"{a}.expires_at IS NOT NULL AND {a}.expires_at <= {p}", now_str())
    elif not filters.include_expired:
        add(f"({a}.expires_at IS NULL OR {a}.expires_at > {p})", now_str())
    if filters.words:  # the memory's own words only, not its thread's context
        add_clause(dialect.all_words(a, filters.words))
    if filters.pending_facts:
        add(
            f"({a}.consolidated_at IS NULL OR ({a}.updated_at IS NOT NULL "
            f"AND {a}.updated_at > {a}.consolidated_at))"
        )
    for column, wanted in (("consolidated_at", filters.consolidated), ("digest_id", filters.digested)):
        if wanted is not None:
            add(f"{a}.{column} IS {'NOT ' if wanted else ''}NULL")
    for tag in filters.without_tags:
        add(f"NOT EXISTS (SELECT 1 FROM memory_tags g WHERE g.seq = {a}.seq AND g.tag = {p})", tag)
    if filters.min_recalled is not None:
        add(f"{a}.recalled >= {p}", filters.min_recalled)
    if filters.superseded_by is not None:
        add(f"{a}.superseded_by = {p}", filters.superseded_by)
    for entity_id in filters.about:
        add(
            f"{a}.seq IN (SELECT em.memory FROM entity_mentions em JOIN entities e ON e.seq = em.entity "
            f"WHERE e.id = {p})",
            entity_id,
        )
    if filters.derived_from is not None:
        add_clause(dialect.derived_from(a, filters.derived_from))
    return (" AND ".join(clauses) or dialect.true), params
