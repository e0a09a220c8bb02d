"""Two views of the same data: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable
from typing import Any

# What a terminal could take for a command, or that reorders what is shown (the
# bidi controls): C0 but tab and newline, DEL, C1, U+061C, U+200E/F, U+202A-202E,
# U+2066-2069; and lone surrogates (undecodable bytes), which no terminal can print.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_LINE = re.compile(f"[{_UNSAFE}\n]")
_UNSAFE_LINES = re.compile(f"(?!\r\n)[{_UNSAFE}]")  # a CR ending a line is not a trick


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, lines: bool = False) -> str:
    """Text from data made safe for a terminal; everything shown to a person goes through it.

    Control and bidi characters are shown as escapes, as Python writes them
    (`\\x1b`, `\\u202e`), so a stored text, user, tag or file name can neither
    send a terminal commands nor reorder what is shown around it. A tab stays
    (it only moves on along the line), and a newline (or CR LF) stays with lines=True only:
    for a memory's text shown whole on purpose; a field on one line (an id, a user,
    an error) gets `\\x0a`. A text holding a backslash-x escape of its own prints
    the same as an escaped one: `--json` tells them apart.

      printable("a\\x1b[31mb")  ->  'a\\\\x1b[31mb'
    """
    return (_UNSAFE_LINES if lines else _UNSAFE_LINE).sub(_escape, text)


def one_line(text: str, width: int | None = None) -> str:
    flat = printable(" ".join(text.split()))
    if width and len(flat) > width:
        return flat[: width - 1] + "…"
    return flat


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output is not wrapped at 80 columns: lines stay whole for grep and friends.
    width = None if stream.isatty() else 100_000
    return Console(file=stream, width=width, highlight=False, markup=False, emoji=False, soft_wrap=False)


def to_json(data: Any) -> str:
    """One line of JSON that is safe on a terminal and valid for any reader.

    JSON escapes C0 controls itself; DEL, C1, bidi controls and lone surrogates
    are escaped here too (`\\u202e`, which decodes to the same text), while other
    letters stay readable. NaN and Infinity are not JSON: a value stored by an
    older version as one is written as null.
    """
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, allow_nan=False)
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_UNSAFE_JSON = re.compile(f"[{_UNSAFE}]")  # outside strings JSON is ASCII: only string contents match


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def emit_json(data: Any) -> None:
    sys.stdout.write(to_json(data) + "\n")


def emit_jsonl(rows: Iterable[dict[str, Any]], stream: Any = None) -> int:
    stream = stream or sys.stdout
    n = 0
    for row in rows:
        stream.write(to_json(row) + "\n")
        n += 1
    return n


def when(timestamp: str | None) -> str:
    """A stored UTC time as people read it: in the local time zone with its offset
    ("2024-05-01 14:30 -04:00"), or in UTC ("2024-05-01 18:30 UTC") with the
    `timezone` setting utc. JSON output keeps the stored UTC times."""
    if not timestamp:
        return ""
    from datetime import UTC, datetime

    from .. import settings

    try:
        moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if settings.value("timezone") == "utc":
            return moment.strftime("%Y-%m-%d %H:%M") + " UTC"
        local = moment.astimezone()
    except (ValueError, OverflowError, OSError):
        return timestamp.replace("T", " ").removesuffix("Z")[:16]
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M") + f" {offset[:3]}:{offset[3:]}"


def table(columns: list[str], rows: list[list[str]]) -> None:
    """A plain table of text cells (the first column an id)."""
    from rich.table import Table
    from rich.text import Text

    shown = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for i, column in enumerate(columns):
        shown.add_column(column, no_wrap=i == 0, style="cyan" if i == 0 else None, overflow="fold")
    for row in rows:
        shown.add_row(*(Text(printable(cell)) for cell in row))
    console().print(shown)


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
        cells = [row["id"], when(row["occurred_at"]), row["kind"]]
        if score:
            cells.append(f"{row['score']:.4f}")
        tags = "  #" + " #".join(row["tags"]) if row.get("tags") else ""
        cells = [printable(c) for c in cells]
        cells.append(printable(row["text"], lines=True) + printable(tags + status_note(row)))
        table.add_row(*map(Text, cells))
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
        table.add_row(Text(printable(key)), Text(printable("" if value is None else str(value))))
    out = console()
    out.print(table)
    out.print()
    out.print(Text(printable(data["text"], lines=True)))


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
