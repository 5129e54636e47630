"""When the demo says "drift detected" for a model: the rule, on merged window histograms.

Rule (documented in docs/demo.md): for every feature, and for every event-time window
``w`` of the model, merge the feature's drift histograms of the trailing horizon
``[w - horizon + 1, w]`` (``horizon`` windows) and ask the drift engine for its verdict
under :data:`MONITOR_THRESHOLDS`. A feature drifts when that verdict holds on
``persistence`` consecutive windows, each horizon holding at least ``min_samples``
values; the model is flagged when one of its features drifts, and ``first_drift_at`` is
the start of the first window of the earliest such run.

Why these choices:

- a trailing horizon, not single windows: a demo window holds ~100 samples per model;
  merging three makes real shifts unmistakable. Merged histograms, not averaged
  verdicts: sums of partials are partials (docs/design.md, principle 1), so they are exact;
- stricter thresholds than a one-off comparison: the rule looks continuously, at every
  window of every feature (~100 looks per model in a 90 s demo). With the engine's
  default alpha of 0.01 a control model is flagged by chance in a sizeable share of
  runs; alpha 1e-4 (a Bonferroni bound over those looks) with a Wasserstein effect of
  at least 0.25 reference std does not, and a +3 std jump or a drift of 2.5 std still
  crosses both gates within a window or two. PSI is left out of the effect gate
  (threshold 1.0): with ~50 reference bins and a few hundred samples, PSI of an
  undrifted window is already 0.2-0.5 by noise alone;
- persistence: a verdict must hold on two consecutive windows, one more guard against
  a single unlucky window at the cost of one window of delay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from processors.drift import CategoricalDrift, DriftThresholds, NumericDrift

DriftEngine = NumericDrift | CategoricalDrift

DEFAULT_HORIZON = 3
DEFAULT_MIN_SAMPLES = 200
DEFAULT_PERSISTENCE = 2
MONITOR_THRESHOLDS = DriftThresholds(wasserstein=0.25, psi=1.0, js=0.1, alpha=1e-4)
"""Verdict thresholds for continuous monitoring (see the module docstring)."""


@dataclass(frozen=True)
class Detection:
    """A model's drift status under the rule above."""

    drift_detected: bool
    first_drift_at: str | None
    features: tuple[str, ...]  # features whose horizon verdict was drift at least once


def horizon_results(
    windows: Sequence[tuple[str, DriftEngine]], horizon: int = DEFAULT_HORIZON
) -> list[tuple[str, dict[str, Any]]]:
    """``(window_start, result)`` for the merged trailing horizon ending at each window.

    ``windows`` must be sorted by window start, one merged engine per window.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    for i, (start, _engine) in enumerate(windows):
        lo = max(0, i - horizon + 1)
        merged = windows[lo][1]
        for _, engine in windows[lo + 1 : i + 1]:
            merged = merged.merge(engine)
        out.append((start, merged.result()))
    return out


def is_drift(result: Mapping[str, Any], min_samples: int = DEFAULT_MIN_SAMPLES) -> bool:
    """A horizon verdict counts only with enough values behind it."""
    return bool(result["drift"]) and result["n"] + result["n_missing"] >= min_samples


def detect_from_results(
    results: Mapping[str, Sequence[tuple[str, Mapping[str, Any]]]],
    min_samples: int = DEFAULT_MIN_SAMPLES,
    persistence: int = DEFAULT_PERSISTENCE,
) -> Detection:
    """Apply the rule to one model's per-feature horizon results (see :func:`horizon_results`)."""
    first: str | None = None
    flagged: list[str] = []
    for feature, series in sorted(results.items()):
        start = first_run([(s, is_drift(result, min_samples)) for s, result in series], persistence)
        if start is not None:
            flagged.append(feature)
            first = start if first is None or start < first else first
    return Detection(bool(flagged), first, tuple(flagged))


def first_run(flags: Sequence[tuple[str, bool]], length: int) -> str | None:
    """Start of the first run of ``length`` consecutive true flags, or None.

    >>> first_run([("a", True), ("b", False), ("c", True), ("d", True)], 2)
    'c'
    """
    run = 0
    for i, (_, flag) in enumerate(flags):
        run = run + 1 if flag else 0
        if run >= length:
            return flags[i - length + 1][0]
    return None


def detect(
    features: Mapping[str, Sequence[tuple[str, DriftEngine]]],
    horizon: int = DEFAULT_HORIZON,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    persistence: int = DEFAULT_PERSISTENCE,
) -> Detection:
    """Apply the rule to one model: ``features`` maps a feature to its sorted windows."""
    results = {f: horizon_results(windows, horizon) for f, windows in features.items()}
    return detect_from_results(results, min_samples, persistence)
