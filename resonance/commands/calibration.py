"""Score calibration at registration: ``models register --predictions FILE ...``.

Performance estimation (processors.cbpe) reads calibrated scores as probabilities, so a
classifier's version is registered with reference predictions and their labels: the
calibration is fitted once (:func:`processors.calibration.fit_calibration`), stored in
the registry entry (``calibration``) and its quality printed (ECE on the reference,
cross-fitted). Every problem with the file is one line naming the flag, the column and
the file, and nothing is registered.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import numpy as np

from errors import UsageError
from processors.calibration import METHODS, Calibration, fit_calibration
from processors.labels import as_labels
from resonance.io import column_is_numeric, read_table

__all__ = ["add_calibration_options", "fit_from_args", "describe"]


def add_calibration_options(parser: argparse.ArgumentParser) -> None:
    """The ``--predictions`` flags of ``resonance models register``."""
    g = parser.add_argument_group("score calibration (performance estimation, classifiers)")
    g.add_argument("--predictions", metavar="FILE",
                   help="reference predictions with their labels (CSV or Parquet)")  # fmt: skip
    g.add_argument("--score-column", metavar="S",
                   help="binary: the positive-class probability; multiclass: one column per "
                   "class, as class=column,... or in the target's class order")  # fmt: skip
    g.add_argument("--label-column", metavar="L", help="the actual class of each row")
    g.add_argument("--prediction-column", metavar="P",
                   help="the predicted class (default: score >= 0.5 or the top score)")  # fmt: skip
    g.add_argument("--calibration-method", choices=METHODS, default="isotonic",
                   help="isotonic (default) or histogram binning")  # fmt: skip


def _given(args: argparse.Namespace) -> bool:
    flags = ("score_column", "label_column", "prediction_column")
    if args.predictions is None:
        extra = [f for f in flags if getattr(args, f) is not None]
        if extra:
            raise UsageError(f"--{extra[0].replace('_', '-')}: only with --predictions FILE")
        return False
    for flag in ("score_column", "label_column"):
        if getattr(args, flag) is None:
            raise UsageError(f"--{flag.replace('_', '-')}: required with --predictions")
    return True


def _column(columns: Mapping[str, np.ndarray], name: str, flag: str, path: str) -> np.ndarray:
    if name not in columns:
        raise UsageError(f"{flag} {name!r}: no such column in {path}")
    return columns[name]


def _score_columns(text: str, classes: tuple[str, ...]) -> dict[str, str]:
    """{class: column} of ``--score-column`` (binary: one column, the positive class's)."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if len(classes) == 2:
        if len(items) != 1 or "=" in items[0]:
            raise UsageError(f"--score-column {text!r}: a binary model has one score column")
        return {classes[1]: items[0]}
    if all("=" in i for i in items):
        pairs = dict(tuple(p.strip() for p in i.split("=", 1)) for i in items)
        unknown = sorted(set(pairs) - set(classes))
        if unknown:
            raise UsageError(f"--score-column {unknown[0]!r}: not a class of {list(classes)}")
    elif any("=" in i for i in items):
        raise UsageError(f"--score-column {text!r}: give all columns as class=column or none")
    else:
        pairs = dict(zip(classes, items, strict=False))
        if len(items) != len(classes):
            raise UsageError(
                f"--score-column: {len(items)} columns for {len(classes)} classes {list(classes)}"
            )
    missing = [c for c in classes if c not in pairs]
    if missing:
        raise UsageError(f"--score-column: no column for class {missing[0]!r}")
    return pairs


def _scores(columns: Mapping[str, np.ndarray], name: str, path: str) -> np.ndarray:
    values = _column(columns, name, "--score-column", path)
    if not column_is_numeric(columns, name):
        raise UsageError(f"--score-column {name!r}: not numeric in {path}")
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise UsageError(
            f"--score-column {name!r}: {int(missing.sum())} missing values in {path}"
            f" (first at row {row + 1})"
        )
    outside = (values < 0) | (values > 1)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise UsageError(
            f"--score-column {name!r}: {int(outside.sum())} values outside [0, 1] in {path}"
            f" (row {row + 1}: {values[row]:g}); scores must be probabilities"
        )
    return values


def fit_from_args(
    args: argparse.Namespace, target: Mapping[str, Any] | None
) -> tuple[Calibration, dict[str, float | None]] | None:
    """The calibration the flags ask for, plus reference accuracies; None without flags.

    The accuracies (``realised``, and ``estimated`` by CBPE on the same rows) show at
    registration how far the estimate is from the truth on data where both are known.
    """
    if not _given(args):
        return None
    if target is None or target.get("kind") not in ("binary", "multiclass"):
        raise UsageError("--predictions: only for a classifier (--target binary|multiclass)")
    classes = tuple(target["classes"])
    path = str(args.predictions)
    columns = read_table(path)
    by_class = _score_columns(args.score_column, classes)
    label_values = _column(columns, args.label_column, "--label-column", path)
    labels, missing = as_labels(label_values, args.label_column)
    if missing.all():
        raise UsageError(
            f"--label-column {args.label_column!r}: no labels in {path} (every value is"
            " missing); a calibration needs reference rows with their actual class"
        )
    if len(classes) == 2:
        scores: Any = _scores(columns, by_class[classes[1]], path)
    else:
        scores = np.column_stack([_scores(columns, by_class[c], path) for c in classes])
    predicted = None
    if args.prediction_column is not None:
        predicted = _column(columns, args.prediction_column, "--prediction-column", path)
        text, absent = as_labels(predicted, args.prediction_column)
        bad = absent | ~np.isin(text, np.asarray(classes))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UsageError(
                f"--prediction-column {args.prediction_column!r}: row {row + 1} of {path}"
                f" holds {str(text[row]) or 'nothing'!r}, not one of {list(classes)}"
            )
        predicted = text
    try:
        cal = fit_calibration(scores, labels, classes, method=args.calibration_method)
    except ValueError as exc:
        raise UsageError(f"--predictions {path}: {exc}") from None
    from processors.cbpe import CBPE

    keep = ~missing
    s = scores[keep]
    if predicted is None:  # what the engine assumes: score >= 0.5, or the top score
        idx = (s >= 0.5).astype(int) if s.ndim == 1 else s.argmax(axis=1)
        predicted = np.asarray(classes)[idx]
    else:
        predicted = predicted[keep]
    estimated = CBPE(cal).update(predicted, s).result()["estimated_accuracy"]
    realised = float(np.mean(predicted == labels[keep]))
    return cal, {"realised_accuracy": realised, "estimated_accuracy": estimated}


def describe(cal: Calibration, accuracy: Mapping[str, float | None]) -> str:
    """The line ``models register`` prints about a fitted calibration."""
    est = accuracy.get("estimated_accuracy")
    est_text = "-" if est is None else f"{est:.3f}"
    return (
        f"calibration: {cal.method} on {cal.n} labelled reference rows, ECE {cal.ece:.4f}"
        f" (raw scores {cal.ece_raw:.4f}); reference accuracy"
        f" {accuracy['realised_accuracy']:.3f}, estimated {est_text}"
    )
