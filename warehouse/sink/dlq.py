"""DLQ records: the sink's own rejects and the ``dlq`` table's Arrow columns."""

from __future__ import annotations

import base64
import hashlib
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa

from warehouse.sink.partials import TENANCY

_TS_MS = pa.timestamp("ms", tz="UTC")


def dlq_rows(records: Sequence[tuple[Mapping[str, Any], bytes]]) -> pa.Table:
    """DLQ JSON records (with their raw message bytes) → ``dlq`` table columns."""
    cols: dict[str, list] = defaultdict(list)
    for rec, _raw in records:
        tenancy = rec.get("tenancy") if isinstance(rec.get("tenancy"), dict) else {}
        for name in TENANCY:
            cols[name].append(str(tenancy.get(name) or ""))
        raw = _b64(rec.get("raw"))
        cols["raw_size"].append(_int(rec.get("raw_size"), len(raw)))
        cols["raw_sha256"].append(str(rec.get("raw_sha256") or hashlib.sha256(raw).hexdigest()))
        rejections = rec.get("rejections")
        cols["rejections"].append(orjson.dumps(rejections if isinstance(rejections, list) else
                                               []).decode())  # fmt: skip
        src = rec.get("source") or {}
        cols["source_topic"].append(str(src.get("topic") or ""))
        cols["source_partition"].append(int(src.get("partition") or 0))
        cols["source_offset"].append(int(src.get("offset") or 0))
        cols["reason"].append(str(rec.get("reason") or ""))
        cols["field"].append(str(rec.get("field") or ""))
        cols["rows"].append([int(r) for r in rec.get("rows") or []])
        cols["raw"].append(raw)
        cols["received_at"].append(int(rec.get("received_at") or time.time() * 1000))
    return pa.table(
        {
            "source_topic": pa.array(cols["source_topic"], pa.string()),
            "source_partition": pa.array(cols["source_partition"], pa.int32()),
            "source_offset": pa.array(cols["source_offset"], pa.int64()),
            "reason": pa.array(cols["reason"], pa.string()),
            "field": pa.array(cols["field"], pa.string()),
            "rows": pa.array(cols["rows"], pa.list_(pa.int64())),
            "raw": pa.array(cols["raw"], pa.binary()),
            "received_at": pa.array(cols["received_at"], _TS_MS),
            **{name: pa.array(cols[name], pa.string()) for name in TENANCY},
            "raw_size": pa.array(cols["raw_size"], pa.uint64()),
            "raw_sha256": pa.array(cols["raw_sha256"], pa.string()),
            "rejections": pa.array(cols["rejections"], pa.string()),
        }
    )


def _int(value: Any, default: int) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else default


def sink_reject(
    raw: bytes, reason: str, topic: str, partition: int, offset: int, field: str | None = None
) -> dict:
    """A DLQ record for a message the sink itself cannot store (never dropped silently)."""
    return {
        "reason": reason,
        "field": field,
        "rows": None,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "raw": base64.b64encode(raw).decode("ascii"),
        "received_at": int(time.time() * 1000),
    }


def _b64(value: Any) -> bytes:
    if not value:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return str(value).encode()
