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

A window ``[w, w + W)`` of a model is closed when each of the model's streams (telemetry,
predictions, energy) has data in a window starting at or after ``w + W + lateness`` (the
workers' watermark rule seen from the warehouse, per stream: each topic is consumed on its
own, so in a backfill one runs ahead of the others; a stream silent for longer than the
lookback holds nothing back), or at shutdown (``close_all``). Staleness compares each
model's newest window with the newest of any model.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa

from processors.alert_lifecycle import advance, iso, replay, rewind_point, transition_record
from processors.policy import Condition, FeatureResult, Policy, WindowStats, WindowVerdict
from warehouse.alert_store import parse_iso_ms, store_transitions
from warehouse.backend import Backend, rows
from warehouse.registry import list_models
from warehouse.window_reader import ModelWindows, ReferenceStore, WarehouseReader

log = logging.getLogger("resonance.evaluator")

DRIFT_RULES = ("feature_drift", "model_drift")
#: rules whose condition reads outcomes: decided again when late outcomes land in a
#: window already decided (at most ``late_windows`` back from the model's cursor)
LATE_RULES = ("accuracy_drop", "resonance_floor")
#: seconds between two log lines of the same evaluation failure (they are counted)
ERROR_LOG_INTERVAL_S = 300.0
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
        late_windows: int | None = None,
        fault_point: str | None = None,
    ) -> None:
        """``late_windows``: how many decided windows back from a model's cursor late
        outcomes are still re-decided (default: the policy's lookback). ``fault_point``
        (tests only): ``after-alerts-published:N`` exits the process, like SIGKILL, once
        the N-th transitions are acked by the topic, before they are stored."""
        self.backend = backend
        self.policy = policy or Policy()
        self.window_ms = int(window_s * 1000)
        self.lateness_ms = int(lateness_s * 1000)
        self.references = references or ReferenceStore(backend)
        self.publish = publish
        self.since_s = since_s
        self.clock = clock
        self.late_windows = late_windows
        self.fault_point = fault_point
        self._published = 0
        #: evaluation failures per reason (exception type and message), since start
        self.errors: dict[str, int] = {}
        self._logged: dict[str, float] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------ state
    def _states(self) -> dict[tuple[str, str], dict[str, Any]]:
        found = rows(self.backend.query(
            "SELECT consortium, model, state FROM alert_state FINAL"))  # fmt: skip
        out = {}
        for r in found:
            key = (r["consortium"], r["model"])
            try:
                out[key] = orjson.loads(r["state"])
            except orjson.JSONDecodeError as exc:  # that model starts over, the others go on
                self._failed(key, exc)
        return out

    def _since(self, states: Mapping[tuple[str, str], dict[str, Any]]) -> int:
        """Earliest window (s) any decision still needs: the cursors minus the lookback."""
        lookback = max(
            (self.policy.lookback(c, m) + self._late_bound(c, m) for c, m in states),
            default=self.policy.lookback("", ""),
        )
        cursors = [s.get("last_window") for s in states.values()]
        if not cursors or not all(isinstance(t, int) for t in cursors):
            return self.since_s  # a model without a cursor (or a corrupt one) reads all
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
        self.policy.use_registry(list_models(self.backend))  # baselines, importances, SLOs
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
            try:
                late, late_verdicts = self._redecide_late(mw, state)
                closing = closing_window(mw, self.policy.lookback(*key) * self.window_ms)
                out, verdicts = self._decide(mw, state, closing, close_all)
                stale = self._staleness(mw, state, newest[key], watermark)
            except Exception as exc:  # one model's failure must not stop the others
                self._failed(key, exc)
                continue  # nothing of it stored: decided again from its cursor next run
            transitions += late + out + stale
            verdict_rows += late_verdicts + verdicts
            if orjson.dumps(state) != before:
                changed[key] = state
        if transitions:
            if self.publish is not None:
                self.publish(transitions)
                self._fault("after-alerts-published")
            store_transitions(self.backend, transitions)
        if verdict_rows:
            self.backend.insert_arrow("verdicts", self._verdict_table(verdict_rows))
        if changed:
            self.backend.insert_arrow("alert_state", self._state_table(changed))
        return transitions

    def _fault(self, point: str) -> None:
        spec = self.fault_point
        if not spec or spec.split(":")[0] != point:
            return
        self._published += 1
        if self._published == int(spec.split(":")[1]):
            print(f"resonance sink: fault injection: exiting at {spec}", file=sys.stderr,
                  flush=True)  # fmt: skip
            os._exit(70)

    def _failed(self, key: tuple[str, str], exc: Exception) -> None:
        """Count a model's evaluation failure; log each reason at most once per
        ``ERROR_LOG_INTERVAL_S`` (with how often it happened meanwhile)."""
        reason = f"{type(exc).__name__}: {exc}"[:300]
        self.errors[reason] = self.errors.get(reason, 0) + 1
        now = time.monotonic()
        last = self._logged.get(reason)
        if last is None or now - last >= ERROR_LOG_INTERVAL_S:
            self._logged[reason] = now
            log.error("policy evaluation of %s/%s failed (%d times so far), other models go "
                      "on: %s", key[0], key[1], self.errors[reason], reason)  # fmt: skip

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
        lookback = self.policy.lookback(c, m)
        out: list[dict[str, Any]] = []
        verdicts = []
        for t in todo:
            history = self._history(mw, by_ms, t, lookback)
            late_before = {r: copy.deepcopy(state["rules"].get(r, {})) for r in LATE_RULES}
            n_before = len(out)
            version = max(mw.versions.get(by_ms[t]) or {""})
            rules = self.policy.rules(c, m, version)
            verdict = self.policy.evaluate(c, m, history, state["learned"], version)
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
            emitted = sorted({o["rule"] for o in out[n_before:]} & set(LATE_RULES))
            self._remember(mw, state, by_ms.get(t), verdict, late_before, emitted)
        return out, verdicts

    def _history(
        self, mw: ModelWindows, by_ms: Mapping[int, str], t: int, lookback: int
    ) -> list[WindowStats]:
        """The ``lookback`` windows ending with ``t`` (empty stats where there is no data)."""
        return [
            _stats(mw, by_ms.get(s), s)
            for s in range(t - (lookback - 1) * self.window_ms, t + 1, self.window_ms)
        ]

    # ----------------------------------------------------------------- late outcomes
    def _late_bound(self, consortium: str, model: str) -> int:
        if self.late_windows is not None:
            return self.late_windows
        return self.policy.lookback(consortium, model)

    def _remember(
        self,
        mw: ModelWindows,
        state: dict[str, Any],
        window: str | None,
        verdict: WindowVerdict,
        before: dict[str, dict[str, Any]],
        emitted: list[str],
    ) -> None:
        """Record a decided window for a later re-decision: its labelled count, its data
        fit and service health (complete at close), the late rules' lifecycle state
        before it, the late rules that emitted at it."""
        decided = state.setdefault("late", [])
        decided.append({"t": verdict.window_start, "n": _labelled(mw, window),
                        "fit": verdict.data_fit, "health": verdict.service_health,
                        "before": before, "emitted": emitted})  # fmt: skip
        del decided[: max(0, len(decided) - self._late_bound(mw.consortium, mw.model))]

    def _redecide_late(
        self, mw: ModelWindows, state: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str, str, WindowVerdict]]]:
        """Late outcomes: when the labelled count of a decided window (within the bound)
        changed, decide the late rules again from that window to the cursor, replaying
        their lifecycle from the state before it (never before the rule's last emitted
        transition, which stays as it was). Returns the new transitions and the
        re-decided windows' verdicts (they replace the stored ones)."""
        decided = state.get("late") or []
        by_ms = {parse_iso_ms(w): w for w in mw.windows()}
        now = [_labelled(mw, by_ms.get(e["t"])) for e in decided]
        changed = [e["t"] for e, n in zip(decided, now, strict=True) if n != e["n"]]
        if not changed:
            return [], []
        for e, n in zip(decided, now, strict=True):
            e["n"] = n
        c, m = mw.consortium, mw.model
        newest = by_ms.get(decided[-1]["t"], "")
        rules = self.policy.rules(c, m, max(mw.versions.get(newest) or {""}))
        starts = {r: rewind_point(decided, r, changed[0]) for r in LATE_RULES}
        starts = {r: i for r, i in starts.items() if i is not None}
        if not starts:
            return [], []
        lookback = self.policy.lookback(c, m)
        decisions: dict[int, tuple[float | None, float | None, dict[str, Condition]]] = {}
        for i in range(min(starts.values()), len(decided)):
            e = decided[i]
            history = self._history(mw, by_ms, e["t"], lookback)
            version = max(mw.versions.get(by_ms.get(e["t"], "")) or {""})
            decisions[i] = self.policy.outcomes(c, m, history, state["learned"], e["fit"],
                                                e["health"], version)  # fmt: skip
        out: list[dict[str, Any]] = []
        at = {e["t"]: e for e in decided}
        for rule, first in sorted(starts.items()):
            r = getattr(rules, rule)
            idx = range(first, len(decided))

            def emit(t, transition, episode, rs, cond, rule=rule):
                at[t]["emitted"].append(rule)
                out.append(self._record(c, m, rs, rule, transition, episode, t, cond, []))

            conds = [(decided[i]["t"], decisions[i][2][rule]) for i in idx]
            final, befores = replay(decided[first]["before"][rule], conds, r.for_windows,
                                    r.clear_windows, emit)  # fmt: skip
            for i, prior in zip(idx, befores, strict=True):
                decided[i]["before"][rule] = prior
            state["rules"][rule] = final
        patch = {decided[i]["t"]: d for i, d in decisions.items()}
        return out, self._patched_verdicts(c, m, patch)

    def _patched_verdicts(
        self,
        consortium: str,
        model: str,
        patch: Mapping[int, tuple[float | None, float | None, dict[str, Condition]]],
    ) -> list[tuple[str, str, str, WindowVerdict]]:
        """The stored verdicts of re-decided windows with their new model quality, index
        and late-rule conditions (stored again, they replace the old rows)."""
        found = rows(self.backend.query(
            "SELECT model_version, toUnixTimestamp(window_start) AS w, drift_share, data_fit,"
            " service_health, features, conditions FROM verdicts FINAL"
            " WHERE consortium = {c:String} AND model = {m:String}"
            " AND has({ws:Array(Int64)}, toInt64(toUnixTimestamp(window_start)))",
            {"c": consortium, "m": model, "ws": [t // 1000 for t in patch]},
        ))  # fmt: skip
        out = []
        for r in found:
            t = int(r["w"]) * 1000
            quality, index, conds = patch[t]
            conditions = {k: Condition(*v) for k, v in orjson.loads(r["conditions"]).items()}
            features = [FeatureResult(**f) for f in orjson.loads(r["features"])]
            verdict = WindowVerdict(t, features, r["drift_share"], r["data_fit"], quality,
                                    r["service_health"], index, conditions | conds)  # fmt: skip
            out.append((consortium, model, r["model_version"], verdict))
        return out

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
        r = self.policy.rules(c, m, rs["model_version"]).staleness
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


def closing_window(mw: ModelWindows, max_lag_ms: int) -> int:
    """The newest window (epoch ms) every stream of the model has reached: the minimum of
    the newest telemetry (drift), prediction (latency) and energy windows, leaving out a
    stream more than ``max_lag_ms`` behind the newest (gone quiet: staleness and volume
    tell). Outcomes never count (they are late by nature). Only other data (volume
    counters alone): the newest window."""
    drift = [w for per in mw.drift.values() for w in per]
    ends = [max(parse_iso_ms(w) for w in ws) for ws in (drift, mw.latency, mw.energy) if ws]
    if not ends:
        return max(parse_iso_ms(w) for w in mw.windows())
    top = max(ends)
    return min(t for t in ends if t >= top - max_lag_ms)


def _labelled(mw: ModelWindows, window: str | None) -> int:
    """Outcomes matched into ``window`` so far (0 without any)."""
    engine = mw.accuracy.get(window) if window is not None else None
    return 0 if engine is None else int(engine.count)


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
