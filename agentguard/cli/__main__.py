"""``python -m agentguard.cli``: the same as the ``agentguard`` command."""

from agentguard.cli import main

main()
