"""Two views of the same data: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
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


def one_line(text: str, width: int | None = None, stream: Any = None) -> str:
    """A text on one line, cut to `width` with an ellipsis on a terminal only: a pipe
    or a file gets it whole."""
    flat = printable(" ".join(text.split()))
    if width and len(flat) > width and is_terminal(stream):
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


def is_terminal(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def table(columns: list[str], rows: list[list[str]], *, right: Sequence[int] = ()) -> None:
    """A table of text cells (the first column an id; `right`: columns aligned right).

    On a terminal, rich lays it out to the window and folds long cells. On a pipe
    it is plain text for grep, cut and awk: one row per line (a newline or tab in a
    cell shows as `\\n` or `\\t`), columns two spaces apart and aligned, the last one neither
    padded nor cut, no colour.
    """
    if not is_terminal():
        plain_table(columns, rows, right=right)
        return
    from rich.table import Table
    from rich.text import Text

    shown = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for i, column in enumerate(columns):
        shown.add_column(
            column,
            no_wrap=i == 0,
            style="cyan" if i == 0 else None,
            overflow="fold",
            justify="right" if i in right else "left",
        )
    for row in rows:
        shown.add_row(*(Text(printable(cell, lines=True)) for cell in row))
    console().print(shown)


_ONE_LINE = str.maketrans({"\n": "\\n", "\t": "\\t"})


def plain_table(
    columns: list[str], rows: list[list[str]], *, right: Sequence[int] = (), stream: Any = None
) -> None:
    from rich.cells import cell_len

    lines = [columns, *([printable(cell.translate(_ONE_LINE)) for cell in row] for row in rows)]
    widths = [max(cell_len(line[i]) for line in lines) for i in range(len(columns) - 1)]
    out = stream or sys.stdout
    for line in lines:
        cells = []
        for i, cell in enumerate(line[:-1]):
            pad = " " * (widths[i] - cell_len(cell))
            cells.append(pad + cell if i in right else cell + pad)
        out.write("  ".join([*cells, line[-1]]).rstrip() + "\n")


def memory_table(rows: list[dict[str, Any]], *, score: bool) -> None:
    columns = ["id", "when", "kind", *(["score"] if score else []), "text"]
    cells = []
    for row in rows:
        line = [row["id"], when(row["occurred_at"]), row["kind"]]
        if score:
            line.append(f"{row['score']:.4f}")
        tags = "  #" + " #".join(row["tags"]) if row.get("tags") else ""
        line.append(row["text"] + tags + status_note(row))
        cells.append(line)
    table(columns, cells, right=[3] if score else [])


# --csv, --tsv and --nl: the machine formats beside --json, for the listing commands.
FORMATS = ("json", "csv", "tsv", "nl")
# A memory's columns in CSV and TSV (--nl and --json carry every field).
MEMORY_COLUMNS = (
    "id",
    "occurred_at",
    "kind",
    "importance",
    "tags",
    "text",
    "valid_to",
    "superseded_by",
    "unverified_at",
    "role",
    "user",
    "doc_id",
    "chunk",
    "created_at",
    "expires_at",
)


def output_format(json_out: bool, csv_out: bool = False, tsv_out: bool = False, nl_out: bool = False) -> str:
    """The one machine format asked for ("" for the table people read)."""
    chosen = [name for name, on in zip(FORMATS, (json_out, csv_out, tsv_out, nl_out)) if on]
    if len(chosen) > 1:
        from ..errors import UsageError

        raise UsageError(f"give one of {', '.join('--' + c for c in chosen)}, not several")
    return chosen[0] if chosen else ""


def emit_rows(fmt: str, rows: list[dict[str, Any]], columns: Sequence[str], stream: Any = None) -> None:
    """Rows as JSON lines (nl: every field) or as CSV / TSV (these columns, a header first).

    In CSV and TSV, a list or an object is one cell of JSON, nothing (null) an
    empty cell. CSV quotes as RFC 4180 says (lines end in a newline); TSV escapes a backslash, tab,
    newline and carriage return in a cell as `\\\\`, `\\t`, `\\n`, `\\r`, so a row is
    always one line. Written to a terminal, other control characters are shown
    as escapes, as everywhere; to a pipe or a file the data goes out as stored.
    """
    out = stream or sys.stdout
    if fmt == "nl":
        emit_jsonl(rows, out)
        return
    import csv

    safe = is_terminal(out)

    def cell(value: Any) -> str:
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, dict)):
            text = json.dumps(value, ensure_ascii=False)
        else:
            text = str(value)
        if fmt == "tsv":
            text = text.translate(_TSV_ESCAPES)
        return _UNSAFE_CELL.sub(_escape, text) if safe else text

    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in columns])
        return
    out.write("\t".join(columns) + "\n")
    for row in rows:
        out.write("\t".join(cell(row.get(c)) for c in columns) + "\n")


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_UNSAFE_CELL = re.compile(f"(?![\t\n])[{_UNSAFE}]")


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
