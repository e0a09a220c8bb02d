"""The Python API: open a store, then remember, recall, forget, export, import.

from memcli import Memory
mem = Memory()                      # the default database, the login user
mem.remember([NewMemory("The spare key is under the blue pot")])
for hit in mem.recall("where is the key?"):
    print(hit.record.id, hit.record.text)
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import itertools
import json
import math
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import entities, paths, profile, provenance, search, settings
from .chunking import chunk_text
from .errors import InputError, UsageError
from .provenance import ForgetReport
from .records import (
    ID_LENGTH,
    KINDS,
    MEMORY_FIELDS,
    ROLES,
    TIME_FIELDS,
    ChatSession,
    Filters,
    HistoryEntry,
    Hit,
    MemoryRecord,
    NewMemory,
    NewRow,
    Patch,
    RememberResult,
    Stats,
    new_id,
)
from .store import open_store
from .timeparse import now_str, parse_time

if TYPE_CHECKING:
    import numpy as np

    from .models.embed import Embedder
    from .store.base import Store

from .limits import MAX_TEXT_BYTES  # noqa: E402,F401  (re-exported)

BATCH_SIZE = 64
EXPORT_BATCH = 1000  # memories whose history an export reads in one query
Progress = Callable[[int], None]  # called with the number of items just finished


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    sessions_added: list[str] = field(default_factory=list)  # chat session names
    sessions_skipped: list[str] = field(default_factory=list)  # the user had one of that name
    entities_added: int = 0  # entities, relations and profile entries restored

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "skipped": len(self.skipped),
            "ids": self.added,
            "sessions_added": len(self.sessions_added),
            "sessions_skipped": len(self.sessions_skipped),
            "entities_added": self.entities_added,
        }


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_FIELD_NAMES = {"user": "the user name", "tags": "a tag", "meta": "a metadata entry"}
_ID = re.compile(f"[0-9a-z]{{{ID_LENGTH}}}")
MAX_COUNT = 2**31 - 1  # chunk numbers and recall counts
MAX_NESTING = 64  # levels of lists and objects in a memory's meta: far below Python's recursion limit


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of an argument (surrogate escapes)
        return False
    return True


def clean_text(text: str) -> str:
    """Validate one memory's text: not empty, not binary, not huge. NFC-normalised."""
    if "\x00" in text:
        raise InputError("input contains NUL bytes: binary data cannot be stored as a memory")
    if not _is_utf8(text):
        raise InputError("the text is not valid UTF-8")
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise InputError("nothing to remember: the text is empty")
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise InputError(
            f"input is {size / 1048576:.1f} MB; one memory holds at most "
            f"{MAX_TEXT_BYTES // 1048576} MB (split it, or load JSON lines with --jsonl)"
        )
    return text


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags as stored: stripped, empty ones dropped, each once, sorted; InputError for
    one that is not UTF-8 (a control character is kept, and shown escaped)."""
    cleaned = sorted({t.strip() for t in tags if t and t.strip()})
    for tag in cleaned:
        if not _is_utf8(tag):
            raise InputError("a tag is not valid UTF-8")
    return cleaned


def _as_json(value: Any, what: str) -> str:
    """A field as the JSON it is stored as; InputError for what JSON cannot hold."""
    if _nested_deeper(value, MAX_NESTING):
        raise InputError(f"{what} is nested more than {MAX_NESTING} levels deep")
    try:
        return json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:  # NaN or Infinity; an int too long to write
        raise InputError(
            f"{what} holds a number JSON cannot hold (NaN, Infinity, or over {sys.get_int_max_str_digits()} digits)"
        ) from None


def _nested_deeper(value: Any, levels: int) -> bool:
    if not isinstance(value, (dict, list, tuple)):
        return False
    if levels == 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_nested_deeper(child, levels - 1) for child in children)


# The fields of a memory a caller gives (NewMemory's), but those each row of a chunked text sets itself.
_GIVEN = [name for name in MEMORY_FIELDS if name in NewMemory.__dataclass_fields__]
_GIVEN = [name for name in _GIVEN if name not in ("id", "text", "doc_id", "chunk")]


def prepare_rows(item: NewMemory, default_user: str) -> list[NewRow]:
    """One input -> the rows to store (several when a long text is chunked)."""
    text = clean_text(item.text)
    for name, value in vars(item).items():  # the text was checked above
        if name != "text" and not _is_utf8(_as_json(value, _FIELD_NAMES.get(name, repr(name)))):
            raise InputError(f"{_FIELD_NAMES.get(name, repr(name))} is not valid UTF-8")
    if item.kind not in KINDS:
        raise InputError(f"unknown kind {item.kind!r}: use one of {', '.join(KINDS)}")
    if item.role not in ROLES:
        raise InputError(f"unknown role {item.role!r}: use one of {', '.join(ROLES)}")
    if not 1 <= int(item.importance) <= 5:
        raise InputError(f"importance must be 1-5, not {item.importance}")
    for name in ("chunk", "recalled"):
        number = getattr(item, name)
        if number is not None and not 0 <= number <= MAX_COUNT:
            raise InputError(f"{name} must be from 0 to {MAX_COUNT}, not {number}")
    if item.id is not None and not _ID.fullmatch(item.id):
        raise InputError(f"bad memory id {item.id!r}: {ID_LENGTH} lower-case letters and digits")
    now = now_str()
    base: dict[str, Any] = {name: getattr(item, name) for name in _GIVEN}
    for name in TIME_FIELDS:
        if name in base:
            base[name] = parse_time(base[name]) if base[name] else None
    base.update(
        user=item.user or default_user,
        importance=int(item.importance),
        created_at=base["created_at"] or now,
        occurred_at=base["occurred_at"] or now,
        meta=dict(item.meta or {}),
        tags=clean_tags(item.tags),
        sources=list(dict.fromkeys(item.sources or [])),
        recalled=int(item.recalled or 0),
        embed_model=None,  # the store's to set
        embed_dim=None,
    )

    def row(text: str, doc_id: str | None, chunk: int | None, memory_id: str = "") -> MemoryRecord:
        return MemoryRecord(
            **base, id=memory_id, text=text, content_hash=content_hash(text), doc_id=doc_id, chunk=chunk
        )

    # A text with an id (an import), a place in a thread or a history is one memory, whatever its length.
    whole = item.chunk is not None or item.id is not None or bool(item.history)
    chunks = [text] if whole else chunk_text(text)
    if len(chunks) == 1:
        history = [HistoryEntry(clean_text(h.text), parse_time(h.changed_at)) for h in item.history]
        return [NewRow(row(text, item.doc_id, item.chunk, item.id or ""), history)]
    doc_id = item.doc_id or new_id()
    return [NewRow(row(chunk, doc_id, i)) for i, chunk in enumerate(chunks, 1)]


def validate(items: Iterable[NewMemory]) -> None:
    """Raise InputError for the first input that `Memory.remember` would refuse,
    before a database is created or opened for it."""
    for item in items:
        prepare_rows(item, "")


class Memory:
    """One memory store (memcli.store.open_store: a SQLite file or a PostgreSQL database) seen as one user."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        create: bool = True,
        embedder: Embedder | None = None,
        user: str | None = None,
    ) -> None:
        self.path = paths.db_location(path)  # a file, or a database URL
        self.store: Store = open_store(self.path, create=create)
        self._embedder = embedder
        self.user = user or paths.default_user()

    def snapshot(self) -> Memory:
        """The same memory in a private copy (store.snapshot): changes to it reach nothing else."""
        copy = Memory.__new__(Memory)
        copy.path, copy.user, copy.store = self.path, self.user, self.store.snapshot()
        copy._embedder = self._embedder
        return copy

    @property
    def where(self) -> str:
        """The store's location to show people (a URL without its password)."""
        if isinstance(self.path, str):
            from .store import display_url

            return display_url(self.path)
        return str(self.path)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the embedding model -------------------------------------------------------

    @property
    def embed_model_name(self) -> str:
        if self._embedder is not None:
            return self._embedder.name
        from .models.registry import configured_embed_model, model_name

        return model_name(configured_embed_model())

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            # Fail on a model mismatch before paying for loading a model.
            self.store.check_embedding_space(self.embed_model_name)
            from .models.registry import load_embedder

            self._embedder = load_embedder()
        return self._embedder

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(list(texts))

    # -- writing -------------------------------------------------------------------

    def _prepare(self, item: NewMemory) -> list[NewRow]:
        return prepare_rows(item, self.user)

    def remember(
        self, items: Iterable[NewMemory], *, progress: Progress | None = None, batch_size: int = BATCH_SIZE
    ) -> list[RememberResult]:
        """Store memories; the same text for the same user is a no-op ("exists").

        Every input is validated before anything is stored. Work is done in
        batches, each one transaction holding rows, full-text and vector entries.
        """
        rows = [row for item in items for row in self._prepare(item)]
        results: list[RememberResult] = []
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            results.extend(self._store_batch(batch))
            if progress:
                progress(len(batch))
        return results

    def _store_batch(self, batch: list[NewRow]) -> list[RememberResult]:
        # Skip the model for texts already stored: re-remembering is cheap.
        def identity(row: NewRow) -> tuple[str, str, str]:
            return row.record.user, row.record.kind, row.record.content_hash

        known: dict[tuple[str, str, str], str] = {}
        for user, kind in {identity(row)[:2] for row in batch}:
            hashes = [row.record.content_hash for row in batch if identity(row)[:2] == (user, kind)]
            for h, memory_id in self.store.existing_hashes(user, kind, hashes).items():
                known[(user, kind, h)] = memory_id
        fresh = [row for row in batch if identity(row) not in known]
        stored: dict[int, tuple[str, str]] = {}
        if fresh:
            vectors = self._embed([row.record.text for row in fresh])
            for row, outcome in zip(fresh, self.store.insert(fresh, vectors, self.embedder.name)):
                stored[id(row)] = outcome
            added = [
                dataclasses.replace(row.record, id=stored[id(row)][0])
                for row in fresh
                if stored[id(row)][1] == "added"
            ]
            entities.link_memories(self.store, added)  # the entities they name, known already
        results = []
        for row in batch:
            memory_id, status = stored.get(id(row)) or (known[identity(row)], "exists")
            record = row.record
            results.append(RememberResult(memory_id, status, record.text, record.doc_id, record.chunk))
        return results

    def edit(self, memory_id: str, text: str) -> MemoryRecord:
        if not text.strip():
            raise InputError("the new text is empty (mem forget ID erases a memory)")
        text = clean_text(text)
        record = self.get(memory_id)
        if record.text == text:
            return record
        vector = self._embed([text])[0]
        with self.store.transaction():  # what was made from the old text stops counting at once
            self.store.update_text(record.id, text, content_hash(text), vector, self.embedder.name)
            if record.consolidated_at and not provenance.is_digest(record):
                self.store.patch(record.id, Patch(consolidated_at=None))  # its facts are made again
            if record.unverified_at:  # the user's own words for it now
                self.store.patch(record.id, Patch(unverified_at=None))
            edited = self.store.get(record.id)
            provenance.mark_unverified(self.store, record.id, edited.updated_at or now_str())
            # Its relations and links were read from the old text: linked again by the names
            # it has now; the next consolidation reads its relations again.
            touched = entities.affected(self.store, [record.id])
            entities.drop_sources(self.store, [record.id])
            self.store.unlink(self.store.links(memory_ids=[record.id]))
            entities.link_memories(self.store, [edited])
            entities.prune(self.store, touched)
            profile.drop_sources(self.store, [record.id])
            profile.refresh(self.store, edited.user)
        return edited

    def change(
        self,
        memory_id: str,
        *,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        kind: str | None = None,
        importance: int | None = None,
    ) -> MemoryRecord:
        """Change a memory's tags, kind or importance (its text: `edit`), all at once or none."""
        record = self.get(memory_id)
        added = clean_tags(add_tags)  # as remember stores them
        removed = sorted(set(clean_tags(remove_tags)) - set(added))
        if kind is not None and kind not in KINDS:
            raise InputError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
        if importance is not None and not 1 <= importance <= 5:
            raise InputError(f"importance must be 1-5, not {importance}")
        changes = Patch()
        if importance is not None and importance != record.importance:
            changes["importance"] = importance
        if kind is not None and kind != record.kind:
            clash = self.store.existing_hashes(record.user, kind, [record.content_hash])
            if clash and not record.doc_id:
                raise InputError(f"memory {clash[record.content_hash]} already holds this text as {kind}")
            changes["kind"] = kind
            if kind == "episodic" and record.kind != "episodic":
                changes["consolidated_at"] = None  # the next mem consolidate reads its facts
        with self.store.transaction():
            if changes:
                self.store.patch(record.id, changes)
            self.store.remove_tags(record.id, removed)
            self.store.add_tags(record.id, added)
        return self.store.get(record.id)

    def forget(self, memory_ids: Sequence[str]) -> ForgetReport:
        """Erase this user's memories by id or unique prefix, and what was made from
        them (memcli.provenance); another user's memory is not found."""
        ids = [self.store.resolve_id(i, self.user) for i in memory_ids]
        return provenance.forget(self.store, ids)

    def matching(self, filters: Filters, *, query: str | None = None) -> list[MemoryRecord]:
        """Memories a filtered `forget` would delete (every query word must occur)."""
        words = None
        if query is not None:
            words = search.all_terms(query)
            if not words:
                raise InputError("the query has no words to match")
        ids = self.store.select_ids(dataclasses.replace(filters, words=words or []))
        return [self.store.get(i) for i in ids]

    # -- reading -------------------------------------------------------------------

    def recall(
        self,
        query: str,
        filters: Filters | None = None,
        *,
        k: int = 10,
        mode: str = "hybrid",
        touch: bool = False,
        fusion: str | None = None,
        min_score: float | None = None,
        as_of: str | None = None,
        time_mode: str | None = None,
    ) -> list[Hit]:
        """The k best memories for a query, scores in [0, 1] (memcli.search), none
        under `min_score` (default: the `min_score` setting). `touch` counts them as
        recalled (the commands people use do; consolidation turns frequent use into
        importance). `fusion` (score or rrf) defaults to the `hybrid_fusion` setting. The
        assistant's replies in chat are searched only with
        `filters.include_assistant`: what the model said is not the user's word.

        A time the query names ("last weekend", "in May 2023": memcli.timequery) is
        resolved against now, or `as_of`, and searched for as `time_mode` says
        (default: the `query_time` setting): "filter" keeps to memories that happened
        then, "boost" ranks them first, "off" reads the words as words. With `as_of`
        (a date, as parse_time reads it) the memory is seen as it was then: what had happened by
        then, and facts that were still valid (superseded later or not at all)."""
        if mode not in search.MODES:
            raise UsageError(f"unknown mode {mode!r}: use one of {', '.join(search.MODES)}")
        if fusion is not None and fusion not in search.FUSIONS:
            raise UsageError(f"unknown fusion {fusion!r}: use one of {', '.join(search.FUSIONS)}")
        if not query or not query.strip():
            raise InputError("empty query")
        if not _is_utf8(query):
            raise InputError("the query is not valid UTF-8")
        if k < 1:
            raise UsageError("-k must be at least 1")
        if min_score is not None and not 0.0 <= min_score <= 1.0:
            raise UsageError("--min-score must be from 0 to 1")
        time_mode = time_mode or settings.value("query_time")
        if time_mode not in search.TIME_MODES:
            raise UsageError(f"unknown time mode {time_mode!r}: use one of {', '.join(search.TIME_MODES)}")
        filters = filters or Filters(user=self.user)
        now = None
        if as_of is not None:
            as_of = parse_time(as_of)  # a stored time stays as it is; "2024-02-01" becomes one
            now = datetime.strptime(as_of, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            filters = dataclasses.replace(filters, until=min(as_of, filters.until or as_of), valid_at=as_of)
        span = None
        searched = query
        if time_mode != "off":
            from . import timequery

            timed = timequery.find(query, now)
            span, searched = timed.span, timed.text
        hits = search.recall(
            self.store,
            lambda q: self._embed([q])[0],
            searched,
            filters,
            k=min(k, 1000),
            mode=mode,
            fusion=fusion or settings.value("hybrid_fusion"),
            min_score=settings.value("min_score") if min_score is None else min_score,
            span=span,
            time_mode=time_mode,
            now=now,
            graph_weight=settings.value("graph_weight"),
            speaker_weight=settings.value("speaker_weight"),
        )
        if touch and hits:
            self.store.touch_recalled([h.record.id for h in hits], now_str())
        return hits

    def get(self, memory_id: str) -> MemoryRecord:
        """One of this user's memories, by id or unique prefix; another user's is not found."""
        return self.store.get(memory_id, self.user)

    def list(self, filters: Filters | None = None, *, limit: int | None = 20) -> list[MemoryRecord]:
        filters = filters or Filters(user=self.user, include_assistant=True)
        return self.store.select(filters, order="newest", limit=limit)

    def history(self, memory_id: str) -> tuple[MemoryRecord, builtins.list[HistoryEntry]]:
        return self.store.history(self.get(memory_id).id)

    def export(self, filters: Filters | None = None) -> Iterator[dict[str, Any]]:
        """A backup as JSON-ready dicts, one per line of `mem export`.

        First the matching memories, oldest first: {"type": "memory"} with every
        MemoryRecord field and "history", the older texts [{text, changed_at}]
        oldest first. Then {"type": "chat_session"} with every ChatSession field,
        for the filters' user (every user when it is None). Vectors are left
        out: `import_records` makes them again with its own embedding model.
        """
        filters = filters or Filters(user=None, include_expired=True, include_assistant=True)
        records = self.store.iter_records(filters)
        while batch := builtins.list(itertools.islice(records, EXPORT_BATCH)):
            histories = self.store.histories([r.id for r in batch])  # one query per batch, not per memory
            for record in batch:
                older = histories.get(record.id, [])
                yield {
                    "type": "memory",
                    **record.to_dict(),
                    "history": [{"text": h.text, "changed_at": h.changed_at} for h in older],
                }
        for session in self.store.chat_sessions(filters.user):
            yield {"type": "chat_session", **session.to_dict()}
        yield from entities.export(self.store, filters.user)

    def import_records(
        self, records: Iterable[dict[str, Any]], *, progress: Progress | None = None
    ) -> ImportReport:
        """Load what `export` wrote (or hand-written memory lines, which need only "text").

        Ids, times and history are kept. Every line is validated before anything
        is stored (see read_backup); a memory already present (same id, or same
        text for the same user and kind) is skipped, and so is a chat session
        the user already has.
        """
        return self.restore(read_backup(records), progress=progress)

    def restore(self, backup: Backup, *, progress: Progress | None = None) -> ImportReport:
        """Store a validated backup (read_backup); see import_records."""
        report = ImportReport()
        results = self.remember(backup.memories, progress=progress)
        for result in results:
            (report.added if result.status == "added" else report.skipped).append(result.id)
        # a memory already stored under another id keeps that one: the links follow it
        renamed = {
            item.id: result.id
            for item, result in zip(backup.memories, results)
            if item.id and len(results) == len(backup.memories)
        }
        if backup.graph:
            report.entities_added = entities.restore(self.store, backup.graph, self.user, renamed)
        with self.store.transaction():
            for session in backup.sessions:
                restored = self.store.restore_chat_session(
                    dataclasses.replace(session, user=session.user or self.user)
                )
                (report.sessions_added if restored else report.sessions_skipped).append(session.name)
        if progress and backup.sessions:
            progress(len(backup.sessions))
        return report

    def stats(self) -> Stats:
        counts = self.store.counts()
        space = self.store.embedding_space()
        return Stats(
            path=self.where,
            file_size=self.store.size(),
            memories=counts["rows"],
            by_kind=self.store.group_counts("kind"),
            by_user=self.store.group_counts("user"),
            expired=counts["expired"],
            embed_model=space[0] if space else None,
            embed_dim=space[1] if space else None,
            configured_model=self.embed_model_name,
            fts_rows=counts["full_text"],
            vector_rows=counts["vectors"],
            vec_index_rows=counts["vector_index"],
            history_rows=counts["history"],
            encrypted=self.store.capabilities.encrypted,
            backend=self.store.capabilities.backend,
        )

    def reindex(self, *, progress: Progress | None = None, batch_size: int = BATCH_SIZE) -> int:
        """Re-embed every memory with the configured model, swapping the index at the end."""
        import numpy as np

        from .models.registry import load_embedder

        self._embedder = self._embedder or load_embedder()
        items = self.store.texts_for_reindex()
        parts = []
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            parts.append(self._embedder.embed([text for _, text in batch]))
            if progress:
                progress(len(batch))
        dim = self._embedder.dim
        vectors = np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)
        self.store.replace_all_vectors(items, vectors, self._embedder.name, dim, embed=self._embedder.embed)
        return len(items)


# Every field an import line may carry, with its type, from NewMemory's one definition.
_NEW_FIELDS = {f.name: str(f.type) for f in dataclasses.fields(NewMemory)}
_INT_FIELDS = [name for name, kind in _NEW_FIELDS.items() if kind.startswith("int")]
_STR_FIELDS = [name for name, kind in _NEW_FIELDS.items() if kind.startswith("str") and name != "text"]
_TIME_FIELDS = [name for name in _NEW_FIELDS if name in TIME_FIELDS]
# The keys a line may have that are fields (an export's line has every MemoryRecord field).
_LINE_KEYS = {*_NEW_FIELDS, *MEMORY_FIELDS, "type"}


def record_to_new(data: Any, line: int = 0) -> NewMemory:
    """A JSON object (an export line, or a --jsonl input line) -> NewMemory, validated."""
    where = f"line {line}: " if line else ""
    if isinstance(data, str):
        data = {"text": data}
    if not isinstance(data, dict):
        raise InputError(f"{where}expected a JSON object with a 'text' field")
    line_type = data.get("type", "memory")
    if line_type == "chat_session":
        raise InputError(f"{where}a chat_session line is part of an export: load the file with `mem import`")
    if line_type != "memory":
        raise InputError(f"{where}unknown 'type' {line_type!r}: use memory or chat_session")
    if not isinstance(data.get("text"), str):
        raise InputError(f"{where}missing 'text' (a string)")
    fields = {k: v for k, v in data.items() if k in _NEW_FIELDS and v is not None}
    fields["history"] = _history(fields.get("history", []), where)
    tags = fields.get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InputError(f"{where}'tags' must be a list of strings")
    fields["tags"] = tags
    meta = fields.get("meta", {})
    if not isinstance(meta, dict):
        raise InputError(f"{where}'meta' must be an object")
    extra = {k: v for k, v in data.items() if k not in _LINE_KEYS}
    if extra:  # kept, not dropped: a key memcli has no field for goes to meta under its name
        both = sorted(set(extra) & set(meta))
        if both:
            raise InputError(f"{where}{both[0]!r} is both a key of the line and a key of its 'meta'")
        fields["meta"] = {**meta, **extra}
    sources = fields.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(i, str) for i in sources):
        raise InputError(f"{where}'sources' must be a list of memory ids")
    for key in _INT_FIELDS:
        if key in fields and (isinstance(fields[key], bool) or not isinstance(fields[key], int)):
            raise InputError(f"{where}'{key}' must be an integer")
    for key in _STR_FIELDS:
        if key in fields and not isinstance(fields[key], str):
            raise InputError(f"{where}'{key}' must be a string")
    try:
        item = NewMemory(**fields)
        # Validate times and text now, so a bad line stops the load before anything is stored.
        for key in _TIME_FIELDS:
            if getattr(item, key):
                parse_time(getattr(item, key))
        clean_text(item.text)
    except InputError as exc:
        raise InputError(f"{where}{exc}") from None
    return item


def _history(value: Any, where: str) -> builtins.list[HistoryEntry]:
    """An export line's "history" -> HistoryEntry list, each text and time validated."""
    shape = f"{where}'history' must be a list of {{text, changed_at}}"
    if not isinstance(value, list):
        raise InputError(shape)
    entries = []
    for n, entry in enumerate(value, 1):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("text"), str)
            and isinstance(entry.get("changed_at"), str)
        ):
            raise InputError(shape)
        try:
            entries.append(HistoryEntry(clean_text(entry["text"]), parse_time(entry["changed_at"])))
        except InputError as exc:
            raise InputError(f"{where}history entry {n}: {exc}") from None
    return entries


def record_to_session(data: dict[str, Any], line: int = 0) -> ChatSession:
    """A chat_session line of an export -> ChatSession, validated (no "user": "", the importing user)."""
    where = f"line {line}: " if line else ""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}a chat_session needs a 'name' (a string)")
    for key in ("user", "summary", "created_at", "updated_at"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InputError(f"{where}'{key}' must be a string")
    through = data.get("summarized_through", 0)
    if isinstance(through, bool) or not isinstance(through, int) or not 0 <= through <= MAX_COUNT:
        raise InputError(f"{where}'summarized_through' must be an integer from 0 to {MAX_COUNT}")
    summary = data.get("summary") or ""
    user = data.get("user") or ""
    for key, text in (("name", name), ("summary", summary), ("user", user)):
        if "\x00" in text or not _is_utf8(text):
            raise InputError(f"{where}'{key}' is not valid UTF-8 text")
    try:
        created_at = parse_time(data["created_at"]) if data.get("created_at") else now_str()
        updated_at = parse_time(data["updated_at"]) if data.get("updated_at") else created_at
    except InputError as exc:
        raise InputError(f"{where}{exc}") from None
    return ChatSession(user, name, summary, through, created_at, updated_at)


@dataclass
class Backup:
    """The lines of an export, validated: what `Memory.restore` stores."""

    memories: list[NewMemory] = field(default_factory=list)
    sessions: list[ChatSession] = field(default_factory=list)  # user "": the importing user
    graph: list[Any] = field(default_factory=list)  # entities, relations, profile entries (memcli.entities)


def read_backup(records: Iterable[Any], lines: Sequence[int] | None = None) -> Backup:
    """Export lines (dicts from parse_jsonl) -> Backup; the first bad line raises
    InputError naming it, before a database is created or opened for it. `lines`
    numbers the records as in their file (numbered_jsonl's); by default 1, 2, ...

    A line with "type": "chat_session" is a session; any other is a memory
    ("type": "memory", or none: old exports and hand-written lines).
    """
    backup = Backup()
    for i, data in enumerate(records):
        n = lines[i] if lines is not None else i + 1
        if isinstance(data, dict) and data.get("type") == "chat_session":
            backup.sessions.append(record_to_session(data, n))
            continue
        if isinstance(data, dict) and data.get("type") in entities.EXPORT_TYPES:
            backup.graph.append(entities.from_export(data, n))
            continue
        item = record_to_new(data, n)
        try:
            prepare_rows(item, "")  # what remember would refuse, named by its line
        except InputError as exc:
            raise InputError(f"line {n}: {exc}") from None
        backup.memories.append(item)
    return backup


def parse_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for _, value in numbered_jsonl(lines):
        yield value


def numbered_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each line of JSON; blank lines are skipped but counted.

    What JSON does not allow is refused with its line number: NaN and Infinity
    (Python's json reads them, and 1e999 as Infinity), numbers longer than
    Python reads (4300 digits) and nesting deeper than it can follow."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_constant=_not_json, parse_float=_finite)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {n}: not valid JSON ({exc.msg})") from None
        except _NotJson as exc:
            raise InputError(f"line {n}: not valid JSON ({exc})") from None
        except ValueError:  # int() refuses to read it
            raise InputError(
                f"line {n}: a number has more than {sys.get_int_max_str_digits()} digits"
            ) from None
        except RecursionError:
            raise InputError(f"line {n}: not valid JSON (nested too deeply)") from None
        yield n, value


class _NotJson(ValueError):
    pass


def _not_json(name: str) -> None:
    raise _NotJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotJson(f"{text} is too large for a JSON number")
    return number
