"""The policy evaluated on stored partials (real chDB): one alert per episode, fired and
resolved at the exact windows, controls silent, replays and crashes idempotent."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from processors.alert_lifecycle import alert_id, iso
from processors.drift import drift_engine
from processors.reference import fit_reference
from warehouse.alert_queries import alert_history, list_alerts
from warehouse.backend import ChdbBackend
from warehouse.evaluator import Evaluator
from warehouse.migrate import migrate
from warehouse.references import store_reference
from warehouse.sink import PartialWriter

pytestmark = pytest.mark.integration

T0 = 1_700_000_040  # a minute boundary (epoch s)
N_WINDOWS = 30
PER_WINDOW = 150
DRIFT = range(10, 18)  # windows where x of the drifted model is shifted by 1.5 std
MODELS = ("m-drift", "m-ctl-1", "m-ctl-2")


@pytest.fixture(scope="module")
def profile():
    rng = np.random.default_rng(0)
    return fit_reference(
        {"x": rng.normal(0, 1, 20_000), "y": rng.gamma(2, 3, 20_000),
         "g": rng.choice(["a", "b", "c"], 20_000, p=[0.6, 0.3, 0.1])},
        model="m", version="1", categorical=["g"],
    )  # fmt: skip


def window_partials(profile, model: str, w: int, helpers) -> list[dict]:
    rng = np.random.default_rng(hash((model, w)) % 2**32)
    shift = 1.5 if model == "m-drift" and w in DRIFT else 0.0
    values = {
        "x": rng.normal(shift, 1, PER_WINDOW),
        "y": rng.gamma(2, 3, PER_WINDOW),
        "g": rng.choice(["a", "b", "c"], PER_WINDOW, p=[0.6, 0.3, 0.1]),
    }
    ts = np.full(PER_WINDOW, T0 + 60 * w)
    out = []
    for feature, col in values.items():
        ref = profile.features[feature]
        kind = "drift_numeric" if feature != "g" else "drift_categorical"
        tenancy = dict(helpers.TENANCY, model=model, model_version="1")
        raw = helpers.Raw(kind, tenancy, feature, ts, (col,), lambda ref=ref: drift_engine(ref))
        out += [p.to_dict() for p in helpers.to_partials(raw)]
    return out


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, profile, helpers):
    backend = ChdbBackend(tmp_path_factory.mktemp("eval"))
    migrate(backend, minute_ttl_days=0, log=lambda _m: None)
    for model in MODELS:
        store_reference(backend, "steel", replace(profile, model=model))
    yield backend
    backend.close()


def run_stream(backend, profile, helpers, evaluator, windows) -> list[dict]:
    writer = PartialWriter(backend, retention_days=0)
    out = []
    for w in windows:  # one sink batch per window, then the evaluation, as in run_sink
        writer.write([p for m in MODELS for p in window_partials(profile, m, w, helpers)])
        out += evaluator.run()
    return out


def test_sudden_drift_fires_once_and_resolves(warehouse, profile, helpers):
    ev = Evaluator(warehouse, window_s=60, lateness_s=60, clock=lambda: T0 + 10_000)
    transitions = run_stream(warehouse, profile, helpers, ev, range(N_WINDOWS))
    transitions += ev.run(close_all=True)
    got = [(t["model"], t["rule"], t["transition"], t["started_at"], t["resolved_at"])
           for t in transitions]  # fmt: skip
    start, end = iso((T0 + 60 * 10) * 1000), iso((T0 + 60 * 20) * 1000)
    # fires at window 10 (for = 1) with started_at = window 10; the horizon (3 windows) is
    # clean from window 20, three clean windows later (clear = 3) it resolves
    assert got == [
        ("m-drift", "feature_drift", "firing", start, None),
        ("m-drift", "feature_drift", "resolved", start, end),
    ]
    assert transitions[0]["id"] == alert_id("steel", "m-drift", "1", "feature_drift", start)
    assert transitions[0]["window_start"] == iso((T0 + 60 * 10) * 1000)
    assert transitions[1]["window_start"] == iso((T0 + 60 * 22) * 1000)
    assert [f["feature"] for f in transitions[0]["features"]] == ["x"]
    assert transitions[0]["features"][0]["statistic"] == "wasserstein"
    listed = list_alerts(warehouse, consortium="steel")
    assert [(a["model"], a["rule"], a["state"], a["features"]) for a in listed] == [
        ("m-drift", "feature_drift", "resolved", ["x"])
    ]
    assert listed[0]["resolved_at"] == end
    # every window of every model has its stored verdict
    n = warehouse.query("SELECT count() AS n FROM verdicts FINAL").to_pylist()[0]["n"]
    assert n == N_WINDOWS * len(MODELS)


def test_replay_from_scratch_and_crash_before_the_cursor_are_idempotent(warehouse, profile,
                                                                          helpers):  # fmt: skip
    """Forget the cursor (a replay from the beginning) and fail the publish once (a crash
    after the transition was produced, before the cursor moved): still one alert, two
    transitions, each stored once."""
    warehouse.command("TRUNCATE TABLE alert_state")
    calls = []

    def publish(records):
        calls.append(records)
        if len(calls) == 1:
            raise RuntimeError("crash after the produce")

    ev = Evaluator(warehouse, window_s=60, lateness_s=60, publish=publish)
    with pytest.raises(RuntimeError):
        ev.run()
    ev.run()
    ev.run(close_all=True)
    assert [[t["transition"] for t in c] for c in calls] == [["firing", "resolved"]] * 2
    assert calls[0] == calls[1] or [t["id"] for t in calls[0]] == [t["id"] for t in calls[1]]
    events = warehouse.query(
        "SELECT id, seq, transition FROM alert_events FINAL ORDER BY seq"
    ).to_pylist()
    assert [(e["seq"], e["transition"]) for e in events] == [(0, "firing"), (1, "resolved")]
    assert len({e["id"] for e in events}) == 1
    assert [h["transition"] for h in alert_history(warehouse, events[0]["id"])] == [
        "firing", "resolved"]  # fmt: skip
