"""Every ```python block in README.md and docs/**/*.md runs, and the outcomes its comments claim are checked.

Convention for doc authors (the comments are the assertions):

- ``stmt  # raises PolicyDenied ...``: the statement must raise exactly that class (matched by name).
- ``expr  # -> EXPR``: the expression must equal EXPR, evaluated in the block's namespace.
- Any other comment that says ``raises`` is refused, so a claim cannot slip past as prose.
- ``<!-- docker -->`` on the line before the fence: the block runs only when the Docker engine is reachable.
- ``<!-- not run: REASON -->`` on the line before the fence: the block is skipped, and the skip names REASON.

Each block runs in a fresh namespace, in a fresh temporary working directory holding a README.md and a
copy of the shipped default policy in ./permissions, with a fresh AGENTGUARD_HOME, under a time limit.
"""

from __future__ import annotations

import ast
import io
import re
import shutil
import signal
import subprocess
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPO / "agentguard" / "_defaults" / "permissions"
TIMEOUT_S = 60

_MARKER = re.compile(r"<!--\s*(docker|not run:\s*(?P<reason>.+?))\s*-->")
_RAISES = re.compile(r"#\s*raises\s+(?P<name>[A-Za-z_]\w*)\b")
_EQUALS = re.compile(r"#\s*->\s*(?P<expr>.+)$")


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # the line of the opening fence, 1-based
    code: str
    marker: str  # "", "docker" or "not run: REASON"

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def doc_blocks() -> Iterator[Block]:
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            if lines[i].strip().startswith("```python"):
                end = i + 1
                while end < len(lines) and not lines[end].strip().startswith("```"):
                    end += 1
                prev = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
                m = _MARKER.search(prev)
                marker = "" if m is None else m.group(1)
                rel = str(path.relative_to(REPO))
                yield Block(rel, i + 1, "\n".join(lines[i + 1 : end]) + "\n", marker)
                i = end
            i += 1


BLOCKS = list(doc_blocks())


def _comments(code: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return {t.start[0]: t.string for t in tokens if t.type == tokenize.COMMENT}


def _raises_check(stmt: ast.stmt, name: str) -> list[ast.stmt]:
    """try: stmt / except BaseException as e: assert type(e).__name__ == name / else: fail."""
    check = ast.parse(
        "try:\n    pass\n"
        "except BaseException as _doc_exc:\n"
        f"    if type(_doc_exc).__name__ != {name!r}:\n"
        f"        raise AssertionError('expected {name}, got ' + repr(_doc_exc)) from _doc_exc\n"
        "else:\n"
        f"    raise AssertionError('expected {name}; nothing was raised')\n"
    ).body
    try_node = check[0]
    assert isinstance(try_node, ast.Try)
    try_node.body = [stmt]
    return check


def _equals_check(stmt: ast.stmt, expected: str, line: int) -> list[ast.stmt]:
    if not isinstance(stmt, ast.Expr):
        raise AssertionError(f"line {line}: '# -> {expected}' needs an expression statement")
    check = ast.parse(
        f"_doc_got = None\n_doc_want = ({expected})\n"
        "assert _doc_got == _doc_want, f'got {_doc_got!r}, want {_doc_want!r}'\n"
    ).body
    assign = check[0]
    assert isinstance(assign, ast.Assign)
    assign.value = stmt.value
    return check


def rewrite(code: str) -> ast.Module:
    """The block with each claim-bearing top-level statement wrapped in its check."""
    tree = ast.parse(code)
    comments = _comments(code)
    claimed: set[int] = set()
    body: list[ast.stmt] = []
    for stmt in tree.body:
        line = stmt.end_lineno or stmt.lineno
        comment = "" if hasattr(stmt, "body") else comments.get(line, "")  # compound: claims go inside
        raises, equals = _RAISES.search(comment), _EQUALS.search(comment)
        if raises is not None:
            body.extend(_raises_check(stmt, raises.group("name")))
            claimed.add(line)
        elif equals is not None:
            body.extend(_equals_check(stmt, equals.group("expr").strip(), line))
            claimed.add(line)
        else:
            body.append(stmt)
    for line, comment in comments.items():
        if line not in claimed and re.search(r"\braises\b|#\s*->", comment):
            msg = f"line {line}: claim {comment!r} is not on a top-level statement's last line"
            raise AssertionError(msg)
    return ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))


def _docker_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _on_timeout(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"doc block ran longer than {TIMEOUT_S}s")


def test_the_docs_have_python_blocks() -> None:
    assert any(b.file == "README.md" for b in BLOCKS)
    assert len(BLOCKS) >= 10


def test_excluded_blocks_are_listed() -> None:
    """The exclusions, visible in the test output (-rs shows the reasons as well)."""
    excluded = {b.id: b.marker for b in BLOCKS if b.marker.startswith("not run")}
    print("\n".join(f"{k}: {v}" for k, v in excluded.items()))
    assert not any(b.file == "README.md" for b in BLOCKS if b.marker.startswith("not run"))


def test_rewrite_checks_claims() -> None:
    """The convention itself: a wrong claim fails."""
    with pytest.raises(AssertionError, match="expected ValueError"):
        exec(compile(rewrite("{}['x']  # raises ValueError\n"), "t", "exec"), {})
    with pytest.raises(AssertionError, match="nothing was raised"):
        exec(compile(rewrite("1  # raises KeyError\n"), "t", "exec"), {})
    with pytest.raises(AssertionError, match="got 2, want 3"):
        exec(compile(rewrite("1 + 1  # -> 3\n"), "t", "exec"), {})
    exec(compile(rewrite("{}['x']  # raises KeyError (named)\n1 + 1  # -> 2\n"), "t", "exec"), {})
    with pytest.raises(AssertionError, match="not on a top-level"):
        rewrite("if True:\n    {}['x']  # raises KeyError\n")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if block.marker.startswith("not run"):
        pytest.skip(f"{block.id} marked {block.marker!r}")
    if block.marker == "docker" and not _docker_reachable():
        pytest.skip(f"{block.id} needs Docker; the engine is not reachable")
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("hello from the doc test\n")
    shutil.copytree(DEFAULT_POLICY, work / "permissions")
    monkeypatch.chdir(work)
    monkeypatch.setenv("AGENTGUARD_HOME", str(tmp_path / "home"))
    for var in ("AGENTGUARD_POLICY", "AGENTGUARD_WORKSPACE", "AGENTGUARD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    code = compile(rewrite(block.code), block.id, "exec")
    old = signal.signal(signal.SIGALRM, _on_timeout)
    signal.alarm(TIMEOUT_S)
    try:
        exec(code, {"__name__": "__doc_block__"})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
