"""Estimated performance before the labels arrive (CBPE), against the realised one.

Per bucket, model and version: the stored CBPE window states (table
``estimation_minute`` and its rollups, migration 0007) summed in SQL and turned into
estimates by :class:`processors.cbpe.CBPE`; the realised accuracy and ROC AUC of the
same bucket from the stored confusion matrices (null until labels arrive); and the
out-of-range guardrail from the bucket's numeric drift histograms (the two open bins of
a reference are exactly the values outside its [min, max]). Once labels cover the bucket
(:data:`LABELLED_SHARE`), a realised accuracy outside the band marks the estimate
unreliable (concept drift, which CBPE cannot see).
The rows are those of ``resonance query estimated --format json`` (docs/estimation.md).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from processors.cbpe import CBPE, DEFAULT_THRESHOLDS, EstimationThresholds
from warehouse.backend import Backend
from warehouse.kinds import KINDS
from warehouse.queries import Filters, accuracy, merged_states
from warehouse.queries.times import _range
from warehouse.states import iso as _iso

COLUMNS = (
    "bucket",
    "model",
    "model_version",
    "n",
    "estimated_accuracy",
    "estimated_accuracy_band",
    "estimated_roc_auc",
    "realised_accuracy",
    "realised_roc_auc",
    "reliable",
    "reasons",
)

LABELLED_SHARE = 0.9
"""The realised accuracy is checked against the band once labels cover this share of the
bucket's estimated predictions (the band is for the realised value of all of them; a
few early labels would be a noisier statistic)."""

__all__ = ["COLUMNS", "LABELLED_SHARE", "estimated_series", "estimation_results"]


def estimated_series(
    backend: Backend,
    consortium: str,
    model: str | None = None,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
    thresholds: EstimationThresholds = DEFAULT_THRESHOLDS,
) -> list[dict[str, Any]]:
    """Rows of ``resonance query estimated`` (keys :data:`COLUMNS`), by bucket and model.

    ``start``/``end``/``step`` as for every query (default: the last day, one bucket).
    """
    return [
        {k: r[k] for k in COLUMNS}
        for r in estimation_results(backend, consortium, model, start, end, step, thresholds)
    ]


def estimation_results(
    backend: Backend,
    consortium: str,
    model: str | None = None,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
    thresholds: EstimationThresholds = DEFAULT_THRESHOLDS,
) -> list[dict[str, Any]]:
    """:func:`estimated_series` with everything :meth:`CBPE.result` gives (precision,
    recall, F1, the ROC AUC band, the expected confusion matrix) for the policy."""
    lo, hi, step_s = _range(start, end, step)
    filters = Filters(consortium, model)
    by = ["model", "model_version", "calibration"]
    merged = merged_states(backend, KINDS["estimation"], filters, lo, hi, step_s, by)
    if not merged:
        return []
    realised = {
        (r["bucket"], r["model"], r["model_version"]): r
        for r in accuracy(backend, consortium, model=model, start=lo, end=hi, step=step_s).rows
        if r.get("task") == "classification" and r.get("n")
    }
    outside = _out_of_range(backend, filters, lo, hi, step_s)
    rows = []
    for m in merged:
        bucket, mdl, ver = _iso(m.bucket), m.keys["model"], m.keys["model_version"]
        real = realised.get((bucket, mdl, ver)) or {}
        engine = CBPE.from_stored(m.state, m.keys["calibration"])
        labelled = int(real.get("n") or 0) >= LABELLED_SHARE * engine.count
        result = engine.result(
            out_of_range=outside.get((m.bucket, mdl, ver), {}),
            realised_accuracy=real.get("accuracy") if labelled else None,
            thresholds=thresholds,
        )
        rows.append(
            {
                "bucket": bucket,
                "model": mdl,
                "model_version": ver,
                **result,
                "realised_accuracy": real.get("accuracy"),
                "realised_roc_auc": real.get("roc_auc"),
            }
        )
    rows.sort(key=lambda r: (r["bucket"], r["model"], r["model_version"]))
    return rows


def _out_of_range(
    backend: Backend, filters: Filters, lo: int, hi: int, step: int | None
) -> dict[tuple[int, str, str], dict[str, float]]:
    """(bucket, model, version) → share of each numeric feature's values outside the
    reference [min, max] (the first and last bins of its stored histogram)."""
    spec = KINDS["drift_numeric"]
    by = ["model", "model_version", "feature", "kind"]
    out: dict[tuple[int, str, str], dict[str, float]] = defaultdict(dict)
    for m in merged_states(backend, spec, filters, lo, hi, step, by, "kind = 'numeric'"):
        counts = list(m.state.get("counts") or [])
        n = sum(counts)
        if n:
            key = (m.bucket, m.keys["model"], m.keys["model_version"])
            out[key][m.keys["feature"]] = (counts[0] + counts[-1]) / n
    return out
