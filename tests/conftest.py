import os
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


@pytest.fixture
def fake_memory(db_path: Path):
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
