"""A small real MCP server (the SDK's MCPServer) for the proxy tests: tools, a resource, a prompt,
progress, and a tool that kills the server mid-call."""

from __future__ import annotations

import os
import sys

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

server = MCPServer("fixture", version="1.0")
LOG = os.environ.get("FIXTURE_LOG")


def _log(line: str) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@server.tool(description="Echo the text back.")
def echo(text: str) -> str:
    _log(f"echo {text}")
    return text


@server.tool(description="Write a note to a path.")
def write_note(path: str, content: str) -> str:
    _log(f"write_note {path} {content}")
    return f"wrote {len(content)} bytes to {path}"


@server.tool(description="Copy a note; options is an object, or its JSON text (as some clients send it).")
def copy_note(path: str, options: dict[str, bool] | str = "{}") -> str:
    _log(f"copy_note {path} {type(options).__name__} {options}")
    return f"copied {path} with {options}"


@server.tool(description="Remove a folder, with what is in it unless told otherwise.")
def remove(path: str, recursive: bool = True, depth: int = None) -> str:  # type: ignore[assignment]  # noqa: RUF013
    """``depth``: a default its own schema refuses (null for an integer), as sloppy servers have."""
    _log(f"remove {path} recursive={recursive}")
    return f"removed {path}"


class SyncOptions(BaseModel):
    overwrite: bool = True


@server.tool(description="Sync a folder; options.overwrite unless told otherwise.")
def sync(path: str, options: SyncOptions) -> str:
    _log(f"sync {path} overwrite={options.overwrite}")
    return f"synced {path}"


@server.tool(description="Delete everything.")
def delete_all() -> str:
    _log("delete_all")
    return "deleted"


@server.tool(description="Count to n, reporting progress.")
async def count(n: int, ctx: Context) -> str:
    for i in range(1, n + 1):
        await ctx.report_progress(i, n, f"step {i}")
    return f"counted to {n}"


@server.tool(description="Exit the server process in the middle of the call.")
def crash() -> str:
    _log("crash")
    sys.stdout.flush()
    os._exit(3)


@server.tool(description="Answer with a JSON-RPC error of the implementation-defined server range.")
def server_error(code: int = -32000) -> str:
    _log(f"server_error {code}")
    raise MCPError(code=code, message="quota exceeded for today")


@server.tool(description="Ask the client's model a question (sampling).")
async def ask_model(question: str, ctx: Context, repeat: int = 1) -> str:
    try:
        result = await ctx.session.create_message(
            [
                types.SamplingMessage(
                    role="user", content=types.TextContent(type="text", text=question * repeat)
                )
            ],
            max_tokens=20,
        )
    except Exception as exc:  # noqa: BLE001 - the test reads what the server was told
        return f"sampling refused: {exc}"
    content = result.content
    return f"model said: {content.text if isinstance(content, types.TextContent) else content}"


class Name(BaseModel):
    name: str


@server.tool(description="Ask the user for their name (elicitation).")
async def ask_user(ctx: Context) -> str:
    try:
        answer = await ctx.elicit("What is your name?", schema=Name)
    except Exception as exc:  # noqa: BLE001
        return f"elicitation refused: {exc}"
    return f"user {answer.action}: {answer.data.name if answer.data else None}"


@server.tool(description="List the client's roots.")
async def client_roots(ctx: Context) -> str:
    try:
        result = await ctx.session.send_request(types.ListRootsRequest(), types.ListRootsResult)
    except Exception as exc:  # noqa: BLE001
        return f"roots refused: {exc}"
    return "roots: " + ", ".join(str(r.uri) for r in result.roots)


@server.resource("note://hello", description="A greeting.")
def hello() -> str:
    return "hello from the fixture"


@server.prompt(description="Greet someone.")
def greet(name: str) -> str:
    return f"Say hello to {name}."


@server.prompt(description="A prompt the server answers with a server error (-32000).")
def quota(name: str) -> str:
    raise MCPError(code=-32000, message="quota exceeded for today")


@server.completion()
async def complete(ref: object, argument: types.CompletionArgument, context: object) -> types.Completion:
    """Names starting with what was typed: server data reaching the agent outside tools/call."""
    _log(f"complete {argument.name} {argument.value}")
    return types.Completion(values=[f"{argument.value}-draft", f"{argument.value}-final"])


if __name__ == "__main__":
    if os.environ.get("FIXTURE_STARTS"):  # one line per start of the server process
        with open(os.environ["FIXTURE_STARTS"], "a", encoding="utf-8") as starts:
            starts.write(f"{os.getpid()}\n")
    server.run()
