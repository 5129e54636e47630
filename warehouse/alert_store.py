"""Alert transitions and alert actions → warehouse rows (tables of migration 0002).

One function per record shape, shared by the sink (records from the ``alerts`` and
``alert-actions`` topics), the evaluator (its own transitions) and the CLI (acks and
silences written directly). Every insert is idempotent: transitions collapse on
``(id, seq)``, actions on a sha1 of their JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from warehouse.backend import Backend

ACTION_SCHEMA = "resonance.alert-action/1"
_MS = pa.timestamp("ms", tz="UTC")


def parse_iso_ms(value: Any) -> int | None:
    """ISO-8601 (``Z`` or offset) or epoch ms → epoch ms; None stays None.

    >>> parse_iso_ms("1970-01-01T00:01:00Z"), parse_iso_ms(None)
    (60000, None)
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    text = str(value).replace("Z", "+00:00")
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _need(rec: Mapping[str, Any], name: str) -> Any:
    value = rec.get(name)
    if value is None or value == "":
        raise ValueError(f"alert field {name!r} is missing")
    return value


def transition_rows(records: Sequence[Mapping[str, Any]]) -> pa.Table:
    """``resonance.alert/1`` records → ``alert_events`` columns; raises ValueError naming
    the field of the first bad record."""
    cols: dict[str, list] = {k: [] for k in (
        "id", "seq", "transition", "state", "consortium", "model", "model_version", "rule",
        "severity", "started_at", "resolved_at", "window_start", "emitted_at", "value",
        "threshold", "features", "policy_version", "payload")}  # fmt: skip
    for rec in records:
        for name in ("id", "transition", "state", "consortium", "model", "rule", "severity"):
            cols[name].append(str(_need(rec, name)))
        cols["model_version"].append(str(rec.get("model_version") or ""))
        cols["seq"].append(int(rec.get("seq") or 0))
        for name in ("started_at", "window_start", "emitted_at"):
            cols[name].append(parse_iso_ms(_need(rec, name)))
        cols["resolved_at"].append(parse_iso_ms(rec.get("resolved_at")))
        for name in ("value", "threshold"):
            v = rec.get(name)
            cols[name].append(float(v) if isinstance(v, int | float) else None)
        feats = rec.get("features") or []
        cols["features"].append([str(f.get("feature", "")) for f in feats if isinstance(f, dict)])
        cols["policy_version"].append(str(rec.get("policy_version") or ""))
        cols["payload"].append(orjson.dumps(rec, option=orjson.OPT_SORT_KEYS).decode())
    types = {"seq": pa.uint32(), "value": pa.float64(), "threshold": pa.float64(),
             "features": pa.list_(pa.string())}  # fmt: skip
    for name in ("started_at", "resolved_at", "window_start", "emitted_at"):
        types[name] = _MS
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})


def action_rows(records: Sequence[Mapping[str, Any]]) -> pa.Table:
    """``resonance.alert-action/1`` records → ``alert_actions`` columns."""
    cols: dict[str, list] = {k: [] for k in (
        "action", "alert_id", "consortium", "model", "rule", "until", "by", "note", "at",
        "dedup_key")}  # fmt: skip
    for rec in records:
        action = _need(rec, "action")
        if action not in ("ack", "silence"):
            raise ValueError(
                f"alert-action field 'action': expected ack or silence, got {action!r}"
            )
        cols["action"].append(action)
        cols["consortium"].append(str(rec.get("consortium") or ""))
        for name in ("alert_id", "model", "rule", "note"):
            v = rec.get(name)
            cols[name].append(None if v is None else str(v))
        cols["until"].append(parse_iso_ms(rec.get("until")))
        cols["by"].append(str(_need(rec, "by")))
        cols["at"].append(parse_iso_ms(_need(rec, "at")))
        payload = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
        cols["dedup_key"].append(hashlib.sha1(payload).hexdigest())
    types = {"until": _MS, "at": _MS}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})


def store_transitions(backend: Backend, records: Sequence[Mapping[str, Any]]) -> int:
    return backend.insert_arrow("alert_events", transition_rows(records)) if records else 0


def store_actions(backend: Backend, records: Sequence[Mapping[str, Any]]) -> int:
    return backend.insert_arrow("alert_actions", action_rows(records)) if records else 0
