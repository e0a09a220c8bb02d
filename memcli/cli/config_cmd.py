"""`mem config`: read and change the settings of the config file."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from . import complete, render
from .app import app
from .options import CsvOpt, NlOpt, TsvOpt

config_app = typer.Typer(
    help="""Read and change settings (one TOML file in the user config dir).

    Examples:

      mem config list

      mem config set half_life_days 30
    """,
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
KeyArg = Annotated[
    str,
    typer.Argument(
        help="A setting's name (mem config list shows them).",
        show_default=False,
        autocompletion=complete.config_keys,
    ),
]


def _row(setting: Any, value: Any, source: str) -> dict[str, Any]:
    return {
        "key": setting.key,
        "value": value,
        "default": setting.default,
        "source": source,
        "help": setting.help,
    }


@config_app.command("list")
def list_settings(
    json_out: JsonOpt = False, csv_out: CsvOpt = False, tsv_out: TsvOpt = False, nl_out: NlOpt = False
) -> None:
    """List every setting with its value, where the value comes from, and what it does.

    Example:

      mem config list
    """
    from .. import settings

    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    rows = [_row(*row) for row in settings.effective()]
    if fmt == "json":
        render.emit_json({"config": str(_path()), "settings": rows})
        return
    if fmt:
        render.emit_rows(fmt, rows, ["key", "value", "default", "source", "help"])
        return
    render.table(
        ["key", "value", "source", "meaning"],
        [[row["key"], str(row["value"]), row["source"], row["help"]] for row in rows],
    )
    print(render.printable(f"Config file: {_path()}"), file=sys.stderr)


@config_app.command("get")
def get(key: KeyArg, json_out: JsonOpt = False) -> None:
    """Print the value in force of one setting (from the environment, the file or the default).

    Example:

      mem config get ask_min_similarity
    """
    from .. import settings

    setting = settings.lookup(key)
    row = next(_row(*r) for r in settings.effective() if r[0] is setting)
    if json_out:
        render.emit_json(row)
    else:
        print(render.printable(str(row["value"])))


@config_app.command("set", context_settings={"ignore_unknown_options": True})  # `set KEY -3` is a value
def set_(
    key: KeyArg,
    value: Annotated[str, typer.Argument(help="The new value.", show_default=False)],
    json_out: JsonOpt = False,
) -> None:
    """Set one setting in the config file; the value is checked first.

    Examples:

      mem config set ask_min_similarity 0.3

      mem config set episode_retention digested
    """
    from .. import config, settings

    setting = settings.lookup(key)
    parsed = setting.parse(value)
    if key in ("embed_model", "generate_model"):
        _check_model(key, parsed)
    config.set_value(key, parsed)
    if json_out:
        render.emit_json({"key": key, "value": parsed, "config": str(_path())})
    else:
        print(render.printable(f"{key} = {parsed!r} in {_path()}"), file=sys.stderr)
    if setting.env:
        import os

        if os.environ.get(setting.env):
            print(f"Note: {setting.env} is set and overrides it.", file=sys.stderr)


def _check_model(key: str, value: str) -> None:
    """A model setting names a catalog model of its role or an existing GGUF file."""
    from pathlib import Path

    from ..errors import InputError
    from ..models import catalog
    from ..models.gguf_bert import is_gguf

    role = "embed" if key == "embed_model" else "generate"
    known = catalog.find(value)
    if known is not None:
        if known.role != role:
            raise InputError(f"{value} is not a{'n embedding' if role == 'embed' else ' generation'} model")
        return
    if is_gguf(Path(value).expanduser()):
        return
    names = ", ".join(n for n, m in catalog.MODELS.items() if m.role == role)
    raise InputError(f"{key} is a model name ({names}) or the path of a GGUF file, not {value!r}")


@config_app.command("unset")
def unset(
    key: Annotated[
        str, typer.Argument(help="A setting's name.", show_default=False, autocompletion=complete.config_keys)
    ],
    json_out: JsonOpt = False,
) -> None:
    """Remove a setting from the config file, so its default applies again.

    Also removes a key the config file has but memcli does not know.

    Example:

      mem config unset ask_prompt_tokens
    """
    from .. import config, settings

    if key not in settings.SETTINGS and key not in config.load():
        settings.lookup(key)  # the unknown-setting error
    was_set = key in config.load()
    config.set_value(key, None)
    if json_out:
        render.emit_json({"key": key, "removed": was_set, "config": str(_path())})
    else:
        print(f"{key} removed from {_path()}" if was_set else f"{key} was not set", file=sys.stderr)


@config_app.command("path")
def path(json_out: JsonOpt = False) -> None:
    """Print the config file's path (it need not exist yet).

    Example:

      $EDITOR "$(mem config path)"
    """
    if json_out:
        render.emit_json({"config": str(_path()), "exists": _path().exists()})
    else:
        print(_path())


def _path() -> Any:
    from ..paths import config_path

    return config_path()
