"""Where memcli keeps its files: platformdirs locations and the MEMCLI_* overrides."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "memcli"
DB_FILENAME = "memory.db"


def _home() -> Path | None:
    home = os.environ.get("MEMCLI_HOME")
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    """The user data dir (database, models, logs); MEMCLI_HOME moves it."""
    home = _home()
    if home is not None:
        return home
    import platformdirs

    return platformdirs.user_data_path(APP_NAME)


def config_dir() -> Path:
    home = _home()
    if home is not None:
        return home
    import platformdirs

    return platformdirs.user_config_path(APP_NAME)


def config_path() -> Path:
    return config_dir() / "config.toml"


def models_dir() -> Path:
    """Model files; MEMCLI_MODELS_DIR lets several data dirs share one copy."""
    env = os.environ.get("MEMCLI_MODELS_DIR")
    return Path(env).expanduser() if env else data_dir() / "models"


def db_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The database file: --db, else MEMCLI_DB, else DATA_DIR/memory.db."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("MEMCLI_DB")
    if env:
        return Path(env).expanduser()
    return data_dir() / DB_FILENAME


def ensure_private_dir(path: Path) -> Path:
    """Create a directory readable by its owner only (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_user() -> str:
    user = os.environ.get("MEMCLI_USER")
    if user:
        return user
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "default"
