"""The Typer application, global options and the one place errors become exit codes."""

from __future__ import annotations

import copy
import logging
import os
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import STORAGE_ERRNOS, ExitStatus, MemcliError
from .render import printable

# What each exit status means: `mem --help` and the man page both print this list.
EXIT_CODES: list[tuple[ExitStatus, str]] = [
    (ExitStatus.OK, "success"),
    (ExitStatus.ERROR, "unexpected error (rerun with --debug for details)"),
    (ExitStatus.USAGE, "bad usage, or a confirmation refused"),
    (ExitStatus.NOT_FOUND, "unknown memory id"),
    (ExitStatus.INPUT, "bad input: empty, not UTF-8, binary, unreadable file, bad date"),
    (ExitStatus.DATABASE, "database missing, not a memcli database, corrupt, read-only, locked or disk full"),
    (
        ExitStatus.MODEL,
        "a model missing or broken, embeddings not the store's, or a model reply unusable",
    ),
    (ExitStatus.BUSY, "another mem consolidate is running on this database"),
    (ExitStatus.INTERRUPTED, "interrupted"),
]

EXIT_CODES_HELP = "Exit status:\n\n\b\n" + "\n".join(f"{int(s):>3}  {text}" for s, text in EXIT_CODES)

_debug = False


def _fail(message: str, status: int) -> typer.Exit:
    if _debug:
        traceback.print_exc()
    print(f"Error: {printable(message)}", file=sys.stderr)  # it may quote the input
    return typer.Exit(status)


# How values are named in help and the man page ("--since WHEN", not "--since <str>").
METAVARS = {
    "db": "PATH|URL",
    "file": "FILE",
    "output": "FILE",
    "meta": "KEY=VALUE",
    "importance": "1-5",
    "at": "WHEN",
    "expires": "WHEN",
    "since": "WHEN",
    "until": "WHEN",
    "before": "WHEN",
    "ttl": "DURATION",
    "k": "N",
    "limit": "N",
    "memory_id": "ID",
    "memory_ids": "ID",
    "names": "NAME",
    "session": "NAME",
    "model": "NAME|PATH",
}


def _name_values(command: Any) -> None:
    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False) or param.name is None:
            continue
        param.metavar = METAVARS.get(param.name, param.name.upper())
        if param.param_type_name == "argument" and param.nargs != 1:
            param.metavar += "..."  # several words: QUERY...
        if param.param_type_name == "argument":  # the name says it; no "<list[str]>" after it
            param.display_type_rich = lambda ctx: None
    for sub in getattr(command, "commands", {}).values():
        _name_values(sub)


class MemGroup(TyperGroup):
    """Turns every failure into one `Error: ...` line and a documented exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_values(self)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MemcliError as exc:  # the store's errors too: it raises nothing else
            raise _fail(str(exc), exc.exit_status) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", ExitStatus.INTERRUPTED) from None
        except BrokenPipeError:
            # `mem list | head`: the reader went away; that is not our error.
            sys.stderr.close()
            raise typer.Exit(ExitStatus.OK) from None
        except OSError as exc:
            where = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
            if exc.errno in STORAGE_ERRNOS:  # a read-only mount, a full disk: the storage's fault
                raise _fail(f"cannot write: {where}", ExitStatus.DATABASE) from None
            raise _fail(where, ExitStatus.ERROR) from None
        except typer.Exit:
            raise
        except typer.Abort as exc:  # Ctrl-C or Ctrl-D at a prompt (click turns both into Abort)
            print(file=sys.stderr)  # the prompt's line was left open
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise _fail("interrupted", ExitStatus.INTERRUPTED) from None
            raise _fail("no answer: nothing was done", ExitStatus.USAGE) from None
        except Exception as exc:
            if getattr(exc, "exit_code", None) is not None:  # click's own exceptions
                raise
            if isinstance(exc, UnicodeEncodeError) and "surrogates not allowed" in str(exc):
                # bytes of an argument that are not UTF-8 reached SQLite
                raise _fail("an argument is not valid UTF-8", ExitStatus.INPUT) from None
            raise _fail(
                f"unexpected {type(exc).__name__}: {exc} (rerun with --debug)", ExitStatus.ERROR
            ) from None


app = typer.Typer(
    cls=MemGroup,
    name="mem",
    help="""Offline memory for people and LLMs: remember, recall and forget notes in one SQLite file.

    Examples:

      mem remember "The spare key is under the blue flower pot"

      mem recall "where is the key?"

      mem ask "where is the spare key?"

    mem COMMAND --help shows each command's options; mem man the whole manual.
    """,
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"mem (memcli) {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="MEMCLI_DEBUG", help="Show tracebacks for errors.")
    ] = False,
) -> None:
    global _debug
    _debug = debug


from . import (  # noqa: E402,F401  (registers the commands on app)
    commands,
    config_cmd,
    consolidation,
    converse,
    docs_cmd,
    encryption_cmd,
    entities_cmd,
    import_cmd,
    mcp_cmd,
    models,
    server_cmd,
)


def main() -> None:
    # llama.cpp and OpenMP read these at load time; two cores is all this tool may take.
    os.environ.setdefault("OMP_NUM_THREADS", str(min(os.cpu_count() or 1, 4)))
    # A log line that cannot be written (a full disk) is lost, not printed as a traceback.
    logging.raiseExceptions = False
    args = _debug_first(sys.argv[1:])
    _app_for(args)(args=args, prog_name="mem")


def _app_for(args: list[str]) -> typer.Typer:
    """The app cut down to what these arguments need.

    Typer builds every command's options from its signature before it runs
    one: 0.1 s of each cold `mem` run for the thirty commands it does not
    run. So a command gets an app with only itself, and the group's own help
    (or a mistyped name, which click answers with the names it knows) gets one
    whose commands have their names and help but no options. Shell completion,
    and everything that looks at `app` itself (mem man, the tests), see the
    whole app.
    """
    if any(key.startswith("_MEM_COMPLETE") or key == "_TYPER_COMPLETE_ARGS" for key in os.environ):
        return app
    name = next((arg for arg in args if not arg.startswith("-")), None)
    before = args[: args.index(name)] if name is not None else args
    if "--" in before:
        return app
    if name is None or {"-h", "--help", "--version"} & set(before):
        return _listing_app()
    from typer.main import get_command_name

    chosen = [
        info
        for info in app.registered_commands
        if (info.name or (info.callback and get_command_name(info.callback.__name__))) == name
    ]
    groups = [info for info in app.registered_groups if info.name == name]
    if not chosen and not groups:
        return _listing_app()
    lean = copy.copy(app)
    lean.registered_commands, lean.registered_groups = chosen, groups
    return lean


def _listing_app() -> typer.Typer:
    """The app as its help lists it: every command and group by name and help, no options."""
    from typer.main import get_command_name

    def listed(info: Any) -> Any:
        stub = copy.copy(info)
        callback = info.callback

        def command() -> None:  # never run: the group's help or error exits first
            raise typer.Exit(ExitStatus.USAGE)

        command.__doc__ = callback.__doc__
        stub.callback = command
        stub.name = info.name or get_command_name(callback.__name__)
        return stub

    def listed_group(info: Any) -> Any:
        stub = copy.copy(info)
        stub.typer_instance = copy.copy(info.typer_instance)
        stub.typer_instance.registered_commands = []
        stub.typer_instance.registered_groups = []
        return stub

    lean = copy.copy(app)
    lean.registered_commands = [listed(info) for info in app.registered_commands]
    lean.registered_groups = [listed_group(info) for info in app.registered_groups]
    return lean


def _debug_first(argv: list[str]) -> list[str]:
    """`mem show ID --debug` works like `mem --debug show ID` (before any `--`)."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" not in argv[1:end]:
        return argv
    return ["--debug", *(a for i, a in enumerate(argv) if not (a == "--debug" and i < end))]
