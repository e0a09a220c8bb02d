"""`mem mcp`: the memory as tools and resources for an agent, over MCP's stdio transport."""

from __future__ import annotations

import sys

from .app import app
from .commands import DbOpt, NewUserOpt, _open


@app.command()
def mcp(db: DbOpt = None, user: NewUserOpt = None) -> None:
    """Serve the memory to an agent as MCP tools and resources over stdin/stdout.

    The agent's client starts this command and speaks JSON-RPC to it, one
    message per line; logs go to stderr. Tools: remember, recall, forget,
    list_memories, entities, about, profile; each memory is also a resource,
    memory://ID. All as one user. It speaks MCP 2026-07-28, and 2025-11-25 back
    to 2024-11-05 to a client that starts with initialize. It runs until its
    input ends.

    Examples:

      {"mcpServers": {"memory": {"command": "mem", "args": ["mcp"]}}}  (a client's configuration)

      echo '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}' | mem mcp
    """
    from ..mcp import Server, serve
    from ..models.registry import preload

    if sys.stdin.isatty():
        print("mem mcp: waiting for an MCP client on stdin (Ctrl-D ends)", file=sys.stderr)
    preload()  # the embedding model loads while the client starts up
    server = Server(lambda: _open(db, user, create=True))
    try:
        serve(server, sys.stdin.buffer, sys.stdout)
    finally:
        server.close()
