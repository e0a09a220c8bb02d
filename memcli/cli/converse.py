"""`mem ask` and `mem chat`: the commands that run the local language model."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError, UsageError
from . import render
from .app import app
from .commands import (
    AsOfOpt,
    AssistantOpt,
    DbOpt,
    JsonOpt,
    KindOpt,
    NewUserOpt,
    SinceOpt,
    TagOpt,
    UntilOpt,
    UserOpt,
    _filters,
    _open,
)
from .inputs import read_stdin, stdin_is_piped, utf8_argument

if TYPE_CHECKING:
    from ..chat import Chat

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Generation model: a name from `mem models list` or a GGUF path. Default: $MEMCLI_MODEL, "
        "else the configured one.",
        show_default=False,
    ),
]


def _generator(model: str | None) -> Any:
    from ..models.generate import load_generator

    return load_generator(model)


class _Stream:
    """Print streamed text to a terminal as it comes; elsewhere print nothing until the end."""

    def __init__(self) -> None:
        self.live = sys.stdout.isatty()
        self.started = False

    def __call__(self, text: str) -> None:
        if self.live:
            sys.stdout.write(render.printable(text, lines=True))
            sys.stdout.flush()
            self.started = True


@app.command()
def ask(
    question: Annotated[
        list[str] | None, typer.Argument(help="The question; read from stdin when piped.", show_default=False)
    ] = None,
    k: Annotated[
        int, typer.Option("-k", "--limit", help="How many memories to consider.", min=1, max=50)
    ] = 8,
    kind: KindOpt = None,
    tag: TagOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    assistant: AssistantOpt = False,
    as_of: AsOfOpt = None,
    model: ModelOpt = None,
    user: UserOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Answer a question from your memories, citing them, or say "I don't know".

    Only memories relevant to the question are shown to the local model; it must
    cite the ones it used, and an answer that cites none is withdrawn.

    Examples:

      mem ask "when is Ana's birthday?"

      echo "where is the spare key?" | mem ask --json

      mem ask "what did we decide about the trip?" --tag travel --since 30d

      mem ask "where did I live?" --as-of 2024-02-01
    """
    from ..ask import ask as run_ask
    from ..ask import checked_question
    from ..models.registry import preload
    from ..timeparse import parse_time

    if question:
        text = " ".join(question)
    elif stdin_is_piped():
        text = read_stdin()
    else:
        raise UsageError("give a question as arguments or on stdin")
    checked_question(utf8_argument(text, "question"))  # before any model loads
    preload()
    mem = _open(db, user)
    filters = _filters(mem, user, kind, tag, since, until, assistant=assistant)
    moment = parse_time(as_of) if as_of else None
    generator = _generator(model)
    generator.preload()  # loads while the question is embedded and recalled
    stream = _Stream() if not json_out else None
    try:
        answer = run_ask(mem, generator, text, filters, k=k, on_text=stream, as_of=moment)
    finally:
        generator.settle()
    if json_out:
        render.emit_json({**answer.to_dict(), "model": generator.name})
        return
    cites = " ".join(f"[{i}]" for i in answer.cited)
    if stream is not None and stream.started:
        sys.stdout.write(f" {cites}\n" if cites else "\n")
    else:
        render.console().print(render.printable(f"{answer.text} {cites}".rstrip(), lines=True))
    by_id = {h.record.id: h for h in answer.used}
    out = render.console(stderr=True)
    for memory_id in answer.cited:
        hit = by_id[memory_id]
        out.print(
            render.printable(f"  [{memory_id}] {render.when(hit.record.occurred_at)}  ")
            + render.one_line(hit.record.text, 90)
        )
    if not answer.known and answer.reason:
        out.print(render.printable(f"  ({answer.reason})"))


@app.command()
def chat(
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="Resume (or start) the named session.", show_default=False),
    ] = None,
    kind: KindOpt = None,
    tag: TagOpt = None,
    model: ModelOpt = None,
    user: NewUserOpt = None,
    db: DbOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Piped input only: one JSON object per line of input.")
    ] = False,
) -> None:
    """Talk with the local model; it remembers, and so does the session.

    Each turn recalls relevant memories. Your message is stored as your episodic
    memory in the session, the reply as the assistant's: chat and consolidation
    never take a reply for your word, recall and ask only with --assistant. Piped input is read line by line (slash
    commands included) and answered once; the command never waits on a
    terminal that is not there.

    Examples:

      mem chat --session trip-planning

      echo "what do I know about Ana?" | mem chat

      printf '/remember I moved to Porto\\n/recall Porto\\n' | mem chat

      echo "where is the spare key?" | mem chat --json
    """
    from ..chat import Chat
    from ..models.registry import preload

    name = datetime.now(UTC).strftime("chat-%Y%m%d-%H%M%S") if session is None else session
    if not name.strip() or len(name) > 100 or any(c in name for c in "\n\r\t"):
        raise UsageError("a session name is 1-100 characters on one line")
    preload()
    mem = _open(db, user, create=True)
    filters = _filters(mem, user, kind, tag, None, None, assistant=False)
    conversation = Chat(mem, lambda: _generator(model), name, filters)
    interactive = sys.stdin is not None and sys.stdin.isatty()
    if interactive and json_out:
        raise UsageError("--json is for piped input: echo 'question' | mem chat --json")
    if interactive:
        _repl(conversation)
    else:
        lines = read_stdin().splitlines() if stdin_is_piped() else []
        for line in lines:
            if line.strip() and not _handle(conversation, line, live=False, json_out=json_out):
                break


def _handle(conversation: Chat, line: str, *, live: bool, json_out: bool = False) -> bool:
    """One line of input; False means leave."""
    out = render.console()
    note = render.console(stderr=True)
    text = line.strip()
    if text.startswith("/"):
        command, _, arg = text.partition(" ")
        if command in ("/exit", "/quit"):
            return False
        output, errors = _slash(conversation, command, arg.strip())
        if json_out:
            render.emit_json({"command": command, "output": output, "errors": errors})
        else:
            for line_out in output:
                out.print(render.printable(line_out))
            for error in errors:
                note.print(render.printable(error))
        return True
    stream = _Stream() if live else None
    if live:
        sys.stdout.write("mem> ")
        sys.stdout.flush()
    reply = conversation.respond(text, on_text=stream)
    if json_out:
        render.emit_json(
            {
                "session": conversation.session,
                "message": text,
                "reply": reply.text,
                "turn_id": reply.turn_id,
                "saved": [{"id": i, "text": fact} for i, fact in reply.saved],
                "searched": reply.searched,
                "memories": [h.record.id for h in reply.memories],
            }
        )
        return True
    if stream is not None and stream.started:
        sys.stdout.write("\n")
    else:
        out.print(render.printable(reply.text, lines=True))
    if reply.searched is not None:
        note.print(render.printable(f"  (searched memory for: {reply.searched})"))
    for memory_id, fact in reply.saved:
        note.print(render.printable(f"  Saved {memory_id}: ") + render.one_line(fact, 80))
    return True


def _slash(conversation: Chat, command: str, arg: str) -> tuple[list[str], list[str]]:
    """A slash command -> (lines for stdout, lines for stderr)."""
    if command == "/help":
        return HELP_TEXT.splitlines(), []
    if command == "/remember":
        if not arg:
            return [], ["Usage: /remember TEXT"]
        from ..records import NewMemory

        [result] = conversation.memory.remember([NewMemory(arg, user=conversation.user)])
        verb = "Remembered" if result.status == "added" else "Already known"
        return [f"{verb} {result.id}: {render.one_line(result.text, 80)}"], []
    if command == "/recall":
        if not arg:
            return [], ["Usage: /recall QUERY"]
        hits = conversation.memory.recall(arg, conversation.filters, k=5)
        if not hits:
            return ["No memories match."], []
        return [
            f"  [{hit.record.id}] {render.when(hit.record.occurred_at)}  {render.one_line(hit.record.text, 80)}"
            for hit in hits
        ], []
    if command == "/forget":
        if not arg:
            return [], ["Usage: /forget ID"]
        from ..errors import NotFound

        try:
            record = conversation.memory.get(arg)
        except NotFound as exc:
            return [], [f"Error: {exc}"]
        if record.user != conversation.user:
            return [], [f"Error: no memory with id {arg!r}"]
        report = conversation.memory.forget([record.id])
        made = f" and {len(report.derived)} made from it" if report.derived else ""
        return [f"Forgot {record.id}{made}: {render.one_line(record.text, 80)}"], []
    if command == "/session":
        info = conversation.describe()
        lines = [
            f"session {info['session']}: {info['turns_stored']} turns stored, {info['turns_in_window']} in the window"
        ]
        if info["working_memory_tokens"] is not None:
            lines.append(f"working memory: {info['working_memory_tokens']} tokens")
        lines.append(f"summary: {info['summary'] or '(none yet)'}")
        return lines, []
    return [], [f"Unknown command {command}: /help lists them"]


HELP_TEXT = """/remember TEXT   store a memory
/recall QUERY    search your memories
/forget ID       forget a memory
/session         this session: name, turns, summary, working-memory size
/help            this help
/exit            leave (Ctrl-D works too)
Anything else is a message to the assistant."""


def _repl(conversation: Chat) -> None:
    from ..paths import data_dir, ensure_private_dir

    history = _readline_history(ensure_private_dir(data_dir()) / "chat_history")
    verb = "Resumed" if conversation.resumed else "Started"
    render.console(stderr=True).print(
        render.printable(
            f"{verb} session {conversation.session}. /help lists commands, /exit or Ctrl-D leaves."
        )
    )
    try:
        while True:
            try:
                line = input("you> ")
            except KeyboardInterrupt:
                print()
                continue
            except EOFError:
                print()
                return
            try:
                if line.strip() and not _handle(conversation, line, live=True):
                    return
            except InputError as exc:  # this message only (too long, ...): the session goes on
                print(f"\nError: {render.printable(str(exc))}", file=sys.stderr)
    finally:
        history()


def _readline_history(path: Path) -> Any:
    """Load the prompt history and return the function that saves it (0600)."""
    try:
        import readline
    except ImportError:  # not on every platform
        return lambda: None
    try:
        readline.read_history_file(path)
    except OSError:
        pass
    readline.set_history_length(1000)

    def save() -> None:
        try:
            path.touch(mode=0o600, exist_ok=True)
            readline.write_history_file(path)
        except OSError:
            pass

    return save
