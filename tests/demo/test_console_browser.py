"""The console page in headless Chromium against the fake provider (fast, no pipeline).

The same checks against the real pipeline live in test_demo_e2e.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resonance.console.server import ConsoleServer
from tests.demo.conftest import ARTIFACTS
from tests.demo.fake_provider import FakeProvider

pytestmark = pytest.mark.browser

CHARTS = ("resonance_index", "drift_share", "accuracy", "energy_kwh", "latency_p95_ms")


@pytest.fixture
def served() -> Iterator[tuple[FakeProvider, str]]:
    provider = FakeProvider()
    with ConsoleServer(provider, port=0) as server:
        yield provider, server.url


def points(page, chart: str) -> int:  # noqa: ANN001 (playwright Page)
    return int(page.get_attribute(f'[data-chart="{chart}"]', "data-points") or 0)


def models_shown(page) -> list[str]:  # noqa: ANN001
    return page.eval_on_selector_all(
        "#model-table tbody tr", "rows => rows.map(r => r.dataset.model)"
    )


def test_console_renders_grows_and_switches(served, browser_page) -> None:  # noqa: ANN001
    provider, url = served
    page, errors = browser_page
    page.goto(f"{url}/?poll=300")
    page.wait_for_function("document.body.dataset.consortium === 'automotive'")
    assert page.eval_on_selector_all("#consortium option", "o => o.map(x => x.value)") == [
        "automotive",
        "steel",
    ]
    before = {c: points(page, c) for c in CHARTS}
    assert all(n > 0 for n in before.values()), before
    provider.tick()
    provider.tick()
    page.wait_for_function(
        "n => Number(document.querySelector('[data-chart=resonance_index]').dataset.points) > n",
        arg=before["resonance_index"],
    )
    assert all(points(page, c) > before[c] for c in CHARTS)
    assert page.locator(".feature").count() == 3
    automotive = models_shown(page)
    page.select_option("#consortium", "steel")
    page.wait_for_function("document.body.dataset.consortium === 'steel'")
    page.wait_for_function(
        "document.querySelector('#model-table tbody tr').dataset.model === 'strip-defect'"
    )
    assert models_shown(page) == ["strip-defect", "coil-temp"] != automotive
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-fake.png"), full_page=True)
    assert errors == []
