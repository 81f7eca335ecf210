"""``path()`` built by ``path_fact`` (b40b567) checked its pattern before its first argument, so a
condition wrong in both said the pattern was wrong: the first argument's error comes first again,
as it did before (errors name the leftmost mistake, like the rest of the conditions)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentguard.errors import PolicyError
from agentguard.policy import PolicyEngine


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('path("lit", "rel")', 'argument 1 must name a tool argument, got "lit"'),
        ('path(3, "no/{nope}")', "argument 1 must name a tool argument, got 3"),
        ("path(path)", "takes 2 arguments, got 1"),
        ("hard_linked(path, path)", "takes 1 argument"),
        ('git_dir("x")', 'argument 1 must name a tool argument, got "x"'),
    ],
)
def test_the_first_argument_is_checked_first(
    engine_for: Callable[..., PolicyEngine], condition: str, message: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        engine_for(f"p, *, fs.read, {condition}, allow")
    assert message in str(caught.value)
