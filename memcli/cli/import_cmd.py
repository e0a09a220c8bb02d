"""`mem import`: restore a backup from mem export, or import another assistant's export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError, UsageError
from . import complete, render
from .app import app
from .commands import DbOpt, JsonOpt, NewUserOpt, _open, _progress
from .inputs import MAX_BULK_BYTES, read_file, read_stdin

if TYPE_CHECKING:
    from ..importers import ImportSummary

FORMATS = ("chatgpt", "claude", "llm", "mem0", "markdown")  # memcli.importers.FORMATS, without importing it
_NAMES = {"chatgpt": "ChatGPT", "claude": "Claude", "llm": "llm", "mem0": "mem0", "markdown": "Markdown"}


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="A backup from mem export ('-' for stdin); with --from, the export's file, folder or zip.",
        ),
    ],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="FORMAT",
            help=f"Import another program's export instead of a backup: {', '.join(FORMATS)}.",
            show_default=False,
            autocompletion=complete.import_formats,
        ),
    ] = None,
    user: NewUserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Restore a backup from mem export, or import conversations and notes from elsewhere.

    A backup keeps ids, times and history. Memories already present (same id,
    or the same text for the same user and kind) are skipped, and so are chat
    sessions the user already has. Every line is checked before anything is
    stored. Vectors are made again with this store's embedding model. Lines
    without a "type" are memories: hand-written lines need only "text".

    With --from FORMAT, PATH is another program's export. chatgpt, claude:
    the data export's conversations.json, its folder or the zip. llm: llm's
    logs.db (llm logs path), opened read-only. mem0: mem0 memories saved as
    JSON (get_all's results). markdown: a .md note, or a folder of notes
    (recursive).

    Each conversation becomes a thread of episodic memories in order, at the
    times they were said, the assistant's replies kept as the assistant's
    (recall leaves them out unless --assistant), tagged with the format's
    name. mem0 memories become facts (semantic), their categories tags. A
    note's YAML front matter gives its tags, date and kind; the rest is kept
    in meta, and long notes are split as mem remember -f splits them.
    Importing the same export again adds nothing. The whole export is read
    and checked before anything is stored.

    Examples:

      mem import backup.jsonl --db new.db

      mem import --from chatgpt ~/Downloads/chatgpt-export.zip

      mem import --from markdown ~/Notes
    """
    if from_ is not None:
        _import_from(from_, path, user, db, json_out)
        return
    if user is not None:
        raise UsageError("--user goes with --from: a backup keeps each memory's user")
    from ..memory import numbered_jsonl, read_backup

    content = read_file(path, MAX_BULK_BYTES)
    numbered = list(numbered_jsonl(content.splitlines()))
    if not numbered:
        raise InputError(f"{render.printable(str(path))} holds no memories")
    records = [record for _, record in numbered]
    backup = read_backup(records, [n for n, _ in numbered])  # a bad line never creates the database
    mem = _open(db, create=True)
    with _progress(len(records), "Importing") as advance:
        report = mem.restore(backup, progress=advance)
    if json_out:
        render.emit_json(report.to_dict())
    else:
        print(
            f"Imported {len(report.added)} memories and {len(report.sessions_added)} chat sessions; "
            f"skipped {len(report.skipped)} memories and {len(report.sessions_skipped)} sessions already present.",
            file=sys.stderr,
        )


def _import_from(fmt: str, path: Path, user: str | None, db: str | None, json_out: bool) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} for --from: use one of {', '.join(FORMATS)}")
    from .. import importers

    text = read_stdin(MAX_BULK_BYTES) if str(path) == "-" and fmt != "llm" else None
    source = importers.read(fmt, path, text)  # a bad export never creates the database
    mem = _open(db, user, create=True)
    plan = importers.plan(mem, source)
    with _progress(plan.rows, "Importing") as advance:
        summary = importers.run(mem, plan, progress=advance)
    if json_out:
        render.emit_json(summary.to_dict())
    else:
        print(_summary_line(summary), file=sys.stderr)


def _summary_line(summary: ImportSummary) -> str:
    unit = summary.unit if summary.read != 1 else summary.unit.removesuffix("s")
    line = f"Read {summary.read} {_NAMES[summary.format]} {unit}"
    if summary.empty:
        line += f" ({summary.empty} with nothing to import)"
    return f"{line}: added {len(summary.added)} memories, skipped {summary.skipped} already present."
