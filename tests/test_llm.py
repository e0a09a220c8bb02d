"""`mem ask` and `mem chat` with the real default generation model (Qwen2.5-Coder-0.5B)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.cli import app
from memcli.errors import ExitStatus

pytestmark = pytest.mark.model
runner = CliRunner()


def mem(*args: str, input: str | None = None, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def run(*args: str, input: bytes | None = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mem")
    return subprocess.run(
        [str(exe), *args],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture
def notes(tmp_path: Path, real_embedder, real_generator) -> tuple[str, dict[str, str]]:
    db = str(tmp_path / "notes.db")
    ids = {}
    for key, text in [
        ("key", "The spare house key is under the blue flower pot"),
        ("ana", "Ana's birthday is on 3 March; she likes orchids"),
        ("cat", "My cat is called Miso and she is three years old"),
        ("blog", "To deploy the blog, run make publish from the site folder"),
    ]:
        ids[key] = json.loads(mem("remember", "--db", db, text, "--json").stdout)["results"][0]["id"]
    return db, ids


def test_ask_answers_with_a_citation(notes) -> None:
    db, ids = notes
    answer = json.loads(mem("ask", "--db", db, "When is Ana's birthday?", "--json").stdout)
    assert answer["known"] is True, answer
    assert "3 march" in answer["answer"].lower() or "march 3" in answer["answer"].lower(), answer
    assert ids["ana"] in answer["cited"]
    assert ids["ana"] in [m["id"] for m in answer["memories"]]


def test_ask_says_it_does_not_know(notes) -> None:
    db, ids = notes
    # The cat's memory is similar (0.46) but not about a dog: the model, shown it,
    # named the cat on one CPU and abstained on another, so it is not shown.
    answer = json.loads(mem("ask", "--db", db, "What is my dog's name?", "--json").stdout)
    assert answer["known"] is False and answer["answer"] == "I don't know.", answer
    assert answer["cited"] == [] and ids["cat"] not in [m["id"] for m in answer["memories"]]
    cat = json.loads(mem("ask", "--db", db, "What is my cat's name?", "--json").stdout)
    assert ids["cat"] in [m["id"] for m in cat["memories"]]  # about a cat, it is shown
    unrelated = json.loads(mem("ask", "--db", db, "Who won the 1966 football world cup?", "--json").stdout)
    assert unrelated["known"] is False and unrelated["reason"] == "no memory is relevant enough"


def test_ask_reads_the_question_from_stdin(notes) -> None:
    db, ids = notes
    done = run("ask", "--db", db, input=b"Where is the spare key?\n")
    assert done.returncode == 0, done.stderr
    assert b"flower pot" in done.stdout and f"[{ids['key']}]".encode() in done.stdout


def test_chat_piped_answers_once_and_exits(notes) -> None:
    db, ids = notes
    done = run("chat", "--db", db, input=b"How old is my cat?\n")
    assert done.returncode == 0, done.stderr
    assert b"three" in done.stdout.lower() or b"3" in done.stdout, done.stdout
    assert run("chat", "--db", db, input=None).returncode == 0  # no stdin at all: returns at once
    scripted = run("chat", "--db", db, "--json", input=b"Where is the spare key?\n")
    assert scripted.returncode == 0, scripted.stderr
    [turn] = [json.loads(line) for line in scripted.stdout.splitlines()]
    assert turn["message"] == "Where is the spare key?" and turn["reply"].strip(), turn
    assert ids["key"] in turn["memories"] and turn["turn_id"]


def test_chat_session_is_resumed(notes) -> None:
    db, _ = notes
    first = run("chat", "--db", db, "--session", "colours", input=b"My favourite colour is teal.\n")
    assert first.returncode == 0, first.stderr
    second = run("chat", "--db", db, "--session", "colours", input=b"What is my favourite colour?\n")
    assert second.returncode == 0, second.stderr
    assert b"teal" in second.stdout.lower(), second.stdout
    stored = json.loads(mem("list", "--db", db, "--json", "-n", "0").stdout)["results"]
    turns = [r for r in stored if r["doc_id"] == "chat:colours"]
    turns.sort(key=lambda t: t["chunk"])
    # Each message is the user's, each reply the assistant's.
    assert [(t["chunk"], t["role"]) for t in turns] == [
        (1, "user"),
        (2, "assistant"),
        (3, "user"),
        (4, "assistant"),
    ]
    assert turns[0]["text"] == "My favourite colour is teal." and turns[0]["kind"] == "episodic"


def test_missing_model_names_the_command_that_installs_it(notes) -> None:
    db, _ = notes
    result = mem(
        "ask", "--db", db, "anything?", "--model", "qwen2.5-coder-1.5b-instruct", code=ExitStatus.MODEL
    )
    assert "mem models install qwen2.5-coder-1.5b-instruct" in result.stderr
    done = run("chat", "--db", db, input=b"hello\n", env={"MEMCLI_MODEL": "/nowhere/model.gguf"})
    assert (
        done.returncode == ExitStatus.MODEL
        and b"not found" in done.stderr
        and b"Traceback" not in done.stderr
    )


def test_a_chat_message_too_long_for_the_window_is_refused_and_the_session_goes_on(notes) -> None:
    db, _ = notes
    long_line = "please tell me about the spare key location " * 300  # ~2,700 tokens
    refused = run("chat", "--db", db, "--session", "big", input=long_line.encode() + b"\n")
    assert refused.returncode == ExitStatus.INPUT, refused.stderr
    assert b"a chat message holds at most 1,024" in refused.stderr and b"Traceback" not in refused.stderr
    after = run("chat", "--db", db, "--session", "big", input=b"Where is the spare key?\n")
    assert after.returncode == 0 and after.stdout.strip(), after.stderr
