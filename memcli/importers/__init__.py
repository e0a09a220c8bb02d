"""Importing what other assistants and note apps keep: ChatGPT's and Claude's data
exports, llm's logs.db, a mem0 export, a folder of Markdown notes.

from memcli import Memory
from memcli import importers
source = importers.read("chatgpt", "chatgpt-export.zip")   # validated; nothing stored yet
with Memory() as mem:
    report = importers.run(mem, importers.plan(mem, source))

Each conversation becomes a thread (its turns in order, with their times and
roles: the assistant's replies stay the assistant's); notes and facts become
memories with their tags and dates. Importing the same export again adds nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, UsageError
from ..memory import prepare_rows
from ..records import NewMemory

if TYPE_CHECKING:
    from ..memory import Memory, Progress

# Format name -> its module, and what the format's units are called.
FORMATS: dict[str, tuple[str, str]] = {
    "chatgpt": ("chatgpt", "conversations"),
    "claude": ("claude", "conversations"),
    "llm": ("llm_logs", "conversations"),
    "mem0": ("mem0", "memories"),
    "markdown": ("markdown", "notes"),
}


@dataclass
class Source:
    """What an export holds, read and validated: nothing is stored yet."""

    format: str
    unit: str  # what was read: "conversations", "notes" or "memories"
    read: int  # how many of them
    empty: int  # of those, how many held nothing to keep (no text)
    items: list[NewMemory] = field(default_factory=list)


@dataclass
class Plan:
    """A Source against one store: what is new, and how many memories that makes."""

    source: Source
    fresh: list[NewMemory]
    rows: int  # memories the fresh items make (a long note is several)
    present: int  # memories the store already has


@dataclass
class ImportSummary:
    format: str
    unit: str
    read: int
    empty: int
    memories: int  # what the export makes: added + skipped
    added: list[str] = field(default_factory=list)  # ids
    skipped: int = 0  # already present

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "unit": self.unit,
            "read": self.read,
            "empty": self.empty,
            "memories": self.memories,
            "added": len(self.added),
            "skipped": self.skipped,
            "ids": self.added,
        }


def read(fmt: str, path: str | Path, text: str | None = None) -> Source:
    """Read an export of format `fmt` at `path` ("-": `text` is what stdin held).

    Raises InputError, naming the place, for anything that is not that format or
    that could not be stored: nothing is stored before the whole export has been read.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    module_name, unit = FORMATS[fmt]
    module = importlib.import_module(f"{__name__}.{module_name}")
    if str(path) == "-" and text is None and fmt != "llm":
        raise UsageError("reading stdin ('-') is the caller's: pass what it holds as `text`")
    found = module.read(Path(path), text if str(path) == "-" else None)
    if found.read == 0:
        raise InputError(f"{'stdin' if str(path) == '-' else path} holds no {unit}")
    return Source(fmt, unit, found.read, found.empty, found.items)


def plan(mem: Memory, source: Source) -> Plan:
    """What of `source` the store does not have yet.

    A conversation's turns are looked up in their thread (by place and text), so
    importing again embeds nothing; other memories are matched by text when stored.
    """
    known: dict[tuple[str, str], set[tuple[int | None, str]]] = {}
    fresh: list[NewMemory] = []
    rows = present = 0
    for item in source.items:
        made = prepare_rows(item, mem.user)
        user = made[0].record.user
        if item.doc_id is not None and item.chunk is not None:
            if (user, item.doc_id) not in known:
                known[(user, item.doc_id)] = {
                    (r.chunk, r.content_hash) for r in mem.store.thread(user, item.doc_id)
                }
            if (item.chunk, made[0].record.content_hash) in known[(user, item.doc_id)]:
                present += 1
                continue
        fresh.append(item)
        rows += len(made)
    return Plan(source, fresh, rows, present)


def run(mem: Memory, plan: Plan, *, progress: Progress | None = None) -> ImportSummary:
    """Store what `plan` found new; memories the store has already are skipped."""
    source = plan.source
    summary = ImportSummary(source.format, source.unit, source.read, source.empty, 0, skipped=plan.present)
    for result in mem.remember(plan.fresh, progress=progress):
        if result.status == "added":
            summary.added.append(result.id)
        else:
            summary.skipped += 1
    summary.memories = len(summary.added) + summary.skipped
    return summary
