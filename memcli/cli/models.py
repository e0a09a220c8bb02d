"""`mem models`: the embedding model's files."""

from __future__ import annotations

from typing import Annotated

import typer

from . import render
from .app import app

models_app = typer.Typer(help="Install and inspect the local models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("install")
def install(
    name: Annotated[str, typer.Argument(help="The model to install.")] = "all-MiniLM-L6-v2",
) -> None:
    """Install a model into the models dir (converting it to GGUF) and verify its checksum.

    Example:

      mem models install all-MiniLM-L6-v2
    """
    from ..errors import UsageError
    from ..models.embed import install_default
    from ..models.registry import DEFAULT_EMBED_MODEL
    from ..paths import ensure_private_dir, models_dir

    if name != DEFAULT_EMBED_MODEL:
        raise UsageError(f"unknown model {name!r}: installable models: {DEFAULT_EMBED_MODEL}")
    path = install_default(ensure_private_dir(models_dir()), full_check=True)
    render.console().print(f"Installed {name}: {path}")


@models_app.command("list")
def list_models(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the embedding models memcli knows, and whether they are installed.

    Example:

      mem models list
    """
    from ..models.embed import default_model_path, verify
    from ..models.registry import DEFAULT_EMBED_MODEL, configured_embed_model
    from ..paths import models_dir

    path = default_model_path(models_dir())
    row = {
        "name": DEFAULT_EMBED_MODEL,
        "role": "embed",
        "installed": path.exists() and verify(path),
        "path": str(path),
        "size": path.stat().st_size if path.exists() else None,
        "configured": configured_embed_model(),
    }
    if json_out:
        render.emit_json({"models": [row]})
        return
    state = "installed" if row["installed"] else "not installed (mem models install)"
    render.console().print(f"{row['name']}  embed  {state}  {row['path']}")
