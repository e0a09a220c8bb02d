"""`mem mcp`: the memory as MCP tools over stdio (JSON-RPC 2.0, one message per line)."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from memcli import __version__, mcp, profile
from memcli.mcp import HANDSHAKE_VERSIONS, Server, output_schemas, serve
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
    for asked in HANDSHAKE_VERSIONS:
        result = server.handle(request("initialize", {"protocolVersion": asked, "capabilities": {}}))[
            "result"
        ]
        assert result["protocolVersion"] == asked
    # 2026-07-28 has no handshake: asked for by initialize, the newest version that has one answers
    for asked in ("1999-01-01", "2026-07-28"):
        result = server.handle(request("initialize", {"protocolVersion": asked}))["result"]
        assert result["protocolVersion"] == "2025-11-25"
    assert result["capabilities"] == {
        "tools": {"listChanged": False},
        "resources": {"subscribe": False, "listChanged": False},
    }
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
    key_id = stored["structuredContent"]["ids"][0]
    assert stored["content"][0]["text"] == f"Remembered {key_id}."
    assert stored["structuredContent"] == {
        "ids": [key_id],
        "added": 1,
        "existing": 0,
        "existing_ids": [],
        "doc_id": None,
    }
    again = call(server, "remember", text="The spare key is under the blue flower pot")
    assert again["content"][0]["text"] == f"Already known {key_id}."
    assert again["structuredContent"]["existing_ids"] == [key_id]
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
        ("recall", {"query": "x", "min_score": "high"}, "min_score must be a number"),
        ("recall", {"query": "x", "min_score": 2}, "min_score must be from 0 to 1"),
        ("recall", {"query": "x", "tags": "home"}, "tags must be a list of strings"),
        ("list_memories", {"tags": [1]}, "tags must be a list of strings"),
        ("list_memories", {"kind": "dream"}, "kind is one of"),
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
    assert server.handle(request("prompts/list", id=4)) == {
        "jsonrpc": "2.0",
        "id": 4,
        "error": {"code": -32601, "message": "method not found: prompts/list"},
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
        request("prompts/list", id="two"),
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


# -- protocol 2026-07-28: every request carries its version and the client's capabilities

VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
SERVER_INFO = {
    "io.modelcontextprotocol/serverInfo": {"name": "memcli", "title": "memcli", "version": __version__}
}
MODERN_META = {
    VERSION_KEY: "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
}


def modern(method: str, params: dict | None = None, id: int | str | None = 1) -> dict:
    return request(method, {**(params or {}), "_meta": MODERN_META}, id=id)


def test_modern_requests_are_answered_without_a_handshake(server: Server) -> None:
    assert server.handle(modern("server/discover"))["result"] == {
        "resultType": "complete",
        "supportedVersions": ["2026-07-28"],
        "capabilities": {
            "tools": {"listChanged": False},
            "resources": {"subscribe": False, "listChanged": False},
        },
        "instructions": server.handle(request("initialize"))["result"]["instructions"],
        "_meta": SERVER_INFO,
        "ttlMs": 3_600_000,
        "cacheScope": "public",
    }
    # a handshake of an old version on the same pipe changes nothing for modern requests
    server.handle(request("initialize", {"protocolVersion": "2024-11-05"}))
    listed = server.handle(modern("tools/list"))["result"]
    assert (listed["resultType"], listed["ttlMs"], listed["cacheScope"], listed["_meta"]) == (
        "complete",
        3_600_000,
        "public",
        SERVER_INFO,
    )
    assert [t["outputSchema"] == output_schemas()[t["name"]] for t in listed["tools"]] == [True] * 7
    stored = server.handle(
        modern("tools/call", {"name": "remember", "arguments": {"text": "Ana likes tulips"}})
    )
    result = stored["result"]
    assert result["resultType"] == "complete" and result["_meta"] == SERVER_INFO and "ttlMs" not in result
    assert result["structuredContent"]["added"] == 1
    failed = server.handle(modern("tools/call", {"name": "forget", "arguments": {"ids": ["zzzzzzzz"]}}))
    assert failed["result"]["isError"] is True and failed["result"]["resultType"] == "complete"
    assert server.handle(modern("prompts/list"))["error"]["code"] == -32601


def test_a_modern_request_must_name_a_version_the_server_speaks(server: Server) -> None:
    for version in ("2025-11-25", "2027-01-01"):
        response = server.handle(request("tools/list", {"_meta": {**MODERN_META, VERSION_KEY: version}}))
        assert response["error"] == {
            "code": -32022,
            "message": "Unsupported protocol version",
            "data": {
                "supported": ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"],
                "requested": version,
            },
        }
    missing_capabilities = {"_meta": {VERSION_KEY: "2026-07-28"}}
    assert server.handle(request("tools/list", missing_capabilities))["error"]["code"] == -32602
    assert (
        server.handle(request("tools/list", {"_meta": {**MODERN_META, VERSION_KEY: 7}}))["error"]["code"]
        == -32602
    )
    assert server.handle(modern("tools/list", id=None))["error"]["code"] == -32600  # ids are never null now
    assert server.handle(modern("ping"))["error"]["code"] == -32601  # ping is gone from 2026-07-28
    # server/discover is the modern era's; initialize the handshake's, whatever its _meta
    assert server.handle(request("server/discover"))["error"]["code"] == -32602
    initialized = server.handle(modern("initialize", {"protocolVersion": "2025-06-18"}))["result"]
    assert initialized["protocolVersion"] == "2025-06-18" and "resultType" not in initialized


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_each_handshake_version_gets_the_shapes_it_knows(server: Server, version: str) -> None:
    structured = version in ("2025-11-25", "2025-06-18")  # titles, output schemas, structuredContent
    init = server.handle(request("initialize", {"protocolVersion": version, "capabilities": {}}))["result"]
    assert ("title" in init["serverInfo"]) is structured and "resultType" not in init
    listed = server.handle(request("tools/list"))["result"]
    assert set(listed) == {"tools"}
    for tool in listed["tools"]:
        assert ("outputSchema" in tool) is structured and ("title" in tool) is structured
        assert ("annotations" in tool) is (version != "2024-11-05")
        if version == "2025-03-26":  # before tools had a title, annotations carried it
            assert tool["annotations"]["title"] == next(
                t["title"] for t in mcp.TOOLS if t["name"] == tool["name"]
            )
    stored = call(server, "remember", text="Ana likes tulips", tags=["ana"])
    assert ("structuredContent" in stored) is structured
    [memory_id] = re.findall(r"Remembered (\w+)\.", stored["content"][0]["text"])
    found = call(server, "recall", query="tulips", tags=["ana"])
    assert found["content"][0]["text"].startswith(f"[{memory_id}]")
    [resource] = server.handle(request("resources/list"))["result"]["resources"]
    assert resource["uri"] == f"memory://{memory_id}" and ("annotations" in resource) is structured
    [template] = server.handle(request("resources/templates/list"))["result"]["resourceTemplates"]
    assert template["uriTemplate"] == "memory://{id}" and ("title" in template) is structured
    read = server.handle(request("resources/read", {"uri": resource["uri"]}))["result"]
    assert read == {
        "contents": [{"uri": resource["uri"], "mimeType": "text/plain", "text": "Ana likes tulips"}]
    }


def test_every_structured_result_matches_its_output_schema(server: Server) -> None:
    from test_entities import consolidate

    schemas = output_schemas()
    assert set(schemas) == {tool["name"] for tool in mcp.TOOLS}
    checked: set[str] = set()

    def checked_call(tool: str, **arguments) -> dict:
        result = call(server, tool, **arguments)
        assert result["isError"] is False, result
        jsonschema.Draft202012Validator(schemas[tool]).validate(result["structuredContent"])
        checked.add(tool)
        return result["structuredContent"]

    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    assert checked_call("profile") == {"fields": []} and checked_call("entities") == {"results": []}
    assert checked_call("list_memories") == {"results": []}
    checked_call("remember", text="My sister Ana lives in Porto and loves orchids", tags=["family"])
    checked_call("remember", text="My dog Rex hates the rain", kind="semantic", ttl="30d", importance=5)
    long = checked_call(
        "remember", text="\n\n".join(f"Day {n}: we weeded the roses by the shed. " * 20 for n in range(3))
    )
    assert len(long["ids"]) == 3 and long["doc_id"]
    consolidate(server.memory)
    assert checked_call("recall", query="orchids", k=3)["results"]
    assert checked_call("recall", query="quantum physics") == {"results": []}
    assert checked_call("list_memories", limit=50)["results"]
    assert checked_call("entities")["results"] and checked_call("entities", kind="person")["results"]
    ana = checked_call("about", name="Ana")
    assert ana["relations"] and ana["memories"]
    checked_call("about", name="me")
    assert checked_call("profile")["fields"]
    profile.set_value(server.memory, "family", "Ana and Rui")  # a value set over a derived one: its history
    [family] = [f for f in checked_call("profile")["fields"] if f["field"] == "family"]
    assert family["value"] == "Ana and Rui" and family["history"][0]["value"] == "Ana (sister)"
    assert checked_call("forget", ids=long["ids"][:1])["forgotten"] == long["ids"][:1]
    assert checked == set(schemas)


def test_remember_answers_ids_and_counts_never_the_text(server: Server) -> None:
    text = "\n\n".join(
        f"Day {n}: we walked the dogs along the river and talked about the roses and the new shed. " * 7
        for n in range(340)
    )
    assert 210_000 < len(text) < 225_000
    line = json.dumps(request("tools/call", {"name": "remember", "arguments": {"text": text}})).encode()
    [response] = serve_lines(server, [line])
    size = len(json.dumps(response))
    data = response["result"]["structuredContent"]
    assert len(data["ids"]) == 340 and data["added"] == 340 and data["existing"] == 0 and data["doc_id"]
    assert size < 12_000 and "river" not in json.dumps(response)  # the text itself was ~216 KB
    chunks = server.memory.store.get_many(data["ids"])
    assert [chunks[i].chunk for i in data["ids"]] == list(range(1, 341))
    assert {chunks[i].doc_id for i in data["ids"]} == {data["doc_id"]}
    [again] = serve_lines(server, [line])
    assert again["result"]["structuredContent"] == {
        "ids": data["ids"],
        "added": 0,
        "existing": 340,
        "existing_ids": data["ids"],
        "doc_id": data["doc_id"],  # the document they were stored in, not a new one
    }
    assert again["result"]["content"][0]["text"].startswith(
        f"Remembered a long text as 340 chunks of document {data['doc_id']} (0 new, 340 already known)"
    )


def test_recall_and_list_filter_by_tags_all_of_which_must_match(server: Server) -> None:
    call(server, "remember", text="Water the orchids on Sunday", tags=["home", "plants"])
    call(
        server,
        "remember",
        text="Water the office plants on Monday",
        tags=["work", "plants"],
        kind="procedural",
    )
    call(server, "remember", text="Buy orchid food", tags=["home"])

    def texts(result: dict) -> list[str]:
        return sorted(r["text"] for r in result["structuredContent"]["results"])

    assert texts(call(server, "list_memories", tags=["plants"])) == [
        "Water the office plants on Monday",
        "Water the orchids on Sunday",
    ]
    assert texts(call(server, "list_memories", tags=["plants", "home"])) == ["Water the orchids on Sunday"]
    assert texts(call(server, "list_memories", tags=["plants"], kind="procedural")) == [
        "Water the office plants on Monday"
    ]
    assert call(server, "list_memories", tags=["garden"])["content"][0]["text"] == "No memories."
    found = call(server, "recall", query="water the plants", tags=["plants", "work"], min_score=0)
    assert texts(found) == ["Water the office plants on Monday"]
    assert texts(call(server, "recall", query="orchid", tags=["home"], min_score=0)) == [
        "Buy orchid food",
        "Water the orchids on Sunday",
    ]


# -- memories as resources ------------------------------------------------------------


def test_memories_are_resources_listed_page_by_page(server: Server, db_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mcp, "RESOURCE_PAGE", 2)
    ids = [
        call(server, "remember", text=f"Note {n} about the allotment", tags=["garden"])["structuredContent"][
            "ids"
        ][0]
        for n in range(5)
    ]
    with Memory(db_path, embedder=FakeEmbedder(), user="ana") as other:
        other.remember([NewMemory("Ana's own note")])

    def page(cursor: str | None = None) -> dict:
        return server.handle(request("resources/list", {} if cursor is None else {"cursor": cursor}))[
            "result"
        ]

    seen, cursor, pages = [], None, 0
    while True:
        result = page(cursor)
        seen += [r["uri"] for r in result["resources"]]
        pages, cursor = pages + 1, result.get("nextCursor")
        if cursor is None:
            break
    assert seen == [f"memory://{i}" for i in reversed(ids)] and pages == 3  # the most recent first
    first = page()
    assert first["resources"][0] == {
        "uri": f"memory://{ids[4]}",
        "name": "Note 4 about the allotment",
        "description": f"episodic memory of {server.memory.get(ids[4]).occurred_at[:10]}, tagged garden",
        "mimeType": "text/plain",
        "size": len("Note 4 about the allotment"),
        "annotations": {"lastModified": server.memory.get(ids[4]).created_at},
    }
    # the next page starts where this one ended, though its last memory is forgotten meanwhile
    call(server, "forget", ids=[ids[3]])
    call(server, "remember", text="A newer note")
    assert [r["uri"] for r in page(first["nextCursor"])["resources"]] == [
        f"memory://{ids[2]}",
        f"memory://{ids[1]}",
    ]
    for bad in ["nonsense", 7, "2.ZZ", "-1.abcdefgh", "\u00b2.abcdefgh"]:
        assert server.handle(request("resources/list", {"cursor": bad}))["error"]["code"] == -32602
    modern_page = server.handle(modern("resources/list"))["result"]
    assert (modern_page["resultType"], modern_page["ttlMs"], modern_page["cacheScope"]) == (
        "complete",
        0,
        "private",
    )


def test_reading_a_memory_resource_and_a_missing_one(server: Server, db_path: Path) -> None:
    [key] = call(server, "remember", text="The spare key is under the blue flower pot")["structuredContent"][
        "ids"
    ]
    uri = f"memory://{key}"
    assert server.handle(request("resources/read", {"uri": uri}))["result"] == {
        "contents": [
            {"uri": uri, "mimeType": "text/plain", "text": "The spare key is under the blue flower pot"}
        ]
    }
    read = server.handle(modern("resources/read", {"uri": uri}))["result"]
    assert read["contents"][0]["text"].startswith("The spare key") and read["cacheScope"] == "private"
    with Memory(db_path, embedder=FakeEmbedder(), user="ana") as other:
        [theirs] = other.remember([NewMemory("Ana's own note")])
    gone = call(server, "remember", text="Forget me")["structuredContent"]["ids"][0]
    call(server, "forget", ids=[gone])
    missing = [
        f"memory://{theirs.id}",
        f"memory://{gone}",
        f"memory://{key[:5]}",
        "memory://",
        "file:///etc/passwd",
    ]
    for uri in missing:
        # -32002 before 2026-07-28, -32602 (invalid params) from then on
        legacy = server.handle(request("resources/read", {"uri": uri}))
        assert legacy["error"] == {"code": -32002, "message": "Resource not found", "data": {"uri": uri}}
        assert server.handle(modern("resources/read", {"uri": uri}))["error"] == {
            "code": -32602,
            "message": "Resource not found",
            "data": {"uri": uri},
        }
    assert server.handle(request("resources/read", {"uri": 42}))["error"]["code"] == -32602


def test_a_subscription_is_acknowledged_and_closed_when_the_input_ends(server: Server) -> None:
    listen = {"notifications": {"resourcesListChanged": True, "toolsListChanged": True}}
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "s2"}}
    lines = [
        json.dumps(modern("subscriptions/listen", listen, id="s1")).encode(),
        json.dumps(modern("subscriptions/listen", listen, id="s2")).encode(),
        json.dumps(cancel).encode(),
        json.dumps(modern("tools/list", id=3)).encode(),
    ]
    responses = serve_lines(server, lines)

    def acknowledged(rid: str) -> dict:
        return {
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            # nothing here changes on its own, so none of the kinds asked for is honoured
            "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": rid}, "notifications": {}},
        }

    assert responses[:2] == [acknowledged("s1"), acknowledged("s2")]
    assert responses[2]["id"] == 3 and responses[2]["result"]["tools"]
    closed = {
        "resultType": "complete",
        "_meta": {"io.modelcontextprotocol/subscriptionId": "s1", **SERVER_INFO},
    }
    assert responses[3:] == [{"jsonrpc": "2.0", "id": "s1", "result": closed}]  # s2 was cancelled: no more
