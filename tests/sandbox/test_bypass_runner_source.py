"""Red team: ``python.exec`` ran other code than the text the policy and the approver saw.

The runner compiled the code as *bytes*, so a PEP 263 declaration in it (``# coding: utf-7``) made
Python read a different program from the same bytes: ``print("ok") #+AAo-print("hidden")`` is a
comment to every reader of the text, and two statements to the interpreter. The runner now compiles
the decided UTF-8 text (a coding declaration is then a comment), refusing bytes that are not UTF-8.
The runner's own ``run_python`` runs here in a child interpreter (no Docker needed for this part).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentguard.sandbox._images import SHIPPED_RECIPES

RUNNER = SHIPPED_RECIPES / "runner" / "agentguard_runner.py"
_DRIVER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("runner", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
runner.run_python(sys.stdin.buffer.read())
"""


def _run(code: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", _DRIVER, str(RUNNER)],
        input=code.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "declaration", ["# -*- coding: utf-7 -*-", "# vim: set fileencoding=utf-7 :", "#coding=utf_7"]
)
def test_a_coding_declaration_does_not_change_the_program(declaration: str) -> None:
    text = f'{declaration}\nprint("decided") #+AAo-print("hidden")\n'
    done = _run(text.encode("utf-8"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "decided\n"  # the comment stays a comment


def test_code_that_is_not_utf8_is_refused() -> None:
    done = _run(b'# coding: latin-1\nprint("\xe9")\n')
    assert done.returncode == 1
    assert done.stdout == ""
    assert "UTF-8" in done.stderr


def test_plain_code_and_a_byte_order_mark_still_run() -> None:
    assert _run(b'print("hi")\n').stdout == "hi\n"
    assert _run(b'\xef\xbb\xbfprint("bom")\n').stdout == "bom\n"  # what `python3 -` accepts too
