"""Stored estimation rows for the surfaces' tests (console, Grafana, report).

A calibrated binary model serves ``PER_MINUTE`` predictions a minute; from minute
``SHIFT_AT`` on its labels follow a different rule (concept drift, which CBPE cannot
see), and labels arrive only for the first ``LABELLED`` minutes. Both statistics go
through the sink's write path as the worker would emit them: an ``estimation`` state
(processors.cbpe) and a ``classification`` confusion matrix per minute. :func:`expected`
is the engines' answer per minute, the value every surface must show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from processors.accuracy import ClassificationAccuracy
from processors.calibration import Calibration, fit_calibration
from processors.cbpe import CBPE, calibration_descriptor
from streams.partials import Partial

CLASSES = ("ok", "defect")
MINUTES = 8
PER_MINUTE = 400
SHIFT_AT = 5
LABELLED = 7
TENANCY = {"consortium": "steel", "member": "baowu", "model": "strip", "model_version": "1",
           "site": "hsm-2", "hub": "yangtze-river-delta"}  # fmt: skip


def calibration() -> Calibration:
    rng = np.random.default_rng(21)
    s = rng.random(8000)
    return fit_calibration(s, np.where(rng.random(8000) < s**2, "defect", "ok"), CLASSES)


@dataclass
class Minute:
    start_s: int
    pred: np.ndarray
    score: np.ndarray
    actual: np.ndarray | None


def minutes(t0_s: int, seed: int = 4) -> list[Minute]:
    """The raw predictions, per minute from ``t0_s`` (a multiple of 60)."""
    rng = np.random.default_rng(seed)
    out = []
    for m in range(MINUTES):
        s = rng.random(PER_MINUTE)
        truth = s**2 if m < SHIFT_AT else 1 - s  # concept drift: P(defect | score) flips
        y = np.where(rng.random(PER_MINUTE) < truth, "defect", "ok")
        pred = np.where(s >= 0.5, "defect", "ok")
        out.append(Minute(t0_s + 60 * m, pred, s, y if m < LABELLED else None))
    return out


def _partial(kind: str, start_s: int, feature: str, state: dict, topic: str, w: int) -> Partial:
    return Partial(kind=kind, **TENANCY, feature=feature, window_start=start_s * 1000,
                   window_end=(start_s + 60) * 1000, late=False, source_topic=topic,
                   source_partition=0, block_start=0, last_offset=100 + w, final=True,
                   state=state)  # fmt: skip


def store(backend, t0_s: int, cal: Calibration) -> list[Minute]:
    """Write every minute's estimation and classification partials through the sink."""
    from warehouse.sink import PartialWriter

    rows = minutes(t0_s)
    desc = calibration_descriptor(cal)
    parts = []
    for w, m in enumerate(rows):
        est = CBPE(cal).update(m.pred, m.score).to_dict()
        parts.append(_partial("estimation", m.start_s, desc, est, "predictions", w))
        if m.actual is not None:
            acc = ClassificationAccuracy(list(CLASSES)).update(m.actual, m.pred, m.score)
            parts.append(_partial("classification", m.start_s, "", acc.to_dict(), "outcomes", w))
    PartialWriter(backend).write([p.to_dict() for p in parts])
    return rows


def expected(rows: list[Minute], cal: Calibration) -> list[dict]:
    """Per minute: the engine's estimate and band, and the realised accuracy (or None)."""
    out = []
    for m in rows:
        realised = None if m.actual is None else float(np.mean(m.actual == m.pred))
        result = CBPE(cal).update(m.pred, m.score).result(realised_accuracy=realised)
        out.append(result | {"realised_accuracy": realised, "start_s": m.start_s})
    return out


def calibrate(registry, models, seed: int) -> None:
    """Give every simulated classifier of ``registry`` the calibration the demo registers
    (``simulator.references.calibration_of``: its scores on undrifted reference
    rows against the truth), so the worker emits estimation states for it."""
    from simulator.references import calibration_of

    for m in models:
        entry = registry.get(m.consortium, m.name, m.version)
        cal = calibration_of(m, seed)
        if entry is not None and cal is not None:
            registry.apply(entry.replace(calibration=cal))
