"""Late outcomes decided again (real chDB): labels that land for windows the evaluator
already decided (their accuracy unknown then) raise the accuracy alert the labels show,
within the documented bound, once per episode, replays included. And one model's failure
stops neither the others nor the next runs."""

from __future__ import annotations

import logging

import numpy as np
import orjson
import pytest

from processors.accuracy import ClassificationAccuracy
from processors.alert_lifecycle import alert_id, iso
from processors.policy import Policy
from processors.policy_config import PolicyConfig
from processors.volume import VOLUME_FIELDS, Volume
from warehouse.alert_queries import alert_history
from warehouse.backend import ChdbBackend
from warehouse.evaluator import Evaluator
from warehouse.migrate import migrate
from warehouse.sink import PartialWriter

pytestmark = pytest.mark.integration

T0 = 1_700_000_040  # a minute boundary (epoch s)
PER_WINDOW = 120
LATE = range(10, 15)  # windows whose labels arrive late (with batch LABELS_AT) and are wrong
LABELS_AT = 18
N_WINDOWS = 20
MODELS = ("m-late", "m-ctl")
POLICY = Policy(PolicyConfig.from_mapping({"defaults": {
    "accuracy_drop": {"baseline": 0.9, "min_labels": 50, "horizon": 1, "for": 2, "clear": 2},
}}))  # fmt: skip


def ms(w: int) -> int:
    return (T0 + 60 * w) * 1000


def partials(helpers, model: str, w: int, kind: str) -> list[dict]:
    """Window ``w`` of ``model``: its predictions (volume) or its labels (accuracy 0.95,
    0.6 in the late windows of m-late)."""
    rng = np.random.default_rng([w, MODELS.index(model), kind == "labels"])
    ts = np.sort(T0 + 60 * w + rng.uniform(0, 60, PER_WINDOW)).astype(np.int64)
    tenancy = dict(helpers.TENANCY, model=model, model_version="1")
    if kind == "predictions":
        codes = np.full(PER_WINDOW, VOLUME_FIELDS.index("predictions"))
        raw = helpers.Raw("volume", tenancy, "", ts, (codes,), Volume)
    else:
        acc = 0.6 if model == "m-late" and w in LATE else 0.95
        y = rng.integers(0, 2, PER_WINDOW).astype(str)
        pred = np.where(rng.random(PER_WINDOW) < acc, y, np.where(y == "1", "0", "1"))
        score = np.where(pred == "1", 0.8, 0.2)
        raw = helpers.Raw("classification", tenancy, "", ts, (y, pred, score),
                          lambda: ClassificationAccuracy(["0", "1"]))  # fmt: skip
    return [p.to_dict() for p in helpers.to_partials(raw)]


def batch(helpers, k: int) -> list[dict]:
    """Sink batch ``k``: window k's predictions, its labels unless they are late, and at
    ``LABELS_AT`` the late labels of m-late's windows ``LATE``."""
    out = []
    for m in MODELS:
        out += partials(helpers, m, k, "predictions")
        if not (m == "m-late" and k in LATE):
            out += partials(helpers, m, k, "labels")
    if k == LABELS_AT:
        out += [p for w in LATE for p in partials(helpers, "m-late", w, "labels")]
    return out


@pytest.fixture
def warehouse(tmp_path, helpers):
    backend = ChdbBackend(tmp_path / "late")
    migrate(backend, minute_ttl_days=0, log=lambda _m: None)
    yield backend
    backend.close()


def run(backend, helpers, ev: Evaluator, batches=range(N_WINDOWS)) -> list[dict]:
    writer = PartialWriter(backend, retention_days=0)
    out = []
    for k in batches:  # one sink batch, then the evaluation, as in run_sink
        writer.write(batch(helpers, k))
        out += ev.run()
    return out + ev.run(close_all=True)


def summary(transitions) -> list[tuple]:
    return [(t["model"], t["rule"], t["transition"], t["started_at"], t["resolved_at"],
             t["window_start"], t["seq"]) for t in transitions]  # fmt: skip


def test_late_labels_fire_the_accuracy_alert_they_show_and_it_resolves(warehouse, helpers):
    ev = Evaluator(warehouse, POLICY, window_s=60, lateness_s=60)
    transitions = run(warehouse, helpers, ev)
    # windows 10-14 were decided before their labels (accuracy unknown); the labels land
    # with batch 18 (cursor at window 15): decided again from window 10, the drop holds at
    # 10 and 11 (for = 2): firing, started at 10. Windows 15 and 16 are healthy: resolved
    # at 16 (clear = 2), resolved_at 15. The control model raises nothing.
    start = iso(ms(10))
    assert summary(transitions) == [
        ("m-late", "accuracy_drop", "firing", start, None, iso(ms(11)), 0),
        ("m-late", "accuracy_drop", "resolved", start, iso(ms(15)), iso(ms(16)), 1),
    ]
    assert transitions[0]["severity"] == "critical"
    assert transitions[0]["value"] == pytest.approx(0.9 - 0.6, abs=0.1)
    aid = alert_id("steel", "m-late", "1", "accuracy_drop", start)
    assert {t["id"] for t in transitions} == {aid}
    assert [h["transition"] for h in alert_history(warehouse, aid)] == ["firing", "resolved"]
    # the re-decided windows' stored verdicts carry the quality the late labels show
    got = warehouse.query(
        "SELECT toUnixTimestamp(window_start) AS w, model_quality FROM verdicts FINAL "
        "WHERE model = 'm-late' ORDER BY w"
    ).to_pylist()
    assert len(got) == N_WINDOWS
    late = [r["model_quality"] for r in got if (r["w"] - T0) // 60 in LATE]
    assert late and max(late) < 0.8, got

    # a replay from scratch (cursor forgotten) gives the same ids and stores nothing new
    warehouse.command("TRUNCATE TABLE alert_state")
    again = Evaluator(warehouse, POLICY, window_s=60, lateness_s=60).run(close_all=True)
    assert {t["id"] for t in again} == {aid}
    events = warehouse.query("SELECT id, seq FROM alert_events FINAL").to_pylist()
    assert sorted((e["id"], e["seq"]) for e in events) == [(aid, 0), (aid, 1)]


def test_labels_older_than_the_bound_never_change_a_decision(warehouse, helpers):
    """With ``late_windows=3`` only windows 13-15 are still open to a re-decision when
    the labels land (cursor at 15): the episode starts at 13, and windows 10-12 keep their
    unknown accuracy."""
    ev = Evaluator(warehouse, POLICY, window_s=60, lateness_s=60, late_windows=3)
    transitions = run(warehouse, helpers, ev)
    start = iso(ms(13))
    assert summary(transitions) == [
        ("m-late", "accuracy_drop", "firing", start, None, iso(ms(14)), 0),
        ("m-late", "accuracy_drop", "resolved", start, iso(ms(15)), iso(ms(16)), 1),
    ]


def test_without_the_late_bound_late_labels_raise_nothing(warehouse, helpers):
    ev = Evaluator(warehouse, POLICY, window_s=60, lateness_s=60, late_windows=0)
    assert run(warehouse, helpers, ev) == []


def test_one_model_failing_stops_neither_the_others_nor_the_next_runs(warehouse, helpers, caplog):
    """A corrupt stored state (its cursor is not a number) makes m-ctl fail on every run:
    m-late is still decided, fires and resolves; the failure is counted per run and
    logged once."""
    caplog.set_level(logging.ERROR, logger="resonance.evaluator")
    bad = {"last_window": "corrupt", "rules": {}, "learned": {}}
    warehouse.insert_arrow("alert_state", _state_row("m-ctl", bad))
    ev = Evaluator(warehouse, POLICY, window_s=60, lateness_s=60)
    transitions = run(warehouse, helpers, ev)
    assert [(t["model"], t["transition"]) for t in transitions] == [
        ("m-late", "firing"), ("m-late", "resolved")]  # fmt: skip
    ((reason, count),) = ev.errors.items()
    assert reason.startswith("TypeError") and count == N_WINDOWS + 1  # every run failed m-ctl
    logged = [r for r in caplog.records if "steel/m-ctl" in r.getMessage()]
    assert len(logged) == 1 and "other models go on" in logged[0].getMessage()
    decided = warehouse.query(
        "SELECT model, count() AS n FROM verdicts FINAL GROUP BY model").to_pylist()  # fmt: skip
    assert decided == [{"model": "m-late", "n": N_WINDOWS}]


def _state_row(model: str, state: dict):
    import pyarrow as pa

    ts = pa.timestamp("s", tz="UTC")
    return pa.table({"consortium": ["steel"], "model": [model],
                     "last_window": pa.array([0], ts), "state": [orjson.dumps(state).decode()],
                     "updated_at": pa.array([0], pa.timestamp("ms", tz="UTC"))})  # fmt: skip
