"""Reads of the monthly report (issue 15): months, known names, volumes, DLQ, hubs, alerts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from errors import UsageError
from warehouse.backend import Backend
from warehouse.kinds import KINDS
from warehouse.queries.merged import Filters, QueryResult, _engine, _extra_by, _finish, _Query
from warehouse.queries.metrics import hub_factors_table
from warehouse.queries.times import parse_time
from warehouse.states import iso as _iso
from warehouse.states import summed_sql

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_range(month: str) -> tuple[int, int]:
    """``YYYY-MM`` → [start, end) epoch seconds of that calendar month in UTC.

    >>> [_iso(t) for t in month_range("2026-12")]
    ['2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z']
    """
    match = _MONTH.match(month.strip()) if isinstance(month, str) else None
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1970:
        raise UsageError(f"--month {month!r}: use YYYY-MM, e.g. 2026-11")
    year, mon = int(match[1]), int(match[2])
    nxt = (year + 1, 1) if mon == 12 else (year, mon + 1)
    lo = datetime(year, mon, 1, tzinfo=UTC)
    return int(lo.timestamp()), int(datetime(*nxt, 1, tzinfo=UTC).timestamp())


def known_consortia(backend: Backend) -> list[str]:
    """Consortia with a stored reference profile or any stored volume, sorted."""
    table = backend.query(
        "SELECT DISTINCT consortium FROM ("
        " SELECT consortium FROM references"
        " UNION ALL SELECT consortium FROM scalars_day WHERE kind = 'volume'"
        " UNION ALL SELECT consortium FROM volume_minute"
        ") ORDER BY consortium"
    )
    return [r["consortium"] for r in table.to_pylist() if r["consortium"]]


def known_models(backend: Backend, consortium: str) -> list[str]:
    """Models of ``consortium`` with a stored reference profile or any stored volume."""
    table = backend.query(
        "SELECT DISTINCT model FROM ("
        " SELECT consortium, model FROM references"
        " UNION ALL SELECT consortium, model FROM scalars_day WHERE kind = 'volume'"
        " UNION ALL SELECT consortium, model FROM volume_minute"
        ") WHERE consortium = {c:String} ORDER BY model",
        {"c": consortium},
    )
    return [r["model"] for r in table.to_pylist() if r["model"]]


def volume(
    backend: Backend,
    consortium: str,
    *,
    model: str | None = None,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
    by: Sequence[str] = (),
    **filters: str | None,
) -> QueryResult:
    """Volume counters (processors.volume.VOLUME_FIELDS) per bucket, model and version."""
    from processors.volume import VOLUME_FIELDS

    q = _Query.of(consortium, model, filters, start, end, step)
    keys = ["model", "model_version", *_extra_by(by)]
    rows = []
    for m in q.merged(backend, "volume", keys):
        counts = {f: int(m.state.get(f) or 0) for f in VOLUME_FIELDS}
        rows.append({"bucket": _iso(m.bucket), **m.keys, **counts})
    return _finish(rows, ["bucket", *keys])


def late_volume(backend: Backend, consortium: str, lo: int, hi: int) -> QueryResult:
    """Volume counters of partials flagged late (past the allowed lateness), per model.

    Read from the minute table: the rollups sum late and on-time rows together.
    """
    from processors.volume import VOLUME_FIELDS

    where, params = Filters(consortium).where()
    span = [
        "late = 1",
        "window_start >= toDateTime({lo:Int64}, 'UTC')",
        "window_start < toDateTime({hi:Int64}, 'UTC')",
    ]
    keys = ["model", "model_version"]
    sql = summed_sql(KINDS["volume"], keys, where=[where, *span])
    table = backend.query(f"{sql} ORDER BY model, model_version", params | {"lo": lo, "hi": hi})
    rows = []
    for r in table.to_pylist():
        sums = dict(r["sums"] or [])
        counts = {f: int(sums.get(f) or 0) for f in VOLUME_FIELDS}
        rows.append({"model": r["model"], "model_version": r["model_version"], **counts})
    return _finish(rows, ["model", "model_version"])


def dlq_counts(backend: Backend, consortium: str, lo: int, hi: int) -> QueryResult:
    """Rejected records received in [lo, hi) by model, source topic and reason.

    DLQ rows carry no tenancy columns: the rejected message's own JSON names its
    consortium (as the dashboards' DLQ panels read it); a message too broken to
    name one belongs to no consortium's report. DLQ rows have no event time, so
    they are counted by when they were received.
    """
    table = backend.query(
        "SELECT JSONExtractString(raw, 'model') AS model, source_topic, reason, "
        "count() AS records FROM dlq FINAL "
        "WHERE JSONExtractString(raw, 'consortium') = {consortium:String} "
        "AND received_at >= toDateTime64({lo:Int64}, 3, 'UTC') "
        "AND received_at < toDateTime64({hi:Int64}, 3, 'UTC') "
        "GROUP BY model, source_topic, reason ORDER BY model, source_topic, reason",
        {"consortium": consortium, "lo": lo, "hi": hi},
    )
    return _finish(table.to_pylist(), ["model", "source_topic", "reason", "records"])


def hub_alternatives(
    backend: Backend, consortium: str, *, start: Any = None, end: Any = None
) -> QueryResult:
    """Per model, version and hub it ran at: kWh and gCO2e of the same IT energy at each
    national hub's grid factor and PUE (``actual`` marks the hub where it ran)."""
    from processors.energy import EnergyMeter

    q = _Query.of(consortium, None, {}, start, end, None)
    factors = hub_factors_table(backend)
    rows = []
    for m in q.merged(backend, "energy", ["model", "model_version", "hub"]):
        engine = _engine(EnergyMeter, m)
        for hub, (grid, pue) in sorted(factors.items()):
            result = engine.result(grid_gco2_per_kwh=grid, pue=pue)
            rows.append(
                {
                    "model": m.keys["model"],
                    "model_version": m.keys["model_version"],
                    "ran_at": m.keys["hub"],
                    "hub": hub,
                    "actual": hub == m.keys["hub"],
                    "grid_gco2_per_kwh": grid,
                    "pue": pue,
                    "it_kwh": result["it_kwh"],
                    "kwh": result["kwh"],
                    "gco2e": result["gco2e"],
                }
            )
    return _finish(rows, ["model", "model_version", "ran_at", "hub"])


def stored_alerts(backend: Backend, consortium: str, lo: int, hi: int) -> list[dict[str, Any]]:
    """The consortium's stored alerts active at some time in [lo, hi), oldest first.

    Read through ``warehouse.alert_queries.list_alerts``, the alert lifecycle's own
    read path.
    """
    from warehouse.alert_queries import list_alerts

    alerts = list_alerts(backend, consortium=consortium, state="all")
    out = []
    for a in alerts:
        started = parse_time(a["started_at"]) if a.get("started_at") else None
        resolved = parse_time(a["resolved_at"]) if a.get("resolved_at") else None
        if a.get("consortium") != consortium or started is None or started >= hi:
            continue
        if resolved is not None and resolved < lo:
            continue
        out.append(dict(a))
    return sorted(out, key=lambda a: (a["started_at"], a.get("model") or "", a.get("id") or ""))
