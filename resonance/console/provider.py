"""What the console asks for, and the shape of each answer.

The server is thin on purpose: every endpoint maps to one provider method, and the
payloads are plain JSON-able dicts whose keys are pinned here so that the browser code
(``static/app.js``), the real provider and the test fake agree on one contract.

Payloads (times are ISO-8601 UTC strings, the start of the event-time window):

``consortia()`` -> ``{"consortia": [str, ...], "busiest": str | None}`` (sorted; the one to
open on: most firing alerts, see :func:`resonance.console.snapshot.busiest`)

``consortium(name)`` -> ::

    {"consortium": str,
     "models": [{"model": str, "samples": int, "resonance_index": float | None,
                 "drift_share": float | None, "accuracy": float | None,
                 "energy_kwh": float, "latency_p95_ms": float | None,
                 "drift_detected": bool, "first_drift_at": str | None,
                 "series": {"t": [str], "resonance_index": [float|None], "drift_share": [...],
                            "accuracy": [...], "energy_kwh": [...], "latency_p95_ms": [...]}}]}

``model(consortium, model)`` -> ::

    {"consortium": str, "model": str,
     "features": [{"feature": str, "kind": "numeric" | "categorical", "drift": bool,
                   "psi": float | None, "js": float | None, "n": int,
                   "bins": [str], "reference": [float], "current": [float],
                   "series": {"t": [str], "psi": [float | None]}}]}

    ``reference`` and ``current`` are bin fractions (each sums to 1 when non-empty);
    ``current`` covers the provider's trailing horizon.

``estimation(consortium, model)`` -> ::

    {"consortium": str, "model": str,
     "rows": [{"bucket": str, "model_version": str, "n": int,
               "estimated_accuracy": float | None,
               "estimated_accuracy_band": [float, float] | None,
               "estimated_roc_auc": float | None, "realised_accuracy": float | None,
               "realised_roc_auc": float | None, "reliable": bool, "reasons": [str]}]}

    Confidence-based estimates per minute of the run's last hour, oldest first, read on
    demand (at most every 15 s per model)
    (``warehouse.estimation_queries.estimated_series``); empty for a model registered
    without a calibration. A realised value is null until labels arrive.

``health()`` -> ::

    {"events": {"telemetry": int, "predictions": int, "outcomes": int, "energy": int,
                "rejected": int, "unreferenced": int},
     "dlq": {reason: int}, "windows_closed": int, "events_per_s": float,
     "throughput": {"t": [str], "events_per_s": [float]}}

Unknown names raise :class:`KeyError`; the server answers 404.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

Payload = dict[str, Any]

SERIES_METRICS: tuple[str, ...] = (
    "resonance_index",
    "drift_share",
    "accuracy",
    "energy_kwh",
    "latency_p95_ms",
)
"""Per-model time series the console draws, in panel order."""

EVENT_KINDS: tuple[str, ...] = (
    "telemetry",
    "predictions",
    "outcomes",
    "energy",
    "rejected",
    "unreferenced",
)


@runtime_checkable
class ConsoleProvider(Protocol):
    """Answers the console's questions; implementations must be safe to call from threads."""

    def consortia(self) -> Payload:
        """The consortia with data so far."""
        ...

    def consortium(self, name: str) -> Payload:
        """Every model of one consortium: current metrics and their history."""
        ...

    def model(self, consortium: str, model: str) -> Payload:
        """Per-feature drift of one model, with reference and current histograms."""
        ...

    def estimation(self, consortium: str, model: str) -> Payload:
        """Estimated (before labels) against realised accuracy of one model, per minute."""
        ...

    def health(self) -> Payload:
        """Pipeline health: event counts, DLQ reasons and throughput."""
        ...
