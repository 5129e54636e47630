"""Scenario files: which drifts and faults to inject, when, and how strongly.

A scenario is YAML validated by pydantic, then checked against the catalogue;
every error names the field (``injections[1].magnitude: ...``). See
docs/simulator.md for the format.

>>> s = Scenario.model_validate({"injections": [{"model": "weld-defect",
...     "feature": "weld_current_ka", "kind": "sudden_shift", "start": "+5m", "magnitude": 2}]})
>>> s.injections[0].start.seconds(3600.0)
300.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

from errors import UsageError
from simulator.catalogue import MODELS_BY_NAME
from simulator.durations import Offset
from simulator.specs import Categorical, Model, Numeric

OffsetField = Annotated[
    Offset,
    BeforeValidator(lambda v: v if isinstance(v, Offset) else Offset.parse(v)),
    PlainSerializer(str),
]
Share = Annotated[float, Field(gt=0.0, le=1.0)]

PROCESS_KINDS = ("sudden_shift", "gradual_drift", "variance_change", "seasonal", "new_category")
SENSOR_KINDS = ("stuck_sensor", "missing_sensor")
KINDS = PROCESS_KINDS + SENSOR_KINDS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), frozen=True)


class _Injection(_Strict):
    model: str
    feature: str
    start: OffsetField = Offset(0.0)
    end: OffsetField | None = None  # the effect stops here (sensor repaired, process restored)


class SuddenShift(_Injection):
    """The mean jumps by ``magnitude`` (feature std, or feature units with units=abs)."""

    kind: Literal["sudden_shift"]
    magnitude: float
    units: Literal["std", "abs"] = "std"


class GradualDrift(_Injection):
    """The mean moves linearly from 0 to ``magnitude`` over ``ramp``, then stays."""

    kind: Literal["gradual_drift"]
    magnitude: float
    ramp: OffsetField
    units: Literal["std", "abs"] = "std"


class VarianceChange(_Injection):
    """Deviations from the training mean are multiplied by ``magnitude``."""

    kind: Literal["variance_change"]
    magnitude: Annotated[float, Field(gt=0.0)]


class Seasonal(_Injection):
    """A sine of amplitude ``magnitude`` and the given ``period`` is added."""

    kind: Literal["seasonal"]
    magnitude: float
    period: OffsetField
    units: Literal["std", "abs"] = "std"


class NewCategory(_Injection):
    """A share ``magnitude`` of rows take an unseen ``category`` (reached over ``ramp``)."""

    kind: Literal["new_category"]
    category: str
    magnitude: Share = 0.3
    ramp: OffsetField | None = None


class StuckSensor(_Injection):
    """The sensor repeats one reading: ``value``, or its first reading at ``start``."""

    kind: Literal["stuck_sensor"]
    value: float | str | None = None


class MissingSensor(_Injection):
    """A share ``magnitude`` of readings is missing (null)."""

    kind: Literal["missing_sensor"]
    magnitude: Share = 1.0


Injection = Annotated[
    SuddenShift
    | GradualDrift
    | VarianceChange
    | Seasonal
    | NewCategory
    | StuckSensor
    | MissingSensor,
    Field(discriminator="kind"),
]


class LabelDelayOverride(_Strict):
    """Replaces fields of a model's label delay profile (durations as strings or seconds)."""

    median: OffsetField | None = None
    sigma: Annotated[float, Field(ge=0.0)] | None = None
    min: OffsetField | None = None
    max: OffsetField | None = None
    fraction: Annotated[float, Field(ge=0.0, le=1.0)] | None = None


class EnergyOverride(_Strict):
    """Replaces fields of a model's energy profile."""

    joules_per_inference: Annotated[float, Field(ge=0.0)] | None = None
    idle_watts: Annotated[float, Field(ge=0.0)] | None = None
    interval_s: Annotated[float, Field(gt=0.0)] | None = None
    cv: Annotated[float, Field(ge=0.0)] | None = None


class Scenario(_Strict):
    """The whole scenario file."""

    name: str = "unnamed"
    description: str = ""
    controls: list[str] = Field(default_factory=list)
    injections: list[Injection] = Field(default_factory=list)
    label_delays: dict[str, LabelDelayOverride] = Field(default_factory=dict)
    energy: dict[str, EnergyOverride] = Field(default_factory=dict)

    def for_model(self, model: str) -> list[Injection]:
        return [i for i in self.injections if i.model == model]


def _where(loc: Iterable[Any]) -> str:
    """Render a pydantic error location as ``injections[0].magnitude`` (union tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in KINDS:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _check_catalogue(scenario: Scenario, models: Mapping[str, Model]) -> None:
    known = ", ".join(models)
    for i, inj in enumerate(scenario.injections):
        where = f"injections[{i}]"
        if inj.model not in models:
            raise UsageError(f"{where}.model: unknown model {inj.model!r} (known: {known})")
        model = models[inj.model]
        try:
            feature = model.feature(inj.feature)
        except KeyError:
            names = ", ".join(f.name for f in model.features)
            raise UsageError(
                f"{where}.feature: {inj.feature!r} is not a feature of {inj.model} ({names})"
            ) from None
        if inj.kind == "new_category" and not isinstance(feature, Categorical):
            raise UsageError(f"{where}.kind: new_category needs a categorical feature")
        if inj.kind == "new_category" and inj.category in feature.probs:
            raise UsageError(f"{where}.category: {inj.category!r} is already a known category")
        numeric_only = ("sudden_shift", "gradual_drift", "variance_change", "seasonal")
        if inj.kind in numeric_only and not isinstance(feature, Numeric):
            raise UsageError(f"{where}.kind: {inj.kind} needs a numeric feature")
        value = getattr(inj, "value", None)
        if value is not None and isinstance(feature, Numeric) != isinstance(value, float | int):
            raise UsageError(f"{where}.value: {value!r} does not fit {inj.feature}")
        end = inj.end
        if end is not None and end.relative == inj.start.relative and end.value <= inj.start.value:
            raise UsageError(f"{where}.end: must be after start")
    injected = {inj.model for inj in scenario.injections}
    for i, name in enumerate(scenario.controls):
        if name not in models:
            raise UsageError(f"controls[{i}]: unknown model {name!r} (known: {known})")
        if name in injected:
            raise UsageError(f"controls[{i}]: {name} is a control but has injections")
    for section in ("label_delays", "energy"):
        for name in getattr(scenario, section):
            if name not in models:
                raise UsageError(f"{section}.{name}: unknown model (known: {known})")


def parse_scenario(
    data: Any, source: str = "scenario", models: Mapping[str, Model] = MODELS_BY_NAME
) -> Scenario:
    """Validate parsed YAML; raise UsageError naming ``source`` and the field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping at the top level")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _where(err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            where += ".kind"
        raise UsageError(f"{source}: {where}: {err['msg']}") from None
    try:
        _check_catalogue(scenario, models)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None
    return scenario


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read a scenario file; ``None`` or ``"default"`` is the bundled default scenario."""
    if path is None or str(path) in {"default", "showcase", "none"}:
        name = "default" if path is None else str(path)
        if name == "none":
            return Scenario(name="none")
        text = resources.files("simulator.scenarios").joinpath(f"{name}.yaml").read_text()
        return parse_scenario(yaml.safe_load(text), f"{name}.yaml")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise UsageError(f"{p}: cannot read scenario ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise UsageError(f"{p}:{at}: invalid YAML ({problem})") from None
    return parse_scenario(data, str(p))
