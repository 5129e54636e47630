"""Reference profiles: the bins every window of a model version is counted on.

Bins come from the training data once (docs/design.md, principle 2), so window
histograms share a layout and can be summed. Numeric features get fine bins
(for KS and Wasserstein) grouped into ``n_bins`` quantile groups (for PSI and
JS) plus two open bins; categorical features get the top-K categories plus
``other`` and ``missing``. See README.md ("Metric definitions") for the exact layout.

Fine bins, and why: a reference with few distinct values (rounded or discrete
readings) gets one point bin per value plus :data:`GAP_SPLITS` bins across each
gap between values, so KS is exact and W1 nearly so even when the current
stream is finer (a resolution change); otherwise ``FINE_PER_GROUP`` quantile
bins per group, plus a point bin for every value heavy enough to be a quantile.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from processors.base import as_float, as_labels, encode, float_list, int_list

DEFAULT_BINS = 50
"""Quantile groups per numeric feature: the bins PSI and JS are computed on."""
DEFAULT_TOP_K = 20
"""Categories kept by name per categorical feature; the rest go to ``other``."""
MAX_EXACT_VALUES = 256
"""A reference with at most this many distinct values gets point + gap bins (exact KS)."""
GAP_SPLITS = 4
"""Equal-width bins across each gap between two distinct reference values."""
FINE_PER_GROUP = 4
"""Fine quantile bins per group otherwise (KS error bound ~ 1 / (4 · n_bins))."""
PROFILE_VERSION = 2
"""2: fine bins + ``group_ends``. Version 1 profiles load as one group per bin."""


def histogram(edges: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Counts and value sums per bin of ``x`` on ``edges``, plus the missing count.

    Bin = ``np.searchsorted(edges, x, side="right")``: 0 is x < edges[0] and
    ``len(edges)`` is x >= edges[-1]. Non-finite values (NaN, ±inf) are missing.

    >>> c, s, m = histogram(np.array([0.0, 1.0, 2.0]), np.array([-1, 0, 0.5, 1, 5, np.nan]))
    >>> c.tolist(), s.tolist(), m
    ([1, 2, 1, 1], [-1.0, 0.5, 1.0, 5.0], 1)
    """
    finite = np.isfinite(x)
    n_missing = int(x.size - np.count_nonzero(finite))
    if n_missing:
        x = x[finite]
    # Sorting (SIMD in numpy >= 2) and cutting at the edges: same bins as
    # searchsorted(edges, x, "right"); the engines use histogram_lut (faster still).
    counts, sums = _cut_sorted(edges, np.sort(x))
    return counts, sums, n_missing


def _cut_sorted(edges: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and sums per bin of already sorted finite values."""
    bounds = np.concatenate(([0], np.searchsorted(xs, edges, side="left"), [xs.size]))
    counts = np.diff(bounds).astype(np.int64, copy=False)
    sums = np.zeros(edges.size + 1)
    filled = counts > 0
    if xs.size:
        sums[filled] = np.add.reduceat(xs, bounds[:-1][filled])
    return counts, sums


LUT_CELLS = 16_384
"""Equal-width cells over [min, closing edge) in a numeric reference's lookup table."""


LookupTable = tuple[float, float, np.ndarray, np.ndarray, np.ndarray]
"""(low, cells per unit, bin of each cell's left end, upper and lower bound of each bin)."""


def lookup_table(edges: np.ndarray, cells: int = LUT_CELLS) -> LookupTable:
    """The table :func:`histogram_lut` bins by; an empty one (constant column, range
    beyond a double) means "sort instead"."""
    lo, hi = float(edges[0]), float(edges[-1])
    with np.errstate(over="ignore", divide="ignore"):
        scale = cells / (hi - lo) if hi > lo else 0.0
    upper = np.append(edges, np.inf)  # bin j holds lower[j] <= x < upper[j]
    lower = np.insert(edges, 0, -np.inf)
    if not 0.0 < scale < np.inf:  # a constant column, or a range wider than a double
        return lo, 0.0, np.zeros(0, np.intp), upper, lower
    left = lo + np.arange(cells) / scale
    return lo, scale, np.searchsorted(edges, left, side="right").astype(np.intp), upper, lower


LUT_CHUNK = 1 << 16
"""Values binned per step of :func:`histogram_lut`: its scratch arrays stay in cache."""


def histogram_lut(
    edges: np.ndarray, table: LookupTable, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`histogram` by a lookup table instead of a sort (3-4x faster on 1M values).

    A value's cell gives the bin of the cell's left end; a check against that bin's
    edges confirms it, a cell holding an edge moves its values on by one or two bins,
    and whatever is still unsure (float rounding at a cell's end) gets a binary search.
    Same bins as ``searchsorted(edges, x, "right")``; sums are added in another order.
    Values go through in chunks of :data:`LUT_CHUNK` into reused scratch arrays: on
    1M values that is ~2x faster than whole-array temporaries (no page faults, no
    cache misses).

    >>> e = np.array([0.0, 1.0, 2.0])
    >>> c, s, m = histogram_lut(e, lookup_table(e, 4), np.array([-1, 0, 0.5, 1, 5, np.nan]))
    >>> c.tolist(), s.tolist(), m
    ([1, 2, 1, 1], [-1.0, 0.5, 1.0, 5.0], 1)
    """
    lo, scale, lut, upper, lower = table
    if not lut.size:
        return histogram(edges, x)
    x = np.asarray(x, dtype=np.float64)
    n_missing = 0
    with np.errstate(over="ignore", invalid="ignore"):
        total = x.sum()
    if not np.isfinite(total):  # one fast pass; NaN/inf (or an overflowing sum) below
        finite = np.isfinite(x)
        n_missing = int(x.size - np.count_nonzero(finite))
        if n_missing:
            x = x[finite]
    nbins = edges.size + 1
    counts = np.zeros(nbins, np.int64)
    sums = np.zeros(nbins)
    for xs, bins in lut_bins(edges, table, x):
        counts += np.bincount(bins, minlength=nbins)
        sums += np.bincount(bins, weights=xs, minlength=nbins)
    return counts, sums, n_missing


def lut_bins(
    edges: np.ndarray, table: LookupTable, x: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(chunk of x, its bins)`` for finite ``x``, :data:`LUT_CHUNK` values at a time.

    The bins array is scratch, overwritten by the next chunk.
    """
    lo, scale, lut, upper, lower = table
    if not x.size:
        return
    size = min(x.size, LUT_CHUNK)
    cell = np.empty(size)
    bound = np.empty(size)
    b = np.empty(size, np.intp)
    flag = np.empty(size, bool)
    top = lut.size - 1
    for start in range(0, x.size, size):
        xs = x[start : start + size]
        k = xs.size
        c, bd, bk, fl = cell[:k], bound[:k], b[:k], flag[:k]
        with np.errstate(over="ignore", invalid="ignore"):
            np.subtract(xs, lo, out=c)
            np.multiply(c, scale, out=c)
        np.maximum(c, 0, out=c)  # ufuncs: np.clip costs a few µs more per call
        np.minimum(c, top, out=c)
        np.copyto(bk, c, casting="unsafe")  # truncation = floor: c >= 0
        np.take(lut, bk, out=bk)
        np.take(upper, bk, out=bd)
        np.greater_equal(xs, bd, out=fl)
        unsure = np.flatnonzero(fl)
        for _ in range(2):
            if not unsure.size:
                break
            bk[unsure] += 1
            unsure = unsure[xs[unsure] >= upper[bk[unsure]]]
        np.take(lower, bk, out=bd)
        np.less(xs, bd, out=fl)
        if fl.any():
            unsure = np.union1d(unsure, np.flatnonzero(fl))
        if unsure.size:
            bk[unsure] = np.searchsorted(edges, xs[unsure], side="right")
        yield xs, bk


class _MissingRate:
    """What both reference kinds derive from ``n`` (non-missing values) and ``n_missing``."""

    n: int
    n_missing: int

    @property
    def missing_rate(self) -> float:
        return self.n_missing / (self.n + self.n_missing)


@dataclass(frozen=True)
class NumericReference(_MissingRate):
    """Reference bins and moments of one numeric feature.

    ``edges``: fine bin edges (min .. max) followed by one closing edge, the
    next float above max, so the overflow bin holds exactly the values > max.
    ``counts``/``sums`` have ``len(edges) + 1`` entries (bins 0 and -1 are
    empty in the reference). ``group_ends``: fine bins ``group_ends[g-1] ..
    group_ends[g] - 1`` form PSI/JS group ``g`` (the open bins are groups of
    their own). ``n`` counts non-missing values.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    sums: tuple[float, ...]
    mean: float
    std: float
    min: float
    max: float
    n: int
    n_missing: int
    group_ends: tuple[int, ...] = ()
    _edges: np.ndarray = field(init=False, repr=False, compare=False)
    _starts: np.ndarray = field(init=False, repr=False, compare=False)
    _table: list[LookupTable] = field(init=False, repr=False, compare=False)
    kind: ClassVar[str] = "numeric"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_edges", np.asarray(self.edges, dtype=np.float64))
        if not self.group_ends:  # one group per bin: the version 1 layout
            object.__setattr__(self, "group_ends", tuple(range(1, len(self.edges) + 2)))
        ends = np.asarray(self.group_ends, dtype=np.int64)
        if ends[-1] != len(self.edges) + 1 or np.any(np.diff(ends) <= 0) or ends[0] < 1:
            raise ValueError("group_ends must rise strictly to the number of bins")
        object.__setattr__(self, "_starts", np.r_[0, ends[:-1]])
        object.__setattr__(self, "_table", [])  # the lookup table, built on first use

    def histogram(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Counts, sums and missing count of ``x`` on these bins (lookup table, cached)."""
        if not self._table:
            self._table.append(lookup_table(self._edges))
        return histogram_lut(self._edges, self._table[0], x)

    def grouped(self, counts: np.ndarray) -> np.ndarray:
        """Per-group sums of a per-fine-bin array (what PSI and JS are computed on).

        >>> ref = fit_numeric([1.0, 2.0, 3.0], "x")
        >>> ref.grouped(np.asarray(ref.counts)).tolist()
        [0, 1, 1, 1, 0]
        """
        return np.add.reduceat(counts, self._starts)

    @property
    def edge_array(self) -> np.ndarray:
        """Edges as a read-only float64 array (cached)."""
        return self._edges

    @property
    def scale(self) -> float:
        """What Wasserstein-1 is divided by: std, or |mean| (else 1) for a constant column."""
        if self.std > 0:
            return self.std
        return abs(self.mean) or 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "edges": float_list(self.edges),
            "counts": int_list(self.counts),
            "sums": float_list(self.sums),
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "n": self.n,
            "n_missing": self.n_missing,
            "group_ends": int_list(self.group_ends),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NumericReference:
        """Read a version 2 feature, or a version 1 one (no ``group_ends``: one group per bin)."""
        return cls(
            edges=tuple(float(v) for v in d["edges"]),
            counts=tuple(int(v) for v in d["counts"]),
            sums=tuple(float(v) for v in d["sums"]),
            **{k: float(d[k]) for k in ("mean", "std", "min", "max")},
            n=int(d["n"]),
            n_missing=int(d["n_missing"]),
            group_ends=tuple(int(v) for v in d.get("group_ends", ())),
        )


@dataclass(frozen=True)
class CategoricalReference(_MissingRate):
    """Reference categories of one categorical feature.

    ``counts`` has ``len(categories) + 2`` entries: the categories in order,
    then ``other``, then ``missing``. ``n`` counts non-missing values.
    """

    categories: tuple[str, ...]
    counts: tuple[int, ...]
    n: int
    n_missing: int
    kind: ClassVar[str] = "categorical"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "categories": list(self.categories),
            "counts": int_list(self.counts),
            "n": self.n,
            "n_missing": self.n_missing,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CategoricalReference:
        return cls(
            categories=tuple(str(c) for c in d["categories"]),
            counts=tuple(int(v) for v in d["counts"]),
            n=int(d["n"]),
            n_missing=int(d["n_missing"]),
        )


FeatureReference = NumericReference | CategoricalReference


@dataclass(frozen=True)
class ReferenceProfile:
    """All feature references of one model version, stored as JSON."""

    model: str
    version: str
    features: Mapping[str, FeatureReference]
    n_bins: int = DEFAULT_BINS
    top_k: int = DEFAULT_TOP_K
    profile_version: int = PROFILE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_version": self.profile_version,
            "model": self.model,
            "version": self.version,
            "n_bins": self.n_bins,
            "top_k": self.top_k,
            "features": {name: ref.to_dict() for name, ref in self.features.items()},
        }

    def to_json(self) -> str:
        """JSON text; floats are written with repr, so a round trip is exact."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferenceProfile:
        """Read a profile; version 1 is upgraded in place (same bins, one PSI group per bin)."""
        version = d.get("profile_version")
        if version not in (1, PROFILE_VERSION):
            raise ValueError(f"profile_version {version!r} is not supported (1, {PROFILE_VERSION})")
        kinds: dict[str, type[NumericReference] | type[CategoricalReference]] = {
            "numeric": NumericReference,
            "categorical": CategoricalReference,
        }
        features: dict[str, FeatureReference] = {}
        for name, f in d["features"].items():
            if f.get("kind") not in kinds:
                raise ValueError(f"feature {name!r}: unknown kind {f.get('kind')!r}")
            features[name] = kinds[f["kind"]].from_dict(f)
        return cls(
            model=str(d["model"]),
            version=str(d["version"]),
            features=features,
            n_bins=int(d["n_bins"]),
            top_k=int(d["top_k"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ReferenceProfile:
        """Parse :meth:`to_json` output; a wrong ``profile_version`` raises ValueError."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"reference profile is not valid JSON: {exc}") from None
        if not isinstance(d, dict):
            raise ValueError("reference profile must be a JSON object")
        return cls.from_dict(d)


SORT_BELOW = 65_536
"""Columns up to this size are simply sorted to fit; larger ones use :class:`_OrderStats`."""
_CELLS = 65_536
_SAMPLE = 8_192


class _OrderStats:
    """Order statistics, equal-value counts and (few) distinct values of unsorted data.

    What fitting needs from a column without sorting it (a sort of 1M doubles takes
    ~125 ms on this machine kind, 20 columns 2.5 s). Equal-width cells over
    [min, max] are a monotone map of the values, so a cumulative count per cell
    names the cell holding each wanted rank; only the values of those few cells are
    sorted. Few distinct values are found from a sample and confirmed by counting
    every value into point bins. Results equal those of the sorted column exactly.

    >>> s = _OrderStats(np.array([3.0, 1.0, 2.0, 2.0]), sort_below=0)
    >>> s.at(np.array([0, 1, 3])).tolist(), s.equal_counts(np.array([2.0])).tolist()
    ([1.0, 2.0, 3.0], [2])
    >>> s.distinct(8).tolist(), s.distinct(2) is None
    ([1.0, 2.0, 3.0], True)
    """

    def __init__(self, v: np.ndarray, sort_below: int | None = None) -> None:
        self.v = v
        self.n = v.size
        small = v.size <= (SORT_BELOW if sort_below is None else sort_below)
        self.sorted: np.ndarray | None = np.sort(v) if small else None
        self._distinct: tuple[int, np.ndarray | None, np.ndarray | None] | None = None
        self._cells: tuple[np.ndarray, np.ndarray, float, float] | None = None

    def at(self, ranks: np.ndarray) -> np.ndarray:
        """Values of rank ``ranks`` (0-based) in ascending order of the data."""
        if self.sorted is not None:
            return np.asarray(self.sorted[ranks])
        found = self._few()
        if found is not None:
            values, counts = found
            return values[np.searchsorted(np.cumsum(counts), ranks, side="right")]
        _, cum, _, _ = self._cell_counts()
        which = np.searchsorted(cum, ranks, side="right")  # the cell of each rank
        want = np.unique(which)
        picked, start = self._cell_values(want)
        before = cum[which] - np.diff(np.r_[0, cum])[which]  # values in earlier cells
        return np.asarray(picked[start[np.searchsorted(want, which)] + ranks - before])

    def equal_counts(self, values: np.ndarray) -> np.ndarray:
        """How many data values equal each of ``values`` (values taken from the data)."""
        if self.sorted is not None:
            xs = self.sorted
            return np.searchsorted(xs, values, "right") - np.searchsorted(xs, values, "left")
        found = self._few()
        if found is not None:
            pos = np.clip(np.searchsorted(found[0], values), 0, found[0].size - 1)
            return np.where(found[0][pos] == values, found[1][pos], 0)
        _, _, lo, scale = self._cell_counts()
        want = np.unique(self._cell_of(np.asarray(values, np.float64), lo, scale))
        picked, _ = self._cell_values(want)
        return np.searchsorted(picked, values, "right") - np.searchsorted(picked, values, "left")

    def distinct(self, bound: int) -> np.ndarray | None:
        """The sorted distinct values when there are at most ``bound``, else None."""
        if self.sorted is not None:
            xs = self.sorted
            d = xs[np.r_[True, xs[1:] != xs[:-1]]]
            return d if d.size <= bound else None
        found = self._few(bound)
        return None if found is None or found[0].size > bound else found[0]

    # --- internals -----------------------------------------------------------------------

    def _few(self, bound: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
        """(distinct values, counts) when the data holds at most max(bound, known) of them.

        A strided sample proposes them; counting every value into point bins
        ``[d, nextafter(d))`` confirms the sample saw them all (else: None, or a sort).
        """
        if self._distinct is not None and (
            self._distinct[1] is not None or self._distinct[0] >= bound
        ):
            known = self._distinct
            return None if known[1] is None or known[2] is None else (known[1], known[2])
        if bound == 0:
            return None
        sample = np.unique(self.v[:: max(1, self.n // _SAMPLE)])
        if sample.size > bound:
            self._distinct = (bound, None, None)
            return None
        if sample.size == 1 and (self.v == sample[0]).all():  # constant
            self._distinct = (bound, sample, np.array([self.n]))
            return sample, self._distinct[2]
        edges = np.unique(np.r_[sample, np.nextafter(sample, np.inf)])
        table = lookup_table(edges)
        if not table[2].size:  # range beyond a double
            d, c = np.unique(self.v, return_counts=True)
            found = (d, c) if d.size <= bound else None
        else:
            found = self._confirm(sample, edges, table, bound)
        if found is None:
            self._distinct = (bound, None, None)
            return None
        sample, at_points = found
        self._distinct = (bound, sample, at_points)
        return sample, at_points

    def _confirm(
        self, sample: np.ndarray, edges: np.ndarray, table: LookupTable, bound: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(distinct values, counts): the sample's plus any it missed, if at most ``bound``.

        Values a strided sample misses are rare (each under ~1/8192 of the data when
        there are few distinct values), so they are collected and counted directly.
        """
        point = np.zeros(edges.size + 1, bool)
        point[np.searchsorted(edges, sample, "right")] = True  # bin [d, nextafter(d))
        counts = np.zeros(edges.size + 1, np.int64)
        missed: list[np.ndarray] = []
        n_missed = 0
        for xs, bins in lut_bins(edges, table, self.v):
            counts += np.bincount(bins, minlength=edges.size + 1)
            off = ~point[bins]
            if off.any():
                missed.append(xs[off])
                n_missed += missed[-1].size
                if n_missed * 8 > self.n:  # not rare: count everything exactly
                    d, c = np.unique(self.v, return_counts=True)
                    return (d, c) if d.size <= bound else None
        at_points = counts[np.searchsorted(edges, sample, "right")]
        if not missed:
            return sample, at_points
        extra, extra_counts = np.unique(np.concatenate(missed), return_counts=True)
        values = np.union1d(sample, extra)
        if values.size > bound:
            return None
        full = np.zeros(values.size, np.int64)
        full[np.searchsorted(values, sample)] = at_points
        full[np.searchsorted(values, extra)] += extra_counts
        return values, full

    @staticmethod
    def _cell_of(x: np.ndarray, lo: float, scale: float) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            c = (x - lo) * scale  # monotone in x: equal values share a cell, order is kept
        np.clip(c, 0, _CELLS - 1, out=c)
        return c.astype(np.intp)

    def _cell_counts(self) -> tuple[np.ndarray, np.ndarray, float, float]:
        if self._cells is None:
            # cells span the sample's 0.1%..99.9% range: a heavy tail or an outlier
            # cannot pile the body into one cell (the tails go to the end cells)
            sample = np.sort(self.v[:: max(1, self.n // _SAMPLE)])
            k = sample.size // 1000
            lo, hi = float(sample[k]), float(sample[-1 - k])
            with np.errstate(over="ignore", divide="ignore"):
                scale = _CELLS / (hi - lo) if hi > lo else 0.0
            if not 0.0 < scale < np.inf:
                scale = 0.0  # one cell (constant, or a range beyond a double)
            cell = self._cell_of(self.v, lo, scale)
            cum = np.cumsum(np.bincount(cell, minlength=_CELLS))
            self._cells = (cell, cum, lo, scale)
        return self._cells

    def _cell_values(self, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted values of cells ``want`` (sorted), and where each cell starts in them."""
        cell, cum, _, _ = self._cell_counts()
        size = np.diff(np.r_[0, cum])[want]
        if size.sum() * 4 > self.n:  # mass piled in few cells (heavy tails): just sort
            self.sorted = np.sort(self.v)
            return self.sorted, cum[want] - size
        mark = np.zeros(_CELLS, bool)
        mark[want] = True
        picked = np.sort(self.v[mark[cell]])
        return picked, np.cumsum(size) - size


def _quantile_edges(stats: _OrderStats, n_bins: int) -> np.ndarray:
    """Unique empirical (inverted-CDF) quantiles 0, 1/n_bins, .., 1 of the data.

    If they are fewer than ``n_bins + 1`` the data may be discrete; when it has
    at most ``n_bins`` unique values those values themselves are the edges.
    """
    n = stats.n
    idx = np.ceil(np.linspace(0.0, 1.0, n_bins + 1) * n).astype(np.int64) - 1
    q = np.unique(stats.at(np.clip(idx, 0, n - 1)))
    if q.size <= n_bins:
        distinct = stats.distinct(n_bins)
        if distinct is not None:
            q = distinct
    return q


def _fine_edges(stats: _OrderStats, groups: np.ndarray, n_bins: int) -> np.ndarray:
    """Fine inner edges (a superset of ``groups``) for finite data.

    Point bins ``[x, nextafter(x))`` make F exact at every value that carries
    mass, so the KS gap can only hide inside bins where the reference has mass.
    """
    distinct = stats.distinct(MAX_EXACT_VALUES)
    if distinct is not None:
        up = np.nextafter(distinct, np.inf)
        a, b = up[:-1], distinct[1:]
        splits = [a + (b - a) * (k / GAP_SPLITS) for k in range(1, GAP_SPLITS)]
        return np.unique(np.concatenate([distinct, up[:-1], *splits]))
    fine = _quantile_edges(stats, n_bins * FINE_PER_GROUP)
    # values heavy enough to hold a fine quantile's share get a point bin too
    heavy = stats.equal_counts(fine)
    atoms = fine[heavy * n_bins * FINE_PER_GROUP >= stats.n]
    return np.unique(np.concatenate([groups, fine, np.nextafter(atoms, np.inf)]))


def fit_numeric(values: Any, name: str, n_bins: int = DEFAULT_BINS) -> NumericReference:
    """Fit one numeric feature.

    >>> ref = fit_numeric([1.0, 2.0, 2.0, 3.0, None], "x")
    >>> ref.grouped(np.asarray(ref.counts)).tolist(), ref.n, ref.n_missing
    ([0, 1, 2, 1, 0], 4, 1)
    >>> ref.edges[:3]  # point bin [1, 1⁺), then the gap to 2 in GAP_SPLITS parts
    (1.0, 1.0000000000000002, 1.2500000000000002)
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    x = as_float(values, name)
    finite = np.isfinite(x)
    v = x if finite.all() else x[finite]
    if v.size == 0:
        raise ValueError(f"column {name!r}: all {x.size} values are missing")
    stats = _OrderStats(v)
    stats.distinct(max(MAX_EXACT_VALUES, n_bins))  # discrete data: counts, no cells
    top = float(v.max())
    closing = np.nextafter(top, np.inf)
    groups = _quantile_edges(stats, n_bins)
    fine = _fine_edges(stats, groups, n_bins)
    fine = fine[fine < closing]
    edges = np.append(fine, closing)
    # fine bin j covers [edges[j-1], edges[j]); group g ends where edge groups[g] starts
    ends = np.r_[1 + np.searchsorted(edges, groups, "left")[1:], edges.size, edges.size + 1]
    if stats.sorted is not None:
        counts, sums = _cut_sorted(edges, stats.sorted)
    else:
        counts, sums, _ = histogram_lut(edges, lookup_table(edges), v)
    return NumericReference(
        edges=tuple(float_list(edges)),
        counts=tuple(int_list(counts)),
        sums=tuple(float_list(sums)),
        mean=float(v.mean()),
        std=float(v.std()),
        min=float(v.min()),
        max=top,
        n=int(v.size),
        n_missing=int(x.size - v.size),
        group_ends=(1, *int_list(ends)),
    )


def fit_categorical(values: Any, name: str, top_k: int = DEFAULT_TOP_K) -> CategoricalReference:
    """Fit one categorical feature: top-K by frequency (ties by name), other, missing.

    >>> ref = fit_categorical(["b", "a", "b", "c", None], "grade", top_k=2)
    >>> ref.categories, ref.counts
    (('b', 'a'), (2, 1, 1, 1))
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    labels, missing = as_labels(values, name)
    present = labels[~missing]
    if present.size == 0:
        raise ValueError(f"column {name!r}: all {labels.size} values are missing")
    uniq, freq = np.unique(present, return_counts=True)
    order = np.lexsort((uniq, -freq))[:top_k]  # frequency desc, then name asc
    categories = tuple(str(c) for c in uniq[order])
    counts = np.bincount(encode(labels, missing, categories), minlength=len(categories) + 2)
    return CategoricalReference(
        categories=categories,
        counts=tuple(int_list(counts)),
        n=int(present.size),
        n_missing=int(missing.sum()),
    )


def fit_reference(
    columns: Mapping[str, Any],
    *,
    model: str,
    version: str,
    categorical: Iterable[str] = (),
    n_bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
) -> ReferenceProfile:
    """Fit a profile: columns named in ``categorical`` are categorical, the rest numeric.

    Raises ValueError naming the column for an all-missing column, text in a
    numeric column, or a categorical name that is not a column.

    >>> prof = fit_reference({"t": [1.0, 2.0], "g": ["a", "b"]}, model="m", version="1",
    ...                      categorical=["g"])
    >>> sorted(prof.features), prof.features["g"].kind
    (['g', 't'], 'categorical')
    >>> ReferenceProfile.from_json(prof.to_json()) == prof
    True
    """
    cats = set(categorical)
    unknown = sorted(cats - set(columns))
    if unknown:
        raise ValueError(f"categorical column {unknown[0]!r} is not in the data")
    features: dict[str, FeatureReference] = {
        name: fit_categorical(values, name, top_k)
        if name in cats
        else fit_numeric(values, name, n_bins)
        for name, values in columns.items()
    }
    return ReferenceProfile(
        model=str(model), version=str(version), features=features, n_bins=n_bins, top_k=top_k
    )
