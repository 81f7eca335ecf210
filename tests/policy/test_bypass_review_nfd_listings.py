"""Review of the canonical caseless spelling: a directory *listed* decomposed.

HFS+ lists every name decomposed (NFD); APFS keeps the form a name was made with (a zip or rsync from
HFS+ brings decomposed names). Both open ``schlüssel`` typed composed. Since names compare in the
canonical caseless form, the decision takes the listed, decomposed spelling for the composed one the
agent typed; the rule ``{workspace}/schlüssel/**`` is typed composed and no longer matched it (before,
the typed spelling was kept and matched). Where the file system folds, ``path()`` patterns and paths
now also compare composed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._glob import Glob

from .conftest import decide

RULES = """
p, *, fs.*, path(path, "{workspace}/**"), allow
p, *, fs.*, path(path, "{workspace}/schlüssel/**"), deny
"""
NFD = unicodedata.normalize("NFD", "schlüssel")


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / NFD).mkdir()  # listed decomposed, as HFS+ lists it
    (workspace / NFD / "key.txt").write_text("TOPSECRET\n")
    return workspace


@pytest.mark.parametrize("spelling", ["schlüssel", NFD, "SCHLÜSSEL", NFD.upper()])
def test_a_name_listed_decomposed_is_denied_in_every_spelling(
    engine_for: Callable[..., PolicyEngine], ws: Path, spelling: str
) -> None:
    decision = decide(engine_for(RULES, case_insensitive=True), "fs.read", path=f"{spelling}/key.txt")
    assert decision.effect is Effect.DENY
    assert decision.arguments == {"path": str(ws / NFD / "key.txt")}  # the tool opens the listed name


def test_a_case_sensitive_workspace_still_keeps_the_forms_apart(
    engine_for: Callable[..., PolicyEngine], ws: Path
) -> None:
    assert decide(engine_for(RULES, case_insensitive=False), "fs.read", path=f"{NFD}/key.txt").effect is (
        Effect.ALLOW
    )


def test_a_folding_glob_compares_composed() -> None:
    assert Glob("/w/schlu\u0308ssel/**", ignore_case=True).match("/w/SCHLÜSSEL/x")
    assert not Glob("/w/schlu\u0308ssel/**").match("/w/schlüssel/x")
    assert Glob("/w/*", ignore_case=True).match("/w/\udcff")  # a lone surrogate does not crash it
