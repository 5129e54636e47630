"""The simulator on a thread of the demo process, stoppable, with its exact summary.

Running :meth:`simulator.Simulator.run` in-process (rather than as a
``resonance simulate`` child) hands the demo the simulator's :class:`Summary` and
ground truth as objects. Producing is cheap next to consuming (confluent-kafka
releases the GIL), so it does not slow the sink or the console noticeably.
:meth:`SimulationThread.stop` sets ``Simulator.run``'s stop event: the run sends each
model's energy reading in progress, flushes the producer and returns its summary.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from simulator import Simulator, Sink, Summary

log = logging.getLogger(__name__)


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
        self.sink = sink
        self.start_at, self.duration = start, duration
        self.flush_outcomes = flush_outcomes
        self.summary: Summary | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="resonance-simulator", daemon=True)

    @property
    def stopped_early(self) -> bool:
        return bool(self.summary and self.summary.run.get("interrupted"))

    def _main(self) -> None:
        try:
            self.summary = self.simulator.run(
                self.sink,
                self.start_at,
                self.duration,
                flush_outcomes=self.flush_outcomes,
                stop=self._stop,
            )
        except BaseException as exc:
            log.exception("simulator failed")
            self.error = exc

    def start(self) -> SimulationThread:
        self._thread.start()
        return self

    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop producing; returns once the energy in progress was sent and flushed."""
        self._stop.set()
        self._thread.join(timeout)
