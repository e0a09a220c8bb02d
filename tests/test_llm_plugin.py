"""The llm plugin (llm-memcli/): `llm -f mem:QUERY` and the mem_recall / mem_remember tools,
run through the real `llm` CLI with its `echo` debug model (llm-echo), offline."""

import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from memcli.memory import Memory
from memcli.records import KINDS, NewMemory

pytestmark = pytest.mark.model
BIN = Path(sys.executable).parent
KEY = "The spare house key is under the blue flower pot"
BIRTHDAY = "Ana's birthday is on 3 March; she likes orchids"
CAFE = "Our favourite café is near São Bento station in Porto"


@pytest.fixture(scope="module", autouse=True)
def _plugin_installed() -> None:
    """llm and the plugin in this environment, as `make test` installs them."""
    for name in ("llm", "llm-echo", "llm-memcli"):
        try:
            distribution(name)
        except PackageNotFoundError:
            message = f"{name} is not installed: run `make test` (or pip install -e llm-memcli)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)


@pytest.fixture(autouse=True)
def llm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where llm keeps its keys, settings and logs in this test: never the real ones."""
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "llm"))
    return tmp_path / "llm"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store `mem` and the plugin use in this test ($MEMCLI_DB)."""
    path = tmp_path / "memory.db"
    monkeypatch.setenv("MEMCLI_DB", str(path))
    return path


@pytest.fixture
def memories(db: Path, real_embedder) -> dict[str, str]:
    """Three memories of the user `tester` (conftest's MEMCLI_USER): text -> id."""
    with Memory(db, embedder=real_embedder) as mem:
        results = mem.remember(
            [
                NewMemory(KEY, tags=["home"], occurred_at="2024-05-01"),
                NewMemory(BIRTHDAY, kind="semantic", tags=["family"]),
                NewMemory(CAFE, kind="semantic"),
            ]
        )
        # another user's memory, which no recall as tester may show
        mem.remember([NewMemory("The spare key of the office is in the top drawer", user="someone")])
    return {r.text: r.id for r in results}


def run(command: str, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    """`llm` or `mem` from this environment, as a user runs it."""
    done = subprocess.run(
        [str(BIN / command), *args], capture_output=True, text=True, timeout=120, env={**os.environ}
    )
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def echoed(stdout: str) -> list[dict]:
    """What the echo model saw, one object per response of the chain (printed one after another)."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while at < len(stdout):
        if stdout[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(stdout, at)
        found.append(value)
    return found


def tool_results(*calls: dict) -> dict[str, list]:
    """Have the echo model call these tools; each tool's outputs, in order."""
    names = sorted({call["name"] for call in calls})
    tools = [arg for name in names for arg in ("-T", name)]
    done = run("llm", "-m", "echo", *tools, json.dumps({"tool_calls": list(calls)}))
    outputs: dict[str, list] = {}
    for result in echoed(done.stdout)[-1]["tool_results"]:
        outputs.setdefault(result["name"], []).append(result["output"])
    return outputs


def memory_lines(prompt: str) -> list[str]:
    return [line for line in prompt.splitlines() if line.startswith("[")]


def test_llm_lists_the_plugin_its_loader_and_its_tools() -> None:
    plugins = {p["name"]: p for p in json.loads(run("llm", "plugins").stdout)}
    assert set(plugins["llm-memcli"]["hooks"]) == {"register_fragment_loaders", "register_tools"}

    loaders = run("llm", "fragments", "loaders").stdout
    assert loaders.startswith("mem:\n") or "\nmem:\n" in loaders
    assert '  The memories memcli recalls for a query: -f mem:"where is the spare key"' in loaders
    assert "\n    " not in loaders  # shown without the source's indentation

    tools = {t["name"]: t for t in json.loads(run("llm", "tools", "list", "--json").stdout)["tools"]}
    ours = {name for name, tool in tools.items() if tool["plugin"] == "memcli"}
    assert ours == {"mem_recall", "mem_remember"}  # no forget: erasing is the user's to ask for
    assert tools["mem_recall"]["description"].startswith("Search the user's personal memory")
    assert tools["mem_recall"]["arguments"]["required"] == ["query"]
    remember = tools["mem_remember"]["arguments"]
    assert remember["required"] == ["text"]
    assert remember["properties"]["kind"]["enum"] == list(KINDS)  # the plugin spells memcli's kinds out
    assert "  Call it when the user tells you" in run("llm", "tools").stdout


def test_fragment_puts_the_recalled_memories_in_the_prompt(memories: dict[str, str], db: Path) -> None:
    done = run("llm", "-m", "echo", "-f", "mem:where is the spare key", "hi")
    prompt = echoed(done.stdout)[0]["prompt"]
    assert prompt.startswith(
        'Memories recalled from memcli for "where is the spare key", best match first:\n'
    )
    recalled, asked = prompt.split("\n\n")  # a blank line between the memories and the prompt
    assert asked == "hi"
    lines = memory_lines(recalled)
    assert len(lines) == len(recalled.splitlines()) - 1  # one line each
    assert lines[0] == f"[{memories[KEY]}] (2024-05-01, episodic) {KEY}"
    assert not any("office" in line for line in lines)  # another user's
    assert len(lines) <= 5

    # llm logged the fragment under its source; the recall counts as one, as `mem recall` does
    logged = json.loads(run("llm", "fragments", "list", "--json").stdout)
    assert [f["source"] for f in logged] == ["mem:where is the spare key"]
    listed = json.loads(run("mem", "list", "--json").stdout)["results"]
    assert {r["text"]: r["recalled"] for r in listed}[KEY] == 1


def test_fragment_keeps_the_text_as_written(memories: dict[str, str]) -> None:
    prompt = echoed(run("llm", "-m", "echo", "-f", "mem:  café   in Porto ", "where?").stdout)[0]["prompt"]
    assert prompt.startswith('Memories recalled from memcli for "café in Porto"')
    assert f"[{memories[CAFE]}]" in memory_lines(prompt)[0] and "São Bento" in prompt


def test_fragment_with_no_match_says_so(memories: dict[str, str]) -> None:
    done = run("llm", "-m", "echo", "-f", "mem:quantum chromodynamics lecture notes", "hi")
    assert echoed(done.stdout)[0]["prompt"] == (
        'No memories in memcli match "quantum chromodynamics lecture notes".\n\nhi'
    )


def test_fragment_without_a_store_is_an_error(db: Path) -> None:
    done = run("llm", "-m", "echo", "-f", "mem:where is the spare key", "hi", code=1)
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"Error: Could not load fragment mem:where is the spare key: no memcli store at {db}: "
        "store a memory first (mem remember ...), or point MEMCLI_DB at one"
    )
    assert not db.exists()  # recalling makes no store


def test_fragment_needs_a_query(db: Path) -> None:
    done = run("llm", "-m", "echo", "-f", "mem: ", "hi", code=1)
    assert 'say what to recall: -f mem:"where is the spare key"' in done.stderr


def test_mem_recall_tool_returns_the_best_matches(memories: dict[str, str]) -> None:
    outputs = tool_results(
        {"name": "mem_recall", "arguments": {"query": "where is the spare key", "k": 2}},
        {"name": "mem_recall", "arguments": {"query": "where is our favourite café?", "k": "1"}},
    )
    first, second = (json.loads(output) for output in outputs["mem_recall"])
    assert 1 <= len(first) <= 2
    assert first[0] == {
        "id": memories[KEY],
        "score": first[0]["score"],
        "date": "2024-05-01",
        "kind": "episodic",
        "tags": ["home"],
        "text": KEY,
    }
    assert 0 < first[0]["score"] <= 1
    assert [hit["id"] for hit in second] == [memories[CAFE]]
    # the text as written, not \u escapes: fewer tokens, and what the model reads
    assert "São Bento" in outputs["mem_recall"][1]


@pytest.mark.usefixtures("real_embedder")
def test_tool_errors_reach_the_model(db: Path) -> None:
    outputs = tool_results(
        {"name": "mem_recall", "arguments": {"query": "spare key"}},
        {"name": "mem_remember", "arguments": {"text": "A note", "kind": "diary"}},
    )
    assert outputs["mem_recall"] == [
        f"Error: no memcli store at {db}: store a memory first (mem remember ...), or point MEMCLI_DB at one"
    ]
    assert outputs["mem_remember"] == [
        "Error: unknown kind 'diary': use one of episodic, semantic, procedural"
    ]
    assert not db.exists()  # neither made a store
    outputs = tool_results(
        {"name": "mem_remember", "arguments": {"text": "The boiler is serviced in October"}},
        {"name": "mem_recall", "arguments": {"query": "boiler", "k": 0}},
        {"name": "mem_recall", "arguments": {"query": "boiler", "k": 51}},
        {"name": "mem_recall", "arguments": {"query": "  "}},
    )
    assert json.loads(outputs["mem_remember"][0])[0]["status"] == "added"
    assert outputs["mem_recall"] == [
        "Error: k must be a whole number from 1 to 50, not 0",
        "Error: k must be a whole number from 1 to 50, not 51",
        "Error: empty query",
    ]


@pytest.mark.usefixtures("real_embedder")
def test_mem_remember_tool_stores_a_memory(db: Path) -> None:
    text = "Ana moved to Porto in May 2024"
    call = {"text": text, "kind": "semantic", "tags": ["family", "ana"], "occurred_at": "2024-05-01"}
    outputs = tool_results(
        {"name": "mem_remember", "arguments": call},
        {"name": "mem_recall", "arguments": {"query": "where does Ana live now?"}},
    )
    [stored] = json.loads(outputs["mem_remember"][0])
    assert stored["status"] == "added"
    assert [hit["id"] for hit in json.loads(outputs["mem_recall"][0])] == [stored["id"]]

    [listed] = json.loads(run("mem", "list", "--json").stdout)["results"]
    assert (listed["id"], listed["text"], listed["kind"], listed["tags"]) == (
        stored["id"],
        text,
        "semantic",
        ["ana", "family"],
    )
    assert (listed["user"], listed["source"], listed["occurred_at"][:10]) == ("tester", "llm", "2024-05-01")

    # the same text again changes nothing; one tag may come bare
    outputs = tool_results(
        {"name": "mem_remember", "arguments": {"text": text, "tags": "x", "kind": "semantic"}}
    )
    assert json.loads(outputs["mem_remember"][0]) == [{"id": stored["id"], "status": "exists"}]
    assert len(json.loads(run("mem", "list", "--json").stdout)["results"]) == 1


def test_importing_the_plugin_imports_nothing_of_memcli() -> None:
    """llm imports every plugin on each run: the plugin must cost that run nothing heavy."""
    code = (
        "import sys, llm; before = set(sys.modules); import llm_memcli; "
        "print(sorted(set(sys.modules) - before))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['llm_memcli']"
