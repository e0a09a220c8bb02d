"""One TOML config file in the user config dir."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import InputError
from .paths import config_path, ensure_private_dir

_loaded: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}  # path: (stat key, data)


def load() -> dict[str, Any]:
    """The config file's keys (a copy); parsed again only when the file changes."""
    path = config_path()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"cannot read config {path}: {exc}") from None
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _loaded.get(path)
    if cached is not None and cached[0] == key:
        return dict(cached[1])
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read config {path}: {exc}") from None
    _loaded[path] = (key, data)
    return dict(data)


def get(key: str, default: Any = None) -> Any:
    return load().get(key, default)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # a JSON string is a TOML basic string, once DEL (which TOML forbids raw) is escaped too
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    raise InputError(f"cannot store a {type(value).__name__} in the config file")


def set_value(key: str, value: Any) -> None:
    """Set (or with value None, remove) one top-level key, keeping the others."""
    data = load()
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    lines = ["# memcli configuration (mem config, mem models use)"]
    for k, v in sorted(data.items()):
        if isinstance(v, dict):
            raise InputError(f"config {config_path()} has a [{k}] table: edit it by hand")
        lines.append(f"{k} = {_toml_value(v)}")
    path = config_path()
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
        _loaded.clear()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
