"""Vectorised samples for one model over a run: features, predictions, outcomes.

Sample ``i`` of a model sits at ``(i + u_i) / rate`` seconds after the start
(``u_i`` uniform jitter), so there are exactly ``floor(rate * duration)``
samples, in time order. Samples are generated in fixed chunks of
:data:`CHUNK`, each from its own numpy Generator derived from
``(seed, model, purpose, chunk)``: the values do not depend on the batch size,
on pacing, or on which other models run.

>>> from simulator.catalogue import MODELS_BY_NAME
>>> g = ModelGenerator(MODELS_BY_NAME["weld-defect"], seed=1, rate=10.0, start_ms=0, duration_s=60)
>>> g.n_samples, g.block(0, 3).ts_ms.tolist() == g.block(0, 3).ts_ms.tolist()
(600, True)
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from simulator import truth
from simulator.catalogue import HUBS
from simulator.effects import apply_process, apply_sensor, is_process, window
from simulator.scenario import Injection, StuckSensor
from simulator.specs import Energy, LabelDelay, Model, Numeric

CHUNK = 4096
PURPOSES = {
    "process": 0,
    "effects": 1,
    "sensor": 2,
    "serving": 3,
    "labels": 4,
    "energy": 5,
    "reference": 6,
    "calibration": 7,
}

Columns = dict[str, np.ndarray]


def rng_for(seed: int, model: str, purpose: str, index: int = 0) -> np.random.Generator:
    """The numpy Generator for one (seed, model, purpose, chunk): stable across runs."""
    key = (zlib.crc32(model.encode()), PURPOSES[purpose], index)
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


def sample_features(model: Model, n: int, rng: np.random.Generator) -> Columns:
    """``n`` rows of the model's undrifted process: float64 numeric, object categorical.

    A shared standard-normal process factor correlates numeric features by ``corr``.
    """
    factor = rng.standard_normal(n)
    out: Columns = {}
    for f in model.features:
        if isinstance(f, Numeric):
            z = f.corr * factor + math.sqrt(1.0 - f.corr**2) * rng.standard_normal(n)
            out[f.name] = f.from_z(z)
        else:
            idx = np.searchsorted(np.cumsum(f.p), rng.random(n), side="right")
            cats = np.asarray(f.categories, dtype=object)
            out[f.name] = cats[np.minimum(idx, len(cats) - 1)]
    return out


def round_features(model: Model, values: Columns) -> Columns:
    """Sensor resolution: numeric features rounded to their decimals (copies)."""
    return {
        f.name: np.round(values[f.name], f.decimals)
        if isinstance(f, Numeric)
        else values[f.name].copy()
        for f in model.features
    }


@dataclass
class Block:
    """Rows ``seq`` of one model: what was served, predicted and (later) observed."""

    seq: np.ndarray  # int64 sample number; prediction_id = f"{model}-{seq}"
    t: np.ndarray  # float64 seconds since the run start
    ts_ms: np.ndarray  # int64 event time
    features: Columns  # as served to the model (sensor faults applied)
    prediction: np.ndarray
    score: np.ndarray | None
    latency_ms: np.ndarray
    error: np.ndarray
    labelled: np.ndarray
    outcome_ts_ms: np.ndarray
    actual: np.ndarray

    def __len__(self) -> int:
        return len(self.seq)

    def take(self, sel: slice | np.ndarray) -> Block:
        """Rows ``sel`` of every column."""
        parts = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, dict):
                parts[f.name] = {k: a[sel] for k, a in v.items()}
            else:
                parts[f.name] = None if v is None else v[sel]
        return Block(**parts)


class ModelGenerator:
    """Samples of one model for one run (time origin ``start_ms``, ``duration_s`` long)."""

    def __init__(
        self,
        model: Model,
        *,
        seed: int,
        rate: float,
        start_ms: int,
        duration_s: float,
        injections: list[Injection] | None = None,
        labels: LabelDelay | None = None,
        energy: Energy | None = None,
    ) -> None:
        self.model, self.seed, self.rate = model, seed, rate
        self.start_ms, self.duration_s = start_ms, duration_s
        injections = injections or []
        self.process_injections = [i for i in injections if is_process(i)]
        self.sensor_injections = [i for i in injections if not is_process(i)]
        self.labels = labels or model.labels
        self.energy = energy or model.energy
        self.n_samples = int(math.floor(rate * duration_s + 1e-9))
        self._chunk = lru_cache(maxsize=4)(self._make_chunk)
        self._process = lru_cache(maxsize=4)(self._make_process)
        self._stuck: dict[int, float | str] | None = None

    def _rng(self, purpose: str, chunk: int) -> np.random.Generator:
        return rng_for(self.seed, self.model.name, purpose, chunk)

    def _make_process(self, c: int) -> tuple[np.ndarray, Columns, Columns]:
        """Chunk ``c``: seconds since start, process values, rounded readings (no faults)."""
        rng = self._rng("process", c)
        seq = np.arange(c * CHUNK, (c + 1) * CHUNK)
        t = (seq + rng.random(CHUNK)) / self.rate
        values = sample_features(self.model, CHUNK, rng)
        apply_process(
            self.model,
            self.process_injections,
            values,
            t,
            self.duration_s,
            self._rng("effects", c),
        )
        return t, values, round_features(self.model, values)

    def stuck_values(self) -> dict[int, float | str]:
        """Per stuck_sensor injection: its value, or the first reading at its start."""
        if self._stuck is None:
            self._stuck = {}
            for k, inj in enumerate(self.sensor_injections):
                if isinstance(inj, StuckSensor):
                    self._stuck[k] = inj.value if inj.value is not None else self._reading_at(inj)
        return self._stuck

    def _reading_at(self, inj: StuckSensor) -> float | str:
        start, _ = window(inj, self.duration_s)
        first = int(math.floor(start * self.rate))
        for c in (first // CHUNK, first // CHUNK + 1):
            t, _, readings = self._process(c)
            hits = np.flatnonzero(t >= start)
            if len(hits):
                value = readings[inj.feature][hits[0]]
                return value if isinstance(value, str) else float(value)
        raise AssertionError("unreachable: a later chunk always has later samples")

    def _make_chunk(self, c: int) -> Block:
        t, process, readings = self._process(c)
        seq = np.arange(c * CHUNK, (c + 1) * CHUNK, dtype=np.int64)
        observed = {k: v.copy() for k, v in readings.items()}
        apply_sensor(
            self.model,
            self.sensor_injections,
            observed,
            t,
            self.duration_s,
            self._rng("sensor", c),
            self.stuck_values(),
        )
        prediction, score = truth.predict(self.model, observed)
        serve = self._rng("serving", c)
        lat = self.model.latency
        median = lat.median_ms + HUBS[self.model.hub].network_ms
        latency = np.round(median * np.exp(lat.sigma * serve.standard_normal(CHUNK)), 3)
        error = serve.random(CHUNK) < lat.error_rate
        lab = self._rng("labels", c)
        actual = truth.actual(self.model, process, lab)
        d = self.labels
        delay_s = np.clip(
            d.median_s * np.exp(d.sigma * lab.standard_normal(CHUNK)), d.min_s, d.max_s
        )
        labelled = lab.random(CHUNK) < d.fraction
        ts_ms = self.start_ms + np.floor(t * 1000.0).astype(np.int64)
        outcome_ts = ts_ms + np.round(delay_s * 1000.0).astype(np.int64)
        return Block(
            seq,
            t,
            ts_ms,
            observed,
            prediction,
            score,
            latency,
            error,
            labelled,
            outcome_ts,
            actual,
        )

    def block(self, lo: int, hi: int) -> Block:
        """Samples ``lo .. hi-1`` (``hi <= n_samples``)."""
        hi = min(hi, self.n_samples)
        parts = []
        for c in range(lo // CHUNK, (max(hi, lo + 1) - 1) // CHUNK + 1):
            base = c * CHUNK
            parts.append(self._chunk(c).take(slice(max(lo - base, 0), min(hi - base, CHUNK))))
        return parts[0] if len(parts) == 1 else concat(parts)

    def reference_sample(self, n: int) -> Columns:
        """``n`` rows of the undrifted training distribution (sensor resolution)."""
        values = sample_features(self.model, n, rng_for(self.seed, self.model.name, "reference"))
        return round_features(self.model, values)


def concat(blocks: list[Block]) -> Block:
    """Rows of several blocks, in order."""
    parts = {}
    for f in fields(Block):
        vs = [getattr(b, f.name) for b in blocks]
        if isinstance(vs[0], dict):
            parts[f.name] = {k: np.concatenate([v[k] for v in vs]) for k in vs[0]}
        else:
            parts[f.name] = None if vs[0] is None else np.concatenate(vs)
    return Block(**parts)
