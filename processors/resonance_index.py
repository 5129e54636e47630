"""The Resonance index: one 0-100 score per model and window.

index = 100 × Σ wᵢ·cᵢ / Σ wᵢ over the components cᵢ ∈ [0, 1] that are known
(data fit, model quality, service health; default weights 0.4 / 0.4 / 0.2).
A weighted mean is monotone non-decreasing in every component, and dropping an
unknown component (e.g. no ground truth yet) renormalises the rest instead of
counting it as zero. The helpers below map raw metrics to components.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_WEIGHTS = (0.4, 0.4, 0.2)


def _unit(x: float, name: str) -> float:
    if not 0.0 <= x <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be within [0, 1], got {x}")
    return float(x)


def resonance_index(
    data_fit: float | None,
    model_quality: float | None,
    service_health: float | None,
    weights: tuple[float, float, float] = DEFAULT_WEIGHTS,
) -> float | None:
    """Weighted mean of the known components × 100; None when all are unknown.

    >>> resonance_index(1.0, 0.5, 1.0)
    80.0
    >>> resonance_index(0.5, None, 1.0)  # weights 0.4 and 0.2 renormalised
    66.66...
    >>> resonance_index(None, None, None) is None
    True
    """
    if len(weights) != 3 or any(not w >= 0 for w in weights):
        raise ValueError(f"weights must be three numbers >= 0, got {weights}")
    names = ("data_fit", "model_quality", "service_health")
    known = [
        (w, _unit(c, name))
        for w, c, name in zip(
            weights, (data_fit, model_quality, service_health), names, strict=True
        )
        if c is not None
    ]
    total = sum(w for w, _ in known)
    if not known or total == 0:
        return None
    return 100.0 * min(1.0, sum(w * c for w, c in known) / total)


def data_fit(
    verdicts: Mapping[str, bool] | Iterable[bool],
    importance: Mapping[str, float] | None = None,
) -> float | None:
    """1 − importance-weighted share of drifting features (equal weights by default).

    >>> data_fit({"temp": True, "speed": False, "grade": False, "width": False})
    0.75
    >>> data_fit({"temp": True, "speed": False}, importance={"temp": 3.0})
    0.25
    >>> data_fit([]) is None
    True
    """
    items = list(verdicts.items()) if isinstance(verdicts, Mapping) else list(enumerate(verdicts))
    weight_of: Mapping[Any, float] = importance or {}
    weights = [(float(weight_of.get(k, 1.0)), bool(v)) for k, v in items]
    if any(w < 0 for w, _ in weights):
        raise ValueError("importance weights must be >= 0")
    total = sum(w for w, _ in weights)
    if total == 0:
        return None
    return 1.0 - sum(w for w, drifting in weights if drifting) / total


def quality_of(result: Mapping[str, Any]) -> float | None:
    """A model's quality in [0, 1] from its accuracy engine's ``result()``: the accuracy of a
    classifier, 1 − MAPE clipped to [0, 1] of a regressor (the one definition: the policy,
    the console and the Grafana SQL use it). None when unknown.

    >>> quality_of({"accuracy": 0.9}), quality_of({"mape": 0.25}), quality_of({"mape": 3.0})
    (0.9, 0.75, 0.0)
    >>> quality_of({"mape": None}) is None
    True
    """
    if "accuracy" in result:
        accuracy = result["accuracy"]
        return None if accuracy is None else float(accuracy)
    mape = result.get("mape")
    return None if mape is None else regressor_quality(float(mape))


def regressor_quality(mape: float) -> float:
    """A regressor's quality: 1 − MAPE, floored at 0 (MAPE ≥ 0, so it lies in [0, 1]).

    :func:`regressor_quality_sql` is the same rule in ClickHouse SQL; a test runs both.

    >>> regressor_quality(0.25), regressor_quality(1.0), regressor_quality(3.0)
    (0.75, 0.0, 0.0)
    """
    return max(0.0, 1.0 - mape)


def regressor_quality_sql(mape: str) -> str:
    """:func:`regressor_quality` as a ClickHouse expression of the SQL expression ``mape``
    (the Grafana panels' quality, dashboards.sql.model_quality).

    >>> regressor_quality_sql("mape")
    'greatest(0, 1 - mape)'
    """
    return f"greatest(0, 1 - {mape})"


def model_quality(
    metric: float | None, baseline: float | None, higher_is_better: bool = True
) -> float | None:
    """Metric relative to its reference baseline, capped at 1.

    Higher-is-better metrics (accuracy, F1, AUC): min(1, metric / baseline);
    error metrics (MAE, RMSE): min(1, baseline / metric). None when unknown.

    >>> model_quality(0.9, 0.95)
    0.947...
    >>> model_quality(2.0, 1.0, higher_is_better=False)
    0.5
    """
    if metric is None or baseline is None or baseline <= 0 or metric < 0:
        return None
    if higher_is_better:
        return min(1.0, metric / baseline)
    return 1.0 if metric == 0 else min(1.0, baseline / metric)


def service_health(
    error_rate: float | None, p95_ms: float | None, slo_p95_ms: float | None
) -> float | None:
    """(1 − error rate) × min(1, SLO / p95); an unknown factor counts as 1, both unknown → None.

    >>> service_health(0.01, 250.0, 200.0)
    0.792
    """
    if error_rate is None and (p95_ms is None or slo_p95_ms is None):
        return None
    ok = 1.0 if error_rate is None else 1.0 - _unit(error_rate, "error_rate")
    if p95_ms is None or slo_p95_ms is None or p95_ms <= slo_p95_ms:
        return ok
    return ok * slo_p95_ms / p95_ms
