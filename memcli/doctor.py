"""`mem doctor`: check everything memcli depends on and say how to fix what is wrong.

Each check gives one line: what was checked, what was found and, when it is a
problem, the command or step that fixes it. The checks change nothing (opening
the store finishes a forget's scrub left pending, as any command does).

Permissions are checked only on what is memcli's: the database when it is a
memcli store, and the directories memcli made (`paths.is_memcli_dir`); a shared
or system directory, or another user's file, is never the subject of a fix.
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import paths, settings
from .errors import ExitStatus, ForeignDatabase, MemcliError

MIN_FREE_BYTES = 200 * 1024 * 1024  # below this a bulk import or a model install can fail
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


@dataclass
class Check:
    area: str  # sqlite | models | database | files | config | disk
    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def exit_status(checks: list[Check]) -> int:
    """0 when all is well; else the status of the first failing area."""
    for check in checks:
        if not check.ok:
            if check.area in ("database", "sqlite", "postgresql"):
                return ExitStatus.DATABASE
            if check.area == "models":
                return ExitStatus.MODEL
            return ExitStatus.ERROR
    return ExitStatus.OK


def run(db: Path | str, *, load_models: bool = True) -> list[Check]:
    """Every check, for the store at `db`: a file, or a database URL (a server's
    files and disk are its own, so only the store is checked there)."""
    server = isinstance(db, str)
    database, store_is_ours = _server_database(db) if isinstance(db, str) else _database(db)
    checks: list[Check] = []
    for step in (
        lambda: _backend(db),
        _config,
        lambda: database,
        lambda: _models(load_models),
        lambda: _files(None if server else Path(db), store_is_ours),
    ):
        try:
            checks.extend(step())
        except MemcliError as exc:  # a check that cannot even run is a problem of its own
            checks.append(Check("config", "read", False, str(exc), "fix or remove the file it names"))
    checks.extend(_disk(paths.data_dir() / paths.DB_FILENAME if isinstance(db, str) else db))
    return checks


def _backend(db: Path | str) -> Iterator[Check]:
    """What the store's backend needs from this machine, as the store checks it."""
    from .store import is_url, probes

    area = "postgresql" if is_url(db) else "sqlite"
    for probe in probes(db):
        yield Check(area, probe.name, probe.ok, probe.detail, probe.fix)


def _server_database(url: str) -> tuple[list[Check], bool]:
    """The checks of a store on a database server, as the store runs them."""
    from .store import display_url, open_store

    where = display_url(url)
    try:
        store = open_store(url, create=False)
    except MemcliError as exc:
        return [
            Check("database", "open", False, str(exc), "check the URL, the role and `mem server init`")
        ], False
    try:
        found = store.health()
        memories = store.counts()["rows"] if not found.get("index counts") else None
        index = store.capabilities.vector_index
    finally:
        store.close()
    passed = {
        "index counts": f"{where}: {memories} memories this role can see, each with its full-text and vector entries",
        "schema": "every table of memcli's migrations is there",
        "indexes": "every index is valid",
        "row-level security": "row-level security holds this role to its own memories",
    }
    checks = [
        Check(
            "database",
            name,
            False,
            f"{name}: " + "; ".join(problems),
            "mem server init (as the tables' owner)",
        )
        if problems
        else Check("database", name, True, passed.get(name, f"{where}: {name} ok"))
        for name, problems in found.items()
    ]
    checks.append(Check("database", "vector search", True, f"{where}: {index}"))
    return checks, True


def _config() -> Iterator[Check]:
    path = paths.config_path()
    found = settings.problems()
    for problem in found:
        yield Check("config", "settings", False, problem.rsplit(": ", 1)[0], problem.rsplit(": ", 1)[1])
    if not found:
        yield Check("config", "settings", True, f"{path}" if path.exists() else f"{path} (not created yet)")


def _database(db: Path) -> tuple[list[Check], bool]:
    """One check per part of the store (a damaged part does not hide the others),
    and whether the file is a memcli store."""
    if not db.exists():
        return [Check("database", "file", True, f"{db} does not exist yet (mem remember creates it)")], False
    from .store import encryption, open_store

    try:
        store = open_store(db, create=False)
    except ForeignDatabase as exc:
        return [
            Check("database", "open", False, str(exc), "point --db or MEMCLI_DB at a memcli database")
        ], False
    except MemcliError as exc:
        fix = f"if {db} is a memcli database, restore it from a backup; else point --db or MEMCLI_DB at one"
        if encryption.is_encrypted(db):
            fix = (
                f"if it is an encrypted store, give its key in {encryption.KEY_ENV} or "
                f"{encryption.KEY_FILE_ENV}, or keep it in the OS keyring; else restore it from a backup"
            )
        return [Check("database", "open", False, str(exc), fix)], False
    try:
        found = store.health()
        memories = store.counts()["rows"] if not found.get("index counts") else None
        encrypted = store.capabilities.encrypted
    finally:
        store.close()
    passed = {
        "index counts": f"{db}: {memories} memories, and as many rows in the full-text and vector indexes",
        "integrity": f"{db}: SQLite integrity check ok",
        "schema": "every table and index memcli needs is there",
        "full-text index": "the full-text index matches its rows",
    }
    rebuild = f"restore {db} from a backup, or mem export -o backup.jsonl, then mem import it into a new --db"
    checks = [
        Check("database", name, False, f"{name}: " + "; ".join(problems), rebuild)
        if problems
        else Check("database", name, True, passed.get(name, f"{db}: {name} ok"))  # another backend's checks
        for name, problems in found.items()
    ]
    at_rest = "encrypted at rest (SQLCipher)" if encrypted else "not encrypted (mem encrypt encrypts it)"
    checks.append(Check("database", "encryption", True, f"{db}: {at_rest}"))
    return checks, True


def _models(load: bool) -> Iterator[Check]:
    from .models import catalog
    from .models.generate import configured_generate_model
    from .models.gguf_bert import is_gguf
    from .models.registry import configured_embed_model

    for role, spec in (("embed", configured_embed_model()), ("generate", configured_generate_model())):
        known = catalog.find(spec)
        path = catalog.model_path(known, paths.models_dir()) if known else Path(spec).expanduser()
        if known:
            install = f"mem models install {spec}"
        elif role == "generate":
            install = "mem models use NAME|PATH (a name from mem models list, or a GGUF file)"
        else:
            install = (
                "mem config set embed_model all-MiniLM-L6-v2 (or the path of a GGUF file), then mem reindex"
            )
        if not path.is_file():
            yield Check("models", role, False, f"{spec} is not installed ({path})", install)
            continue
        if known and not catalog.is_installed(known, paths.models_dir(), full_check=True):
            yield Check("models", role, False, f"{path} does not match its sha256", f"rm {path} && {install}")
            continue
        if not known and not is_gguf(path):
            yield Check("models", role, False, f"{path} is not a GGUF model file", install)
            continue
        detail = f"{spec}: {path} ({path.stat().st_size / 1e6:.0f} MB" + (", sha256 ok)" if known else ")")
        if load:
            problem = _loads(role, spec)
            if problem:
                # Only a catalog model's own file is the user's to delete and install again;
                # a path may be any file they keep (or another model in use).
                fix = f"rm {path} && {install}" if known else install
                yield Check("models", role, False, f"{spec} does not load: {problem}", fix)
                continue
            detail += ", loads"
        yield Check("models", role, True, detail)


def _loads(role: str, spec: str) -> str | None:
    try:
        if role == "embed":
            from .models.registry import load_embedder

            load_embedder(spec).embed(["doctor"])
        else:
            from .models.generate import load_generator

            load_generator(spec).count_tokens("doctor")
    except Exception as exc:  # any failure to load is the finding
        return str(exc) or type(exc).__name__
    return None


def _mode_check(path: Path, want: int) -> Check | None:
    try:
        found = path.stat()
    except OSError:
        return None
    if not paths.owned(found):  # another user's file is theirs to keep as they like
        return None
    mode = stat.S_IMODE(found.st_mode)
    if mode & 0o077:
        return Check(
            "files",
            str(path),
            False,
            f"{path} is open to other users (mode {mode:o})",
            f"chmod {want:o} {path}",
        )
    return Check("files", str(path), True, f"{path} is private (mode {mode:o})")


def _files(db: Path | None, store_is_ours: bool) -> Iterator[Check]:
    store = [(db, PRIVATE_FILE), (Path(f"{db}-wal"), PRIVATE_FILE)] if db and store_is_ours else []
    directories = [
        d
        for d in (*([db.parent] if db else []), paths.data_dir(), paths.models_dir(), paths.config_dir())
        if paths.is_memcli_dir(d)
    ]
    # memcli's own file names, but in a directory it did not make they may be another program's
    files = [(paths.data_dir(), paths.LOG_FILENAME), (paths.config_dir(), paths.config_path().name)]
    candidates = [
        *store,
        *((d, PRIVATE_DIR) for d in directories),
        *((d / name, PRIVATE_FILE) for d, name in files if d in directories),
    ]
    seen: set[Path] = set()
    for path, want in candidates:
        resolved = path.resolve() if path.exists() else path
        if resolved in seen:
            continue
        seen.add(resolved)
        check = _mode_check(path, want)
        if check is not None:
            yield check


def _disk(db: Path) -> Iterator[Check]:
    where = db.parent if db.parent.exists() else paths.data_dir()
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if free < MIN_FREE_BYTES:
        yield Check(
            "disk",
            "free",
            False,
            f"only {free / 1e6:.0f} MB free under {where}",
            "free some space, or move the data with MEMCLI_HOME",
        )
    else:
        yield Check("disk", "free", True, f"{free / 1e9:.1f} GB free under {where}")
