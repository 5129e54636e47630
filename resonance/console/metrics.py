"""From one model's per-window engines and stored decisions to the console's payloads.

The console decides nothing: drift, the resonance index and alerts are the policy's
decisions, evaluated in the stream and stored (``verdicts``, ``alert_events``; see
processors/policy.py). This module only displays them next to measured metrics
(definitions also in docs/demo.md):

- ``drift_share`` and ``resonance_index`` of a window: its stored verdict;
- ``drift_detected`` / ``first_drift_at``: a drift rule's alert fired / its ``started_at``;
- the row's ``resonance_index``: the mean of the run's stored window indexes
  (:func:`warehouse.alert_queries.range_index`), the same figure `resonance query
  resonance` and the Grafana overview give for the same range;
- ``accuracy``: classifiers, the share of correct predictions; regressors, ``1 − MAPE``
  clipped to [0, 1]. Counted in the prediction's window, so recent windows fill in as
  late ground truth arrives;
- ``energy_kwh``: facility kWh (IT joules × the hub's PUE);
- ``latency_p95_ms``: p95 of the merged latency histogram.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any

from processors.reference import NumericReference
from processors.resonance_index import quality_of
from warehouse.alert_queries import range_index
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

DISPLAY_MIN_SAMPLES = 30
"""A window's PSI is shown from this many values on (display only, never a verdict)."""


def count_of(volume: Mapping[str, float], kind: str) -> int:
    """Events of one kind in a volume state (accepted rows; ``rejected``: rejected rows)."""
    return int(sum(volume.get(name, 0) for name in VOLUME_COUNTERS[kind]))


def labelled(engine: Any) -> int:
    """Labelled predictions an accuracy state holds (0 without one)."""
    if engine is None:
        return 0
    return int(engine.result().get("n") or 0)


def accuracy_of(engine: Any) -> float | None:
    """Higher-is-better quality in [0, 1] (see the module docstring)."""
    return None if engine is None else quality_of(engine.result())


def _merged(engines: Sequence[Any]) -> Any:
    return reduce(lambda a, b: a.merge(b), engines) if engines else None


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class ModelMetrics:
    """Metrics of one model, computed once per refresh and shared by every view.

    ``verdicts``: window → stored verdict row; ``first_drift_at``: ``started_at`` of the
    model's first drift alert (absent: no drift alert).
    """

    def __init__(
        self,
        data: ModelWindows,
        pue: float = 1.0,
        verdicts: Mapping[str, Mapping[str, Any]] | None = None,
        drift_alert: tuple[bool, str | None] = (False, None),
    ) -> None:
        self.data = data
        self.pue = pue
        self.verdicts = dict(verdicts or {})
        self.drift_alert = drift_alert
        self.windows = data.windows()

    # ------------------------------------------------------------------ per window
    def drift_share(self) -> dict[str, float | None]:
        return {w: v["drift_share"] for w, v in self.verdicts.items()}

    def count(self, window: str, kind: str) -> int:
        return count_of(self.data.volume.get(window, {}), kind)

    def series(self) -> dict[str, list[Any]]:
        share = self.drift_share()
        out: dict[str, list[Any]] = {"t": self.windows}
        out["drift_share"] = [share.get(w) for w in self.windows]
        out["accuracy"] = [_clean(accuracy_of(self.data.accuracy.get(w))) for w in self.windows]
        # labelled predictions behind each window's accuracy: few (the newest windows,
        # whose ground truth is still arriving) make the point provisional in the chart
        out["accuracy_n"] = [labelled(self.data.accuracy.get(w)) for w in self.windows]
        out["energy_kwh"] = [
            self.data.energy[w].result(pue=self.pue)["kwh"] if w in self.data.energy else None
            for w in self.windows
        ]
        out["latency_p95_ms"] = [
            self.data.latency[w].result()["p95"] if w in self.data.latency else None
            for w in self.windows
        ]
        out["resonance_index"] = [
            (self.verdicts.get(w) or {}).get("resonance_index") for w in self.windows
        ]
        return out

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
        return {
            "model": self.data.model,
            "samples": self.samples(),
            "unreferenced": sum(self.count(w, "unreferenced") for w in self.windows),
            "resonance_index": range_index(self.verdicts),
            "drift_share": latest_share,
            "accuracy": _clean(accuracy),
            "energy_kwh": energy.result(pue=self.pue)["kwh"] if energy else None,
            "latency_p95_ms": latency.result()["p95"] if latency else None,
            "drift_detected": self.drift_alert[0],
            "first_drift_at": self.drift_alert[1],
            "series": series,
        }

    # ------------------------------------------------------------------- features
    def features(self) -> list[dict[str, Any]]:
        latest = self.verdicts[max(self.verdicts)] if self.verdicts else {}
        drifting = set(latest.get("drifting") or ())
        out = []
        for feature, per_window in sorted(self.data.drift.items()):
            windows = sorted(per_window.items())
            merged = _merged([e for _, e in windows])
            result = merged.result()
            psi = [
                _clean(r["psi"]) if r["n"] >= DISPLAY_MIN_SAMPLES else None
                for r in (e.result() for _, e in windows)
            ]
            out.append(
                {
                    "feature": feature,
                    "kind": result["kind"],
                    "drift": feature in drifting,
                    "psi": _clean(windows[-1][1].result()["psi"]),
                    "js": _clean(result["js"]),
                    "n": int(result["n"]),
                    **histograms(windows[-1][1]),
                    "series": {"t": [s for s, _ in windows], "psi": psi},
                }
            )
        return out


def _short(x: float) -> str:
    """A bin edge, short and never in exponent form for plant-scale values.

    >>> [_short(v) for v in (1280.4, 0.3691, 912.45, 0.0, 2.5e-5, -14.04)]
    ['1280', '0.369', '912', '0', '2.5e-05', '-14']
    """
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 1e-3 or a == 0:
        return f"{x:.3g}"
    return f"{x:.2g}"


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
