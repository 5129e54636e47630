"""Events in the wire format of docs/internals.md: JSON bytes, single or columnar batch.

>>> encode("energy", {"model": "m"}, {"ts": [1], "joules": [2.5]}, batch=False)
b'{"schema_version":1,"kind":"energy","model":"m","ts":1,"joules":2.5}'
>>> encode("energy", {"model": "m"}, {"ts": [1, 2], "joules": [2.5, 3.0]}, batch=True)
b'{"schema_version":1,"kind":"energy","batch":true,"model":"m","ts":[1,2],"joules":[2.5,3.0]}'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

SCHEMA_VERSION = 1
TOPICS = {
    "telemetry": "telemetry",
    "prediction": "predictions",
    "outcome": "outcomes",
    "energy": "energy",
}

Columns = Mapping[str, Any]  # name -> list, or name -> {sub-name -> list} (features)


def encode(kind: str, tenancy: Mapping[str, str], columns: Columns, *, batch: bool) -> bytes:
    """One message from per-sample lists (NaN becomes null). Single events take row 0."""
    head: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": kind}
    if batch:
        head["batch"] = True
        return orjson.dumps({**head, **tenancy, **columns})
    return orjson.dumps({**head, **tenancy, **row(columns, 0)})


def row(columns: Columns, i: int) -> dict[str, Any]:
    """Row ``i`` of columnar data (nested dicts too)."""
    return {
        k: ({n: v[i] for n, v in c.items()} if isinstance(c, dict) else c[i])
        for k, c in columns.items()
    }


def slices(columns: Columns, size: int, n: int) -> Iterator[tuple[int, Columns]]:
    """Consecutive pieces of at most ``size`` rows: ``(rows, columns)``."""
    for lo in range(0, n, size):
        hi = min(lo + size, n)
        piece = {
            k: ({s: v[lo:hi] for s, v in c.items()} if isinstance(c, dict) else c[lo:hi])
            for k, c in columns.items()
        }
        yield hi - lo, piece
