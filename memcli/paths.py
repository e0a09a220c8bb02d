"""Where memcli keeps its files: platformdirs locations and the MEMCLI_* overrides."""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

APP_NAME = "memcli"
DB_FILENAME = "memory.db"
LOG_FILENAME = "consolidate.log"
# In each directory memcli makes: how `mem doctor` knows the directory is memcli's to check.
DIR_MARKER = ".memcli"
_MARKER_TEXT = "memcli made this directory private to its owner (0700); mem doctor checks it stays so.\n"


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
    return _platform_config_dir(os.environ.get("XDG_CONFIG_HOME"), os.path.expanduser("~"))


@functools.lru_cache(maxsize=8)
def _platform_config_dir(xdg_config_home: str | None, home: str | None) -> Path:
    """platformdirs' answer for these environment values (a recall reads settings
    several times; platformdirs takes 0.1 ms each time)."""
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
    location = db_location(override)
    if isinstance(location, str):
        from .errors import UsageError

        raise UsageError("this command works on a database file, not on a database server")
    return location


def db_location(override: str | os.PathLike[str] | None = None) -> Path | str:
    """Where the store is: --db, else MEMCLI_DB, else DATA_DIR/memory.db; a path, or a
    database URL (postgresql://...) as a string."""
    from .store import is_url

    given = override or os.environ.get("MEMCLI_DB")
    if given and is_url(given):
        return os.fspath(given)
    if given:
        return Path(given).expanduser()
    return data_dir() / DB_FILENAME


def ensure_private_dir(path: Path) -> Path:
    """Create a directory, and each missing parent, readable by its owner only.

    Every directory made here is 0700 whatever the umask, and holds DIR_MARKER;
    a directory that exists already is left as it is (it may be shared).

        ensure_private_dir(data_dir() / "models")
    """
    missing = []
    here = path
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue  # another process made it first, and marks it
        os.chmod(directory, 0o700)  # the umask can take bits even from 0700
        try:  # only doctor's hint: a full disk must not stop the command that made the directory
            fd = os.open(directory / DIR_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(_MARKER_TEXT)
        except OSError:
            pass
    return path


def is_memcli_dir(path: Path) -> bool:
    """Whether a directory is memcli's own, so `mem doctor` may ask to make it private.

    It is when memcli made it (DIR_MARKER is in it) or it is a default location named
    for memcli (made before the markers were); either way this user owns it and it
    is not a shared directory (sticky, like /tmp).
    """
    try:
        found = path.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(found.st_mode) or found.st_mode & stat.S_ISVTX or not owned(found):
        return False
    try:
        marker = (path / DIR_MARKER).lstat()  # a symlink is no marker
    except OSError:
        return path.resolve() in _default_dirs()
    return stat.S_ISREG(marker.st_mode) and owned(marker)


def owned(found: os.stat_result) -> bool:
    """Whether this user owns the file (always, where there are no user ids)."""
    return not hasattr(os, "getuid") or found.st_uid == os.getuid()


def _default_dirs() -> set[Path]:
    import platformdirs

    data = platformdirs.user_data_path(APP_NAME)
    return {p.resolve() for p in (data, data / "models", platformdirs.user_config_path(APP_NAME))}


def default_user() -> str:
    user = os.environ.get("MEMCLI_USER")
    if user:
        return user
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "default"
