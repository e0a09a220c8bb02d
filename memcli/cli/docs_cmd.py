"""`mem man`: the manual page, even where MANPATH does not lead to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitStatus, MemcliError
from .app import app


class ManPageMissing(MemcliError):
    exit_status = ExitStatus.ERROR


def candidates() -> list[Path]:
    """Where mem.1 may be: a source checkout's man/ first (it matches this code), then installed copies."""
    places = [Path(__file__).resolve().parents[2] / "man" / "mem.1"]
    for data in (sys.prefix, sysconfig.get_path("data"), sysconfig.get_path("data", _user_scheme())):
        path = Path(data) / "share" / "man" / "man1" / "mem.1"
        if path not in places:
            places.append(path)
    return places


def _user_scheme() -> str:
    return sysconfig.get_preferred_scheme("user")


def find_page() -> Path:
    places = candidates()
    for path in places:
        if path.is_file():
            return path
    raise ManPageMissing(
        f"the man page is not installed (looked for {', '.join(map(str, places))}); reinstall memcli"
    )


def as_text(page: Path) -> str:
    """The page as plain text, as `man` lays it out; the roff source when there is no `man`."""
    program = shutil.which("man")
    if program:
        env = {**os.environ, "MANPAGER": "cat", "PAGER": "cat"}
        env.pop("MAN_KEEP_FORMATTING", None)  # it would keep bold as backspaced overstrikes
        done = subprocess.run(
            [program, "-l", str(page)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout
    return page.read_text(encoding="utf-8")


@app.command("man")
def man(
    path: Annotated[
        bool, typer.Option("--path", help="Print where the page is instead of the page.")
    ] = False,
) -> None:
    """Show the manual page mem(1): every command, setting, file, variable and exit status.

    Needs no MANPATH: on a terminal the page is opened with `man -l`, elsewhere it is
    printed as plain text.

    Examples:

      mem man

      mem man | grep -A2 MEMCLI_HOME

      mem man --path
    """
    page = find_page()
    if path:
        print(page)
        return
    program = shutil.which("man")
    if program and sys.stdout.isatty():
        raise typer.Exit(subprocess.run([program, "-l", str(page)]).returncode)
    sys.stdout.write(as_text(page))
