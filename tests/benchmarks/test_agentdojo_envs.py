"""The harness parses AgentDojo's environments with libyaml: it must build exactly what AgentDojo builds."""

from __future__ import annotations

import warnings

import pytest

from benchmarks.agentdojo import ALL_SUITES, BENCHMARK_VERSION
from benchmarks.agentdojo._attacks import INJECTION_TEMPLATE
from benchmarks.agentdojo._runtime import Environments


def _suite(name: str) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from agentdojo.task_suite.load_suites import get_suite

        return get_suite(BENCHMARK_VERSION, name)


@pytest.mark.parametrize("name", ALL_SUITES)
def test_same_environment_as_agentdojo(name: str) -> None:
    suite: object = _suite(name)
    vectors = list(suite.get_injection_vector_defaults())  # type: ignore[attr-defined]
    # every injection task's text (multi-line, quotes, colons): where YAML's folding would differ
    goals = [t.GOAL for t in suite.injection_tasks.values()]  # type: ignore[attr-defined]
    injections = {v: INJECTION_TEMPLATE.format(goal=goals[i % len(goals)]) for i, v in enumerate(vectors)}
    ours = Environments(suite).load(injections)
    theirs = suite.load_and_inject_default_environment(injections)  # type: ignore[attr-defined]
    assert ours == theirs
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert ours != Environments(suite).load({})  # the injections did land


def test_an_unknown_vector_is_refused() -> None:
    with pytest.raises(ValueError, match="not injection vectors"):
        Environments(_suite("banking")).load({"nowhere": "x"})
