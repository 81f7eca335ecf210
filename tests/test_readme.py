"""The README's two set-up commands are the ones CI runs."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if "pytest" in line]
    assert len(ci_lines) == 1
    readme = (REPO / "README.md").read_text()
    assert ci_lines[0].strip() in readme


def test_readme_names_the_main_job() -> None:
    assert "agentguard --home" in (REPO / "README.md").read_text()
    assert "demo" in (REPO / "README.md").read_text()
