"""The notifier's delivery log in ClickHouse: rows from the ``deliveries`` topic, read back.

Every attempt to tell a channel about an alert is one ``resonance.delivery/1``
record (status ``sent``, ``digested``, ``retrying`` or ``failed``, with the HTTP
status and the error). The sink stores them (:func:`delivery_rows`); the console
and ``resonance alerts show`` read them with :func:`deliveries_for`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from warehouse.backend import Backend, rows

DELIVERY_SCHEMA = "resonance.delivery/1"
STATUSES = ("sent", "digested", "retrying", "failed")
COLUMNS = (
    "alert_id", "transition", "channel", "attempt", "status", "http_status", "error", "at",
    "digest_of",
)  # fmt: skip


def _epoch_ms(text: Any) -> int:
    if not isinstance(text, str) or not text:
        raise ValueError("delivery field 'at': expected an ISO-8601 time")
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return int(when.timestamp() * 1000)


def parse_delivery(record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one ``deliveries`` record; raises ValueError naming the bad field.

    >>> parse_delivery({"schema": "resonance.delivery/1", "alert_id": "a", "transition": "firing",
    ...     "channel": "ops", "attempt": 1, "status": "sent", "http_status": 200, "error": None,
    ...     "at": "2026-01-01T00:00:00Z", "digest_of": []})["at"]
    1767225600000
    """
    if record.get("schema") != DELIVERY_SCHEMA:
        raise ValueError(f"delivery field 'schema': expected {DELIVERY_SCHEMA!r}")
    for name in ("alert_id", "transition", "channel"):
        if not isinstance(record.get(name), str) or not record[name]:
            raise ValueError(f"delivery field {name!r}: expected a non-empty string")
    if record.get("status") not in STATUSES:
        raise ValueError(f"delivery field 'status': expected one of {STATUSES}")
    attempt, http = record.get("attempt"), record.get("http_status")
    if not isinstance(attempt, int) or isinstance(attempt, bool) or not 0 <= attempt < 65536:
        raise ValueError("delivery field 'attempt': expected an integer")
    if http is not None and (not isinstance(http, int) or not 0 <= http < 65536):
        raise ValueError("delivery field 'http_status': expected an integer or null")
    error = record.get("error")
    return {
        "alert_id": record["alert_id"],
        "transition": record["transition"],
        "channel": record["channel"],
        "attempt": attempt,
        "status": record["status"],
        "http_status": http,
        "error": None if error is None else str(error)[:1000],
        "at": _epoch_ms(record.get("at")),
        "digest_of": [str(i) for i in record.get("digest_of") or []],
    }


def delivery_rows(records: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Parsed delivery records → ``deliveries`` columns."""
    cols: dict[str, list] = defaultdict(list)
    for rec in records:
        for name in COLUMNS:
            cols[name].append(rec[name])
    return pa.table(
        {
            "alert_id": pa.array(cols["alert_id"], pa.string()),
            "transition": pa.array(cols["transition"], pa.string()),
            "channel": pa.array(cols["channel"], pa.string()),
            "attempt": pa.array(cols["attempt"], pa.uint16()),
            "status": pa.array(cols["status"], pa.string()),
            "http_status": pa.array(cols["http_status"], pa.uint16()),
            "error": pa.array(cols["error"], pa.string()),
            "at": pa.array(cols["at"], pa.timestamp("ms", tz="UTC")),
            "digest_of": pa.array(cols["digest_of"], pa.list_(pa.string())),
        }
    )


_SELECT = """
SELECT alert_id, transition, channel, attempt, status, http_status, error,
       formatDateTime(at, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS at, digest_of
FROM deliveries FINAL
"""


def deliveries_for(backend: Backend, alert_id: str) -> list[dict[str, Any]]:
    """Every recorded attempt for ``alert_id``, oldest first (the keys of the topic record)."""
    sql = _SELECT + "WHERE alert_id = {alert_id:String} ORDER BY at, channel, attempt"
    return [_clean(r) for r in rows(backend.query(sql, {"alert_id": alert_id}))]


def recent_deliveries(backend: Backend, limit: int = 50) -> list[dict[str, Any]]:
    """The latest ``limit`` attempts over all alerts, newest first (for the console)."""
    sql = _SELECT + "ORDER BY at DESC, alert_id, channel LIMIT {limit:UInt32}"
    return [_clean(r) for r in rows(backend.query(sql, {"limit": limit}))]


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    row["at"] = row["at"][:23] + "Z" if len(row["at"]) > 24 else row["at"]
    row["attempt"] = int(row["attempt"])
    row["digest_of"] = list(row["digest_of"] or [])
    return row


def format_deliveries(records: Sequence[Mapping[str, Any]]) -> str:
    """A table of attempts for a terminal (``resonance alerts show ID``).

    >>> print(format_deliveries([{"at": "2026-01-01T00:00:00.000Z", "channel": "ops",
    ...     "transition": "firing", "attempt": 1, "status": "sent", "http_status": 200,
    ...     "error": None, "digest_of": []}]))
    at                        channel      transition  attempt  status    http  error
    2026-01-01T00:00:00.000Z  ops          firing            1  sent       200
    """
    if not records:
        return "no deliveries recorded"
    lines = [
        f"{'at':<24}  {'channel':<11}  {'transition':<10}  attempt  {'status':<8}  http  error"
    ]
    for r in records:
        http = "" if r["http_status"] is None else str(r["http_status"])
        error = r["error"] or (f"digest of {len(r['digest_of'])}" if r["digest_of"] else "")
        lines.append(
            f"{r['at']:<24}  {r['channel']:<11.11}  {r['transition']:<10}  {r['attempt']:>7}  "
            f"{r['status']:<8}  {http:>4}  {error}".rstrip()
        )
    return "\n".join(lines)
