"""Alert lifecycle per (model version, rule): ``for`` before firing, escalation, hysteresis
before resolving, one alert per episode. Pure and deterministic: the same sequence of
window conditions gives the same transitions, ids and ``seq`` numbers, so a replay of the
same windows re-emits identical records (the sink keeps one per ``(id, seq)``).

State (JSON-able dict per rule): ``run``/``run_start`` (consecutive breaching windows and
the start of the first), ``clear``/``clear_start`` (the same for healthy windows while an
alert is open), ``open`` (``started_at``, ``severity``, ``seq``) or None. A window whose
condition is unknown (too few samples) leaves the state as it is.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from processors.policy import Condition

SCHEMA = "resonance.alert/1"


def iso(ms: int | float | None) -> str | None:
    """Epoch ms as ISO-8601 UTC with a ``Z``.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    text = dt.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def alert_id(consortium: str, model: str, model_version: str, rule: str, started_at: str) -> str:
    """sha1 hex[:20] of ``consortium|model|model_version|rule|started_at`` (ISO).

    >>> alert_id("steel", "m", "1", "feature_drift", "2024-01-01T00:00:00Z")
    'dec80e0fb71ab7eea616'
    """
    text = "|".join((consortium, model, model_version, rule, started_at))
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def advance(
    state: dict[str, Any], cond: Condition, window_start: int, for_windows: int, clear_windows: int
) -> tuple[str, str] | None:
    """Apply one window's condition; returns ``(transition, severity)`` or None.

    >>> s = {}
    >>> levels = ["warn", "warn", "critical", "ok", "warn", "ok", "ok"]
    >>> [advance(s, Condition(lv), t, 2, 2) for t, lv in enumerate(levels)][1:3]
    [('firing', 'warn'), ('escalated', 'critical')]
    >>> s["last_resolved"]["seq"], s["last_resolved"]["severity"]
    (2, 'critical')
    >>> s["open"] is None
    True
    """
    if cond.level is None:
        return None
    state.setdefault("open", None)
    opened = state["open"]
    if cond.level in ("warn", "critical"):
        state["clear"], state["clear_start"] = 0, None
        if opened is not None:
            if opened["severity"] == "warn" and cond.level == "critical":
                opened["severity"] = "critical"
                opened["seq"] += 1
                return "escalated", "critical"
            return None
        state["run"] = state.get("run", 0) + 1
        if state.get("run_start") is None:
            state["run_start"] = window_start
        if state["run"] >= for_windows:
            state["open"] = {"started_at": state["run_start"], "severity": cond.level, "seq": 0}
            state["run"], state["run_start"] = 0, None
            return "firing", cond.level
        return None
    state["run"], state["run_start"] = 0, None
    if opened is None:
        return None
    state["clear"] = state.get("clear", 0) + 1
    if state.get("clear_start") is None:
        state["clear_start"] = window_start
    if state["clear"] >= clear_windows:
        opened["seq"] += 1
        opened["resolved_at"] = state["clear_start"]
        state["open"], state["clear"], state["clear_start"] = None, 0, None
        state["last_resolved"] = opened
        return "resolved", opened["severity"]
    return None


def transition_record(
    *,
    consortium: str,
    model: str,
    model_version: str,
    rule: str,
    transition: str,
    episode: dict[str, Any],
    window_start: int,
    cond: Condition,
    features: Sequence[dict[str, Any]],
    policy_version: str,
    emitted_at_ms: int,
) -> dict[str, Any]:
    """The ``alerts`` topic record of one transition (schema ``resonance.alert/1``)."""
    started = iso(episode["started_at"])
    resolved = episode.get("resolved_at") if transition == "resolved" else None
    return {
        "schema": SCHEMA,
        "id": alert_id(consortium, model, model_version, rule, started or ""),
        "transition": transition,
        "state": "resolved" if transition == "resolved" else "firing",
        "consortium": consortium,
        "model": model,
        "model_version": model_version,
        "rule": rule,
        "severity": episode["severity"],
        "started_at": started,
        "resolved_at": iso(resolved),
        "window_start": iso(window_start),
        "emitted_at": iso(emitted_at_ms),
        "value": cond.value,
        "threshold": cond.threshold,
        "features": list(features),
        "policy_version": policy_version,
        "seq": int(episode["seq"]),
    }


def rewind_point(decided: Sequence[dict[str, Any]], rule: str, changed_from: int) -> int | None:
    """Index in ``decided`` (the bounded record of decided windows, oldest first) from
    which ``rule`` is re-decided after late outcomes changed window ``changed_from``: the
    first window at or after it that follows the rule's last emitted transition, so an
    emitted transition is never retracted nor re-identified. None: nothing to re-decide.

    >>> decided = [{"t": t, "emitted": ["accuracy_drop"] if t == 2 else []} for t in range(5)]
    >>> rewind_point(decided, "accuracy_drop", 0), rewind_point(decided, "accuracy_drop", 3)
    (3, 3)
    >>> rewind_point(decided, "resonance_floor", 1), rewind_point(decided, "accuracy_drop", 9)
    (1, None)
    """
    start = 0
    for i, entry in enumerate(decided):
        if rule in entry.get("emitted", ()):
            start = i + 1
    for i in range(start, len(decided)):
        if decided[i]["t"] >= changed_from:
            return i
    return None


def replay(
    before: dict[str, Any],
    conditions: Sequence[tuple[int, Condition]],
    for_windows: int,
    clear_windows: int,
    on_transition: Callable[[int, str, dict[str, Any], dict[str, Any], Condition], None],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the lifecycle again from the state ``before`` the first window over re-decided
    ``(window_start, condition)`` pairs; ``on_transition(window_start, transition, episode,
    state, condition)`` sees each transition as it happens (live episode and state).
    Returns the final state and the state before each window; ``before`` is left as it
    was (the caller's record of the past).

    >>> seen = []
    >>> state, befores = replay({}, [(0, Condition(None)), (1, Condition("warn")),
    ...                              (2, Condition("warn"))], 2, 1,
    ...                         lambda t, tr, ep, _s, _c: seen.append((t, tr, ep["started_at"])))
    >>> seen, len(befores), befores[2]["run"]
    ([(2, 'firing', 1)], 3, 1)
    """
    state = copy.deepcopy(before)
    befores: list[dict[str, Any]] = []
    for t, cond in conditions:
        befores.append(copy.deepcopy(state))
        step = advance(state, cond, t, for_windows, clear_windows)
        if step is not None:
            episode = state["open"] if step[0] != "resolved" else state["last_resolved"]
            on_transition(t, step[0], episode, state, cond)
    return state, befores
