"""The MCP server the proxy benchmark calls: one cheap tool, so what is measured is the path to it."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo", version="1.0")


@server.tool(description="Echo the text back.")
def echo(text: str) -> str:
    return text


if __name__ == "__main__":
    server.run()
