"""Getting the sandbox images ready before a command's first sandboxed call, with visible progress.

A newcomer's first command must run everything: missing images are built here, debootstrap is
installed with apt-get when the build needs it and this is root on a Debian-like system, and when
the machine cannot build at all the caller is told why and what to do, in one sentence.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from agentguard.errors import SandboxError
from agentguard.sandbox._images import BuildEvent
from agentguard.settings import Settings

__all__ = ["BuildDisplay", "build_display", "prepare_sandbox"]

# Plain (non-terminal) output: a heartbeat line at most this often while one step streams output.
_HEARTBEAT_S = 5.0


class BuildDisplay:
    """Shows build events: a live spinner per stage on a terminal, plain timestamped lines otherwise."""

    def __init__(self, console: Console, progress: Progress | None) -> None:
        self._console = console
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        self._started = time.monotonic()
        self._last_line = 0.0

    def _elapsed(self) -> str:
        return f"[{time.monotonic() - self._started:6.1f}s]"

    def event(self, event: BuildEvent) -> None:
        if self._progress is not None:
            self._live(self._progress, event)
            return
        now = time.monotonic()
        if event.state == "progress" and now - self._last_line < _HEARTBEAT_S:
            return
        mark = {"start": "...", "done": "ok ", "skipped": "ok ", "progress": "   "}[event.state]
        self._console.print(
            f"{self._elapsed()} {mark} {event.step}: {event.message[:110]}", highlight=False, markup=False
        )
        self._last_line = now

    def _live(self, progress: Progress, event: BuildEvent) -> None:
        task = self._tasks.get(event.step)
        text = f"[bold]{event.step}[/]: {event.message[:90]}"
        if task is None:
            task = self._tasks[event.step] = progress.add_task(text, total=None)
        if event.state in ("done", "skipped"):
            progress.update(task, description=f"[green]✓[/] {text}", total=1, completed=1)
        else:
            progress.update(task, description=text)


@contextmanager
def build_display(console: Console) -> Iterator[BuildDisplay]:
    if not console.is_terminal:
        yield BuildDisplay(console, None)
        return
    columns = (SpinnerColumn(finished_text=" "), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield BuildDisplay(console, progress)


def prepare_sandbox(settings: Settings, console: Console, *, build: bool = True) -> str | None:
    """``None`` when the sandbox images are ready (built here if they were missing); otherwise one
    sentence saying why they are not and what to do. Never raises for a machine that cannot build."""
    from agentguard.sandbox._engine import connect
    from agentguard.sandbox._images import build_images, image_status, needs_debootstrap

    try:
        client = connect(settings.sandbox.docker_host)
    except SandboxError as exc:
        return exc.message
    try:
        statuses = image_status(client.api, settings.sandbox)
        if all(s.present and s.up_to_date and s.protocol_ok for s in statuses):
            return None
        if not build:
            return "the sandbox images are not built (--no-build): run `agentguard sandbox build` once"
        cache = settings.home / "sandbox"
        console.print("[bold]building the sandbox images[/] (once per machine; --no-build skips this)")
        with build_display(console) as display:
            if needs_debootstrap(client.api, settings.sandbox, cache) and shutil.which("debootstrap") is None:
                problem = _install_debootstrap(display)
                if problem is not None:
                    return problem
            build_images(client.api, settings.sandbox, cache_dir=cache, progress=display.event)
    except SandboxError as exc:
        return f"building the sandbox images failed: {exc.message}"
    finally:
        client.close()
    return None


def _install_debootstrap(display: BuildDisplay) -> str | None:
    """Install debootstrap with apt-get (root on Debian/Ubuntu only); a sentence when that cannot be done."""
    manual = (
        "the sandbox base is built from Debian's package archive with debootstrap, which is not installed"
    )
    if shutil.which("apt-get") is None:
        return f"{manual}; install debootstrap with your package manager, then run this again"
    if os.geteuid() != 0:
        return f"{manual}: run `sudo apt-get install debootstrap`, then run this again"
    display.event(BuildEvent("debootstrap", "installing debootstrap with apt-get", "start"))
    install = ["apt-get", "install", "-y", "-q", "debootstrap"]
    # A fresh machine may have no package lists yet: update once and try again.
    update = ["apt-get", "update", "-q"]
    installed = _apt(display, install) or (_apt(display, update) and _apt(display, install))
    if not installed:
        return f"{manual}, and `apt-get install debootstrap` failed: run it by hand to see why"
    display.event(BuildEvent("debootstrap", "installed debootstrap", "done"))
    return None


def _apt(display: BuildDisplay, cmd: list[str]) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env
        )
    except OSError:
        return False
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            if line.strip():
                display.event(BuildEvent("debootstrap", line.strip()))
    return proc.returncode == 0
