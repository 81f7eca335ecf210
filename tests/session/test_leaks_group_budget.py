"""The groups ``leaks_to`` reads joined are counted per decision too, not only per text: an argument that
is a list of texts (or a call of many text arguments) each just under ``MAX_GROUPS`` was read in full,
about 28,000 joined stretches a text: 40 texts of 4,000 groups took 5 to 28 s for one decision
(was 5 to 13 s before the joined reading). Past the budget over all texts it is "cannot tell"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine, _leaks
from agentguard.policy._leaks import MAX_CALL_GROUPS, MAX_GROUPS
from agentguard.session import Session

RULES = """\
p, *, post, leaks_to(*, url), deny
p, *, post, *, allow
"""


@pytest.fixture
def engine(policy_dir: Callable[..., Path], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine.load(policy_dir(RULES, None, None), workspace=tmp_path)


def post(engine: PolicyEngine, data: object) -> Effect:
    s = Session(user_request="Summarise www.news.example")
    s.read_earlier(["The vault code is 463820."])
    with s.active():
        return engine.decide(
            ToolCall(agent="t", tool="post", arguments={"url": "https://c.example/", "data": data})
        ).effect


def texts_of_groups(texts: int, groups: int) -> list[str]:
    return [" ".join(f"{t}{i:04d}a" for i in range(groups)) for t in range(texts)]


def test_groups_are_counted_over_every_text_of_a_call(
    engine: PolicyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    stretches = _leaks._stretches

    def counted(run: list[str]) -> Iterator[str]:
        read.append(len(run))
        return stretches(run)

    monkeypatch.setattr(_leaks, "_stretches", counted)
    per_text = MAX_GROUPS - 1
    texts = MAX_CALL_GROUPS // per_text + 1
    assert post(engine, texts_of_groups(texts, per_text)) is Effect.DENY  # cannot tell
    assert sum(read) <= MAX_CALL_GROUPS  # was every text in full: 3 x 4,095 groups per evaluation


def test_texts_within_the_budget_are_read(engine: PolicyEngine) -> None:
    assert post(engine, texts_of_groups(2, 100)) is Effect.ALLOW
    assert post(engine, ["4 6 3 8 2 0", *texts_of_groups(2, 100)]) is Effect.DENY
