"""The contract every engine follows, plus the small helpers they share.

An engine holds a mergeable sufficient statistic (histogram, confusion matrix,
sums). Windows are summed, never averaged, so a month's metric is the metric of
the month's merged state (docs/design.md, principle 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np


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


def _is_missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and v == "")


_is_missing_vec = np.frompyfunc(_is_missing, 1, 1)


def as_labels(values: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels as a str array plus a missing mask (None, NaN and "" are missing).

    Integral floats are written as integers so ``1.0`` and ``1`` are one label.

    >>> labels, missing = as_labels(["a", None, "", 3, float("nan")], "grade")
    >>> labels.tolist(), missing.tolist()
    (['a', '', '', '3', ''], [False, True, True, False, True])
    >>> as_labels(np.array([1.0, 2.0]), "k")[0].tolist()
    ['1', '2']
    """
    arr = as_1d(values, name)
    kind = arr.dtype.kind
    if kind in "US":
        labels = arr.astype(str)
        return labels, labels == ""
    if kind in "iub":
        return arr.astype(str), np.zeros(arr.size, dtype=bool)
    if kind == "f":
        missing = np.isnan(arr)
        present = arr[~missing]
        integral = bool(np.all(present == np.round(present))) and bool(
            np.all(np.abs(present) < 2**62)
        )
        filled = np.where(missing, 0, arr)
        labels = (filled.astype(np.int64) if integral else filled).astype(str)
    else:
        missing = _is_missing_vec(arr).astype(bool)
        floats = np.array([isinstance(v, float) and v.is_integer() for v in arr], dtype=bool)
        labels = arr.astype(str)
        if floats.any():
            labels[floats] = np.array([str(int(v)) for v in arr[floats]])
    labels[missing] = ""
    return labels, missing


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
