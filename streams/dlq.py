"""Dead-letter records: what the ``dlq`` topic carries for every rejected message.

One record (JSON) per rejected message, carrying all of its rejections::

    {"reason": "non-finite number (NaN/Infinity)", "field": "features.strip_temp_c",
     "rows": [17], "n_rows": 1,
     "rejections": [{"reason": ..., "field": ..., "rows": [17], "n_rows": 1}, ...],
     "rejections_omitted": 0,
     "tenancy": {"consortium": "steel", ..., "hub": "yangtze-river-delta"},
     "source": {"topic": "telemetry", "partition": 3, "offset": 1534},
     "raw": "<base64 of the first raw_max_bytes of the message>", "raw_size": 812345,
     "raw_sha256": "<hex of the full message>", "raw_truncated": true,
     "received_at": 1795946400000}

``reason``/``field``/``rows`` repeat the first rejection (``rows`` is ``null`` when the
whole message was rejected). ``tenancy`` is the *validated* envelope, or ``null`` when the
message was too broken to name one. Every record is bounded (:class:`DlqLimits`): at most
``max_rejections`` rejections (the count of the rest in ``rejections_omitted``), at most
``max_rows`` row indices each (all of them counted in ``n_rows``), reasons and fields cut
to a few hundred characters, raw bytes cut to ``max_raw_bytes``; and if the record is
still larger than ``max_record_bytes``, the raw bytes shrink until it fits. A record can
therefore never exceed the producer's message limit (docs/streaming.md, "Bounds").

>>> rec = parse_dlq_record(dlq_record(b"{", "invalid JSON", None, None, "telemetry", 0, 7,
...                                   received_at=1))
>>> rec.raw, rec.reason, rec.rows, rec.source, rec.raw_size
(b'{', 'invalid JSON', None, {'topic': 'telemetry', 'partition': 0, 'offset': 7}, 1)
>>> big = message_record(b"x" * 100_000, [], "telemetry", 0, 1, limits=DlqLimits(1000))
>>> r = parse_dlq_record(big); len(r.raw), r.raw_size, r.raw_truncated, len(big) < 2000
(1000, 100000, True, True)
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "DlqLimits",
    "DlqRecord",
    "dlq_record",
    "dlq_records",
    "message_record",
    "parse_dlq_record",
]

TENANCY_FIELDS = ("consortium", "member", "model", "model_version", "site", "hub")
#: characters kept of a reason / a field name (longer ones end in "...")
MAX_REASON_CHARS = 300
MAX_FIELD_CHARS = 200
#: Kafka's default producer/broker message limit; a record must stay well below it
PRODUCER_MESSAGE_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class DlqLimits:
    """Bounds of one DLQ record (documented defaults; ``RESONANCE_DLQ_*`` settings)."""

    max_raw_bytes: int = 65_536
    max_rejections: int = 20
    max_rows: int = 100
    max_record_bytes: int = 131_072

    def __post_init__(self) -> None:
        if not 0 < self.max_record_bytes <= PRODUCER_MESSAGE_LIMIT - 1024:
            raise ValueError(f"max_record_bytes must be in (0, {PRODUCER_MESSAGE_LIMIT - 1024}]")


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """A parsed DLQ record; ``raw`` is decoded back to the (possibly truncated) bytes."""

    reason: str
    field: str | None
    rows: list[int] | None
    source: dict[str, Any]
    raw: bytes
    received_at: int
    rejections: list[dict[str, Any]] = field(default_factory=list)
    rejections_omitted: int = 0
    tenancy: dict[str, str] | None = None
    raw_size: int = 0
    raw_sha256: str = ""
    raw_truncated: bool = False


def _text(value: Any, limit: int) -> str:
    """A JSON-safe string of at most ``limit`` characters (lone surrogates replaced)."""
    s = value if isinstance(value, str) else str(value)
    if len(s) > limit:
        s = s[: limit - 3] + "..."
    return s.encode("utf-8", "replace").decode("utf-8")


def _rejection(r: Any, max_rows: int) -> dict[str, Any]:
    rows = getattr(r, "rows", None)
    fld = getattr(r, "field", None)
    return {
        "reason": _text(getattr(r, "reason", r), MAX_REASON_CHARS),
        "field": None if fld is None else _text(fld, MAX_FIELD_CHARS),
        "rows": None if rows is None else [int(i) for i in list(rows)[:max_rows]],
        "n_rows": None if rows is None else len(rows),
    }


def _tenancy(tenancy: Any) -> dict[str, str] | None:
    if tenancy is None:
        return None
    get = tenancy.get if isinstance(tenancy, Mapping) else lambda k: getattr(tenancy, k, None)
    return {k: _text(get(k) or "", 64) for k in TENANCY_FIELDS}


def message_record(
    raw: bytes,
    rejections: Sequence[Any],
    topic: str,
    partition: int,
    offset: int,
    *,
    tenancy: Any = None,
    limits: DlqLimits = DlqLimits(),
    received_at: int | None = None,
) -> bytes:
    """The one DLQ record of a rejected message (JSON bytes, at most
    ``limits.max_record_bytes``); ``rejections`` hold ``reason``, ``field``, ``rows``."""
    rejs = [_rejection(r, limits.max_rows) for r in rejections[: limits.max_rejections]]
    first = rejs[0] if rejs else {"reason": "rejected", "field": None, "rows": None}
    record: dict[str, Any] = {
        "reason": first["reason"],
        "field": first["field"],
        "rows": first["rows"],
        "n_rows": first.get("n_rows"),
        "rejections": rejs,
        "rejections_omitted": max(0, len(rejections) - limits.max_rejections),
        "tenancy": _tenancy(tenancy),
        "source": {"topic": _text(topic, 255), "partition": int(partition), "offset": int(offset)},
        "raw": "",
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "raw_truncated": False,
        "received_at": int(time.time() * 1000) if received_at is None else int(received_at),
    }
    keep = min(len(raw), limits.max_raw_bytes)
    while True:
        record["raw"] = base64.b64encode(raw[:keep]).decode("ascii")
        record["raw_truncated"] = keep < len(raw)
        data = orjson.dumps(record)
        if len(data) <= limits.max_record_bytes:
            return data
        if keep:  # shrink the raw bytes first: the hash and size still identify them
            keep = max(0, keep - (len(data) - limits.max_record_bytes) * 3 // 4 - 4)
        elif record["rejections"]:
            record["rejections_omitted"] += len(record["rejections"])
            record["rejections"] = []
        else:
            record["rows"] = None
            return orjson.dumps(record)[: limits.max_record_bytes]  # unreachable in practice


def dlq_record(
    raw: bytes,
    reason: str,
    field: str | None,
    rows: Sequence[int] | None,
    topic: str,
    partition: int,
    offset: int,
    *,
    received_at: int | None = None,
    tenancy: Any = None,
    limits: DlqLimits = DlqLimits(),
) -> bytes:
    """The record of a message with one rejection (see :func:`message_record`)."""
    from streams.decode import Rejection

    rej = Rejection(reason, field, None if rows is None else tuple(rows))
    return message_record(
        raw, [rej], topic, partition, offset, tenancy=tenancy, limits=limits,
        received_at=received_at,
    )  # fmt: skip


def dlq_records(
    raw: bytes,
    rejections: Iterable[Any],
    topic: str,
    partition: int,
    offset: int,
    *,
    received_at: int | None = None,
) -> list[bytes]:
    """The message's record as a list (empty when nothing was rejected)."""
    rejs = list(rejections)
    if not rejs:
        return []
    return [message_record(raw, rejs, topic, partition, offset, received_at=received_at)]


def parse_dlq_record(data: bytes | str) -> DlqRecord:
    """Inverse of :func:`message_record`; raises ``ValueError`` on a malformed record."""
    try:
        obj = orjson.loads(data)
        source = obj["source"]
        raw = base64.b64decode(obj["raw"], validate=True)
        return DlqRecord(
            reason=str(obj["reason"]),
            field=obj["field"],
            rows=None if obj["rows"] is None else [int(r) for r in obj["rows"]],
            source={k: source[k] for k in ("topic", "partition", "offset")},
            raw=raw,
            received_at=int(obj["received_at"]),
            rejections=list(obj.get("rejections") or []),
            rejections_omitted=int(obj.get("rejections_omitted") or 0),
            tenancy=obj.get("tenancy"),
            raw_size=int(obj.get("raw_size", len(raw))),
            raw_sha256=str(obj.get("raw_sha256") or ""),
            raw_truncated=bool(obj.get("raw_truncated", False)),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a DLQ record: {exc}") from exc
