"""The simulator on a thread of the demo process, stoppable, with its exact summary.

Running :meth:`streams.simulator.Simulator.run` in-process (rather than as a
``resonance simulate`` child) hands the demo the simulator's :class:`Summary` and
ground truth as objects. Producing is cheap next to consuming (confluent-kafka
releases the GIL), so it does not slow the sink or the console noticeably.
``Simulator.run`` has no stop flag; wrapping the sink gives it one: the next
``send`` after :meth:`SimulationThread.stop` raises, and ``run`` closes the producer.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from streams.simulator import Simulator, Sink, Summary

log = logging.getLogger(__name__)


class Stopped(Exception):
    """Raised inside ``Simulator.run`` to end it early."""


class StoppableSink:
    """Passes messages through until :meth:`stop`; then the next send raises Stopped."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        if self._stop.is_set():
            raise Stopped
        self.inner.send(topic, key, value)

    def close(self) -> tuple[int, int]:
        return self.inner.close()


class SimulationThread:
    """Runs one simulation from ``start`` for ``duration`` seconds of (paced) event time."""

    def __init__(
        self,
        simulator: Simulator,
        sink: Sink,
        start: datetime,
        duration: float,
        *,
        flush_outcomes: bool,
    ) -> None:
        self.simulator = simulator
        self.sink = StoppableSink(sink)
        self.start_at, self.duration = start, duration
        self.flush_outcomes = flush_outcomes
        self.summary: Summary | None = None
        self.error: BaseException | None = None
        self.stopped_early = False
        self._thread = threading.Thread(target=self._main, name="resonance-simulator", daemon=True)

    def _main(self) -> None:
        try:
            self.summary = self.simulator.run(
                self.sink, self.start_at, self.duration, flush_outcomes=self.flush_outcomes
            )
        except Stopped:
            self.stopped_early = True
        except BaseException as exc:
            log.exception("simulator failed")
            self.error = exc

    def start(self) -> SimulationThread:
        self._thread.start()
        return self

    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self.sink.stop()
        self._thread.join(timeout)
