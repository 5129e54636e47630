"""The policy, evaluated in the stream on closed windows, its decisions stored.

The sink calls :meth:`Evaluator.run` after every batch it committed (partials durably in
the warehouse). For each model the evaluator reads the merged per-window engines
(:mod:`warehouse.window_reader`, the one read path), decides every window closed since its
cursor with :class:`processors.policy.Policy`, advances the alert lifecycle
(:mod:`processors.alert_lifecycle`) and writes, in this order:

1. the transitions: published to the ``alerts`` topic (when a publisher is given, acked)
   and stored in ``alert_events``;
2. the window verdicts (``verdicts``);
3. the cursor and lifecycle state (``alert_state``).

A crash anywhere before 3 repeats the same decisions from the same cursor: transitions are
deterministic (id from the episode's event-time start, ``seq`` per episode), so the replay
writes rows that collapse on ``(id, seq)`` and never a second alert for the episode; a
resolution is never lost because the cursor only moves after it is stored.

A window ``[w, w + W)`` of a model is closed when the model has data in a window starting
at or after ``w + W + lateness`` (the workers' watermark rule seen from the warehouse), or
at shutdown (``close_all``). Staleness compares each model's newest window with the
newest of any model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa

from processors.alert_lifecycle import advance, iso, transition_record
from processors.policy import Policy, WindowStats, WindowVerdict
from warehouse.alert_store import parse_iso_ms, store_transitions
from warehouse.backend import Backend, rows
from warehouse.window_reader import ModelWindows, ReferenceStore, WarehouseReader

log = logging.getLogger("resonance.evaluator")

DRIFT_RULES = ("feature_drift", "model_drift")
_TS = pa.timestamp("s", tz="UTC")
_MS = pa.timestamp("ms", tz="UTC")


class Evaluator:
    """Decides closed windows and stores verdicts, transitions and its cursor."""

    def __init__(
        self,
        backend: Backend,
        policy: Policy | None = None,
        *,
        window_s: float = 60.0,
        lateness_s: float = 120.0,
        references: ReferenceStore | None = None,
        publish: Callable[[list[dict[str, Any]]], None] | None = None,
        since_s: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.policy = policy or Policy()
        self.window_ms = int(window_s * 1000)
        self.lateness_ms = int(lateness_s * 1000)
        self.references = references or ReferenceStore(backend)
        self.publish = publish
        self.since_s = since_s
        self.clock = clock
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------ state
    def _states(self) -> dict[tuple[str, str], dict[str, Any]]:
        found = rows(self.backend.query(
            "SELECT consortium, model, state FROM alert_state FINAL"))  # fmt: skip
        return {(r["consortium"], r["model"]): orjson.loads(r["state"]) for r in found}

    def _since(self, states: Mapping[tuple[str, str], dict[str, Any]]) -> int:
        """Earliest window (s) any decision still needs: the cursors minus the lookback."""
        lookback = max(
            (self.policy.lookback(c, m) for c, m in states), default=self.policy.lookback("", "")
        )
        cursors = [s["last_window"] for s in states.values() if s.get("last_window") is not None]
        if not cursors or len(cursors) < len(states):
            return self.since_s
        start = (min(cursors) - lookback * self.window_ms) // 1000
        return max(self.since_s, start)

    # -------------------------------------------------------------------------- run
    def run(self, close_all: bool = False) -> list[dict[str, Any]]:
        """Decide every newly closed window of every model; returns the transitions.
        One run at a time (the sink's loop and a final ``close_all`` may overlap)."""
        with self._lock:
            return self._run(close_all)

    def _run(self, close_all: bool) -> list[dict[str, Any]]:
        states = self._states()
        data = WarehouseReader(self.backend, self.references, self._since(states)).read()
        if not data:
            return []
        newest = {k: max(parse_iso_ms(w) for w in mw.windows()) for k, mw in data.items()}
        watermark = max(newest.values())
        transitions: list[dict[str, Any]] = []
        verdict_rows: list[tuple[str, str, str, WindowVerdict]] = []
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        for key in sorted(data):
            mw = data[key]
            state = states.get(key) or {"last_window": None, "rules": {}, "learned": {}}
            before = orjson.dumps(state)
            out, verdicts = self._decide(mw, state, newest[key], close_all)
            transitions += out
            verdict_rows += verdicts
            stale = self._staleness(mw, state, newest[key], watermark)
            transitions += stale
            if orjson.dumps(state) != before:
                changed[key] = state
        if transitions:
            if self.publish is not None:
                self.publish(transitions)
            store_transitions(self.backend, transitions)
        if verdict_rows:
            self.backend.insert_arrow("verdicts", self._verdict_table(verdict_rows))
        if changed:
            self.backend.insert_arrow("alert_state", self._state_table(changed))
        return transitions

    def _decide(
        self, mw: ModelWindows, state: dict[str, Any], newest: int, close_all: bool
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str, str, WindowVerdict]]]:
        c, m = mw.consortium, mw.model
        by_ms = {parse_iso_ms(w): w for w in mw.windows()}
        last = state.get("last_window")
        todo = [
            t for t in sorted(by_ms)
            if (last is None or t > last)
            and (close_all or newest >= t + self.window_ms + self.lateness_ms)
        ]  # fmt: skip
        rules = self.policy.rules(c, m)
        lookback = self.policy.lookback(c, m)
        out: list[dict[str, Any]] = []
        verdicts = []
        for t in todo:
            history = [
                _stats(mw, by_ms.get(s), s)
                for s in range(t - (lookback - 1) * self.window_ms, t + 1, self.window_ms)
            ]
            verdict = self.policy.evaluate(c, m, history, state["learned"])
            version = max(mw.versions.get(by_ms[t]) or {""})
            evidence = [f.evidence() for f in verdict.features if f.drift]
            for rule, cond in verdict.conditions.items():
                rs = state["rules"].setdefault(rule, {})
                rs["model_version"] = version
                r = getattr(rules, rule)
                step = advance(rs, cond, t, r.for_windows, r.clear_windows)
                if step is not None:
                    episode = rs["open"] if step[0] != "resolved" else rs["last_resolved"]
                    out.append(self._record(c, m, rs, rule, step[0], episode, t, cond,
                                            evidence if rule in DRIFT_RULES else []))  # fmt: skip
            state["last_window"] = t
            verdicts.append((c, m, version, verdict))
        return out, verdicts

    def _record(self, c, m, rs, rule, transition, episode, t, cond, evidence):
        version = episode.setdefault("model_version", rs.get("model_version", ""))
        return transition_record(
            consortium=c, model=m, model_version=version, rule=rule, transition=transition,
            episode=episode, window_start=t, cond=cond, features=evidence,
            policy_version=self.policy.version, emitted_at_ms=int(self.clock() * 1000),
        )  # fmt: skip

    def _staleness(
        self, mw: ModelWindows, state: dict[str, Any], newest: int, watermark: int
    ) -> list[dict[str, Any]]:
        rs = state["rules"].setdefault("staleness", {})
        if rs.get("watermark") is not None and watermark <= rs["watermark"]:
            return []
        rs["watermark"] = watermark
        rs["model_version"] = max(mw.versions.get(max(mw.windows())) or {""})
        c, m = mw.consortium, mw.model
        cond = self.policy.staleness(c, m, newest + self.window_ms, watermark + self.window_ms)
        r = self.policy.rules(c, m).staleness
        step = advance(rs, cond, watermark, r.for_windows, r.clear_windows)
        if step is None:
            return []
        if step[0] == "firing":  # the episode starts with the first window without events
            rs["open"]["started_at"] = newest + self.window_ms
        episode = rs["open"] if step[0] != "resolved" else rs["last_resolved"]
        return [self._record(c, m, rs, "staleness", step[0], episode, watermark, cond, [])]

    # ------------------------------------------------------------------------- rows
    def _verdict_table(self, found: Sequence[tuple[str, str, str, WindowVerdict]]) -> pa.Table:
        now = int(self.clock() * 1000)
        cols: dict[str, list] = {k: [] for k in (
            "consortium", "model", "model_version", "window_start", "drift_share", "data_fit",
            "model_quality", "service_health", "resonance_index", "drifting", "features",
            "conditions", "policy_version", "evaluated_at")}  # fmt: skip
        for c, m, version, v in found:
            cols["consortium"].append(c)
            cols["model"].append(m)
            cols["model_version"].append(version)
            cols["window_start"].append(v.window_start // 1000)
            for name in ("drift_share", "data_fit", "model_quality", "service_health",
                         "resonance_index"):  # fmt: skip
                cols[name].append(getattr(v, name))
            cols["drifting"].append(v.drifting)
            feats = [f.evidence() | {"drift": f.drift} for f in v.features]
            cols["features"].append(orjson.dumps(feats).decode())
            conds = {k: [x.level, x.value, x.threshold] for k, x in v.conditions.items()}
            cols["conditions"].append(orjson.dumps(conds).decode())
            cols["policy_version"].append(self.policy.version)
            cols["evaluated_at"].append(now)
        types = {"window_start": _TS, "evaluated_at": _MS, "drifting": pa.list_(pa.string())}
        for name in ("drift_share", "data_fit", "model_quality", "service_health",
                     "resonance_index"):  # fmt: skip
            types[name] = pa.float64()
        return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})

    def _state_table(self, changed: Mapping[tuple[str, str], dict[str, Any]]) -> pa.Table:
        now = int(self.clock() * 1000)
        keys = sorted(changed)
        return pa.table({
            "consortium": [c for c, _ in keys],
            "model": [m for _, m in keys],
            "last_window": pa.array([(changed[k]["last_window"] or 0) // 1000 for k in keys], _TS),
            "state": [orjson.dumps(changed[k]).decode() for k in keys],
            "updated_at": pa.array([now] * len(keys), _MS),
        })  # fmt: skip


def _stats(mw: ModelWindows, window: str | None, start_ms: int) -> WindowStats:
    if window is None:
        return WindowStats(start_ms)
    return WindowStats(
        window_start=start_ms,
        drift={f: per[window] for f, per in mw.drift.items() if window in per},
        accuracy=mw.accuracy.get(window),
        latency=mw.latency.get(window),
        energy=mw.energy.get(window),
        volume=mw.volume.get(window, {}),
        estimation=mw.estimation.get(window),
    )


__all__ = ["Evaluator", "KafkaPublisher", "iso"]


class KafkaPublisher:
    """Publishes transitions to the ``alerts`` topic (key ``consortium/model``) and waits
    for the broker's acks; a failure raises, so the evaluator's cursor does not move."""

    def __init__(self, bootstrap: str, topic: str = "alerts", **config: Any) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self._producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", **config})

    def __call__(self, records: list[dict[str, Any]]) -> None:
        from warehouse.backend import WarehouseUnavailable

        errors: list[Any] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        for rec in records:
            key = f"{rec['consortium']}/{rec['model']}".encode()
            self._producer.produce(self.topic, orjson.dumps(rec), key, on_delivery=delivered)
        if self._producer.flush(30) or errors:
            raise WarehouseUnavailable(f"alerts topic: {len(records)} transitions not acked")
