"""The console page in headless Chromium against the fake provider (fast, no pipeline).

The same checks against the real pipeline live in test_demo_e2e.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resonance.console.server import ConsoleServer
from tests.demo.conftest import ARTIFACTS, wait_until
from tests.demo.fake_provider import FakeProvider

pytestmark = pytest.mark.browser

CHARTS = ("resonance_index", "drift_share", "accuracy", "energy_kwh", "latency_p95_ms")


@pytest.fixture
def served() -> Iterator[tuple[FakeProvider, str]]:
    provider = FakeProvider()
    with ConsoleServer(provider, port=0) as server:
        yield provider, server.url


def points(page, chart: str) -> int:
    return int(page.get_attribute(f'[data-chart="{chart}"]', "data-points") or 0)


def models_shown(page) -> list[str]:
    return page.eval_on_selector_all(
        "#model-table tbody tr", "rows => rows.map(r => r.dataset.model)"
    )


def test_console_renders_grows_and_switches(served, browser_page) -> None:
    provider, url = served
    page, errors = browser_page
    page.goto(f"{url}/?poll=300")
    wait_until(page, "the first consortium rendered",
               "document.body.dataset.consortium === 'automotive'")  # fmt: skip
    assert page.eval_on_selector_all("#consortium option", "o => o.map(x => x.value)") == [
        "automotive",
        "steel",
    ]
    before = {c: points(page, c) for c in CHARTS}
    assert all(n > 0 for n in before.values()), before
    provider.tick()
    provider.tick()
    wait_until(page, f"every chart to grow past {before}",
               "b => Object.entries(b).every(([c, n]) =>"
               " Number(document.querySelector(`[data-chart=${c}]`).dataset.points) > n)",
               arg=before)  # fmt: skip
    assert page.locator(".feature").count() == 3
    automotive = models_shown(page)
    page.select_option("#consortium", "steel")
    wait_until(page, "the switch to steel", "document.body.dataset.consortium === 'steel'")
    first_row = "document.querySelector('#model-table tbody tr').dataset.model"
    wait_until(page, "steel's models in the table", f"{first_row} === 'strip-defect'")
    assert models_shown(page) == ["strip-defect", "coil-temp"] != automotive
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-fake.png"), full_page=True)
    assert errors == []
