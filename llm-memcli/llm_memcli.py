"""memcli's memory in llm: `-f mem:QUERY` puts recalled memories in a prompt, and the
tools mem_recall and mem_remember let any model llm runs search and extend it.

The store and the user are the ones `mem` uses: $MEMCLI_DB (else memory.db in memcli's
data dir) and $MEMCLI_USER (else the login name). llm imports every plugin on each
run, so memcli (its store, llama.cpp) is imported only when a fragment is loaded or a
tool is called. What fails is raised: llm prints a loader's error as one line and stops
before the prompt is sent, and gives a tool's error to the model as the tool's result.
"""

import inspect
import json
from typing import TYPE_CHECKING, Any, Literal

import llm

if TYPE_CHECKING:
    from memcli.memory import Memory
    from memcli.records import Hit

FRAGMENT_K = 5  # memories a fragment holds
MAX_K = 50  # the most mem_recall returns
SOURCE = "llm"  # the `source` of what mem_remember stores, as `mem list --json` shows it
# memcli.records.KINDS, spelled out: importing memcli here would cost every `llm` run
# (tests/test_llm_plugin.py checks the two agree).
Kind = Literal["episodic", "semantic", "procedural"]


@llm.hookimpl
def register_fragment_loaders(register: Any) -> None:
    register("mem", mem_fragment)


@llm.hookimpl
def register_tools(register: Any) -> None:
    register(mem_recall)
    register(mem_remember)


def mem_fragment(query: str) -> llm.Fragment:
    """The memories memcli recalls for a query: -f mem:"where is the spare key"

    Searches the store `mem` uses ($MEMCLI_DB, else memory.db in memcli's data dir)
    as $MEMCLI_USER (else the login name), by words and by meaning, and puts the
    5 best matches in the prompt, each with its id and date.
    """
    text = " ".join(query.split())
    if not text:
        raise ValueError('say what to recall: -f mem:"where is the spare key"')
    # No store is an error, not an empty fragment: a prompt sent without the memories
    # asked for would be answered as if there were none.
    with _open(create=False) as memory:
        hits = memory.recall(text, k=FRAGMENT_K, touch=True)
    return llm.Fragment(fragment_text(text, hits), f"mem:{text}")


def fragment_text(query: str, hits: "list[Hit]") -> str:
    """Recalled memories as a model reads them: one line each, best first, and a blank
    line that sets them apart from the prompt that follows."""
    quoted = json.dumps(query, ensure_ascii=False)
    if not hits:
        return f"No memories in memcli match {quoted}.\n"
    lines = [f"Memories recalled from memcli for {quoted}, best match first:"]
    for hit in hits:
        record = hit.record
        lines.append(f"[{record.id}] ({record.occurred_at[:10]}, {record.kind}) {_line(record.text)}")
    return "\n".join(lines) + "\n"


def mem_recall(query: str, k: int = 5) -> str:
    """Search the user's personal memory for what they told you or noted before.

    Call it before you answer a question about the user: their life, the people,
    pets and places they know, their plans, habits and preferences, how they like
    things done. It matches by meaning and by words, so ask in plain words
    ("where is the spare key", "Ana's birthday"). Returns a JSON list of at most
    k memories (1 to 50), best first, each {id, score, date, kind, tags, text}:
    score from 0 to 1 (higher matches better), date when it happened (YYYY-MM-DD),
    kind episodic (an event), semantic (a fact) or procedural (how to do
    something). An empty list means nothing matched.
    """
    count = _count(k)
    with _open(create=False) as memory:
        hits = memory.recall(query, k=count, touch=True)
    return _json(
        [
            {
                "id": hit.record.id,
                "score": round(hit.score, 3),
                "date": hit.record.occurred_at[:10],
                "kind": hit.record.kind,
                "tags": hit.record.tags,
                "text": hit.record.text,
            }
            for hit in hits
        ]
    )


def mem_remember(
    text: str, kind: Kind = "episodic", tags: list[str] | None = None, occurred_at: str | None = None
) -> str:
    """Store something about the user in their personal memory, for later conversations.

    Call it when the user tells you something that will matter later: a fact
    about them or the people and things in their life, something that happened,
    a plan, or how they like things done. Write text as one full sentence that
    makes sense on its own ("Ana's birthday is on 3 March", not "hers is then").
    kind: "episodic" (something that happened, the default), "semantic" (a
    lasting fact) or "procedural" (how to do something, a preference). tags: a
    few short labels, like ["family"]. occurred_at: when it happened, if not
    now ("2024-05-01", "last monday", "3 days ago"). Storing the same text
    again changes nothing. Returns a JSON list of {id, status}: status "added",
    or "exists" when it was already stored.
    """
    from memcli.memory import validate
    from memcli.records import NewMemory

    if isinstance(tags, str):  # one tag, given bare
        tags = [tags]
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise ValueError("tags must be a list of strings")
    item = NewMemory(text, kind=kind, tags=list(tags or []), occurred_at=occurred_at or None, source=SOURCE)
    validate([item])  # before a store is made for it
    with _open(create=True) as memory:
        results = memory.remember([item])
    return _json([{"id": result.id, "status": result.status} for result in results])


# llm shows a loader's and a tool's docstring, and sends a tool's to the model, as written:
# without the indentation of the source.
for _documented in (mem_fragment, mem_recall, mem_remember):
    _documented.__doc__ = inspect.getdoc(_documented)


def _open(*, create: bool) -> "Memory":
    """The store and user `mem` would use (memcli's own defaults and environment)."""
    from pathlib import Path

    from memcli.memory import Memory
    from memcli.paths import db_location

    where = db_location()
    if not create and isinstance(where, Path) and not where.exists():
        # memcli's own message names `mem`'s --db option, which llm has not
        raise FileNotFoundError(
            f"no memcli store at {where}: store a memory first (mem remember ...), or point MEMCLI_DB at one"
        )
    return Memory(where, create=create)


def _count(k: Any) -> int:
    """k as a model may send it (3 or "3"), within 1 to MAX_K."""
    try:
        count = int(k)
    except (TypeError, ValueError):
        count = 0
    if isinstance(k, bool) or not 1 <= count <= MAX_K:
        raise ValueError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    return count


def _line(text: str) -> str:
    return " ".join(text.split())


def _json(value: Any) -> str:
    # llm's own json.dumps would escape every non-ASCII letter of a memory
    return json.dumps(value, ensure_ascii=False)
