"""One TOML config file in the user config dir."""

from __future__ import annotations

import tomllib
from typing import Any

from .errors import InputError
from .paths import config_path


def load() -> dict[str, Any]:
    path = config_path()
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read config {path}: {exc}") from None


def get(key: str, default: Any = None) -> Any:
    return load().get(key, default)
