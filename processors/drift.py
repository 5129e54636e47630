"""Drift engines: window histograms over the reference bins, and the metrics from them.

State is counts (and, for numeric features, value sums) per reference bin, so
windows merge by addition and a month's PSI is the PSI of the month's merged
histogram. Exact definitions: README.md ("Metric definitions"). The engines measure;
whether a feature drifts is the policy's decision (:func:`processors.policy.feature_results`:
Holm across a model's features, effect gates, minimum samples), never decided here.
"""

from __future__ import annotations

import sys
from typing import Any, Self

import numpy as np

from processors.base import (
    as_float,
    as_labels,
    check_mergeable,
    encode,
    float_list,
    int_list,
    ratio,
)
from processors.reference import CategoricalReference, NumericReference

PSI_FLOOR = 1e-4
"""A bin share of exactly 0 is replaced by this in PSI (no renormalisation)."""


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """Population stability index Σ (q−p)·ln(q/p), zero shares replaced by ``PSI_FLOOR``.

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])), 6)
    0.274653
    """
    p = np.where(p == 0, PSI_FLOOR, p)
    q = np.where(q == 0, PSI_FLOOR, q)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2 (sqrt of the divergence), in [0, 1]; no smoothing.

    >>> js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    1.0
    """
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(np.sqrt(np.clip((kl(p) + kl(q)) / 2, 0.0, 1.0)))


KS_LIMIT_N = 10_000
"""Above this effective size the Kolmogorov limit replaces ``kstwo`` (which takes up to 1 s
per call at n ≈ 10⁶, while the two agree to ~1% relative there)."""


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Two-sample KS p-value at the effective size ``en = round(n·m/(n+m))``.

    ``kstwo.sf(d, en)`` up to :data:`KS_LIMIT_N`, the Kolmogorov limit
    ``kstwobign.sf(d·√en)`` beyond it, through its ufunc ``scipy.special.kolmogorov``
    (the same values, ~0.3 µs instead of ~120 µs: a month report asks for ~30k of them).

    >>> round(ks_pvalue(0.02, 20_000, 20_000), 4), round(ks_pvalue(0.02, 2_000_000, 2_000_000), 4)
    (0.0007, 0.0)
    """
    en = max(1, round(n * m / (n + m)))
    if en > KS_LIMIT_N:
        from scipy.special import kolmogorov

        return float(np.clip(kolmogorov(d * np.sqrt(en)), 0.0, 1.0))
    from scipy import stats  # deferred: scipy.stats costs ~0.5 s, and every CLI command loads us

    p = stats.kstwo.sf(d, en)
    return float(np.clip(p, 0.0, 1.0))


def chi2_pvalue(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Chi-square test of the 2×m table (ref, current), empty columns dropped, no Yates.

    >>> round(chi2_pvalue(np.array([50, 50]), np.array([30, 70])), 6)
    0.003892
    """
    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    from scipy import stats

    return float(stats.chi2.sf(stat, table.shape[1] - 1))


def _check_bins(engine: Any, **stored: np.ndarray) -> None:
    """Raise unless each stored array has the shape of the engine's own (the reference bins)."""
    if any(array.shape != getattr(engine, name).shape for name, array in stored.items()):
        counts = stored["counts"]
        raise ValueError(f"partial has {counts.size} bins, the reference {engine.counts.size}")


def _integral_f(edges: np.ndarray, counts: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """∫ F over each inner bin [a, b): (b−a)·F(a⁻) + Σ_bin (b − x) / n."""
    n = counts.sum()
    before = (np.cumsum(counts) - counts)[1:-1] / n
    a, b = edges[:-1], edges[1:]
    out: np.ndarray = (b - a) * before + (counts[1:-1] * b - sums[1:-1]) / n
    return out


def ks_with_bound(
    edges: np.ndarray, ref_counts: np.ndarray, cur_counts: np.ndarray
) -> tuple[float, float]:
    """KS at the bin edges and how far the true sup |F_ref − F_cur| can lie above it.

    Inside a bin [a, b) both CDFs rise monotonically from their values at a⁻ to
    those at b⁻, so the gap there is at most max(F_ref(b⁻) − F_cur(a⁻),
    F_cur(b⁻) − F_ref(a⁻)). A point bin [x, nextafter(x)) holds one value and
    adds nothing. The exact KS lies in [ks, ks + bound].

    >>> ks_with_bound(np.array([0.0, 1.0]), np.array([0, 4, 0]), np.array([0, 2, 2]))
    (0.5, 0.5)
    """
    fr = np.cumsum(ref_counts) / ref_counts.sum()
    fc = np.cumsum(cur_counts) / cur_counts.sum()
    ks = float(np.clip(np.max(np.abs(fr - fc)), 0.0, 1.0))
    upper = np.maximum(fr[1:] - fc[:-1], fc[1:] - fr[:-1])
    point = np.r_[edges[1:] == np.nextafter(edges[:-1], np.inf), False]
    upper = np.where(point, 0.0, upper)
    return ks, float(np.clip(np.max(upper, initial=ks), ks, 1.0) - ks)


def wasserstein1(
    edges: np.ndarray,
    ref: tuple[np.ndarray, np.ndarray],
    cur: tuple[np.ndarray, np.ndarray],
) -> float:
    """W1 = ∫|F_ref − F_cur| from per-bin counts and sums (not normalised).

    Exact in the open bins and in every inner bin where F_ref − F_cur keeps its
    sign; where the sign flips inside a bin, the difference is modelled as two
    line segments through zero whose integral matches the exact signed one.
    """
    (rc, rs), (cc, cs) = ref, cur
    rn, cn = rc.sum(), cc.sum()
    # The reference has no mass in the open bins (F_ref = 0 below min, 1 above
    # max), so there W1 is the current's distance to the edge: exact.
    tails = (cc[0] * edges[0] - cs[0] + cs[-1] - cc[-1] * edges[-1]) / cn
    signed = _integral_f(edges, rc, rs) - _integral_f(edges, cc, cs)
    diff = np.cumsum(rc) / rn - np.cumsum(cc) / cn  # F_ref − F_cur at each bin's right end
    d_left, d_right = diff[:-2], diff[1:-1]
    a, b = edges[:-1], edges[1:]
    flips = d_left * d_right < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (2 * signed + d_left * a - d_right * b) / (d_left - d_right)
    cross = np.clip(np.where(flips, cross, a), a, b)
    two_segments = (np.abs(d_left) * (cross - a) + np.abs(d_right) * (b - cross)) / 2
    inner = np.where(flips, np.maximum(np.abs(signed), two_segments), np.abs(signed))
    return float(tails + inner.sum())


class NumericDrift:
    """Drift of one numeric feature against its :class:`NumericReference`.

    >>> from processors.reference import fit_numeric
    >>> rng = np.random.default_rng(0)
    >>> ref = fit_numeric(rng.normal(size=20_000), "x")
    >>> round(NumericDrift(ref).update(rng.normal(size=20_000)).result()["wasserstein"], 2)
    0.01
    >>> round(NumericDrift(ref).update(rng.normal(1.0, size=20_000)).result()["wasserstein"], 1)
    1.0
    """

    kind = "drift_numeric"

    def __init__(self, ref: NumericReference):
        self.ref = ref
        self.counts = np.zeros(len(ref.edges) + 1, dtype=np.int64)
        self.sums = np.zeros(len(ref.edges) + 1, dtype=np.float64)
        self.n_missing = 0

    def update(self, values: Any) -> Self:
        """Add a batch; NaN, ±inf and None are missing; text raises ValueError."""
        counts, sums, n_missing = self.ref.histogram(as_float(values, "values"))
        self.counts += counts
        self.sums += sums
        self.n_missing += n_missing
        return self

    def merge(self, other: Self) -> Self:
        check_mergeable(self, other, "ref")
        out = type(self)(self.ref)
        out.counts = self.counts + other.counts
        out.sums = self.sums + other.sums
        out.n_missing = self.n_missing + other.n_missing
        return out

    @property
    def count(self) -> int:
        return int(self.counts.sum()) + self.n_missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": int_list(self.counts),
            "sums": float_list(self.sums),
            "n_missing": self.n_missing,
        }

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        *,
        ref: NumericReference,
    ) -> Self:
        out = cls(ref)
        counts = np.asarray(d["counts"], dtype=np.int64)
        sums = np.asarray(d["sums"], dtype=np.float64)
        _check_bins(out, counts=counts, sums=sums)
        out.counts, out.sums, out.n_missing = counts, sums, int(d["n_missing"])
        return out

    def result(self) -> dict[str, Any]:
        """Metrics; with no non-missing values the distribution metrics are None."""
        ref = self.ref
        n = int(self.counts.sum())
        out: dict[str, Any] = {
            "kind": "numeric",
            "n": n,
            "n_missing": self.n_missing,
            "missing_rate": ratio(self.n_missing, self.count),
            "chi2_pvalue": None,
        }
        if n == 0:
            none = dict.fromkeys(("psi", "js", "ks", "ks_error_bound", "ks_pvalue", "wasserstein"))
            return out | none | {"out_of_range_rate": None}
        rc, rs = np.asarray(ref.counts), np.asarray(ref.sums)
        p, q = ref.grouped(rc) / ref.n, ref.grouped(self.counts) / n
        ks, bound = ks_with_bound(ref.edge_array, rc, self.counts)
        w = wasserstein1(ref.edge_array, (rc, rs), (self.counts, self.sums)) / ref.scale
        w = min(w, sys.float_info.max)  # stays JSON-able on absurd scales
        metrics = {
            "psi": psi(p, q),
            "js": js_distance(p, q),
            "ks": ks,
            "ks_error_bound": bound,
            # the exact KS lies in [ks, ks + bound]: the p-value of its low end is the
            # largest the data allow, so "significant" holds for every KS in the interval
            "ks_pvalue": ks_pvalue(ks, ref.n, n),
            "wasserstein": w,
            "out_of_range_rate": float(self.counts[0] + self.counts[-1]) / n,
        }
        return out | metrics


class CategoricalDrift:
    """Drift of one categorical feature: counts over categories + other + missing.

    >>> from processors.reference import fit_categorical
    >>> ref = fit_categorical(["a"] * 500 + ["b"] * 500, "g")
    >>> r = CategoricalDrift(ref).update(["a"] * 200 + ["b"] * 700 + ["new"] * 100).result()
    >>> round(r["js"], 3), r["other_rate"]
    (0.332, 0.1)
    """

    kind = "drift_categorical"

    def __init__(self, ref: CategoricalReference):
        self.ref = ref
        self.counts = np.zeros(len(ref.categories) + 2, dtype=np.int64)

    def update(self, values: Any) -> Self:
        """Add a batch; unseen categories count as ``other``; None/NaN/"" as missing."""
        labels, missing = as_labels(values, "values")
        codes = encode(labels, missing, self.ref.categories)
        self.counts += np.bincount(codes, minlength=self.counts.size)
        return self

    def merge(self, other: Self) -> Self:
        check_mergeable(self, other, "ref")
        out = type(self)(self.ref)
        out.counts = self.counts + other.counts
        return out

    @property
    def n_missing(self) -> int:
        return int(self.counts[-1])

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def to_dict(self) -> dict[str, Any]:
        return {"counts": int_list(self.counts)}

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        *,
        ref: CategoricalReference,
    ) -> Self:
        out = cls(ref)
        counts = np.asarray(d["counts"], dtype=np.int64)
        _check_bins(out, counts=counts)
        out.counts = counts
        return out

    def result(self) -> dict[str, Any]:
        """Metrics over categories + other (missing excluded, reported as missing_rate)."""
        ref = self.ref
        cur = self.counts[:-1]
        n = int(cur.sum())
        out: dict[str, Any] = {
            "kind": "categorical",
            "n": n,
            "n_missing": self.n_missing,
            "missing_rate": ratio(self.n_missing, self.count),
            "ks": None,
            "ks_error_bound": None,
            "ks_pvalue": None,
            "wasserstein": None,
            "out_of_range_rate": None,
        }
        if n == 0:
            return out | dict.fromkeys(("psi", "js", "chi2_pvalue", "other_rate"))
        rc = np.asarray(ref.counts[:-1])
        p, q = rc / ref.n, cur / n
        metrics = {
            "psi": psi(p, q),
            "js": js_distance(p, q),
            "chi2_pvalue": chi2_pvalue(rc, cur),
            "other_rate": float(cur[-1]) / n,
        }
        return out | metrics


def drift_engine(ref: NumericReference | CategoricalReference) -> NumericDrift | CategoricalDrift:
    """The drift engine that fits ``ref``'s kind."""
    if isinstance(ref, NumericReference):
        return NumericDrift(ref)
    return CategoricalDrift(ref)
