"""The monitoring policy's configuration: documented defaults, per-consortium and per-model
overrides, strict validation.

A policy file is YAML::

    version: "2024-06-01"          # policy_version carried by every alert
    defaults:                      # any subset of RuleSet; the rest keeps the defaults below
      feature_drift: {alpha: 0.001}
    consortia:
      steel:
        latency_p95: {slo_ms: 250}
        models:
          strip-defects: {accuracy_drop: {baseline: 0.95}}

The effective policy of a model is ``defaults`` ← ``consortia[C]`` ← ``consortia[C].models[M]``
(deep merge, later wins). Every key is checked: an unknown key or a bad value raises
:class:`PolicyError` whose message names the key (``consortia.steel.models.x.for: ...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class PolicyError(ValueError):
    """A policy file or override that does not validate; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Lifecycle(_Strict):
    """When a rule's condition becomes an alert and when the alert ends.

    ``for``: consecutive windows the condition must hold before the alert fires;
    ``clear``: consecutive windows it must not hold before it resolves (hysteresis).
    """

    for_windows: int = Field(default=2, alias="for", ge=1, le=1000)
    clear_windows: int = Field(default=3, alias="clear", ge=1, le=1000)
    enabled: bool = True


class FeatureDriftRule(Lifecycle):
    """Per-feature drift on the merged trailing ``horizon`` of windows, extended back (up
    to ``max_horizon`` windows) while a feature's horizon holds fewer than ``min_samples``
    values, so slow streams are tested too, just later.

    A feature drifts when one of its tests is rejected by Holm's step-down procedure at
    family-wise level ``alpha`` over all the model's testable (feature, test) pairs, and
    that test's effect gate holds (Wasserstein/reference std >= ``wasserstein`` or PSI >=
    ``psi`` for numeric, JS >= ``js`` or PSI >= ``psi`` for categorical, missing rate up by
    >= ``missing_increase``). A test needs ``min_samples`` values in the horizon (the
    missing-rate test counts missing ones too). ``critical_share``: share of features
    drifting at which the alert is critical. ``for`` defaults to 1: the trailing horizon
    already spans 3 windows, Holm plus the effect gate keep repeated looks quiet
    (benchmarks/detection.py: 0 alerts in 10,000 healthy model-windows), and a second
    window of persistence would cost a window of delay on every sudden shift.
    """

    for_windows: int = Field(default=1, alias="for", ge=1, le=1000)
    horizon: int = Field(default=3, ge=1, le=1000)
    max_horizon: int = Field(default=30, ge=1, le=10_000)
    min_samples: int = Field(default=200, ge=2)
    alpha: float = Field(default=1e-4, gt=0, lt=1)
    wasserstein: float = Field(default=0.2, gt=0)
    psi: float | None = Field(default=None, gt=0)
    js: float = Field(default=0.1, gt=0, le=1)
    missing_increase: float = Field(default=0.1, gt=0, le=1)
    critical_share: float = Field(default=0.5, gt=0, le=1)


class ModelDriftRule(Lifecycle):
    """Model drift: the importance-weighted share of drifting features >= ``share``
    (critical at ``critical_share``). ``importance``: feature -> weight; features it does
    not name weigh 0, and without one (or when no tested feature has a positive weight)
    every feature weighs 1: the drift share. The default asks for more than half, so one
    feature of two is feature_drift only."""

    for_windows: int = Field(default=1, alias="for", ge=1, le=1000)
    share: float = Field(default=0.6, gt=0, le=1)
    critical_share: float = Field(default=0.8, gt=0, le=1)
    importance: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _weights(self) -> ModelDriftRule:
        for name, w in self.importance.items():
            if not w >= 0:
                raise ValueError(f"importance.{name}: must be >= 0")
        return self


class ThresholdRule(Lifecycle):
    """A value against a warn and a critical threshold (direction per rule)."""

    warn: float
    critical: float


class AccuracyDropRule(ThresholdRule):
    """``baseline − quality`` over the trailing ``horizon`` (labelled samples >=
    ``min_labels``). Quality: accuracy (classifiers), 1 − MAPE clipped to [0, 1]
    (regressors). ``baseline``: the reference's; None = the model's own median quality over
    its first ``baseline_windows`` labelled horizons (then frozen)."""

    warn: float = Field(default=0.05, gt=0, le=1)
    critical: float = Field(default=0.15, gt=0, le=1)
    horizon: int = Field(default=3, ge=1, le=1000)
    min_labels: int = Field(default=100, ge=1)
    baseline: float | None = Field(default=None, gt=0, le=1)
    baseline_windows: int = Field(default=5, ge=1, le=1000)


class EstimatedPerformanceDropRule(ThresholdRule):
    """``baseline − estimated accuracy`` of a classifier registered with a calibration,
    from its confidence-based estimate (processors.cbpe) over the merged trailing
    ``horizon``: no label needed, so it can fire before any arrives. Decided only while the
    estimate is reliable (otherwise "cannot tell"): at least ``min_samples`` predictions,
    reference ECE <= ``max_ece``, at most ``max_out_of_range`` of a numeric feature's
    values and of the raw scores outside the reference range. ``baseline``: the expected
    accuracy to hold; None = the model's own median estimate over its first
    ``baseline_windows`` reliable horizons (then frozen). It cannot see concept drift
    (docs/estimation.md); accuracy_drop decides once labels arrive."""

    warn: float = Field(default=0.05, gt=0, le=1)
    critical: float = Field(default=0.10, gt=0, le=1)
    horizon: int = Field(default=3, ge=1, le=1000)
    min_samples: int = Field(default=200, ge=1)
    max_ece: float = Field(default=0.05, gt=0, le=1)
    max_out_of_range: float = Field(default=0.05, ge=0, le=1)
    baseline: float | None = Field(default=None, gt=0, le=1)
    baseline_windows: int = Field(default=5, ge=1, le=1000)


class ResonanceFloorRule(ThresholdRule):
    """Resonance index (0-100) below ``warn`` / ``critical``."""

    warn: float = Field(default=60.0, ge=0, le=100)
    critical: float = Field(default=40.0, ge=0, le=100)


class EnergyRule(ThresholdRule):
    """Joules per inference over the model's trailing median of ``baseline_windows``
    earlier windows (ratio); needs ``min_inferences`` in the window and
    ``min_baseline_windows`` baseline windows. ``baseline`` (J per inference, e.g. the
    registry's ``joules_per_inference``) replaces the trailing median when set."""

    warn: float = Field(default=1.5, gt=1)
    critical: float = Field(default=2.0, gt=1)
    baseline: float | None = Field(default=None, gt=0)
    baseline_windows: int = Field(default=30, ge=1, le=10_000)
    min_baseline_windows: int = Field(default=5, ge=1)
    min_inferences: int = Field(default=20, ge=1)


class LatencyRule(ThresholdRule):
    """p95 latency (ms) of the window above ``slo_ms`` (warn) and ``critical`` × SLO;
    needs ``min_requests``. Off while ``slo_ms`` is None."""

    slo_ms: float | None = Field(default=None, gt=0)
    warn: float = Field(default=1.0, gt=0)
    critical: float = Field(default=1.5, gt=0)
    min_requests: int = Field(default=20, ge=1)


class DlqRule(ThresholdRule):
    """Rejected rows / (accepted + rejected) of the window; needs ``min_events``."""

    warn: float = Field(default=0.05, gt=0, le=1)
    critical: float = Field(default=0.2, gt=0, le=1)
    min_events: int = Field(default=50, ge=1)


class StalenessRule(ThresholdRule):
    """Seconds of event time since the model's last event, against the newest event of
    any model (the stream's watermark). No events is not a stuck sensor (a stuck sensor
    still sends, one value over and over; feature_drift sees that)."""

    warn: float = Field(default=600.0, gt=0)
    critical: float = Field(default=1800.0, gt=0)
    for_windows: int = Field(default=1, alias="for", ge=1, le=1000)
    clear_windows: int = Field(default=1, alias="clear", ge=1, le=1000)


class IndexWeights(_Strict):
    data_fit: float = Field(default=0.4, ge=0)
    model_quality: float = Field(default=0.4, ge=0)
    service_health: float = Field(default=0.2, ge=0)


class RuleSet(_Strict):
    """Every rule of the policy; ``index_weights`` define the resonance index."""

    feature_drift: FeatureDriftRule = FeatureDriftRule()
    model_drift: ModelDriftRule = ModelDriftRule()
    accuracy_drop: AccuracyDropRule = AccuracyDropRule()
    estimated_performance_drop: EstimatedPerformanceDropRule = EstimatedPerformanceDropRule()
    resonance_floor: ResonanceFloorRule = ResonanceFloorRule()
    energy_per_inference: EnergyRule = EnergyRule()
    latency_p95: LatencyRule = LatencyRule()
    dlq_rate: DlqRule = DlqRule()
    staleness: StalenessRule = StalenessRule()
    index_weights: IndexWeights = IndexWeights()


RULES = tuple(n for n in RuleSet.model_fields if n != "index_weights")


class PolicyFile(_Strict):
    """The YAML document (overrides stay raw dicts; each is validated when merged)."""

    version: str = "1"
    defaults: dict[str, Any] = Field(default_factory=dict)
    consortia: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            _deep_merge(out[k], v)
            if isinstance(v, Mapping) and isinstance(out.get(k), Mapping)
            else v
        )
    return out


def _error(exc: ValidationError, prefix: str) -> PolicyError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p not in ("function-after",))
    where = ".".join(p for p in (prefix, loc) if p)
    return PolicyError(f"{where}: {err['msg']}" if where else err["msg"])


def _ruleset(raw: Mapping[str, Any], prefix: str) -> RuleSet:
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        raise _error(exc, prefix) from None


class PolicyConfig:
    """A validated policy file: :meth:`rules` gives a model's effective rule set.

    >>> cfg = PolicyConfig.from_mapping({"consortia": {"steel": {"models": {
    ...     "m1": {"feature_drift": {"for": 4}}}}}})
    >>> [cfg.rules("steel", m).feature_drift.for_windows for m in ("m1", "m2")]
    [4, 1]
    >>> PolicyConfig.from_mapping({"defaults": {"feature_drift": {"alfa": 1}}})
    Traceback (most recent call last):
    processors.policy_config.PolicyError: defaults.feature_drift.alfa: Extra inputs are not ...
    """

    def __init__(self, doc: PolicyFile) -> None:
        self.doc = doc
        self.version = doc.version
        self.default_rules = _ruleset(doc.defaults, "defaults")
        self._cache: dict[tuple[str, str], RuleSet] = {}
        for c, body in doc.consortia.items():  # validate every override now: fail at load
            if not isinstance(body, Mapping):
                raise PolicyError(f"consortia.{c}: expected a mapping")
            models = body.get("models", {})
            if not isinstance(models, Mapping):
                raise PolicyError(f"consortia.{c}.models: expected a mapping")
            for m, mbody in models.items():
                if not isinstance(mbody, Mapping):
                    raise PolicyError(f"consortia.{c}.models.{m}: expected a mapping")
            self._layers(c, None)
            for m in models:
                self._layers(c, str(m))

    @classmethod
    def from_mapping(cls, raw: Any) -> PolicyConfig:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise PolicyError("policy: expected a mapping at the top level")
        try:
            return cls(PolicyFile.model_validate(raw))
        except ValidationError as exc:
            raise _error(exc, "") from None

    @classmethod
    def load(cls, path: str | Path | None) -> PolicyConfig:
        """The policy in ``path`` (YAML), or the defaults when ``path`` is None."""
        if path is None:
            return cls.from_mapping({})
        import yaml

        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text())
        except OSError as exc:
            raise PolicyError(f"policy file {p}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise PolicyError(f"policy file {p}:{where} not valid YAML") from None
        return cls.from_mapping(raw)

    def _layers(self, consortium: str | None, model: str | None) -> RuleSet:
        key = (consortium or "", model or "")
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        raw = dict(self.doc.defaults)
        prefix = "defaults"
        body = self.doc.consortia.get(consortium or "")
        if body is not None:
            over = {k: v for k, v in body.items() if k != "models"}
            raw = _deep_merge(raw, over)
            prefix = f"consortia.{consortium}"
            mbody = (body.get("models") or {}).get(model or "")
            if mbody is not None:
                raw = _deep_merge(raw, mbody)
                prefix = f"consortia.{consortium}.models.{model}"
        rules = _ruleset(raw, prefix)
        self._cache[key] = rules
        return rules

    def rules(self, consortium: str | None = None, model: str | None = None) -> RuleSet:
        """The effective rule set of ``model`` in ``consortium`` (defaults when unknown)."""
        return self._layers(consortium, model)

    def show(self, consortium: str | None = None, model: str | None = None) -> dict[str, Any]:
        """The effective policy as plain data (``resonance policy show``)."""
        rules = self.rules(consortium, model).model_dump(by_alias=True)
        return {"version": self.version, "consortium": consortium, "model": model, **rules}
