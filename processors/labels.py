"""The one rule that turns a value into a category label, wherever it comes from.

CSV readers hand over booleans as ``true``/``false``, Python's ``str(bool)`` gives
``True``/``False``, JSON has ``true``; pandas writes integer columns with gaps as
``1.0``. Every entry point (reference build, ``resonance drift``, the stream
decoder's consumers, the engines, the queries) labels values with
:func:`canonical_label` / :func:`as_labels`, so one value is one label:

* booleans, and the strings ``true``/``True``/``TRUE`` → ``"true"`` (same for false);
* integral numbers → the integer (``1.0``, ``1`` and ``np.int8(1)`` → ``"1"``);
  other floats → their shortest repr (``"2.5"``);
* strings lose surrounding whitespace (``" A "`` → ``"A"``); inner whitespace
  and case are kept (``"a b"`` and ``"A"`` stay distinct labels);
* None, NaN, and an empty or whitespace-only string → missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TRUE, FALSE = "true", "false"
BOOLEAN_SPELLINGS = {"true": TRUE, "True": TRUE, "TRUE": TRUE}
BOOLEAN_SPELLINGS |= {"false": FALSE, "False": FALSE, "FALSE": FALSE}
_INT_LIMIT = 2**62  # integral floats below this print exactly as integers


def canonical_label(value: Any) -> str | None:
    """The label of one value, or None when it is missing.

    >>> [canonical_label(v) for v in (True, "TRUE", " True ", 1.0, 2.5, "x ", "  ", None)]
    ['true', 'true', 'true', '1', '2.5', 'x', None, None]
    """
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return TRUE if value else FALSE
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if v != v:
            return None
        return str(int(v)) if v.is_integer() and abs(v) < _INT_LIMIT else repr(v)
    text = str(value).strip()
    if not text:
        return None
    return BOOLEAN_SPELLINGS.get(text, text)


def _strings(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical labels of a str array: strip, fold boolean spellings, "" is missing."""
    labels = np.strings.strip(labels)
    for spelling, label in BOOLEAN_SPELLINGS.items():
        labels[labels == spelling] = label
    return labels, labels == ""


def as_labels(values: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels as a str array plus a missing mask, by :func:`canonical_label`, vectorised.

    >>> labels, missing = as_labels(["a", None, " ", 3, float("nan"), "True", 1.0], "grade")
    >>> labels.tolist(), missing.tolist()
    (['a', '', '', '3', '', 'true', '1'], [False, True, True, False, True, False, False])
    >>> as_labels(np.array([1.0, 2.5]), "k")[0].tolist(), as_labels(np.array([True]), "b")[0]
    (['1', '2.5'], array(['true'], dtype='<U5'))
    """
    from processors.base import as_1d  # base re-exports this function

    arr = as_1d(values, name)
    kind = arr.dtype.kind
    if kind in "US":
        return _strings(arr.astype(str))
    if kind == "b":
        return np.where(arr, TRUE, FALSE), np.zeros(arr.size, dtype=bool)
    if kind in "iu":
        return arr.astype(str), np.zeros(arr.size, dtype=bool)
    if kind == "f":
        missing = np.isnan(arr)
        filled = np.where(missing, 0.0, arr)
        labels = filled.astype(str)
        integral = (filled == np.round(filled)) & (np.abs(filled) < _INT_LIMIT)
        if integral.any():
            labels = labels.astype(object)
            labels[integral] = filled[integral].astype(np.int64).astype(str)
            labels = labels.astype(str)
        labels[missing] = ""
        return labels, missing
    if all(type(v) is str for v in arr.tolist()):  # the decoder's usual object column
        return _strings(arr.astype(str))
    canon = [canonical_label(v) for v in arr.tolist()]
    missing = np.fromiter((c is None for c in canon), dtype=bool, count=len(canon))
    labels = np.array(["" if c is None else c for c in canon], dtype=str)
    if labels.size == 0:
        labels = np.zeros(0, dtype=str)
    return labels, missing
