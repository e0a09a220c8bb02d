"""Every command keeps the same promises: --json for scripts, an example in its help, stdin for text."""

import typer

from memcli.cli import app

# Commands whose output already is a document: JSON lines, or the manual itself.
NO_JSON = {"export": "writes JSON lines already", "man": "shows the manual", "mcp": "speaks JSON-RPC"}
# Arguments that take text a user may want to pipe in.
TEXT_ARGUMENTS = {"text", "query", "question", "memory_ids", "path"}


def commands(command=None, path=(), groups: bool = False):
    command = command or typer.main.get_command(app)
    for name, sub in getattr(command, "commands", {}).items():
        if hasattr(sub, "commands"):
            if groups:
                yield " ".join((*path, name)), sub
            yield from commands(sub, (*path, name), groups)
        else:
            yield " ".join((*path, name)), sub


def test_every_command_that_returns_data_has_json() -> None:
    missing = [
        name
        for name, command in commands()
        if name not in NO_JSON and not any("--json" in getattr(p, "opts", []) for p in command.params)
    ]
    assert missing == []


def test_every_command_help_has_an_example() -> None:
    assert [name for name, command in commands(groups=True) if "Example" not in (command.help or "")] == []


def test_text_arguments_say_how_to_pipe_them() -> None:
    """remember, recall, ask, forget, edit, import: '-' or a pipe feeds them (tested in test_cli)."""
    quiet = [
        f"{name} {param.name}"
        for name, command in commands()
        for param in command.params
        if param.param_type_name == "argument"
        and param.name in TEXT_ARGUMENTS
        and not any(w in (getattr(param, "help", "") or "") for w in ("stdin", "piped"))
    ]
    assert quiet == []
