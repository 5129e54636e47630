"""Score calibration fitted on a labelled reference, the input of performance estimation.

Confidence-based performance estimation (:mod:`processors.cbpe`) reads a calibrated
score as the probability that the sample belongs to the class. A model's raw scores
rarely are, so a monotone map is fitted once, at registration, from reference scores
and their actuals, and stored with the model (``Calibration.to_dict`` is plain JSON).

Two methods, both monotone non-decreasing so the model's ranking is kept:

* ``isotonic`` (default): pool-adjacent-violators regression of the 0/1 actual on the
  score, predicted by linear interpolation between block ends and clipped to the
  reference range (sklearn's ``IsotonicRegression(out_of_bounds="clip")``);
* ``histogram``: equal-frequency bins of the reference scores, each mapped to its
  positive rate (piecewise constant).

Multiclass models calibrate each class one-vs-rest and renormalise the row to sum 1.
The quality of the fit is recorded as ECE (see :func:`ece`): ``ece_raw`` of the raw
scores and ``ece`` of the calibrated ones, two-fold cross-fitted (fit on one half,
measured on the other) so an isotonic map is not graded on its own training rows.

>>> rng = np.random.default_rng(0)
>>> s = rng.random(4000)
>>> y = rng.random(4000) < s**2          # the model overstates its confidence
>>> cal = fit_calibration(s, y.astype(int))
>>> cal.classes, cal.ece_raw > 0.1, cal.ece < 0.05
(('0', '1'), True, True)
>>> round(float(cal.calibrate([0.5])[0]), 2)
0.25
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from processors.base import as_float, as_labels, encode, float_list

CALIBRATION_SCHEMA = "resonance.calibration/1"
METHODS = ("isotonic", "histogram")
ECE_BINS = 10
"""Equal-width bins of :func:`ece` (the value recorded and compared with a threshold)."""
HISTOGRAM_BINS = 10
"""Equal-frequency reference bins of the ``histogram`` method."""
SCORE_BINS = 200
"""Equal-frequency reference bins of the raw score that estimation counts windows on."""
MIN_PER_CLASS = 10
"""Fewest reference rows of each class a calibration is fitted from."""

__all__ = [
    "CALIBRATION_SCHEMA",
    "METHODS",
    "Calibration",
    "CalibrationMap",
    "ece",
    "fit_calibration",
    "isotonic_fit",
    "scores_matrix",
]


def ece(probs: Any, positive: Any, bins: int = ECE_BINS) -> float:
    """Expected calibration error: Σ_b n_b/N · |mean prob_b − positive rate_b|.

    Bins are equal-width on [0, 1], bin = min(floor(p·bins), bins − 1), as in
    :class:`processors.accuracy.ClassificationAccuracy`.

    >>> ece([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 0])
    0.25
    """
    p = as_float(probs, "probs")
    y = np.asarray(positive, dtype=np.float64).reshape(-1)
    if p.size != y.size:
        raise ValueError(f"probs has {p.size} rows, positive {y.size}")
    if p.size == 0:
        raise ValueError("ece of no rows is undefined")
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = np.bincount(idx, weights=p, minlength=bins) - np.bincount(idx, weights=y, minlength=bins)
    return float(np.abs(gap).sum() / p.size)


def isotonic_fit(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators fit of ``y`` on ``x``: (thresholds, values) at block ends.

    Equal ``x`` are pooled first (mean ``y``, weight = count), so predictions by
    ``np.interp(x_new, thresholds, values)`` equal sklearn's
    ``IsotonicRegression(out_of_bounds="clip")``.

    >>> isotonic_fit([1, 2, 3, 4], [0, 1, 0, 1])
    (array([1., 2., 3., 4.]), array([0. , 0.5, 0.5, 1. ]))
    """
    xs, inverse, counts = np.unique(as_float(x, "x"), return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=as_float(y, "y")) / counts
    # PAV on a stack of blocks: (mean, weight, first index, last index)
    mean: list[float] = []
    weight: list[int] = []
    first: list[int] = []
    last: list[int] = []
    for i, (m, w) in enumerate(zip(means.tolist(), counts.tolist(), strict=True)):
        lo = i
        while mean and mean[-1] >= m:
            pm, pw = mean.pop(), weight.pop()
            lo = first.pop()
            last.pop()
            m, w = (pm * pw + m * w) / (pw + w), pw + w
        mean.append(m)
        weight.append(w)
        first.append(lo)
        last.append(i)
    ends = sorted({*first, *last})  # a one-value block contributes one point
    values = np.empty(len(ends))
    block_of = np.searchsorted(np.asarray(last), ends)
    values[:] = np.asarray(mean)[block_of]
    return xs[ends], values


@dataclass(frozen=True)
class CalibrationMap:
    """A monotone map from a raw score to a calibrated probability (one class vs the rest).

    ``kind="interp"``: linear between (x, y) points, clipped outside; ``kind="step"``:
    ``y[searchsorted(x, s, "right")]`` with ``x`` the inner bin edges.
    """

    kind: str
    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        x, y = np.asarray(self.x), np.asarray(self.y)
        if self.kind == "interp":
            mapped: np.ndarray = np.interp(scores, x, y)
            return mapped
        return y[np.searchsorted(x, scores, side="right")]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": float_list(self.x), "y": float_list(self.y)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CalibrationMap:
        kind, x, y = d["kind"], tuple(map(float, d["x"])), tuple(map(float, d["y"]))
        ok = len(x) == len(y) if kind == "interp" else len(y) == len(x) + 1
        if kind not in ("interp", "step") or not ok or not y:
            raise ValueError(f"calibration map: bad layout (kind {kind!r}, {len(x)} x, {len(y)} y)")
        return cls(kind, x, y)


def _fit_map(s: np.ndarray, y: np.ndarray, method: str, bins: int) -> CalibrationMap:
    if method == "isotonic":
        x, v = isotonic_fit(s, y)
        return CalibrationMap("interp", tuple(x.tolist()), tuple(v.tolist()))
    inner = np.unique(np.quantile(s, np.linspace(0, 1, bins + 1)[1:-1]))
    idx = np.searchsorted(inner, s, side="right")
    n = np.bincount(idx, minlength=inner.size + 1)
    rate = np.bincount(idx, weights=y, minlength=inner.size + 1) / np.maximum(n, 1)
    return CalibrationMap("step", tuple(inner.tolist()), tuple(rate.tolist()))


@dataclass(frozen=True)
class Calibration:
    """Fitted calibration of one model version (see the module docstring).

    Binary: ``maps`` holds one map, for P(``classes[1]``). Multiclass: one map per
    class, applied to that class's score, rows renormalised to sum 1.
    """

    classes: tuple[str, ...]
    method: str
    maps: tuple[CalibrationMap, ...]
    ece: float
    ece_raw: float
    n: int
    class_counts: tuple[int, ...]
    score_edges: tuple[tuple[float, ...], ...] = ()
    """Per map: inner edges of ``SCORE_BINS`` equal-frequency bins of the reference raw score."""

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def calibrate(self, scores: Any) -> np.ndarray:
        """Calibrated P(positive) (binary, 1-D) or an (n, K) probability matrix (multiclass)."""
        s = scores_matrix(scores, self.classes)
        if self.binary:
            return self.maps[0](s[:, -1])
        p = np.column_stack([m(s[:, k]) for k, m in enumerate(self.maps)])
        total = p.sum(axis=1, keepdims=True)
        probs: np.ndarray = np.divide(
            p, total, out=np.full_like(p, 1 / len(self.classes)), where=total > 0
        )
        return probs

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CALIBRATION_SCHEMA,
            "classes": list(self.classes),
            "method": self.method,
            "maps": [m.to_dict() for m in self.maps],
            "ece": self.ece,
            "ece_raw": self.ece_raw,
            "n": self.n,
            "class_counts": list(self.class_counts),
            "score_edges": [float_list(e) for e in self.score_edges],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        if d.get("schema") != CALIBRATION_SCHEMA:
            raise ValueError(
                f"calibration: schema {d.get('schema')!r}, expected {CALIBRATION_SCHEMA}"
            )
        classes = tuple(map(str, d["classes"]))
        maps = tuple(CalibrationMap.from_dict(m) for m in d["maps"])
        if len(maps) != (1 if len(classes) == 2 else len(classes)):
            raise ValueError(f"calibration: {len(maps)} maps for {len(classes)} classes")
        return cls(
            classes,
            str(d["method"]),
            maps,
            float(d["ece"]),
            float(d["ece_raw"]),
            int(d["n"]),
            tuple(map(int, d["class_counts"])),
            tuple(tuple(map(float, e)) for e in d.get("score_edges", ())),
        )


def scores_matrix(scores: Any, classes: Sequence[str]) -> np.ndarray:
    """(n, K) raw scores; a 1-D array is P(classes[1]) of a binary model."""
    if isinstance(scores, Mapping):
        missing = [c for c in classes if c not in scores]
        if missing:
            raise ValueError(f"scores: no column for class {missing[0]!r}")
        s = np.column_stack([as_float(scores[c], f"scores.{c}") for c in classes])
    else:
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim <= 1:
            if len(classes) != 2:
                raise ValueError(f"scores: one column given, {len(classes)} classes need a matrix")
            s = s.reshape(-1)
            s = np.column_stack([1 - s, s])
        elif s.shape[1] != len(classes):
            raise ValueError(f"scores: {s.shape[1]} columns for {len(classes)} classes")
    if np.isnan(s).any():
        raise ValueError("scores: missing (NaN) values")
    if ((s < 0) | (s > 1)).any():
        raise ValueError("scores: values outside [0, 1] (probabilities expected)")
    return s


def _classes_and_codes(
    actual: Any, classes: Sequence[str] | None
) -> tuple[tuple[str, ...], np.ndarray]:
    text, missing = as_labels(actual, "labels")
    if missing.all():
        raise ValueError("labels: the reference has no labels (every actual is missing)")
    if classes is None:
        found = sorted(set(text[~missing].tolist()))
        if not (set(found) <= {"0", "1"} or set(found) <= {"False", "True"}):
            raise ValueError(
                f"classes: give the class list (positive class last) for labels {found[:5]}"
            )
        classes = ("0", "1") if found[0] in "01" else ("False", "True")
    classes = tuple(map(str, classes))
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes: expected >= 2 distinct labels, got {list(classes)}")
    codes = encode(text, missing, classes)
    unknown = ~missing & (codes == len(classes))
    if unknown.any():
        raise ValueError(f"labels: {str(text[unknown][0])!r} is not one of {list(classes)}")
    return classes, codes


def fit_calibration(
    scores: Any,
    actual: Any,
    classes: Sequence[str] | None = None,
    *,
    method: str = "isotonic",
    bins: int = HISTOGRAM_BINS,
    seed: int = 0,
) -> Calibration:
    """Fit a :class:`Calibration` from reference scores and actuals; ValueError names the field.

    ``scores``: binary P(``classes[1]``) as a 1-D array, or an (n, K) matrix / a
    ``{class: array}`` mapping. Rows with a missing actual are left out; at least
    ``MIN_PER_CLASS`` labelled rows of every class are required. ``classes`` may be
    omitted for 0/1 or False/True labels.
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    classes, codes = _classes_and_codes(actual, classes)
    s = scores_matrix(scores, classes)
    if s.shape[0] != codes.size:
        raise ValueError(f"scores has {s.shape[0]} rows, labels {codes.size}")
    keep = codes < len(classes)
    s, codes = s[keep], codes[keep]
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() < MIN_PER_CLASS:
        k = int(np.argmin(counts))
        raise ValueError(
            f"labels: class {classes[k]!r} has {int(counts[k])} reference rows "
            f"(at least {MIN_PER_CLASS} needed)"
        )
    columns = [len(classes) - 1] if len(classes) == 2 else range(len(classes))
    fold = np.random.default_rng(seed).permutation(codes.size) % 2 == 0

    def fit(rows: np.ndarray) -> Calibration:
        maps = tuple(_fit_map(s[rows, k], codes[rows] == k, method, bins) for k in columns)
        return Calibration(classes, method, maps, 0.0, 0.0, int(rows.sum()), ())

    held_out = [(fit(fold), ~fold), (fit(~fold), fold)]
    ece_cal = sum(_ece_of(c.calibrate(s[rows]), codes[rows]) * rows.sum() for c, rows in held_out)
    raw = s[:, -1] if len(classes) == 2 else s
    full = fit(np.ones(codes.size, bool))
    grid = np.linspace(0, 1, SCORE_BINS + 1)[1:-1]
    edges = tuple(tuple(np.unique(np.quantile(s[:, k], grid)).tolist()) for k in columns)
    return Calibration(
        classes,
        method,
        full.maps,
        float(ece_cal / codes.size),
        _ece_of(raw, codes),
        int(codes.size),
        tuple(int(c) for c in counts),
        edges,
    )


def _ece_of(p: np.ndarray, codes: np.ndarray) -> float:
    """Binary: ECE of P(positive). Multiclass: ECE of the top-class probability (confidence)."""
    if p.ndim == 1:
        return ece(p, codes == 1)
    top = np.argmax(p, axis=1)
    return ece(p[np.arange(p.shape[0]), top], top == codes)
