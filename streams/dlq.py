"""Dead-letter records: what the ``dlq`` topic carries for every rejected message or row set.

One record (JSON) per :class:`streams.decode.Rejection`::

    {"reason": "non-finite number (NaN/Infinity)", "field": "features.strip_temp_c",
     "rows": [17], "source": {"topic": "telemetry", "partition": 3, "offset": 1534},
     "raw": "<base64 of the original message value>", "received_at": 1795946400000}

``rows`` is ``null`` when the whole message was rejected.

>>> rec = parse_dlq_record(dlq_record(b"{", "invalid JSON", None, None, "telemetry", 0, 7,
...                                   received_at=1))
>>> rec.raw, rec.reason, rec.rows, rec.source
(b'{', 'invalid JSON', None, {'topic': 'telemetry', 'partition': 0, 'offset': 7})
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["DlqRecord", "dlq_record", "dlq_records", "parse_dlq_record"]


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """A parsed DLQ record; ``raw`` is decoded back to the original bytes."""

    reason: str
    field: str | None
    rows: list[int] | None
    source: dict[str, Any]
    raw: bytes
    received_at: int


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
) -> bytes:
    """Serialise one DLQ record (JSON bytes); ``received_at`` defaults to now (epoch ms)."""
    record = {
        "reason": reason,
        "field": field,
        "rows": None if rows is None else [int(r) for r in rows],
        "source": {"topic": topic, "partition": int(partition), "offset": int(offset)},
        "raw": base64.b64encode(raw).decode("ascii"),
        "received_at": int(time.time() * 1000) if received_at is None else int(received_at),
    }
    return orjson.dumps(record)


def dlq_records(
    raw: bytes,
    rejections: Iterable[Any],
    topic: str,
    partition: int,
    offset: int,
    *,
    received_at: int | None = None,
) -> list[bytes]:
    """One record per rejection (anything with ``reason``, ``field`` and ``rows``)."""
    return [
        dlq_record(
            raw, r.reason, r.field, r.rows, topic, partition, offset, received_at=received_at
        )
        for r in rejections
    ]


def parse_dlq_record(data: bytes | str) -> DlqRecord:
    """Inverse of :func:`dlq_record`; raises ``ValueError`` on a malformed record."""
    try:
        obj = orjson.loads(data)
        source = obj["source"]
        return DlqRecord(
            reason=str(obj["reason"]),
            field=obj["field"],
            rows=None if obj["rows"] is None else [int(r) for r in obj["rows"]],
            source={k: source[k] for k in ("topic", "partition", "offset")},
            raw=base64.b64decode(obj["raw"], validate=True),
            received_at=int(obj["received_at"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a DLQ record: {exc}") from exc
