"""Stored CBPE window states merge to the engine run over the concatenated raw data.

Raw predictions with scores → cumulative ``estimation`` partials (2 blocks × 2 versions
per window, the worker's own emitter) → sink write path → chDB (minute, hour and day
tables) → ``estimated_series``; versus one :class:`processors.cbpe.CBPE` over every raw
prediction of the range. Counts exact, estimates within float tolerance; the realised
values come from the stored confusion matrices of the same buckets.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from processors.accuracy import ClassificationAccuracy
from processors.calibration import fit_calibration
from processors.cbpe import CBPE, calibration_descriptor, out_of_range_shares
from warehouse.estimation_queries import COLUMNS, LABELLED_SHARE, estimated_series
from warehouse.sink import PartialWriter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cal():
    rng = np.random.default_rng(5)
    s = rng.random(6000)
    return fit_calibration(s, (rng.random(6000) < s**1.5).astype(int))


@pytest.fixture(scope="module")
def loaded(backend, helpers, cal):
    """Two members' predictions (scores, predicted class) and, for one member, labels."""
    rng = np.random.default_rng(7)
    raws = []
    for i, member in enumerate(("baowu", "ansteel")):
        t = dict(helpers.TENANCY, member=member, site=f"site-{i}")
        ts = sample_times(helpers, rng)
        n = ts.size
        score = rng.beta(2, 2 + i, n)
        pred = np.where(score >= 0.5, "1", "0")
        desc = calibration_descriptor(cal)
        raws.append(helpers.Raw("estimation", t, desc, ts, (pred, score), lambda: CBPE(cal)))
        if i == 0:  # labels for the first 20 days only
            y = np.where(rng.random(n) < cal.calibrate(score), "1", "0")
            got = ts < helpers.T0 + 20 * helpers.DAY
            raws.append(
                helpers.Raw(
                    "classification",
                    t,
                    "",
                    ts[got],
                    (y[got], pred[got], score[got]),
                    lambda: ClassificationAccuracy(["0", "1"]),
                )
            )
    partials = [p.to_dict() for raw in raws for p in helpers.to_partials(raw)]
    PartialWriter(backend).write(partials)
    return raws


def sample_times(helpers, rng):
    """30 predictions in 4 minutes of every day for 31 days, plus a dense hour on day 10."""
    day = helpers.DAY
    windows = [helpers.T0 + d * day + h * 3600 + m * 60 for d in range(31)
               for h, m in ((0, 0), (6, 7), (12, 33), (18, 59))]  # fmt: skip
    windows += [helpers.T0 + 10 * day + 10 * 3600 + m * 60 for m in range(60)]
    return np.sort(np.concatenate([w + rng.integers(0, 60, 30) for w in windows]))


def offline(raws, kind, lo, hi):
    engines = [r.engine(lo, hi) for r in raws if r.kind == kind]
    out = engines[0]
    for e in engines[1:]:
        out = out.merge(e)
    return out


RANGES = {
    "minute": (10 * 86400 + 10 * 3600 + 5 * 60, 10 * 86400 + 10 * 3600 + 20 * 60),
    "hour-ragged": (10 * 86400 + 9 * 3600 + 30 * 60, 10 * 86400 + 11 * 3600 + 45 * 60),
    "month": (0, 30 * 86400),
    "month-ragged": (5 * 3600 + 17 * 60, 29 * 86400 + 13 * 3600 + 42 * 60),
}


@pytest.mark.parametrize("name", list(RANGES))
def test_merged_rows_equal_the_engine(backend, helpers, loaded, name):
    lo, hi = (helpers.T0 + x for x in RANGES[name])
    rows = estimated_series(backend, "steel", "strip-defect", lo, hi)
    assert len(rows) == 1 and list(rows[0]) == list(COLUMNS)
    row = rows[0]
    engine, real = offline(loaded, "estimation", lo, hi), offline(loaded, "classification", lo, hi)
    covered = real.result()["n"] >= LABELLED_SHARE * engine.count
    want = engine.result(realised_accuracy=real.result()["accuracy"] if covered else None)
    assert row["n"] == want["n"] > 0
    assert math.isclose(row["estimated_accuracy"], want["estimated_accuracy"], rel_tol=1e-9)
    assert math.isclose(row["estimated_roc_auc"], want["estimated_roc_auc"], rel_tol=1e-9)
    assert np.allclose(row["estimated_accuracy_band"], want["estimated_accuracy_band"])
    assert (row["reliable"], row["reasons"]) == (want["reliable"], want["reasons"])
    real = offline(loaded, "classification", lo, hi).result()
    assert math.isclose(row["realised_accuracy"], real["accuracy"], rel_tol=1e-12)
    assert math.isclose(row["realised_roc_auc"], real["roc_auc"], rel_tol=1e-12)


def test_daily_buckets_equal_the_engine_per_day(backend, helpers, loaded):
    lo, hi = helpers.T0, helpers.T0 + 12 * helpers.DAY
    rows = estimated_series(backend, "steel", None, lo, hi, "1d")
    assert len(rows) == 12
    for day, row in enumerate(rows):
        a = lo + day * helpers.DAY
        want = offline(loaded, "estimation", a, a + helpers.DAY).result()
        assert row["n"] == want["n"]
        assert math.isclose(row["estimated_accuracy"], want["estimated_accuracy"], rel_tol=1e-9)


def test_realised_is_null_until_labels_arrive(backend, helpers, loaded):
    lo = helpers.T0 + 22 * helpers.DAY
    rows = estimated_series(backend, "steel", "strip-defect", lo, lo + 5 * helpers.DAY, "1d")
    assert [r["n"] for r in rows] == [
        offline(loaded, "estimation", a, a + helpers.DAY).count
        for a in range(lo, lo + 5 * helpers.DAY, helpers.DAY)
    ]
    assert all(r["realised_accuracy"] is None and r["realised_roc_auc"] is None for r in rows)
    assert all(r["estimated_accuracy"] is not None for r in rows)


def test_unknown_model_no_rows_and_small_windows_unreliable(backend, helpers, loaded):
    assert estimated_series(backend, "steel", "no-such-model", helpers.T0, helpers.T0 + 86400) == []
    lo = helpers.T0 + 10 * helpers.DAY + 10 * 3600
    rows = estimated_series(backend, "steel", "strip-defect", lo, lo + 3600, "1m")
    assert len(rows) == 60 and all(r["n"] > 0 for r in rows)
    assert all(r["reasons"] for r in rows)  # ~60 predictions a minute: too few samples
    assert all(not r["reliable"] for r in rows)


def test_the_evaluator_fires_estimated_performance_drop_before_any_label(backend, helpers, cal):
    """Stored CBPE states only (no outcome at all): confident scores for 8 minutes, then
    scores crowding 0.5; the policy's rule fires, critical, from the warehouse."""
    from warehouse.alert_queries import list_alerts
    from warehouse.evaluator import Evaluator

    rng = np.random.default_rng(8)
    t = dict(helpers.TENANCY, model="cbpe-alert")
    start = helpers.T0 + 40 * 3600
    ts = np.concatenate([start + m * 60 + np.sort(rng.integers(0, 60, 400)) for m in range(12)])
    confident = np.where(
        rng.random(ts.size) < 0.5, rng.beta(1, 9, ts.size), rng.beta(9, 1, ts.size)
    )
    score = np.where(ts < start + 8 * 60, confident, rng.uniform(0.35, 0.65, ts.size))
    pred = np.where(score >= 0.5, "1", "0")
    raw = helpers.Raw("estimation", t, calibration_descriptor(cal), ts, (pred, score),
                      lambda: CBPE(cal))  # fmt: skip
    PartialWriter(backend).write([p.to_dict() for p in helpers.to_partials(raw)])
    Evaluator(backend, window_s=60, lateness_s=0).run(close_all=True)
    alerts = [a for a in list_alerts(backend, "steel", "cbpe-alert")
              if a["rule"] == "estimated_performance_drop"]  # fmt: skip
    assert len(alerts) == 1
    (a,) = alerts
    assert a["severity"] == "critical" and a["state"] == "firing"
    first_bad = start + 8 * 60
    from warehouse.queries import parse_time

    assert first_bad <= parse_time(a["started_at"]) <= first_bad + 3 * 60


def test_features_outside_the_reference_range_make_the_estimate_unreliable(backend, helpers, cal):
    """The out-of-range guardrail from the same bucket's stored numeric drift histograms:
    30% of one feature's values beyond the reference max in the second hour only."""
    from processors.drift import NumericDrift
    from processors.reference import fit_numeric

    rng = np.random.default_rng(9)
    ref = fit_numeric(rng.normal(900, 10, 5000), "strip_temp_c")
    t = dict(helpers.TENANCY, model="cbpe-ood")
    start = helpers.T0 + 50 * 3600
    ts = start + np.sort(rng.integers(0, 2 * 3600, 3000))
    score = rng.random(ts.size)
    temp = rng.normal(900, 10, ts.size)
    late = (ts >= start + 3600) & (rng.random(ts.size) < 0.3)
    temp[late] = 1000.0
    raws = [
        helpers.Raw("estimation", t, calibration_descriptor(cal), ts,
                    (np.where(score >= 0.5, "1", "0"), score), lambda: CBPE(cal)),
        helpers.Raw("drift_numeric", t, "strip_temp_c", ts, (temp,), lambda: NumericDrift(ref)),
    ]  # fmt: skip
    PartialWriter(backend).write([p.to_dict() for r in raws for p in helpers.to_partials(r)])
    rows = estimated_series(backend, "steel", "cbpe-ood", start, start + 7200, "1h")
    assert [r["n"] for r in rows] == [
        int((ts < start + 3600).sum()),
        int((ts >= start + 3600).sum()),
    ]
    assert rows[0]["reliable"] and rows[0]["reasons"] == []
    second = NumericDrift(ref).update(temp[ts >= start + 3600])
    share = out_of_range_shares({"strip_temp_c": second})["strip_temp_c"]
    assert share >= late.sum() / second.count
    assert not rows[1]["reliable"]
    assert rows[1]["reasons"] == [
        f"feature 'strip_temp_c' outside the reference range: {share:.1%}"
    ]
