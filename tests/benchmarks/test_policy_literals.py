"""No AgentDojo policy names an attacker's value: every injection task's literals are grepped for.

The literals are what identifies an attacker in AgentDojo's injection tasks (IBANs, e-mail addresses,
URLs, long digit strings) in their goals, their class attributes and their ground-truth calls.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from benchmarks.agentdojo import POLICIES, SUITES
from benchmarks.agentdojo._attacks import REPLAYS

IDENTIFIERS = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|\b[A-Z]{2}\d{2}[A-Z0-9]{8,30}\b"  # IBANs
    r"|https?://\S+|www\.\S+"  # URLs
    r"|\b\d{6,}\b"  # account numbers, codes
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def attacker_literals(suite_name: str) -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from agentdojo.task_suite.load_suites import get_suite

        suite = get_suite("v1.2.1", suite_name)
        env = suite.load_and_inject_default_environment({})
    found: set[str] = set()
    for task_id, task in suite.injection_tasks.items():
        texts = [task.GOAL]
        texts += [v for k, v in vars(type(task)).items() if not k.startswith("__") and isinstance(v, str)]
        replay = REPLAYS.get((suite_name, task_id))
        calls = (
            replay(task, env.model_copy(deep=True))
            if replay
            else task.ground_truth(env.model_copy(deep=True))
        )
        for call in calls:
            texts += _strings(dict(call.args))
        for text in texts:
            found.update(m.group().rstrip(".,;:'\")") for m in IDENTIFIERS.finditer(text))
    return found


def leaks(literals: set[str], directory: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted(directory.iterdir()):
        text = path.read_text(encoding="utf-8").lower()
        out += [(path.name, lit) for lit in sorted(literals) if lit.lower() in text]
    return out


@pytest.mark.parametrize("suite", SUITES)
def test_no_policy_file_names_an_attacker_literal(suite: str) -> None:
    literals = attacker_literals(suite)
    assert len(literals) >= 1  # the extraction found what it looks for
    assert leaks(literals, POLICIES / suite) == []


def test_the_grep_catches_a_leak(tmp_path: Path) -> None:
    literals = attacker_literals("banking")
    iban = next(lit for lit in sorted(literals) if re.fullmatch(r"[A-Z]{2}\d+", lit))
    (tmp_path / "policy.csv").write_text(f'p, *, send_money, eq(recipient, "{iban.lower()}"), deny\n')
    assert leaks(literals, tmp_path) == [("policy.csv", iban)]
