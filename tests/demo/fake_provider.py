"""A deterministic console provider for unit tests: two consortia whose history grows.

The number of windows is ``1 + ticks``; tests call :meth:`FakeProvider.tick` to make
the data grow, so nothing depends on wall-clock timing.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta

from resonance.console.provider import SERIES_METRICS, Payload

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
MODELS = {
    "steel": ["strip-defect", "coil-temp"],
    "automotive": ["weld-quality", "paint-thickness", "torque-anomaly"],
}
FEATURES = ["temp_c", "speed_mps", "grade"]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeProvider:
    """Synthetic but self-consistent payloads following resonance.console.provider."""

    def __init__(self) -> None:
        self._ticks = 0
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._ticks += 1

    @property
    def windows(self) -> int:
        return 1 + self._ticks

    def _times(self) -> list[str]:
        return [_iso(START + timedelta(minutes=i)) for i in range(self.windows)]

    def consortia(self) -> Payload:
        return {"consortia": sorted(MODELS)}

    def consortium(self, name: str) -> Payload:
        models = MODELS[name]
        out = []
        for k, model in enumerate(models):
            base = 50 + 10 * k + (5 if name == "steel" else 0)
            series: dict[str, list] = {"t": self._times()}
            for j, metric in enumerate(SERIES_METRICS):
                series[metric] = [base / (1 + j) + math.sin(i + k) for i in range(self.windows)]
            series["drift_share"] = [min(1.0, 0.1 * i * (k == 0)) for i in range(self.windows)]
            out.append(
                {
                    "model": model,
                    "samples": 100 * self.windows,
                    "resonance_index": series["resonance_index"][-1],
                    "drift_share": series["drift_share"][-1],
                    "accuracy": 0.9 if k % 2 == 0 else None,
                    "energy_kwh": 0.001 * self.windows,
                    "latency_p95_ms": 12.5,
                    "drift_detected": k == 0 and self.windows > 2,
                    "first_drift_at": self._times()[2] if k == 0 and self.windows > 2 else None,
                    "series": series,
                }
            )
        return {"consortium": name, "models": out}

    def model(self, consortium: str, model: str) -> Payload:
        if model not in MODELS[consortium]:
            raise KeyError(model)
        features = []
        for i, feature in enumerate(FEATURES):
            reference = [0.1, 0.2, 0.4, 0.2, 0.1]
            current = reference[::-1] if i == 0 else reference
            features.append(
                {
                    "feature": feature,
                    "kind": "categorical" if feature == "grade" else "numeric",
                    "drift": i == 0,
                    "psi": 0.3 if i == 0 else 0.01,
                    "js": 0.1 if i == 0 else 0.001,
                    "n": 100 * self.windows,
                    "bins": ["<a", "a", "b", "c", ">c"],
                    "reference": reference,
                    "current": current,
                    "series": {"t": self._times(), "psi": [0.01 * w for w in range(self.windows)]},
                }
            )
        return {"consortium": consortium, "model": model, "features": features}

    def estimation(self, consortium: str, model: str) -> Payload:
        """Estimates for the first model of each consortium only (the others have no
        calibration): the last windows' labels have not arrived, one window is unreliable."""
        if model not in MODELS[consortium]:
            raise KeyError(model)
        rows = []
        if model == MODELS[consortium][0]:
            start = datetime(2026, 11, 29, 10, tzinfo=UTC)
            n = self.windows + 5
            for i in range(n):
                est = 0.9 - 0.02 * i
                labelled = i < n - 3
                unreliable = i == 2
                rows.append({
                    "bucket": _iso(start + timedelta(minutes=i)), "model_version": "1",
                    "n": 400, "estimated_accuracy": est,
                    "estimated_accuracy_band": [est - 0.03, est + 0.03],
                    "estimated_roc_auc": est + 0.05,
                    "realised_accuracy": (est - 0.2 if unreliable else est + 0.01)
                    if labelled else None,
                    "realised_roc_auc": est + 0.04 if labelled else None,
                    "reliable": not unreliable,
                    "reasons": ["realised accuracy 0.660 outside the band [0.830, 0.890]:"
                                " concept drift or a stale calibration"] if unreliable else [],
                })  # fmt: skip
        return {"consortium": consortium, "model": model, "rows": rows}

    def health(self) -> Payload:
        n = self.windows
        return {
            "events": {
                "telemetry": 1000 * n,
                "predictions": 1000 * n,
                "outcomes": 800 * n,
                "energy": 10 * n,
                "rejected": 3,
            },
            "dlq": {"invalid ts": 2, "missing tenancy": 1},
            "windows_closed": n * 5,
            "events_per_s": 250.0,
            "throughput": {"t": self._times(), "events_per_s": [250.0 + i for i in range(n)]},
        }
