"""Hot-path decoder: one Kafka message value (single event or columnar batch) → numpy columns.

Applies the rules of :mod:`streams.events` without building a pydantic object per row:

* **message-level** faults reject the whole message (``Rejection.rows is None``): oversized,
  invalid JSON, not an object, unknown ``schema_version`` or ``kind``, missing or empty
  tenancy, unknown fields, a missing or wrongly shaped field, unequal batch array lengths,
  and any fault in a single event;
* **row-level** faults in a batch reject only those rows (``Rejection.rows`` lists them):
  non-finite numbers (``NaN``/``Infinity`` literals, ``1e400``), wrong types, values out of
  range, timestamps further than ``max_skew_ms`` from now.

A prediction's optional ``scores`` object (``{class: probability}``, in a batch
``{class: [probability, ...]}``) decodes to ``DecodeResult.scores``, float64 per class
(NaN for ``null`` in a batch); a value that is not a number, non-finite or outside
[0, 1] rejects its row, naming ``scores.<class>``. Whether the classes are the model's
is the worker's check (:func:`streams.scores.prediction_scores`, it knows the registry).

Output columns (accepted rows only, in message order): ``ts_ms`` int64; numbers float64 with
NaN for ``null``; strings object arrays with ``None`` for ``null``; ``error`` bool;
``inferences`` int64. A telemetry feature is numeric when the majority of its non-null
values are numbers (rows holding a string are then rejected, and vice versa); an all-null
feature decodes as float64 NaN, which categorical consumers must read as "missing".

>>> r = decode(b'{"schema_version": 1, "kind": "telemetry", "batch": true, "consortium": "c",'
...            b' "member": "m", "model": "x", "model_version": "1", "site": "s", "hub": "h",'
...            b' "ts": [0, 1, 2], "features": {"t": [1.5, null, NaN]}}', now_ms=0)
>>> r.ts_ms.tolist(), r.features["t"].tolist(), [str(x) for x in r.rejections]
([0, 1], [1.5, nan], ['features.t[2]: non-finite number (NaN/Infinity)'])
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from streams.events import (
    KINDS,
    MAX_TS_SKEW_MS,
    SCHEMA_VERSION,
    TENANCY_FIELDS,
    TENANCY_PATTERN,
    Tenancy,
    parse_ts_ms,
)
from streams.fast_decode import fast_telemetry

MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB

R_OVERSIZED = "message too large"
R_JSON = "invalid JSON"
R_NONFINITE = "non-finite number (NaN/Infinity)"
R_NOT_OBJECT = "message is not a JSON object"
R_SCHEMA = "unknown schema_version"
R_KIND = "unknown kind"
R_MISSING = "missing field"
R_EMPTY = "empty string"
R_UNKNOWN = "unknown field"
R_ARRAY = "expected an array (batch)"
R_LENGTHS = "unequal array lengths"
R_TS_BOUNDS = "timestamp out of bounds"
R_TENANCY = f"must match {TENANCY_PATTERN.pattern} (letters, digits, . _ : -; 1-64 characters)"

__all__ = ["MAX_MESSAGE_BYTES", "DecodeResult", "Rejection", "decode"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why (part of) a message was refused: ``rows is None`` means the whole message."""

    reason: str
    field: str | None = None
    rows: tuple[int, ...] | None = None

    def __str__(self) -> str:
        where = self.field or "message"
        if self.rows is not None:
            where += (
                "["
                + ", ".join(map(str, self.rows[:10]))
                + (", ..." if len(self.rows) > 10 else "")
                + "]"
            )
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class DecodeResult:
    """Decoded accepted rows plus rejections; see the module docstring for column types."""

    kind: str | None = None
    tenancy: Tenancy | None = None
    batch: bool = False
    n_input: int = 0
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ts_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    """Predictions: per-class probabilities of the ``scores`` object, by class."""

    @property
    def n(self) -> int:
        """Number of accepted rows."""
        return int(self.ts_ms.shape[0])

    @property
    def message_rejected(self) -> bool:
        return any(r.rows is None for r in self.rejections)


class _MessageFault(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason, field)
        self.rejection = Rejection(reason, field)


class _NonFinite:
    """Stands in for a ``NaN``/``Infinity`` literal found by the fallback parser."""

    __slots__ = ()


_NONFINITE = _NonFinite()


# --- parsing -------------------------------------------------------------------------------


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses NaN/Infinity literals and numbers overflowing a double; json accepts
    # them, so we can tell "non-finite number" from garbage and reject only those rows.
    # json is laxer than orjson elsewhere: it decodes bytes with "surrogatepass" and takes
    # lone surrogate escapes ("\ud800"), which no UTF-8 store or hash can hold later. So
    # the bytes must be strict UTF-8 and no string may hold a surrogate (orjson.dumps
    # refuses them): both are invalid JSON (RFC 8259 section 8.1).
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=lambda _: _NONFINITE)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _MessageFault(R_JSON) from None
    if _SURROGATE_ESCAPE.search(raw) and _holds_surrogate(obj):
        raise _MessageFault(R_JSON)
    return obj


#: ``\uD800``-``\uDFFF`` escapes: the only way a surrogate gets past strict UTF-8
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds_surrogate(obj: Any) -> bool:
    """Whether any key or string value holds a (lone) surrogate; iterative, any depth."""
    stack = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


# --- column validators ---------------------------------------------------------------------
# Each returns (array over all rows, {reason: [row indices]}) for a list of raw values.

_Bad = dict[str, list[int]]


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), type(v).__name__)


def _add(bad: _Bad, reason: str, i: int) -> None:
    bad.setdefault(reason, []).append(i)


def _scalar(value: Any, *, nullable: bool, text: bool) -> tuple[np.ndarray, _Bad] | None:
    """Fast path for one value (single events): None if it needs the general path."""
    kind = type(value)
    if kind is float or kind is int:
        if not -1e308 < value < 1e308:  # non-finite, or an int too large for a double
            return None
        return np.array((value,), np.float64), {}
    if kind is bool and text:
        value, kind = ("true" if value else "false"), str
    if kind is str and text:
        arr = np.empty(1, dtype=object)
        arr[0] = value
        return arr, {}
    if value is None and nullable:
        return np.array((math.nan,)), {}
    return None


def _numbers(values: list[Any], *, nullable: bool) -> tuple[np.ndarray, _Bad]:
    """float64 column; NaN where null (if nullable) or where the row is bad."""
    if len(values) == 1 and (fast := _scalar(values[0], nullable=nullable, text=False)):
        return fast
    types = set(map(type, values))
    bad: _Bad = {}
    arr: np.ndarray | None = None
    if types <= {float, int, type(None)}:
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:  # ints beyond a double's range: the per-value path names them
            arr = None
    if arr is not None:
        inf_mask = np.isinf(arr)
        if inf_mask.any():
            inf = np.flatnonzero(inf_mask)
            bad[R_NONFINITE] = inf.tolist()
            arr[inf] = np.nan
        if not nullable and type(None) in types:
            bad.setdefault("expected a number, got null", []).extend(
                i for i, v in enumerate(values) if v is None
            )
        return arr, bad
    arr = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None:
            if not nullable:
                _add(bad, "expected a number, got null", i)
        elif v is _NONFINITE or (isinstance(v, float) and not math.isfinite(v)):
            _add(bad, R_NONFINITE, i)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            try:
                arr[i] = v
            except OverflowError:
                _add(bad, "number too large", i)
        else:
            _add(bad, f"expected a number, got {_type_name(v)}", i)
    return arr, bad


def _strings(
    values: list[Any], *, nullable: bool, non_empty: bool = True
) -> tuple[np.ndarray, _Bad]:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    types = set(map(type, values))
    bad: _Bad = {}
    if types <= {str, type(None)} and (nullable or type(None) not in types):
        if non_empty and "" in values:
            bad[R_EMPTY] = [i for i, v in enumerate(values) if v == ""]
        return arr, bad
    for i, v in enumerate(values):
        if isinstance(v, str):
            if non_empty and not v:
                _add(bad, R_EMPTY, i)
        elif v is None and nullable:
            continue
        else:
            _add(bad, f"expected a string, got {_type_name(v)}", i)
        if not isinstance(v, str):
            arr[i] = None
    return arr, bad


def _number_or_string(values: list[Any], *, nullable: bool) -> tuple[np.ndarray, _Bad]:
    """Numeric if most non-null values are numbers, else strings (feature, label).

    JSON booleans are labels: ``true``/``false`` (processors.labels, the one label rule).
    """
    if len(values) == 1 and (fast := _scalar(values[0], nullable=nullable, text=True)):
        return fast
    types = set(map(type, values))
    if bool in types:
        values = [("true" if v else "false") if type(v) is bool else v for v in values]
        types = set(map(type, values))
    if types <= {float, int, type(None)}:
        return _numbers(values, nullable=nullable)
    if types <= {str, type(None)}:
        return _strings(values, nullable=nullable, non_empty=False)
    n_str = sum(1 for v in values if isinstance(v, str))
    n_num = sum(1 for v in values if isinstance(v, int | float) and not isinstance(v, bool))
    if n_num >= n_str:
        return _numbers(values, nullable=nullable)
    return _strings(values, nullable=nullable, non_empty=False)


def _ints(values: list[Any], *, minimum: int = 0) -> tuple[np.ndarray, _Bad]:
    bad: _Bad = {}
    if set(map(type, values)) <= {int}:
        try:
            arr = np.array(values, dtype=np.int64)
        except OverflowError:
            arr = None
        if arr is not None:
            low = np.flatnonzero(arr < minimum)
            if low.size:
                bad[f"must be >= {minimum}"] = low.tolist()
            return arr, bad
    arr = np.zeros(len(values), np.int64)
    for i, v in enumerate(values):
        if v is _NONFINITE:
            _add(bad, R_NONFINITE, i)
        elif not isinstance(v, int) or isinstance(v, bool):
            _add(bad, f"expected an integer, got {_type_name(v)}", i)
        elif not -(2**63) <= v < 2**63 or v < minimum:
            _add(bad, f"must be >= {minimum}" if v < minimum else "integer too large", i)
        else:
            arr[i] = v
    return arr, bad


def _bools(values: list[Any]) -> tuple[np.ndarray, _Bad]:
    bad: _Bad = {}
    if set(map(type, values)) <= {bool}:
        return np.array(values, dtype=bool), bad
    arr = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        if isinstance(v, bool):
            arr[i] = v
        else:
            _add(bad, f"expected a boolean, got {_type_name(v)}", i)
    return arr, bad


def _timestamps(values: list[Any], now_ms: int, max_skew_ms: int) -> tuple[np.ndarray, _Bad]:
    """int64 epoch ms; rows that do not parse or lie more than ``max_skew_ms`` from now are bad."""
    bad: _Bad = {}
    out_of_bounds = f"{R_TS_BOUNDS} (more than {max_skew_ms // 86_400_000} days from now)"
    arr: np.ndarray | None = None
    if set(map(type, values)) <= {int}:
        try:
            arr = np.array(values, dtype=np.int64)
        except OverflowError:
            arr = None
    if arr is None:
        arr = np.full(len(values), now_ms, np.int64)
        for i, v in enumerate(values):
            if v is _NONFINITE:
                _add(bad, R_NONFINITE, i)
                continue
            try:
                ms = parse_ts_ms(v)
            except (ValueError, OverflowError) as exc:
                _add(bad, str(exc), i)
                continue
            if abs(ms - now_ms) > max_skew_ms:
                _add(bad, out_of_bounds, i)
            else:
                arr[i] = ms
    far_mask = np.abs(arr.astype(np.float64) - now_ms) > max_skew_ms
    if far_mask.any():
        bad.setdefault(out_of_bounds, []).extend(np.flatnonzero(far_mask).tolist())
    return arr, bad


def _range_check(
    arr: np.ndarray, bad: _Bad, *, lo: float | None, hi: float | None, lo_open: bool
) -> None:
    """Add rows outside [lo, hi] (or (lo, hi]) to ``bad``; NaN (null) passes."""
    with np.errstate(invalid="ignore"):
        if lo is not None:
            out = np.flatnonzero(arr <= lo if lo_open else arr < lo)
            if out.size:
                bad.setdefault(f"must be {'>' if lo_open else '>='} {lo:g}", []).extend(
                    out.tolist()
                )
        if hi is not None:
            out = np.flatnonzero(arr > hi)
            if out.size:
                bad.setdefault(f"must be <= {hi:g}", []).extend(out.tolist())


# --- per-kind field specs ------------------------------------------------------------------

_Validator = Callable[[list[Any]], tuple[np.ndarray, _Bad]]


def _num(
    nullable: bool = False, lo: float | None = None, hi: float | None = None, lo_open: bool = False
) -> _Validator:
    def check(values: list[Any]) -> tuple[np.ndarray, _Bad]:
        arr, bad = _numbers(values, nullable=nullable)
        _range_check(arr, bad, lo=lo, hi=hi, lo_open=lo_open)
        return arr, bad

    return check


# name -> (required, default factory for a missing optional field, validator)
_FIELDS: dict[str, dict[str, tuple[bool, Callable[[int], np.ndarray] | None, _Validator]]] = {
    "telemetry": {},
    "prediction": {
        "prediction_id": (True, None, lambda v: _strings(v, nullable=False)),
        "prediction": (True, None, lambda v: _number_or_string(v, nullable=False)),
        "score": (False, lambda n: np.full(n, np.nan), _num(nullable=True, lo=0.0, hi=1.0)),
        "latency_ms": (True, None, _num(lo=0.0)),
        "error": (False, lambda n: np.zeros(n, bool), _bools),
    },
    "outcome": {
        "prediction_id": (True, None, lambda v: _strings(v, nullable=False)),
        "actual": (True, None, lambda v: _number_or_string(v, nullable=False)),
    },
    "energy": {
        "joules": (True, None, _num(lo=0.0)),
        "inferences": (True, None, _ints),
        "duration_s": (True, None, _num(lo=0.0, lo_open=True)),
    },
}
#: optional fields where ``null`` means "not given" (``"error": null`` is a wrong type)
_NULL_MEANS_ABSENT = frozenset({"score"})
_ENVELOPE = {"schema_version", "kind", "batch", "ts", *TENANCY_FIELDS}
#: per-sample objects of named arrays: telemetry ``features``, prediction ``scores``
_OBJECTS = {"telemetry": "features", "prediction": "scores"}
_ALLOWED = {
    kind: frozenset(_ENVELOPE | fields.keys() | ({_OBJECTS[kind]} if kind in _OBJECTS else set()))
    for kind, fields in _FIELDS.items()
}
_score_check = _num(lo=0.0, hi=1.0)
_score_check_nullable = _num(nullable=True, lo=0.0, hi=1.0)


# --- decode --------------------------------------------------------------------------------


def decode(
    raw: bytes,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now_ms: int | None = None,
    max_skew_ms: int = MAX_TS_SKEW_MS,
) -> DecodeResult:
    """Decode and validate one message value; never raises on bad input."""
    if len(raw) <= max_bytes:  # clean numeric telemetry: streams.fast_decode (simdjson, msgspec)
        now = int(time.time() * 1000) if now_ms is None else int(now_ms)
        try:
            fast = fast_telemetry(raw, now, max_skew_ms, _envelope, DecodeResult)
        except Exception:  # never let the fast path cost a message: the general path
            fast = None
        if fast is not None:
            return fast
    result = DecodeResult()
    try:
        _decode_into(result, raw, max_bytes, now_ms, max_skew_ms)
    except _MessageFault as fault:
        result.rejections = [fault.rejection]
        _clear_rows(result)
    except Exception as exc:  # a decoder bug must not kill the worker: DLQ the message
        result.rejections = [Rejection(f"undecodable message ({type(exc).__name__}: {exc})")]
        _clear_rows(result)
    return result


def _clear_rows(result: DecodeResult) -> None:
    empty = np.zeros(0, np.int64)
    result.rows, result.ts_ms = empty, empty
    result.columns, result.features, result.scores = {}, {}, {}


def _decode_into(
    result: DecodeResult, raw: bytes, max_bytes: int, now_ms: int | None, max_skew_ms: int
) -> None:
    if len(raw) > max_bytes:
        raise _MessageFault(f"{R_OVERSIZED} ({len(raw)} bytes > {max_bytes})")
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    obj = _parse(raw)
    if not isinstance(obj, dict):
        raise _MessageFault(R_NOT_OBJECT)
    result.kind, result.batch, result.tenancy = _envelope(obj)
    unknown = sorted(obj.keys() - _ALLOWED[result.kind])
    if unknown:
        raise _MessageFault(R_UNKNOWN, unknown[0])
    raw_columns = _raw_columns(obj, result.kind, result.batch)
    n = len(raw_columns["ts"])
    result.n_input = n
    bad_rows: dict[tuple[str, str], list[int]] = {}

    def collect(name: str, bad: _Bad) -> None:
        for reason, rows in bad.items():
            bad_rows[(name, reason)] = sorted(set(rows))

    ts, bad = _timestamps(raw_columns.pop("ts"), now, max_skew_ms)
    collect("ts", bad)
    specs = _FIELDS[result.kind]
    columns: dict[str, np.ndarray] = {}
    features: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    for name, values in raw_columns.items():
        if name.startswith("features."):
            arr, bad = _number_or_string(values, nullable=True)
            features[name.removeprefix("features.")] = arr
        elif name.startswith("scores."):
            check = _score_check_nullable if result.batch else _score_check
            arr, bad = check(values)
            scores[name.removeprefix("scores.")] = arr
        else:
            arr, bad = specs[name][2](values)
            columns[name] = arr
        collect(name, bad)
    for name, (_, default, _) in specs.items():
        if name not in columns and default is not None:
            columns[name] = default(n)

    if bad_rows and not result.batch:
        (name, reason), _ = next(iter(bad_rows.items()))
        raise _MessageFault(reason, name)
    result.rejections = [
        Rejection(reason, name, tuple(rows)) for (name, reason), rows in bad_rows.items()
    ]
    if not bad_rows:
        result.rows, result.ts_ms = np.arange(n, dtype=np.int64), ts
        result.columns, result.features, result.scores = columns, features, scores
        return
    keep = np.ones(n, bool)
    for rows in bad_rows.values():
        keep[rows] = False
    result.rows, result.ts_ms = np.flatnonzero(keep).astype(np.int64), ts[keep]
    result.columns = {k: v[keep] for k, v in columns.items()}
    result.features = {k: v[keep] for k, v in features.items()}
    result.scores = {k: v[keep] for k, v in scores.items()}


def _envelope(obj: dict[str, Any]) -> tuple[str, bool, Tenancy]:
    version = obj.get("schema_version")
    if "schema_version" not in obj:
        raise _MessageFault(R_MISSING, "schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise _MessageFault(f"{R_SCHEMA} {version!r} (expected {SCHEMA_VERSION})", "schema_version")
    kind = obj.get("kind")
    if "kind" not in obj:
        raise _MessageFault(R_MISSING, "kind")
    if kind not in KINDS:
        raise _MessageFault(f"{R_KIND} {kind!r} (expected one of {', '.join(KINDS)})", "kind")
    batch = obj.get("batch", False)
    if not isinstance(batch, bool):
        raise _MessageFault(f"expected a boolean, got {_type_name(batch)}", "batch")
    for name in TENANCY_FIELDS:
        if name not in obj:
            raise _MessageFault(R_MISSING, name)
        value = obj[name]
        if not isinstance(value, str):
            raise _MessageFault(f"expected a string, got {_type_name(value)}", name)
        if not value:
            raise _MessageFault(R_EMPTY, name)
        if not TENANCY_PATTERN.fullmatch(value):
            raise _MessageFault(R_TENANCY, name)
    tenancy = Tenancy.model_construct(**{k: obj[k] for k in TENANCY_FIELDS})
    return kind, batch, tenancy


def _raw_columns(obj: dict[str, Any], kind: str, batch: bool) -> dict[str, list[Any]]:
    """Per-sample fields as equal-length lists (``features.<name>`` for telemetry)."""
    fields: dict[str, Any] = {}
    if "ts" not in obj:
        raise _MessageFault(R_MISSING, "ts")
    fields["ts"] = obj["ts"]
    if kind == "telemetry":
        features = obj.get("features")
        if "features" not in obj:
            raise _MessageFault(R_MISSING, "features")
        if not isinstance(features, dict):
            raise _MessageFault(f"expected an object, got {_type_name(features)}", "features")
        if "" in features:
            raise _MessageFault(R_EMPTY, "features (feature name)")
        fields.update({f"features.{k}": v for k, v in features.items()})
    if kind == "prediction" and obj.get("scores") is not None:
        scores = obj["scores"]
        if not isinstance(scores, dict):
            raise _MessageFault(f"expected an object, got {_type_name(scores)}", "scores")
        if "" in scores:
            raise _MessageFault(R_EMPTY, "scores (class name)")
        fields.update({f"scores.{k}": v for k, v in scores.items()})
    for name, (required, _, _) in _FIELDS[kind].items():
        if name in obj and not (obj[name] is None and name in _NULL_MEANS_ABSENT):
            fields[name] = obj[name]
        elif required:
            raise _MessageFault(R_MISSING, name)
    if not batch:
        for name, value in fields.items():
            if isinstance(value, list | dict):
                raise _MessageFault(
                    f"expected a scalar, got {_type_name(value)} (single event)", name
                )
        return {name: [value] for name, value in fields.items()}
    n = None
    for name, value in fields.items():
        if not isinstance(value, list):
            raise _MessageFault(f"{R_ARRAY}, got {_type_name(value)}", name)
        if n is None:
            n = len(value)
        elif len(value) != n:
            raise _MessageFault(f"{R_LENGTHS}: ts has {n}, {name} has {len(value)}", name)
    return fields
