"""``resonance demo``: orchestration of the whole pipeline on one machine.

Who owns what (the one rule that shapes this module: chDB allows ONE process per
data directory):

- the demo process owns the warehouse. It opens chDB under ``<data-dir>``, applies the
  migrations, runs the sink (:func:`warehouse.sink.run_sink`) on a thread, and serves
  the console from a background snapshot read through the same session
  (:class:`~resonance.demo.shared_backend.SharedBackend` serialises the calls);
- the broker (Tansu, in memory) and the Faust workers (``resonance worker``) are child
  processes, supervised (:mod:`resonance.demo.processes`);
- the simulator runs on a thread (its exact summary and ground truth come back as
  objects).

Order of start: reference profiles, broker, topics, model registration (the ``models``
topic, like ``resonance models register``), workers, warehouse (fails fast if another
process holds the directory), sink (which mirrors the registry), console, simulator. Order of stop:
simulator, drain (workers finalise their blocks, the sink stores them), final snapshot
and summary, sink, workers, broker, warehouse. The data stays on disk.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from errors import UsageError
from resonance.console.server import ConsoleServer
from resonance.console.snapshot import Refresher, Snapshot, SnapshotProvider, reader_builder
from resonance.demo.embedded_sink import SinkThread
from resonance.demo.processes import Supervisor, resonance_argv, wait_until
from resonance.demo.shared_backend import SharedBackend
from resonance.demo.simulation import SimulationThread
from resonance.demo.summary import Injected, Truth, summary_json, terminal_lines, write_summary
from warehouse.window_reader import ReferenceStore, WarehouseReader

log = logging.getLogger(__name__)

DEFAULT_RATE = 10.0
"""Samples per second per model (the simulator's default): ~500 events/s for 12 models."""

DEFAULT_SIM_DURATION_S = 600.0
"""Without --duration: simulate ten minutes, then keep the console up until Ctrl-C."""

DEMO_SESSION_TIMEOUT_S = 4.0
"""Consumer-group session timeout of the demo's worker and sink (see :func:`worker_env`)."""


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = None
    rate: float | None = None
    scenario: Path | str | None = None  # a file, or a packaged scenario's name
    data_dir: Path = Path("resonance-data")
    port: int = 8050
    open_browser: bool = True
    summary_json: Path | None = None
    workers: int = 1
    seed: int = 0
    window_s: float = 10.0
    """Event-time window of the demo's workers: short, so a 90 s run closes nine windows."""
    emit_interval_s: float = 1.0
    batch_interval_s: float = 2.0
    """The simulator sends one batch per model every this many seconds of event time."""
    label_delay_s: float = 15.0
    """Median delay of ground truth (outcomes) in the demo; see with_live_label_delays."""
    block_idle_s: float = 3.0
    refresh_s: float = 1.0
    report_every_s: float = 5.0
    lateness_s: float = 20.0
    """Allowed lateness of the demo's workers; the policy decides a window this long after
    it ended (event time), so alerts show up while the demo runs."""
    policy: Path | None = None
    drain_timeout_s: float = 120.0
    notify_url: str | None = None
    """Generic webhook for every alert transition (starts the notifier child)."""
    notify_config: Path | None = None


@dataclass(frozen=True)
class Running:
    """What :meth:`Demo.start_pipeline` brought up and the rest of the run needs."""

    bootstrap: str
    models: int
    sink: SinkThread
    refresher: Refresher
    simulation: SimulationThread
    truth: Truth
    url: str
    backend: SharedBackend
    since_s: int


SIMULATOR_SUMMARY = "simulator.json"

DRAINED_TOPICS = ("telemetry", "predictions", "energy")
"""The topics whose every event the drain waits for (:meth:`Demo.stored_everything`)."""
"""Under ``<data-dir>/logs``: what the simulator sent, exactly (``resonance simulate
--summary-json``'s shape), to compare with what the warehouse stored."""


def stored_energy(backend: SharedBackend, since_s: int) -> float:
    """Joules the warehouse holds for windows from ``since_s`` on (the sink stores deltas)."""
    table = backend.query(
        "SELECT sum(sums['joules']) AS j FROM energy_minute"
        " WHERE window_start >= toDateTime({s:Int64}, 'UTC')",
        {"s": since_s},
    )
    return float(table.to_pylist()[0]["j"] or 0.0)


def worker_env(options: DemoOptions, bootstrap: str, data_dir: Path) -> dict[str, str]:
    """Settings for ``resonance worker`` (streams.settings reads ``RESONANCE_*``)."""
    return {
        "RESONANCE_KAFKA_BOOTSTRAP": bootstrap,
        "RESONANCE_IMPORT_REFERENCES": "false",  # the registry topic only, as in production
        "RESONANCE_WINDOW_S": str(options.window_s),
        "RESONANCE_ALLOWED_LATENESS_S": str(options.lateness_s),
        "RESONANCE_EMIT_INTERVAL_S": str(options.emit_interval_s),
        "RESONANCE_BLOCK_IDLE_S": str(options.block_idle_s),
        # Tansu completes a new group's first join after about half the session timeout
        # (5 s at Kafka's 10 s): 4 s joins in 2 s, still above a loaded machine's stalls
        "RESONANCE_BROKER_SESSION_TIMEOUT": str(DEMO_SESSION_TIMEOUT_S),
        "RESONANCE_BROKER_HEARTBEAT_INTERVAL": "0.5",
        "PYTHONUNBUFFERED": "1",
    }


def ground_truth(raw: dict) -> Truth:
    """The simulator's ground truth, reduced to the summary contract's fields."""
    injected = tuple(
        Injected(i["consortium"], i["model"], i["kind"], i["start"])
        for i in raw.get("injected", [])
        if i.get("within_run", True)
    )
    controls = tuple((c["consortium"], c["model"]) for c in raw.get("controls", []))
    return Truth(injected, controls)


def with_live_label_delays(scenario, median_s: float):
    """Ground truth within seconds, so accuracy shows up live in a minutes-long demo.

    The catalogue's label delays (minutes to days) are realistic, but nothing would
    arrive during the run. Models the scenario gives its own ``label_delays`` keep them.
    """
    from simulator.catalogue import MODELS
    from simulator.durations import Offset
    from simulator.scenario import LabelDelayOverride

    live = LabelDelayOverride(
        median=Offset(median_s), sigma=0.5, min=Offset(median_s / 3), max=Offset(median_s * 4)
    )
    delays = {m.name: live for m in MODELS} | dict(scenario.label_delays)
    return scenario.model_copy(update={"label_delays": delays})


def has_display() -> bool:
    """Only open a browser where a graphical one can appear.

    Without a display, :mod:`webbrowser` falls back to text browsers (lynx, w3m), which
    would take over the terminal the live summary is printed to.
    """
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@contextmanager
def interrupts_stop_the_demo() -> Iterator[None]:
    """Ctrl-C (SIGINT) and ``kill`` (SIGTERM) both raise KeyboardInterrupt: one clean stop.

    SIGINT is set explicitly because a process started in the background by a
    non-interactive shell inherits SIGINT as *ignored*, and Python then installs no
    KeyboardInterrupt handler of its own.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, handler),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
    }
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class Demo:
    """One demo run; :meth:`run` returns the exit code."""

    def __init__(self, options: DemoOptions, out: TextIO = sys.stderr) -> None:
        self.options = options
        self.out = out
        self.data_dir = options.data_dir.resolve()
        self.supervisor = Supervisor(self.data_dir / "logs")
        self.provider = SnapshotProvider()
        self.t0 = time.monotonic()
        self.failure: str | None = None
        self._cleanup: list[Callable[[], None]] = []

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # ----------------------------------------------------------------- start-up
    def open_warehouse(self) -> SharedBackend:
        from warehouse.backend import ChdbBackend
        from warehouse.migrate import migrate

        backend = SharedBackend(ChdbBackend(self.data_dir))
        self._cleanup.append(backend.close)
        migrate(backend, log=lambda msg: log.info(msg))
        return backend

    def start_broker(self) -> str:
        from streams.broker import EmbeddedBroker
        from streams.settings import load_settings
        from streams.topics import create_topics

        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        broker = EmbeddedBroker(log_path=self.data_dir / "logs" / "broker.log").start()
        self._cleanup.append(broker.stop)
        create_topics(load_settings(broker.bootstrap))
        return broker.bootstrap

    def make_simulator(self):
        from simulator import Simulator, load_scenario

        scenario = load_scenario(self.options.scenario)
        scenario = with_live_label_delays(scenario, self.options.label_delay_s)
        rate = self.options.rate or DEFAULT_RATE
        # a batch every ~2 s of event time per model keeps the console moving smoothly
        batch = max(1, round(rate * self.options.batch_interval_s))
        return Simulator(self.options.seed, scenario, rate, batch)

    def model_entries(self, simulator) -> list:
        """Registry entries (reference fitted on training data, target) of the simulated models."""
        from simulator.references import entries

        return entries(simulator.models, self.options.seed)

    def register_models(self, bootstrap: str, entries: list) -> None:
        """Register the models on the ``models`` topic, as a user would (``resonance models
        register``): workers and the sink (which mirrors them into the warehouse) read them."""
        from streams.registry import publish
        from streams.settings import load_settings

        publish(load_settings(bootstrap), entries)

    def start_workers(self, bootstrap: str) -> None:
        env = worker_env(self.options, bootstrap, self.data_dir)
        for i in range(self.options.workers):
            self.supervisor.start(
                f"worker-{i}",
                resonance_argv("worker", "--bootstrap", bootstrap),
                env,
                cwd=self.data_dir / "workers" / str(i),
            )
        self._cleanup.append(self.supervisor.stop_all)

    def start_notifier(self, bootstrap: str, console_url: str) -> None:
        """``resonance notify`` as a child; the URL travels in the environment, not argv."""
        opts = self.options
        if not (opts.notify_url or opts.notify_config):
            return
        argv = ["notify", "--bootstrap", bootstrap, "--group", "resonance-demo-notify"]
        if opts.notify_config:
            argv += ["--config", str(opts.notify_config.resolve())]
        env = {"PYTHONUNBUFFERED": "1", "RESONANCE_NOTIFY_CONSOLE_URL": console_url}
        if opts.notify_url:
            env["RESONANCE_NOTIFY_URL"] = opts.notify_url
        self.supervisor.start("notify", resonance_argv(*argv), env, cwd=self.data_dir)
        if self.supervisor.stop_all not in self._cleanup:
            self._cleanup.append(self.supervisor.stop_all)

    def start_sink(self, backend: SharedBackend, bootstrap: str) -> SinkThread:
        from processors.policy import Policy
        from processors.policy_config import PolicyConfig
        from warehouse.evaluator import Evaluator, KafkaPublisher

        opts = self.options
        evaluator = Evaluator(
            backend,
            Policy(PolicyConfig.load(opts.policy)),
            window_s=opts.window_s,
            lateness_s=opts.lateness_s,
            publish=KafkaPublisher(bootstrap),
        )
        sink = SinkThread(
            backend, bootstrap, evaluator=evaluator, session_timeout_s=DEMO_SESSION_TIMEOUT_S
        ).start()
        self._cleanup.append(sink.stop)
        return sink

    def start_console(self, backend: SharedBackend, since_s: int) -> tuple[str, Refresher]:
        reader = WarehouseReader(backend, ReferenceStore(backend), since_s)
        build = reader_builder(reader)
        refresher = Refresher(build, self.provider, self.options.refresh_s).start()
        self._cleanup.append(refresher.stop)
        from warehouse.deliveries import deliveries_for, recent_deliveries

        def deliveries(q: dict[str, str]) -> dict:
            if q.get("alert_id"):
                return {"deliveries": deliveries_for(backend, q["alert_id"])}
            return {"deliveries": recent_deliveries(backend, limit=50)}

        try:
            extra = {"/api/deliveries": deliveries}
            server = ConsoleServer(self.provider, port=self.options.port, extra=extra).start()
        except OSError as exc:
            raise UsageError(f"--port {self.options.port}: {exc.strerror}") from None
        self._cleanup.append(server.stop)
        return server.url, refresher

    # -------------------------------------------------------------------- run
    def run(self) -> int:
        try:
            with interrupts_stop_the_demo():
                return self._run()
        finally:
            self.shutdown()

    def _run(self) -> int:
        running = self.start_pipeline()
        self.announce(running)
        interrupted = self.follow(running)
        snapshot = self.final_snapshot(running.refresher, running.sink)
        self.report_end(snapshot, running, interrupted)
        if running.simulation.error is not None:
            self.failure = self.failure or f"simulator failed: {running.simulation.error}"
        if self.failure:
            self.say(f"resonance demo: error: {self.failure}")
            return 1
        return 0

    def start_pipeline(self) -> Running:
        """Bring everything up, in the order that makes start-up fastest (see module doc)."""
        from simulator.sinks import KafkaSink

        opts = self.options
        self.say(f"resonance demo: data in {self.data_dir} (logs in {self.data_dir / 'logs'})")
        simulator = self.make_simulator()  # a bad --scenario fails before anything starts
        # chDB's import, session and migrations take seconds: on a thread, beside the rest
        with ThreadPoolExecutor(1, thread_name_prefix="resonance-warehouse") as pool:
            opening = pool.submit(self.open_warehouse)
            bootstrap = self.start_broker()
            # workers next: a Faust worker needs a few seconds to import, start and join
            # its group, so everything else overlaps that wait; its registry reader follows
            # the ``models`` topic, so the models registered now reach it before any event
            self.start_workers(bootstrap)
            self.register_models(bootstrap, self.model_entries(simulator))
            # events next: the broker holds them while the workers and the sink join
            start = datetime.now(UTC).replace(microsecond=0)
            duration = opts.duration_s or DEFAULT_SIM_DURATION_S
            producer = KafkaSink(bootstrap, flush_timeout_s=10.0, **{"log.connection.close": False})
            simulation = SimulationThread(simulator, producer, start, duration, flush_outcomes=True)
            self._cleanup.append(simulation.start().stop)
        # the pool waited for the warehouse, so a failure above still finds it in _cleanup
        backend = opening.result()  # a data dir in use fails here; cleanup stops the rest
        sink = self.start_sink(backend, bootstrap)
        since_s = int(start.timestamp() // opts.window_s * opts.window_s)
        url, refresher = self.start_console(backend, since_s)
        sink.on_first_insert = refresher.wake  # the first metrics without waiting a period
        self.start_notifier(bootstrap, url)
        truth = ground_truth(simulator.ground_truth(int(start.timestamp() * 1000), duration))
        models = len(simulator.models)
        return Running(bootstrap, models, sink, refresher, simulation, truth, url, backend, since_s)

    def announce(self, running: Running) -> None:
        opts = self.options
        until = "until Ctrl-C" if opts.duration_s is None else f"{opts.duration_s:g} s"
        self.say(
            f"resonance demo: broker {running.bootstrap}, {running.models} models, "
            f"{opts.workers} worker(s), sink -> chDB\n"
            f"resonance demo: console at {running.url}  ·  {until}"
        )
        if opts.open_browser and has_display():
            threading.Thread(target=webbrowser.open, args=(running.url,), daemon=True).start()

    def follow(self, running: Running) -> bool:
        """Live summary until the simulation ends (then drain) or Ctrl-C; True if interrupted."""
        sink, url = running.sink, running.url
        try:
            self.watch(running.simulation.done, sink, url)
            if self.failure is None:
                self.drain(running)
            if self.options.duration_s is None and self.failure is None:
                self.say("resonance demo: simulation finished; console stays up (Ctrl-C to stop)")
                self.watch(lambda: False, sink, url)
        except KeyboardInterrupt:
            self.say("\nresonance demo: stopping (Ctrl-C again skips the drain)…")
            # in order: the simulator sends the energy readings in progress and flushes its
            # producer, the workers finalise their blocks, the sink stores them
            with suppress(KeyboardInterrupt):
                running.simulation.stop()
                self.drain(running)
            return True
        return False

    def watch(self, finished: Callable[[], bool], sink: SinkThread, url: str) -> None:
        """Print the terminal summary every few seconds until ``finished()`` or a failure."""
        next_report = time.monotonic() + self.options.report_every_s
        while not finished():
            time.sleep(0.2)
            self.check_health(sink)
            if self.failure:
                return
            if time.monotonic() >= next_report:
                next_report += self.options.report_every_s
                self.report(url)

    def check_health(self, sink: SinkThread) -> None:
        if sink.error is not None or not sink.alive():
            self.failure = f"the sink stopped: {sink.error}"
        for child in self.supervisor.dead():
            tail = child.tail(5).replace("\n", "\n    ")
            self.failure = f"{child.name} exited with code {child.returncode()}:\n    {tail}"

    def report(self, url: str) -> None:
        s = self.provider.snapshot
        elapsed = time.monotonic() - self.t0
        self.say(
            terminal_lines(elapsed, s.events, s.events_per_s, s.windows_closed, s.drifting(), url)
        )

    # ------------------------------------------------------------------- drain
    def drain(self, running: Running) -> None:
        """Wait until the workers finalised their blocks and the sink stored them.

        After the last event, a worker closes a partition's block once it has been idle
        for ``block_idle_s`` and emits the final partials; the sink flushes every half
        second. So: wait at least idle + emit interval + a margin, until every event the
        simulator sent is counted in the warehouse (:meth:`stored_everything`: a loaded
        machine may be slower than any fixed margin), and until the sink has inserted
        nothing for a few seconds; all bounded by ``drain_timeout_s``.
        """
        opts, sink = self.options, running.sink
        floor = time.monotonic() + opts.block_idle_s + opts.emit_interval_s + 2.0
        quiet = max(3.0, opts.emit_interval_s * 2)
        self.say("resonance demo: simulation stopped; draining the pipeline…")

        def settled() -> bool:
            self.check_health(sink)
            return self.failure is not None or (
                time.monotonic() >= floor
                and sink.quiet_for() >= quiet
                and self.stored_everything(running)
            )

        if not wait_until(settled, opts.drain_timeout_s, 0.25):
            self.say(f"resonance demo: still busy after {opts.drain_timeout_s:g} s; stopping")

    def stored_everything(self, running: Running) -> bool:
        """Every telemetry, prediction and energy event the simulator sent is counted in
        the console's latest snapshot of the warehouse (outcomes are left out: a label can
        wait for its prediction, or for a target, longer than a drain)."""
        produced = running.simulation.summary
        if produced is None:  # the simulation failed: nothing to compare with
            return True
        stored = self.provider.snapshot.events
        return all(stored.get(k, 0) >= produced.topics[k]["samples"] for k in DRAINED_TOPICS)

    # --------------------------------------------------------------------- end
    def final_snapshot(self, refresher: Refresher, sink: SinkThread | None = None) -> Snapshot:
        """After the drain: decide the windows still open (nothing more will come), then
        read everything once more."""
        try:
            if sink is not None and sink.evaluator is not None:
                sink.evaluator.run(close_all=True)
        except Exception as exc:
            log.warning("final evaluation failed: %s", exc)
        try:
            return refresher.refresh()
        except Exception as exc:  # the last periodic snapshot is still a fair record
            log.warning("final refresh failed: %s", exc)
            return self.provider.snapshot

    def report_end(self, snapshot: Snapshot, running: Running, interrupted: bool) -> None:
        payload = summary_json(snapshot.events, running.truth, snapshot.consortia, snapshot.alerts)
        if self.options.summary_json is not None:
            write_summary(self.options.summary_json, payload)
            self.say(f"resonance demo: summary written to {self.options.summary_json}")
        models = sum(len(c["models"]) for c in payload["consortia"].values())
        flagged = [
            f"{c}/{m}"
            for c, entry in payload["consortia"].items()
            for m, row in entry["models"].items()
            if row["drift_detected"]
        ]
        sim_summary = running.simulation.summary
        produced = sim_summary.samples if sim_summary else None
        energy = ""
        if sim_summary is not None:
            joules = sum(m["joules"] for m in sim_summary.models.values())
            sim_summary.write(self.data_dir / "logs" / SIMULATOR_SUMMARY)
            try:
                stored = stored_energy(running.backend, running.since_s)
                energy = f" · energy {stored:,.1f} J stored of {joules:,.1f} J produced"
            except Exception as exc:  # the summary line must still come out
                log.warning("reading the stored energy failed: %s", exc)
        self.say(
            f"resonance demo: {'interrupted' if interrupted else 'done'} after "
            f"{time.monotonic() - self.t0:.0f} s · {models} models · "
            f"{payload['events']['telemetry']:,} telemetry samples stored"
            + (f" of {produced:,} produced" if produced is not None else "")
            + energy
            + f" · drift detected on {', '.join(flagged) or 'no model'}\n"
            f"resonance demo: data kept in {self.data_dir}; e.g.\n"
            f"  resonance query drift --consortium steel --data-dir {self.options.data_dir} "
            "--from now-1h --step 1m"
        )

    def shutdown(self) -> None:
        """Undo every start-up step, newest first; each step runs even if one fails."""
        while self._cleanup:
            step = self._cleanup.pop()
            try:
                step()
            except KeyboardInterrupt:
                continue
            except Exception as exc:
                log.warning("shutdown step failed: %s", exc)


def check_port(port: int, host: str = "127.0.0.1") -> None:
    """A console port in use fails before anything starts (one line, exit 2)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the console server
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"--port {port}: {exc.strerror or exc} (another console running? "
                "pick another port, or --port 0 for a free one)"
            ) from None


def run_demo(options: DemoOptions) -> int:
    """Entry point of ``resonance demo``."""
    if options.duration_s is not None and not math.isfinite(options.duration_s):
        raise UsageError(f"--duration {options.duration_s}: must be a finite number of seconds")
    check_port(options.port)
    return Demo(options).run()
