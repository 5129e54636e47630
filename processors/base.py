"""The contract every engine follows, plus the small helpers they share.

An engine holds a mergeable sufficient statistic (histogram, confusion matrix,
sums). Windows are summed, never averaged, so a month's metric is the metric of
the month's merged state (docs/design.md, principle 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np

from processors.labels import as_labels as as_labels  # re-exported: the engines' label rule


@runtime_checkable
class Engine(Protocol):
    """Shape shared by all engines (see docs/internals.md).

    ``from_dict(d, **static)`` rebuilds an engine from its partial; ``static``
    is what does not travel with the partial (a reference profile, a class list).
    """

    def update(self, *arrays: Any) -> Self: ...

    def merge(self, other: Self) -> Self: ...

    def result(self, **context: Any) -> dict[str, Any]: ...

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, d: dict[str, Any], **static: Any) -> Self: ...

    @property
    def count(self) -> int: ...


def check_mergeable(a: object, b: object, *attrs: str) -> None:
    """Raise ValueError unless ``b`` is the same engine type with equal static ``attrs``.

    >>> check_mergeable(1, 2)
    >>> check_mergeable(1, "x")
    Traceback (most recent call last):
    ValueError: cannot merge int with str
    """
    if type(a) is not type(b):
        raise ValueError(f"cannot merge {type(a).__name__} with {type(b).__name__}")
    for attr in attrs:
        if getattr(a, attr) != getattr(b, attr):
            raise ValueError(f"cannot merge {type(a).__name__}s built on different {attr}")


def as_1d(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D numpy array (a scalar becomes one row)."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return arr


def as_float(values: Any, name: str) -> np.ndarray:
    """``values`` as float64; None becomes NaN; text raises a ValueError naming ``name``.

    >>> as_float([1, None, "2.5"], "speed")
    array([1. , nan, 2.5])
    >>> as_float([1, "fast"], "speed")
    Traceback (most recent call last):
    ValueError: column 'speed': non-numeric value 'fast'
    """
    arr = as_1d(values, name)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        pass
    for v in arr.tolist():  # error path only: find the culprit for the message
        try:
            float(np.nan if v is None else v)
        except (TypeError, ValueError):
            raise ValueError(f"column {name!r}: non-numeric value {v!r}") from None
    raise ValueError(f"column {name!r}: not convertible to numbers")


def encode(labels: np.ndarray, missing: np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    """Codes 0..k-1 for ``categories``, k for anything else ("other"), k+1 for missing.

    Vectorised: a binary search in the sorted categories, no per-value Python loop.

    >>> encode(np.array(["b", "z", "a", ""]), np.array([0, 0, 0, 1], bool), ("a", "b"))
    array([1, 2, 0, 3])
    """
    k = len(categories)
    codes = np.full(labels.size, k, dtype=np.int64)
    if k:
        cats = np.asarray(categories, dtype=str)
        order = np.argsort(cats, kind="stable")
        ordered = cats[order]
        pos = np.minimum(np.searchsorted(ordered, labels), k - 1)
        hit = ordered[pos] == labels
        codes[hit] = order[pos[hit]]
    codes[missing] = k + 1
    return codes


def ratio(num: float, den: float) -> float | None:
    """``num / den`` as a float, or None when the denominator is zero.

    >>> ratio(1, 4), ratio(1, 0)
    (0.25, None)
    """
    return float(num) / float(den) if den else None


def int_list(arr: Iterable[Any]) -> list[int]:
    """Plain Python ints (JSON-able) from any integer iterable."""
    return [int(v) for v in arr]


def float_list(arr: Iterable[Any]) -> list[float]:
    """Plain Python floats (JSON-able) from any numeric iterable."""
    return [float(v) for v in arr]
