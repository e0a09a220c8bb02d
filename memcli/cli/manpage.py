"""The man page mem(1), generated from the Typer app so that it cannot drift from `--help`.

    python -m memcli.cli.manpage           write man/mem.1
    python -m memcli.cli.manpage --check   exit 1 when man/mem.1 is out of date

Commands, options, settings and exit codes come from the code; the prose around
them (files, environment, examples) is written here.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import textwrap
from typing import Any

from .. import __version__
from ..settings import SETTINGS
from .app import EXIT_CODES
from .reference import REPO, Node, walk

MAN_PAGE = REPO / "man" / "mem.1"

DESCRIPTION = """\
mem stores notes in one SQLite file (rows, an FTS5 full-text index and sqlite-vec vectors) and \
finds them again by meaning and by words. Embeddings and answers are computed on this machine by \
llama.cpp: no network, no telemetry, no API keys."""

# Variables read through os.environ in memcli/ (paths.py, app.py). Those of settings and of
# options (MEMCLI_MODEL, MEMCLI_DEBUG, ...) are added from the code, between these two.
ENVIRONMENT = {
    "MEMCLI_HOME": "One directory for everything: the database, config.toml, the models and "
    "consolidate.log are all kept in it instead of the directories under FILES.",
    "MEMCLI_DB": "The database file, unless --db is given. Default: memory.db in the data directory.",
    "MEMCLI_USER": "Whose memories commands read and write, unless --user is given. "
    'Default: the login name ("default" when there is none). Users never see each other\'s memories.',
    "MEMCLI_MODELS_DIR": "Where model files are kept, so that several data directories can share "
    "one copy. Default: models/ in the data directory.",
    "MEMCLI_KEY": "The passphrase of an encrypted store (SQLCipher). A new store made while it is set "
    "is encrypted; see mem encrypt. Never give a key on the command line.",
    "MEMCLI_KEY_FILE": "A file readable by its owner only (mode 0600) that holds the passphrase, "
    "read when MEMCLI_KEY is not set; mem cron carries it into the crontab. Without either, the OS "
    "keyring (mem encrypt --keyring) or a prompt on a terminal gives the key.",
}
OTHER_ENVIRONMENT = {
    "XDG_DATA_HOME, XDG_CONFIG_HOME": "Move the data directory to $XDG_DATA_HOME/memcli and the "
    "config directory to $XDG_CONFIG_HOME/memcli.",
    "OMP_NUM_THREADS": "How many threads llama.cpp uses; when it is not set, mem sets it to the "
    "number of CPUs, at most 4.",
}

FILES = [
    (
        "~/.local/share/memcli/memory.db",
        "The database: every memory, its full-text and vector index entries and its history "
        "(mode 0600; memory.db-wal and memory.db-shm beside it while it is in use). "
        "--db or MEMCLI_DB name another file.",
    ),
    (
        "~/.config/memcli/config.toml",
        "The settings (see CONFIGURATION); mem config path prints where it is.",
    ),
    (
        "~/.local/share/memcli/models/",
        "The model files (GGUF) that mem models install puts there; MEMCLI_MODELS_DIR moves it.",
    ),
    (
        "~/.local/share/memcli/consolidate.log",
        "What each mem consolidate run did (mode 0600); the line from mem cron appends its output here.",
    ),
]
FILES_NOTE = (
    "These are the Linux places (XDG_DATA_HOME and XDG_CONFIG_HOME move them); on macOS both "
    "directories are ~/Library/Application Support/memcli. With MEMCLI_HOME=DIR all four are in DIR."
)

EXAMPLES = [
    ("Store a note from a pipe, and one from a file:", [
        'echo "To deploy the blog, run make publish" | mem remember --kind procedural',
        "mem remember -f meeting-notes.md --at yesterday --tag work",
    ]),
    ("Find memories; --json is for scripts:", [
        'mem recall "where did I leave the key?" -k 3',
        "mem recall deploy --kind procedural --json | jq -r '.results[0].text'",
    ]),
    ("Ask the local model, which cites the memories it used:", ['mem ask "When is Ana\'s birthday?"']),
    ("Consolidate every night at 03:17 (prints the crontab line, then installs it once):", [
        "mem cron",
        "mem cron --install",
    ]),
    ("Back up, and restore into another database:", [
        "mem export > backup.jsonl",
        "mem import backup.jsonl --db restored.db",
    ]),
]  # fmt: skip

SEE_ALSO = [("sqlite3", 1), ("crontab", 1), ("jq", 1), ("man", 1)]


def escape(text: str) -> str:
    """Text for a roff text line: backslashes, hyphens and quotes print as typed."""
    text = text.replace("\\", r"\(rs").replace("-", r"\-").replace("'", r"\(aq").replace("`", r"\(ga")
    text = "".join(c if ord(c) < 128 else rf"\[u{ord(c):04X}]" for c in text)
    return r"\&" + text if text.startswith(".") else text


def _quoted(text: str) -> str:
    """A macro argument."""
    return '"' + escape(text).replace('"', r"\(dq") + '"'


def _literal(lines: list[str]) -> list[str]:
    return [".RS 4", ".nf", *(escape(line) for line in lines), ".fi", ".RE"]


def help_paragraphs(help: str | None) -> list[str]:
    """A command's help as roff: prose paragraphs are filled, indented ones (examples) kept as typed."""
    text = inspect.cleandoc(help or "").partition("\f")[0].strip()
    out: list[str] = []
    literal: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":  # Click's mark for a paragraph not to rewrap
            lines = lines[1:]
        elif not all(line.startswith(" ") for line in lines):
            out += [
                *(_literal(literal) if literal else []),
                ".PP",
                escape(" ".join(s.strip() for s in lines)),
            ]
            literal = []
            continue
        literal += textwrap.dedent("\n".join(lines)).splitlines()
    return out + (_literal(literal) if literal else [])


def _tag(label: str) -> str:
    """An option's names in bold, its value's name (or an argument's) in italics."""

    def styled(part: str) -> str:
        if part in (", ", " / ", " ") or not part:
            return escape(part)
        return rf"\f{'B' if part.startswith('-') else 'I'}{escape(part)}\fR"

    return "".join(styled(part) for part in re.split(r"(, | / | )", label))


def _param(param: Any, ctx: Any) -> list[str]:
    record = param.get_help_record(ctx)
    if record is None:  # hidden
        return []
    label, help = record
    envvar = getattr(param, "envvar", None)
    if isinstance(envvar, str) and envvar not in help:
        help = f"{help}  [env var: {envvar}]".strip()
    return [".TP", _tag(label), escape(help)]


def usage(node: Node) -> str:
    return " ".join(node.command.collect_usage_pieces(node.ctx))


def _command(node: Node) -> list[str]:
    out = [f".SS {_quoted(node.name)}", rf"\fB{escape(node.name)}\fR {escape(usage(node))}"]
    out += help_paragraphs(node.command.help)
    help_option = node.command.get_help_option(node.ctx)
    for param in node.command.get_params(node.ctx):
        if param is not help_option:
            out += _param(param, node.ctx)
    if node.is_group:
        out += [".PP", escape(f"Its commands: {', '.join(node.command.list_commands(node.ctx))}.")]
    return out


def _setting_kind(setting: Any) -> str:
    if setting.choices:
        return "one of " + ", ".join(setting.choices)
    kind = {int: "whole number", float: "number", str: "text"}.get(setting.type, setting.type.__name__)
    low, high = setting.minimum, setting.maximum
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind}, at least {low:g}"
    if high is not None:
        return f"{kind}, at most {high:g}"
    return kind


def _settings() -> list[str]:
    out = [
        ".SH CONFIGURATION",
        ".PP",
        escape(
            "Settings are read from config.toml in the config directory (see FILES), one "
            "key = value line each. mem config list shows every setting, its value and where the "
            "value comes from; mem config set KEY VALUE checks a value and writes it; mem config "
            "unset KEY brings the default back. An environment variable named below overrides "
            "the file. A value in the file that is not valid (edited by hand) is ignored for "
            "the default, and mem config list and mem doctor say so."
        ),
    ]
    for s in SETTINGS.values():
        facts = f"{_setting_kind(s)}; default {json.dumps(s.default)}"
        env = f" Overridden by {s.env}." if s.env else ""
        out += [".TP", rf"\fB{escape(s.key)}\fR ({escape(facts)})", escape(s.help + env)]
    return out


def environment(nodes: list[Node]) -> dict[str, str]:
    """Every environment variable mem reads, with its meaning."""
    found = dict(ENVIRONMENT)
    for s in SETTINGS.values():
        if s.env:
            found.setdefault(s.env, f"Overrides the {s.key} setting (see CONFIGURATION).")
    for node in nodes:
        for param in node.command.params:
            envvar = getattr(param, "envvar", None)
            if isinstance(envvar, str) and envvar not in found:
                how = " when set to 1 or true" if getattr(param, "is_flag", False) else ""
                found[envvar] = f"{param.help} The same as {param.opts[-1]}{how}."
    return found | OTHER_ENVIRONMENT


def _list(items: list[tuple[str, str]], style: str = "B") -> list[str]:
    out: list[str] = []
    for tag, text in items:
        out += [".TP", rf"\f{style}{escape(tag)}\fR", escape(text)]
    return out


def manpage() -> str:
    nodes = list(walk())
    root = nodes[0]
    summary = inspect.cleandoc(root.command.help or "").splitlines()[0].rstrip(".")
    lines = [
        r".\" Generated from the Typer app by python -m memcli.cli.manpage; do not edit.",
        f'.TH MEM 1 "" {_quoted(f"memcli {__version__}")} "User Commands"',
        ".nh",
        ".ad l",
        ".SH NAME",
        escape(f"mem - {summary[0].lower()}{summary[1:]}"),
        ".SH SYNOPSIS",
        ".nf",
        *(rf"\fB{escape(n.name)}\fR {escape(usage(n))}" for n in nodes if not n.is_group or n is root),
        ".fi",
        ".SH DESCRIPTION",
        *help_paragraphs(root.command.help),
        ".PP",
        escape(DESCRIPTION),
        ".PP",
        escape("Every command has --help; commands that return data take --json."),
        ".SH OPTIONS",
        *(line for p in root.command.get_params(root.ctx) for line in _param(p, root.ctx)),
        ".SH COMMANDS",
        ".PP",
        escape("Each command also takes -h, --help: show its help and exit."),
        *(line for node in nodes[1:] for line in _command(node)),
        *_settings(),
        ".SH ENVIRONMENT",
        *_list(list(environment(nodes).items())),
        ".SH FILES",
        *_list(FILES, style="I"),
        ".PP",
        escape(FILES_NOTE),
        ".SH EXIT STATUS",
        *_list([(str(int(status)), text) for status, text in EXIT_CODES]),
        ".SH SHELL COMPLETION",
        ".PP",
        escape(
            "mem --install-completion adds completion of commands and options to the shell it "
            "runs in (bash, zsh, fish or PowerShell); mem --show-completion prints that script "
            "instead, to install it by hand. For another shell, _MEM_COMPLETE=source_zsh mem "
            "prints its script (source_bash and source_fish likewise)."
        ),
        ".SH EXAMPLES",
    ]
    for caption, commands in EXAMPLES:
        lines += [".PP", escape(caption), *_literal(commands)]
    lines += [
        ".SH SEE ALSO",
        ",\n".join(rf"\fB{escape(name)}\fR({section})" for name, section in SEE_ALSO),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not (REPO / "pyproject.toml").is_file():
        raise SystemExit("run this in a source checkout of memcli")
    fresh = manpage()
    if "--check" in args:
        if not MAN_PAGE.is_file() or MAN_PAGE.read_text(encoding="utf-8") != fresh:
            print(f"{MAN_PAGE} is out of date: run python -m memcli.cli.manpage")
            return 1
        return 0
    MAN_PAGE.parent.mkdir(exist_ok=True)
    MAN_PAGE.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
