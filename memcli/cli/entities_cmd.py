"""`mem entities`, `mem about` and `mem entity`: who and what the memories are about."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import complete, render
from .app import app
from .commands import DbOpt, UserOpt, _open
from .inputs import stdin_is_piped
from .options import CsvOpt, JsonOpt, NlOpt, TsvOpt

NameArg = Annotated[
    str,
    typer.Argument(
        help="An entity's name, alias or id.", show_default=False, autocompletion=complete.entity_names
    ),
]

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
        typer.Option(
            "--kind",
            help="Only this kind: person, pet, place, organisation, thing or self.",
            autocompletion=complete.entity_kinds,
        ),
    ] = None,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
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

    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    if kind is not None and kind not in ENTITY_KINDS:
        raise InputError(f"unknown kind {kind!r}: use one of {', '.join(ENTITY_KINDS)}")
    mem = _open(db, user)
    found = [e for e in mem.store.entities(mem.user) if kind is None or e.kind == kind]
    rows = [_entity_row(e) for e in found]
    if fmt == "json":
        render.emit_json({"results": rows})
    elif fmt:
        render.emit_rows(fmt, rows, ["id", "name", "kind", "memories", "aliases"])
    elif rows:
        render.table(
            ["id", "name", "kind", "memories", "aliases"],
            [[r["id"], r["name"], r["kind"], str(r["memories"]), ", ".join(r["aliases"])] for r in rows],
            right=[3],
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
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
) -> None:
    """Show what the memories say about someone or something.

    First its current relations, then the relations that ended, then a dated
    timeline of the memories that mention it, oldest first, with their ids.
    --csv, --tsv and --nl give the timeline's memories alone, as mem list does.

    Examples:

      mem about Ana

      mem about me --json
    """
    from .. import entities

    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    mem = _open(db, user)
    entity = entities.find(mem.store, mem.user, name)
    found = entities.about(mem.store, entity, limit=limit or None)
    if fmt == "json":
        render.emit_json(found.to_dict())
        return
    if fmt:
        render.emit_rows(fmt, [r.to_dict() for r in found.memories], render.MEMORY_COLUMNS)
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
    elif entity.kind != "self":  # you are in your relations, not in a name the notes use
        print("\nNo memory mentions it.", file=sys.stderr)


@entity_app.command()
def merge(
    names: Annotated[
        list[str],
        typer.Argument(
            help="The entity to keep, then the ones that are the same.",
            show_default=False,
            autocompletion=complete.entity_names,
        ),
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


profile_app = typer.Typer(
    help="""Your key facts by field (home, work, family, ...): what mem ask and mem chat always see.

    Consolidation keeps the fields made of relations up to date; a value you set
    wins over them. Each field keeps its history.

    Examples:

      mem profile

      mem profile set home "Porto, Portugal"

      mem profile unset work
    """,
    invoke_without_command=True,
)
app.add_typer(profile_app, name="profile")


@profile_app.callback()
def profile_default(
    ctx: typer.Context,
    history: Annotated[bool, typer.Option("--history", help="Each field's earlier values too.")] = False,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
) -> None:
    """`mem profile` alone is `mem profile show`."""
    if ctx.invoked_subcommand is None:
        profile_show(history, user, db, json_out, csv_out, tsv_out, nl_out)


@profile_app.command("show")
def profile_show(
    history: Annotated[bool, typer.Option("--history", help="Each field's earlier values too.")] = False,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
    tsv_out: TsvOpt = False,
    nl_out: NlOpt = False,
) -> None:
    """Show the profile: each field's value, since when, and where it comes from.

    Examples:

      mem profile show

      mem profile show --history --json
    """
    from .. import profile

    fmt = render.output_format(json_out, csv_out, tsv_out, nl_out)
    mem = _open(db, user)
    found = profile.fields(mem.store, mem.user)
    if fmt == "json":
        render.emit_json({"fields": [f.to_dict() for f in found]})
        return
    if fmt:
        render.emit_rows(
            fmt, [f.to_dict() for f in found], ["field", "value", "origin", "since", "sources", "history"]
        )
        return
    if not found:
        print(
            "The profile is empty (mem consolidate fills it; mem profile set FIELD VALUE sets a field).",
            file=sys.stderr,
        )
        return
    rows = []
    for f in found:
        origin = "set by you" if f.origin == "set" else f"from {', '.join(f.sources)}"
        rows.append([f.field, f.value, render.when(f.since), origin])
        if history:
            for old in reversed(f.history):
                span = (
                    f"{render.when(old.set_at)} to {render.when(old.valid_to)}"
                    if old.valid_to
                    else render.when(old.set_at)
                )
                rows.append(["", f"(was) {old.value}", span, old.origin])
    render.table(["field", "value", "since", "source"], rows)


@profile_app.command("set")
def profile_set(
    field: Annotated[
        str,
        typer.Argument(
            help="A field: name, home, work, family, ... or a word of your own.",
            autocompletion=complete.profile_fields,
        ),
    ],
    value: Annotated[list[str], typer.Argument(help="Its value.", show_default=False)],
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set a field; its earlier value stays in its history. The value is stored as a
    memory too ("The user's home is Porto."), so recall and ask find it.

    Example:

      mem profile set home Porto
    """
    from .. import profile

    mem = _open(db, user, create=True)
    shown = profile.set_value(mem, field, " ".join(value))
    if json_out:
        render.emit_json(shown.to_dict())
    else:
        print(render.printable(f"Set {shown.field}: {shown.value}"))


@profile_app.command("unset")
def profile_unset(
    field: Annotated[str, typer.Argument(help="The field to clear.", autocompletion=complete.profile_fields)],
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Clear a field: its values end (and stay in its history).

    Example:

      mem profile unset work
    """
    from .. import profile

    mem = _open(db, user)
    ended = profile.unset_value(mem, field)
    if json_out:
        render.emit_json({"field": ended[0].field, "ended": [e.to_dict() for e in ended]})
    else:
        print(render.printable(f"Cleared {ended[0].field} (was {ended[-1].value})."))
