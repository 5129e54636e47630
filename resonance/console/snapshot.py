"""The console's data, refreshed in the background and served from memory.

One refresher thread reads the warehouse every ``interval`` seconds and replaces an
immutable :class:`Snapshot`; HTTP requests, the terminal summary and the summary JSON
only read the latest snapshot. So the number of open browser tabs never multiplies
chDB queries, a slow query never blocks a request, and every view shows the same
numbers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from resonance.console.metrics import ModelMetrics
from resonance.console.provider import EVENT_KINDS, Payload
from warehouse.alert_queries import drift_status, list_alerts, read_verdicts
from warehouse.estimation_queries import estimated_series
from warehouse.states import iso
from warehouse.window_reader import WarehouseReader

log = logging.getLogger(__name__)

THROUGHPUT_POINTS = 120
RATE_WINDOW_S = 10.0
"""events/s is measured over this many seconds: partials arrive every emit interval,
so a per-refresh difference would jump between zero and a burst."""


@dataclass(frozen=True)
class Snapshot:
    """Everything the console shows, computed at ``taken_at``."""

    taken_at: float = 0.0
    consortia: Mapping[str, list[Payload]] = field(default_factory=dict)  # name → model rows
    features: Mapping[tuple[str, str], list[Payload]] = field(default_factory=dict)
    events: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_KINDS, 0))
    dlq: Mapping[str, int] = field(default_factory=dict)
    windows_closed: int = 0
    events_per_s: float = 0.0
    throughput: tuple[tuple[str, float], ...] = ()
    totals: tuple[tuple[float, int], ...] = ()  # (wall time, events so far), for the rate
    alerts: tuple[Payload, ...] = ()  # stored alerts of the run (list_alerts rows)
    estimation: Mapping[tuple[str, str], list[Payload]] = field(default_factory=dict)
    """(consortium, model) → estimated_series rows, per minute (CBPE), as read so far."""
    estimate: Callable[[str, str], list[Payload]] | None = field(default=None, compare=False)
    """Reads one model's estimates (bound to the reader); None: only ``estimation``."""

    def drifting(self) -> list[tuple[str, str, str | None]]:
        """(consortium, model, first_drift_at) of every flagged model, earliest first."""
        hits = [
            (c, row["model"], row["first_drift_at"])
            for c, rows in self.consortia.items()
            for row in rows
            if row["drift_detected"]
        ]
        return sorted(hits, key=lambda h: (h[2] or "", h[0], h[1]))

    @property
    def has_metrics(self) -> bool:
        return any(row["samples"] for rows in self.consortia.values() for row in rows)


class LazyFeatures(Mapping[tuple[str, str], list[Payload]]):
    """Per-feature payloads, computed when first asked for (then kept with the snapshot).

    The console shows the features of one model at a time, and computing them (drift
    results with their p-values, for every model) is most of a refresh: on a loaded
    machine the first metrics would wait seconds for panels nobody looks at yet.
    """

    def __init__(self) -> None:
        self._metrics: dict[tuple[str, str], ModelMetrics] = {}
        self._done: dict[tuple[str, str], list[Payload]] = {}
        self._lock = threading.Lock()

    def add(self, key: tuple[str, str], metrics: ModelMetrics) -> None:
        self._metrics[key] = metrics

    def __getitem__(self, key: tuple[str, str]) -> list[Payload]:
        with self._lock:
            if key not in self._done:
                metrics = self._metrics[key]  # KeyError: unknown model (the API's 404)
                try:
                    self._done[key] = metrics.features()
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("console: no features for %s/%s: %s", *key, exc)
                    self._done[key] = []
            return self._done[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)


def build_snapshot(reader: WarehouseReader, previous: Snapshot, now: float) -> Snapshot:
    """Read the warehouse once; the decisions (verdicts, alerts) are the stored ones."""
    data = reader.read()
    pue = reader.hub_pue()
    verdicts = read_verdicts(reader.backend, reader.since_s)
    run_start = iso(reader.since_s)
    alerts = [a for a in list_alerts(reader.backend) if a["started_at"] >= run_start]
    drifted = drift_status(alerts)
    consortia: dict[str, list[Payload]] = {}
    features = LazyFeatures()
    events = dict.fromkeys(EVENT_KINDS, 0)
    windows_closed = 0
    for (consortium, model), windows in sorted(data.items()):
        try:
            key = (consortium, model)
            metrics = ModelMetrics(
                windows,
                pue.get(windows.hub, 1.0),
                verdicts.get(key, {}),
                (key in drifted, drifted.get(key)),
            )
            row = metrics.row()
        except (ValueError, KeyError, TypeError) as exc:  # one odd model must not blank the rest
            log.warning("console: skipping %s/%s this refresh: %s", consortium, model, exc)
            continue
        row["alerts"] = [a for a in alerts if (a["consortium"], a["model"]) == key]
        consortia.setdefault(consortium, []).append(row)
        features.add(key, metrics)
        windows_closed += max(0, len(metrics.windows) - 1)  # the newest window is still open
        for kind, n in metrics.events().items():
            events[kind] += n
    dlq = reader.dlq_reasons()
    # rejected rows are counted per model by the workers; a message rejected as a whole
    # (no tenancy to count it under) only shows in the DLQ: take the larger count
    events["rejected"] = max(events["rejected"], sum(dlq.values()))
    total = sum(v for k, v in events.items() if k != "rejected")
    totals = (*previous.totals, (now, total))
    totals = tuple(p for p in totals if p[0] >= now - RATE_WINDOW_S) or ((now, total),)
    span = now - totals[0][0]
    rate = max(0.0, (total - totals[0][1]) / span) if span > 0 else 0.0
    points = (*previous.throughput, (iso(now), rate))[-THROUGHPUT_POINTS:]

    def estimate(consortium: str, model: str) -> list[Payload]:
        rows = read_estimation(reader.backend, [consortium], reader.since_s, time.time(), model)
        return rows.get((consortium, model), [])

    return Snapshot(
        now, consortia, features, events, dlq, windows_closed, rate, points, totals, tuple(alerts),
        previous.estimation, estimate,
    )  # fmt: skip


ESTIMATION_STEP_S = 60
"""Estimation buckets of the console: a minute (the warehouse's finest grain)."""
ESTIMATION_EVERY_S = 15.0
"""Seconds a model's estimates are served from memory before they are read again. They are
read on demand, for the model a page shows only (the read holds the shared warehouse
session, which the demo's sink needs too), never more often, however many tabs ask."""
ESTIMATION_SPAN_S = 3600
"""The console shows the run's last hour of estimates, so a refresh's read stays bounded."""


def read_estimation(
    backend: Any, consortia: list[str], since_s: int, now: float, model: str | None = None
) -> dict[tuple[str, str], list[Payload]]:
    """Per (consortium, model): estimated against realised accuracy, minute by minute since
    ``since_s`` (at most the last :data:`ESTIMATION_SPAN_S`). A failing read (say, a
    warehouse older than migration 0007) leaves the section empty for this refresh
    instead of blanking the console."""
    out: dict[tuple[str, str], list[Payload]] = {}
    end = (int(now) // ESTIMATION_STEP_S + 2) * ESTIMATION_STEP_S  # the open minute too
    start = max(since_s // ESTIMATION_STEP_S * ESTIMATION_STEP_S, end - ESTIMATION_SPAN_S)
    for consortium in consortia:
        try:
            rows = estimated_series(backend, consortium, model, start=start, end=end,
                                    step=ESTIMATION_STEP_S)  # fmt: skip
        except Exception as exc:  # one bad read must not stop the refresher
            log.warning("console: estimation of %s unavailable: %s", consortium, exc)
            continue
        for row in rows:
            key = (consortium, row["model"])
            out.setdefault(key, []).append({k: v for k, v in row.items() if k != "model"})
    return out


def busiest(consortia: Mapping[str, list[Payload]]) -> str | None:
    """The consortium the console opens on: where something happens. Most firing alerts,
    then most alerts, then most models flagged for drift, then most samples.

    >>> rows = {"a": [{"alerts": [], "drift_detected": False, "samples": 9}],
    ...         "b": [{"alerts": [{"state": "firing"}], "drift_detected": True, "samples": 1}]}
    >>> busiest(rows), busiest({})
    ('b', None)
    """

    def activity(name: str) -> tuple[int, int, int, int]:
        rows = consortia[name]
        alerts = [a for r in rows for a in r.get("alerts") or ()]
        return (
            sum(a.get("state") == "firing" for a in alerts),
            len(alerts),
            sum(bool(r.get("drift_detected")) for r in rows),
            sum(int(r.get("samples") or 0) for r in rows),
        )

    return max(sorted(consortia), key=activity, default=None)


class SnapshotProvider:
    """:class:`~resonance.console.provider.ConsoleProvider` over the latest snapshot."""

    def __init__(self) -> None:
        self._snapshot = Snapshot()
        self._lock = threading.Lock()
        self._estimate_lock = threading.Lock()
        self._estimates: dict[tuple[str, str], tuple[float, list[Payload]]] = {}

    @property
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def consortia(self) -> Payload:
        consortia = self.snapshot.consortia
        return {"consortia": sorted(consortia), "busiest": busiest(consortia)}

    def consortium(self, name: str) -> Payload:
        return {"consortium": name, "models": self.snapshot.consortia[name]}

    def model(self, consortium: str, model: str) -> Payload:
        return {
            "consortium": consortium,
            "model": model,
            "features": self.snapshot.features[(consortium, model)],
        }

    def estimation(self, consortium: str, model: str) -> Payload:
        snap, key = self.snapshot, (consortium, model)
        if snap.estimate is not None:
            with self._estimate_lock:  # one read at a time, whatever the number of tabs
                at, rows = self._estimates.get(key, (-math.inf, []))
                if time.monotonic() - at >= ESTIMATION_EVERY_S:
                    rows = snap.estimate(consortium, model)
                    self._estimates[key] = (time.monotonic(), rows)
        else:
            rows = snap.estimation.get(key, [])
        return {"consortium": consortium, "model": model, "rows": rows}

    def health(self) -> Payload:
        s = self.snapshot
        return {
            "events": dict(s.events),
            "dlq": dict(s.dlq),
            "windows_closed": s.windows_closed,
            "events_per_s": s.events_per_s,
            "throughput": {
                "t": [t for t, _ in s.throughput],
                "events_per_s": [v for _, v in s.throughput],
            },
        }


class Refresher:
    """Rebuilds the snapshot every ``interval`` seconds on a daemon thread."""

    def __init__(
        self,
        build: Callable[[Snapshot, float], Snapshot],
        provider: SnapshotProvider,
        interval: float = 2.0,
    ) -> None:
        self._build = build
        self._provider = provider
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="console-refresh", daemon=True)
        self.errors: deque[str] = deque(maxlen=5)

    def refresh(self) -> Snapshot:
        """One refresh now (also used for the final summary after the pipeline drained)."""
        snapshot = self._build(self._provider.snapshot, time.time())
        self._provider.publish(snapshot)
        return snapshot

    def wake(self) -> None:
        """Refresh now rather than at the next interval (e.g. the first stored events)."""
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception as exc:  # keep serving the last good snapshot
                log.warning("console refresh failed: %s", exc)
                self.errors.append(str(exc))

    def start(self) -> Refresher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)


def reader_builder(reader: WarehouseReader) -> Callable[[Snapshot, float], Snapshot]:
    """Bind the reader for :class:`Refresher`."""

    def build(previous: Snapshot, now: float) -> Snapshot:
        return build_snapshot(reader, previous, now)

    return build


__all__ = ["Refresher", "Snapshot", "SnapshotProvider", "build_snapshot", "reader_builder"]
