"""The console server against a fake provider: routes, payloads, errors, static assets.

The server owns transport only (routes, JSON, status codes, static files), so each payload
is checked against what the provider returned for the same call: what reaches the browser
is the provider's payload, whole. The values themselves are the real provider's business
(tests/demo/test_warehouse_read_path.py, tests/dashboards/test_one_decision.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from resonance.console.provider import ConsoleProvider
from resonance.console.server import ConsoleServer
from tests.demo.fake_provider import FakeProvider


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def console(provider: FakeProvider) -> Iterator[str]:
    with ConsoleServer(provider, port=0) as server:
        yield server.url


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as res:
            return res.status, res.headers["Content-Type"], res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def get_json(url: str) -> tuple[int, dict]:
    status, ctype, body = get(url)
    assert ctype == "application/json"
    return status, json.loads(body)


def test_fake_provider_satisfies_the_protocol(provider: FakeProvider) -> None:
    assert isinstance(provider, ConsoleProvider)


def test_index_and_assets_are_served_from_the_package(console: str) -> None:
    status, ctype, body = get(console + "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b'id="consortium"' in body
    for asset, kind in (
        ("app.js", "text/javascript"),
        ("charts.js", "text/javascript"),
        ("style.css", "text/css"),
        ("vendor/uPlot.iife.min.js", "text/javascript"),
        ("vendor/uPlot.min.css", "text/css"),
    ):
        status, ctype, body = get(f"{console}/static/{asset}")
        assert status == 200 and ctype.startswith(kind) and body
    assert b"/static/vendor/uPlot.iife.min.js" in get(console + "/")[2]
    assert b"uPlot (v1.6.32)" in get(f"{console}/static/vendor/uPlot.iife.min.js")[2][:80]
    from importlib import resources

    license_text = resources.files("resonance.console").joinpath("static/vendor/uPlot.LICENSE")
    assert "The MIT License" in license_text.read_text()


def test_page_references_no_external_url(console: str) -> None:
    for path in ("/", "/static/app.js", "/static/charts.js", "/static/style.css",
                 "/static/vendor/uPlot.min.css"):  # fmt: skip
        body = get(console + path)[2].decode()
        assert "https://" not in body and "http://cdn" not in body


@pytest.mark.parametrize(
    "path",
    ["/static/../server.py", "/static/provider.py", "/nope", "/static/vendor/../app.js",
     "/static/other/x.js", "/static/vendor/uPlot.LICENSE"],
)  # fmt: skip
def test_unknown_paths_are_404(console: str, path: str) -> None:
    assert get(console + path)[0] == 404


def test_consortia(console: str, provider: FakeProvider) -> None:
    assert get_json(console + "/api/consortia") == (200, provider.consortia())


def test_consortium_payload_and_growth(console: str, provider: FakeProvider) -> None:
    status, data = get_json(console + "/api/consortium?name=steel")
    assert status == 200 and data == provider.consortium("steel")
    first = data["models"][0]
    for key in (
        "samples",
        "resonance_index",
        "drift_share",
        "accuracy",
        "energy_kwh",
        "latency_p95_ms",
        "drift_detected",
        "first_drift_at",
    ):
        assert key in first
    assert set(first["series"]) >= {
        "t",
        "resonance_index",
        "drift_share",
        "accuracy",
        "energy_kwh",
        "latency_p95_ms",
    }
    provider.tick()
    grown = get_json(console + "/api/consortium?name=steel")[1]
    assert grown == provider.consortium("steel") != data  # served fresh, not cached


def test_the_name_parameter_picks_the_consortium(console: str, provider: FakeProvider) -> None:
    served = []
    for name in provider.consortia()["consortia"]:
        served.append(get_json(f"{console}/api/consortium?name={name}")[1])
        assert served[-1] == provider.consortium(name)
    assert len({json.dumps(p, sort_keys=True) for p in served}) == len(served) > 1


def test_model_features(console: str, provider: FakeProvider) -> None:
    status, data = get_json(console + "/api/model?consortium=steel&model=strip-defect")
    assert (status, data) == (200, provider.model("steel", "strip-defect"))


@pytest.mark.parametrize(
    "path",
    [
        "/api/consortium?name=textiles",
        "/api/model?consortium=steel&model=nope",
        "/api/consortium",
        "/api/model?consortium=steel",
    ],
)
def test_unknown_or_missing_names_are_404(console: str, path: str) -> None:
    status, data = get_json(console + path)
    assert status == 404 and "unknown" in data["error"]


def test_health(console: str, provider: FakeProvider) -> None:
    assert get_json(console + "/api/health") == (200, provider.health())


class Broken(FakeProvider):
    def health(self) -> dict:
        raise RuntimeError("warehouse busy")

    def consortia(self) -> dict:
        return {"consortia": [], "odd": float("nan")}


def test_provider_failure_is_503_and_nan_becomes_null() -> None:
    with ConsoleServer(Broken(), port=0) as server:
        status, data = get_json(server.url + "/api/health")
        assert status == 503 and data["error"] == "warehouse busy"
        assert get_json(server.url + "/api/consortia")[1]["odd"] is None
