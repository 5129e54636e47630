"""Energy meter readings of one deployment: one reading every ``interval_s`` of event time.

``joules = (inferences * joules_per_inference * hub factor + idle_watts * seconds) * noise``,
with lognormal noise of ``cv``; the reading's ``ts`` is the end of its interval.

>>> from simulator.catalogue import MODELS_BY_NAME
>>> m = SimulatedMeter(MODELS_BY_NAME["bolt-torque"], seed=0, start_ms=0, duration_s=25)
>>> m.add(np.array([1.0, 2.0, 12.0])); m.n_intervals, m.counts.tolist()
(3, [2, 1, 0])
"""

from __future__ import annotations

import math

import numpy as np

from simulator.catalogue import HUBS
from simulator.generator import rng_for
from simulator.specs import Energy, Model


class SimulatedMeter:
    """A simulated power meter: counts inferences per interval and turns completed intervals
    into readings (the engine that aggregates readings is processors.energy.EnergyMeter)."""

    def __init__(
        self,
        model: Model,
        *,
        seed: int,
        start_ms: int,
        duration_s: float,
        profile: Energy | None = None,
    ) -> None:
        self.profile = profile or model.energy
        self.start_ms, self.duration_s = start_ms, duration_s
        self.n_intervals = max(1, math.ceil(duration_s / self.profile.interval_s - 1e-9))
        self.counts = np.zeros(self.n_intervals, dtype=np.int64)
        self.jpi = self.profile.joules_per_inference * HUBS[model.hub].energy_factor
        rng = rng_for(seed, model.name, "energy")
        self.noise = np.exp(self.profile.cv * rng.standard_normal(self.n_intervals))

    def add(self, t: np.ndarray) -> None:
        """Count inferences at ``t`` seconds since the start."""
        k = np.minimum((t // self.profile.interval_s).astype(np.int64), self.n_intervals - 1)
        self.counts += np.bincount(k, minlength=self.n_intervals)

    def end_ms(self, k: np.ndarray) -> np.ndarray:
        """Event time (ms) at which interval ``k`` ends (= its reading's ts)."""
        end_s = np.minimum((k + 1) * self.profile.interval_s, self.duration_s)
        return self.start_ms + np.round(end_s * 1000.0).astype(np.int64)

    def completed(self, frontier_ms: int) -> int:
        """How many intervals have ended at or before ``frontier_ms``."""
        width = self.profile.interval_s * 1000.0
        done = min(max(int((frontier_ms - self.start_ms) // width), 0), self.n_intervals)
        while done < self.n_intervals and self.end_ms(np.array(done)) <= frontier_ms:
            done += 1
        while done > 0 and self.end_ms(np.array(done - 1)) > frontier_ms:
            done -= 1
        return done

    def partial(self, k: int, until_ms: int, inferences: int) -> dict[str, np.ndarray]:
        """The reading of interval ``k`` cut short at ``until_ms`` (a run stopped early).

        >>> from simulator.catalogue import MODELS_BY_NAME
        >>> m = SimulatedMeter(MODELS_BY_NAME["bolt-torque"], seed=0, start_ms=0, duration_s=25)
        >>> r = m.partial(1, 15_000, 3); r["ts"].tolist(), r["duration_s"].tolist()
        ([15000], [5.0])
        """
        seconds = max(0.0, (until_ms - self.start_ms) / 1000.0 - k * self.profile.interval_s)
        joules = (inferences * self.jpi + self.profile.idle_watts * seconds) * self.noise[k]
        return {
            "ts": np.array([until_ms], dtype=np.int64),
            "joules": np.round(np.array([joules]), 3),
            "inferences": np.array([inferences], dtype=np.int64),
            "duration_s": np.round(np.array([seconds]), 3),
        }

    def readings(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Readings of intervals ``lo .. hi-1``: ts (ms), joules, inferences, duration_s."""
        k = np.arange(lo, hi)
        begin = k * self.profile.interval_s
        seconds = np.minimum(begin + self.profile.interval_s, self.duration_s) - begin
        inferences = self.counts[lo:hi]
        joules = (inferences * self.jpi + self.profile.idle_watts * seconds) * self.noise[lo:hi]
        return {
            "ts": self.end_ms(k),
            "joules": np.round(joules, 3),
            "inferences": inferences,
            "duration_s": np.round(seconds, 3),
        }
