"""Two views of the same data: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Stored text shown as written, but terminal control and bidi characters made visible."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def one_line(text: str, width: int | None = None) -> str:
    flat = " ".join(printable(text).split())
    if width and len(flat) > width:
        return flat[: width - 1] + "…"
    return flat


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output is not wrapped at 80 columns: lines stay whole for grep and friends.
    width = None if stream.isatty() else 100_000
    return Console(file=stream, width=width, highlight=False, markup=False, emoji=False, soft_wrap=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=None) + "\n")


def emit_jsonl(rows: Iterable[dict[str, Any]], stream: Any = None) -> int:
    stream = stream or sys.stdout
    n = 0
    for row in rows:
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def when(timestamp: str | None) -> str:
    if not timestamp:
        return ""
    return timestamp.replace("T", " ").removesuffix("Z")[:16]


def memory_table(rows: list[dict[str, Any]], *, score: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("id", no_wrap=True, style="cyan")
    table.add_column("when", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    if score:
        table.add_column("score", no_wrap=True, justify="right")
    table.add_column("text", overflow="fold")
    for row in rows:
        cells = [Text(row["id"]), Text(when(row["occurred_at"])), Text(row["kind"])]
        if score:
            cells.append(Text(f"{row['score']:.4f}"))
        text = printable(row["text"])
        if row.get("tags"):
            text += "  #" + " #".join(printable(t) for t in row["tags"])
        text += status_note(row)
        cells.append(Text(text))
        table.add_row(*cells)
    console().print(table)


def status_note(row: dict[str, Any]) -> str:
    """What a listed memory's text is followed by when it is not the current truth."""
    if row.get("valid_to"):  # superseded, or an episode outdated by that: history
        note = f"  (no longer true from {when(row['valid_to'])[:10]}"
        return note + (f": see {row['superseded_by']})" if row.get("superseded_by") else ")")
    if row.get("unverified_at"):  # made from a note edited since
        return f"  (unverified: its source was edited on {when(row['unverified_at'])[:10]})"
    if row.get("role") == "assistant":
        return "  (the assistant's reply)"
    return ""


def show_record(data: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        if key == "text":
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False) if value else ""
        table.add_row(Text(key), Text(printable("" if value is None else str(value))))
    out = console()
    out.print(table)
    out.print()
    out.print(Text(printable(data["text"])))


def progress_bar() -> Any:
    """The progress bar every long command shows on stderr (a terminal only; callers check)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}", markup=False),  # the console prints markup literally
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        transient=True,
    )
