"""Which table each kind of partial lands in, and how an engine state maps to columns.

The sink (state → row) and the queries (summed row → state → ``Engine.from_dict``)
both go through this module, so the two directions cannot drift apart.
Arrays are stored flattened (row-major) and reshaped on the way back; the scalar
sums of regression / latency / energy / volume states live in a
``Map(String, Float64)`` so a new counter in an engine needs no migration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class KindSpec:
    """One kind of partial: its minute table and the state ↔ column mapping."""

    kind: str
    table: str
    #: state key → (column, numpy dtype); arrays of any rank, flattened.
    arrays: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: scalar state keys stored in their own Int64 column.
    int_scalars: tuple[str, ...] = ()
    #: True: every other scalar state key goes to the ``sums`` map column.
    map_sums: bool = False
    #: extra dimension column beside tenancy and window (feature / classes / source_topic).
    dimension: str | None = None

    @property
    def hour_table(self) -> str:
        return _ROLLUP[self.table][0]

    @property
    def day_table(self) -> str:
        return _ROLLUP[self.table][1]


DRIFT = "drift_minute"
_ROLLUP = {
    "drift_minute": ("drift_hour", "drift_day"),
    "classification_minute": ("classification_hour", "classification_day"),
    "regression_minute": ("scalars_hour", "scalars_day"),
    "latency_minute": ("scalars_hour", "scalars_day"),
    "energy_minute": ("scalars_hour", "scalars_day"),
    "volume_minute": ("scalars_hour", "scalars_day"),
    "estimation_minute": ("estimation_hour", "estimation_day"),
}

KINDS: dict[str, KindSpec] = {
    "drift_numeric": KindSpec(
        "drift_numeric",
        DRIFT,
        arrays={"counts": ("counts", "int64"), "sums": ("sums", "float64")},
        int_scalars=("n_missing",),
        dimension="feature",
    ),
    "drift_categorical": KindSpec(
        "drift_categorical",
        DRIFT,
        arrays={"counts": ("counts", "int64")},
        int_scalars=("n_missing",),
        dimension="feature",
    ),
    "classification": KindSpec(
        "classification",
        "classification_minute",
        arrays={
            "confusion": ("confusion", "int64"),
            "score_counts": ("score_counts", "int64"),
            "score_sums": ("score_sums", "float64"),
        },
        dimension="classes",
    ),
    "regression": KindSpec("regression", "regression_minute", map_sums=True),
    "latency": KindSpec(
        "latency", "latency_minute", arrays={"counts": ("buckets", "int64")}, map_sums=True
    ),
    "energy": KindSpec("energy", "energy_minute", map_sums=True),
    "volume": KindSpec("volume", "volume_minute", map_sums=True, dimension="source_topic"),
    "estimation": KindSpec(
        "estimation",
        "estimation_minute",
        arrays={
            "n_pred": ("n_pred", "int64"),
            "expected": ("expected", "float64"),
            "sum_q2": ("sum_q2", "float64"),
            "counts": ("counts", "int64"),
            "sum_p": ("sum_p", "float64"),
            "sum_p2": ("sum_p2", "float64"),
        },
        int_scalars=("n_outside",),
        dimension="calibration",
    ),
}

#: the drift table's ``kind`` column value per partial kind.
DRIFT_KIND = {"drift_numeric": "numeric", "drift_categorical": "categorical"}


def spec_for(kind: str) -> KindSpec:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown partial kind {kind!r} (known: {', '.join(KINDS)})") from None


def subtract(new: Any, old: Any) -> Any:
    """``new - old`` leaf by leaf over nested dicts / lists of numbers (the DELTA).

    Shapes must agree: the same key always has the same reference bins.

    >>> new = {"a": [3, 5], "b": 2.5, "c": {"d": [[1, 2]]}}
    >>> subtract(new, {"a": [1, 1], "b": 0.5, "c": {"d": [[1, 0]]}})
    {'a': [2, 4], 'b': 2.0, 'c': {'d': [[0, 2]]}}
    """
    if old is None:
        return new
    if isinstance(new, Mapping):
        return {k: subtract(v, old.get(k)) for k, v in new.items()}
    if isinstance(new, list):
        if not isinstance(old, list) or len(old) != len(new):
            raise ValueError(f"state shape changed for the same key: {len(new)} vs {old!r:.40}")
        return [subtract(a, b) for a, b in zip(new, old, strict=True)]
    if isinstance(new, bool) or new is None:
        return new
    return new - old


def is_zero(state: Any) -> bool:
    """True when a delta adds nothing (every numeric leaf is 0)."""
    if isinstance(state, Mapping):
        return all(is_zero(v) for v in state.values())
    if isinstance(state, list):
        return all(is_zero(v) for v in state)
    return not isinstance(state, int | float) or isinstance(state, bool) or state == 0


def state_to_columns(spec: KindSpec, state: Mapping[str, Any]) -> dict[str, Any]:
    """One engine state (or delta) → the kind table's value columns."""
    out: dict[str, Any] = {}
    for key, (column, dtype) in spec.arrays.items():
        value = state.get(key)
        out[column] = [] if value is None else np.asarray(value, dtype=dtype).ravel().tolist()
    for key in spec.int_scalars:
        out[key] = int(state.get(key, 0))
    if spec.map_sums:
        skip = set(spec.arrays) | set(spec.int_scalars)
        out["sums"] = {
            k: float(v)
            for k, v in state.items()
            if k not in skip and isinstance(v, int | float) and not isinstance(v, bool)
        }
    return out


def columns_to_state(spec: KindSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """Summed columns (one result row) → a state dict ``Engine.from_dict`` accepts."""
    state: dict[str, Any] = {}
    if spec.kind == "classification":
        return _classification_state(row)
    if spec.kind == "estimation":
        return _estimation_state(row)
    for key, (column, _dtype) in spec.arrays.items():
        state[key] = list(row.get(column) or [])
    for key in spec.int_scalars:
        state[key] = int(row.get(key) or 0)
    if spec.map_sums:
        sums = row.get("sums") or {}
        items = sums.items() if isinstance(sums, Mapping) else sums  # Arrow maps are pairs
        state.update({k: _int_if_whole(k, v) for k, v in items})
    return state


def _classification_state(row: Mapping[str, Any]) -> dict[str, Any]:
    flat = list(row.get("confusion") or [])
    k = math.isqrt(len(flat))
    state: dict[str, Any] = {"confusion": [flat[i * k : (i + 1) * k] for i in range(k)]}
    scores = list(row.get("score_counts") or [])
    if scores:
        half = len(scores) // 2
        state["score_counts"] = [scores[:half], scores[half:]]
        state["score_sums"] = list(row.get("score_sums") or [])
    return state


def _estimation_state(row: Mapping[str, Any]) -> dict[str, Any]:
    """Flattened CBPE arrays back to processors.cbpe.CBPE's shapes (K classes, C scored)."""
    n_pred = [int(v) for v in row.get("n_pred") or []]
    k = len(n_pred)
    c = 1 if k == 2 else k

    def rows(name: str, width: int) -> list[list[Any]]:
        flat = list(row.get(name) or [])
        size = len(flat) // width if width else 0
        return [flat[i * size : (i + 1) * size] for i in range(width)]

    return {
        "n_pred": n_pred,
        "expected": rows("expected", k),
        "sum_q2": list(row.get("sum_q2") or []),
        "counts": rows("counts", c),
        "sum_p": rows("sum_p", c),
        "sum_p2": rows("sum_p2", c),
        "n_outside": int(row.get("n_outside") or 0),
    }


def _int_if_whole(key: str, value: float) -> float | int:
    """Counters (``n``, ``n_*``, ``inferences``, ``readings`` …) come back as ints."""
    if float(value).is_integer() and (key.startswith("n") or key in _INT_KEYS):
        return int(value)
    return float(value)


_INT_KEYS = {"inferences", "readings", "errors", "events", "messages", "rejected", "count"}
