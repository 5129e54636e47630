"""Reference profiles of the simulated models, fit on their undrifted training distribution.

Files: ``<dir>/<consortium>/<model>-<version>.json`` (``ReferenceProfile.to_json()``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from processors.reference import fit_reference
from streams.simulator.generator import ModelGenerator
from streams.simulator.specs import Model

DEFAULT_SAMPLES = 20_000


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


def write_references(
    models: list[Model], directory: str | Path, seed: int, n: int = DEFAULT_SAMPLES
) -> list[Path]:
    """Write one reference file per model; return the paths."""
    paths = []
    for model in models:
        path = reference_path(directory, model)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fit(model, seed, n))
        paths.append(path)
    return paths
