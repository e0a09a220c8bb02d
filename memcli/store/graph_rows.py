"""Entities, the memories that mention them, relations and profile entries: the
rows behind memcli.entities, in SQL that SQLite and PostgreSQL both read.

Both backends mix `GraphRows` into their store. The tables are made by their
migrations (store/schema.py m010, store/pg_schema.py p002); a mention goes with
its memory or its entity (ON DELETE CASCADE), a relation with either entity.
Lists (aliases, sources) are JSON text in both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..records import Entity, ProfileEntry, Relation

_BATCH = 500  # ids per statement: SQLite's limit on parameters is 32766, older builds 999

_ENTITY = (
    'SELECT e.id, e."user", e.name, e.kind, e.aliases, e.pinned, e.created_at, e.updated_at, '
    "(SELECT count(*) FROM entity_mentions em WHERE em.entity = e.seq) FROM entities e"
)
_RELATION = (
    'SELECT r.id, r."user", s.id, r.predicate, o.id, r.valid_from, r.valid_to, r.superseded_by, '
    "r.sources, r.created_at FROM relations r "
    "JOIN entities s ON s.seq = r.subject JOIN entities o ON o.seq = r.object"
)
_PROFILE = 'SELECT id, "user", field, value, origin, set_at, valid_to, sources FROM profile'


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _BATCH):
        yield unique[start : start + _BATCH]


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _list(text: Any) -> list[str]:
    value = json.loads(text) if isinstance(text, str) else text
    return [str(v) for v in value or []]


def _dumps(values: Sequence[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


class GraphRows:
    """The graph's part of the Store protocol (see memcli.store.base)."""

    conn: Any
    _MARK = "?"  # the driver's placeholder; the SQL here is written with "?"

    def transaction(self) -> AbstractContextManager[None]:  # pragma: no cover - the store's own
        raise NotImplementedError

    def _erased(self) -> None:
        """After a delete of graph rows: what the backend does so their text is gone."""

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._MARK != "?":
            sql = sql.replace("?", self._MARK)
        return self.conn.execute(sql, list(params))

    def _put(self, table: str, row_id: str, changed: dict[str, Any], created: dict[str, Any]) -> None:
        """Change the columns `changed` of the row with this id, or insert it with
        `created` as well (what is set once: its user, when it was made). A value
        given as ("sql", parameter) is an SQL expression of one parameter."""

        def expression(value: Any) -> tuple[str, Any]:
            return value if isinstance(value, tuple) else ("?", value)

        with self.transaction():
            sets = [(column, *expression(value)) for column, value in changed.items()]
            done = self._run(
                f"UPDATE {table} SET {', '.join(f'{c} = {e}' for c, e, _ in sets)} WHERE id = ?",
                [*(v for _, _, v in sets), row_id],
            ).rowcount
            if not done:
                values = [("id", "?", row_id), *sets, *((c, *expression(v)) for c, v in created.items())]
                self._run(
                    f"INSERT INTO {table} ({', '.join(c for c, _, _ in values)}) "
                    f"VALUES ({', '.join(e for _, e, _ in values)})",
                    [v for _, _, v in values],
                )

    # -- entities ------------------------------------------------------------------

    def entities(self, user: str | None, ids: Sequence[str] | None = None) -> list[Entity]:
        """Entities of `user` (every user when None), oldest first; only `ids` when given."""
        where, params = [], []
        if user is not None:
            where.append('e."user" = ?')
            params.append(user)
        if ids is None:
            return self._entities(where, params)
        found: list[Entity] = []
        for chunk in _chunks(ids):
            found += self._entities([*where, f"e.id IN ({_marks(chunk)})"], [*params, *chunk])
        return found

    def _entities(self, where: list[str], params: list[Any]) -> list[Entity]:
        sql = _ENTITY + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY e.seq"
        return [
            Entity(r[0], r[1], r[2], r[3], _list(r[4]), _list(r[5]), r[6], r[7], int(r[8]))
            for r in self._run(sql, params).fetchall()
        ]

    def put_entity(self, entity: Entity) -> None:
        """Store an entity, or change the one with its id (its user stays)."""
        self._put(
            "entities",
            entity.id,
            {
                "name": entity.name,
                "kind": entity.kind,
                "aliases": _dumps(entity.aliases),
                "pinned": _dumps(entity.pinned),
                "updated_at": entity.updated_at,
            },
            {'"user"': entity.user, "created_at": entity.created_at or entity.updated_at},
        )

    def delete_entities(self, ids: Sequence[str]) -> int:
        """Erase entities with their mentions and every relation they are in."""
        deleted = 0
        with self.transaction():
            for chunk in _chunks(ids):
                deleted += self._run(f"DELETE FROM entities WHERE id IN ({_marks(chunk)})", chunk).rowcount
        if deleted:
            self._erased()
        return int(deleted)

    # -- mentions ------------------------------------------------------------------

    def link(self, pairs: Sequence[tuple[str, str]]) -> int:
        """Record that memories mention entities: (memory id, entity id) pairs; known
        pairs and unknown ids are passed over. Returns how many links are new."""
        added = 0
        with self.transaction():
            for memory_id, entity_id in dict.fromkeys(pairs):
                added += self._run(
                    "INSERT INTO entity_mentions (entity, memory) SELECT e.seq, m.seq FROM entities e, memories m "
                    "WHERE e.id = ? AND m.id = ? ON CONFLICT DO NOTHING",
                    [entity_id, memory_id],
                ).rowcount
        return int(added)

    def unlink(self, pairs: Sequence[tuple[str, str]]) -> int:
        removed = 0
        with self.transaction():
            for memory_id, entity_id in dict.fromkeys(pairs):
                removed += self._run(
                    "DELETE FROM entity_mentions WHERE entity = (SELECT seq FROM entities WHERE id = ?) "
                    "AND memory = (SELECT seq FROM memories WHERE id = ?)",
                    [entity_id, memory_id],
                ).rowcount
        return int(removed)

    def links(
        self, *, memory_ids: Sequence[str] | None = None, entity_ids: Sequence[str] | None = None
    ) -> list[tuple[str, str]]:
        """(memory id, entity id) of the mentions of these memories or of these entities."""
        column, ids = ("m.id", memory_ids) if memory_ids is not None else ("e.id", entity_ids)
        if ids is None:
            raise ValueError("links needs memory_ids or entity_ids")
        found: list[tuple[str, str]] = []
        for chunk in _chunks(ids):
            found += [
                (r[0], r[1])
                for r in self._run(
                    "SELECT m.id, e.id FROM entity_mentions em JOIN entities e ON e.seq = em.entity "
                    f"JOIN memories m ON m.seq = em.memory WHERE {column} IN ({_marks(chunk)}) ORDER BY m.seq, e.seq",
                    chunk,
                ).fetchall()
            ]
        return found

    # -- relations -----------------------------------------------------------------

    def relations(self, user: str | None, entity_ids: Sequence[str] | None = None) -> list[Relation]:
        """Relations of `user` (every user when None), in the order they began;
        with `entity_ids`, those whose subject or object is one of them."""
        where, params = [], []
        if user is not None:
            where.append('r."user" = ?')
            params.append(user)
        chunks = [None] if entity_ids is None else list(_chunks(entity_ids))
        found: dict[str, Relation] = {}
        for chunk in chunks:
            clauses, values = list(where), list(params)
            if chunk is not None:
                clauses.append(f"(s.id IN ({_marks(chunk)}) OR o.id IN ({_marks(chunk)}))")
                values += [*chunk, *chunk]
            sql = _RELATION + (" WHERE " + " AND ".join(clauses) if clauses else "")
            for r in self._run(sql + " ORDER BY r.valid_from, r.seq", values).fetchall():
                found[r[0]] = Relation(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _list(r[8]), r[9])
        return sorted(found.values(), key=lambda r: r.valid_from) if len(chunks) > 1 else list(found.values())

    def put_relation(self, relation: Relation) -> None:
        """Store a relation, or change the one with its id; its entities must exist."""
        entity = "(SELECT seq FROM entities WHERE id = ?)"
        self._put(
            "relations",
            relation.id,
            {
                "subject": (entity, relation.subject),
                "predicate": relation.predicate,
                "object": (entity, relation.object),
                "valid_from": relation.valid_from,
                "valid_to": relation.valid_to,
                "superseded_by": relation.superseded_by,
                "sources": _dumps(relation.sources),
            },
            {'"user"': relation.user, "created_at": relation.created_at or relation.valid_from},
        )

    def delete_relations(self, ids: Sequence[str]) -> int:
        deleted = 0
        with self.transaction():
            for chunk in _chunks(ids):
                deleted += self._run(f"DELETE FROM relations WHERE id IN ({_marks(chunk)})", chunk).rowcount
        if deleted:
            self._erased()
        return int(deleted)

    # -- the profile ---------------------------------------------------------------

    def profile_entries(self, user: str | None) -> list[ProfileEntry]:
        """Every value of every profile field of `user` (every user when None), by
        field, oldest first."""
        sql, params = _PROFILE, []
        if user is not None:
            sql += ' WHERE "user" = ?'
            params.append(user)
        return [
            ProfileEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _list(r[7]))
            for r in self._run(sql + " ORDER BY field, set_at, seq", params).fetchall()
        ]

    def put_profile_entry(self, entry: ProfileEntry) -> None:
        self._put(
            "profile",
            entry.id,
            {
                "field": entry.field,
                "value": entry.value,
                "origin": entry.origin,
                "set_at": entry.set_at,
                "valid_to": entry.valid_to,
                "sources": _dumps(entry.sources),
            },
            {'"user"': entry.user},
        )

    def delete_profile_entries(self, ids: Sequence[str]) -> int:
        deleted = 0
        with self.transaction():
            for chunk in _chunks(ids):
                deleted += self._run(f"DELETE FROM profile WHERE id IN ({_marks(chunk)})", chunk).rowcount
        if deleted:
            self._erased()
        return int(deleted)
