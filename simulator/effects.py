"""Applying scenario injections to a block of feature values, vectorised.

Process changes (shift, drift, variance, seasonal, new category) change what
really happens, so the ground truth sees them; sensor faults (stuck, missing)
only change what the model is served.

>>> from simulator.scenario import SuddenShift
>>> inj = SuddenShift(model="m", feature="x", kind="sudden_shift", start="+10s", magnitude=2)
>>> progress(inj, np.array([0.0, 10.0, 20.0]), 60.0).tolist()
[0.0, 1.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from simulator.scenario import (
    GradualDrift,
    Injection,
    MissingSensor,
    NewCategory,
    Seasonal,
    StuckSensor,
    SuddenShift,
    VarianceChange,
)
from simulator.specs import Model, Numeric

Columns = dict[str, np.ndarray]


def window(inj: Injection, duration_s: float) -> tuple[float, float]:
    """``[start, end)`` of the injection in seconds from the run start."""
    end = inj.end.seconds(duration_s) if inj.end is not None else math.inf
    return inj.start.seconds(duration_s), end


def progress(inj: Injection, t: np.ndarray, duration_s: float) -> np.ndarray:
    """Per row, how far the effect has developed: 0 before start / after end, up to 1."""
    start, end = window(inj, duration_s)
    active = (t >= start) & (t < end)
    ramp = getattr(inj, "ramp", None)
    if ramp is None:
        return active.astype(float)
    length = max(ramp.seconds(duration_s), 1e-9)
    return np.where(active, np.clip((t - start) / length, 0.0, 1.0), 0.0)


def _scale(inj: SuddenShift | GradualDrift | Seasonal, feature: Numeric) -> float:
    return inj.magnitude * (feature.std if inj.units == "std" else 1.0)


def apply_process(
    model: Model,
    injections: list[Injection],
    values: Columns,
    t: np.ndarray,
    duration_s: float,
    rng: np.random.Generator,
) -> None:
    """Change ``values`` (process truth) in place for every process injection."""
    for inj in injections:
        feature = model.feature(inj.feature)
        p = progress(inj, t, duration_s)
        x = values[inj.feature]
        if isinstance(inj, SuddenShift | GradualDrift):
            x += p * _scale(inj, feature)
        elif isinstance(inj, VarianceChange):
            x += p * (inj.magnitude - 1.0) * (x - feature.mean)
        elif isinstance(inj, Seasonal):
            start, _ = window(inj, duration_s)
            phase = 2 * np.pi * (t - start) / max(inj.period.seconds(duration_s), 1e-9)
            x += p * _scale(inj, feature) * np.sin(phase)
        elif isinstance(inj, NewCategory):
            hit = rng.random(len(t)) < p * inj.magnitude
            x[hit] = inj.category


def apply_sensor(
    model: Model,
    injections: list[Injection],
    values: Columns,
    t: np.ndarray,
    duration_s: float,
    rng: np.random.Generator,
    stuck: Mapping[int, float | str],
) -> None:
    """Change ``values`` (what the model is served) in place for every sensor fault.

    ``stuck`` maps the index of a stuck_sensor injection in ``injections`` to its value.
    """
    for k, inj in enumerate(injections):
        p = progress(inj, t, duration_s) > 0
        x = values[inj.feature]
        if isinstance(inj, StuckSensor):
            x[p] = stuck[k]
        elif isinstance(inj, MissingSensor):
            hit = p & (rng.random(len(t)) < inj.magnitude)
            x[hit] = np.nan if x.dtype.kind == "f" else None


def is_process(inj: Injection) -> bool:
    return not isinstance(inj, StuckSensor | MissingSensor)
