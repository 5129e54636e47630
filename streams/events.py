"""Event contracts (pydantic v2): what producers write to the four input topics.

Every event carries tenancy (consortium, member, model, model_version, site, hub),
``schema_version`` (``1``), a ``kind`` discriminator and an event time ``ts`` (UTC;
ISO-8601 string or epoch **milliseconds** integer). Two wire forms share one envelope:

* a single event: every per-sample field is a scalar;
* a columnar batch (``"batch": true``): tenancy once, every per-sample field an array of
  equal length N.

A prediction may carry per-class probabilities, ``scores`` (``{class: probability}``;
in a batch ``{class: [probability, ...]}``), which performance estimation reads
(processors.cbpe; binary models may keep using ``score``). The field was added to
``schema_version`` 1 (see :data:`SCHEMA_HISTORY`): additive and optional, so every
earlier version-1 event is still valid.

These models are the reference definition (and the JSON Schemas); the hot path decodes
with :func:`streams.decode.decode`, which applies the same rules with numpy.

>>> ev = TelemetryEvent.model_validate(
...     {"schema_version": 1, "kind": "telemetry", "consortium": "steel", "member": "baowu",
...      "model": "strip-defect", "model_version": "3", "site": "shanghai-hsm-2",
...      "hub": "yangtze-river-delta", "ts": 1795946400000, "features": {"t": 912.4}},
...     context={"now_ms": 1795946400000})
>>> ev.ts.isoformat(), ev.features
('2026-11-29T10:00:00+00:00', {'t': 912.4})
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

SCHEMA_VERSION = 1
#: Changes within a schema version, oldest first (all additive: old events stay valid).
SCHEMA_HISTORY: tuple[tuple[int, str], ...] = (
    (1, "initial: telemetry, prediction, outcome, energy; single and columnar batch"),
    (1, "prediction.scores: optional {class: probability} per sample (performance estimation)"),
)
KINDS: tuple[str, ...] = ("telemetry", "prediction", "outcome", "energy")
TENANCY_FIELDS: tuple[str, ...] = ("consortium", "member", "model", "model_version", "site", "hub")
#: Tenancy values: a charset safe in keys, SQL literals, dashboards and file names.
TENANCY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: Event times further than this from "now" are rejected (clock bugs, ms/s/us mix-ups).
MAX_TS_SKEW = timedelta(days=366)
MAX_TS_SKEW_MS = int(MAX_TS_SKEW.total_seconds() * 1000)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

__all__ = [
    "KINDS",
    "MAX_TS_SKEW",
    "MAX_TS_SKEW_MS",
    "SCHEMA_HISTORY",
    "SCHEMA_VERSION",
    "TENANCY_FIELDS",
    "TENANCY_PATTERN",
    "EnergyBatch",
    "EnergyEvent",
    "Event",
    "OutcomeBatch",
    "OutcomeEvent",
    "PredictionBatch",
    "PredictionEvent",
    "TelemetryBatch",
    "TelemetryEvent",
    "Tenancy",
    "export_json_schemas",
    "parse_ts_ms",
    "validate_event",
]


# --- scalar types ------------------------------------------------------------------------


def _no_bool(value: Any) -> Any:
    """JSON ``true``/``false`` and strings are not numbers (pydantic would coerce ``true``
    to 1.0 and ``"1.5"`` to 1.5; the hot-path decoder takes JSON numbers only)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, str):
        raise ValueError("expected a number, got a string")
    return value


def _number(value: Any) -> Any:
    """A JSON number only: no boolean, and no numeric string (the decoder refuses both)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    return value


def parse_ts_ms(value: Any) -> int:
    """Epoch ms of an event time: an ``int`` (epoch ms) or an ISO-8601 string (naive = UTC).

    >>> parse_ts_ms("2026-11-29T10:00:00Z"), parse_ts_ms(1764410400000)
    (1795946400000, 1764410400000)
    """
    if isinstance(value, bool):
        raise ValueError("expected epoch ms integer or ISO-8601 string, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {value[:40]!r}") from None
    else:
        raise ValueError(
            f"expected epoch ms integer or ISO-8601 string, got {type(value).__name__}"
        )
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - EPOCH) // timedelta(milliseconds=1)


def _to_utc(value: Any) -> datetime:
    ms = parse_ts_ms(value)
    try:
        return EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueError("timestamp out of range") from None


def _check_skew(value: datetime, info: ValidationInfo) -> datetime:
    """Reject event times more than ``max_skew_ms`` (context, default MAX_TS_SKEW) from now."""
    ctx = info.context or {}
    now_ms = ctx.get("now_ms")
    now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    skew_ms = int(ctx.get("max_skew_ms", MAX_TS_SKEW_MS))
    ms = parse_ts_ms(value)
    if abs(ms - now_ms) > skew_ms:
        raise ValueError(
            f"timestamp out of bounds (more than {skew_ms // 86_400_000} days from now)"
        )
    return value


_TS_JSON = {
    "anyOf": [
        {"type": "integer", "description": "epoch milliseconds, UTC"},
        {"type": "string", "format": "date-time", "description": "ISO-8601 (naive = UTC)"},
    ]
}
Timestamp = Annotated[
    datetime, BeforeValidator(_to_utc), AfterValidator(_check_skew), WithJsonSchema(_TS_JSON)
]
Number = Annotated[FiniteFloat, BeforeValidator(_no_bool)]
NonNegative = Annotated[FiniteFloat, BeforeValidator(_no_bool), Field(ge=0)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
TenancyStr = Annotated[str, Field(pattern=rf"^{TENANCY_PATTERN.pattern}$")]
# A boolean is a label ("true"/"false", processors.labels): the one label rule
FeatureValue = StrictBool | Number | str | None
Label = StrictBool | Number | str
# the bound before the validator: after it, pydantic writes "ge"/"le" into the JSON Schema
# (not JSON Schema keywords) instead of "minimum"/"maximum"
Score = Annotated[FiniteFloat, Field(ge=0, le=1), BeforeValidator(_no_bool)]
ClassProbability = Annotated[FiniteFloat, Field(ge=0, le=1), BeforeValidator(_number)]


# --- envelope ------------------------------------------------------------------------------


class Tenancy(BaseModel):
    """Who an event belongs to: consortium → member → model (+ version) → site → hub."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    consortium: TenancyStr
    member: TenancyStr
    model: TenancyStr
    model_version: TenancyStr
    site: TenancyStr
    hub: TenancyStr


class _Envelope(Tenancy):
    schema_version: Literal[1] = Field(description="event contract version")


class _Single(_Envelope):
    batch: Literal[False] = False
    ts: Timestamp


class _Batch(_Envelope):
    batch: Literal[True]
    ts: list[Timestamp]

    @model_validator(mode="after")
    def _equal_lengths(self) -> _Batch:
        n = len(self.ts)
        for name, values in _per_sample_arrays(self):
            if len(values) != n:
                raise ValueError(f"unequal array lengths: ts has {n}, {name} has {len(values)}")
        return self


def _per_sample_arrays(batch: BaseModel) -> list[tuple[str, list[Any]]]:
    out: list[tuple[str, list[Any]]] = []
    for name in type(batch).model_fields:
        value = getattr(batch, name)
        if name in ("features", "scores") and value is not None:
            out += [(f"{name}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list) and name != "ts":
            out.append((name, value))
    return out


# --- kinds: single ------------------------------------------------------------------------


class TelemetryEvent(_Single):
    """Model inputs seen in production; ``null`` is a missing value."""

    kind: Literal["telemetry"]
    features: dict[NonEmptyStr, FeatureValue]


class PredictionEvent(_Single):
    """One served prediction; ``score`` is the positive-class probability (binary models),
    ``scores`` the probability of each class (``{class: p}``, multiclass models)."""

    kind: Literal["prediction"]
    prediction_id: NonEmptyStr
    prediction: Label
    score: Score | None = None
    scores: dict[NonEmptyStr, ClassProbability] | None = None
    latency_ms: NonNegative
    error: StrictBool = False


class OutcomeEvent(_Single):
    """Ground truth for an earlier prediction; ``ts`` is when it was observed."""

    kind: Literal["outcome"]
    prediction_id: NonEmptyStr
    actual: Label


class EnergyEvent(_Single):
    """A power-meter reading over ``duration_s`` seconds that served ``inferences``."""

    kind: Literal["energy"]
    joules: NonNegative
    inferences: Annotated[StrictInt, Field(ge=0)]
    duration_s: Annotated[FiniteFloat, BeforeValidator(_no_bool), Field(gt=0)]


# --- kinds: columnar batch -----------------------------------------------------------------


class TelemetryBatch(_Batch):
    kind: Literal["telemetry"]
    features: dict[NonEmptyStr, list[FeatureValue]]


class PredictionBatch(_Batch):
    kind: Literal["prediction"]
    prediction_id: list[NonEmptyStr]
    prediction: list[Label]
    score: list[Score | None] | None = None
    scores: dict[NonEmptyStr, list[ClassProbability | None]] | None = None
    latency_ms: list[NonNegative]
    error: list[StrictBool] = None  # type: ignore[assignment]  # absent: no errors; null: wrong type


class OutcomeBatch(_Batch):
    kind: Literal["outcome"]
    prediction_id: list[NonEmptyStr]
    actual: list[Label]


class EnergyBatch(_Batch):
    kind: Literal["energy"]
    joules: list[NonNegative]
    inferences: list[Annotated[StrictInt, Field(ge=0)]]
    duration_s: list[Annotated[FiniteFloat, BeforeValidator(_no_bool), Field(gt=0)]]


SINGLE: dict[str, type[_Single]] = {
    "telemetry": TelemetryEvent,
    "prediction": PredictionEvent,
    "outcome": OutcomeEvent,
    "energy": EnergyEvent,
}
BATCH: dict[str, type[_Batch]] = {
    "telemetry": TelemetryBatch,
    "prediction": PredictionBatch,
    "outcome": OutcomeBatch,
    "energy": EnergyBatch,
}
Event = (
    TelemetryEvent
    | PredictionEvent
    | OutcomeEvent
    | EnergyEvent
    | TelemetryBatch
    | PredictionBatch
    | OutcomeBatch
    | EnergyBatch
)


def validate_event(
    obj: Mapping[str, Any], *, now_ms: int | None = None, max_skew_ms: int = MAX_TS_SKEW_MS
) -> Event:
    """Validate one parsed message (single or batch) with pydantic; raises ``ValidationError``.

    The slow, exact path (tests, producers); the hot path is :func:`streams.decode.decode`.
    """
    kind = obj.get("kind")
    table = BATCH if obj.get("batch") is True else SINGLE
    if kind not in table:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    ctx = {"now_ms": now_ms, "max_skew_ms": max_skew_ms}
    return table[kind].model_validate(obj, context=ctx)


def schema_documents() -> dict[str, dict[str, Any]]:
    """JSON Schema per kind and form, keyed ``<kind>.<single|batch>``."""
    docs: dict[str, dict[str, Any]] = {}
    for form, table in (("single", SINGLE), ("batch", BATCH)):
        for kind, model in table.items():
            schema = TypeAdapter(model).json_schema()
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            schema["$id"] = f"https://resonance.dev/schemas/v{SCHEMA_VERSION}/{kind}.{form}.json"
            docs[f"{kind}.{form}"] = schema
    return docs


def export_json_schemas(directory: str | Path) -> list[Path]:
    """Write ``<kind>.<single|batch>.schema.json`` into ``directory``; returns the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in schema_documents().items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


__all__ += ["BATCH", "SINGLE", "ValidationError", "schema_documents"]
