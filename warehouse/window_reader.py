"""Per-window engines from the warehouse: the read path of the policy evaluator and the console.

The reader runs inside the one process that owns the chDB directory (the sink, or the demo
process, which also runs the sink), through the same :class:`~warehouse.backend.Backend`,
so no second process ever opens chDB. It reads the minute tables summed per model version and
event-time window (rows are deltas, so a plain sum is exact, late rows included), rebuilds
the engines with ``Engine.from_dict`` and asks them for metrics: the same engines the
workers ran, the same definitions (README.md ("Metric definitions")).

Everything is read in a handful of GROUP BY queries per refresh (one per table), not
per model, so the cost does not grow with the number of models the console shows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from processors.accuracy import ClassificationAccuracy, RegressionAccuracy
from processors.cbpe import CBPE
from processors.drift import DEFAULT_THRESHOLDS, CategoricalDrift, DriftThresholds, NumericDrift
from processors.energy import EnergyMeter
from processors.latency import LatencyHistogram
from processors.reference import NumericReference, ReferenceProfile
from warehouse.backend import Backend, rows
from warehouse.kinds import KINDS, KindSpec, columns_to_state

Window = str  # ISO-8601 UTC start of an event-time window
ModelKey = tuple[str, str]  # (consortium, model)


def iso(value: datetime | int | float | str) -> str:
    """ClickHouse DateTime (datetime, or epoch seconds) → ``YYYY-MM-DDTHH:MM:SSZ``."""
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(float(value), UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summed_sql(spec: KindSpec, extra_dims: tuple[str, ...] = ()) -> str:
    """Sum a kind's minute table per model version, dimension and window, from ``{since}``."""
    dims = ["consortium", "model", "model_version", "hub", *extra_dims]
    if spec.dimension:
        dims.append(spec.dimension)
    dims.append("window_start")
    values = [f"sumForEach({col}) AS {col}" for col, _ in spec.arrays.values()]
    values += [f"sum({name}) AS {name}" for name in spec.int_scalars]
    if spec.map_sums:
        values.append("sumMap(sums) AS sums")
    group = ", ".join(dims)
    return (
        f"SELECT {group}, {', '.join(values)} FROM {spec.table} "
        "WHERE window_start >= toDateTime({since:Int64}, 'UTC') "
        f"GROUP BY {group}"
    )


@dataclass
class ModelWindows:
    """Everything read for one model, per window (sorted when read back)."""

    consortium: str
    model: str
    hub: str = ""
    drift: dict[str, dict[Window, NumericDrift | CategoricalDrift]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    accuracy: dict[Window, ClassificationAccuracy | RegressionAccuracy] = field(
        default_factory=dict
    )
    latency: dict[Window, LatencyHistogram] = field(default_factory=dict)
    energy: dict[Window, EnergyMeter] = field(default_factory=dict)
    volume: dict[Window, dict[str, float]] = field(default_factory=dict)
    """window → the worker's volume counters, summed over source topics."""
    versions: dict[Window, set[str]] = field(default_factory=lambda: defaultdict(set))
    """window → the model versions with data in it."""
    estimation: dict[Window, CBPE] = field(default_factory=dict)
    """window → the merged CBPE state (models registered with a calibration)."""

    def windows(self) -> list[Window]:
        seen: set[Window] = set(self.accuracy) | set(self.latency) | set(self.energy)
        seen |= set(self.volume) | set(self.estimation)
        for per_window in self.drift.values():
            seen |= set(per_window)
        return sorted(seen)


def _merge_into(target: dict[Window, Any], window: Window, engine: Any) -> None:
    """Several model versions (or hubs) in one window: merge their engines. A model has
    one task: an engine of another type in the same window (classification next to
    regression) is left out, the first one read is kept."""
    old = target.get(window)
    if old is None:
        target[window] = engine
    elif type(old) is type(engine):
        target[window] = old.merge(engine)


class ReferenceStore:
    """Reference profiles per (consortium, model, version), from the warehouse.

    Keyed by tenancy: two consortia may use the same model name and version with
    different references (and so different bins).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._profiles: dict[tuple[str, str, str], ReferenceProfile] = {}

    def get(self, consortium: str, model: str, version: str) -> ReferenceProfile | None:
        key = (consortium, model, version)
        if key not in self._profiles:
            self._load()
        return self._profiles.get(key)

    def _load(self) -> None:
        try:
            found = rows(self.backend.query("SELECT consortium, profile FROM references FINAL"))
        except Exception:
            found = []
        for row in found:
            profile = ReferenceProfile.from_json(row["profile"])
            key = (row["consortium"], profile.model, profile.version)
            self._profiles.setdefault(key, profile)


class WarehouseReader:
    """Reads every model's per-window engines in one pass over the minute tables."""

    def __init__(
        self,
        backend: Backend,
        references: ReferenceStore,
        since_s: int = 0,
        thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    ) -> None:
        """``since_s``: epoch seconds; earlier windows (a previous run in the same data
        directory) are left out, so the console and the summary describe this run.
        ``thresholds``: the drift verdict's gates (the demo passes its monitoring ones)."""
        self.backend = backend
        self.references = references
        self.since_s = since_s
        self.thresholds = thresholds

    def read(self) -> dict[ModelKey, ModelWindows]:
        models: dict[ModelKey, ModelWindows] = {}

        def entry(row: Mapping[str, Any]) -> ModelWindows:
            key = (row["consortium"], row["model"])
            if key not in models:
                models[key] = ModelWindows(row["consortium"], row["model"], row["hub"])
            models[key].versions[iso(row["window_start"])].add(row["model_version"])
            return models[key]

        self._read_drift(entry)
        self._read_accuracy(entry)
        self._read_scalars(entry)
        self._read_estimation(entry)
        return models

    def _rows(self, spec: KindSpec, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return rows(self.backend.query(summed_sql(spec, extra), {"since": self.since_s}))

    def _read_drift(self, entry) -> None:
        spec = KINDS["drift_numeric"]  # both drift kinds share the table and columns
        for row in self._rows(spec, ("kind",)):
            profile = self.references.get(row["consortium"], row["model"], row["model_version"])
            if profile is None or row["feature"] not in profile.features:
                continue
            ref = profile.features[row["feature"]]
            state = columns_to_state(spec, row)
            if isinstance(ref, NumericReference):
                engine = NumericDrift.from_dict(state, ref=ref, thresholds=self.thresholds)
            else:
                engine = CategoricalDrift.from_dict(
                    {"counts": state["counts"]}, ref=ref, thresholds=self.thresholds
                )  # categorical states have no sums
            _merge_into(entry(row).drift[row["feature"]], iso(row["window_start"]), engine)

    def _read_accuracy(self, entry) -> None:
        spec = KINDS["classification"]
        for row in self._rows(spec):
            state = columns_to_state(spec, row)
            k = len(state["confusion"])
            # the classes travel with the partial when the worker knows them; else indices
            classes = json.loads(row["classes"]) if row["classes"] else [str(i) for i in range(k)]
            engine = ClassificationAccuracy.from_dict(state, classes=classes)
            _merge_into(entry(row).accuracy, iso(row["window_start"]), engine)
        spec = KINDS["regression"]
        for row in self._rows(spec):
            engine = RegressionAccuracy.from_dict(_with_defaults(columns_to_state(spec, row)))
            _merge_into(entry(row).accuracy, iso(row["window_start"]), engine)

    def _read_scalars(self, entry) -> None:
        spec = KINDS["latency"]
        for row in self._rows(spec):
            engine = LatencyHistogram.from_dict(_with_defaults(columns_to_state(spec, row)))
            _merge_into(entry(row).latency, iso(row["window_start"]), engine)
        spec = KINDS["energy"]
        for row in self._rows(spec):
            engine = EnergyMeter.from_dict(_with_defaults(columns_to_state(spec, row)))
            _merge_into(entry(row).energy, iso(row["window_start"]), engine)
        spec = KINDS["volume"]
        for row in self._rows(spec):
            window = entry(row).volume.setdefault(iso(row["window_start"]), {})
            for name, value in columns_to_state(spec, row).items():
                window[name] = window.get(name, 0) + value

    def _read_estimation(self, entry) -> None:
        """CBPE states per window; two calibrations in one window (versions registered
        with different ones) do not merge: the one with more predictions is kept."""
        spec = KINDS["estimation"]
        for row in self._rows(spec):
            engine = CBPE.from_stored(columns_to_state(spec, row), row["calibration"])
            target, window = entry(row).estimation, iso(row["window_start"])
            old = target.get(window)
            if old is None or old.calibration == engine.calibration:
                target[window] = engine if old is None else old.merge(engine)
            elif engine.count > old.count:
                target[window] = engine

    def dlq_reasons(self) -> dict[str, int]:
        """Rejected records per reason (the DLQ table, de-duplicated with FINAL)."""
        result = rows(
            self.backend.query(
                "SELECT reason, count() AS n FROM dlq FINAL "
                "WHERE received_at >= toDateTime64({since:Int64}, 3, 'UTC') GROUP BY reason",
                {"since": self.since_s},
            )
        )
        return {r["reason"]: int(r["n"]) for r in result}

    def hub_pue(self) -> dict[str, float]:
        try:
            result = rows(self.backend.query("SELECT hub, pue FROM hubs FINAL"))
        except Exception:
            return {}
        return {r["hub"]: float(r["pue"]) for r in result}


def _with_defaults(state: dict[str, Any]) -> dict[str, Any]:
    """Scalar sums that were zero in every delta may be absent from the summed map."""
    defaults = {
        "n": 0, "sum_error": 0.0, "sum_abs_error": 0.0, "sum_sq_error": 0.0, "sum_ape": 0.0,
        "n_nonzero": 0, "sum_ms": 0.0, "joules": 0.0, "duration_s": 0.0, "inferences": 0,
        "readings": 0,
    }  # fmt: skip
    return defaults | state
