"""Screenshots of every screen at 80x24 and 120x40 (fixed ids, times and audit records)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from .conftest import Queue, make_app

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture
def seeded(queue: Queue) -> Queue:
    queue.seed()
    queue.add_grants()
    return queue


async def _settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_queue(snap_compare: Any, seeded: Queue, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES)
def test_queue_shell_request_selected(snap_compare: Any, seeded: Queue, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(seeded), terminal_size=size, press=["down"], run_before=_settle)


@pytest.mark.parametrize("size", SIZES)
def test_empty_queue(snap_compare: Any, queue: Queue, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(queue), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES)
def test_scope_dialog(snap_compare: Any, seeded: Queue, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(seeded), terminal_size=size, press=["down", "down", "A"], run_before=_settle)


@pytest.mark.parametrize("size", SIZES)
def test_deny_dialog(snap_compare: Any, seeded: Queue, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(seeded), terminal_size=size, press=["down", "d", *"not on main"])


@pytest.mark.parametrize("size", SIZES)
def test_edit_dialog(snap_compare: Any, seeded: Queue, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(seeded), terminal_size=size, press=["down", "down", "e"])


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, seeded: Queue, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(seeded), terminal_size=size, press=["question_mark"])


@pytest.mark.parametrize("size", SIZES)
def test_grants_screen(snap_compare: Any, seeded: Queue, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(seeded), terminal_size=size, press=["g"], run_before=_settle)


@pytest.mark.parametrize("size", SIZES)
def test_audit_screen(snap_compare: Any, seeded: Queue, size: tuple[int, int]) -> None:
    async def open_audit(pilot: Pilot[Any]) -> None:
        await pilot.press("l")
        await _settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=open_audit)
