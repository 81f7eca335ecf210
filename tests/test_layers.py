"""The dependencies docs/architecture.md states are the ones the code has (every import, lazy ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "agentguard"

CORE = {
    "errors",
    "models",
    "owner",
    "pipeline",
    "sandbox_api",
    "settings",
    "detectors",
    "_decoded",
    "_secret_names",
    "_secret_shapes",
    "secret_arguments",
    "_stable_arguments",
    "_text_numbers",
}
ALLOWED: dict[str, set[str]] = {
    # the core: value objects, errors, Protocols, settings; nothing above it
    "errors": set(),
    "models": set(),
    "owner": {"models"},  # which process owns a queued request or a container: one notion for both
    # the decoded views (percent, base64, hex) secrets are also looked for in; the shapes it looks for
    # and the field names that hold a secret, each a table of its own
    "detectors": {"_decoded", "_secret_names", "_secret_shapes"},
    "_decoded": set(),
    "_secret_names": {"_decoded"},
    "_secret_shapes": {"_decoded"},
    "secret_arguments": set(),  # which arguments are secrets, and their masked forms: plain values
    "_stable_arguments": set(),  # where validating decided arguments again changes them: plain values
    "_text_numbers": set(),  # Decimal/Fraction/timedelta decided as the JSON numbers they are
    "pipeline": {"models"},
    "sandbox_api": {"models"},
    "settings": {"errors", "models", "sandbox_api"},
    # what the guard is built from
    "context": {"models", "settings"},
    "registry": {
        "errors",
        "models",
        "secret_arguments",
        "_stable_arguments",
        "_text_numbers",
    },  # a SecretStr argument decided on its text
    # what a conversation has read (provenance): the core only; the policy's conditions read it
    "session": CORE,
    # the stages: the core only (the policy also the session); tools run code through the sandbox (loaded
    # on first use) and read URLs and addresses with the policy's own parser and resolver
    # the shared database (PostgreSQL connections, notification, migrations): the core only, used by
    # the stages that keep shared state when database_url is set
    "database": CORE,
    "policy": CORE | {"session", "database"},  # a policy pushed to the shared database
    "approval": CORE
    | {"policy", "database"},  # a grant is compiled with the policy's compiler before it is stored
    "audit": CORE | {"database"},
    # the sandbox reads the command lines git configuration runs with the policy's shell parser (lazily),
    # to keep the working-tree files they name read-only in a rw workspace
    "sandbox": CORE | {"policy"},
    "tools": CORE | {"context", "sandbox", "policy"},
    # the steps behind the guard (receive, decide, approve, execute, their records; its session methods)
    "_guard": CORE | {"context", "registry", "session", "audit"},
    # the one module that knows the order of the steps, and what sits on top of it
    "guard": CORE | {"_guard", "context", "registry", "policy", "approval", "audit", "tools"},
    # the registry for the JSON form decided arguments take (exact numbers for Decimal fields)
    # and the policy's reading of a file: URI (a sandboxed MCP server's /workspace names, the same reading)
    "integrations": CORE | {"guard", "session", "registry", "policy"},
    "testing": CORE | {"approval"},
    "tui": CORE | {"approval", "audit"},
    # the web console sits beside the TUI: the approval store and the audit log; the registry and the
    # built-in tools for the argument models edits are validated against (and the workspace reader a
    # write's diff is computed with); the policy's shell parser to show what a command runs
    "web": CORE | {"approval", "audit", "registry", "tools", "policy"},
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "agentguard"


def imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = path.relative_to(PACKAGE).with_suffix("").parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agentguard"):
                targets = (
                    {alias.name for alias in node.names}
                    if node.module == "agentguard"
                    else {_unit(node.module)}
                )
                found.setdefault(unit, set()).update(targets - {unit})
    return found


def test_each_part_imports_only_what_the_architecture_allows() -> None:
    wrong = {
        unit: sorted(targets - ALLOWED[unit])
        for unit, targets in imports().items()
        if unit in ALLOWED and targets - ALLOWED[unit]
    }
    assert wrong == {}
