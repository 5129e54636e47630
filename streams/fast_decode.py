"""Fast path of the decoder: clean numeric telemetry straight into numpy.

Most telemetry is numbers only: a batch envelope of ``ts`` integers and numeric feature
arrays, or a single event of numeric features.

* **Batch envelopes** go through simdjson (pysimdjson): it parses the message into its
  own tape, and each feature array comes out as one float64 buffer (``as_buffer``, a
  copy made in C: no Python float per value, and the array outlives the parser's next
  document). ``ts`` comes out as int64 the same way.
* **Single events** go through typed msgspec structs, which check the types in C while
  they parse (for a ~400-byte event that costs less than simdjson plus its lookups).

Anything these paths do not describe, or that any check here doubts (a string or
boolean feature, a float or null timestamp, a timestamp out of bounds, unequal lengths,
an unknown or repeated field, a nested array, bad tenancy...), returns None and the
general decoder in :mod:`streams.decode` handles the message, so every rejection and its
message stays exactly what the general path says. The fast path only ever accepts
messages the general path accepts, with the same columns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import simdjson


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    schema_version: int
    kind: str
    consortium: str
    member: str
    model: str
    model_version: str
    site: str
    hub: str


class _TelemetrySingle(_Envelope, forbid_unknown_fields=True):
    ts: int
    features: dict[str, float | None]
    batch: bool = False


_SINGLE = msgspec.json.Decoder(_TelemetrySingle)
_TENANCY = ("consortium", "member", "model", "model_version", "site", "hub")
_N_BATCH_FIELDS = len({"schema_version", "kind", "batch", "ts", "features", *_TENANCY})
_NUMBERS = frozenset({float, int, type(None)})
_BOM = b"\xef\xbb\xbf"
_OPEN = ord("[")
#: envelopes already checked: (check, schema_version, kind, batch, tenancy...) -> its result;
#: a stream repeats a handful of envelopes, and the check (six patterns and a pydantic
#: construct) costs more than decoding a single event
_HEADS: dict[tuple[Any, ...], tuple[str, bool, Any]] = {}
_MAX_HEADS = 4096
_ROW0 = np.zeros(1, np.int64)
_ROW0.flags.writeable = False
#: wider batches go to the general path: simdjson finds a field by scanning its object, so
#: F features cost F²/2 name compares (1,024 x 10 samples: 2.0 ms against the general
#: path's 6.7; 4,096: 38 ms against 17)
MAX_FAST_FEATURES = 1024
#: one simdjson parser per thread: a parser holds the last document, so it cannot be shared
_LOCAL = threading.local()


def _head(
    envelope: Callable[[dict[str, Any]], tuple[str, bool, Any]],
    version: int,
    kind: str,
    batch: bool,
    tenancy: tuple[str, ...],
) -> tuple[str, bool, Any] | None:
    """The general envelope check of a head, remembered per distinct head.

    The caller has checked the types (``version`` an int, ``batch`` a bool, the rest
    strings): ``1 == 1.0 == True`` as dict keys, so a head of other types must not get here.
    """
    key = (envelope, version, kind, batch, *tenancy)
    found = _HEADS.get(key)
    if found is not None:
        return found
    head: dict[str, Any] = dict(zip(_TENANCY, tenancy, strict=True))
    head |= {"schema_version": version, "kind": kind, "batch": batch}
    try:
        found = envelope(head)
    except Exception:  # the general path names the fault
        return None
    if len(_HEADS) >= _MAX_HEADS:
        _HEADS.clear()
    _HEADS[key] = found
    return found


def _parser() -> Any:
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = simdjson.Parser()
    return parser


def _parse(raw: bytes) -> Any:
    """simdjson's document of ``raw`` (proxies into this thread's parser)."""
    try:
        return _parser().parse(raw)
    except RuntimeError as exc:
        if "re-use" not in str(exc):
            raise
    # a proxy into the previous document is still alive (say, in a kept traceback): the
    # parser refuses to overwrite it, so this thread takes a new one
    _LOCAL.parser = simdjson.Parser()
    return _LOCAL.parser.parse(raw)


def _nullable(values: Any) -> np.ndarray | None:
    """float64 of a feature array holding nulls (NaN), None if it holds anything else."""
    items = values.as_list()
    if not set(map(type, items)) <= _NUMBERS:
        return None
    return np.array(items, dtype=np.float64)


def _batch(
    raw: bytes,
    now_ms: int,
    max_skew_ms: int,
    envelope: Callable[[dict[str, Any]], tuple[str, bool, Any]],
    result_type: type,
) -> Any | None:
    if raw.startswith(_BOM):  # simdjson skips a byte order mark; JSON (and orjson) do not
        return None
    doc = _parse(raw)
    # exactly the batch fields, each once: simdjson keeps repeated keys and its lookup
    # finds the first, where the general path (a dict) keeps the last. A lookup of a
    # missing field raises KeyError, so 11 fields found among 11 means no repeat, no other.
    if type(doc) is not simdjson.Object or len(doc) != _N_BATCH_FIELDS:
        return None
    if doc["batch"] is not True or doc["kind"] != "telemetry":
        return None
    version = doc["schema_version"]
    tenancy = tuple(doc[name] for name in _TENANCY)
    if type(version) is not int or not all(type(v) is str for v in tenancy):
        return None
    ts_doc, features = doc["ts"], doc["features"]
    head = _head(envelope, version, "telemetry", True, tenancy)
    if head is None:
        return None
    if type(ts_doc) is not simdjson.Array or type(features) is not simdjson.Object:
        return None
    if len(features) > MAX_FAST_FEATURES:  # a lookup by name scans the object: F² compares
        return None
    n = len(ts_doc)
    names = list(features)
    # no empty, repeated or NUL-holding name (the lookup by name stops at a NUL)
    if not n or len(set(names)) != len(names) or "" in names or "\0" in "".join(names):
        return None
    # as_buffer flattens nested arrays: the only brackets are those of ts and the features
    if np.count_nonzero(np.frombuffer(raw, np.uint8) == _OPEN) != 1 + len(names):
        return None
    # int64 only: floats, nulls, strings raise TypeError, integers beyond int64 ValueError
    ts = np.frombuffer(ts_doc.as_buffer(of_type="i"), np.int64)
    if ts.size != n:
        return None
    lo, hi = float(ts.min()), float(ts.max())  # the general path compares in float64 too
    if abs(lo - now_ms) > max_skew_ms or abs(hi - now_ms) > max_skew_ms:
        return None
    buffers: list[Any] = []
    for name in names:
        values = features[name]
        if type(values) is not simdjson.Array or len(values) != n:
            return None
        try:  # integers become float64 as the general path's np.array makes them
            buffers.append(values.as_buffer(of_type="d"))
        except TypeError:  # a null, boolean, string or object in the array
            column = _nullable(values)
            if column is None:
                return None
            buffers.append(column)
    # one writable 2-D block, a row per feature: one allocation instead of one per feature
    block = np.frombuffer(bytearray().join(buffers), np.float64)
    if block.size != n * len(names):
        return None
    features_by_name = dict(zip(names, block.reshape(len(names), n), strict=True))
    return _accepted(result_type, head, np.arange(n, dtype=np.int64), ts, features_by_name)


def _single(
    raw: bytes,
    now_ms: int,
    max_skew_ms: int,
    envelope: Callable[[dict[str, Any]], tuple[str, bool, Any]],
    result_type: type,
) -> Any | None:
    try:
        msg = _SINGLE.decode(raw)
    except Exception:  # msgspec errors, invalid UTF-8, ...: the general path explains
        return None
    if msg.batch is not False or msg.kind != "telemetry" or "" in msg.features:
        return None
    tenancy = (msg.consortium, msg.member, msg.model, msg.model_version, msg.site, msg.hub)
    head = _head(envelope, msg.schema_version, msg.kind, False, tenancy)
    if head is None:
        return None
    # per-event numpy calls cost more than the checks themselves: plain Python
    if not -(2**63) <= msg.ts < 2**63 or abs(float(msg.ts) - now_ms) > max_skew_ms:
        return None
    names = list(msg.features)
    values = np.array(list(msg.features.values()), dtype=np.float64).reshape(len(names), 1)
    ts = np.array((msg.ts,), dtype=np.int64)
    return _accepted(result_type, head, _ROW0, ts, dict(zip(names, values, strict=True)))


def _accepted(
    result_type: type,
    head: tuple[str, bool, Any],
    rows: np.ndarray,
    ts: np.ndarray,
    features: dict[str, np.ndarray],
) -> Any:
    """The ``DecodeResult`` of a message the fast path accepts: every row, no rejection."""
    kind, is_batch, tenancy = head
    return result_type(
        kind=kind,
        tenancy=tenancy,
        batch=is_batch,
        n_input=len(rows),
        rows=rows,
        ts_ms=ts,
        columns={},
        features=features,
        rejections=[],
    )


def fast_telemetry(
    raw: bytes,
    now_ms: int,
    max_skew_ms: int,
    envelope: Callable[[dict[str, Any]], tuple[str, bool, Any]],
    result_type: type,
) -> Any | None:
    """A ``DecodeResult`` for a clean numeric telemetry message, else None (use the general path).

    ``envelope`` is the general decoder's envelope check (schema version, kind, tenancy),
    so both paths accept exactly the same envelopes. simdjson and msgspec refuse numbers
    beyond a double (``1e400``) and NaN/Infinity literals, so every value is finite or None.
    """
    batch = b'"batch":true' in raw or b'"batch": true' in raw
    try:
        return (_batch if batch else _single)(raw, now_ms, max_skew_ms, envelope, result_type)
    except Exception:  # a parse error, a wrong type...: the general path explains
        return None
