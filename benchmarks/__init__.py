"""agentguard's benchmarks, measured side by side with their peers in one run: ``python -m benchmarks``.

Numbers are ratios and percentiles from the same machine and the same run; see docs/benchmarks.md.
"""
