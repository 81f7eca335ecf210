"""What a rw sandbox call spends reading the workspace on the host (no container, no engine).

    python -m benchmarks.rw_walk [--files N]

Each rw call walks the workspace to find every ``.git``, bare git directory and guard file: when
its container is made (the read-only mounts), before its code runs (the snapshot) and after (the
sweep). This times each of those on a generated tree: a git repository with ``N`` files spread over
source directories and a ``node_modules`` of small packages, the shape of a web project. Prints
the median of repeated runs in milliseconds; nothing is written.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from agentguard.sandbox._gitscan import git_entries
from agentguard.sandbox._protect import protected_mounts
from agentguard.sandbox._quarantine import Watch


def make_tree(root: Path, files: int) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    per_dir = 12
    for i in range(files):
        group = "node_modules" if i % 3 else "src"
        directory = root / group / f"pkg{i // (per_dir * 3)}" / ("lib" if i % 2 else "")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{i}.js").write_text("x\n")


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rw_walk")
    parser.add_argument("--files", type=int, default=3700)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        root = Path(tmp).resolve() / "ws"
        make_tree(root, args.files)
        watch = Watch(str(root))
        before = watch.snapshot()
        rows = {
            "git_entries (the walk)": lambda: list(git_entries(root)),
            "protected_mounts (container made)": lambda: protected_mounts(str(root)),
            "Watch.snapshot (before the code)": watch.snapshot,
            "Watch.settle (after the code)": lambda: watch.settle(before),
        }
        print(f"{args.files} files, median of {args.repeat} runs")
        for name, fn in rows.items():
            print(f"  {name:36} {median_ms(fn, args.repeat):8.1f} ms")


if __name__ == "__main__":
    main()
