"""Reference profiles: bin layout, JSON round trip and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from processors.reference import (
    DEFAULT_BINS,
    PROFILE_VERSION,
    ReferenceProfile,
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


def test_numeric_edges_are_reference_quantiles_plus_a_closing_edge() -> None:
    ref = _profile().features["strip_temp_c"]
    edges = np.asarray(ref.edges)
    assert len(edges) == DEFAULT_BINS + 2 and np.all(np.diff(edges) > 0)
    assert edges[0] == ref.min and edges[-2] == ref.max and edges[-1] == np.nextafter(ref.max, 1e9)
    counts = np.asarray(ref.counts)
    assert counts[0] == counts[-1] == 0 and counts.sum() == ref.n == 4950
    assert ref.n_missing == 50 and len(ref.sums) == len(counts)
    assert np.sum(ref.sums) == pytest.approx(ref.mean * ref.n)
    inner = counts[1:-2]  # equal-mass quantile bins (the last inner bin holds just the max)
    assert inner.min() >= 0.9 * 4950 / DEFAULT_BINS


def test_discrete_numeric_feature_uses_its_unique_values() -> None:
    ref = _profile().features["speed"]
    values = np.unique(np.random.default_rng(0).poisson(4, 5000))  # not the same draw; layout only
    assert len(ref.edges) - 1 <= DEFAULT_BINS and len(values) > 3
    assert ref.edges[:-1] == tuple(sorted(set(ref.edges[:-1])))


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
