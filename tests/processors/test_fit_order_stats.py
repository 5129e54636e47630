"""Fitting without a sort (processors.reference._OrderStats) equals fitting the sorted column."""

from __future__ import annotations

import numpy as np
import pytest

from processors import reference
from processors.reference import _OrderStats, fit_numeric

RNG = np.random.default_rng(11)
N = 120_000
COLUMNS = {
    "normal": RNG.normal(900, 20, N),
    "lognormal_heavy_tail": RNG.lognormal(0, 2.5, N),
    "integers_many": RNG.integers(0, 5_000, N) * 1.0,
    "integers_few": RNG.integers(0, 200, N) * 1.0,
    "rare_values_missed_by_a_sample": np.r_[RNG.integers(0, 50, N) * 1.0, [1e3, -7.5]],
    "rounded": np.round(RNG.normal(100, 1.5, N), 1),
    "atom_and_continuous": np.r_[np.zeros(N // 3), RNG.normal(5, 1, N)],
    "outlier": np.r_[RNG.normal(0, 1, N), [1e12]],
    "constant": np.full(N, 3.25),
    "two_values": np.r_[np.full(N, -1.0), np.full(7, 2.0)],
}


@pytest.mark.parametrize("order", ["shuffled", "ascending"])
@pytest.mark.parametrize("name", COLUMNS)
def test_order_stats_equal_the_sorted_column(name: str, order: str) -> None:
    v = RNG.permutation(COLUMNS[name]) if order == "shuffled" else np.sort(COLUMNS[name])
    xs = np.sort(v)
    cells = _OrderStats(v, sort_below=0)
    ranks = np.unique(np.r_[0, RNG.integers(0, v.size, 300), v.size - 1])
    assert cells.at(ranks).tolist() == xs[ranks].tolist()
    values = xs[ranks]
    exact = np.searchsorted(xs, values, "right") - np.searchsorted(xs, values, "left")
    assert cells.equal_counts(values).tolist() == exact.tolist()
    distinct = np.unique(xs)
    for bound in (1, 50, 256, 6_000):
        got = _OrderStats(v, sort_below=0).distinct(bound)
        want = distinct if distinct.size <= bound else None
        assert (got is None) == (want is None) and (got is None or got.tolist() == want.tolist())


@pytest.mark.parametrize("name", COLUMNS)
def test_fit_without_a_sort_gives_the_sorted_fit(name: str, monkeypatch) -> None:
    v = RNG.permutation(COLUMNS[name])
    monkeypatch.setattr(reference, "SORT_BELOW", 10**9)
    sorted_fit = fit_numeric(v, "x")
    monkeypatch.setattr(reference, "SORT_BELOW", 0)
    cell_fit = fit_numeric(v, "x")
    assert cell_fit.edges == sorted_fit.edges
    assert cell_fit.counts == sorted_fit.counts and cell_fit.group_ends == sorted_fit.group_ends
    np.testing.assert_allclose(cell_fit.sums, sorted_fit.sums, rtol=1e-9, atol=1e-6)
