"""Drift metrics against scipy oracles, the policy's feature verdict on known shifts (the
engines measure, the policy decides: processors.policy.feature_results), and edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from scipy.spatial.distance import jensenshannon

from processors.drift import (
    PSI_FLOOR,
    CategoricalDrift,
    NumericDrift,
    drift_engine,
    js_distance,
)
from processors.policy import feature_results
from processors.policy_config import PolicyConfig, RuleSet
from processors.reference import fit_categorical, fit_numeric

RULES = RuleSet()


def verdict(engine: NumericDrift | CategoricalDrift, rules: RuleSet = RULES) -> bool | None:
    """The policy's verdict on one feature (None: too few values to test)."""
    return feature_results({"f": engine}, rules)[0].drift


N = 100_000


def _samples(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference, current) pairs: same distribution and shifted, 100k rows each."""
    rng = np.random.default_rng(seed)

    def bimodal(shift: float = 0.0) -> np.ndarray:
        return np.r_[rng.normal(-2, 0.5, N // 2), rng.normal(2 + shift, 0.5, N // 2)]

    return {
        "normal": lambda: (rng.normal(size=N), rng.normal(size=N)),
        "normal_shift": lambda: (rng.normal(size=N), rng.normal(0.5, size=N)),
        "normal_scale": lambda: (rng.normal(size=N), rng.normal(0, 1.5, N)),
        "student_t3": lambda: (rng.standard_t(3, N), rng.standard_t(3, N)),
        "student_t3_shift": lambda: (rng.standard_t(3, N), rng.standard_t(3, N) * 1.3 + 0.3),
        "lognormal": lambda: (rng.lognormal(size=N), rng.lognormal(size=N)),
        "lognormal_shift": lambda: (rng.lognormal(size=N), rng.lognormal(0.2, size=N)),
        "bimodal": lambda: (bimodal(), bimodal()),
        "bimodal_shift": lambda: (bimodal(), bimodal(0.7)),
        "poisson": lambda: (rng.poisson(3, N) * 1.0, rng.poisson(3, N) * 1.0),
        "poisson_shift": lambda: (rng.poisson(3, N) * 1.0, rng.poisson(3.5, N) * 1.0),
        "binary": lambda: (rng.integers(0, 2, N) * 1.0, (rng.random(N) < 0.6) * 1.0),
    }[kind]()


ORACLE_CASES = [
    "normal",
    "normal_shift",
    "normal_scale",
    "student_t3",
    "student_t3_shift",
    "lognormal",
    "lognormal_shift",
    "bimodal",
    "bimodal_shift",
    "poisson",
    "poisson_shift",
    "binary",
]


def _numeric(ref: np.ndarray, cur: np.ndarray) -> dict:
    engine = NumericDrift(fit_numeric(ref, "x")).update(cur)
    return engine.result() | {"drift": verdict(engine)}


@pytest.mark.parametrize("kind", ORACLE_CASES)
def test_binned_ks_and_wasserstein_match_scipy_exact(kind: str) -> None:
    ref, cur = _samples(kind, seed=11)
    r = _numeric(ref, cur)
    assert r["ks"] == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=0.01)
    exact_w = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert abs(r["wasserstein"] - exact_w) <= max(0.02 * exact_w, 0.01)


@pytest.mark.parametrize("kind", ["poisson", "poisson_shift", "binary"])
def test_discrete_data_is_exact(kind: str) -> None:
    ref, cur = _samples(kind, seed=3)
    r = _numeric(ref, cur)
    assert r["ks"] == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)
    exact_w = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert r["wasserstein"] == pytest.approx(exact_w, rel=1e-9, abs=1e-12)


def test_psi_and_js_match_direct_formulas_on_the_reference_bins() -> None:
    ref, cur = _samples("normal_shift", seed=5)
    profile = fit_numeric(ref, "x")
    r = NumericDrift(profile).update(cur).result()
    p = profile.grouped(np.asarray(profile.counts)) / profile.n  # PSI/JS: the quantile groups
    q = profile.grouped(np.histogram(cur, bins=np.r_[-np.inf, profile.edges, np.inf])[0]) / cur.size
    assert p.size == 53  # 50 quantile groups, the bin holding max, the two open bins
    # np.histogram's bins are [a, b) like searchsorted(side="right") except the last, open one
    ps, qs = np.where(p == 0, PSI_FLOOR, p), np.where(q == 0, PSI_FLOOR, q)
    assert r["psi"] == pytest.approx(np.sum((qs - ps) * np.log(qs / ps)), rel=1e-12)
    assert r["js"] == pytest.approx(jensenshannon(p, q, base=2), rel=1e-9)


shares = hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 1e6))


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
@settings(max_examples=200, deadline=None)
@given(a=shares, b=shares)
def test_js_distance_is_within_0_1_and_matches_scipy(a: np.ndarray, b: np.ndarray) -> None:
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    if a.sum() == 0 or b.sum() == 0:
        return
    p, q = a / a.sum(), b / b.sum()
    d = js_distance(p, q)
    assert 0.0 <= d <= 1.0
    expected = np.nan_to_num(jensenshannon(p, q, base=2))  # scipy: sqrt(-1e-16) -> nan
    assert d == pytest.approx(expected, abs=1e-7)


@settings(max_examples=50, deadline=None)
@given(
    ref=hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(-1e6, 1e6)),
    cur=hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(-1e7, 1e7)),
)
def test_metrics_stay_in_range_on_arbitrary_data(ref: np.ndarray, cur: np.ndarray) -> None:
    r = NumericDrift(fit_numeric(ref, "x", n_bins=10)).update(cur).result()
    assert 0.0 <= r["js"] <= 1.0
    assert 0.0 <= r["ks"] <= 1.0
    assert r["psi"] >= 0.0 and r["wasserstein"] >= 0.0
    assert 0.0 <= r["out_of_range_rate"] <= 1.0
    json.dumps(r, allow_nan=False)


@pytest.mark.parametrize("seed", range(5))
def test_same_distribution_at_25k_rows_is_not_flagged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 25_000
    assert not _numeric(rng.normal(size=n), rng.normal(size=n))["drift"]
    assert not _numeric(rng.lognormal(size=n), rng.lognormal(size=n))["drift"]
    assert not _numeric(rng.poisson(3, n) * 1.0, rng.poisson(3, n) * 1.0)["drift"]
    probs = [0.4, 0.3, 0.2, 0.1]
    ref = fit_categorical(rng.choice(list("abcd"), n, p=probs), "g")
    assert not verdict(CategoricalDrift(ref).update(rng.choice(list("abcd"), n, p=probs)))


def test_windows_below_min_samples_are_never_tested() -> None:
    rng = np.random.default_rng(0)
    ref = fit_numeric(rng.normal(size=25_000), "x")
    found = {verdict(NumericDrift(ref).update(rng.normal(3.0, size=50))) for _ in range(50)}
    assert found == {None}  # even 3 std away: 50 values are below min_samples (200)


@pytest.mark.parametrize(
    "current",
    [
        lambda rng, n: rng.normal(0.5, 1.0, n),  # location: 0.5 sigma
        lambda rng, n: rng.normal(0.0, 1.5, n),  # scale: x1.5
        lambda rng, n: np.full(n, 0.3),  # stuck sensor
    ],
    ids=["location", "scale", "stuck"],
)
def test_clear_numeric_shifts_are_flagged(current) -> None:
    rng = np.random.default_rng(1)
    n = 25_000
    assert _numeric(rng.normal(size=n), current(rng, n))["drift"]


def test_category_mix_change_is_flagged_with_chi2_matching_scipy() -> None:
    rng = np.random.default_rng(2)
    n = 25_000
    ref = fit_categorical(rng.choice(list("abcd"), n, p=[0.4, 0.3, 0.2, 0.1]), "g")
    cur = rng.choice(list("abcde"), n, p=[0.25, 0.3, 0.2, 0.2, 0.05])
    engine = CategoricalDrift(ref).update(cur)
    r = engine.result()
    assert verdict(engine) and r["js"] >= 0.1
    table = np.vstack([np.asarray(ref.counts[:-1]), engine.counts[:-1]])
    table = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert r["chi2_pvalue"] == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert r["other_rate"] == pytest.approx(np.mean(cur == "e"))


def test_chi2_matches_scipy_on_a_small_table() -> None:
    ref = fit_categorical(["a"] * 50 + ["b"] * 30 + ["c"] * 20, "g")
    r = CategoricalDrift(ref).update(["a"] * 20 + ["b"] * 25 + ["c"] * 15).result()
    expected = stats.chi2_contingency([[50, 30, 20], [20, 25, 15]], correction=False).pvalue
    assert r["chi2_pvalue"] == pytest.approx(expected, rel=1e-12)


def test_missing_values_are_excluded_and_reported() -> None:
    rng = np.random.default_rng(4)
    ref = fit_numeric(rng.normal(size=10_000), "x")
    x = rng.normal(size=10_000)
    with_nan = np.r_[x, [np.nan] * 2500]
    a = NumericDrift(ref).update(x).result()
    b_engine = NumericDrift(ref).update(with_nan)
    b = b_engine.result()
    assert b["missing_rate"] == pytest.approx(0.2)
    assert (a["ks"], a["psi"], a["wasserstein"]) == (b["ks"], b["psi"], b["wasserstein"])
    (res,) = feature_results({"x": b_engine}, RULES)  # missing rate up 20 points: flagged
    assert (res.drift, res.statistic) == (True, "missing_rate")
    cat = fit_categorical(["a", "b"] * 100, "g")
    r = CategoricalDrift(cat).update(["a", None, "", float("nan"), "b"]).result()
    assert r["n"] == 2 and r["missing_rate"] == pytest.approx(0.6)


def test_out_of_range_rate_counts_values_outside_the_reference_range() -> None:
    ref = fit_numeric(np.arange(11.0), "x")  # 0..10, discrete edges
    r = NumericDrift(ref).update([-1.0, 0.0, 5.0, 10.0, 10.5, 99.0, np.inf]).result()
    assert r["out_of_range_rate"] == pytest.approx(3 / 6)
    assert r["n_missing"] == 1  # +inf is missing, not out of range


def test_constant_reference_column() -> None:
    ref = fit_numeric(np.full(1000, 7.0), "x")
    assert ref.edges[0] == 7.0 and len(ref.edges) == 2 and ref.std == 0.0
    same = NumericDrift(ref).update(np.full(500, 7.0))
    assert same.result()["ks"] == 0.0 and same.result()["wasserstein"] == 0.0
    assert verdict(same) is False
    moved = NumericDrift(ref).update(np.full(500, 8.0))
    r = moved.result()
    assert r["ks"] == 1.0 and r["out_of_range_rate"] == 1.0
    assert r["wasserstein"] == pytest.approx(1 / 7)  # constant: W1 / |mean|
    assert verdict(moved) is False  # below the effect gate (0.2): significant, negligible
    assert verdict(NumericDrift(ref).update(np.full(500, 9.0))) is True  # 2/7


def test_single_row_reference_and_current() -> None:
    engine = NumericDrift(fit_numeric([3.0], "x")).update([3.0])
    r = engine.result()
    assert r["n"] == 1 and r["ks"] == 0.0 and verdict(engine) is None


def test_empty_and_all_missing_current_give_defined_results() -> None:
    ref = fit_numeric(np.arange(100.0), "x")
    empty = NumericDrift(ref).update(np.array([]))
    r = empty.result()
    assert r["n"] == 0 and r["psi"] is None and r["missing_rate"] is None
    assert verdict(empty) is None
    gone = NumericDrift(ref).update([np.nan] * 40)
    assert gone.result()["missing_rate"] == 1.0 and gone.result()["ks"] is None
    assert verdict(gone) is None  # 40 rows, all missing: too few to test the missing rate
    assert verdict(NumericDrift(ref).update([np.nan] * 400)) is True
    cat = CategoricalDrift(fit_categorical(["a"], "g"))
    assert cat.result()["psi"] is None and verdict(cat) is None


def test_unseen_categories_go_to_other() -> None:
    ref = fit_categorical(["a", "b", "b"], "g")
    engine = CategoricalDrift(ref).update(["b", "new", "newer", 5])
    assert engine.counts.tolist() == [1, 0, 3, 0]  # b, a (by frequency), other, missing


def test_numbers_as_categories_match_across_dtypes() -> None:
    ref = fit_categorical(np.array([1, 2, 2, 3]), "k")
    engine = CategoricalDrift(ref).update(np.array([1.0, 2.0, np.nan]))
    assert engine.counts.tolist() == [1, 1, 0, 0, 1]  # "2", "1", "3", other, missing


def test_text_in_a_numeric_current_raises_a_clear_error() -> None:
    ref = fit_numeric([1.0, 2.0], "x")
    with pytest.raises(ValueError, match="non-numeric value 'hot'"):
        NumericDrift(ref).update(["1.5", "hot"])


def test_policy_gates_are_configurable_and_drift_engine_picks_the_kind() -> None:
    rng = np.random.default_rng(6)
    ref = fit_numeric(rng.normal(size=20_000), "x")
    engine = drift_engine(ref).update(rng.normal(0.07, 1, 20_000))  # significant, small
    assert verdict(engine) is False
    strict = PolicyConfig.from_mapping({"defaults": {"feature_drift": {"wasserstein": 0.05}}})
    assert verdict(engine, strict.rules()) is True
    assert isinstance(drift_engine(fit_categorical(["a"], "g")), CategoricalDrift)


def _real(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Data as real sensors send it: rounded readings, a resolution change, wide integers."""
    rng = np.random.default_rng(seed)

    def grid(x: np.ndarray, step: float) -> np.ndarray:
        return np.round(x / step) * step

    return {
        # pressure channel read to 0.1 bar: ~120 distinct values
        "rounded": lambda: (grid(rng.normal(100, 1.5, N), 0.1), grid(rng.normal(100, 1.5, N), 0.1)),
        "rounded_shift": lambda: (
            grid(rng.normal(100, 1.5, N), 0.1),
            grid(rng.normal(100.1, 1.5, N), 0.1),
        ),
        # read to 0.01: ~1,000 distinct values, beyond MAX_EXACT_VALUES (quantile bins)
        "rounded_fine": lambda: (
            grid(rng.normal(100, 1.5, N), 0.01),
            grid(rng.normal(100.05, 1.5, N), 0.01),
        ),
        # instrument change: reference on a 0.2 grid (59 values), current on 0.05 (224)
        "resolution_change": lambda: (
            grid(rng.normal(20, 1.4, N), 0.2),
            grid(rng.normal(20, 1.4, N), 0.05),
        ),
        "resolution_change_shift": lambda: (
            grid(rng.normal(20, 1.4, N), 0.2),
            grid(rng.normal(20.3, 1.4, N), 0.05),
        ),
        # discrete with more distinct values than the 50 quantile groups
        "poisson100_shift": lambda: (rng.poisson(100, N) * 1.0, rng.poisson(102, N) * 1.0),
        "integers200_shift": lambda: (rng.integers(0, 200, N) * 1.0, rng.integers(5, 205, N) * 1.0),
        "zero_inflated": lambda: (
            np.where(rng.random(N) < 0.3, 0.0, rng.normal(5, 1, N)),
            np.where(rng.random(N) < 0.35, 0.0, rng.normal(5, 1, N)),
        ),
    }[kind]()


REAL_CASES = [
    "rounded",
    "rounded_shift",
    "rounded_fine",
    "resolution_change",
    "resolution_change_shift",
    "poisson100_shift",
    "integers200_shift",
    "zero_inflated",
]


@pytest.mark.parametrize("kind", REAL_CASES)
def test_real_data_ks_within_001_and_w1_within_2_percent_of_scipy(kind: str) -> None:
    ref, cur = _real(kind, seed=1)
    if kind == "resolution_change":
        assert (np.unique(ref).size, np.unique(cur).size) == (59, 224)
    r = _numeric(ref, cur)
    exact_ks = stats.ks_2samp(ref, cur).statistic
    exact_w = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert abs(r["ks"] - exact_ks) <= 0.01
    assert abs(r["wasserstein"] - exact_w) <= 0.02 * exact_w


@pytest.mark.parametrize(
    ("source", "kind"),
    [("real", k) for k in REAL_CASES] + [("synthetic", k) for k in ORACLE_CASES],
)
def test_ks_error_bound_contains_the_exact_ks(source: str, kind: str) -> None:
    ref, cur = (_real if source == "real" else _samples)(kind, seed=2)
    r = _numeric(ref, cur)
    exact = stats.ks_2samp(ref, cur).statistic
    assert r["ks"] - 1e-12 <= exact <= r["ks"] + r["ks_error_bound"] + 1e-12
    assert r["ks_error_bound"] <= 0.02  # fine bins keep the interval narrow


@pytest.mark.parametrize("kind", ["rounded", "resolution_change", "integers200_shift", "binary"])
def test_references_with_few_values_give_an_exact_ks(kind: str) -> None:
    ref, cur = (_real if kind != "binary" else _samples)(kind, seed=4)
    r = _numeric(ref, cur)
    assert r["ks_error_bound"] == 0.0
    assert r["ks"] == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)


def test_a_ks_too_uncertain_to_decide_never_flags() -> None:
    """All current mass sits at the left end of each reference bin: the bins cannot tell."""
    rng = np.random.default_rng(0)
    ref = fit_numeric(rng.random(40_000), "x", n_bins=1)  # 4 fine quantile bins
    lefts = np.asarray(ref.edges)[:-2]
    cur = np.repeat(lefts, 10_000)  # each bin's share, all at its left edge
    engine = NumericDrift(ref).update(cur)
    r = engine.result()
    exact = stats.ks_2samp(rng.random(40_000), cur).statistic
    assert r["ks"] < 0.01 and r["ks"] + r["ks_error_bound"] >= exact > 0.2
    assert r["wasserstein"] > 0.2  # the effect gate alone would pass
    assert r["ks_pvalue"] > 0.01 and verdict(engine) is False
