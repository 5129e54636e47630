"""Model registry for workers: reference profiles (drift bins) and targets (class lists).

Layout under the references directory (what ``resonance simulate`` writes)::

    <dir>/references/<consortium>/<model>-<version>.json   # processors.reference profile
    <dir>/models.json or <dir>/summary.json                # optional: targets, see below

(``<dir>/<consortium>/<model>-<version>.json`` works too, for ``--references-out DIR``.)

A model's target (regressor, or classifier with its class list) comes from the first of:
``models.json`` (``{"models": [{"consortium", "model", "model_version", "target":
{"kind", "classes"}}]}``) or the simulator's ``summary.json`` (its ``models`` entries carry
``kind`` and ``classes``), a ``"target"`` object inside the profile JSON, or the
simulator's built-in catalogue. A model without a profile is unknown: its events go to
the DLQ with reason ``unknown model``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.labels import canonical_label
from processors.reference import ReferenceProfile

log = logging.getLogger(__name__)

ModelId = tuple[str, str, str]  # consortium, model, model_version


@dataclass(frozen=True)
class Target:
    """What the model predicts: ``regressor``, ``binary`` or ``multiclass`` (+ classes)."""

    kind: str
    classes: tuple[str, ...] = ()

    @property
    def is_classifier(self) -> bool:
        return self.kind in ("binary", "multiclass")


@dataclass(frozen=True)
class ModelInfo:
    consortium: str
    model: str
    version: str
    profile: ReferenceProfile
    target: Target | None


class ModelRegistry:
    """Lookup by (consortium, model, model_version); cheap enough for the hot path.

    A registry loaded from a directory re-reads it (at most every ``reload_s`` seconds)
    when asked for a model it does not know, so models added while workers run are
    picked up without a restart.
    """

    def __init__(
        self,
        models: dict[ModelId, ModelInfo] | None = None,
        directory: Path | None = None,
        reload_s: float = 30.0,
    ) -> None:
        self.models: dict[ModelId, ModelInfo] = dict(models or {})
        self.directory = directory
        self.reload_s = reload_s
        self._loaded_at = time.monotonic()

    def get(self, consortium: str, model: str, version: str) -> ModelInfo | None:
        found = self.models.get((consortium, model, version))
        stale = time.monotonic() - self._loaded_at >= self.reload_s
        if found is None and self.directory is not None and stale:
            self.models = self._read(self.directory)
            self._loaded_at = time.monotonic()
            found = self.models.get((consortium, model, version))
        return found

    def __len__(self) -> int:
        return len(self.models)

    @classmethod
    def load(cls, directory: str | Path, reload_s: float = 30.0) -> ModelRegistry:
        """Read every profile under ``<directory>/references`` (a missing dir gives none)."""
        return cls(cls._read(Path(directory)), Path(directory), reload_s)

    @staticmethod
    def _read(directory: Path) -> dict[ModelId, ModelInfo]:
        root = Path(directory)
        targets = {**_targets_file(root / "summary.json"), **_targets_file(root / "models.json")}
        refs = root / "references" if (root / "references").is_dir() else root
        models: dict[ModelId, ModelInfo] = {}
        for path in sorted(refs.glob("*/*.json")):
            consortium = path.parent.name
            try:
                raw = json.loads(path.read_text())
                profile = ReferenceProfile.from_dict(raw)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("skipping reference %s: %s", path, exc)
                continue
            mid = (consortium, profile.model, profile.version)
            target = targets.get(mid) or _target(raw.get("target")) or _catalogue_target(mid)
            models[mid] = ModelInfo(consortium, profile.model, profile.version, profile, target)
        return models


def _class(value: Any) -> str:
    """A class label by the one label rule (processors.labels): True → "true", 1.0 → "1"."""
    return canonical_label(value) or str(value)


def _target(d: Any) -> Target | None:
    if not isinstance(d, dict) or "kind" not in d:
        return None
    return Target(str(d["kind"]), tuple(_class(c) for c in d.get("classes", ())))


def _targets_file(path: Path) -> dict[ModelId, Target]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    rows = data.get("models", []) if isinstance(data, dict) else data
    if isinstance(rows, dict):
        rows = list(rows.values())
    out: dict[ModelId, Target] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        target = _target(row.get("target")) or _target(row)
        version = row.get("model_version", row.get("version"))
        if target is not None and version is not None and "consortium" in row:
            out[(str(row["consortium"]), str(row["model"]), str(version))] = target
    return out


def _catalogue_target(mid: ModelId) -> Target | None:
    """Fallback: the simulator's own catalogue knows its models' targets."""
    try:
        from streams.simulator import catalogue
    except ImportError:
        return None
    for model in _catalogue_models(catalogue):
        if (model.consortium, model.name, model.version) == mid:
            return Target(model.target.kind, tuple(_class(c) for c in model.target.classes))
    return None


def _catalogue_models(catalogue: Any) -> list[Any]:
    for name in ("MODELS", "models"):
        found = getattr(catalogue, name, None)
        if callable(found):
            found = found()
        if found:
            return list(found.values()) if isinstance(found, dict) else list(found)
    return []
