"""Reading stored alerts: one list for the CLI, the console, the demo summary and reports.

:func:`list_alerts` folds each alert's transitions (``alert_events``) into its current
state and joins its ack and any active silence (``alert_actions``). The keys are those of
``resonance alerts list --format json``; times are ISO-8601 UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from processors.alert_lifecycle import iso
from warehouse.backend import Backend, rows

KEYS = ("id", "consortium", "model", "model_version", "rule", "severity", "state",
        "started_at", "resolved_at", "features", "acked_by", "acked_at", "silenced")  # fmt: skip
STATES = ("firing", "resolved", "all")

_ALERTS_SQL = """
SELECT id, argMax(consortium, seq) AS consortium, argMax(model, seq) AS model,
       argMax(model_version, seq) AS model_version, argMax(rule, seq) AS rule,
       argMax(severity, seq) AS severity, argMax(state, seq) AS state,
       min(started_at) AS started_at, argMax(resolved_at, seq) AS resolved_at,
       arraySort(groupUniqArrayArray(features)) AS features
FROM (
    SELECT * FROM alert_events FINAL
    WHERE ({consortium:String} = '' OR consortium = {consortium:String})
      AND ({model:String} = '' OR model = {model:String})
)
GROUP BY id
ORDER BY started_at, id
"""


def iso_ms(value: Any) -> str | None:
    """A ClickHouse DateTime64 (datetime; DateTime may come as epoch seconds) as
    ``YYYY-MM-DDTHH:MM:SS[.fff]Z``."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return iso(value * 1000)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return iso(round(value.timestamp() * 1000))


def _silenced(alert: Mapping[str, Any], silences: list[dict[str, Any]]) -> bool:
    return any(
        s["consortium"] == alert["consortium"]
        and s["model"] in (None, alert["model"])
        and s["rule"] in (None, alert["rule"])
        for s in silences
    )


def list_alerts(
    backend: Backend,
    consortium: str | None = None,
    model: str | None = None,
    state: str = "all",
    since: datetime | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Alerts (one per episode) with their current state, ack and silence.

    ``since``: only alerts firing at or after it (still firing, or resolved after it).
    """
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    now = now or datetime.now(UTC)
    params = {"consortium": consortium or "", "model": model or ""}
    found = rows(backend.query(_ALERTS_SQL, params))
    acks = {
        r["alert_id"]: r
        for r in rows(backend.query(
            "SELECT alert_id, argMax(by, at) AS last_by, max(at) AS last_at "
            "FROM alert_actions FINAL WHERE action = 'ack' AND alert_id IS NOT NULL "
            "GROUP BY alert_id"))
    }  # fmt: skip
    silences = rows(backend.query(
        "SELECT consortium, model, rule FROM alert_actions FINAL "
        "WHERE action = 'silence' AND until > {now:DateTime64(3, 'UTC')}",
        {"now": now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}))  # fmt: skip
    out = []
    for r in found:
        if state != "all" and r["state"] != state:
            continue
        if since is not None:
            end = r["resolved_at"]
            if end is not None and _aware(end) < since:
                continue
        ack = acks.get(r["id"])
        out.append({
            "id": r["id"], "consortium": r["consortium"], "model": r["model"],
            "model_version": r["model_version"], "rule": r["rule"], "severity": r["severity"],
            "state": r["state"], "started_at": iso_ms(r["started_at"]),
            "resolved_at": iso_ms(r["resolved_at"]) if r["state"] == "resolved" else None,
            "features": list(r["features"]),
            "acked_by": ack["last_by"] if ack else None,
            "acked_at": iso_ms(ack["last_at"]) if ack else None,
            "silenced": _silenced(r, silences),
        })  # fmt: skip
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def alert_history(backend: Backend, alert_id: str) -> list[dict[str, Any]]:
    """Every transition of one alert, in order (the ``alerts`` topic records)."""
    import orjson

    found = rows(backend.query(
        "SELECT payload FROM alert_events FINAL WHERE id = {id:String} ORDER BY seq",
        {"id": alert_id}))  # fmt: skip
    return [orjson.loads(r["payload"]) for r in found]


def alert_actions(backend: Backend, alert_id: str) -> list[dict[str, Any]]:
    """Acks of one alert, oldest first."""
    found = rows(backend.query(
        "SELECT action, by, note, at FROM alert_actions FINAL "
        "WHERE alert_id = {id:String} ORDER BY at", {"id": alert_id}))  # fmt: skip
    return [r | {"at": iso_ms(r["at"])} for r in found]


_VERDICTS_SQL = """
SELECT consortium, model, model_version, window_start, drift_share, data_fit, model_quality,
       service_health, resonance_index, drifting, conditions
FROM verdicts FINAL
WHERE window_start >= toDateTime({since:Int64}, 'UTC')
  AND window_start < toDateTime({until:Int64}, 'UTC')
  AND ({consortium:String} = '' OR consortium = {consortium:String})
  AND ({model:String} = '' OR model = {model:String})
ORDER BY consortium, model, window_start
"""


def read_verdicts(
    backend: Backend,
    since_s: int = 0,
    until_s: int = 2**31 - 1,
    consortium: str | None = None,
    model: str | None = None,
) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """Stored window verdicts: (consortium, model) → window ISO start → verdict row."""
    import orjson

    params = {"since": since_s, "until": until_s, "consortium": consortium or "",
              "model": model or ""}  # fmt: skip
    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows(backend.query(_VERDICTS_SQL, params)):
        window = iso_ms(r["window_start"])
        r["conditions"] = orjson.loads(r["conditions"])
        r["drifting"] = list(r["drifting"])
        out.setdefault((r["consortium"], r["model"]), {})[window] = r
    return out


def policy_versions(
    backend: Backend,
    consortium: str,
    since_s: int,
    until_s: int,
    alert_ids: Sequence[str] = (),
) -> list[str]:
    """The policy versions a consortium's windows in [since_s, until_s) and its stored
    alerts ``alert_ids`` were decided under, sorted (one read for the report's provenance)."""
    sql = (
        "SELECT DISTINCT policy_version FROM verdicts FINAL WHERE consortium = {c:String} "
        "AND window_start >= toDateTime({since:Int64}) "
        "AND window_start < toDateTime({until:Int64})"
    )
    if alert_ids:
        sql += (
            " UNION DISTINCT SELECT DISTINCT policy_version FROM alert_events FINAL"
            " WHERE consortium = {c:String} AND id IN {ids:Array(String)}"
        )
    params = {"c": consortium, "since": since_s, "until": until_s, "ids": list(alert_ids)}
    found = {r["policy_version"] for r in rows(backend.query(sql, params))}
    return sorted(v for v in found if v)


DRIFT_RULES = ("feature_drift", "model_drift")


def drift_status(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], str | None]:
    """(consortium, model) → ``started_at`` of its first drift alert, for every model that
    had one: "drift detected" everywhere means "a drift rule's alert fired"."""
    out: dict[tuple[str, str], str | None] = {}
    for a in alerts:
        if a["rule"] in DRIFT_RULES:
            key = (a["consortium"], a["model"])
            first = out.get(key)
            out[key] = a["started_at"] if first is None else min(first, a["started_at"])
    return out


def range_index(verdicts: dict[str, dict[str, Any]]) -> float | None:
    """The resonance index of a range: the mean of its windows' stored indexes (windows
    without one left out). One definition for the console, the query and the SQL."""
    values = [v["resonance_index"] for v in verdicts.values() if v["resonance_index"] is not None]
    return sum(values) / len(values) if values else None
