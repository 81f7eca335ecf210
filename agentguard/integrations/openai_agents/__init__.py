"""OpenAI Agents SDK function tools through the guard (``pip install 'agentguard[openai-agents]'``).

    from agentguard.integrations.openai_agents import guard_function_tools
    agent = Agent(name="coder", tools=guard_function_tools(guard, [read_file, write_file]))
    result = await run_in_session(guard, agent, prompt)    # one guard session per run

See ``docs/integrations/openai-agents.md``.
"""

from agentguard.integrations._extras import require

require("agents", "openai-agents", "OpenAI Agents SDK")

from agentguard.integrations.openai_agents._session import run_in_session, user_text  # noqa: E402
from agentguard.integrations.openai_agents._tools import FRAMEWORK, guard_function_tools  # noqa: E402

__all__ = ["FRAMEWORK", "guard_function_tools", "run_in_session", "user_text"]
