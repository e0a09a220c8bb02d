"""Values for shell completion (`mem --install-completion`): kinds, modes, tags,
config keys, model names, memory ids, entity names, profile fields.

Each function takes what is typed so far and returns (value, help) pairs. The
ones that read the store open it as the command line so far names it (--db,
--user, else the defaults), never create it, never ask for an encryption key
(an encrypted store completes only with MEMCLI_KEY or MEMCLI_KEY_FILE set), give
a PostgreSQL server 2 seconds to answer (connect_timeout), and complete nothing
rather than fail: completion runs inside the user's shell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..memory import Memory

Pairs = list[tuple[str, str]]
IDS_SHOWN = 50  # memory ids offered at once: the newest, or those starting with what is typed


def _starting(incomplete: str, values: dict[str, str]) -> Pairs:
    return [(value, help) for value, help in values.items() if value.startswith(incomplete)]


def kinds(incomplete: str) -> Pairs:
    return _starting(
        incomplete,
        {"episodic": "what happened", "semantic": "a fact", "procedural": "how to do something"},
    )


def modes(incomplete: str) -> Pairs:
    return _starting(
        incomplete,
        {"hybrid": "full text and vectors", "fts": "full text (BM25) only", "vector": "vectors only"},
    )


def entity_kinds(incomplete: str) -> Pairs:
    from ..records import ENTITY_KINDS

    return _starting(incomplete, {kind: "" for kind in ENTITY_KINDS})


def config_keys(incomplete: str) -> Pairs:
    from ..settings import SETTINGS

    return _starting(incomplete, {key: s.help.split(":")[0].split(".")[0] for key, s in SETTINGS.items()})


def model_names(incomplete: str) -> Pairs:
    from ..models import catalog

    return _starting(incomplete, {name: spec.role for name, spec in catalog.MODELS.items()})


def import_formats(incomplete: str) -> Pairs:
    from .import_cmd import FORMATS

    return _starting(incomplete, {name: "" for name in FORMATS})


def _open_quietly(ctx: click.Context) -> Memory | None:
    """The memory the command line so far names, or None when it cannot be read quietly."""
    try:
        from .. import paths
        from ..memory import Memory
        from ..store import encryption

        params = _all_params(ctx)
        location = paths.db_location(params.get("db"))
        if isinstance(location, str):  # a server: an unreachable one must not stall the shell
            location = _with_timeout(location)
        if not isinstance(location, str) and (
            not location.is_file() or (encryption.is_encrypted(location) and encryption.given_key() is None)
        ):
            return None
        return Memory(location, create=False, user=params.get("user"))
    except Exception:  # completion must never print a traceback into the shell
        return None


@contextmanager
def _memory(ctx: click.Context) -> Iterator[Memory | None]:
    mem = _open_quietly(ctx)
    try:
        yield mem
    finally:
        if mem is not None:
            mem.close()


def _with_timeout(url: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("connect_timeout", "2")
    return urlunsplit(parts._replace(query=urlencode(query)))


def _all_params(ctx: click.Context | None) -> dict[str, Any]:
    """--db and --user as given so far, on this command or a group above it."""
    found: dict[str, Any] = {}
    while ctx is not None:
        for key, value in ctx.params.items():
            if value is not None:
                found.setdefault(key, value)
        ctx = ctx.parent
    return found


def _from_store(read: Callable[[Memory, str], Pairs]) -> Callable[[click.Context, str], Pairs]:
    def complete(ctx: click.Context, incomplete: str) -> Pairs:
        with _memory(ctx) as mem:
            if mem is None:
                return []
            try:
                return read(mem, incomplete)
            except Exception:
                return []

    return complete


def _tags(mem: Memory, incomplete: str) -> Pairs:
    from ..records import Filters

    counts = mem.store.tag_counts(Filters(user=mem.user))
    return [(tag, f"{n} memories") for tag, n in counts if tag.startswith(incomplete)]


def _ids(mem: Memory, incomplete: str) -> Pairs:
    from .render import one_line

    return [(i, one_line(text, 60)) for i, text in mem.store.ids_starting(incomplete, mem.user, IDS_SHOWN)]


def _entities(mem: Memory, incomplete: str) -> Pairs:
    wanted = incomplete.lower()
    return [(e.name, e.kind) for e in mem.store.entities(mem.user) if e.name.lower().startswith(wanted)]


def _fields(mem: Memory, incomplete: str) -> Pairs:
    from .. import profile

    names = {f.field: f.value for f in profile.fields(mem.store, mem.user)}
    for name in profile.FIELDS:
        names.setdefault(name, "")
    return _starting(incomplete, names)


tags = _from_store(_tags)
memory_ids = _from_store(_ids)
entity_names = _from_store(_entities)
profile_fields = _from_store(_fields)
