import os
import subprocess
from pathlib import Path

import pytest

from memcli.models.embed import FakeEmbedder
from memcli.paths import models_dir

# Where `make install` put the models, read before any test isolates the environment.
INSTALLED_MODELS_DIR = models_dir()


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One models dir for the whole run: the real model is converted once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_models_dir: Path) -> Path:
    """No test touches the real data dir, config or database."""
    home = tmp_path / "home"
    monkeypatch.setenv("MEMCLI_HOME", str(home))
    monkeypatch.setenv("MEMCLI_MODELS_DIR", str(shared_models_dir))
    monkeypatch.setenv("MEMCLI_USER", "tester")
    for var in ("MEMCLI_DB", "MEMCLI_EMBED_MODEL", "MEMCLI_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "mem.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def fake_memory(request: pytest.FixtureRequest, db_path: Path):
    """A Memory with the fake embedding model, on each backend: a SQLite file, and a
    fresh database on a real PostgreSQL server (a test that reads the file itself
    takes `sqlite_memory`)."""
    from memcli.memory import Memory

    where = request.getfixturevalue("pg_url") if request.param == "postgresql" else db_path
    mem = Memory(where, embedder=FakeEmbedder(), user="tester")
    yield mem
    mem.close()


@pytest.fixture
def sqlite_memory(db_path: Path):
    """A Memory with the fake embedding model in the SQLite file `db_path`."""
    from memcli.memory import Memory

    mem = Memory(db_path, embedder=FakeEmbedder(), user="tester")
    yield mem
    mem.close()


@pytest.fixture(scope="session")
def real_embedder(shared_models_dir: Path):
    """The real all-MiniLM-L6-v2 through llama.cpp, loaded once."""
    os.environ["MEMCLI_MODELS_DIR"] = str(shared_models_dir)
    from memcli.models.registry import load_embedder

    embedder = load_embedder("all-MiniLM-L6-v2")
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture(scope="session")
def real_generator(shared_models_dir: Path):
    """The default generation model as installed by the set-up, loaded once.

    Linked into the tests' shared models dir, so `mem` run by a test finds it.
    Missing, the tests that need it fail under CI (the set-up must install it)
    and are skipped elsewhere, with the command that installs it.
    """
    from memcli.models import catalog

    spec = catalog.get(catalog.DEFAULT_GENERATE_MODEL)
    source = catalog.model_path(spec, INSTALLED_MODELS_DIR)
    if not source.is_file():
        message = (
            f"{spec.name} is not installed in {INSTALLED_MODELS_DIR}: run `mem models install {spec.name}`"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    for path in (source, catalog.checksum_path(source)):
        link = shared_models_dir / path.name
        if path.exists() and not link.exists():
            link.symlink_to(path)
    os.environ["MEMCLI_MODELS_DIR"] = str(shared_models_dir)
    from memcli.models.generate import load_generator

    return load_generator(spec.name)


@pytest.fixture(scope="session", autouse=True)
def _close_models():
    """Free the models before the interpreter shuts down (llama.cpp's finalizers
    otherwise run after the modules they need are gone)."""
    yield
    from memcli.models import generate, registry

    for model in [*generate._loaded.values(), *registry._loaded.values()]:
        close = getattr(model, "close", None)
        if close is not None:
            close()


@pytest.fixture
def read_only():
    """Make a file or a directory unwritable even for root (chattr +i), or skip
    where that cannot be done; undone after the test."""
    frozen: list[Path] = []
    modes: list[tuple[Path, int]] = []

    def freeze(path: Path) -> None:
        if os.geteuid() == 0:
            if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
                pytest.skip("cannot make a path read-only for root here (no chattr +i)")
            frozen.append(path)
            return
        modes.extend((p, p.stat().st_mode & 0o7777) for p in (path.parent, path))
        path.chmod(0o400 if path.is_file() else 0o500)
        path.parent.chmod(0o500)

    yield freeze
    for path in frozen:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    for path, mode in reversed(modes):
        path.chmod(mode)


@pytest.fixture
def tmpfs(tmp_path: Path):
    """`tmpfs(size)`: a directory with a tmpfs of that size mounted on it (needs root and
    mount), or the test is skipped; unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"tmpfs-{len(mounted)}"
        where.mkdir()
        done = (
            os.geteuid() == 0
            and not subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
            ).returncode
        )
        if not done:
            pytest.skip(f"cannot mount a {size} tmpfs here")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def fake_crontab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `crontab` on PATH that keeps its table in the file returned (one job in it already)."""
    table = tmp_path / "crontab.txt"
    table.write_text("0 1 * * * backup\n")
    fake = tmp_path / "bin" / "crontab"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {table}; else cat > {table}; fi\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    return table


# -- PostgreSQL: one real server for the run (the pgserver wheel), a database per test -----


class PgServer:
    """A PostgreSQL 16 + pgvector server on a unix socket in a temporary directory.

    Roles: the superuser `postgres` (set-up only), `memcli` (owns each test's
    tables, an ordinary role, so row-level security holds it too), `alice` and
    `bob` (people of a shared server).
    """

    ROLES = ("memcli", "alice", "bob")

    def __init__(self, admin_url: str, socket_dir: str) -> None:
        self.admin_url = admin_url
        self.socket_dir = socket_dir
        self._databases = 0

    def url(self, role: str, database: str) -> str:
        return f"postgresql://{role}@/{database}?host={self.socket_dir}"

    def admin(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(self.url("postgres", database), autocommit=True)

    def new_database(self, owner: str = "memcli") -> str:
        """A new, empty database owned by `owner`, with the vector extension (which only a
        superuser may create); its name."""
        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        with self.admin(name) as conn:
            from memcli.store.pg_schema import SUPERUSER_SQL

            for statement in SUPERUSER_SQL:  # what the README asks of an administrator
                conn.execute(statement)
            conn.execute(f'GRANT CREATE ON DATABASE "{name}" TO "{owner}"')
        return name


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' RuntimeDirWarning without XDG_RUNTIME_DIR
            import pgserver
            import psycopg  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc.name} is not installed (make test installs it)")
    data = tmp_path_factory.mktemp("pgdata")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(data, cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 - any reason it cannot start is a skip, said clearly
        pytest.skip(f"PostgreSQL tests skipped: pgserver could not start a server here ({exc})")
    found = PgServer(server.get_uri(), str(data))
    with found.admin() as conn:
        for role in PgServer.ROLES:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
    yield found
    server.cleanup()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh database, as the ordinary role that owns its tables."""
    return pg_server.url("memcli", pg_server.new_database())
