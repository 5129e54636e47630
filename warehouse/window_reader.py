"""Per-window engines from the warehouse: the read path of the policy evaluator and the console.

The reader runs inside the one process that owns the chDB directory (the sink, or the demo
process, which also runs the sink), through the same :class:`~warehouse.backend.Backend`,
so no second process ever opens chDB. It reads the minute tables summed per model version and
event-time window (rows are deltas, so a plain sum is exact, late rows included), rebuilds
the engines with ``Engine.from_dict`` and asks them for metrics: the same engines the
workers ran, the same definitions (README.md ("Metric definitions")).

The SQL, the reference and hub lookups and the engine rebuild are :mod:`warehouse.states`'s,
shared with the range queries (:mod:`warehouse.queries`) and the Grafana SQL.

Everything is read in a handful of GROUP BY queries per refresh (one per table), not
per model, so the cost does not grow with the number of models the console shows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processors.accuracy import ClassificationAccuracy, RegressionAccuracy
from processors.cbpe import CBPE
from processors.drift import CategoricalDrift, NumericDrift
from processors.energy import EnergyMeter
from processors.latency import LatencyHistogram
from processors.reference import ReferenceProfile
from warehouse import states
from warehouse.backend import Backend, rows
from warehouse.kinds import KINDS, KindSpec, columns_to_state
from warehouse.states import iso

__all__ = ["ModelWindows", "ReferenceStore", "WarehouseReader", "iso", "summed_sql"]

Window = str  # ISO-8601 UTC start of an event-time window
ModelKey = tuple[str, str]  # (consortium, model)


def summed_sql(spec: KindSpec, extra_dims: tuple[str, ...] = ()) -> str:
    """Sum a kind's minute table per model version, dimension and window, from ``{since}``."""
    dims = ["consortium", "model", "model_version", "hub", *extra_dims]
    if spec.dimension:
        dims.append(spec.dimension)
    dims.append("window_start")
    return states.summed_sql(spec, dims, where=["window_start >= toDateTime({since:Int64}, 'UTC')"])


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
        self._docs: dict[tuple[str, str, str], dict[str, Any]] = {}

    def get(self, consortium: str, model: str, version: str) -> ReferenceProfile | None:
        key = (consortium, model, version)
        if key not in self._profiles:
            self._load()
        return self._profiles.get(key)

    def get_doc(self, consortium: str, model: str, version: str) -> dict[str, Any] | None:
        """The stored profile as JSON (the class labels of a classifier's target)."""
        key = (consortium, model, version)
        if key not in self._docs:
            self._load()
        return self._docs.get(key)

    def _load(self) -> None:
        try:
            self._docs = states.load_profiles(self.backend)
        except Exception:
            self._docs = {}
        for key, doc in self._docs.items():
            self._profiles.setdefault(key, ReferenceProfile.from_dict(doc))


class WarehouseReader:
    """Reads every model's per-window engines in one pass over the minute tables."""

    def __init__(
        self,
        backend: Backend,
        references: ReferenceStore,
        since_s: int = 0,
    ) -> None:
        """``since_s``: epoch seconds; earlier windows (a previous run in the same data
        directory) are left out, so the console and the summary describe this run."""
        self.backend = backend
        self.references = references
        self.since_s = since_s

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
            engine = states.drift_engine(columns_to_state(spec, row), ref)
            _merge_into(entry(row).drift[row["feature"]], iso(row["window_start"]), engine)

    def _read_accuracy(self, entry) -> None:
        spec = KINDS["classification"]
        for row in self._rows(spec):
            doc = self.references.get_doc(row["consortium"], row["model"], row["model_version"])
            engine = states.classification_engine(columns_to_state(spec, row), row["classes"], doc)
            _merge_into(entry(row).accuracy, iso(row["window_start"]), engine)
        spec = KINDS["regression"]
        for row in self._rows(spec):
            engine = states.rebuild(RegressionAccuracy, columns_to_state(spec, row))
            _merge_into(entry(row).accuracy, iso(row["window_start"]), engine)

    def _read_scalars(self, entry) -> None:
        spec = KINDS["latency"]
        for row in self._rows(spec):
            engine = states.rebuild(LatencyHistogram, columns_to_state(spec, row))
            _merge_into(entry(row).latency, iso(row["window_start"]), engine)
        spec = KINDS["energy"]
        for row in self._rows(spec):
            engine = states.rebuild(EnergyMeter, columns_to_state(spec, row))
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
            factors = states.hub_factors(self.backend)
        except Exception:
            return {}
        return {hub: float(pue) for hub, (_grid, pue) in factors.items()}
