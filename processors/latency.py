"""Latency: a fixed log-bucket histogram (ms), so percentiles merge across windows.

Bucket i (1..N) covers [lo·γ^(i−1), lo·γ^i); bucket 0 holds x < lo and bucket
N+1 holds x >= lo·γ^N (>= hi). A quantile is reported as the geometric
midpoint of its bucket, so its relative error against the exact order
statistic is at most √γ − 1 (1.98% for γ = 1.04). Details: README.md ("Metric definitions").
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np

from processors.base import as_float, check_mergeable, int_list, ratio

DEFAULT_LO_MS = 0.01
DEFAULT_HI_MS = 1e6
DEFAULT_GAMMA = 1.04
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


class LatencyHistogram:
    """Counts per log bucket plus the sum of latencies (for the exact mean).

    >>> h = LatencyHistogram().update([1.0, 2.0, 3.0, 100.0])
    >>> r = h.result()
    >>> r["count"], r["mean"], round(r["p50"], 2), h.relative_error < 0.02
    (4, 26.5, 2.03, True)
    """

    kind = "latency"

    def __init__(
        self,
        lo_ms: float = DEFAULT_LO_MS,
        hi_ms: float = DEFAULT_HI_MS,
        gamma: float = DEFAULT_GAMMA,
    ):
        if not (0 < lo_ms < hi_ms and gamma > 1):
            raise ValueError("need 0 < lo_ms < hi_ms and gamma > 1")
        self.lo_ms, self.hi_ms, self.gamma = float(lo_ms), float(hi_ms), float(gamma)
        self.n_log = math.ceil(math.log(hi_ms / lo_ms) / math.log(gamma))
        self.counts = np.zeros(self.n_log + 2, dtype=np.int64)
        self.sum_ms = 0.0

    @property
    def relative_error(self) -> float:
        """Worst-case relative error of a reported quantile inside the log range: √γ − 1."""
        return math.sqrt(self.gamma) - 1

    @property
    def params(self) -> tuple[float, float, float]:
        """(lo_ms, hi_ms, gamma): the bucket layout, which must match to merge."""
        return (self.lo_ms, self.hi_ms, self.gamma)

    def update(self, latency_ms: Any) -> Self:
        """Add latencies in milliseconds (>= 0; NaN or negative raise ValueError)."""
        x = as_float(latency_ms, "latency_ms")
        if not (x >= 0).all():
            raise ValueError("latency_ms must be non-negative numbers")
        with np.errstate(divide="ignore"):
            idx = np.floor(np.log(x / self.lo_ms) / math.log(self.gamma)) + 1
        idx = np.clip(np.nan_to_num(idx, neginf=0.0), 0, self.n_log + 1).astype(np.int64)
        self.counts += np.bincount(idx, minlength=self.counts.size)
        self.sum_ms += float(x.sum())
        return self

    def merge(self, other: Self) -> Self:
        check_mergeable(self, other, "params")
        out = type(self)(*self.params)
        out.counts = self.counts + other.counts
        out.sum_ms = self.sum_ms + other.sum_ms
        return out

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def to_dict(self) -> dict[str, Any]:
        return {"counts": int_list(self.counts), "sum_ms": self.sum_ms}

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        *,
        lo_ms: float = DEFAULT_LO_MS,
        hi_ms: float = DEFAULT_HI_MS,
        gamma: float = DEFAULT_GAMMA,
    ) -> Self:
        out = cls(lo_ms, hi_ms, gamma)
        counts = np.asarray(d["counts"], dtype=np.int64)
        if counts.shape != out.counts.shape:
            raise ValueError(f"partial has {counts.size} buckets, expected {out.counts.size}")
        out.counts, out.sum_ms = counts, float(d["sum_ms"])
        return out

    def bucket_value(self, i: int) -> float:
        """Reported value of bucket ``i``: geometric midpoint; lo / lo·γ^N for the open ones."""
        if i == 0:
            return self.lo_ms
        if i == self.n_log + 1:
            return self.lo_ms * self.gamma**self.n_log
        return float(self.lo_ms * self.gamma ** (i - 0.5))

    def quantile(self, q: float) -> float | None:
        """Value of the bucket holding the ⌈q·n⌉-th smallest latency (None when empty)."""
        n = self.count
        if n == 0:
            return None
        rank = max(1, math.ceil(q * n))
        return self.bucket_value(int(np.searchsorted(np.cumsum(self.counts), rank)))

    def result(self) -> dict[str, Any]:
        """p50, p95, p99, mean (exact), max (bucket value of the highest non-empty), count."""
        nonempty = np.flatnonzero(self.counts)
        top = self.bucket_value(int(nonempty[-1])) if nonempty.size else None
        quantiles = {k: self.quantile(q) for k, q in QUANTILES.items()}
        return quantiles | {"mean": ratio(self.sum_ms, self.count), "max": top, "count": self.count}
