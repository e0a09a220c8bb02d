import os
from pathlib import Path

import pytest

from memcli.models.embed import FakeEmbedder


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
