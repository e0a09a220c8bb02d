"""`mem config get/set/list/unset` over the TOML file, and `mem doctor` finding real problems."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli import settings
from memcli.cli import app
from memcli.errors import ExitStatus
from memcli.paths import config_path, ensure_private_dir

runner = CliRunner()


def mem(*args: str, code: int = 0, env: dict | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_set_get_unset_round_trip() -> None:
    mem("config", "set", "ask_min_similarity", "0.3")
    mem("config", "set", "episode_retention", "digested")
    assert mem("config", "get", "ask_min_similarity").stdout == "0.3\n"
    assert settings.value("ask_min_similarity") == 0.3  # what the code reads
    assert settings.value("episode_retention") == "digested"
    listed = {r["key"]: r for r in json.loads(mem("config", "list", "--json").stdout)["settings"]}
    assert set(listed) == set(settings.SETTINGS)
    assert listed["ask_min_similarity"]["value"] == 0.3 and listed["ask_min_similarity"]["source"] == "config"
    assert listed["half_life_days"]["source"] == "default"
    assert config_path().stat().st_mode & 0o777 == 0o600
    mem("config", "unset", "ask_min_similarity")
    assert mem("config", "get", "ask_min_similarity").stdout == "0.25\n"
    assert mem("config", "path").stdout.strip() == str(config_path())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("ask_min_similarity", "2", "at most 1"),
        ("ask_min_similarity", "high", "takes a number"),
        ("ask_prompt_tokens", "12.5", "takes a whole number"),
        ("episode_retention", "forever", "one of keep, digested"),
        ("no_such_thing", "1", "unknown setting"),
        ("recency_weight", "nan", "finite number"),
        ("digest_after_days", "inf", "finite number"),
        ("digest_after_days", "1e9", "at most 36500"),
    ],
)
def test_bad_values_are_refused_and_the_file_kept(key: str, value: str, message: str) -> None:
    mem("config", "set", "half_life_days", "30")
    before = config_path().read_bytes()
    result = mem("config", "set", key, value, code=ExitStatus.INPUT)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert config_path().read_bytes() == before


def test_environment_overrides_the_file() -> None:
    mem("config", "set", "generate_model", "qwen2.5-coder-1.5b-instruct")
    shown = json.loads(
        mem("config", "get", "generate_model", "--json", env={"MEMCLI_MODEL": "/x.gguf"}).stdout
    )
    assert shown["value"] == "/x.gguf" and shown["source"] == "env MEMCLI_MODEL"


def checks(*args: str, code: int = 0, env: dict | None = None) -> dict[str, list[dict]]:
    report = json.loads(mem("doctor", "--no-load", "--json", *args, code=code, env=env).stdout)
    by_area: dict[str, list[dict]] = {}
    for check in report["checks"]:
        by_area.setdefault(check["area"], []).append(check)
    return by_area


def problems(by_area: dict[str, list[dict]]) -> list[dict]:
    return [c for found in by_area.values() for c in found if not c["ok"]]


@pytest.fixture
def store(tmp_path: Path, real_embedder) -> str:
    db = str(tmp_path / "doc.db")
    mem("remember", "--db", db, "The doctor checks this memory")
    return db


def test_doctor_passes_on_a_healthy_setup(store: str, real_generator) -> None:
    found = checks("--db", store)
    assert problems(found) == []
    assert {"sqlite", "config", "database", "models", "files", "disk"} <= set(found)
    assert any("sqlite-vec" in c["detail"] for c in found["sqlite"])
    assert "1 memories" in found["database"][0]["detail"]
    loaded = mem("doctor", "--db", store)  # loads both models for real
    assert loaded.stdout.count("loads") == 2 and "PROBLEM" not in loaded.stdout


def test_doctor_names_each_problem_and_its_fix(store: str, tmp_path: Path) -> None:
    Path(store).chmod(0o644)
    found = problems(checks("--db", store, code=ExitStatus.ERROR))
    assert [c["fix"] for c in found] == [f"chmod 600 {store}"]
    Path(store).chmod(0o600)

    ensure_private_dir(config_path().parent)
    config_path().write_text('ask_min_similarity = "high"\ncolour = 3\n')
    config_path().chmod(0o600)
    found = problems(checks("--db", store, code=ExitStatus.ERROR))
    assert [c["fix"] for c in found] == ["mem config set ask_min_similarity VALUE", "mem config unset colour"]
    assert settings.value("ask_min_similarity") == 0.25  # a bad value in the file is not used
    config_path().unlink()

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    broken.chmod(0o600)
    found = problems(checks("--db", str(broken), code=ExitStatus.DATABASE))
    assert found[0]["area"] == "database" and "not a usable database" in found[0]["detail"]


def test_doctor_reports_a_missing_model_with_the_install_command(store: str) -> None:
    result = mem("doctor", "--db", store, "--no-load", code=ExitStatus.MODEL, env={"MEMCLI_MODEL": "ghost"})
    assert "PROBLEM models" in result.stdout and "ghost" in result.stdout
    found = checks("--db", store, code=ExitStatus.MODEL, env={"MEMCLI_MODEL": "ghost"})
    assert [c["fix"] for c in problems(found)] == [
        "mem models use NAME|PATH (a name from mem models list, or a GGUF file)"
    ]
    assert found["database"][0]["ok"]  # the other checks still ran


def test_doctor_never_tells_you_to_delete_a_file_you_chose(
    store: str, real_generator, shared_models_dir: Path
) -> None:
    from memcli.models import catalog

    notes = Path(store).parent / "notes.txt"
    notes.write_text("not a model")
    found = checks("--db", store, "--no-load", code=ExitStatus.MODEL, env={"MEMCLI_EMBED_MODEL": str(notes)})
    [problem] = problems(found)
    assert "is not a GGUF model file" in problem["detail"] and "rm " not in problem["fix"]
    # The generation model in use, named as the embedding model, does not load as one:
    qwen = catalog.model_path(catalog.get(catalog.DEFAULT_GENERATE_MODEL), shared_models_dir)
    loaded = mem(
        "doctor", "--json", "--db", store, code=ExitStatus.MODEL, env={"MEMCLI_EMBED_MODEL": str(qwen)}
    )
    [problem] = [c for c in json.loads(loaded.stdout)["checks"] if not c["ok"]]
    assert "does not load" in problem["detail"] and "rm " not in problem["fix"] and qwen.exists()
