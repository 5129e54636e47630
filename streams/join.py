"""Prediction ↔ outcome join for one partition: bounded, pure, rebuilt from the log on restart.

Outcomes name a ``prediction_id`` and may arrive days later; accuracy counts in the window
of the *prediction's* event time. Predictions and outcomes share a partition number
(same partition count, key = model), so one worker sees both sides.

Bounds (docs/streaming.md, "Join horizon"):

* ``clock`` = the highest *prediction* event time seen on this partition (outcome times
  do not move it: a label observed days later must not push out predictions that are
  still waiting for theirs);
* a prediction is kept until it is matched (one outcome per prediction), its event time
  falls ``horizon_ms`` behind the clock, or ``max_predictions`` newer ones push it out;
* an outcome whose prediction is unknown waits in ``pending``; if its prediction arrives
  it is matched then; once the clock is ``horizon_ms`` past the outcome's own time (its
  prediction, which precedes it, should long have arrived) or ``max_pending`` newer ones
  push it out, :meth:`expire` returns it so the caller counts it as
  ``outcomes_unmatched`` — never silently lost.

>>> j = JoinState(horizon_ms=1000)
>>> t = ("c", "m", "x", "1", "s", "h")
>>> j.add_prediction("p1", 0, t, "ok", 0.2, 10), j.add_outcome("p1", "ok", 50, t).prediction
([], 'ok')
>>> j.add_outcome("p2", "defect", 60, t) is None, len(j.pending)
(True, 1)
>>> [o.prediction_id for _, o in j.add_prediction("p2", 0, t, "ok", 0.9, 20)]
['p2']
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

Tenancy = tuple[str, ...]


class Prediction(NamedTuple):
    window_start: int
    tenancy: Tenancy
    prediction: Any
    score: float
    ts: int


class Outcome(NamedTuple):
    prediction_id: str
    actual: Any
    ts: int
    tenancy: Tenancy


@dataclass
class JoinStats:
    matched: int = 0
    expired: int = 0
    predictions_evicted: int = 0


class JoinState:
    """Predictions waiting for ground truth and outcomes waiting for their prediction."""

    def __init__(
        self,
        horizon_ms: int = 7 * 86_400_000,
        max_predictions: int = 2_000_000,
        max_pending: int = 200_000,
    ) -> None:
        self.horizon_ms = horizon_ms
        self.max_predictions = max_predictions
        self.max_pending = max_pending
        self.predictions: OrderedDict[str, Prediction] = OrderedDict()
        self.pending: OrderedDict[str, list[Outcome]] = OrderedDict()
        self.n_pending = 0
        self.clock: int | None = None
        self.stats = JoinStats()

    def add_prediction(
        self, pid: str, window_start: int, tenancy: Tenancy, prediction: Any, score: float, ts: int
    ) -> list[tuple[Prediction, Outcome]]:
        """Remember a prediction; returns outcomes that were waiting for it (now matched)."""
        if self.clock is None or ts > self.clock:
            self.clock = ts
        pred = Prediction(window_start, tenancy, prediction, score, ts)
        waiting = self.pending.pop(pid, None)
        if waiting:
            self.n_pending -= len(waiting)
            self.stats.matched += 1
            out = [(pred, waiting[0])]
            for extra in waiting[1:]:  # a second label for one prediction: unmatched
                self._park(extra)
            return out
        self.predictions[pid] = pred
        self.predictions.move_to_end(pid)
        return []

    def add_outcome(self, pid: str, actual: Any, ts: int, tenancy: Tenancy) -> Prediction | None:
        """The prediction this outcome completes (removed from the state), or None (pending)."""
        pred = self.predictions.pop(pid, None)
        if pred is not None:
            self.stats.matched += 1
            return pred
        self._park(Outcome(pid, actual, ts, tenancy))
        return None

    def _park(self, outcome: Outcome) -> None:
        self.pending.setdefault(outcome.prediction_id, []).append(outcome)
        self.n_pending += 1

    def expire(self) -> list[Outcome]:
        """Drop state beyond the horizon or the size bounds; returns the outcomes dropped."""
        expired: list[Outcome] = []
        cutoff = None if self.clock is None else self.clock - self.horizon_ms
        preds = self.predictions
        while preds and (
            len(preds) > self.max_predictions
            or (cutoff is not None and next(iter(preds.values())).ts < cutoff)
        ):
            preds.popitem(last=False)
            self.stats.predictions_evicted += 1
        pending = self.pending
        while pending:
            pid, outcomes = next(iter(pending.items()))
            oldest = min(o.ts for o in outcomes)
            if self.n_pending <= self.max_pending and (cutoff is None or oldest >= cutoff):
                break
            pending.popitem(last=False)
            self.n_pending -= len(outcomes)
            expired.extend(outcomes)
        self.stats.expired += len(expired)
        return expired
