"""Options several commands share: how their results are printed."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV, a header line first.")]
TsvOpt = Annotated[
    bool,
    typer.Option("--tsv", help="Print tab-separated values (\\t, \\n and \\\\ escaped), a header first."),
]
NlOpt = Annotated[bool, typer.Option("--nl", help="Print one JSON object per line.")]
