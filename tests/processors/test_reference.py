"""Reference profiles: bin layout, JSON round trip and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from processors.reference import (
    DEFAULT_BINS,
    FINE_PER_GROUP,
    GAP_SPLITS,
    PROFILE_VERSION,
    ReferenceProfile,
    fit_numeric,
    fit_reference,
    histogram,
)


def _profile() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    x = rng.normal(900, 20, 5000)
    x[:50] = np.nan
    grade = rng.choice(np.array(["Q235", "Q345", "SPHC", None], dtype=object), 5000)
    return fit_reference(
        {"strip_temp_c": x, "speed": rng.poisson(4, 5000), "grade": grade},
        model="strip-defect",
        version="3",
        categorical=["grade"],
    )


def test_numeric_edges_are_fine_quantiles_grouped_into_the_psi_bins() -> None:
    ref = _profile().features["strip_temp_c"]
    edges = np.asarray(ref.edges)
    assert np.all(np.diff(edges) > 0) and len(edges) >= DEFAULT_BINS * FINE_PER_GROUP
    assert edges[0] == ref.min and edges[-2] == ref.max and edges[-1] == np.nextafter(ref.max, 1e9)
    counts = np.asarray(ref.counts)
    assert counts[0] == counts[-1] == 0 and counts.sum() == ref.n == 4950
    assert ref.n_missing == 50 and len(ref.sums) == len(counts)
    assert np.sum(ref.sums) == pytest.approx(ref.mean * ref.n)
    groups = ref.grouped(counts)
    assert groups.size == DEFAULT_BINS + 3 and groups.sum() == ref.n
    inner = groups[1:-2]  # equal-mass quantile groups (the last inner one holds just the max)
    assert inner.min() >= 0.9 * 4950 / DEFAULT_BINS


def test_discrete_numeric_feature_gets_point_and_gap_bins() -> None:
    ref = _profile().features["speed"]
    values = np.asarray(ref.edges)[np.asarray(ref.counts)[1:] > 0]  # edges[i] opens bin i + 1
    edges = np.asarray(ref.edges)
    assert len(values) > 3 and np.all(np.diff(edges) > 0)
    # every value v has a point bin [v, nextafter(v)); each gap is cut in GAP_SPLITS
    assert set(np.nextafter(values, np.inf)) <= set(edges)
    assert len(edges) == 2 * len(values) + (len(values) - 1) * (GAP_SPLITS - 1)
    assert ref.grouped(np.asarray(ref.counts)).size == len(values) + 2  # one group per value


def test_version_1_profiles_upgrade_to_one_group_per_bin() -> None:
    v1 = {
        "profile_version": 1, "model": "m", "version": "1", "n_bins": 2, "top_k": 20,
        "features": {"x": {"kind": "numeric", "edges": [0.0, 1.0, 1.5], "counts": [0, 3, 1, 0],
                           "sums": [0.0, 1.5, 1.0, 0.0], "mean": 0.625, "std": 0.4, "min": 0.0,
                           "max": 1.0, "n": 4, "n_missing": 0}},
    }  # fmt: skip
    prof = ReferenceProfile.from_dict(v1)
    ref = prof.features["x"]
    assert prof.profile_version == PROFILE_VERSION == 2 and ref.group_ends == (1, 2, 3, 4)
    assert ref.grouped(np.asarray(ref.counts)).tolist() == [0, 3, 1, 0]
    assert ReferenceProfile.from_json(prof.to_json()) == prof


def test_categorical_top_k_other_missing() -> None:
    ref = _profile().features["grade"]
    assert set(ref.categories) == {"Q235", "Q345", "SPHC"}
    assert len(ref.counts) == 5 and ref.counts[3] == 0 and ref.counts[4] == ref.n_missing > 0
    small = fit_reference({"g": list("aaabbc")}, model="m", version="1", categorical=["g"], top_k=1)
    assert small.features["g"].categories == ("a",) and small.features["g"].counts == (3, 3, 0)


def test_json_round_trip_is_exact_and_versioned() -> None:
    prof = _profile()
    text = prof.to_json()
    d = json.loads(text)
    assert d["profile_version"] == PROFILE_VERSION and d["model"] == "strip-defect"
    assert ReferenceProfile.from_json(text) == prof
    d["profile_version"] = 99
    with pytest.raises(ValueError, match="profile_version 99"):
        ReferenceProfile.from_json(json.dumps(d))
    with pytest.raises(ValueError, match="not valid JSON"):
        ReferenceProfile.from_json("{nope")


def test_histogram_bins_follow_searchsorted_right() -> None:
    edges = np.array([0.0, 1.0])
    counts, sums, missing = histogram(edges, np.array([-0.5, 0.0, 0.99, 1.0, 7.0, np.nan, -np.inf]))
    assert counts.tolist() == [1, 2, 2] and sums.tolist() == [-0.5, 0.99, 8.0] and missing == 2


@pytest.mark.parametrize(
    ("columns", "categorical", "message"),
    [
        ({"t": [np.nan, np.nan]}, (), "column 't': all 2 values are missing"),
        ({"t": []}, (), "column 't': all 0 values are missing"),
        ({"t": [1.0, "hot"]}, (), "column 't': non-numeric value 'hot'"),
        ({"g": [None, ""]}, ("g",), "column 'g': all 2 values are missing"),
        ({"t": [1.0]}, ("g",), "categorical column 'g' is not in the data"),
    ],
)
def test_clear_errors_name_the_column(columns: dict, categorical: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_reference(columns, model="m", version="1", categorical=categorical)


def test_constant_and_single_row_columns_fit() -> None:
    prof = fit_reference({"c": np.full(10, 2.5), "one": [4.0]}, model="m", version="1")
    for name, value in (("c", 2.5), ("one", 4.0)):
        ref = prof.features[name]
        assert ref.edges[0] == value and len(ref.edges) == 2 and ref.std == 0.0
    assert ReferenceProfile.from_json(prof.to_json()) == prof


@pytest.mark.parametrize("kind", ["normal", "lognormal", "integers", "rounded", "constant"])
def test_lookup_table_bins_equal_the_sorted_histogram(kind: str) -> None:
    rng = np.random.default_rng(7)
    draw = {
        "normal": lambda n: rng.normal(size=n),
        "lognormal": lambda n: rng.lognormal(0, 2, n),
        "integers": lambda n: rng.integers(0, 300, n) * 1.0,
        "rounded": lambda n: np.round(rng.normal(100, 1.5, n), 1),
        "constant": lambda n: np.full(n, 3.0),
    }[kind]
    ref = fit_numeric(draw(20_000), "x")
    cur = np.r_[draw(200_000) * 1.1, np.nextafter(np.asarray(ref.edges), -np.inf), ref.edges]
    cur = np.r_[cur, np.nan, -np.inf, 1e308, -1e308]
    counts, sums, missing = ref.histogram(cur)
    exact_counts, exact_sums, exact_missing = histogram(ref.edge_array, cur)
    assert counts.tolist() == exact_counts.tolist() and missing == exact_missing == 2
    np.testing.assert_allclose(sums, exact_sums, rtol=1e-9, atol=1e-6)
