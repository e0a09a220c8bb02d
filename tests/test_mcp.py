"""`mem mcp`: the memory as MCP tools over stdio (JSON-RPC 2.0, one message per line)."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memcli.mcp import PROTOCOL_VERSIONS, Server, serve
from memcli.memory import Memory
from memcli.models.embed import FakeEmbedder
from memcli.records import NewMemory


@pytest.fixture
def server(db_path: Path):
    memories: list[Memory] = []

    def open_memory() -> Memory:
        memories.append(Memory(db_path, embedder=FakeEmbedder(), user="tester"))
        return memories[-1]

    srv = Server(open_memory)
    yield srv
    srv.close()


def request(method: str, params: dict | None = None, id: int = 1) -> dict:
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def call(server: Server, tool: str, **arguments) -> dict:
    response = server.handle(request("tools/call", {"name": tool, "arguments": arguments}))
    assert "result" in response, response
    return response["result"]


def test_handshake_negotiates_the_protocol_version(server: Server) -> None:
    for asked in PROTOCOL_VERSIONS:
        result = server.handle(request("initialize", {"protocolVersion": asked, "capabilities": {}}))[
            "result"
        ]
        assert result["protocolVersion"] == asked
    result = server.handle(request("initialize", {"protocolVersion": "1999-01-01"}))["result"]
    assert result["protocolVersion"] == PROTOCOL_VERSIONS[0]
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"]["name"] == "memcli"
    assert server.handle({"jsonrpc": "2.0", "method": "notifications/initialized"}) is None
    assert server.handle(request("ping")) == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_tools_are_listed_with_their_schemas(server: Server) -> None:
    tools = {t["name"]: t for t in server.handle(request("tools/list"))["result"]["tools"]}
    assert set(tools) == {"remember", "recall", "forget", "list_memories", "entities", "about", "profile"}
    assert tools["remember"]["inputSchema"]["required"] == ["text"]
    assert tools["recall"]["annotations"]["readOnlyHint"] is True
    assert tools["forget"]["annotations"]["destructiveHint"] is True


def test_remember_recall_list_forget(server: Server) -> None:
    stored = call(server, "remember", text="The spare key is under the blue flower pot", tags=["home"])
    assert stored["isError"] is False
    key_id = stored["structuredContent"]["results"][0]["id"]
    assert stored["content"][0]["text"] == f"Remembered {key_id}: The spare key is under the blue flower pot"
    again = call(server, "remember", text="The spare key is under the blue flower pot")
    assert again["content"][0]["text"].startswith(f"Already known {key_id}")
    call(
        server,
        "remember",
        text="Deploy the blog with make publish",
        kind="procedural",
        occurred_at="2024-02-01",
    )

    found = call(server, "recall", query="where is the spare key", k=2)
    assert found["structuredContent"]["results"][0]["id"] == key_id
    assert found["content"][0]["text"].splitlines()[0].startswith(f"[{key_id}] (")
    assert server.memory.get(key_id).recalled == 1  # an agent's recall counts as use
    how = call(server, "recall", query="blog", kind="procedural", since="2024-01-01", until="2024-03-01")
    assert [r["text"] for r in how["structuredContent"]["results"]] == ["Deploy the blog with make publish"]
    assert (
        call(server, "recall", query="blog", until="2023-01-01")["content"][0]["text"] == "No memories match."
    )

    weak = call(server, "recall", query="quantum physics lecture")
    assert weak["content"][0]["text"].startswith("No memory matches well")
    every = call(server, "recall", query="quantum physics lecture", min_score=0)["structuredContent"][
        "results"
    ]
    assert len(every) == 2 and all(0 <= r["score"] < 0.15 for r in every)

    listed = call(server, "list_memories", limit=1)["structuredContent"]["results"]
    assert [r["id"] for r in listed] == [key_id]  # newest first

    gone = call(server, "forget", ids=[key_id])
    assert gone["content"][0]["text"] == "Forgot 1 memory." and gone["structuredContent"] == {
        "forgotten": [key_id],
        "derived": [],
    }
    assert key_id not in {r["id"] for r in call(server, "list_memories")["structuredContent"]["results"]}


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("remember", {}, "needs 'text'"),
        ("remember", {"text": "   "}, "empty"),
        ("remember", {"text": "x", "kind": "dream"}, "kind is one of"),
        ("remember", {"text": "x", "importance": 9}, "importance must be from 1 to 5"),
        ("remember", {"text": "x", "importance": True}, "whole number"),
        ("remember", {"text": "x", "tags": "home"}, "list of strings"),
        ("remember", {"text": "x", "colour": "red"}, "no argument 'colour'"),
        ("remember", {"text": "x", "occurred_at": "the day after never"}, "bad date"),
        ("remember", {"text": "x", "ttl": "-3d"}, "bad duration"),
        ("recall", {"query": 42}, "query must be a string"),
        ("recall", {"query": "x", "k": 0}, "k must be from 1 to 50"),
        ("forget", {"ids": []}, "cannot be empty"),
        ("forget", {"ids": ["zzzzzzzz"]}, "no memory"),
    ],
)
def test_bad_arguments_are_tool_errors_the_agent_can_read(server: Server, tool, arguments, message) -> None:
    result = call(server, tool, **arguments)
    assert result["isError"] is True and message in result["content"][0]["text"], result
    assert server.memory.store.counts()["rows"] == 0


def test_another_users_memory_cannot_be_forgotten(server: Server, db_path: Path) -> None:
    other = Memory(db_path, embedder=FakeEmbedder(), user="ana")
    [theirs] = other.remember([NewMemory("Ana's private note")])
    result = call(server, "forget", ids=[theirs.id])
    assert result["isError"] is True and "no memory" in result["content"][0]["text"]
    assert other.get(theirs.id).text == "Ana's private note"
    assert call(server, "recall", query="private note")["structuredContent"]["results"] == []
    other.close()


def test_protocol_errors(server: Server) -> None:
    assert server.handle([1, 2])["error"]["code"] == -32600
    assert server.handle({"id": 3, "method": "ping"})["error"]["code"] == -32600  # no "jsonrpc"
    assert server.handle(request("resources/list", id=4)) == {
        "jsonrpc": "2.0",
        "id": 4,
        "error": {"code": -32601, "message": "method not found: resources/list"},
    }
    assert server.handle(request("tools/call", {"name": "rm -rf"}))["error"]["code"] == -32602
    assert server.handle(request("tools/call", {"name": ["recall"]}))["error"]["code"] == -32602
    assert (
        server.handle(request("tools/call", {"name": "recall", "arguments": [1]}))["error"]["code"] == -32602
    )
    assert server.handle(request("tools/list", params=[]))["error"]["code"] == -32602


def test_serve_answers_line_by_line_and_survives_anything(server: Server, monkeypatch) -> None:
    lines = [
        json.dumps(request("ping", id=1)).encode(),
        b"",
        b"{not json",
        b"\xff\xfe",
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode(),
        json.dumps(request("tools/call", {"name": "list_memories", "arguments": {}}, id=2)).encode(),
        json.dumps(request("ping", id=3)).encode(),
    ]
    monkeypatch.setattr(Server, "_tool_list_memories", lambda self, **kw: 1 / 0)
    out = io.StringIO()
    serve(server, lines, out)
    responses = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r.get("id") for r in responses] == [1, None, None, 2, 3]
    assert [r["error"]["code"] for r in responses[1:3]] == [-32700, -32700]
    assert responses[3]["error"] == {"code": -32603, "message": "ZeroDivisionError: division by zero"}
    assert responses[4]["result"] == {}


@pytest.mark.usefixtures("real_embedder")
def test_mem_mcp_over_real_pipes(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    messages = [
        request(
            "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}
        ),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        request(
            "tools/call", {"name": "remember", "arguments": {"text": "Ana's birthday is on 3 March"}}, id=2
        ),
        request("tools/call", {"name": "recall", "arguments": {"query": "when is Ana's birthday?"}}, id=3),
    ]
    exe = Path(sys.executable).with_name("mem")
    done = subprocess.run(
        [str(exe), "mcp", "--db", str(db)],
        input="".join(json.dumps(m) + "\n" for m in messages).encode(),
        capture_output=True,
        env={**os.environ},
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    responses = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["id"] for r in responses] == [1, 2, 3]
    assert responses[0]["result"]["protocolVersion"] == "2025-06-18"
    assert responses[2]["result"]["structuredContent"]["results"][0]["text"] == "Ana's birthday is on 3 March"
    assert (
        json.loads(
            subprocess.run(
                [str(exe), "list", "--db", str(db), "--json"], capture_output=True, timeout=60
            ).stdout
        )["results"][0]["source"]
        == "mcp"
    )


def serve_lines(server: Server, lines: list[bytes]) -> list:
    """Serve raw input lines; every output line must be ASCII JSON (no NaN, no raw surrogates)."""
    out = io.StringIO()
    serve(server, lines, out)
    text = out.getvalue()
    assert text.isascii() and (text == "" or text.endswith("\n")), text
    return [json.loads(line, parse_constant=pytest.fail) for line in text.splitlines()]


PING = b'{"jsonrpc": "2.0", "id": 99, "method": "ping"}'


def test_lone_surrogates_neither_kill_the_server_nor_leak_into_the_output(server: Server) -> None:
    responses = serve_lines(
        server,
        [
            b'{"jsonrpc": "2.0", "id": 1, "method": "x\\ud800"}',
            b'{"jsonrpc": "2.0", "id": "\\udc00", "method": "ping"}',
            b'{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "remember", '
            b'"arguments": {"text": "x", "kind": "\\ud800"}}}',
            PING,
        ],
    )
    assert [r["id"] for r in responses] == [1, "\udc00", 2, 99]  # the id comes back as it was sent
    assert responses[0]["error"] == {"code": -32601, "message": "method not found: x\\ud800"}
    assert responses[1]["result"] == {}
    assert (
        responses[2]["result"]["isError"] is True
        and "\\ud800" in responses[2]["result"]["content"][0]["text"]
    )
    assert responses[3]["result"] == {}


@pytest.mark.parametrize("bad_id", ["NaN", "Infinity", "-Infinity", "1e999", "true", "false", "{}", "[1]"])
def test_ids_that_are_not_strings_or_finite_numbers_are_invalid(server: Server, bad_id: str) -> None:
    line = b'{"jsonrpc": "2.0", "id": %s, "method": "ping"}' % bad_id.encode()
    no_version = b'{"id": %s, "method": "ping"}' % bad_id.encode()  # invalid twice over
    responses = serve_lines(server, [line, no_version, PING])
    assert [(r["id"], r.get("error", {}).get("code")) for r in responses] == [
        (None, -32600),
        (None, -32600),
        (99, None),
    ]


def test_valid_ids_are_echoed(server: Server) -> None:
    for request_id in ["abc", "", 0, -7, 2**70, 1.5, None]:
        assert server.handle({"jsonrpc": "2.0", "id": request_id, "method": "ping"}) == {
            "jsonrpc": "2.0",
            "id": request_id,
            "result": {},
        }
    assert server.handle({"jsonrpc": "2.0", "id": float("nan"), "method": "ping"})["id"] is None


def test_batches_are_answered_with_an_array(server: Server) -> None:
    batch = [
        request("ping", id=1),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        request("resources/list", id="two"),
        7,
        request("tools/list", id=3),
    ]
    notifications = [{"jsonrpc": "2.0", "method": "notifications/initialized"}] * 2
    responses = serve_lines(
        server,
        [json.dumps(batch).encode(), json.dumps(notifications).encode(), b"[]", b"[[]]", PING],
    )
    assert len(responses) == 4  # the batch of notifications is not answered at all
    answers, empty, nested, ping = responses
    assert [(r["id"], r.get("error", {}).get("code")) for r in answers] == [
        (1, None),
        ("two", -32601),
        (None, -32600),
        (3, None),
    ]
    assert answers[3]["result"]["tools"]
    assert empty == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "invalid request: empty batch"},
    }
    assert [r["error"]["code"] for r in nested] == [-32600]
    assert ping["id"] == 99


def test_a_failure_in_a_batch_answers_only_its_own_request(server: Server, monkeypatch) -> None:
    monkeypatch.setattr(Server, "_tool_list_memories", lambda self, **kw: 1 / 0)
    batch = [request("tools/call", {"name": "list_memories"}, id=1), request("ping", id=2)]
    [answers] = serve_lines(server, [json.dumps(batch).encode()])
    assert answers[0]["error"]["code"] == -32603 and answers[1] == {"jsonrpc": "2.0", "id": 2, "result": {}}


def test_input_nested_too_deep_is_a_parse_error(server: Server) -> None:
    responses = serve_lines(server, [b"[" * 100_000, b'{"a": ' * 100_000, PING])
    assert [r["error"]["code"] for r in responses[:2]] == [-32700, -32700]
    assert responses[2]["id"] == 99


def test_a_response_that_is_not_json_becomes_an_internal_error(server: Server, monkeypatch) -> None:
    monkeypatch.setattr(Server, "_tool_list_memories", lambda self, **kw: ("x", {"score": float("nan")}))
    monkeypatch.setattr(Server, "_tool_recall", lambda self, **kw: ("x", {"when": object()}))
    responses = serve_lines(
        server,
        [
            json.dumps(request("tools/call", {"name": "list_memories"}, id=1)).encode(),
            json.dumps(request("tools/call", {"name": "recall", "arguments": {"query": "q"}}, id=2)).encode(),
            PING,
        ],
    )
    assert [(r["id"], r.get("error", {}).get("code")) for r in responses] == [
        (1, -32603),
        (2, -32603),
        (99, None),
    ]


def test_an_exception_that_cannot_be_printed_is_still_answered(server: Server, monkeypatch) -> None:
    class Odd(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def fail(self, **kw):
        raise Odd

    monkeypatch.setattr(Server, "_tool_list_memories", fail)
    responses = serve_lines(
        server, [json.dumps(request("tools/call", {"name": "list_memories"}, id=1)).encode(), PING]
    )
    assert responses[0]["error"] == {"code": -32603, "message": "Odd"} and responses[1]["id"] == 99


def test_a_failed_write_does_not_stop_the_server(server: Server) -> None:
    class Flaky(io.StringIO):
        failures = 1

        def write(self, text: str) -> int:
            if self.failures:
                self.failures -= 1
                raise BrokenPipeError
            return super().write(text)

    out = Flaky()
    serve(server, [json.dumps(request("ping", id=1)).encode(), PING], out)
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [99]


@pytest.mark.usefixtures("real_embedder")
def test_mem_mcp_survives_a_lone_surrogate(tmp_path: Path) -> None:
    lines = [
        '{"jsonrpc":"2.0","id":1,"method":"x\\ud800"}',
        '{"jsonrpc":"2.0","id":NaN,"method":"ping"}',
        '[{"jsonrpc":"2.0","id":2,"method":"ping"}]',
        "[" * 100_000,
        '{"jsonrpc":"2.0","id":3,"method":"ping"}',
    ]
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mem")), "mcp", "--db", str(tmp_path / "agent.db")],
        input="".join(line + "\n" for line in lines).encode(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    assert done.stdout.isascii()
    responses = [json.loads(line, parse_constant=pytest.fail) for line in done.stdout.decode().splitlines()]
    assert responses[0]["id"] == 1 and responses[0]["error"]["code"] == -32601
    assert responses[1] == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "invalid request: id must be a string, a number or null"},
    }
    assert responses[2] == [{"jsonrpc": "2.0", "id": 2, "result": {}}]
    assert responses[3]["error"]["code"] == -32700
    assert responses[4] == {"jsonrpc": "2.0", "id": 3, "result": {}}


def test_entities_about_and_profile(server: Server, db_path: Path) -> None:
    from test_entities import consolidate

    call(server, "remember", text="My sister Ana lives in Porto and loves orchids")
    call(server, "remember", text="My dog Rex hates the rain")
    consolidate(server.memory)
    listed = call(server, "entities")
    names = {e["name"] for e in listed["structuredContent"]["results"]}
    assert {"Ana", "Porto", "Rex", "me"} <= names
    assert "Ana (person; 2 memories; also my sister)" in listed["content"][0]["text"]
    people = call(server, "entities", kind="person")["structuredContent"]["results"]
    assert [e["name"] for e in people] == ["Ana"]

    about = call(server, "about", name="my sister")
    assert "now: Ana lives in Porto" in about["content"][0]["text"]
    assert [m["text"] for m in about["structuredContent"]["memories"]][0].startswith("My sister Ana")
    missing = call(server, "about", name="Zeca")
    assert missing["isError"] and "no entity called 'Zeca'" in missing["content"][0]["text"]

    found = call(server, "recall", query="orchids rain", about="Ana", min_score=0)["structuredContent"]
    assert found["results"] and all("Ana" in r["text"] for r in found["results"])

    shown = call(server, "profile")
    fields = {f["field"]: f["value"] for f in shown["structuredContent"]["fields"]}
    assert fields == {"family": "Ana (sister)", "pets": "Rex"}
    assert "family: Ana (sister)" in shown["content"][0]["text"]
