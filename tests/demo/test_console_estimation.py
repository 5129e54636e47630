"""The console's estimation section: the endpoint against the fake provider, the page in
headless Chromium (the band, the realised dots, unreliable windows with their reasons)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resonance.console.server import ConsoleServer
from tests.demo.conftest import ARTIFACTS, wait_until
from tests.demo.fake_provider import FakeProvider
from tests.demo.test_console_api import get_json


@pytest.fixture
def served() -> Iterator[tuple[FakeProvider, str]]:
    provider = FakeProvider()
    with ConsoleServer(provider, port=0) as server:
        yield provider, server.url


def test_estimation_endpoint(served) -> None:
    provider, url = served
    status, body = get_json(f"{url}/api/estimation?consortium=steel&model=strip-defect")
    assert status == 200 and body == provider.estimation("steel", "strip-defect")
    assert len(body["rows"]) == 6 and [r["reliable"] for r in body["rows"]].count(False) == 1
    assert body["rows"][-1]["realised_accuracy"] is None
    status, body = get_json(f"{url}/api/estimation?consortium=steel&model=coil-temp")
    assert status == 200 and body["rows"] == []
    status, body = get_json(f"{url}/api/estimation?consortium=steel&model=nope")
    assert status == 404 and "nope" in body["error"]
    status, body = get_json(f"{url}/api/estimation?consortium=steel")
    assert status == 404 and "model" in body["error"]


@pytest.mark.browser
def test_page_shows_estimated_against_realised(served, browser_page) -> None:
    provider, url = served
    page, errors = browser_page
    page.goto(f"{url}/?poll=300")
    wait_until(
        page, "the estimation section", "document.querySelector('#estimation').dataset.rows === '6'"
    )
    section = page.locator("#estimation")
    assert section.is_visible() and section.get_attribute("data-unreliable") == "1"
    assert page.locator("#estimation .estimation-model").text_content() == "weld-quality"
    assert page.locator("#estimation polygon.band").count() == 1
    assert page.locator("#estimation circle.realised").count() == 3  # labels for 3 of 6
    assert page.locator("#estimation rect.unreliable").count() == 1
    rows = page.locator("#estimation-table tbody tr")
    assert rows.count() == 6
    assert rows.nth(0).locator("td").nth(4).text_content() == "awaiting labels"
    unreliable = page.locator("#estimation-table tr.unreliable td").last.text_content()
    assert unreliable.startswith("unreliable: realised accuracy 0.660 outside the band")
    provider.tick()
    wait_until(page, "a new window", "document.querySelector('#estimation').dataset.rows === '7'")
    page.locator("#model-table tbody tr").nth(1).click()  # a model without a calibration
    wait_until(page, "the section to hide", "document.querySelector('#estimation').hidden")
    page.locator("#model-table tbody tr").nth(0).click()
    wait_until(page, "the section back", "!document.querySelector('#estimation').hidden")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#estimation").screenshot(path=str(ARTIFACTS / "console-estimation.png"))
    assert errors == []


@pytest.mark.integration
def test_snapshot_reads_the_stored_estimates(tmp_path) -> None:
    """Real chDB filled through the sink's writer: the console's rows are the engines'."""
    import time

    from resonance.console.snapshot import Snapshot, SnapshotProvider, read_estimation
    from tests import estimation_data as data
    from warehouse.backend import ChdbBackend
    from warehouse.migrate import migrate

    backend = ChdbBackend(tmp_path / "wh")
    try:
        migrate(backend, log=lambda _msg: None)
        t0 = int(time.time()) // 60 * 60 - 3600
        cal = data.calibration()
        want = data.expected(data.store(backend, t0, cal), cal)
        got = read_estimation(backend, ["steel", "automotive"], t0, t0 + data.MINUTES * 60)
        one = read_estimation(backend, ["steel"], t0, t0 + data.MINUTES * 60, "strip")
    finally:
        backend.close()
    assert list(got) == [("steel", "strip")] and one == got
    rows = got[("steel", "strip")]
    assert [r["n"] for r in rows] == [data.PER_MINUTE] * data.MINUTES
    for row, ref in zip(rows, want, strict=True):
        assert row["estimated_accuracy"] == pytest.approx(ref["estimated_accuracy"], abs=1e-9)
        assert row["estimated_accuracy_band"] == pytest.approx(ref["estimated_accuracy_band"])
        assert row["realised_accuracy"] == pytest.approx(ref["realised_accuracy"], abs=1e-12)
        assert (row["reliable"], row["reasons"]) == (ref["reliable"], ref["reasons"])
    # concept drift from minute 5: the labelled minutes after it are flagged, not before
    assert [r["reliable"] for r in rows] == [True] * 5 + [False] * 2 + [True]
    assert rows[-1]["realised_accuracy"] is None
    provider = SnapshotProvider()
    provider.publish(Snapshot(estimation=got))
    assert provider.estimation("steel", "strip")["rows"] == rows
    assert provider.estimation("steel", "other")["rows"] == []


def test_estimates_are_read_on_demand_once_per_model_and_interval() -> None:
    from resonance.console.snapshot import Snapshot, SnapshotProvider

    calls: list[tuple[str, str]] = []

    def estimate(consortium: str, model: str) -> list[dict]:
        calls.append((consortium, model))
        return [{"bucket": "2026-12-02T10:00:00Z", "n": len(calls)}]

    provider = SnapshotProvider()
    provider.publish(Snapshot(estimate=estimate))
    first = provider.estimation("steel", "strip")
    assert provider.estimation("steel", "strip") == first  # served from memory
    provider.estimation("steel", "other")
    provider.publish(Snapshot(estimate=estimate))  # a refresh does not read them
    assert provider.estimation("steel", "strip") == first
    assert calls == [("steel", "strip"), ("steel", "other")]
