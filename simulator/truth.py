"""The deployed model and the ground truth it approximates.

Both are linear in standardised features; the truth bends each term (see
:class:`~simulator.specs.Target`), sees the real process values rather
than faulty sensor readings, and knows the effect of categories the model has
never seen. So accuracy is good in the training range and degrades under drift.

>>> from simulator.catalogue import MODELS_BY_NAME
>>> m = MODELS_BY_NAME["bolt-torque"]
>>> cols = {f.name: np.array([f.mean]) if hasattr(f, "mean") else np.array(["boltun"], object)
...         for f in m.features}
>>> round(float(outputs(m, cols, truth=False)[0, 0]), 3)
120.0
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from simulator.specs import Model, Numeric

Columns = dict[str, np.ndarray]


def standardise(model: Model, name: str, x: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` of the training distribution; missing (NaN) becomes 0."""
    f = model.feature(name)
    assert isinstance(f, Numeric)
    z = (np.asarray(x, dtype=float) - f.mean) / f.std
    return np.nan_to_num(z, nan=0.0)


def outputs(model: Model, values: Columns, *, truth: bool) -> np.ndarray:
    """``(n, n_outputs)`` regression values or class logits, as model or as truth."""
    t = model.target
    n = len(next(iter(values.values())))
    out = np.tile(t.vector(t.bias), (n, 1))
    for name, coef in t.weights.items():
        z = standardise(model, name, values[name])
        if truth:
            z = z + t.curvature * (z * z - 1.0) / 2.0
        out += np.outer(z, t.vector(coef))
    for name, table in t.effects.items():
        x = values[name]
        for category, coef in table.items():
            out += np.outer(x == category, t.vector(coef))
    if truth and t.unseen_effect:
        for name in model.categorical:
            x = values[name]
            unseen = x != None  # noqa: E711 (elementwise on an object array)
            for category in model.feature(name).probs:  # type: ignore[union-attr]
                unseen &= x != category
            out += np.outer(unseen, t.vector(t.unseen_effect))
    return out


def predict(model: Model, observed: Columns) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's prediction per row (float or class name) and its scores: binary, the
    positive class's probability (n,); multiclass, every class's (n, K), the softmax of
    the model's outputs (the ``scores`` object of a prediction event)."""
    t = model.target
    y = outputs(model, observed, truth=False)
    if t.kind == "regressor":
        return np.round(np.clip(y[:, 0], t.lo, t.hi), t.decimals), None
    classes = np.asarray(t.classes, dtype=object)
    if t.kind == "binary":
        score = expit(y[:, 1] - y[:, 0])
        return classes[(score >= 0.5).astype(int)], np.round(score, 4)
    z = np.exp(y - y.max(axis=1, keepdims=True))
    probs = z / z.sum(axis=1, keepdims=True)
    return classes[np.argmax(y, axis=1)], np.round(probs, 4)


def actual(model: Model, process: Columns, rng: np.random.Generator) -> np.ndarray:
    """Ground truth per row: truth + noise (regressors) or a class drawn from the truth."""
    t = model.target
    y = outputs(model, process, truth=True)
    n = len(y)
    if t.kind == "regressor":
        noisy = y[:, 0] + t.noise * rng.standard_normal(n)
        return np.round(np.clip(noisy, t.lo, t.hi), t.decimals)
    gumbel = rng.gumbel(size=y.shape)  # Gumbel-max: a draw from softmax(logits)
    return np.asarray(t.classes, dtype=object)[np.argmax(y + gumbel, axis=1)]
