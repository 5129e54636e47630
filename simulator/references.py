"""Reference profiles of the simulated models, fit on their undrifted training distribution.

Files: ``<dir>/<consortium>/<model>-<version>.json`` (``ReferenceProfile.to_json()`` plus
the model's ``"target"``), the local import path of streams.registry; :func:`entries` gives
the same as registry entries, which the demo registers on the ``models`` topic;
classifiers' entries carry a calibration (:func:`calibration_of`), so the demo
estimates their performance before labels (docs/estimation.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from processors.calibration import fit_calibration
from processors.reference import fit_reference
from simulator import truth
from simulator.generator import ModelGenerator, rng_for
from simulator.specs import Model

DEFAULT_SAMPLES = 20_000
CALIBRATION_SAMPLES = 5_000


def reference_path(directory: str | Path, model: Model) -> Path:
    return Path(directory) / model.consortium / f"{model.name}-{model.version}.json"


def training_columns(model: Model, seed: int, n: int = DEFAULT_SAMPLES) -> dict[str, np.ndarray]:
    """``n`` undrifted rows per feature: float64 (numeric) or str (categorical) arrays."""
    gen = ModelGenerator(model, seed=seed, rate=1.0, start_ms=0, duration_s=0.0)
    cols = gen.reference_sample(n)
    return {k: v.astype(str) if k in model.categorical else v for k, v in cols.items()}


def fit(model: Model, seed: int, n: int = DEFAULT_SAMPLES) -> str:
    """The model's reference profile as JSON text (the one call into processors.reference)."""
    profile = fit_reference(
        training_columns(model, seed, n),
        model=model.name,
        version=model.version,
        categorical=model.categorical,
    )
    text = profile.to_json()
    return text if isinstance(text, str) else text.decode()


def target_of(model: Model) -> dict:
    """The registry target of a simulated model (binary: the positive class is the last)."""
    t = model.target
    return {"kind": t.kind, "classes": list(t.classes)} if t.classes else {"kind": t.kind}


def calibration_of(model: Model, seed: int, n: int = CALIBRATION_SAMPLES) -> dict | None:
    """A classifier's calibration (``Calibration.to_dict()``), fitted as a user does at
    registration: the model's scores (binary: ``score``; multiclass: every class's, the
    ``scores`` its predictions carry) on ``n`` undrifted reference rows against actuals
    drawn from the truth. None for regressors."""
    if model.target.kind == "regressor":
        return None
    gen = ModelGenerator(model, seed=seed, rate=1.0, start_ms=0, duration_s=0.0)
    cols = gen.reference_sample(n)
    _, score = truth.predict(model, cols)
    actual = truth.actual(model, cols, rng_for(seed, model.name, "calibration"))
    return fit_calibration(score, actual, model.target.classes).to_dict()


def entries(models: list[Model], seed: int, n: int = DEFAULT_SAMPLES) -> list:
    """Registry entries (reference + target) for the simulated models, as a user registers."""
    import time

    from streams.registry import ModelEntry

    now = int(time.time() * 1000)
    return [
        ModelEntry(
            consortium=m.consortium,
            model=m.name,
            version=m.version,
            target=target_of(m),
            reference=json.loads(fit(m, seed, n)),
            calibration=calibration_of(m, seed),
            provenance={"source": "registered", "by": "simulator"},
            owner=f"{m.consortium} consortium (simulated)",
            registered_at=now,
            updated_at=now,
        )
        for m in models
    ]


def write_references(
    models: list[Model], directory: str | Path, seed: int, n: int = DEFAULT_SAMPLES
) -> list[Path]:
    """Write one reference file per model; return the paths."""
    paths = []
    for model in models:
        path = reference_path(directory, model)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = fit(model, seed, n)
        path.write_text(text[:-1] + f', "target": {json.dumps(target_of(model))}}}')
        paths.append(path)
    return paths
