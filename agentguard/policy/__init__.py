"""The policy engine: Casbin model + CSV rules with a small condition language.

    engine = PolicyEngine.load(Path("permissions"), workspace=Path.cwd())
    decision = engine.decide(ToolCall(agent="coder", tool="fs.read", arguments={"path": "README.md"}))

Files are loaded through real pycasbin (``model.conf`` + every ``*.csv``), so a stock
``casbin.Enforcer`` with :meth:`PolicyEngine.casbin_functions` registered reaches the same verdicts.
See docs/policy.md for the language.
"""

from agentguard.policy._addresses import NAMED_RANGES, Resolver, SystemResolver
from agentguard.policy._cases import CaseResult, PolicyCase, load_cases, run_cases
from agentguard.policy._conditions import FUNCTION_NAMES, FactSource, StaticFacts
from agentguard.policy._engine import GRANTS_FILE, PolicyEngine, lint_policy
from agentguard.policy._facts import CombinedFacts, EnumerableFacts
from agentguard.policy._loader import EXPECTED_MATCHER, MODEL_FILE
from agentguard.policy._stored import StoredPolicy, policy_from_settings, pull_policy, push_policy
from agentguard.policy._types import LintFinding, RoleLink, Rule

__all__ = [
    "EXPECTED_MATCHER",
    "FUNCTION_NAMES",
    "GRANTS_FILE",
    "MODEL_FILE",
    "NAMED_RANGES",
    "CaseResult",
    "CombinedFacts",
    "EnumerableFacts",
    "FactSource",
    "LintFinding",
    "PolicyCase",
    "PolicyEngine",
    "Resolver",
    "RoleLink",
    "Rule",
    "StaticFacts",
    "StoredPolicy",
    "SystemResolver",
    "lint_policy",
    "load_cases",
    "policy_from_settings",
    "pull_policy",
    "push_policy",
    "run_cases",
]
