"""The message stream of one model: telemetry, predictions, outcomes and energy, in time order.

Telemetry and predictions go out in batches of exactly ``batch_size`` samples
(the last may be shorter). Outcomes and energy readings become ready when
event time passes their ``ts``; ready rows go out as soon as ``batch_size`` of
them are waiting or the oldest has waited ``linger_s`` of event time, and at
the end of the run. Outcomes whose ground truth is observed after the end of
the run are dropped unless ``flush_outcomes`` (then they go out last, with
their future ``ts``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

import numpy as np

from simulator.energy import SimulatedMeter
from simulator.generator import Block, ModelGenerator
from simulator.summary import Message
from simulator.wire import TOPICS, encode, slices

STEP = 2048  # samples turned into Python lists at a time
Rows = dict[str, np.ndarray]  # columns with a sorted "ts"


def _take(rows: Rows, sel: slice) -> Rows:
    return {k: v[sel] for k, v in rows.items()}


def _cat(parts: list[Rows]) -> Rows:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class ReadyQueue:
    """Rows (sorted by ts) waiting to be sent in batches; see the module docstring."""

    def __init__(self, batch_size: int, linger_ms: int) -> None:
        self.batch_size, self.linger_ms = batch_size, linger_ms
        self.carry: Rows | None = None

    def pop(self, ready: Rows | None, frontier_ms: int, final: bool = False) -> list[Rows]:
        """Add newly ready rows; return the batches to send now."""
        parts = [p for p in (self.carry, ready) if p is not None and len(p["ts"])]
        self.carry = None
        if not parts:
            return []
        rows = parts[0] if len(parts) == 1 else _cat(parts)
        ts, n = rows["ts"], len(rows["ts"])
        out, i = [], 0
        while i < n:
            # a batch closes at batch_size rows, or before the first row that comes
            # linger_ms after its own first one: sparse rows (energy readings every 10 s)
            # then go out one by one at their time instead of waiting for a full batch
            j = min(i + self.batch_size, n)
            j = i + max(1, int(np.searchsorted(ts[i:j], ts[i] + self.linger_ms, side="left")))
            closed = j - i == self.batch_size or j < n
            if closed or final or ts[i] + self.linger_ms <= frontier_ms:
                out.append(_take(rows, slice(i, j)))
            else:
                self.carry = _take(rows, slice(i, n))
            i = j
        return out


class OutcomeBook:
    """Outcomes not yet observed: sorted runs in a heap keyed by their earliest ts."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Rows]] = []
        self._n = 0

    def add(self, rows: Rows) -> None:
        if len(rows["ts"]):
            order = np.argsort(rows["ts"], kind="stable")
            run = {k: v[order] for k, v in rows.items()}
            heapq.heappush(self._heap, (int(run["ts"][0]), self._n, run))
            self._n += 1

    def ready(self, frontier_ms: int | None) -> Rows | None:
        """Remove and return (sorted) every outcome with ts <= frontier (None: all)."""
        parts = []
        while self._heap and (frontier_ms is None or self._heap[0][0] <= frontier_ms):
            _, n, run = heapq.heappop(self._heap)
            cut = (
                len(run["ts"])
                if frontier_ms is None
                else int(np.searchsorted(run["ts"], frontier_ms, side="right"))
            )
            parts.append(_take(run, slice(0, cut)))
            if cut < len(run["ts"]):
                rest = _take(run, slice(cut, None))
                heapq.heappush(self._heap, (int(rest["ts"][0]), n, rest))
        if not parts:
            return None
        rows = _cat(parts)
        order = np.argsort(rows["ts"], kind="stable")
        return {k: v[order] for k, v in rows.items()}


class ModelStream:
    """Iterates the :class:`Message` s of one model (see the module docstring)."""

    def __init__(
        self,
        gen: ModelGenerator,
        meter: SimulatedMeter,
        *,
        batch_size: int,
        linger_s: float = 10.0,
        flush_outcomes: bool = False,
    ) -> None:
        self.gen, self.meter = gen, meter
        self.model = gen.model
        self.batch_size = batch_size
        self.flush_outcomes = flush_outcomes
        self.end_ms = gen.start_ms + round(gen.duration_s * 1000)
        linger_ms = round(linger_s * 1000)
        self.outcome_queue = ReadyQueue(batch_size, linger_ms)
        self.energy_queue = ReadyQueue(batch_size, linger_ms)
        self.book = OutcomeBook()
        self.energy_next = 0
        self._recent_ts = self._last_ts = np.zeros(0, dtype=np.int64)

    def _msg(self, topic: str, value: bytes, rows: int, emit_ms: int, **stats: float) -> Message:
        return Message(emit_ms, topic, self.model.name, value, rows, stats)

    def _encode(self, kind: str, columns: dict[str, Any]) -> bytes:
        return encode(kind, self.model.tenancy, columns, batch=self.batch_size > 1)

    def _samples(self, blk: Block) -> Iterator[Message]:
        name, n = self.model.name, len(blk)
        ts = blk.ts_ms.tolist()
        ids = [f"{name}-{s}" for s in blk.seq.tolist()]
        telemetry = {"ts": ts, "features": {k: v.tolist() for k, v in blk.features.items()}}
        multiclass = blk.score is not None and blk.score.ndim == 2
        score = blk.score.tolist() if blk.score is not None and not multiclass else [None] * n
        predictions = {
            "ts": ts,
            "prediction_id": ids,
            "prediction": blk.prediction.tolist(),
            "score": score,
            "latency_ms": blk.latency_ms.tolist(),
            "error": blk.error.tolist(),
        }
        if multiclass:  # every class's probability, for performance estimation
            classes = self.model.target.classes
            predictions["scores"] = {c: blk.score[:, k].tolist() for k, c in enumerate(classes)}
        starts = np.arange(0, n, self.batch_size)
        missing = {
            f: np.add.reduceat(_is_missing(v).astype(np.int64), starts).tolist()
            for f, v in blk.features.items()
        }
        errors = np.add.reduceat(blk.error.astype(np.int64), starts).tolist()
        pieces = zip(
            slices(telemetry, self.batch_size, n),
            slices(predictions, self.batch_size, n),
            strict=True,
        )
        for j, ((rows, tel), (_, pred)) in enumerate(pieces):
            emit = tel["ts"][-1]
            stats = {f"missing:{f}": c[j] for f, c in missing.items() if c[j]}
            yield self._msg("telemetry", self._encode("telemetry", tel), rows, emit, **stats)
            yield self._msg(
                "predictions", self._encode("prediction", pred), rows, emit, errors=errors[j]
            )

    def _outcomes(self, batches: list[Rows], floor_ms: int) -> Iterator[Message]:
        name = self.model.name
        for b in batches:
            cols = {
                "ts": b["ts"].tolist(),
                "prediction_id": [f"{name}-{s}" for s in b["seq"].tolist()],
                "actual": b["actual"].tolist(),
            }
            emit = max(cols["ts"][-1], floor_ms)
            yield self._msg(TOPICS["outcome"], self._encode("outcome", cols), len(b["ts"]), emit)

    def _energy(self, frontier_ms: int, final: bool) -> Iterator[Message]:
        done = self.meter.n_intervals if final else self.meter.completed(frontier_ms)
        ready = self.meter.readings(self.energy_next, done) if done > self.energy_next else None
        self.energy_next = max(done, self.energy_next)
        for b in self.energy_queue.pop(ready, frontier_ms, final):
            yield self._energy_message(b)

    def stopped_at(self, frontier_ms: int, sent_ms: int | None) -> Iterator[Message]:
        """The run stopped at ``frontier_ms``, energy sent up to the reading at ``sent_ms``:
        the readings not sent yet, the interval in progress cut short at the stop, so the
        energy of every inference made up to then is reported (readings are deterministic,
        so those generated ahead but not sent are simply made again)."""
        meter = self.meter
        frontier_ms = min(frontier_ms, self.end_ms)
        first = 0 if sent_ms is None else meter.completed(sent_ms)
        done = max(meter.completed(frontier_ms), first)
        parts = [meter.readings(first, done)] if done > first else []
        width_ms = meter.profile.interval_s * 1000.0
        if done < meter.n_intervals and frontier_ms > meter.start_ms + done * width_ms:
            later = self._recent_ts[self._recent_ts > frontier_ms]  # not made yet
            begun = int(meter.counts[done]) - int(np.sum(later < meter.end_ms(np.array(done))))
            parts.append(meter.partial(done, frontier_ms, begun))
        self.energy_queue.carry = None
        self.energy_next = meter.n_intervals  # nothing more from this stream
        ready = _cat(parts) if parts else None
        for b in self.energy_queue.pop(ready, frontier_ms, final=True):
            yield self._energy_message(b)

    def _energy_message(self, b: Rows) -> Message:
        cols = {k: v.tolist() for k, v in b.items()}
        return self._msg(
            "energy",
            self._encode("energy", cols),
            len(cols["ts"]),
            cols["ts"][-1],
            joules=sum(cols["joules"]),
            inferences=sum(cols["inferences"]),
        )

    def __iter__(self) -> Iterator[Message]:
        step = self.batch_size * max(1, STEP // self.batch_size)
        floor_ms = self.gen.start_ms
        for lo in range(0, self.gen.n_samples, step):
            blk = self.gen.block(lo, lo + step)
            self.meter.add(blk.t)
            # the two newest blocks hold every sample not sent yet (the merge reads one
            # message ahead): what a stop mid-interval subtracts
            self._recent_ts = np.concatenate([self._recent_ts[-len(self._last_ts) :], blk.ts_ms])
            self._last_ts = blk.ts_ms
            lab = blk.labelled
            self.book.add(
                {"ts": blk.outcome_ts_ms[lab], "seq": blk.seq[lab], "actual": blk.actual[lab]}
            )
            frontier = int(blk.ts_ms[-1])
            batches = self.outcome_queue.pop(self.book.ready(frontier), frontier)
            out = [
                *self._samples(blk),
                *self._outcomes(batches, floor_ms),
                *self._energy(frontier, final=False),
            ]
            out.sort(key=lambda m: m.emit_ms)
            yield from out
            floor_ms = frontier
        yield from self._finish(floor_ms)

    def _finish(self, floor_ms: int) -> Iterator[Message]:
        batches = self.outcome_queue.pop(self.book.ready(self.end_ms), self.end_ms, final=True)
        out = [*self._outcomes(batches, floor_ms), *self._energy(self.end_ms, final=True)]
        out.sort(key=lambda m: m.emit_ms)
        yield from out
        if self.flush_outcomes:
            late = self.book.ready(None)
            if late is not None:
                queue = ReadyQueue(self.batch_size, 0)
                yield from self._outcomes(queue.pop(late, self.end_ms, final=True), self.end_ms)


def _is_missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    return values == None  # noqa: E711 (elementwise on an object array)
