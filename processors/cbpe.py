"""Confidence-based performance estimation (CBPE): a classifier's metrics before labels arrive.

If calibrated scores are true probabilities, a sample predicted ``k`` with calibrated
probability vector ``p`` adds ``p[t]`` expected rows to confusion cell (true ``t``,
predicted ``k``). Summing over a window gives the expected confusion matrix, and from
it expected accuracy, precision, recall and F1 (ratios of expected counts, as NannyML's
CBPE). The state is sums, so windows merge exactly (a day's state is the sum of its
minutes). Exact definitions, bands and limits: docs/estimation.md.

State, per window (K classes, B raw-score bins):

* ``n_pred[k]``: rows predicted ``k``; ``expected[k, t]``: Σ calibrated P(t) over them;
* ``sum_q2[k]``: Σ q² with q = calibrated P(predicted class), for the accuracy band;
* per scored class c (binary: the positive class only; multiclass: every class, one vs
  rest), the histogram of the *raw* score of c on the calibration's equal-frequency
  reference bins: ``counts[c, b]`` rows, ``sum_p[c, b]``
  and ``sum_p2[c, b]`` Σ calibrated P(c) and its square. Bins follow the raw score, not
  the calibrated one, so the model's own ranking (which ROC AUC measures) survives the
  flat steps of an isotonic map;
* ``n_outside``: rows whose raw score lies outside the reference scores' range.

It cannot see concept drift (a change of P(label | inputs)): the scores look the same,
so the estimate stays put while the realised metric moves. :meth:`CBPE.result` flags a
window unreliable once its realised value, if given, falls outside the band.

>>> from processors.calibration import fit_calibration
>>> rng = np.random.default_rng(1)
>>> s = rng.random(5000)
>>> cal = fit_calibration(s, (rng.random(5000) < s).astype(int))
>>> w = rng.random(2000)
>>> r = CBPE(cal).update(None, w).result()
>>> lo, hi = r["estimated_accuracy_band"]    # a calibrated model on uniform scores: 3/4
>>> bool(lo < 0.75 < hi), r["reliable"], r["reasons"]
(True, True, [])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from processors.base import as_labels, check_mergeable, encode, float_list, int_list, ratio
from processors.calibration import Calibration, CalibrationMap, scores_matrix
from processors.drift import NumericDrift

__all__ = ["CBPE", "EstimationThresholds", "calibration_descriptor", "out_of_range_shares"]


@dataclass(frozen=True)
class EstimationThresholds:
    """When an estimate is flagged unreliable (see docs/estimation.md, "Guardrails")."""

    min_samples: int = 200
    """Fewer predictions in the window than this."""
    max_ece: float = 0.05
    """Cross-fitted ECE of the calibration on the reference above this."""
    max_out_of_range: float = 0.05
    """Share of a feature's window values outside the reference [min, max] above this."""
    max_outside_scores: float = 0.05
    """Share of raw scores outside the reference scores' range above this."""
    z: float = 1.96
    """Band half-width in standard errors (1.96: 95% if the calibration holds)."""


DEFAULT_THRESHOLDS = EstimationThresholds()


def calibration_descriptor(calibration: Calibration) -> str:
    """What a stored state needs to name its calibration: JSON ``{"id", "classes", "ece"}``.

    ``id`` is the first 16 hex digits of the sha1 of the calibration's canonical JSON, so
    states of two calibrations never merge; ``classes`` and ``ece`` are all that
    :meth:`CBPE.from_stored` needs to turn a stored state into estimates.

    >>> from processors.calibration import fit_calibration
    >>> rng = np.random.default_rng(1)
    >>> s = rng.random(500)
    >>> d = json.loads(calibration_descriptor(fit_calibration(s, (rng.random(500) < s) * 1)))
    >>> sorted(d), d["classes"], len(d["id"])
    (['classes', 'ece', 'id'], ['0', '1'], 16)
    """
    doc = calibration.to_dict()
    digest = hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
    return json.dumps(
        {"id": digest, "classes": list(calibration.classes), "ece": calibration.ece},
        separators=(",", ":"),
    )


def out_of_range_shares(drift: Mapping[str, NumericDrift]) -> dict[str, float]:
    """Share of each numeric feature's window values outside the reference [min, max].

    The drift engines' two open bins hold exactly those values (processors.reference).
    """
    out = {}
    for name, engine in drift.items():
        n = int(engine.counts.sum())
        if n:
            out[name] = float(engine.counts[0] + engine.counts[-1]) / n
    return out


def _auc(counts: np.ndarray, sum_p: np.ndarray, sum_p2: np.ndarray) -> tuple[float, float] | None:
    """Expected ROC AUC of one class vs the rest, and its standard error, from a histogram.

    AUC = E[wins + ties/2] / E[positive·negative pairs] over pairs of distinct rows,
    rows in one bin counted as ties. The standard error is that of the realised AUC
    given the window's scores, labels drawn from the calibrated probabilities (delta
    method; docs/estimation.md).
    """
    pos = sum_p
    neg = counts - sum_p
    var_y = sum_p - sum_p2  # Σ p(1 − p): label variance per bin, also the self-pairs
    n_pos, n_neg = float(pos.sum()), float(neg.sum())
    pairs = n_pos * n_neg - float(var_y.sum())
    if pairs <= 0:
        return None
    pos_above = np.cumsum(pos[::-1])[::-1] - pos
    neg_below = np.cumsum(neg) - neg
    wins = float(np.sum(neg * pos_above))
    ties = float(np.sum(pos * neg - var_y))
    auc = min(max((wins + ties / 2) / pairs, 0.0), 1.0)
    # d AUC / d y_i for a row in bin b: (g_b − AUC·(N − P)) / (P·N)
    g = (neg_below + neg / 2) - (pos_above + pos / 2)
    grad = (g - auc * (n_neg - n_pos)) / (n_pos * n_neg)
    return auc, float(np.sqrt(np.sum(var_y * grad**2)))


def _band(value: float | None, se: float | None, z: float) -> list[float] | None:
    if value is None or se is None:
        return None
    return [max(value - z * se, 0.0), min(value + z * se, 1.0)]


class CBPE:
    """Mergeable CBPE state of one model version's windows (see the module docstring).

    ``update(y_pred, scores)``: ``scores`` are raw model scores (binary: P(classes[1])
    as a 1-D array; multiclass: an (n, K) matrix or ``{class: array}``); ``y_pred``
    None means ``score >= 0.5`` (binary) or the top score (multiclass).
    """

    kind = "estimation"

    def __init__(self, calibration: Calibration):
        self.calibration = calibration
        self.classes = calibration.classes
        k = len(self.classes)
        c = 1 if k == 2 else k
        if len(calibration.score_edges) != c:
            raise ValueError("calibration: no reference score bins (refit it)")
        self._edges = [np.asarray(e) for e in calibration.score_edges]
        score_bins = max(e.size for e in self._edges) + 1
        self.n_pred = np.zeros(k, dtype=np.int64)
        self.expected = np.zeros((k, k), dtype=np.float64)
        self.sum_q2 = np.zeros(k, dtype=np.float64)
        self.counts = np.zeros((c, score_bins), dtype=np.int64)
        self.sum_p = np.zeros((c, score_bins), dtype=np.float64)
        self.sum_p2 = np.zeros((c, score_bins), dtype=np.float64)
        self.n_outside = 0

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def _predicted(self, y_pred: Any, raw: np.ndarray) -> np.ndarray:
        k = len(self.classes)
        if y_pred is None:
            return (raw[:, 1] >= 0.5).astype(np.int64) if self.binary else raw.argmax(axis=1)
        text, missing = as_labels(y_pred, "y_pred")
        codes = encode(text, missing, self.classes)
        bad = codes >= k
        if bad.any():
            raise ValueError(f"y_pred: {str(text[bad][0])!r} is not one of {list(self.classes)}")
        if codes.size != raw.shape[0]:
            raise ValueError(f"y_pred has {codes.size} rows, scores {raw.shape[0]}")
        return codes

    def update(self, y_pred: Any, scores: Any) -> Self:
        """Add a batch of predictions; bad input raises ValueError before anything changes."""
        raw = scores_matrix(scores, self.classes)
        pred = self._predicted(y_pred, raw)
        p = self.calibration.calibrate(raw if not self.binary else raw[:, 1])
        p = np.column_stack([1 - p, p]) if self.binary else p
        k, b = len(self.classes), self.counts.shape[1]
        q = p[np.arange(pred.size), pred]
        self.n_pred += np.bincount(pred, minlength=k)
        for t in range(k):
            self.expected[:, t] += np.bincount(pred, weights=p[:, t], minlength=k)
        self.sum_q2 += np.bincount(pred, weights=q * q, minlength=k)
        scored = [1] if self.binary else range(k)
        for row, c in enumerate(scored):
            idx = np.searchsorted(self._edges[row], raw[:, c], side="right")
            self.counts[row] += np.bincount(idx, minlength=b)
            self.sum_p[row] += np.bincount(idx, weights=p[:, c], minlength=b)
            self.sum_p2[row] += np.bincount(idx, weights=p[:, c] ** 2, minlength=b)
        self.n_outside += self._outside(raw)
        return self

    def _outside(self, raw: np.ndarray) -> int:
        """Rows with a raw score beyond the range the calibration map was fitted on."""
        scored = [1] if self.binary else range(len(self.classes))
        out = np.zeros(raw.shape[0], dtype=bool)
        for m, c in zip(self.calibration.maps, scored, strict=True):
            if m.kind == "interp":
                out |= (raw[:, c] < m.x[0]) | (raw[:, c] > m.x[-1])
        return int(out.sum())

    def merge(self, other: Self) -> Self:
        check_mergeable(self, other, "calibration")
        out = type(self)(self.calibration)
        for name in ("n_pred", "expected", "sum_q2", "counts", "sum_p", "sum_p2", "n_outside"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        return out

    @property
    def count(self) -> int:
        return int(self.n_pred.sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_pred": int_list(self.n_pred),
            "expected": [float_list(row) for row in self.expected],
            "sum_q2": float_list(self.sum_q2),
            "counts": [int_list(row) for row in self.counts],
            "sum_p": [float_list(row) for row in self.sum_p],
            "sum_p2": [float_list(row) for row in self.sum_p2],
            "n_outside": int(self.n_outside),
        }

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        *,
        calibration: Calibration,
    ) -> Self:
        out = cls(calibration)
        for name in ("n_pred", "expected", "sum_q2", "counts", "sum_p", "sum_p2"):
            want = getattr(out, name)
            arr = np.asarray(d[name], dtype=want.dtype)
            if arr.shape != want.shape:
                raise ValueError(f"{name}: shape {arr.shape}, the calibration needs {want.shape}")
            setattr(out, name, arr)
        out.n_outside = int(d["n_outside"])
        return out

    @classmethod
    def from_stored(cls, d: dict[str, Any], descriptor: str) -> Self:
        """A stored (merged) state for :meth:`result` only, named by its
        :func:`calibration_descriptor`: the estimates read the state, the classes and the
        reference ECE, never the calibration maps, so the read path needs no registry.
        The engine it returns must not be updated (its maps are placeholders).
        """
        info = json.loads(descriptor)
        classes = tuple(map(str, info["classes"]))
        c = 1 if len(classes) == 2 else len(classes)
        width = len(d["counts"][0]) if d.get("counts") and d["counts"][0] else 1
        shell = Calibration(
            classes,
            "stored",
            (CalibrationMap("step", (), (0.0,)),) * c,
            float(info["ece"]),
            0.0,  # placeholders: never read by result(), equal so that shells merge
            0,
            (0,) * len(classes),
            ((0.0,) * (width - 1),) * c,
        )
        return cls.from_dict(d, calibration=shell)

    def result(
        self,
        *,
        out_of_range: Mapping[str, float] | None = None,
        realised_accuracy: float | None = None,
        thresholds: EstimationThresholds = DEFAULT_THRESHOLDS,
    ) -> dict[str, Any]:
        """Estimates, bands and the ``reliable``/``reasons`` guardrails (None when undefined).

        ``out_of_range``: share of each feature's window values outside the reference
        range (:func:`out_of_range_shares`); ``realised_accuracy``: the window's
        realised accuracy once labels arrived, checked against the band.
        """
        n = self.count
        t = thresholds
        cm = self.expected  # rows = predicted, columns = true
        correct = float(np.trace(cm))
        accuracy = ratio(correct, n)
        acc_se = float(np.sqrt(max(correct - float(self.sum_q2.sum()), 0.0))) / n if n else None
        tp, pred_n, true_n = np.diag(cm), self.n_pred.astype(np.float64), cm.sum(axis=0)
        precision = np.divide(tp, pred_n, out=np.zeros_like(tp), where=pred_n > 0)
        recall = np.divide(tp, true_n, out=np.zeros_like(tp), where=true_n > 0)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
        fits = [_auc(*rows) for rows in zip(self.counts, self.sum_p, self.sum_p2, strict=True)]
        defined_fits = [f for f in fits if f is not None]
        auc: float | None = None
        auc_se: float | None = None
        # multiclass: macro mean of one-vs-rest, independent SEs; undefined if any class is
        if fits and len(defined_fits) == len(fits):
            auc = float(np.mean([a for a, _ in defined_fits]))
            auc_se = float(np.sqrt(np.sum([se**2 for _, se in defined_fits]))) / len(fits)
        binary = self.binary

        def pick(a: np.ndarray) -> float:
            return float(a[1]) if binary else float(a.mean())

        band = _band(accuracy, acc_se, t.z)
        reasons = self._reasons(n, out_of_range or {}, realised_accuracy, band, t)
        defined = n > 0
        return {
            "n": n,
            "expected_confusion": [float_list(col) for col in cm.T],  # rows = true
            "estimated_accuracy": accuracy,
            "estimated_accuracy_band": band,
            "estimated_precision": pick(precision) if defined else None,
            "estimated_recall": pick(recall) if defined else None,
            "estimated_f1": pick(f1) if defined else None,
            "estimated_roc_auc": auc,
            "estimated_roc_auc_band": _band(auc, auc_se, t.z),
            "reference_ece": self.calibration.ece,
            "reliable": not reasons,
            "reasons": reasons,
        }

    def _reasons(
        self,
        n: int,
        out_of_range: Mapping[str, float],
        realised: float | None,
        band: list[float] | None,
        t: EstimationThresholds,
    ) -> list[str]:
        reasons = []
        if n < t.min_samples:
            reasons.append(f"too few samples: {n} < {t.min_samples}")
        if self.calibration.ece > t.max_ece:
            reasons.append(
                f"poor reference calibration: ECE {self.calibration.ece:.3f} > {t.max_ece:g}"
            )
        if n and self.n_outside / n > t.max_outside_scores:
            reasons.append(
                f"scores outside the reference range: {self.n_outside / n:.1%} of the window"
            )
        for name in sorted(out_of_range):
            share = out_of_range[name]
            if share > t.max_out_of_range:
                reasons.append(f"feature {name!r} outside the reference range: {share:.1%}")
        if realised is not None and band is not None and not band[0] <= realised <= band[1]:
            reasons.append(
                f"realised accuracy {realised:.3f} outside the band "
                f"[{band[0]:.3f}, {band[1]:.3f}]: concept drift or a stale calibration"
            )
        return reasons
