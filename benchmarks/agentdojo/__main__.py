"""``python -m benchmarks.agentdojo``: the AgentDojo evaluation alone, JSON on stdout."""

import json
import sys

from benchmarks.agentdojo import evaluate

suites = tuple(sys.argv[1:]) or ("banking", "workspace")
print(json.dumps(evaluate(suites), indent=2))
