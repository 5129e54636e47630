"""The report's estimated-performance section: CBPE's estimate against the realised value.

For classifiers registered with a score calibration (``models register --predictions``),
the month and each day: the accuracy estimated from calibrated scores before any label
arrives, its band, and the accuracy realised once labels did, read through the query
layer (:func:`warehouse.estimation_queries.estimated_series`, the rows of
``resonance query estimated``). ``reliable``/``reasons`` are its guardrails; a
realised value outside the band is how concept drift, which CBPE cannot see, shows.
"""

from __future__ import annotations

from typing import Any

from resonance.report.tables import Table
from warehouse.backend import Backend
from warehouse.estimation_queries import estimated_series

COLUMNS = [
    "consortium",
    "model",
    "model_version",
    "n",
    "estimated_accuracy",
    "band_lo",
    "band_hi",
    "realised_accuracy",
    "estimated_roc_auc",
    "realised_roc_auc",
    "reliable",
    "reasons",
]
NOTE = (
    "Estimated: confidence-based performance estimation from the calibrated scores, "
    "available before any label (95% band for the sample size). Realised: from the "
    "labels that arrived. A realised value outside the band marks concept drift or a "
    "stale calibration, which the estimate cannot see. Only models registered with "
    "reference predictions (--predictions) are estimated."
)

__all__ = ["COLUMNS", "estimation_tables"]


def _row(c: str, r: dict[str, Any], **extra: Any) -> dict[str, Any]:
    band = r.get("estimated_accuracy_band") or [None, None]
    return {
        "consortium": c,
        "model": r["model"],
        "model_version": r["model_version"],
        **extra,
        "n": r["n"],
        "estimated_accuracy": r["estimated_accuracy"],
        "band_lo": band[0],
        "band_hi": band[1],
        "realised_accuracy": r["realised_accuracy"],
        "estimated_roc_auc": r["estimated_roc_auc"],
        "realised_roc_auc": r["realised_roc_auc"],
        "reliable": r["reliable"],
        "reasons": "; ".join(r["reasons"]),
    }


def estimation_tables(backend: Backend, c: str, lo: int, hi: int) -> tuple[Table, Table]:
    """(the month per model version, the same per day) as report tables."""
    month = [_row(c, r) for r in estimated_series(backend, c, start=lo, end=hi)]
    daily = [
        _row(c, r, day=r["bucket"][:10])
        for r in estimated_series(backend, c, start=lo, end=hi, step="1d")
    ]
    month.sort(key=lambda r: (r["model"], r["model_version"]))
    daily.sort(key=lambda r: (r["model"], r["model_version"], r["day"]))
    why = [
        f"{r['model']} v{r['model_version']} unreliable: {r['reasons']}."
        for r in month
        if not r["reliable"]
    ]
    monthly = Table(
        "estimation_monthly",
        "Estimated (before labels) against realised accuracy, month",
        COLUMNS,
        month,
        " ".join([NOTE, *why]) if month else "no model registered with a score calibration",
        hide=("consortium", "reasons"),  # long text: listed in the note under the table
    )
    days = Table(
        "estimation",
        "Estimated against realised accuracy, daily",
        [*COLUMNS[:3], "day", *COLUMNS[3:]],
        daily,
        doc=False,
    )
    return monthly, days
