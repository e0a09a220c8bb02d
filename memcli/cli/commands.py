"""The commands of `mem`. Each parses options, calls the core and renders the result."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import STORAGE_ERRNOS, InputError, MemcliError, ModelError, NotFound, StoreError, UsageError
from . import complete, render
from .app import app
from .inputs import MAX_BULK_BYTES, new_user_name, read_file, read_stdin, stdin_is_piped
from .options import CsvOpt, JsonOpt, NlOpt, TsvOpt

if TYPE_CHECKING:  # importing the core at run time would slow `mem --help`
    from ..memory import Memory
    from ..records import Filters

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database file, or a PostgreSQL URL (postgresql://...). "
        "Default: $MEMCLI_DB, else memory.db in the user data dir.",
        show_default=False,
    ),
]
_USER_HELP = "Whose memories. Default: $MEMCLI_USER, else the login name."
UserOpt = Annotated[str | None, typer.Option("--user", "-u", help=_USER_HELP, show_default=False)]
# The commands that store memories refuse a name no terminal could show as written.
NewUserOpt = Annotated[
    str | None, typer.Option("--user", "-u", help=_USER_HELP, show_default=False, callback=new_user_name)
]
KindOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--kind",
        help="Only this kind: episodic, semantic or procedural (repeatable).",
        autocompletion=complete.kinds,
    ),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        "-t",
        help="Only memories with this tag (repeatable: all must match).",
        autocompletion=complete.tags,
    ),
]
AssistantOpt = Annotated[
    bool,
    typer.Option("--assistant", help="Search the assistant's replies in chat too, not only your own words."),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since", help="Only memories that happened at or after this time (2024-05-01, 7d, yesterday)."
    ),
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Only memories that happened before this time.")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="See the memory as it was then: what had happened by this time, the facts still valid "
        "then; times in the query count from it.",
        show_default=False,
    ),
]


def _open(db: str | None, user: str | None = None, *, create: bool = False) -> Memory:
    from ..memory import Memory

    return Memory(db, create=create, user=user)


def _filters(
    mem: Memory,
    user: str | None,
    kind: list[str] | None,
    tag: list[str] | None,
    since: str | None,
    until: str | None,
    *,
    assistant: bool = True,
) -> Filters:
    from ..records import KINDS, Filters
    from ..timeparse import parse_time

    for k in kind or []:
        if k not in KINDS:
            raise InputError(f"unknown kind {k!r}: use one of {', '.join(KINDS)}")
    return Filters(
        user=user or mem.user,
        kinds=list(kind or []),
        tags=list(tag or []),
        since=parse_time(since) if since else None,
        until=parse_time(until) if until else None,
        include_assistant=assistant,
    )


@contextmanager
def _progress(total: int, label: str) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal; silent otherwise."""
    if not sys.stderr.isatty() or total < 2:
        yield lambda n: None
        return
    with render.progress_bar() as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _parse_meta(items: list[str] | None) -> dict[str, str]:
    meta: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad --meta {item!r}: use KEY=VALUE")
        meta[key.strip()] = value
    return meta


@app.command()
def remember(
    text: Annotated[
        list[str] | None, typer.Argument(help="The text to remember ('-' reads stdin).", show_default=False)
    ] = None,
    file: Annotated[
        list[Path] | None,
        typer.Option("--file", "-f", help="Read a memory from this file ('-' for stdin); repeatable."),
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="episodic (what happened), semantic (a fact) or procedural (how to).",
            autocompletion=complete.kinds,
        ),
    ] = "episodic",
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", help="A tag (repeatable).", autocompletion=complete.tags),
    ] = None,
    importance: Annotated[int, typer.Option("--importance", "-i", help="1 (trivial) to 5 (vital).")] = 3,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", "-m", help="Free metadata KEY=VALUE (repeatable).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="When it happened: 2024-05-01, '2024-05-01 14:30', yesterday, 2d."),
    ] = None,
    ttl: Annotated[str | None, typer.Option("--ttl", help="Forget after this long: 30d, 12h, 2w.")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="Forget after this date.")] = None,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help="Read one JSON object per line (text, kind, tags, meta, occurred_at, user, doc_id, chunk, ...) "
            "from stdin or -f.",
        ),
    ] = False,
    extract: Annotated[
        bool,
        typer.Option(
            "--extract", help="Also extract its facts now, as `mem consolidate` would (loads the model)."
        ),
    ] = False,
    user: NewUserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Store a memory from arguments, files or stdin.

    Long input is split into chunks linked to one source. Storing the same text
    again for the same user changes nothing and says so. With --jsonl, lines that
    share a "doc_id" and number their "chunk" form a thread (a transcript, say):
    each is then also found by the words of its neighbours.

    Examples:

      mem remember "Ana's birthday is on 3 March" --tag family

      echo "Deploy with make release" | mem remember --kind procedural

      mem remember -f meeting-notes.md --at yesterday

      mem remember --jsonl < notes.jsonl
    """
    from ..memory import NewMemory, numbered_jsonl, record_to_new, validate
    from ..timeparse import format_time, parse_duration, parse_time, utcnow

    if ttl and expires:
        raise UsageError("give --ttl or --expires, not both")
    expires_at = None
    if ttl:
        expires_at = format_time(utcnow() + parse_duration(ttl))
    elif expires:
        expires_at = parse_time(expires, future=True)
        if expires_at <= format_time(utcnow()):
            raise InputError(f"--expires {expires!r} is in the past")
    occurred_at = parse_time(at) if at else None
    common = dict(
        kind=kind,
        tags=list(tag or []),
        importance=importance,
        occurred_at=occurred_at,
        expires_at=expires_at,
        meta=_parse_meta(meta),
        user=user,
    )
    items: list[NewMemory] = []
    if jsonl:
        if text:
            raise UsageError("--jsonl reads stdin or -f files, not arguments")
        sources = [str(f) for f in file or []] or ["-"]
        for source in sources:
            content = read_file(source, MAX_BULK_BYTES)
            for n, obj in numbered_jsonl(content.splitlines()):
                item = record_to_new(obj, n)
                for key in ("kind", "importance"):  # options fill what a line leaves out
                    if key not in obj:
                        setattr(item, key, common[key])
                item.tags = item.tags or list(tag or [])
                item.meta = {**common["meta"], **item.meta}  # type: ignore[dict-item]
                item.user = item.user or user
                item.expires_at = item.expires_at or expires_at
                item.occurred_at = item.occurred_at or occurred_at
                item.source = item.source or ("stdin" if source == "-" else source)
                try:
                    new_user_name(item.user)
                    validate([item])
                except InputError as exc:
                    raise InputError(f"line {n}: {exc}") from None
                items.append(item)
        if not items:
            raise InputError("no JSON lines to load")
    else:
        if text and text != ["-"]:
            items.append(NewMemory(" ".join(text), source="cli", **common))  # type: ignore[arg-type]
        for f in file or []:
            items.append(NewMemory(read_file(f), source="stdin" if str(f) == "-" else str(f), **common))  # type: ignore[arg-type]
        if text == ["-"] or (not text and not file):
            if text != ["-"] and not stdin_is_piped():
                raise InputError("nothing to remember: give TEXT, -f FILE, or pipe text in")
            items.append(NewMemory(read_stdin(), source="stdin", **common))  # type: ignore[arg-type]
        validate(items)  # bad input never creates the database (JSON lines: checked line by line)
    mem = _open(db, user, create=True)
    with _progress(len(items), "Remembering") as advance:
        results = mem.remember(items, progress=advance)
    report = None
    if extract:
        from .consolidation import extract_now

        stored = [r.id for r in results if r.status == "added"]
        try:
            report = extract_now(mem, stored, user or mem.user)
        except ModelError as exc:
            raise ModelError(
                f"remembered {', '.join(stored) or 'nothing new'}, but extracted no facts: {exc}"
            ) from exc
    if json_out:
        data: dict[str, Any] = {"results": [r.to_dict() for r in results]}
        if report is not None:
            data["facts"] = [asdict(c) for c in report.changes]
        render.emit_json(data)
        return

    out = render.console()
    added = [r for r in results if r.status == "added"]
    for r in results if len(results) <= 20 else []:
        label = "Remembered" if r.status == "added" else "Already known"
        part = f" (chunk {r.chunk} of {r.doc_id})" if r.doc_id else ""
        out.print(render.printable(f"{label} {r.id}{part}: ") + render.one_line(r.text, 60))
    if len(results) > 20:
        out.print(f"Remembered {len(added)} memories; {len(results) - len(added)} were already known.")
    if report is not None:
        from .consolidation import print_changes

        print_changes(report, render.console(stderr=True))


@app.command()
def recall(
    query: Annotated[
        list[str] | None,
        typer.Argument(
            help="What to look for, in any words (read from stdin when piped).", show_default=False
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--limit", help="How many results.", min=1, max=1000)] = 10,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="hybrid (BM25 + vectors), fts (BM25 only) or vector.",
            autocompletion=complete.modes,
        ),
    ] = "hybrid",
    kind: KindOpt = None,
    tag: TagOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    assistant: AssistantOpt = False,
    as_of: AsOfOpt = None,
    about: Annotated[
        list[str] | None,
        typer.Option(
            "--about",
            help="Only memories that mention this entity: a name, alias or id (repeatable: all).",
            autocompletion=complete.entity_names,
        ),
    ] = None,
    min_score: Annotated[
        float | None,
        typer.Option(
            "--min-score",
            help="Leave out matches scoring under this, from 0 to 1 (default: the min_score setting, 0.15).",
            min=0.0,
            max=1.0,
            show_default=False,
        ),
    ] = None,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
) -> None:
    """Find the memories that best match a query.

    Every score is from 0 to 1: full-text relevance (BM25 over what the query's
    words could reach), cosine similarity, and in hybrid mode half of each,
    weighed by importance and recency. Matches under --min-score are left out.
    A time the query names ("last weekend", "in May 2023", "two weeks ago") is
    taken out of the words searched, and what happened then ranks first (the
    query_time setting: boost, filter or off). Expired memories are never
    returned, nor the assistant's replies in chat unless --assistant.

    Examples:

      mem recall "when is Ana's birthday"

      mem recall deploy --kind procedural --json

      mem recall "trip" --since 2024-01-01 --mode fts

      mem recall "what did I do last weekend"

      mem recall "where do I live" --as-of 2024-02-01

      mem recall "birthday" --about Ana

      echo "spare key" | mem recall -k 3
    """
    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    if not query or query == ["-"]:
        if not query and not stdin_is_piped():
            raise UsageError("say what to recall: mem recall QUERY, or pipe it on stdin")
        query = [read_stdin()]
    text = " ".join(" ".join(query).split())
    if not text:
        raise InputError("the query is empty")
    if mode != "fts":
        from ..models.registry import preload

        preload()
    mem = _open(db, user)
    filters = _filters(mem, user, kind, tag, since, until, assistant=assistant)
    if about:
        from .. import entities

        filters.about = [entities.find(mem.store, mem.user, name).id for name in about]
    from .. import settings
    from ..timeparse import parse_time

    threshold = settings.value("min_score") if min_score is None else min_score
    moment = parse_time(as_of) if as_of else None
    hits = mem.recall(text, filters, k=k, mode=mode, touch=True, min_score=threshold, as_of=moment)
    rows = [hit.to_dict() for hit in hits]
    if fmt == "json":
        render.emit_json({"query": text, "mode": mode, "min_score": threshold, "results": rows})
    elif fmt:
        columns = render.MEMORY_COLUMNS
        render.emit_rows(fmt, rows, [columns[0], "score", *columns[1:]])
    elif rows:
        render.memory_table(rows, score=True)
    else:
        weak = threshold > 0 and mem.recall(text, filters, k=1, mode=mode, min_score=0.0, as_of=moment)
        if weak:
            print(
                f"No memory matches well: the best scores {weak[0].score:.2f}, under the minimum "
                f"{threshold:g} (--min-score 0 shows every match).",
                file=sys.stderr,
            )
        else:
            print("No memories match.", file=sys.stderr)


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("-n", "--limit", help="How many, newest first (0: all).", min=0)] = 20,
    kind: KindOpt = None,
    tag: TagOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
) -> None:
    """List memories, newest first.

    Examples:

      mem list

      mem list --tag family -n 50 --json

      mem list -n 0 --csv > memories.csv
    """
    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    mem = _open(db, user)
    records = mem.list(_filters(mem, user, kind, tag, since, until), limit=limit or None)
    rows = [r.to_dict() for r in records]
    if fmt == "json":
        render.emit_json({"results": rows})
    elif fmt:
        render.emit_rows(fmt, rows, render.MEMORY_COLUMNS)
    elif rows:
        render.memory_table(rows, score=False)
    else:
        print("No memories.", file=sys.stderr)


@app.command()
def tags(
    kind: KindOpt = None,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
) -> None:
    """List the tags in use, with how many memories have each, most used first.

    Expired memories are not counted, as mem list does not show them.

    Examples:

      mem tags

      mem tags --kind procedural --json

      mem tags --tsv | cut -f1
    """
    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    mem = _open(db, user)
    counts = mem.store.tag_counts(_filters(mem, user, kind, None, None, None))
    rows: list[dict[str, Any]] = [{"tag": name, "memories": n} for name, n in counts]
    if fmt == "json":
        render.emit_json({"results": rows})
    elif fmt:
        render.emit_rows(fmt, rows, ["tag", "memories"])
    elif rows:
        render.table(["tag", "memories"], [[name, str(n)] for name, n in counts], right=[1])
    else:
        print("No tags yet (mem remember TEXT --tag NAME adds one).", file=sys.stderr)


@app.command()
def show(
    memory_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="A memory id (or a unique prefix of 4+ characters).",
            autocompletion=complete.memory_ids,
        ),
    ],
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show everything about one memory, metadata included.

    Example:

      mem show 3k9x2mqa
    """
    record = _open(db, user).get(memory_id)
    if json_out:
        render.emit_json(record.to_dict())
    else:
        render.show_record(record.to_dict())


@app.command()
def edit(
    memory_id: Annotated[
        str, typer.Argument(metavar="ID", help="The memory to change.", autocompletion=complete.memory_ids)
    ],
    text: Annotated[
        list[str] | None,
        typer.Argument(help="The new text ('-' or piped: stdin; none: your $EDITOR).", show_default=False),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", help="Add this tag (repeatable).", autocompletion=complete.tags),
    ] = None,
    untag: Annotated[
        list[str] | None,
        typer.Option("--untag", help="Remove this tag (repeatable).", autocompletion=complete.tags),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="Make it episodic, semantic or procedural.",
            show_default=False,
            autocompletion=complete.kinds,
        ),
    ] = None,
    importance: Annotated[
        int | None, typer.Option("--importance", "-i", help="1 (trivial) to 5 (vital).", show_default=False)
    ] = None,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change a memory: its text (the previous text is kept in its history), tags, kind or importance.

    With no text and no other change, the text opens in your editor ($VISUAL,
    else $EDITOR, else vi), in a private temporary folder removed afterwards;
    save and quit to store it, quit without saving (or save it unchanged) to
    change nothing. Piped text replaces it without an editor.

    Examples:

      mem edit 3k9x2mqa "Ana's birthday is on 4 March"

      mem edit 3k9x2mqa

      mem edit 3k9x2mqa --tag family --untag todo --importance 5

      mem edit 3k9x2mqa --kind procedural
    """
    changes = bool(tag or untag or kind is not None or importance is not None)
    new_text: str | None = None
    if text and text != ["-"]:
        new_text = " ".join(text)
    elif text == ["-"] or (not changes and stdin_is_piped()):
        new_text = read_stdin()
    elif not changes:
        if sys.stdin is None or sys.stdin.closed or not sys.stdin.isatty():
            raise InputError("no new text: give TEXT, pipe it in, or run it on a terminal for your editor")
    mem = _open(db, user)
    record = mem.get(memory_id)
    if new_text is None and not changes:
        new_text = _in_editor(record.text)
        if new_text is None:
            print(f"No change to {record.id}.", file=sys.stderr)
            return
    with mem.store.transaction():  # every change or none
        if new_text is not None:
            record = mem.edit(record.id, new_text)
        if changes:
            record = mem.change(
                record.id, add_tags=tag or [], remove_tags=untag or [], kind=kind, importance=importance
            )
    if json_out:
        render.emit_json(record.to_dict())
    else:
        about = [record.kind, f"importance {record.importance}", *("#" + t for t in record.tags)]
        render.console().print(
            render.printable(f"Updated {record.id}: ")
            + render.one_line(record.text, 60)
            + render.printable(f"  [{', '.join(about)}]")
        )


def _in_editor(text: str) -> str | None:
    """The text after the user's editor has changed it; None when it was left as it was."""
    import tempfile

    import click

    with tempfile.TemporaryDirectory(prefix="mem-edit-") as folder:  # 0700: only you can read it
        path = Path(folder) / "memory.txt"
        path.write_text(text + "\n", encoding="utf-8")
        before = path.stat().st_mtime_ns
        try:
            click.edit(filename=str(path))
        except click.ClickException as exc:
            raise UsageError(f"the editor failed: {exc.format_message()}; nothing was changed") from None
        if path.stat().st_mtime_ns == before:
            return None
        edited = read_file(path)
    if edited.strip() == text.strip():
        return None
    return edited


@app.command()
def history(
    memory_id: Annotated[
        str, typer.Argument(metavar="ID", help="The memory.", autocompletion=complete.memory_ids)
    ],
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
) -> None:
    """Show the earlier texts of a memory, oldest first, and what it replaced or was replaced by.

    --csv, --tsv and --nl give its texts alone, one row each (text, changed_at, current).

    Examples:

      mem history 3k9x2mqa

      mem history 3k9x2mqa --nl
    """
    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    mem = _open(db, user)
    record, entries = mem.history(memory_id)
    if fmt and fmt != "json":
        render.emit_rows(fmt, [e.to_dict() for e in entries], ["text", "changed_at", "current"])
        return
    from ..provenance import replaced_by

    replaced = replaced_by(mem.store, record.id)
    successor = None
    if record.superseded_by:
        try:
            successor = mem.store.get(record.superseded_by)
        except NotFound:  # the newer fact was forgotten since
            pass
    if fmt == "json":
        render.emit_json(
            {
                "id": record.id,
                "history": [e.to_dict() for e in entries],
                "valid_to": record.valid_to,
                "superseded_by": record.superseded_by,
                "supersedes": [r.to_dict() for r in replaced],
                "unverified_at": record.unverified_at,
                "sources": record.sources,
            }
        )
        return
    from rich.text import Text

    out = render.console()
    for old in replaced:
        out.print(
            Text(render.printable(f"{render.when(old.valid_to)}  replaces {old.id}: {old.text}", lines=True))
        )
    for entry in entries:
        mark = "current" if entry.current and record.current else "was"
        out.print(
            Text(render.printable(f"{render.when(entry.changed_at)}  {mark:7}  {entry.text}", lines=True))
        )
    if successor is not None:
        out.print(
            Text(
                render.printable(
                    f"{render.when(record.valid_to)}  no longer valid: superseded by {successor.id}: "
                    f"{successor.text}",
                    lines=True,
                )
            )
        )
    if record.unverified_at:
        out.print(
            Text(
                f"{render.when(record.unverified_at)}  unverified: made from a note edited since "
                "(the next mem consolidate checks it)"
            )
        )


@app.command()
def forget(
    memory_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="Memories to delete ('-' reads ids from stdin, one per line).",
            show_default=False,
            autocompletion=complete.memory_ids,
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", help="Delete memories with this tag.", autocompletion=complete.tags),
    ] = None,
    before: Annotated[
        str | None, typer.Option("--before", help="Delete memories that happened before this time.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Delete memories containing all these words.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Delete every memory of the user.")] = False,
    kind: KindOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    scrub: Annotated[
        bool,
        typer.Option(
            "--scrub",
            help="Only clear what an earlier forget had to leave in the write-ahead log (it says when).",
        ),
    ] = False,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete memories for good: rows, index entries and history.

    The deleted text is overwritten in the database file, not just unlinked.
    Asks first on a terminal; filters need --yes when not on a terminal.

    Examples:

      mem forget 3k9x2mqa

      mem forget --tag temp --before 30d --yes

      mem forget --user guest --all --yes

      mem list --tag temp --json | jq -r '.results[].id' | mem forget - --yes
    """
    from ..timeparse import parse_time

    has_filter = bool(tag or before or query is not None or all_ or kind)
    if scrub:
        if memory_ids or has_filter:
            raise UsageError("--scrub takes no ids or filters")
        store = _open(db, user).store
        if not store.capabilities.scrub:
            raise UsageError("this store has nothing to scrub: its database erases deleted text itself")
        cleared = store.scrub()
        if json_out:
            render.emit_json({"wal_cleared": cleared})
        elif cleared:
            print("The write-ahead log is clear.", file=sys.stderr)
        if not cleared:
            raise StoreError("another process still has the database open: try again when it is done")
        return
    if memory_ids and has_filter:
        raise UsageError("give ids or filters (--tag, --before, --query, --all), not both")
    if not memory_ids and not has_filter:
        raise UsageError("say what to forget: ids, or --tag / --before / --query / --kind / --all")
    if memory_ids == ["-"]:
        memory_ids = read_stdin().split()
        if not memory_ids:
            raise InputError("no ids on stdin")
    mem = _open(db, user)
    if memory_ids:
        records = [mem.get(i) for i in dict.fromkeys(memory_ids)]
    else:
        filters = _filters(mem, user, kind, tag, None, parse_time(before) if before else None)
        filters.include_expired = True
        records = mem.matching(filters, query=query)
    if not records:
        if json_out:
            render.emit_json({"forgotten": 0, "ids": [], "derived": []})
        else:
            print("Nothing to forget.", file=sys.stderr)
        return
    if not yes:
        if sys.stdin is not None and sys.stdin.isatty():
            out = render.console(stderr=True)
            for r in records[:10]:
                out.print(render.printable(f"  {r.id}  ") + render.one_line(r.text, 70, out.file))
            if len(records) > 10:
                out.print(f"  ... and {len(records) - 10} more")
            if not typer.confirm(
                f"Forget {len(records)} memor{'y' if len(records) == 1 else 'ies'}?", err=True
            ):
                raise UsageError("nothing forgotten")
        elif has_filter:
            n = len(records)
            raise UsageError(
                f"refusing to forget {n} memor{'y' if n == 1 else 'ies'} by filter without --yes"
            )
    report = mem.forget([r.id for r in records])
    if json_out:
        render.emit_json(
            {
                "forgotten": report.count,
                "ids": report.forgotten,
                "derived": report.derived,
                "kept": report.kept,
                "requeued": report.requeued,
                "restored": report.restored,
                # the erased text may still be readable in storage (see Capabilities.erasure)
                "traces_left": mem.store.traces_left,
                **({"wal_cleared": not mem.store.traces_left} if mem.store.capabilities.scrub else {}),
            }
        )
    else:
        render.console().print(render.printable(report.sentence()))
    if mem.store.traces_left:
        print(_TRACES_LEFT[mem.store.capabilities.erasure], file=sys.stderr)


# What `mem forget` warns of when the erased text can still be read, by how the store erases.
_TRACES_LEFT = {
    "overwrites": "Warning: another process has the database open, so the forgotten text can still be read "
    "in the database file or its -wal file; once that process is done, the next mem command "
    "clears it (or run: mem forget --scrub)",
    "vacuum": "Warning: the server keeps the forgotten text on its disk until it vacuums the deleted rows "
    "(VACUUM, or autovacuum), and in its WAL archives, backups and replicas while they are kept "
    "(README: Erasure on a server)",
}


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    all_users: Annotated[
        bool, typer.Option("--all-users", help="Export every user's memories, not just one user's.")
    ] = False,
    user: UserOpt = None,
    db: DbOpt = None,
) -> None:
    """Back up memories as JSON lines: every field, history and chat sessions.

    One line per memory ("type": "memory") with every field and "history", its
    older texts oldest first; then one line per chat session ("type":
    "chat_session") with its summary and times. `mem import` restores them all.
    Vectors are not exported: the importing store makes them again with its
    own embedding model.

    Examples:

      mem export > backup.jsonl

      mem export --all-users -o everything.jsonl
    """
    from ..records import Filters

    mem = _open(db, user)
    filters = Filters(
        user=None if all_users else (user or mem.user), include_expired=True, include_assistant=True
    )
    if output is None:
        render.emit_jsonl(mem.export(filters))
        return
    if output.is_dir():
        raise InputError(f"{output} is a directory: give a file name (-o {output / 'memories.jsonl'})")
    import tempfile

    try:
        fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)  # mode 0600
    except OSError as exc:
        raise _unwritable(output, exc) from None
    tmp = Path(name)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            lines = render.emit_jsonl(mem.export(filters), f)
        tmp.replace(output)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)  # never leave a copy of the memories behind
        if isinstance(exc, OSError):
            raise _unwritable(output, exc) from None
        raise
    sessions = len(mem.store.chat_sessions(filters.user))
    print(
        render.printable(f"Exported {lines - sessions} memories and {sessions} chat sessions to {output}"),
        file=sys.stderr,
    )


def _unwritable(path: Path, exc: OSError) -> MemcliError:
    """Why a file the user named cannot be written, naming it (not our temporary file)."""
    if exc.errno in STORAGE_ERRNOS:
        return StoreError(f"cannot write {path}: {exc.strerror}; nothing was written")
    if isinstance(exc, FileNotFoundError):
        return InputError(f"cannot write {path}: there is no directory {path.parent}")
    if isinstance(exc, NotADirectoryError):
        return InputError(f"cannot write {path}: {path.parent} is not a directory")
    return InputError(f"cannot write {path}: {exc.strerror or exc}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@app.command()
def stats(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Counts by kind and user, file size, models, and whether the indexes match the rows.

    Example:

      mem stats --json
    """
    result = _open(db).stats()
    if json_out:
        render.emit_json(result.to_dict())
        return
    # Counts only: a damaged page can hide behind matching counts, and only mem doctor reads every page.
    status = "counts match" if result.indexes_ok else "MISMATCH (run mem doctor)"
    lines = [
        f"database      {result.path} ({_size(result.file_size)})",
        f"memories      {result.memories} ({result.expired} expired)",
        *(f"  {k:12}{n}" for k, n in result.by_kind.items()),
        "users         " + ", ".join(f"{u}: {n}" for u, n in result.by_user.items()),
        f"vectors       {result.embed_model or '-'} ({result.embed_dim or '-'} dims); "
        f"configured: {result.configured_model}",
        f"indexes       {status}: full-text {result.fts_rows}, vectors {result.vector_rows}, "
        f"vector index {result.vec_index_rows}",
        "encryption    "
        + (
            "the server's (its disk; the connection: sslmode=require)"
            if result.backend == "postgresql"
            else "on (SQLCipher)"
            if result.encrypted
            else "off (mem encrypt turns it on)"
        ),
    ]
    out = render.console()
    for line in lines:
        out.print(render.printable(line))


@app.command()
def doctor(
    db: DbOpt = None,
    json_out: JsonOpt = False,
    no_load: Annotated[
        bool, typer.Option("--no-load", help="Check the model files but do not load them (faster).")
    ] = False,
) -> None:
    """Check SQLite, sqlite-vec, the models, the database, file permissions and free disk.

    Prints one line per check and, for each problem, the fix. Changes nothing.
    Exits with 0 when all is well, else 5 (SQLite or the database), 6 (a model)
    or 1 (permissions, config, disk).

    Examples:

      mem doctor

      mem doctor --no-load --json
    """
    from .. import doctor as checks
    from ..paths import db_location

    found = checks.run(db_location(db), load_models=not no_load)
    status = checks.exit_status(found)
    if json_out:
        render.emit_json({"ok": status == 0, "checks": [c.to_dict() for c in found]})
    else:
        for check in found:
            mark = "ok     " if check.ok else "PROBLEM"
            print(f"{mark} {check.area:<9} {render.printable(check.detail)}")
            if check.fix:
                print(f"        {'':<9} fix: {render.printable(check.fix)}")
        problems = sum(not c.ok for c in found)
        print("All checks passed." if not problems else f"{problems} problem(s) found.", file=sys.stderr)
    if status:
        raise typer.Exit(status)


@app.command()
def reindex(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Re-embed every memory with the configured embedding model.

    Needed after switching models (MEMCLI_EMBED_MODEL or embed_model in the config).

    Example:

      MEMCLI_EMBED_MODEL=~/models/other.gguf mem reindex
    """
    mem = _open(db)
    total = mem.store.counts()["rows"]
    with _progress(total, "Re-embedding") as advance:
        n = mem.reindex(progress=advance)
    if json_out:
        render.emit_json({"reindexed": n, "model": mem.embedder.name})
    else:
        print(render.printable(f"Re-embedded {n} memories with {mem.embedder.name}."), file=sys.stderr)
