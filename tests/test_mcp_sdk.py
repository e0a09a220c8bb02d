"""`mem mcp` with the official MCP SDK's client as its peer, over real pipes.

The SDK's client speaks 2026-07-28 when the server does (it probes with
`server/discover`), checks every structured tool result against the tool's
output schema, and can force the 2025-11-25 handshake; the older versions are
spoken here in hand-written JSON.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from memcli.memory import Memory
from memcli.records import NewMemory

MEM = str(Path(sys.executable).with_name("mem"))
TOOLS = ["remember", "recall", "forget", "list_memories", "entities", "about", "profile"]


@pytest.fixture
def store(tmp_path: Path, real_embedder) -> Path:
    """A store with two notes, consolidated: Ana, Porto, Rex and the user are entities."""
    from test_entities import consolidate

    db = tmp_path / "agent.db"
    with Memory(db, embedder=real_embedder, user="tester") as memory:
        memory.remember(
            [
                NewMemory("My sister Ana lives in Porto and loves orchids", tags=["family"]),
                NewMemory("My dog Rex hates the rain", tags=["pets"]),
            ]
        )
        consolidate(memory)
    return db


def server(db: Path) -> StdioServerParameters:
    return StdioServerParameters(command=MEM, args=["mcp", "--db", str(db)], env={**os.environ})


def test_the_sdk_client_speaks_2026_07_28_with_every_tool(store: Path) -> None:
    async def main() -> None:
        async with Client(server(store)) as client:
            assert client.protocol_version == "2026-07-28"
            assert client.server_info is not None and client.server_info.name == "memcli"
            assert client.server_capabilities.tools is not None
            assert client.server_capabilities.resources is not None
            listed = (await client.list_tools()).tools
            assert [t.name for t in listed] == TOOLS
            assert all(t.output_schema and t.output_schema["type"] == "object" for t in listed)

            async def structured(tool: str, **arguments: object) -> dict:
                # the client has checked it against the tool's output schema already
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result.content
                assert isinstance(result.structured_content, dict)
                return result.structured_content

            stored = await structured("remember", text="Deploy the blog with make publish", kind="procedural")
            [deploy] = stored["ids"]
            assert stored == {"ids": [deploy], "added": 1, "existing": 0, "existing_ids": [], "doc_id": None}
            found = await structured("recall", query="where does Ana live", tags=["family"], min_score=0)
            assert [r["text"] for r in found["results"]] == ["My sister Ana lives in Porto and loves orchids"]
            listed_pets = await structured("list_memories", tags=["pets"])
            assert [r["text"] for r in listed_pets["results"]] == ["My dog Rex hates the rain"]
            newest = await structured("list_memories", kind="procedural", limit=1)
            assert [r["id"] for r in newest["results"]] == [deploy]
            names = {e["name"] for e in (await structured("entities"))["results"]}
            assert {"Ana", "Porto", "Rex", "me"} <= names
            ana = await structured("about", name="my sister")
            assert sorted(
                (r["subject_name"], r["predicate"], r["object_name"]) for r in ana["relations"]
            ) == [
                ("Ana", "lives in", "Porto"),
                ("Ana", "sister of", "me"),
            ]
            fields = {f["field"]: f["value"] for f in (await structured("profile"))["fields"]}
            assert fields == {"family": "Ana (sister)", "pets": "Rex"}
            assert (await structured("forget", ids=[deploy]))["forgotten"] == [deploy]
            failed = await client.call_tool("forget", {"ids": [deploy]})
            assert failed.is_error and "no memory" in failed.content[0].text

            # the notes and the facts consolidation made of them, the most recently stored first
            everything = (await structured("list_memories", limit=50))["results"]
            resources = (await client.list_resources()).resources
            assert sorted(r.uri for r in resources) == sorted(f"memory://{m['id']}" for m in everything)
            assert "My dog Rex hates the rain" in [r.name for r in resources] and len(resources) == 4
            for resource in resources:
                read = await client.read_resource(resource.uri)
                assert [c.text for c in read.contents] == [
                    m["text"] for m in everything if m["id"] in resource.uri
                ]
            [template] = (await client.list_resource_templates()).resource_templates
            assert template.uri_template == "memory://{id}"
            with pytest.raises(MCPError) as missing:
                await client.read_resource(f"memory://{deploy}")
            assert missing.value.error.code == -32602

            async with client.listen(resources_list_changed=True) as subscription:
                assert subscription.honored.resources_list_changed is None  # nothing is ever sent
            assert [t.name for t in (await client.list_tools()).tools] == TOOLS

    anyio.run(main)


def test_the_sdk_client_can_still_use_the_2025_11_25_handshake(store: Path) -> None:
    async def main() -> None:
        async with Client(server(store), mode="legacy") as client:
            assert client.protocol_version == "2025-11-25"
            assert all(t.output_schema for t in (await client.list_tools()).tools)
            result = await client.call_tool("recall", {"query": "rain", "tags": ["pets"], "min_score": 0})
            assert [r["text"] for r in result.structured_content["results"]] == ["My dog Rex hates the rain"]
            resources = (await client.list_resources()).resources
            assert len(resources) == 4  # two notes, and a fact made of each
            assert (await client.read_resource(resources[0].uri)).contents[0].text == resources[0].name
            with pytest.raises(MCPError) as missing:
                await client.read_resource("memory://zzzzzzzz")
            assert missing.value.error.code == -32002

    anyio.run(main)


@pytest.mark.parametrize("version", ["2025-06-18", "2025-03-26", "2024-11-05"])
def test_older_clients_get_their_own_version(store: Path, version: str) -> None:
    messages = [
        {"id": 1, "method": "initialize", "params": {"protocolVersion": version, "capabilities": {}}},
        {"method": "notifications/initialized"},
        {"id": 2, "method": "tools/list"},
        {"id": 3, "method": "tools/call", "params": {"name": "recall", "arguments": {"query": "orchids"}}},
        {"id": 4, "method": "resources/list"},
        {"id": 5, "method": "resources/read", "params": {"uri": "memory://zzzzzzzz"}},
    ]
    done = subprocess.run(
        [MEM, "mcp", "--db", str(store)],
        input="".join(json.dumps({"jsonrpc": "2.0", **m}) + "\n" for m in messages).encode(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    init, tools, recalled, resources, missing = [json.loads(line) for line in done.stdout.splitlines()]
    assert init["result"]["protocolVersion"] == version
    structured = version == "2025-06-18"
    assert all(("outputSchema" in t) is structured for t in tools["result"]["tools"])
    assert "Ana lives in Porto" in recalled["result"]["content"][0]["text"]
    assert ("structuredContent" in recalled["result"]) is structured
    assert len(resources["result"]["resources"]) == 4 and "resultType" not in resources["result"]
    assert missing["error"]["code"] == -32002
