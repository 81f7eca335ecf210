"""``python -m benchmarks.agentdojo``: the AgentDojo evaluation alone, JSON on stdout."""

import argparse
import json
from pathlib import Path

from benchmarks.agentdojo import ALL_SUITES, BENCHMARK_VERSION, SUITES, evaluate

parser = argparse.ArgumentParser(
    prog="python -m benchmarks.agentdojo",
    description="Replay AgentDojo's ground truths through a Guard and score them with AgentDojo's checks.",
)
parser.add_argument(
    "--suite",
    action="append",
    choices=ALL_SUITES,
    help=f"a suite to run (repeatable; default: {', '.join(SUITES)}, the suites with a shipped pack)",
)
parser.add_argument(
    "--policy",
    type=Path,
    help="policy folder for every suite (default: permissions/examples/agentdojo/<suite>; "
    "a suite without a pack is reported as no_pack)",
)
parser.add_argument("--limit", type=int, help="only the first N user and injection tasks of each suite")
parser.add_argument("--version", default=BENCHMARK_VERSION, help="AgentDojo benchmark version")
args = parser.parse_args()
if args.policy is not None and not (args.policy / "policy.csv").is_file():
    parser.error(f"--policy {args.policy}: no policy.csv there")
report = evaluate(tuple(args.suite or SUITES), version=args.version, limit=args.limit, policy=args.policy)
print(json.dumps(report, indent=2))
