"""AgentDojo policy-effectiveness evaluation: ground-truth replays through a Guard, AgentDojo's scoring.

Attacks are counted as AgentDojo counts them (every injection task on every user task that carries
it) and, for comparison, once per injection task on one fixed carrier.

python -m benchmarks.agentdojo [--suite S] [--policy DIR]   # JSON on stdout
"""

from benchmarks.agentdojo._eval import (
    ALL_SUITES,
    BENCHMARK_VERSION,
    POLICIES,
    SUITES,
    SuiteEvaluation,
    SuiteReport,
    evaluate,
)

__all__ = [
    "ALL_SUITES",
    "BENCHMARK_VERSION",
    "POLICIES",
    "SUITES",
    "SuiteEvaluation",
    "SuiteReport",
    "evaluate",
]
