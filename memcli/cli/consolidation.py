"""`mem consolidate` and `mem cron`: the nightly job and its crontab line."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError, StoreError, UsageError
from . import render
from .app import app
from .commands import DbOpt, JsonOpt, UserOpt, _open
from .converse import ModelOpt, _generator

if TYPE_CHECKING:
    from ..consolidate import Report
    from ..memory import Memory

CRON_SCHEDULE = "17 3 * * *"  # every night at 03:17, off the round hour many jobs share
CRON_ENV = (  # where data, config and models are, when they are not the defaults
    "MEMCLI_HOME",
    "MEMCLI_MODELS_DIR",
    "PGPASSFILE",  # a PostgreSQL store's password, never in the line itself
    "MEMCLI_EMBED_MODEL",
    "MEMCLI_MODEL",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "MEMCLI_KEY_FILE",  # an encrypted store's key file: its path, never the key itself
)

_LABELS = {
    "ADD": "added",
    "UPDATE": "updated",
    "SUPERSEDE": "superseded",
    "NOOP": "already known",
    "MERGE": "merged",
    "EXPIRE": "expired",
    "DIGEST": "digest",
    "IMPORTANCE": "more important",
}


def print_changes(report: Report, out: Any) -> None:
    for change in report.changes:
        label = _LABELS[change.action]
        ref = f" {change.id}" if change.id else ""
        if report.dry_run and change.action in ("ADD", "SUPERSEDE", "DIGEST"):
            ref = " (new)"  # made in the dry run's copy: the real run gives it another id
        target = f" (was {change.target})" if change.action == "SUPERSEDE" else ""
        if change.action == "MERGE":
            ref, target = f" {change.target} into {change.id}", ""
        out.print(render.printable(f"  {label}{ref}{target}: ") + render.one_line(change.text, 80, out.file))


@contextmanager
def _locked(memory: Memory, *, log: bool) -> Iterator[None]:
    """The store's consolidation lock (and with log=True the log file) taken, or a
    StoreError: on a read-only mount or a full disk nothing is done, and it says which file."""
    from ..consolidate import attach_log_file

    with ExitStack() as stack:
        try:
            if log:
                attach_log_file()
            stack.enter_context(memory.store.exclusive("consolidate"))
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise StoreError(
                f"cannot consolidate {memory.where}: {exc.strerror}{where}; nothing was changed"
            ) from None
        yield


def extract_now(memory: Memory, ids: list[str], user: str) -> Report:
    """`mem remember --extract`: consolidate just these new episodes, now."""
    from ..consolidate import Consolidator

    with _locked(memory, log=False):
        runner = Consolidator(memory, lambda: _generator(None), user=user)
        runner.extract_pending(only=ids)
    return runner.report


@app.command()
def consolidate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the planned changes; change nothing.")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Process at most N episodes (and N digests) in this run.", min=1),
    ] = None,
    all_users: Annotated[
        bool, typer.Option("--all-users", help="Every user's memories, not just one user's.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing unless something fails.")
    ] = False,
    model: ModelOpt = None,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Turn episodes into facts, merge duplicates, purge expired memories, write digests.

    Each new episode gives facts (a short note is split into its statements, a
    longer one is read by the local model), reconciled with what is known: added,
    used to update a fact, marked as superseding one (the old fact is kept, no
    longer current), or found known already. Safe to run
    beside other commands and to kill; a second run at once changes nothing. The
    run is logged to consolidate.log in the data dir.

    Examples:

      mem consolidate --dry-run

      mem consolidate --json --limit 50

      mem cron --install   # run it every night
    """
    from ..consolidate import Consolidator

    mem = _open(db, user, create=False)
    scope = None if all_users else (user or mem.user)
    bar = _StageBar(enabled=not quiet and not json_out and sys.stderr.isatty())
    with _locked(mem, log=True):
        runner = Consolidator(
            mem,
            lambda: _generator(model),
            user=scope,
            dry_run=dry_run,
            limit=limit,
            progress=bar.update,
        )
        try:
            report = runner.run()
        finally:
            bar.close()
    if json_out:
        render.emit_json(report.to_dict())
        return
    if quiet and not report.failures:
        return
    out = render.console()
    if dry_run:
        out.print("Dry run: nothing was changed. Planned:")
    print_changes(report, out)
    out.print(
        f"{report.episodes} episodes, {report.facts} facts: {report.added} added, {report.updated} updated, "
        f"{report.superseded} superseded, {report.unchanged} already known; {report.merged} merged, "
        f"{report.expired} expired, {report.summarised} digests; {report.seconds} s"
    )
    if report.failures:
        print(
            f"{report.failures} item(s) left for the next run: the model gave no usable answer "
            "(see consolidate.log)",
            file=sys.stderr,
        )


class _StageBar:
    """A progress bar per stage on a terminal; nothing under cron."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def update(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total < 1:
            return
        if self.bar is None:
            self.bar = render.progress_bar()
            self.bar.start()
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def cron_line(db: Path | str, user: str) -> str:
    """The crontab line. Making it creates nothing on disk: the job makes the log's
    directory (private, as its umask makes the log) before the shell opens the log.

    A value with a control character is refused: a newline in the user, a path or
    an environment variable would end the line and start a job of its own.
    """
    from ..paths import LOG_FILENAME, data_dir
    from ..store import is_url

    if is_url(db) and "@" in str(db) and ":" in str(db).split("://", 1)[1].split("@", 1)[0]:
        raise InputError(
            "the database URL holds a password, which would be written into your crontab: "
            "keep it in ~/.pgpass (or PGPASSFILE) and give the URL without it"
        )
    mem = mem_command()
    # cron starts with an almost empty environment: carry what decides where data, config and models are
    carried = {k: os.environ[k] for k in CRON_ENV if os.environ.get(k)}
    log = str(data_dir() / LOG_FILENAME)
    named = [("the user", user), *carried.items(), ("the database path", str(db)), ("the log path", log)]
    for name, value in [*named, ("the mem command", " ".join(mem))]:
        if any(ch < " " or ch == "\x7f" for ch in value):
            raise InputError(f"{name} {value!r} holds a control character: it cannot go in a crontab line")
    env = {"MEMCLI_USER": user} | carried
    command = [*mem, "consolidate", "--quiet", "--db", str(db)]
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    line = (
        f"umask 077 && mkdir -p {shlex.quote(str(data_dir()))} && "
        f"{assignments} {' '.join(shlex.quote(part) for part in command)} >> {shlex.quote(log)} 2>&1"
    )
    return f"{CRON_SCHEDULE} " + line.replace("%", "\\%")  # cron reads a bare % as a newline


def mem_command() -> list[str]:
    """The absolute command of the `mem` in use (cron has a minimal PATH)."""
    argv0 = Path(sys.argv[0])
    if argv0.name in ("mem", "memcli") and argv0.exists():
        return [str(argv0.resolve())]
    beside = Path(sys.executable).with_name("mem")  # the venv this Python belongs to
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mem")
    return [found] if found else [sys.executable, "-m", "memcli"]


@app.command()
def cron(
    install: Annotated[
        bool, typer.Option("--install", help="Add the line to your crontab (once; never twice).")
    ] = False,
    uninstall: Annotated[
        bool,
        typer.Option("--uninstall", help="Take this database's consolidation line out of your crontab."),
    ] = False,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON: the line and what was done.")] = False,
) -> None:
    """Print the crontab line that runs `mem consolidate` every night, or install or uninstall it.

    The line names the absolute paths of this `mem`, the database and the log file.

    Examples:

      mem cron

      mem cron --install

      mem cron --uninstall

      mem cron >> my-crontab.txt
    """
    if install and uninstall:
        raise UsageError("give --install or --uninstall, not both")
    from ..paths import LOG_FILENAME, data_dir, db_location, default_user
    from ..store import encryption

    location = db_location(db)
    database = location if isinstance(location, str) else location.resolve()
    line = cron_line(database, user or default_user())
    if (
        not isinstance(database, str)
        and encryption.is_encrypted(database)
        and not os.environ.get(encryption.KEY_FILE_ENV)
    ):
        print(
            f"Warning: {database} is encrypted, and cron has no terminal to type its key on: set "
            f"{encryption.KEY_FILE_ENV} (a 0600 file) before mem cron, or keep the key in a keyring "
            f"cron can reach; {encryption.KEY_ENV} is never written into the crontab",
            file=sys.stderr,
        )

    def report(status: str, message: str) -> None:
        if json_out:
            render.emit_json({"line": line, "log": str(data_dir() / LOG_FILENAME), "crontab": status})
        elif message:
            render.console().print(message)

    if not install and not uninstall:
        if json_out:
            report("not installed", "")
        else:
            print(line)
        return
    crontab = shutil.which("crontab")
    if crontab is None:
        raise UsageError(
            "crontab not found: install cron (e.g. apt install cron), or add the line `mem cron` prints"
        )
    current = subprocess.run([crontab, "-l"], capture_output=True, text=True)
    existing = current.stdout if current.returncode == 0 else ""
    marker = f"consolidate --quiet --db {shlex.quote(str(database))}"
    ours = [row for row in existing.splitlines() if marker in row and not row.lstrip().startswith("#")]
    if uninstall:
        if not ours:
            report("not installed", f"Not in your crontab: no consolidation of {database}")
            return
        kept = [row for row in existing.splitlines() if row not in ours]
        _write_crontab(crontab, "".join(row + "\n" for row in kept))
        report("uninstalled", f"Removed from your crontab: consolidation of {database}")
        return
    if ours:
        report("already installed", f"Already in your crontab: consolidation of {database}")
        return
    _write_crontab(
        crontab, existing + ("" if not existing or existing.endswith("\n") else "\n") + line + "\n"
    )
    report("installed", f"Installed in your crontab:\n{line}")


def _write_crontab(crontab: str, table: str) -> None:
    done = subprocess.run([crontab, "-"], input=table, capture_output=True, text=True)
    if done.returncode != 0:
        raise UsageError(f"crontab refused the new table: {done.stderr.strip() or done.returncode}")
