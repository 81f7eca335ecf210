"""Red team: on a case-folding file system the existing file was found by case only.

APFS and HFS+ (macOS), and ext4's casefold directories, also ignore Unicode normalisation: the
decomposed ``schlu\\u0308ssel`` opens the directory listed as ``schlüssel``. The decision spelled
existing components as listed by comparing ``casefold()`` only, so the decomposed spelling kept its
own form, a deny rule on ``schlüssel`` did not match it, and the tool opened the denied file. Names
now compare in Unicode's canonical caseless form. (Linux folds nothing here: the setting forces the
folding reading, and the tool then opens the listed spelling the decision carries.)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._paths import on_disk_spelling

from .conftest import decide

RULES = """
p, *, fs.*, path(path, "{workspace}/**"), allow
p, *, fs.*, path(path, "{workspace}/schlüssel/**"), deny
"""
NFD = unicodedata.normalize("NFD", "schlüssel")


@pytest.fixture
def ws(workspace: Path) -> Path:
    assert NFD != "schlüssel"
    (workspace / "schlüssel").mkdir()
    (workspace / "schlüssel" / "key.txt").write_text("TOPSECRET\n")
    return workspace


@pytest.mark.parametrize("spelling", [NFD, NFD.upper(), "SCHLÜSSEL"])
def test_a_decomposed_spelling_is_the_listed_name_when_folding(
    engine_for: Callable[..., PolicyEngine], ws: Path, spelling: str
) -> None:
    decision = decide(engine_for(RULES, case_insensitive=True), "fs.read", path=f"{spelling}/key.txt")
    assert decision.effect is Effect.DENY
    assert decision.arguments == {"path": str(ws / "schlüssel" / "key.txt")}


def test_a_case_sensitive_workspace_keeps_spellings_apart(
    engine_for: Callable[..., PolicyEngine], ws: Path
) -> None:
    """ext4 without casefold: the decomposed name is another (missing) file, decided as itself."""
    decision = decide(engine_for(RULES, case_insensitive=False), "fs.read", path=f"{NFD}/key.txt")
    assert decision.effect is Effect.ALLOW
    assert decision.arguments == {"path": str(ws / NFD / "key.txt")}


def test_two_listed_spellings_keep_the_callers(ws: Path) -> None:
    """Both forms listed (a file system that keeps them apart): the exact one is taken, never the other."""
    (ws / NFD).mkdir()
    assert on_disk_spelling(str(ws / NFD / "x"), str(ws)) == str(ws / NFD / "x")
    assert on_disk_spelling(str(ws / "schlüssel" / "x"), str(ws)) == str(ws / "schlüssel" / "x")
