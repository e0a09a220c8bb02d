"""The README's command reference: the `--help` of `mem` and of every command, pasted in.

    python -m memcli.cli.reference           rewrite it in README.md
    python -m memcli.cli.reference --check   exit 1 when README.md is out of date

The command tree walked here is the man page's source too (`memcli.cli.manpage`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer.main

from .app import app

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
START = "<!-- reference: start -->"
END = "<!-- reference: end -->"
# The help is wrapped as on an 80-column terminal, whatever this one is; Click leaves two
# columns of a terminal free.
WIDTH = 80 - 2
# Typer turns the completion options into `--show-completion SHELL` when this is set (for
# its tests); the docs show what a person's shell shows.
_NO_SHELL_DETECTION = "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"


@dataclass(frozen=True)
class Node:
    """One command of the tree, with the context `mem ... --help` would give it."""

    path: tuple[str, ...]  # ("mem", "models", "list")
    command: Any  # Typer's (vendored) click Command or Group
    ctx: Any

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def is_group(self) -> bool:
        return hasattr(self.command, "list_commands")


def root_command() -> Any:
    saved = os.environ.pop(_NO_SHELL_DETECTION, None)
    try:
        return typer.main.get_command(app)
    finally:
        if saved is not None:
            os.environ[_NO_SHELL_DETECTION] = saved


def walk() -> Iterator[Node]:
    """`mem` and then every visible command, depth first, in the order of `--help`."""
    root = root_command()
    yield from _walk(
        root, root.context_class(root, info_name="mem", terminal_width=WIDTH, **root.context_settings)
    )


def _walk(command: Any, ctx: Any) -> Iterator[Node]:
    yield Node(tuple(ctx.command_path.split()), command, ctx)
    if not hasattr(command, "list_commands"):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        yield from _walk(sub, sub.context_class(sub, info_name=name, parent=ctx, **sub.context_settings))


def help_text(node: Node) -> str:
    """Exactly what `mem ... --help` prints on an 80-column terminal (COLUMNS=80)."""
    return node.ctx.get_help()


def reference() -> str:
    """The generated part of the README, markers included."""
    parts = [START]
    for node in walk():
        parts += [f"### `{node.name}`", "", "```text", help_text(node), "```"]
        parts.append("")
    parts[-1] = END
    return "\n".join(parts)


def rewrite(readme: str) -> str:
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"README.md has no {START} ... {END} markers")
    return head + reference() + tail


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not (REPO / "pyproject.toml").is_file():
        raise SystemExit("run this in a source checkout of memcli")
    current = README.read_text(encoding="utf-8")
    fresh = rewrite(current)
    if "--check" in args:
        if fresh != current:
            print("README.md's command reference is out of date: run python -m memcli.cli.reference")
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
