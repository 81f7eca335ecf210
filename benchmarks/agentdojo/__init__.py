"""AgentDojo policy-effectiveness evaluation: ground-truth replays through a Guard, AgentDojo's scoring.

python -m benchmarks.agentdojo            # every suite, JSON on stdout
"""

from benchmarks.agentdojo._eval import (
    BENCHMARK_VERSION,
    POLICIES,
    SUITES,
    SuiteEvaluation,
    SuiteReport,
    evaluate,
)

__all__ = ["BENCHMARK_VERSION", "POLICIES", "SUITES", "SuiteEvaluation", "SuiteReport", "evaluate"]
