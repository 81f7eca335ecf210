"""LangChain tools through the guard (``pip install 'agentguard[langchain]'``).

    from agentguard.integrations.langchain import guard_tools
    tools = guard_tools(guard, [search, write_file])      # drop-in for the original list
    agent = with_session(guard, agent)                    # one guard session per run

See ``docs/integrations/langchain.md``.
"""

from agentguard.integrations._extras import require

require("langchain_core", "langchain", "LangChain")

from agentguard.integrations.langchain._session import user_text, with_session  # noqa: E402
from agentguard.integrations.langchain._tools import FRAMEWORK, GuardedTool, guard_tools  # noqa: E402

__all__ = ["FRAMEWORK", "GuardedTool", "guard_tools", "user_text", "with_session"]
