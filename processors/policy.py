"""The monitoring policy: one pure object decides, from merged window partials, whether a
feature or a model drifts, what the resonance index is, and which rule conditions hold.

Every surface reads these decisions (stored by the stream's evaluator); none re-derives
them. Definitions (README.md, "Policy"):

- **feature verdict** on the merged trailing ``feature_drift.horizon`` windows (extended
  back, up to ``max_horizon``, until it holds ``min_samples`` values). Tests: the
  distribution test (KS p-value on the reference bins for numeric features, chi-square for
  categorical ones) when the horizon holds >= ``min_samples`` non-missing values, and the
  missing-rate test (one-sided binomial against the reference's missing rate) when it holds
  >= ``min_samples`` values, missing included. Holm's step-down procedure over every
  testable (feature, test) pair of the model bounds the family-wise error of one look at
  ``alpha``; a rejected test counts only if its effect gate holds too (W1/std, PSI, JS,
  missing-rate increase), so a large n never flags a negligible shift. Repeated looks are
  controlled by the lifecycle: a condition must hold ``for`` consecutive windows;
- **estimated performance drop**: baseline minus the CBPE estimate of accuracy
  (processors.cbpe) over the merged trailing horizon, decided only while the estimate is
  reliable, so it can fire before any label arrives;
- **model verdict**: importance-weighted share of drifting features among testable ones;
- **resonance index** = :func:`processors.resonance_index.resonance_index` of data fit
  (1 − drift share), model quality (quality / baseline, capped at 1) and service health
  ((1 − served-error rate) × min(1, SLO / p95)).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import numpy as np

from processors.cbpe import EstimationThresholds, out_of_range_shares
from processors.drift import NumericDrift
from processors.energy import EnergyMeter
from processors.policy_config import (
    EnergyRule,
    EstimatedPerformanceDropRule,
    PolicyConfig,
    RuleSet,
)
from processors.policy_inputs import RegistryInputs, effective_rules
from processors.resonance_index import (
    model_quality,
    quality_of,
    resonance_index,
    service_health,
)

LEVELS = ("ok", "warn", "critical")
ACCEPTED_COUNTERS = ("telemetry_samples", "predictions", "outcomes_matched",
                     "outcomes_unmatched", "energy_readings")  # fmt: skip


def _version_key(v: str) -> tuple[int, int | str]:
    """Numeric versions in number order, after them the rest in text order."""
    return (0, int(v)) if v.isdigit() else (1, v)


def holm(pvalues: Sequence[float], alpha: float) -> np.ndarray:
    """Holm's step-down rejections at family-wise level ``alpha`` (in the input's order).

    Sort ascending; reject ``p_(k)`` while ``p_(k) <= alpha / (m − k + 1)``, stop at the
    first that is not.

    >>> holm([0.01, 0.04, 0.03, 0.005], 0.05).tolist()
    [True, False, False, True]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    out = np.zeros(m, dtype=bool)
    for k, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (m - k):
            break
        out[i] = True
    return out


@dataclass
class WindowStats:
    """One model version's merged statistics of one event-time window (engines or None)."""

    window_start: int  # epoch ms
    drift: Mapping[str, Any] = field(default_factory=dict)  # feature -> merged drift engine
    accuracy: Any = None
    latency: Any = None
    energy: Any = None
    volume: Mapping[str, float] = field(default_factory=dict)
    estimation: Any = None  # merged processors.cbpe.CBPE of the window, if calibrated


@dataclass(frozen=True)
class FeatureResult:
    """One feature's verdict with its evidence (``drift`` None: too few values to test)."""

    feature: str
    kind: str
    statistic: str
    value: float
    p_value: float | None
    n: int
    drift: bool | None

    def evidence(self) -> dict[str, Any]:
        return {"feature": self.feature, "kind": self.kind, "statistic": self.statistic,
                "value": self.value, "p_value": self.p_value, "n": self.n}  # fmt: skip


@dataclass(frozen=True)
class Condition:
    """A rule's state at one window: ``level`` ok/warn/critical, or None (cannot tell)."""

    level: str | None
    value: float | None = None
    threshold: float | None = None


@dataclass
class WindowVerdict:
    """Everything the policy decided for one window of one model version."""

    window_start: int
    features: list[FeatureResult]
    drift_share: float | None
    data_fit: float | None
    model_quality: float | None
    service_health: float | None
    resonance_index: float | None
    conditions: dict[str, Condition]

    @property
    def drifting(self) -> list[str]:
        return [f.feature for f in self.features if f.drift]


def _merge(engines: Sequence[Any]) -> Any:
    """Merge the engines of the newest one's type (a model has one task; anything else in
    its windows, such as a task changed between versions, is left out)."""
    engines = [e for e in engines if e is not None]
    if not engines:
        return None
    engines = [e for e in engines if type(e) is type(engines[-1])]
    out = engines[0]
    for e in engines[1:]:
        out = out.merge(e)
    return out


def _horizons(
    history: Sequence[WindowStats], horizon: int, max_horizon: int, min_samples: int
) -> dict[str, Any]:
    """Per feature, the merged trailing ``horizon`` windows, extended back one window at a
    time (up to ``max_horizon``) while it holds fewer than ``min_samples`` values."""
    names = sorted({f for w in history[-horizon:] for f in w.drift})
    out: dict[str, Any] = {}
    for f in names:
        merged = None
        for k, w in enumerate(reversed(history[-max_horizon:])):
            e = w.drift.get(f)
            if e is not None:
                merged = e if merged is None else merged.merge(e)
            if k + 1 >= horizon and merged is not None and merged.count >= min_samples:
                break
        if merged is not None:
            out[f] = merged
    return out


def _binom_p(n_missing: int, total: int, rate: float) -> float:
    from scipy import stats  # deferred (see processors.drift)

    return float(stats.binom.sf(n_missing - 1, total, rate))


def feature_results(engines: Mapping[str, Any], rules: RuleSet) -> list[FeatureResult]:
    """Per-feature verdicts of one merged horizon (see the module docstring)."""
    rule = rules.feature_drift
    tests: list[tuple[str, str, str, float, float, int, bool]] = []
    untested: list[FeatureResult] = []
    for name in sorted(engines):
        r = engines[name].result()
        kind, n, n_missing = r["kind"], int(r["n"]), int(r["n_missing"])
        total = n + n_missing
        found = False
        if n >= rule.min_samples:
            psi_hit = rule.psi is not None and r["psi"] >= rule.psi
            if kind == "numeric":
                stat, value, p = "wasserstein", float(r["wasserstein"]), float(r["ks_pvalue"])
                effect = value >= rule.wasserstein or psi_hit
            else:
                stat, value, p = "js", float(r["js"]), float(r["chi2_pvalue"])
                effect = value >= rule.js or psi_hit
            tests.append((name, kind, stat, value, p, n, bool(effect)))
            found = True
        if total >= rule.min_samples:
            ref_rate = float(engines[name].ref.missing_rate)
            rate = n_missing / total
            effect = rate - ref_rate >= rule.missing_increase
            p = _binom_p(n_missing, total, ref_rate) if n_missing else 1.0
            tests.append((name, kind, "missing_rate", rate, p, total, bool(effect)))
            found = True
        if not found:
            untested.append(FeatureResult(name, kind, "n", float(total), None, total, None))
    rejected = holm([t[4] for t in tests], rule.alpha) if tests else np.zeros(0, bool)
    best: dict[str, FeatureResult] = {}
    for (name, kind, stat, value, p, n, effect), rej in zip(tests, rejected, strict=True):
        res = FeatureResult(name, kind, stat, value, p, n, bool(rej and effect))
        prev = best.get(name)
        # keep the rejected test (evidence), else the distribution test (first one)
        if prev is None or (res.drift and not prev.drift):
            best[name] = res
    return sorted([*best.values(), *untested], key=lambda f: f.feature)


def model_share(tested: Sequence[FeatureResult], importance: Mapping[str, float]) -> float | None:
    """Importance-weighted share of drifting features among the ``tested`` ones (features
    ``importance`` does not name weigh 0); the plain drift share without importances, or
    when no tested feature weighs anything; None when nothing was tested.

    >>> f = [FeatureResult(n, "numeric", "wasserstein", 0.0, 0.0, 500, d)
    ...      for n, d in (("a", True), ("b", False), ("c", False))]
    >>> model_share(f, {}), model_share(f, {"a": 0.7, "b": 0.3}), model_share(f, {"z": 1})
    (0.3333333333333333, 0.7, 0.3333333333333333)
    """
    if not tested:
        return None
    weights = [float(importance.get(f.feature, 0.0)) for f in tested]
    if sum(weights) <= 0:
        weights = [1.0] * len(tested)
    return sum(w for w, f in zip(weights, tested, strict=True) if f.drift) / sum(weights)


def _quality(engine: Any, min_labels: int) -> float | None:
    """Accuracy (classifiers) or 1 − MAPE clipped to [0, 1] (regressors); None below
    ``min_labels`` labelled samples."""
    if engine is None:
        return None
    r = engine.result()
    if int(r.get("n") or 0) < min_labels:
        return None
    return quality_of(r)


def _above(value: float | None, warn: float, critical: float) -> Condition:
    if value is None:
        return Condition(None)
    level = "critical" if value > critical else "warn" if value > warn else "ok"
    return Condition(level, float(value), critical if level == "critical" else warn)


def _below(value: float | None, warn: float, critical: float) -> Condition:
    if value is None:
        return Condition(None)
    level = "critical" if value < critical else "warn" if value < warn else "ok"
    return Condition(level, float(value), critical if level == "critical" else warn)


class Policy:
    """The decisions of one policy file (defaults when built without one).

    ``evaluate(history, state)`` decides the last window of ``history`` (sorted windows
    of one model version, the trailing ones it needs before it) and returns the verdict;
    ``state`` (JSON-able, per model version) carries what is learned once (the accuracy
    baseline) and is updated in place.
    """

    def __init__(self, config: PolicyConfig | None = None, registry: Iterable[Any] = ()) -> None:
        self.config = config or PolicyConfig.from_mapping({})
        self.version = self.config.version
        self._registry: dict[tuple[str, str], dict[str, RegistryInputs]] = {}
        self._rules: dict[tuple[str, str, str | None], tuple[RuleSet, dict[str, str]]] = {}
        self.use_registry(registry)

    def use_registry(self, entries: Iterable[Any]) -> None:
        """Take the registry's inputs (:class:`streams.registry.ModelEntry` objects or
        :func:`warehouse.registry.list_models` rows; replaces earlier ones): baselines,
        importances, SLO and energy baseline per model version
        (:mod:`processors.policy_inputs`)."""
        found: dict[tuple[str, str], dict[str, RegistryInputs]] = {}
        for e in entries:
            get = e.get if isinstance(e, Mapping) else lambda k, e=e: getattr(e, k)
            inputs = RegistryInputs.of(e)
            key = (str(get("consortium")), str(get("model")))
            found.setdefault(key, {})[inputs.model_version] = inputs
        if found != self._registry:
            self._registry = found
            self._rules.clear()

    def inputs(
        self, consortium: str, model: str, version: str | None = None
    ) -> RegistryInputs | None:
        """The registry inputs of ``version`` of the model, else of its newest version."""
        per = self._registry.get((consortium, model))
        if not per:
            return None
        if version in per:
            return per[version]
        return per[max(per, key=_version_key)]

    def explain(
        self, consortium: str, model: str, version: str | None = None
    ) -> tuple[RuleSet, dict[str, str]]:
        """The effective rules and, per ``rule.key``, where the value came from."""
        key = (consortium, model, version)
        if key not in self._rules:
            inputs = self.inputs(consortium, model, version)
            self._rules[key] = effective_rules(self.config, consortium, model, inputs)
        return self._rules[key]

    def rules(self, consortium: str, model: str, version: str | None = None) -> RuleSet:
        return self.explain(consortium, model, version)[0]

    def lookback(self, consortium: str, model: str) -> int:
        """Windows of history :meth:`evaluate` needs before the decided one (inclusive)."""
        r = self.rules(consortium, model)
        fd = r.feature_drift
        energy = r.energy_per_inference.baseline_windows + 1
        est = r.estimated_performance_drop.horizon
        return max(fd.horizon, fd.max_horizon, r.accuracy_drop.horizon, energy, est)

    def evaluate(
        self,
        consortium: str,
        model: str,
        history: Sequence[WindowStats],
        state: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> WindowVerdict:
        rules = self.rules(consortium, model, version)
        state = {} if state is None else state
        cur = history[-1]
        fd = rules.feature_drift
        merged = _horizons(history, fd.horizon, max(fd.horizon, fd.max_horizon), fd.min_samples)
        features = feature_results(merged, rules)
        tested = [f for f in features if f.drift is not None]
        share = model_share(tested, rules.model_drift.importance)
        conditions: dict[str, Condition] = {}
        if share is None:
            conditions["feature_drift"] = conditions["model_drift"] = Condition(None)
        else:
            n_drift = sum(1 for f in tested if f.drift)
            frac = n_drift / len(tested)
            level = "ok" if not n_drift else "critical" if frac >= fd.critical_share else "warn"
            conditions["feature_drift"] = Condition(level, float(n_drift), 1.0)
            md = rules.model_drift
            level = (
                "critical" if share >= md.critical_share else "warn" if share >= md.share else "ok"
            )
            limit = md.critical_share if level == "critical" else md.share
            conditions["model_drift"] = Condition(level, share, limit)
        quality_c, conditions["accuracy_drop"] = self._accuracy(rules, history, state)
        conditions["estimated_performance_drop"] = self._estimated(
            history, state, rules.estimated_performance_drop
        )
        # service health and latency
        lat = cur.latency
        lr = rules.latency_p95
        p95 = None
        if lat is not None and lat.count >= lr.min_requests:
            p95 = float(lat.result()["p95"])
        served = float(cur.volume.get("predictions", 0))
        errors = float(cur.volume.get("prediction_errors", 0))
        error_rate = min(1.0, errors / served) if served else None
        health = service_health(error_rate, p95, lr.slo_ms)
        if lr.slo_ms is None or p95 is None:
            conditions["latency_p95"] = Condition(None)
        else:
            c = _above(p95 / lr.slo_ms, lr.warn, lr.critical)
            conditions["latency_p95"] = Condition(c.level, p95, (c.threshold or 0) * lr.slo_ms)
        # energy per inference against the trailing median
        er = rules.energy_per_inference
        conditions["energy_per_inference"] = self._energy(history, er)
        # DLQ / reject rate
        dr = rules.dlq_rate
        rejected = float(cur.volume.get("rejected_rows", 0))
        events = rejected + sum(float(cur.volume.get(k, 0)) for k in ACCEPTED_COUNTERS)
        rate = rejected / events if events >= dr.min_events else None
        conditions["dlq_rate"] = _above(rate, dr.warn, dr.critical)
        fit = None if share is None else 1.0 - share
        index, conditions["resonance_floor"] = self._index(rules, fit, quality_c, health)
        for name in list(conditions):
            if not getattr(rules, name).enabled:
                conditions[name] = Condition(None)
        return WindowVerdict(cur.window_start, features, share, fit, quality_c, health,
                             index, conditions)  # fmt: skip

    def outcomes(
        self,
        consortium: str,
        model: str,
        history: Sequence[WindowStats],
        state: dict[str, Any],
        data_fit: float | None,
        service_health: float | None,
        version: str | None = None,
    ) -> tuple[float | None, float | None, dict[str, Condition]]:
        """What reads outcomes, for the last window of ``history`` given its data fit and
        service health: model quality, the resonance index and the ``accuracy_drop`` /
        ``resonance_floor`` conditions, decided as :meth:`evaluate` decides them. The
        evaluator calls it alone when late outcomes complete a decided window (the other
        inputs are complete once a window closes)."""
        rules = self.rules(consortium, model, version)
        quality_c, accuracy = self._accuracy(rules, history, state)
        index, floor = self._index(rules, data_fit, quality_c, service_health)
        found = {"accuracy_drop": accuracy, "resonance_floor": floor}
        return (
            quality_c,
            index,
            {k: c if getattr(rules, k).enabled else Condition(None) for k, c in found.items()},
        )

    def _accuracy(
        self, rules: RuleSet, history: Sequence[WindowStats], state: dict[str, Any]
    ) -> tuple[float | None, Condition]:
        """Model quality (against the baseline) and the accuracy_drop condition."""
        ad = rules.accuracy_drop
        acc = _merge([w.accuracy for w in history[-ad.horizon :]])
        quality = _quality(acc, ad.min_labels)
        baseline = (
            ad.baseline if ad.baseline is not None
            else self._learned(state, quality, ad, history[-1].window_start)
        )  # fmt: skip
        drop = None if quality is None or baseline is None else baseline - quality
        quality_c = (
            model_quality(quality, baseline) if baseline is not None and quality is not None
            else quality
        )  # fmt: skip
        return quality_c, _above(drop, ad.warn, ad.critical)

    @staticmethod
    def _index(
        rules: RuleSet, fit: float | None, quality: float | None, health: float | None
    ) -> tuple[float | None, Condition]:
        """The resonance index, defined once, and the resonance_floor condition."""
        w = rules.index_weights
        index = resonance_index(fit, quality, health,
                                (w.data_fit, w.model_quality, w.service_health))  # fmt: skip
        fr = rules.resonance_floor
        return index, _below(index, fr.warn, fr.critical)

    @staticmethod
    def _learned(
        state: dict[str, Any], quality: float | None, ad: Any, window_start: int
    ) -> float | None:
        """The model's own baseline: median quality of its first labelled horizons. A
        window decided again (late outcomes) replaces its own value, never adds a second.

        >>> s, ad = {}, type("R", (), {"baseline_windows": 2})
        >>> [Policy._learned(s, q, ad, w) for w, q in [(0, 0.8), (0, 0.9), (1, 0.7), (2, 0.1)]]
        [None, None, None, 0.8]
        """
        seen = state.setdefault("quality_baseline", [])
        windows = state.setdefault("quality_baseline_windows", [])
        windows += [None] * (len(seen) - len(windows))  # states stored before this field
        if len(seen) < ad.baseline_windows:
            if quality is not None:
                if window_start in windows:
                    seen[windows.index(window_start)] = quality
                else:
                    seen.append(quality)
                    windows.append(window_start)
            return None
        return float(median(seen))

    @staticmethod
    def _estimated(
        history: Sequence[WindowStats], state: dict[str, Any], er: EstimatedPerformanceDropRule
    ) -> Condition:
        """Baseline − CBPE accuracy over the trailing horizon; None while unreliable."""
        windows = history[-er.horizon :]
        engines = [w.estimation for w in windows if w.estimation is not None]
        if not engines:
            return Condition(None)
        newest = engines[-1]  # states of another calibration (a re-registration) left out
        est = newest
        for e in reversed(engines[:-1]):
            if e.calibration == newest.calibration:
                est = est.merge(e)
        numeric: dict[str, NumericDrift] = {}
        for w in windows:
            for name, d in w.drift.items():
                if isinstance(d, NumericDrift):
                    numeric[name] = d if name not in numeric else numeric[name].merge(d)
        t = EstimationThresholds(
            min_samples=er.min_samples,
            max_ece=er.max_ece,
            max_out_of_range=er.max_out_of_range,
            max_outside_scores=er.max_out_of_range,
        )
        r = est.result(out_of_range=out_of_range_shares(numeric), thresholds=t)
        if not r["reliable"] or r["estimated_accuracy"] is None:
            return Condition(None)
        estimate = float(r["estimated_accuracy"])
        baseline = er.baseline
        if baseline is None:
            seen = state.setdefault("estimate_baseline", [])
            if len(seen) < er.baseline_windows:
                seen.append(estimate)
                return Condition(None)
            baseline = float(median(seen))
        return _above(baseline - estimate, er.warn, er.critical)

    @staticmethod
    def _energy(history: Sequence[WindowStats], er: EnergyRule) -> Condition:
        def jpi(w: WindowStats) -> float | None:
            e: EnergyMeter | None = w.energy
            if e is None or e.inferences < er.min_inferences:
                return None
            return e.joules / e.inferences

        cur = jpi(history[-1])
        if cur is None:
            return Condition(None)
        if er.baseline is not None:
            ref = er.baseline
        else:
            base = [v for v in (jpi(w) for w in history[-er.baseline_windows - 1 : -1]) if v]
            if len(base) < er.min_baseline_windows:
                return Condition(None)
            ref = median(base)
        c = _above(cur / ref, er.warn, er.critical)
        return Condition(c.level, cur, (c.threshold or 0) * ref)

    def staleness(
        self, consortium: str, model: str, last_event_ms: int, watermark_ms: int
    ) -> Condition:
        """Seconds since the model's last event against the stream's watermark."""
        sr = self.rules(consortium, model).staleness
        if not sr.enabled:
            return Condition(None)
        return _above((watermark_ms - last_event_ms) / 1000.0, sr.warn, sr.critical)
