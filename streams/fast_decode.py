"""Fast path of the decoder: typed msgspec structs for well-formed numeric telemetry.

Most telemetry is numbers only: a batch envelope of ``ts`` integers and numeric feature
arrays, or a single event of numeric features. msgspec checks those types in C while it
parses (no Python walk over the values), and the feature lists go into numpy as one
2-D array. Anything the structs do not describe, or that any check here doubts (a
string or boolean feature, a null timestamp, a timestamp out of bounds, unequal
lengths, an unknown field, bad tenancy...), returns None and the general decoder in
:mod:`streams.decode` handles the message, so every rejection and its message stays
exactly what the general path says. The fast path only ever accepts messages the
general path accepts, with the same columns.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

import msgspec
import numpy as np


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    schema_version: int
    kind: str
    consortium: str
    member: str
    model: str
    model_version: str
    site: str
    hub: str


class _TelemetryBatch(_Envelope, forbid_unknown_fields=True):
    ts: list[int]
    features: dict[str, list[float | None]]
    batch: bool = False


class _TelemetrySingle(_Envelope, forbid_unknown_fields=True):
    ts: int
    features: dict[str, float | None]
    batch: bool = False


_BATCH = msgspec.json.Decoder(_TelemetryBatch)
_SINGLE = msgspec.json.Decoder(_TelemetrySingle)
_TENANCY = ("consortium", "member", "model", "model_version", "site", "hub")
#: envelopes already checked: (check, schema_version, kind, batch, tenancy...) -> its result;
#: a stream repeats a handful of envelopes, and the check (six patterns and a pydantic
#: construct) costs more than decoding a single event
_HEADS: dict[tuple[Any, ...], tuple[str, bool, Any]] = {}
_MAX_HEADS = 4096
_ROW0 = np.zeros(1, np.int64)
_ROW0.flags.writeable = False


def _head(
    msg: Any, envelope: Callable[[dict[str, Any]], tuple[str, bool, Any]]
) -> tuple[str, bool, Any] | None:
    """The general envelope check of ``msg``'s head, remembered per distinct head."""
    key = (envelope, msg.schema_version, msg.kind, msg.batch, msg.consortium, msg.member,
           msg.model, msg.model_version, msg.site, msg.hub)  # fmt: skip
    found = _HEADS.get(key)
    if found is not None:
        return found
    head = {name: getattr(msg, name) for name in _TENANCY}
    head |= {"schema_version": msg.schema_version, "kind": msg.kind, "batch": msg.batch}
    try:
        found = envelope(head)
    except Exception:  # the general path names the fault
        return None
    if len(_HEADS) >= _MAX_HEADS:
        _HEADS.clear()
    _HEADS[key] = found
    return found


def fast_telemetry(
    raw: bytes,
    now_ms: int,
    max_skew_ms: int,
    envelope: Callable[[dict[str, Any]], tuple[str, bool, Any]],
    result_type: type,
) -> Any | None:
    """A ``DecodeResult`` for a clean numeric telemetry message, else None (use the general path).

    ``envelope`` is the general decoder's envelope check (schema version, kind, tenancy),
    so both paths accept exactly the same envelopes. msgspec refuses numbers beyond a
    double (``1e400``) and NaN/Infinity literals, so every value here is finite or None.
    """
    try:
        batch = b'"batch":true' in raw or b'"batch": true' in raw
        msg = (_BATCH if batch else _SINGLE).decode(raw)
    except Exception:  # msgspec errors, invalid UTF-8, ...: the general path explains
        return None
    if msg.batch is not batch or msg.kind != "telemetry" or "" in msg.features:
        return None
    head = _head(msg, envelope)
    if head is None:
        return None
    kind, is_batch, tenancy = head
    names = list(msg.features)
    if batch:
        n = len(msg.ts)
        if n == 0 or any(len(v) != n for v in msg.features.values()):
            return None
        try:
            ts = np.array(msg.ts, dtype=np.int64)
        except OverflowError:  # an integer beyond int64: the general path names it
            return None
        if np.any(np.abs(ts.astype(np.float64) - now_ms) > max_skew_ms):
            return None
        lists = msg.features.values()
        try:  # one pass, no type discovery: ~20% faster than np.array(lists)
            flat = np.fromiter(chain.from_iterable(lists), np.float64, n * len(names))
        except TypeError:  # a null: np.array makes it NaN
            flat = np.array(list(lists), dtype=np.float64)
        values = flat.reshape(len(names), n)
        rows = np.arange(n, dtype=np.int64)
    else:  # per-event numpy calls cost more than the checks themselves: plain Python
        n = 1
        if not -(2**63) <= msg.ts < 2**63 or abs(float(msg.ts) - now_ms) > max_skew_ms:
            return None
        ts = np.array((msg.ts,), dtype=np.int64)
        values = np.array(list(msg.features.values()), dtype=np.float64).reshape(len(names), 1)
        rows = _ROW0
    return result_type(
        kind=kind,
        tenancy=tenancy,
        batch=is_batch,
        n_input=n,
        rows=rows,
        ts_ms=ts,
        columns={},
        features=dict(zip(names, values, strict=True)),
        rejections=[],
    )
