"""Energy: joules, inferences and metered seconds, turned into kWh and gCO2e at read time.

The grid factor and PUE are context (per compute hub, overridable), not state,
so the same partial can be re-priced when factors change. Definitions:
README.md ("Metric definitions").
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from processors.base import as_float, check_mergeable, ratio

JOULES_PER_KWH = 3.6e6


class EnergyMeter:
    """Sums of IT joules, inferences, metered duration (s) and readings.

    >>> m = EnergyMeter().update([1800.0, 1800.0], [100, 200], [10.0, 20.0])
    >>> r = m.result(grid_gco2_per_kwh=500.0, pue=1.5)
    >>> r["it_kwh"], r["facility_kwh"], r["gco2e"], r["j_per_inference"], r["avg_power_w"]
    (0.001, 0.0015, 0.75, 12.0, 120.0)
    """

    kind = "energy"

    def __init__(self) -> None:
        self.joules = 0.0
        self.inferences = 0
        self.duration_s = 0.0
        self.readings = 0

    def update(self, joules: Any, inferences: Any, duration_s: Any) -> Self:
        """Add meter readings: joules >= 0, whole inferences >= 0, duration_s > 0."""
        j = as_float(joules, "joules")
        n = as_float(inferences, "inferences")
        d = as_float(duration_s, "duration_s")
        if not (j.size == n.size == d.size):
            raise ValueError("joules, inferences and duration_s must have equal lengths")
        if not ((j >= 0).all() and np.isfinite(j).all()):
            raise ValueError("joules must be finite and >= 0")
        if not ((n >= 0).all() and (n == np.round(n)).all()):
            raise ValueError("inferences must be whole numbers >= 0")
        if not ((d > 0).all() and np.isfinite(d).all()):
            raise ValueError("duration_s must be finite and > 0")
        self.joules += float(j.sum())
        self.inferences += int(n.sum())
        self.duration_s += float(d.sum())
        self.readings += int(j.size)
        return self

    def merge(self, other: Self) -> Self:
        check_mergeable(self, other)
        return type(self).from_dict({k: v + getattr(other, k) for k, v in self.to_dict().items()})

    @property
    def count(self) -> int:
        return self.readings

    def to_dict(self) -> dict[str, Any]:
        return {
            "joules": self.joules,
            "inferences": self.inferences,
            "duration_s": self.duration_s,
            "readings": self.readings,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        out = cls()
        out.joules, out.duration_s = float(d["joules"]), float(d["duration_s"])
        out.inferences, out.readings = int(d["inferences"]), int(d["readings"])
        return out

    def result(self, grid_gco2_per_kwh: float | None = None, pue: float = 1.0) -> dict[str, Any]:
        """it_kwh = J / 3.6e6; facility_kwh = it_kwh × PUE; gco2e = facility_kwh × grid.

        ``kwh`` is the facility figure (it includes PUE). j_per_inference and
        avg_power_w use IT joules (what the meter measured).
        """
        if pue < 1:
            raise ValueError(f"pue must be >= 1, got {pue}")
        it_kwh = self.joules / JOULES_PER_KWH
        facility_kwh = it_kwh * pue
        gco2e = None if grid_gco2_per_kwh is None else facility_kwh * float(grid_gco2_per_kwh)
        return {
            "joules": self.joules,
            "inferences": self.inferences,
            "readings": self.readings,
            "duration_s": self.duration_s,
            "it_kwh": it_kwh,
            "facility_kwh": facility_kwh,
            "kwh": facility_kwh,
            "j_per_inference": ratio(self.joules, self.inferences),
            "avg_power_w": ratio(self.joules, self.duration_s),
            "gco2e": gco2e,
            "pue": float(pue),
        }
