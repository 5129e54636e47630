"""The policy's feature verdict on real data with a documented change point, not the
simulator: the Nile's annual flow at Aswan, 1871-1970 (tests/data/nile.csv, public
domain, Cobb 1978), whose mean drops from ~1,100 to ~850 (10⁸ m³) in 1898.

One window = one year. The reference is 1871-1885 (15 years, all before the change);
the stream is 1886-1970, decided through the alert lifecycle as in the evaluator. Policy
for annual data (README, "Policy", real data): ``horizon`` = ``max_horizon`` =
``min_samples`` = 10 windows, ``alpha`` = 0.001, ``for`` = 1, the default effect gates.
Documented delay: at most one horizon (10 windows) after the change window.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from processors.alert_lifecycle import advance
from processors.drift import drift_engine
from processors.policy import Policy, WindowStats, feature_results
from processors.policy_config import PolicyConfig
from processors.reference import fit_reference

DATA = Path(__file__).parents[1] / "data" / "nile.csv"
CHANGE = 1898
REFERENCE_YEARS = range(1871, 1886)
ANNUAL = {"feature_drift": {"horizon": 10, "max_horizon": 10, "min_samples": 10,
                            "alpha": 0.001, "for": 1}}  # fmt: skip
DELAY_MAX = 10


def nile() -> dict[int, float]:
    with DATA.open() as f:
        return {int(r["year"]): float(r["volume"]) for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def flow():
    years = nile()
    assert len(years) == 100 and (min(years), max(years)) == (1871, 1970)
    assert (years[1871], years[1898], years[1970]) == (1120.0, 1100.0, 740.0)
    profile = fit_reference(
        {"flow": np.array([years[y] for y in REFERENCE_YEARS])}, model="nile", version="1"
    )
    return years, profile.features["flow"]


def decide(policy: Policy, windows: list[WindowStats]) -> tuple[list[int], list]:
    """Years in which the feature_drift alert fires, and each year's verdict."""
    rule = policy.rules("", "").feature_drift
    lookback = policy.lookback("", "")
    state: dict = {}
    fired, verdicts = [], []
    for i in range(len(windows)):
        v = policy.evaluate("", "", windows[max(0, i - lookback + 1) : i + 1])
        verdicts.append(v)
        step = advance(state, v.conditions["feature_drift"], windows[i].window_start,
                       rule.for_windows, rule.clear_windows)  # fmt: skip
        if step is not None and step[0] == "firing":
            fired.append(windows[i].window_start)
    return fired, verdicts


def stream(years: dict[int, float], ref) -> list[WindowStats]:
    return [
        WindowStats(y, drift={"flow": drift_engine(ref).update([years[y]])})
        for y in sorted(years)
        if y not in REFERENCE_YEARS
    ]


def test_nile_change_detected_after_1898_within_one_horizon(flow):
    years, ref = flow
    fired, verdicts = decide(Policy(PolicyConfig.from_mapping({"defaults": ANNUAL})),
                             stream(years, ref))  # fmt: skip
    assert fired and min(fired) >= CHANGE  # no alert before the documented change point
    # first alert in 1907: the first year whose 10-year horizon lies wholly after 1897
    assert fired[0] == 1907 and fired[0] - CHANGE <= DELAY_MAX
    first = next(v for v in verdicts if v.window_start == 1907).features[0]
    assert (first.statistic, first.n, first.drift) == ("wasserstein", 10, True)
    assert first.value == pytest.approx(1.90, abs=0.01)  # W1 / reference std
    assert first.p_value == pytest.approx(0.000335, rel=0.01)
    # the years before the change are tested (from 1895 on, ten values) and never flagged
    before = [v.features[0] for v in verdicts if v.window_start < CHANGE]
    assert {f.drift for f in before} == {None, False}
    assert [f.n for f in before if f.drift is not None] == [10, 10, 10]


def test_default_policy_never_tests_100_annual_values(flow):
    """The built-in min_samples (200) is more than the whole series: never tested, never
    flagged, the missing-rate test included."""
    years, ref = flow
    fired, verdicts = decide(Policy(), stream(years, ref))
    assert fired == []
    assert {f.drift for v in verdicts for f in v.features} == {None}
    assert {v.conditions["feature_drift"].level for v in verdicts} == {None}


def test_windows_below_min_samples_are_never_flagged(flow):
    years, ref = flow
    rules = PolicyConfig.from_mapping({"defaults": ANNUAL}).rules()
    late = [years[y] for y in range(CHANGE, 1907)]  # 9 post-change years, 1898-1906
    (r,) = feature_results({"flow": drift_engine(ref).update(late)}, rules)
    assert (r.drift, r.n) == (None, 9)
    # 9 values, all missing (missing rate 1 against the reference's 0): still untested
    (r,) = feature_results({"flow": drift_engine(ref).update([np.nan] * 9)}, rules)
    assert (r.drift, r.n, r.statistic) == (None, 9, "n")
    # 3 values + 6 missing: 9 in all, below min_samples for either test
    (r,) = feature_results({"flow": drift_engine(ref).update(late[:3] + [np.nan] * 6)}, rules)
    assert r.drift is None
    # one more value makes each testable, and the test then rejects
    (r,) = feature_results({"flow": drift_engine(ref).update([np.nan] * 10)}, rules)
    assert (r.drift, r.statistic, r.n, r.value) == (True, "missing_rate", 10, 1.0)
    (r,) = feature_results({"flow": drift_engine(ref).update(late + [years[1907]])}, rules)
    assert (r.drift, r.statistic, r.n) == (True, "wasserstein", 10)
