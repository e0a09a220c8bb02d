"""`mem entities`, `mem about` and `mem entity`: who and what the memories are about."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import render
from .app import app
from .commands import DbOpt, JsonOpt, UserOpt, _open
from .inputs import stdin_is_piped

NameArg = Annotated[str, typer.Argument(help="An entity's name, alias or id.", show_default=False)]

entity_app = typer.Typer(
    help="""Change entities: merge two that are one, rename one, forget one.

    Examples:

      mem entity merge Ana "Ana Silva"

      mem entity rename Ana "Ana Sousa"

      mem entity forget Ana
    """,
    no_args_is_help=True,
)
app.add_typer(entity_app, name="entity")


def _entity_row(entity: Any) -> dict[str, Any]:
    return entity.to_dict()


@app.command("entities")
def entities_(
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only this kind: person, pet, place, organisation, thing or self."),
    ] = None,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the people, pets, places, organisations and things the memories are about.

    Entities are found by mem consolidate, and every memory that names one (by
    its name or an alias) is linked to it as it is stored.

    Examples:

      mem entities

      mem entities --kind person --json
    """
    from ..errors import InputError
    from ..records import ENTITY_KINDS

    if kind is not None and kind not in ENTITY_KINDS:
        raise InputError(f"unknown kind {kind!r}: use one of {', '.join(ENTITY_KINDS)}")
    mem = _open(db, user)
    found = [e for e in mem.store.entities(mem.user) if kind is None or e.kind == kind]
    rows = [_entity_row(e) for e in found]
    if json_out:
        render.emit_json({"results": rows})
    elif rows:
        render.table(
            ["id", "name", "kind", "memories", "aliases"],
            [[r["id"], r["name"], r["kind"], str(r["memories"]), ", ".join(r["aliases"])] for r in rows],
        )
    else:
        print("No entities yet (mem consolidate finds them).", file=sys.stderr)


@app.command()
def about(
    name: NameArg,
    limit: Annotated[
        int, typer.Option("-n", "--limit", help="At most this many memories (0: all).", min=0)
    ] = 50,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show what the memories say about someone or something.

    First its current relations, then the relations that ended, then a dated
    timeline of the memories that mention it, oldest first, with their ids.

    Examples:

      mem about Ana

      mem about me --json
    """
    from .. import entities

    mem = _open(db, user)
    entity = entities.find(mem.store, mem.user, name)
    found = entities.about(mem.store, entity, limit=limit or None)
    if json_out:
        render.emit_json(found.to_dict())
        return
    kind = entity.kind if entity.kind != "self" else "you"
    names = f" (also: {', '.join(entity.aliases)})" if entity.aliases else ""
    print(render.printable(f"{entity.name}: {kind}{names}  [{entity.id}]"))
    for title, edges in (("Now", found.relations), ("Before", found.ended)):
        if not edges:
            continue
        print(f"\n{title}:")
        for relation, subject, obj in edges:
            span = f"since {render.when(relation.valid_from)}"
            if relation.valid_to:
                span = f"{render.when(relation.valid_from)} to {render.when(relation.valid_to)}"
            line = f"  {subject.name} {relation.predicate} {obj.name}  ({span}; from {', '.join(relation.sources)})"
            print(render.printable(line))
    if found.memories:
        print("\nMemories:")
        rows = [r.to_dict() for r in found.memories]
        render.memory_table(rows, score=False)
    else:
        print("\nNo memory mentions it.", file=sys.stderr)


@entity_app.command()
def merge(
    names: Annotated[
        list[str],
        typer.Argument(help="The entity to keep, then the ones that are the same.", show_default=False),
    ],
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make one entity of several: the first keeps its name and takes the others'
    names, mentions and relations.

    Example:

      mem entity merge Ana "Ana Silva" "my sister"
    """
    from .. import entities

    if len(names) < 2:
        raise UsageError("name the entity to keep and at least one to merge into it")
    mem = _open(db, user)
    found = [entities.find(mem.store, mem.user, n) for n in names]
    merged = entities.merge(mem.store, found[0], found[1:])
    if json_out:
        render.emit_json(_entity_row(merged))
    else:
        print(render.printable(f"Merged into {merged.name} [{merged.id}]: {merged.memories} memories."))


@entity_app.command()
def rename(
    name: NameArg,
    new_name: Annotated[str, typer.Argument(metavar="NEW", help="Its new name.", show_default=False)],
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Give an entity a new name; the old one stays as an alias.

    Example:

      mem entity rename Ana "Ana Sousa"
    """
    from .. import entities

    mem = _open(db, user)
    renamed = entities.rename(mem.store, entities.find(mem.store, mem.user, name), new_name)
    if json_out:
        render.emit_json(_entity_row(renamed))
    else:
        print(render.printable(f"Renamed {name} to {renamed.name} [{renamed.id}]."))


@entity_app.command("forget")
def forget_entity(
    name: NameArg,
    memories: Annotated[
        bool,
        typer.Option(
            "--memories", help="Forget the memories that mention it too (and what was made from them)."
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Erase an entity: its names, aliases and relations. The memories that
    mention it stay, unless --memories (which asks first on a terminal, and
    needs --yes when not on one).

    Examples:

      mem entity forget "Old Job Inc"

      mem entity forget Ana --memories --yes
    """
    from .. import entities

    mem = _open(db, user)
    entity = entities.find(mem.store, mem.user, name)
    if memories and not yes:
        if not sys.stdin.isatty() or stdin_is_piped():
            raise UsageError("--memories deletes memories: add --yes to confirm")
        typer.confirm(f"Forget {entity.name} and the {entity.memories} memories that mention it?", abort=True)
    report = entities.forget(mem, entity, memories=memories)
    if json_out:
        render.emit_json(report.to_dict())
    else:
        extra = f" and {len(report.memories)} memories" if report.memories else ""
        print(render.printable(f"Forgot {report.name}, {report.relations} relations{extra}."))
