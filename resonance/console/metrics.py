"""From one model's per-window engines to the console's payloads (and the summary's rows).

Definitions (also in docs/demo.md):

- ``drift_share`` of a window: share of the model's features whose trailing-horizon
  verdict is drift at that window (:mod:`resonance.console.detection`).
- ``accuracy``: classifiers, the share of correct predictions; regressors, ``1 − MAPE``
  clipped to [0, 1], so both read "higher is better, 1 is perfect". Counted in the
  prediction's window, so recent windows fill in as late ground truth arrives.
- ``energy_kwh``: facility kWh (IT joules × the hub's PUE).
- ``latency_p95_ms``: p95 of the merged latency histogram.
- ``resonance_index``: :func:`processors.resonance_index.resonance_index` of
  data fit (1 − drift share), model quality (the accuracy above) and service health
  (1 − served-error rate; no latency SLO in the demo).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any

from processors.accuracy import ClassificationAccuracy
from processors.reference import NumericReference
from processors.resonance_index import resonance_index, service_health
from resonance.console.detection import (
    DEFAULT_HORIZON,
    DEFAULT_MIN_SAMPLES,
    detect_from_results,
    horizon_results,
    is_drift,
)
from warehouse.window_reader import ModelWindows

VOLUME_COUNTERS: dict[str, tuple[str, ...]] = {
    "telemetry": ("telemetry_samples",),
    "predictions": ("predictions",),
    "outcomes": ("outcomes_matched", "outcomes_unmatched"),
    "energy": ("energy_readings",),
    "rejected": ("rejected_rows",),
    "unreferenced": ("unreferenced",),  # telemetry of a model without a reference (no drift)
}
"""Event kind → the worker's volume counters (streams/ volume partial state) that count it."""

SERVED_ERRORS = "prediction_errors"


def count_of(volume: Mapping[str, float], kind: str) -> int:
    """Events of one kind in a volume state (accepted rows; ``rejected``: rejected rows)."""
    return int(sum(volume.get(name, 0) for name in VOLUME_COUNTERS[kind]))


def accuracy_of(engine: Any) -> float | None:
    """Higher-is-better quality in [0, 1] (see the module docstring)."""
    if engine is None:
        return None
    result = engine.result()
    if isinstance(engine, ClassificationAccuracy):
        return result["accuracy"]
    mape = result.get("mape")
    return None if mape is None else max(0.0, 1.0 - min(1.0, mape))


def _merged(engines: Sequence[Any]) -> Any:
    return reduce(lambda a, b: a.merge(b), engines) if engines else None


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class ModelMetrics:
    """Metrics of one model, computed once per refresh and shared by every view."""

    def __init__(
        self,
        data: ModelWindows,
        pue: float = 1.0,
        horizon: int = DEFAULT_HORIZON,
        min_samples: int = DEFAULT_MIN_SAMPLES,
    ) -> None:
        self.data = data
        self.pue = pue
        self.min_samples = min_samples
        self.horizon = horizon
        self.windows = data.windows()
        self.horizons = {
            feature: horizon_results(sorted(per_window.items()), horizon)
            for feature, per_window in data.drift.items()
        }
        self.detection = detect_from_results(self.horizons, min_samples)

    # ------------------------------------------------------------------ per window
    def drift_share(self) -> dict[str, float]:
        verdicts: dict[str, list[bool]] = {}
        for series in self.horizons.values():
            for start, result in series:
                verdicts.setdefault(start, []).append(is_drift(result, self.min_samples))
        return {w: sum(v) / len(v) for w, v in verdicts.items()}

    def count(self, window: str, kind: str) -> int:
        return count_of(self.data.volume.get(window, {}), kind)

    def series(self) -> dict[str, list[Any]]:
        share = self.drift_share()
        out: dict[str, list[Any]] = {"t": self.windows}
        out["drift_share"] = [share.get(w) for w in self.windows]
        out["accuracy"] = [_clean(accuracy_of(self.data.accuracy.get(w))) for w in self.windows]
        out["energy_kwh"] = [
            self.data.energy[w].result(pue=self.pue)["kwh"] if w in self.data.energy else None
            for w in self.windows
        ]
        out["latency_p95_ms"] = [
            self.data.latency[w].result()["p95"] if w in self.data.latency else None
            for w in self.windows
        ]
        out["resonance_index"] = [
            self._index(share.get(w), accuracy, self._error_rate([w]))
            for w, accuracy in zip(self.windows, out["accuracy"], strict=True)
        ]
        return out

    def _error_rate(self, windows: Sequence[str]) -> float | None:
        served = sum(self.count(w, "predictions") for w in windows)
        errors = sum(self.data.volume.get(w, {}).get(SERVED_ERRORS, 0) for w in windows)
        return min(1.0, errors / served) if served else None

    @staticmethod
    def _index(
        share: float | None, quality: float | None, error_rate: float | None
    ) -> float | None:
        fit = None if share is None else 1.0 - share
        return resonance_index(fit, quality, service_health(error_rate, None, None))

    # --------------------------------------------------------------------- totals
    def samples(self) -> int:
        """Telemetry samples the workers accepted for this model."""
        return sum(self.count(w, "telemetry") for w in self.windows)

    def events(self) -> dict[str, int]:
        return {k: sum(self.count(w, k) for w in self.windows) for k in VOLUME_COUNTERS}

    def row(self) -> dict[str, Any]:
        """The model's row: run totals plus the latest values and the history."""
        series = self.series()
        accuracy = accuracy_of(_merged(list(self.data.accuracy.values())))
        latency = _merged(list(self.data.latency.values()))
        energy = _merged(list(self.data.energy.values()))
        latest_share = next((s for s in reversed(series["drift_share"]) if s is not None), None)
        index = next((x for x in reversed(series["resonance_index"]) if x is not None), None)
        return {
            "model": self.data.model,
            "samples": self.samples(),
            "unreferenced": sum(self.count(w, "unreferenced") for w in self.windows),
            "resonance_index": index,
            "drift_share": latest_share,
            "accuracy": _clean(accuracy),
            "energy_kwh": energy.result(pue=self.pue)["kwh"] if energy else 0.0,
            "latency_p95_ms": latency.result()["p95"] if latency else None,
            "drift_detected": self.detection.drift_detected,
            "first_drift_at": self.detection.first_drift_at,
            "series": series,
        }

    # ------------------------------------------------------------------- features
    def _psi(self, series: Sequence[tuple[str, Mapping[str, Any]]]) -> list[float | None]:
        """PSI per horizon; None where the horizon holds too few values to judge (the
        first windows of a run), as in the detection rule."""
        return [
            _clean(r["psi"]) if r["n"] + r["n_missing"] >= self.min_samples else None
            for _, r in series
        ]

    def features(self) -> list[dict[str, Any]]:
        out = []
        for feature, per_window in sorted(self.data.drift.items()):
            windows = sorted(per_window.items())
            merged = _merged([e for _, e in windows[-self.horizon :]])
            result = merged.result()
            series = self.horizons[feature]
            out.append(
                {
                    "feature": feature,
                    "kind": result["kind"],
                    "drift": is_drift(result, self.min_samples),
                    "psi": _clean(result["psi"]),
                    "js": _clean(result["js"]),
                    "n": int(result["n"]),
                    **histograms(merged),
                    "series": {"t": [s for s, _ in series], "psi": self._psi(series)},
                }
            )
        return out


def _short(x: float) -> str:
    return f"{x:.3g}"


MAX_DISPLAY_BINS = 12
"""Inner numeric bins shown: references have up to ~50 quantile bins, and a window of a few
hundred samples spread over 50 bins is mostly noise to the eye. Display only: PSI and the
verdict always use the reference's own bins."""


def _groups(n: int, limit: int) -> list[range]:
    """Split ``range(n)`` into at most ``limit`` consecutive groups of nearly equal size.

    >>> [len(g) for g in _groups(51, 12)]
    [4, 4, 5, 4, 4, 5, 4, 4, 4, 4, 5, 4]
    """
    k = min(n, limit)
    cuts = [round(i * n / k) for i in range(k + 1)]
    return [range(a, b) for a, b in zip(cuts, cuts[1:], strict=False)]


def histograms(engine: Any) -> dict[str, list[Any]]:
    """Bin labels and reference/current bin shares (missing values left out of both).

    Numeric: underflow, the reference's quantile bins merged into at most
    :data:`MAX_DISPLAY_BINS` groups, overflow. Categorical: categories + other.
    """
    ref = engine.ref
    if not isinstance(ref, NumericReference):
        labels = [*ref.categories, "other"]
        reference, current = list(ref.counts[:-1]), list(engine.counts[:-1])
        return {"bins": labels, "reference": _shares(reference), "current": _shares(current)}
    edges = [float(e) for e in ref.edges]
    ref_counts, cur_counts = list(ref.counts), list(engine.counts)
    labels = [f"<{_short(edges[0])}"]
    reference, current = [ref_counts[0]], [cur_counts[0]]
    for group in _groups(len(edges) - 1, MAX_DISPLAY_BINS):  # inner bin i = counts[i + 1]
        labels.append(f"{_short(edges[group.start])}–{_short(edges[group.stop])}")
        reference.append(sum(ref_counts[i + 1] for i in group))
        current.append(sum(cur_counts[i + 1] for i in group))
    labels.append(f"≥{_short(edges[-1])}")
    reference.append(ref_counts[-1])
    current.append(cur_counts[-1])
    return {"bins": labels, "reference": _shares(reference), "current": _shares(current)}


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]
