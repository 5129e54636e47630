"""The model-detail estimation panels' SQL on real chDB against the engines.

Rows are CBPE states and confusion matrices of a calibrated model written through the
sink's write path (tests/estimation_data.py: concept drift from minute 5, labels for
the first 7 minutes); the panels' estimate, band and realised accuracy per minute must
be what processors.cbpe and the labels say, and the reliability table must flag the
drifted window range.
"""

from __future__ import annotations

import time

import pytest

from dashboards.macros import TimeRange, expand
from dashboards.model_detail import ESTIMATION_COLUMNS, estimated_over_time, estimation_table
from tests import estimation_data as data
from warehouse.backend import ChdbBackend
from warehouse.migrate import migrate

pytestmark = pytest.mark.integration

VALUES = {"consortium": ["steel"], "member": ["baowu"], "model": ["strip"],
          "site": ["hsm-2"], "hub": ["yangtze-river-delta"]}  # fmt: skip


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    backend = ChdbBackend(tmp_path_factory.mktemp("est-wh"))
    migrate(backend, log=lambda _msg: None)
    t0 = int(time.time()) // 60 * 60 - 3600
    cal = data.calibration()
    want = data.expected(data.store(backend, t0, cal), cal)
    yield backend, t0, want, cal
    backend.close()


def _epoch(value) -> int:
    return value if isinstance(value, int) else int(value.timestamp())


def test_estimated_vs_realised_per_minute(stored):
    backend, t0, want, _ = stored
    rng = TimeRange(t0, t0 + data.MINUTES * 60, interval_s=60)
    rows = backend.query(expand(estimated_over_time(), VALUES, rng)).to_pylist()
    assert [_epoch(r["time"]) for r in rows] == [w["start_s"] for w in want]
    for row, ref in zip(rows, want, strict=True):
        assert row["model"] == "strip"
        assert row["estimated"] == pytest.approx(ref["estimated_accuracy"], abs=1e-12)
        lo, hi = ref["estimated_accuracy_band"]
        assert (row["band_lo"], row["band_hi"]) == (pytest.approx(lo), pytest.approx(hi))
        if ref["realised_accuracy"] is None:
            assert row["realised"] is None
        else:
            assert row["realised"] == pytest.approx(ref["realised_accuracy"], abs=1e-12)


def test_reliability_table_flags_concept_drift(stored):
    backend, t0, want, cal = stored
    drifted = TimeRange(t0 + 5 * 60, t0 + 7 * 60 - 1, interval_s=60)  # minutes 5, 6 (inclusive)
    (row,) = backend.query(expand(estimation_table(), VALUES, drifted)).to_pylist()
    assert list(row) == list(ESTIMATION_COLUMNS)
    assert (row["model"], row["model_version"], row["n"]) == ("strip", "1", 2 * data.PER_MINUTE)
    assert row["reliable"] == 0
    assert row["reasons"] == "realised outside the band: concept drift?"
    healthy = TimeRange(t0, t0 + 5 * 60 - 1, interval_s=60)
    (row,) = backend.query(expand(estimation_table(), VALUES, healthy)).to_pylist()
    assert row["reliable"] == 1 and row["reasons"] == "" and cal.ece < 0.05
    first = [w for w in want if w["start_s"] < t0 + 5 * 60]
    pooled = sum(w["estimated_accuracy"] for w in first) / len(first)  # equal n per minute
    assert row["estimated"] == pytest.approx(pooled, abs=1e-12)
    sparse = TimeRange(t0, t0 + 59, interval_s=60)
    (row,) = backend.query(expand(estimation_table(), VALUES, sparse)).to_pylist()
    assert row["n"] == data.PER_MINUTE and row["reliable"] == 1  # 400 >= 200
