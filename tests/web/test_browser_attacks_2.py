"""Red-team round 2 in the browser: what the page sends is what the person saw."""

from __future__ import annotations

from collections.abc import Callable

from tests.web.conftest import Agent, Served
from tests.web.test_browser import Page, browser, expect, log_in, new_page, visit

__all__ = ["browser", "new_page"]  # the fixtures, used by name


def test_a_quick_enter_never_grants_a_pattern_the_preview_did_not_show(
    serve: Callable[..., Served], agents: Callable[..., Agent], new_page: Callable[..., Page]
) -> None:
    served = serve()
    (served.workspace / "src").mkdir()
    page = new_page()
    log_in(page, served)
    agent = agents(served, "fs.write", {"path": "src/app.py", "content": "x = 2\n"})
    (q,) = served.wait_pending()
    visit(page, f"{served.url}/requests/{q.id}")
    page.click("text=Approve always…")
    expect(page.locator("#rule-preview")).to_contain_text("{workspace}/src/**")
    wide = "{workspace}/**"
    page.fill("#always-pattern", wide)
    page.press("#always-pattern", "Enter")  # before the preview (150 ms after typing) can show it
    expect(page.locator("#flash")).to_contain_text("Check the rule shown")
    assert served.store.get(q.id).pending
    assert served.store.grants() == []
    expect(page.locator("#rule-preview")).to_contain_text(f'path(path, "{wide}")')
    page.press("#always-pattern", "Enter")
    expect(page.locator("#state")).to_contain_text("approved by alice")
    (grant,) = served.store.grants()
    assert wide in grant.condition
    assert agent.outcome()["ok"] is True
