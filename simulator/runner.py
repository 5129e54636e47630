"""The simulator: merges the message streams of all selected models into one sink.

``rate`` is samples per second of event time **per model** (so the total is
``rate x models``). Messages are sent in event-time order; with ``pace`` (the
default) nothing is sent before the wall clock reaches its event time, so a
start in the past replays history as fast as possible and then continues in
real time, and a run starting now is real time throughout.
"""

from __future__ import annotations

import contextlib
import heapq
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TextIO

from processors.alert_lifecycle import iso
from simulator.catalogue import select
from simulator.effects import window
from simulator.energy import SimulatedMeter
from simulator.generator import ModelGenerator
from simulator.scenario import EnergyOverride, LabelDelayOverride, Scenario
from simulator.sinks import Sink
from simulator.specs import Energy, LabelDelay, Model
from simulator.stream import ModelStream
from simulator.summary import Summary


def now_ms() -> int:
    return int(time.time() * 1000)


def _labels(base: LabelDelay, o: LabelDelayOverride | None) -> LabelDelay:
    if o is None:
        return base
    sec = {k: getattr(o, k).seconds(0.0) for k in ("median", "min", "max") if getattr(o, k)}
    return replace(
        base,
        median_s=sec.get("median", base.median_s),
        min_s=sec.get("min", base.min_s),
        max_s=sec.get("max", base.max_s),
        sigma=base.sigma if o.sigma is None else o.sigma,
        fraction=base.fraction if o.fraction is None else o.fraction,
    )


def _energy(base: Energy, o: EnergyOverride | None) -> Energy:
    if o is None:
        return base
    return replace(base, **{k: v for k, v in o.model_dump().items() if v is not None})


class Simulator:
    """Deterministic streams for the selected models under a scenario.

    >>> from simulator.sinks import ListSink
    >>> sim = Simulator(seed=7, rate=2.0, batch_size=10, models=("bolt-torque",))
    >>> s = sim.run(ListSink(), start=datetime(2026, 1, 1, tzinfo=UTC), duration=60)
    >>> s.topics["telemetry"], s.models["bolt-torque"]["energy"]
    ({'messages': 12, 'samples': 120}, 6)
    """

    def __init__(
        self,
        seed: int = 0,
        scenario: Scenario | None = None,
        rate: float = 10.0,
        batch_size: int = 100,
        *,
        consortia: tuple[str, ...] = (),
        models: tuple[str, ...] = (),
        linger_s: float = 10.0,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.seed, self.rate, self.batch_size, self.linger_s = seed, rate, batch_size, linger_s
        self.scenario = scenario or Scenario(name="none")
        self.models: list[Model] = list(select(consortia, models))

    def generator(self, model: Model, start_ms: int, duration_s: float) -> ModelGenerator:
        """The sample generator of one model for a run (scenario applied)."""
        sc = self.scenario
        return ModelGenerator(
            model,
            seed=self.seed,
            rate=self.rate,
            start_ms=start_ms,
            duration_s=duration_s,
            injections=sc.for_model(model.name),
            labels=_labels(model.labels, sc.label_delays.get(model.name)),
            energy=_energy(model.energy, sc.energy.get(model.name)),
        )

    def ground_truth(self, start_ms: int, duration_s: float) -> dict:
        """What the scenario injected (resolved to ISO times) and which models are controls."""
        selected = {m.name: m for m in self.models}
        injected = []
        for inj in self.scenario.injections:
            if inj.model not in selected:
                continue
            begin, end = window(inj, duration_s)
            injected.append(
                {
                    "consortium": selected[inj.model].consortium,
                    "model": inj.model,
                    "feature": inj.feature,
                    "kind": inj.kind,
                    "start": iso(start_ms + begin * 1000),
                    "end": None if end == float("inf") else iso(start_ms + end * 1000),
                    "magnitude": getattr(inj, "magnitude", None),
                    "within_run": begin < duration_s,
                }
            )
        controls = [
            {"consortium": selected[c].consortium, "model": c}
            for c in self.scenario.controls
            if c in selected
        ]
        return {"scenario": self.scenario.name, "injected": injected, "controls": controls}

    def run(
        self,
        sink: Sink,
        start: datetime | None = None,
        duration: float = 60.0,
        *,
        pace: bool = True,
        flush_outcomes: bool = False,
        progress: TextIO | None = None,
        stop: threading.Event | None = None,
    ) -> Summary:
        """Send ``duration`` s of event time from ``start`` (default: now) to ``sink``.

        Ctrl-C (or setting ``stop``, from another thread) stops the run early: each
        model's energy reading in progress is cut short and sent (the energy of every
        inference made so far is reported), the sink is flushed, and the summary (with
        ``run.interrupted`` true) counts exactly what was sent.
        """
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=UTC)  # naive times are UTC
        start_ms = now_ms() if start is None else int(start.timestamp() * 1000)
        end_ms = start_ms + round(duration * 1000)
        streams: list[ModelStream] = []
        for model in self.models:
            gen = self.generator(model, start_ms, duration)
            meter = SimulatedMeter(
                model, seed=self.seed, start_ms=start_ms, duration_s=duration, profile=gen.energy
            )
            streams.append(
                ModelStream(
                    gen,
                    meter,
                    batch_size=self.batch_size,
                    linger_s=self.linger_s,
                    flush_outcomes=flush_outcomes,
                )
            )
        summary = Summary(
            {
                "seed": self.seed,
                "start": iso(start_ms),
                "end": iso(end_ms),
                "duration_s": duration,
                "rate_per_model": self.rate,
                "batch_size": self.batch_size,
                "scenario": self.scenario.name,
                "models": [m.name for m in self.models],
                "interrupted": False,
            },
            self.models,
            self.ground_truth(start_ms, duration),
        )
        meter = Progress(progress, start_ms, end_ms)
        stop = stop or threading.Event()
        sent_ms = start_ms  # event time up to which everything was sent
        energy_ms: dict[str, int] = {}  # per model, the newest energy reading sent
        try:
            try:
                for msg in heapq.merge(*map(iter, streams), key=lambda m: m.emit_ms):
                    if pace and msg.emit_ms <= end_ms:
                        _wait_until(msg.emit_ms, meter, summary, stop)
                    if stop.is_set():
                        break
                    sink.send(msg.topic, msg.model.encode(), msg.value)
                    summary.record(msg)
                    sent_ms = max(sent_ms, msg.emit_ms)
                    if msg.topic == "energy":
                        energy_ms[msg.model] = msg.emit_ms  # its newest reading's ts
                    meter.tick(msg.emit_ms, summary)
            except KeyboardInterrupt:
                stop.set()
            if stop.is_set():  # stop cleanly: energy up to now, then what was sent is flushed
                summary.run["interrupted"] = True
                frontier = min(max(sent_ms, now_ms()), end_ms) if pace else sent_ms
                with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C skips it
                    for stream in streams:
                        for msg in stream.stopped_at(frontier, energy_ms.get(stream.model.name)):
                            sink.send(msg.topic, msg.model.encode(), msg.value)
                            summary.record(msg)
        finally:
            delivered, failed = sink.close()
            summary.delivery = {"delivered": delivered, "failed": failed}
            meter.done(summary)
        return summary


def _wait_until(emit_ms: int, meter: Progress, summary: Summary, stop: threading.Event) -> None:
    while (lag := emit_ms - now_ms()) > 0 and not stop.is_set():
        stop.wait(min(lag / 1000.0, 0.5))
        meter.tick(min(emit_ms, now_ms()), summary)


class Progress:
    """Progress on ``stream``: samples, messages, samples/s, event-time position."""

    def __init__(self, stream: TextIO | None, start_ms: int, end_ms: int) -> None:
        self.stream, self.start_ms, self.end_ms = stream, start_ms, end_ms
        self.t0 = self.last = time.monotonic()

    def tick(self, event_ms: int, summary: Summary) -> None:
        """Redraw in place on a terminal (every 1 s); a new line every 10 s otherwise."""
        if self.stream is None:
            return
        tty = self.stream.isatty()
        if time.monotonic() - self.last < (1.0 if tty else 10.0):
            return
        self.last = time.monotonic()
        self._line(event_ms, summary, end="\r" if tty else "\n")

    def _line(self, event_ms: int, summary: Summary, end: str) -> None:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        span = max(self.end_ms - self.start_ms, 1)
        pct = 100.0 * min(max(event_ms - self.start_ms, 0), span) / span
        print(
            f"simulate: {summary.samples:,} samples, {summary.messages:,} messages, "
            f"{summary.samples / elapsed:,.0f} samples/s, event time {iso(event_ms)} ({pct:.0f}%)",
            file=self.stream,
            end=end,
            flush=True,
        )

    def done(self, summary: Summary) -> None:
        if self.stream is not None:
            self._line(self.end_ms, summary, end="\n")
