"""A model's effective rules: the policy file combined with what its registry entry says.

The registry (streams.registry, mirrored in the warehouse table ``models``) knows things
about a model that the policy file should not repeat per model: its reference accuracy,
its feature importances, its latency SLO, its energy per inference. These values fill the
matching rule keys:

========================================  ============================================
registry entry                            rule key
========================================  ============================================
``baselines.accuracy`` (classifiers)      ``accuracy_drop.baseline``
``baselines.accuracy`` (classifiers)      ``estimated_performance_drop.baseline``
``1 − baselines.mape`` (regressors)       ``accuracy_drop.baseline``
``importances``                           ``model_drift.importance``
``slo_p95_ms``                            ``latency_p95.slo_ms``
``baselines.joules_per_inference``        ``energy_per_inference.baseline``
========================================  ============================================

**Precedence** (lowest to highest): built-in default ← policy ``defaults`` ← policy
``consortia.C`` ← **registry** ← policy ``consortia.C.models.M``. The registry describes
one model, so it beats the file's fleet-wide and consortium-wide values; a per-model key
in the policy file is an explicit operator decision about that model and wins over the
registry. A registry value the rule would reject (an accuracy of 1.3) is left out, and
the source says so. :func:`effective_rules` returns the rules and, per key, where the
value came from (``resonance policy show``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from processors.policy_config import RULES, PolicyConfig, RuleSet


@dataclass(frozen=True)
class RegistryInputs:
    """What one registered model version tells the policy (an entry or a mirror row)."""

    model_version: str = ""
    target_kind: str | None = None
    baselines: Mapping[str, float] = field(default_factory=dict)
    importances: Mapping[str, float] = field(default_factory=dict)
    slo_p95_ms: float | None = None

    @classmethod
    def of(cls, entry: Any) -> RegistryInputs:
        """From a :class:`streams.registry.ModelEntry` or a
        :func:`warehouse.registry.list_models` row (a dict).

        >>> RegistryInputs.of({"model_version": "3", "target_kind": "binary",
        ...                    "baselines": {"accuracy": 0.93}, "slo_p95_ms": 50.0}).slo_p95_ms
        50.0
        """
        get = entry.get if isinstance(entry, Mapping) else lambda k, d=None: getattr(entry, k, d)
        target = get("target")
        kind = get("target_kind") or (getattr(target, "kind", None) if target else None)
        return cls(
            model_version=str(get("model_version") or get("version") or ""),
            target_kind=kind or None,
            baselines=dict(get("baselines") or {}),
            importances=dict(get("importances") or {}),
            slo_p95_ms=get("slo_p95_ms"),
        )

    @property
    def quality_baseline(self) -> float | None:
        """The reference quality in the policy's terms: accuracy for classifiers, 1 − MAPE
        for regressors (the policy's quality of a regressor)."""
        acc, mape = self.baselines.get("accuracy"), self.baselines.get("mape")
        if self.target_kind == "regressor":
            return None if mape is None else max(0.0, 1.0 - min(1.0, float(mape)))
        if acc is not None:
            return float(acc)
        if self.target_kind is None and mape is not None:
            return max(0.0, 1.0 - min(1.0, float(mape)))
        return None


#: rule key → its value from the registry (None: the entry says nothing about it)
REGISTRY_KEYS: dict[tuple[str, str], Callable[[RegistryInputs], Any]] = {
    ("accuracy_drop", "baseline"): lambda r: r.quality_baseline,
    ("estimated_performance_drop", "baseline"): lambda r: r.baselines.get("accuracy"),
    ("model_drift", "importance"): lambda r: dict(r.importances) or None,
    ("latency_p95", "slo_ms"): lambda r: r.slo_p95_ms,
    ("energy_per_inference", "baseline"): lambda r: r.baselines.get("joules_per_inference"),
}


def _file_sources(
    config: PolicyConfig, consortium: str | None, model: str | None
) -> dict[str, str]:
    """``rule.key`` → the policy-file layer that set it (absent: the built-in default)."""
    layers: list[tuple[str, Mapping[str, Any]]] = [("policy:defaults", config.doc.defaults)]
    body = config.doc.consortia.get(consortium or "")
    if body is not None:
        layers.append((f"policy:consortia.{consortium}",
                       {k: v for k, v in body.items() if k != "models"}))  # fmt: skip
        mbody = (body.get("models") or {}).get(model or "")
        if mbody is not None:
            layers.append((f"policy:consortia.{consortium}.models.{model}", mbody))
    out: dict[str, str] = {}
    for name, raw in layers:
        for rule, keys in raw.items():
            if isinstance(keys, Mapping):
                for key in keys:
                    out[f"{rule}.{key}"] = name
    return out


def effective_rules(
    config: PolicyConfig,
    consortium: str | None,
    model: str | None,
    inputs: RegistryInputs | None = None,
) -> tuple[RuleSet, dict[str, str]]:
    """The model's rules (policy file ⊕ registry, precedence in the module docstring) and
    the source of every key: ``default``, ``policy:<layer>`` or ``registry:<version>``.

    >>> cfg = PolicyConfig.from_mapping({"consortia": {"steel": {
    ...     "latency_p95": {"slo_ms": 300}, "models": {"m2": {"latency_p95": {"slo_ms": 80}}}}}})
    >>> reg = RegistryInputs(model_version="3", slo_p95_ms=50.0)
    >>> [(r.latency_p95.slo_ms, s["latency_p95.slo_ms"]) for r, s in
    ...  (effective_rules(cfg, "steel", m, reg) for m in ("m1", "m2"))]
    [(50.0, 'registry:3'), (80.0, 'policy:consortia.steel.models.m2')]
    """
    rules = config.rules(consortium, model)
    set_by = _file_sources(config, consortium, model)
    dumped = rules.model_dump(by_alias=True)
    sources = {
        f"{rule}.{key}": set_by.get(f"{rule}.{key}", "default")
        for rule in (*RULES, "index_weights")
        for key in dumped[rule]
    }
    if inputs is None:
        return rules, sources
    per_model = f"policy:consortia.{consortium}.models.{model}"
    for (rule, key), pick in REGISTRY_KEYS.items():
        value = pick(inputs)
        where = f"{rule}.{key}"
        if value is None or sources[where] == per_model:
            continue
        trial = dict(dumped, **{rule: dict(dumped[rule], **{key: value})})
        try:
            RuleSet.model_validate(trial)
        except ValidationError as exc:
            sources[where] += f" (registry value {value!r} ignored: {exc.errors()[0]['msg']})"
            continue
        dumped = trial
        sources[where] = f"registry:{inputs.model_version}"
    return RuleSet.model_validate(dumped), sources
