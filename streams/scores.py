"""A prediction message's scores against its model's classes: what estimation reads.

The decoder (:mod:`streams.decode`) checks each ``scores.<class>`` value on its own
(a number in [0, 1]); only the worker knows the model's classes, so this is where a
class the model does not have, or a multiclass row that gives some classes but not
all, is refused. Refused rows are rejected whole (as a bad ``score`` is by the
decoder), naming ``scores.<class>``; rows without any score are kept and simply not
estimated.

Binary models may send ``score`` (P(positive)) or ``scores`` with either class
(``{"defect": 0.8}`` or ``{"ok": 0.2, "defect": 0.8}``); ``scores`` wins when both
are present.

>>> import numpy as np
>>> from streams.decode import DecodeResult
>>> r = DecodeResult(ts_ms=np.zeros(3, np.int64), rows=np.arange(3),
...                  scores={"a": np.array([0.7, np.nan, 0.1]), "b": np.array([0.2, np.nan, 0.1]),
...                          "c": np.array([0.1, np.nan, np.nan])})
>>> s = prediction_scores(r, ("a", "b", "c"))
>>> s.scored.tolist(), s.bad.tolist(), [str(x) for x in s.rejections]
([True, False, False], [False, False, True], ['scores.c[2]: no probability for this class'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streams.decode import DecodeResult, Rejection

R_UNKNOWN_CLASS = "not a class of the model"
R_INCOMPLETE = "no probability for this class"

__all__ = ["R_INCOMPLETE", "R_UNKNOWN_CLASS", "Scores", "prediction_scores"]


@dataclass(frozen=True)
class Scores:
    """Per accepted row: ``values`` (binary: P(classes[1]), 1-D; multiclass: (n, K) in the
    model's class order), ``scored`` (the row has usable scores), ``bad`` (reject the row)."""

    values: np.ndarray
    scored: np.ndarray
    bad: np.ndarray
    rejections: list[Rejection]


def _reject(r: DecodeResult, mask: np.ndarray, reason: str, field: str) -> Rejection:
    return Rejection(reason, field, tuple(int(i) for i in r.rows[mask]))


def prediction_scores(r: DecodeResult, classes: Sequence[str]) -> Scores:
    """The scores of a decoded prediction message for a classifier with ``classes``."""
    n = r.n
    classes = tuple(classes)
    bad = np.zeros(n, bool)
    rejections: list[Rejection] = []
    given = {c: v for c, v in r.scores.items()}
    for name in sorted(set(given) - set(classes)):
        rows = ~np.isnan(given.pop(name))
        if rows.any():
            rejections.append(
                _reject(r, rows, R_UNKNOWN_CLASS + f" {list(classes)}", f"scores.{name}")
            )
            bad |= rows
    if len(classes) == 2:
        neg, pos = classes
        values = np.asarray(r.columns.get("score", np.full(n, np.nan)), np.float64).copy()
        if neg in given:
            values = np.where(np.isnan(given[neg]), values, 1 - given[neg])
        if pos in given:
            values = np.where(np.isnan(given[pos]), values, given[pos])
        values[bad] = np.nan
        return Scores(values, ~np.isnan(values), bad, rejections)
    values = np.full((n, len(classes)), np.nan)
    for k, c in enumerate(classes):
        if c in given:
            values[:, k] = given[c]
    present = ~np.isnan(values)
    partial = present.any(axis=1) & ~present.all(axis=1) & ~bad  # one reason per row
    for k, c in enumerate(classes):
        rows = partial & ~present[:, k]
        if rows.any():
            rejections.append(_reject(r, rows, R_INCOMPLETE, f"scores.{c}"))
    bad |= partial
    values[bad] = np.nan
    return Scores(values, present.all(axis=1) & ~bad, bad, rejections)
