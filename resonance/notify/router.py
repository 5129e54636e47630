"""Which transitions notify whom: routing, de-duplication, acks, silences, re-notify.

Only transitions reach the ``alerts`` topic, but Kafka is at-least-once, so a
replayed transition (same alert id, same transition, same ``seq``) is announced
once. Acked alerts stay quiet (whatever happens to them next), silenced ones for
as long as the silence lasts. Alerts still firing after ``renotify_minutes`` get
a reminder, again after every interval, until they resolve or are acked.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from resonance.notify.alert import RENOTIFY, Action, Alert
from resonance.notify.config import Match, NotifyConfig
from resonance.notify.message import Notice

log = logging.getLogger("resonance.notify")
SEEN_LIMIT = 100_000


def _matches(pattern: str | list[str] | None, value: str) -> bool:
    if pattern is None:
        return True
    patterns = [pattern] if isinstance(pattern, str) else pattern
    return any(fnmatchcase(value, p) for p in patterns)


def route_matches(match: Match, alert: Alert) -> bool:
    """Every field given in ``match`` matches the alert (globs allowed).

    >>> from resonance.notify.alert import parse_alert
    >>> a = parse_alert({"schema": "resonance.alert/1", "id": "x", "transition": "firing",
    ...     "state": "firing", "consortium": "steel", "model": "defect-cls", "rule": "model_drift",
    ...     "severity": "critical", "started_at": "2026-01-01T00:00:00Z"})
    >>> route_matches(Match(consortium="steel", model="defect-*", severity=["critical"]), a)
    True
    >>> route_matches(Match(rule="accuracy_drop"), a)
    False
    """
    return (
        _matches(match.consortium, alert.consortium)
        and _matches(match.model, alert.model)
        and _matches(match.rule, alert.rule)
        and _matches(match.severity, alert.severity)
    )


def channels_for(config: NotifyConfig, alert: Alert) -> list[str]:
    """Channel names of every matching route, in order, each once."""
    if config.routes is None:
        return list(config.channels)
    names: dict[str, None] = {}
    for route in config.routes:
        if route_matches(route.match, alert):
            names.update(dict.fromkeys(route.channels))
    return list(names)


@dataclass
class _Active:
    alert: Alert
    last_notified: datetime


class Router:
    """Decides, for each alert record, which channels hear about it and when again."""

    def __init__(
        self,
        config: NotifyConfig,
        send: Callable[[str, Notice, Callable[[], None] | None], None],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.send = send
        self.now = now
        self.actions: list[Action] = []
        self.acked: set[str] = set()
        self.active: dict[str, _Active] = {}
        self._seen: OrderedDict[tuple[str, str, int], None] = OrderedDict()

    def on_action(self, action: Action) -> None:
        if action.action == "ack" and action.alert_id:
            self.acked.add(action.alert_id)
        else:
            self.actions.append(action)

    def quiet(self, alert: Alert) -> bool:
        """Acked, or covered by a silence in force now."""
        if alert.id in self.acked:
            return True
        now = self.now()
        self.actions = [a for a in self.actions if a.until is None or a.until > now]
        return any(a.covers(alert, now) for a in self.actions)

    def on_alert(self, alert: Alert, done: Callable[[], None] | None = None) -> int:
        """Route one transition; returns how many channels it was queued for.

        ``done`` is called once every channel has finished with it (delivered or
        failed for good), or at once when nobody is to hear about it.
        """
        key = (alert.id, alert.transition, alert.seq)
        if alert.transition == "resolved":
            self.active.pop(alert.id, None)
        else:
            self.active[alert.id] = _Active(alert, self.now())
        duplicate = key in self._seen
        self._seen[key] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        names = [] if duplicate or self.quiet(alert) else channels_for(self.config, alert)
        if not names:
            if done:
                done()
            return 0
        finish = _countdown(len(names), done)
        for name in names:
            self.send(name, Notice(alert, alert.transition), finish)
        return len(names)

    def renotify(self) -> list[Notice]:
        """Reminders for alerts firing longer than ``renotify_minutes`` since the last word."""
        minutes = self.config.renotify_minutes
        if minutes is None:
            return []
        now = self.now()
        due = []
        for entry in self.active.values():
            if (now - entry.last_notified).total_seconds() >= minutes * 60:
                entry.last_notified = now
                if not self.quiet(entry.alert):
                    due.append(Notice(entry.alert, RENOTIFY))
        for notice in due:
            for name in channels_for(self.config, notice.alert):
                self.send(name, notice, None)
        return due


def _countdown(n: int, done: Callable[[], None] | None) -> Callable[[], None] | None:
    if done is None:
        return None
    left = [n]

    def finish() -> None:
        left[0] -= 1
        if left[0] == 0:
            done()

    return finish


class OffsetTracker:
    """Commit positions that never pass an alert still being delivered (at-least-once).

    >>> t = OffsetTracker()
    >>> d0, d1 = t.begin("p", 0), t.begin("p", 1)
    >>> d1(); t.commits()
    {'p': 0}
    >>> d0(); t.commits()
    {'p': 2}
    """

    def __init__(self) -> None:
        self._open: dict[object, set[int]] = {}
        self._next: dict[object, int] = {}

    def begin(self, tp: object, offset: int) -> Callable[[], None]:
        self._open.setdefault(tp, set()).add(offset)
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)
        return lambda: self._open.get(tp, set()).discard(offset)

    def commits(self, partitions: Iterable[object] | None = None) -> dict[object, int]:
        """``{partition: next offset to commit}``: below the oldest open alert."""
        out = {}
        for tp in self._next if partitions is None else partitions:
            if tp in self._next:
                pending = self._open.get(tp)
                out[tp] = min(pending) if pending else self._next[tp]
        return out

    def forget(self) -> None:
        """After a rebalance: offsets of partitions we may no longer own are moot."""
        self._open.clear()
        self._next.clear()
