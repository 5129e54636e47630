"""Alert transitions and alert actions, as the notifier reads them from Kafka.

The policy (in the workers) decides when an alert fires, escalates or resolves and
publishes one ``resonance.alert/1`` record per transition on ``alerts``; acks and
silences arrive as ``resonance.alert-action/1`` on ``alert-actions``. The notifier
never re-derives a verdict: it only delivers these records. A record it cannot read
raises ValueError naming the field, and the caller logs and skips it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ALERT_SCHEMA = "resonance.alert/1"
ACTION_SCHEMA = "resonance.alert-action/1"
TRANSITIONS = ("firing", "escalated", "resolved")
RENOTIFY = "renotify"
"""Transition label of a reminder for an alert still firing after ``renotify_minutes``."""


@dataclass(frozen=True, slots=True)
class Feature:
    feature: str
    kind: str
    statistic: str
    value: float
    p_value: float | None
    n: int


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert state transition (the pinned ``resonance.alert/1`` record)."""

    id: str
    transition: str
    state: str
    consortium: str
    model: str
    model_version: str
    rule: str
    severity: str
    started_at: str
    resolved_at: str | None = None
    window_start: str = ""
    emitted_at: str = ""
    value: float | None = None
    threshold: float | None = None
    features: tuple[Feature, ...] = ()
    policy_version: str = ""
    seq: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.consortium}/{self.model}"


def _text(record: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = record.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"alert field {name!r}: expected a non-empty string, got {value!r:.60}")
    return value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_alert(record: Mapping[str, Any]) -> Alert:
    """Validate one decoded ``alerts`` record.

    >>> a = parse_alert({"schema": "resonance.alert/1", "id": "a1", "transition": "firing",
    ...     "state": "firing", "consortium": "steel", "model": "m", "model_version": "1",
    ...     "rule": "feature_drift", "severity": "warn", "started_at": "2026-01-01T00:00:00Z",
    ...     "features": [{"feature": "temp", "kind": "numeric", "statistic": "psi",
    ...                   "value": 0.31, "p_value": 0.001, "n": 500}]})
    >>> a.key, a.features[0].statistic
    ('steel/m', 'psi')
    """
    if record.get("schema") != ALERT_SCHEMA:
        raise ValueError(f"alert field 'schema': expected {ALERT_SCHEMA!r}")
    transition = _text(record, "transition")
    if transition not in TRANSITIONS:
        raise ValueError(f"alert field 'transition': {transition!r} not in {TRANSITIONS}")
    features = []
    for f in record.get("features") or []:
        if not isinstance(f, Mapping):
            raise ValueError("alert field 'features': expected objects")
        features.append(
            Feature(
                feature=str(f.get("feature", "")),
                kind=str(f.get("kind", "")),
                statistic=str(f.get("statistic", "")),
                value=_number(f.get("value")) or 0.0,
                p_value=_number(f.get("p_value")),
                n=int(f.get("n") or 0),
            )
        )
    return Alert(
        id=_text(record, "id"),
        transition=transition,
        state=_text(record, "state"),
        consortium=_text(record, "consortium"),
        model=_text(record, "model"),
        model_version=_text(record, "model_version", required=False),
        rule=_text(record, "rule"),
        severity=_text(record, "severity"),
        started_at=_text(record, "started_at"),
        resolved_at=record.get("resolved_at")
        if isinstance(record.get("resolved_at"), str)
        else None,
        window_start=_text(record, "window_start", required=False),
        emitted_at=_text(record, "emitted_at", required=False),
        value=_number(record.get("value")),
        threshold=_number(record.get("threshold")),
        features=tuple(features),
        policy_version=_text(record, "policy_version", required=False),
        seq=int(record.get("seq") or 0),
        raw=dict(record),
    )


@dataclass(frozen=True, slots=True)
class Action:
    """An ack (of one alert id) or a silence (by id, or consortium/model/rule, until a time)."""

    action: str
    consortium: str
    alert_id: str | None = None
    model: str | None = None
    rule: str | None = None
    until: datetime | None = None
    by: str = ""

    def covers(self, alert: Alert, now: datetime) -> bool:
        """Whether this action keeps ``alert`` quiet at ``now``.

        >>> from datetime import datetime, UTC
        >>> s = Action("silence", "steel", model="m", until=datetime(2030, 1, 1, tzinfo=UTC))
        >>> a = parse_alert({"schema": "resonance.alert/1", "id": "x", "transition": "firing",
        ...     "state": "firing", "consortium": "steel", "model": "m", "rule": "r",
        ...     "severity": "warn", "started_at": "2026-01-01T00:00:00Z"})
        >>> [s.covers(a, datetime(year, 1, 1, tzinfo=UTC)) for year in (2029, 2031)]
        [True, False]
        """
        if self.until is not None and now >= self.until:
            return False
        if self.alert_id is not None:
            return self.alert_id == alert.id
        if self.action == "ack":
            return False  # an ack names one alert
        return (
            self.consortium == alert.consortium
            and self.model in (None, alert.model)
            and self.rule in (None, alert.rule)
        )


def parse_time(text: str) -> datetime:
    """ISO-8601 (``Z`` or an offset) → aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_action(record: Mapping[str, Any]) -> Action:
    """Validate one decoded ``alert-actions`` record."""
    if record.get("schema") != ACTION_SCHEMA:
        raise ValueError(f"action field 'schema': expected {ACTION_SCHEMA!r}")
    action = record.get("action")
    if action not in ("ack", "silence"):
        raise ValueError(f"action field 'action': {action!r} is neither 'ack' nor 'silence'")
    until = record.get("until")
    return Action(
        action=action,
        consortium=str(record.get("consortium") or ""),
        alert_id=record.get("alert_id") or None,
        model=record.get("model") or None,
        rule=record.get("rule") or None,
        until=parse_time(until) if isinstance(until, str) and until else None,
        by=str(record.get("by") or ""),
    )
