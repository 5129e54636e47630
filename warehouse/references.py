"""Reference profiles in the warehouse: the static half of drift.

Stored partials are histograms over a model version's reference bins; PSI, KS
and friends need those bins (and the reference counts) at read time, and the
dashboards draw "reference vs current". So each profile is stored once as JSON
(``references``) and once per feature (``reference_features``), both
ReplacingMergeTree tables read with FINAL: storing a profile again replaces it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from warehouse.backend import Backend

_TS_MS = pa.timestamp("ms", tz="UTC")


def store_reference(
    backend: Backend,
    consortium: str,
    profile: Any,
    target: Mapping[str, Any] | None = None,
    baseline: Mapping[str, float] | None = None,
) -> int:
    """Store a :class:`processors.reference.ReferenceProfile` for ``consortium``.

    ``target`` (``{"kind": "binary", "classes": [...]}``, as in streams.registry) is
    kept inside the profile JSON: partials carry no class list, queries need it.
    ``baseline`` (``{"accuracy": 0.93}`` or ``{"mae": 4.1}``: the model's reference
    quality) is kept there too, for reports of accuracy against the baseline.
    """
    now = int(time.time() * 1000)
    doc = profile.to_dict() | ({"target": dict(target)} if target else {})
    doc |= {"baseline": {k: float(v) for k, v in baseline.items()}} if baseline else {}
    backend.insert_arrow(
        "references",
        pa.table(
            {
                "consortium": [consortium],
                "model": [profile.model],
                "model_version": [profile.version],
                "profile": [json.dumps(doc, allow_nan=False)],
                "updated_at": pa.array([now], _TS_MS),
            }
        ),
    )
    feats = profile.features
    rows = [ref.to_dict() for ref in feats.values()]
    return backend.insert_arrow(
        "reference_features",
        pa.table(
            {
                "consortium": [consortium] * len(rows),
                "model": [profile.model] * len(rows),
                "model_version": [profile.version] * len(rows),
                "feature": list(feats),
                "kind": [r["kind"] for r in rows],
                "edges": pa.array([r.get("edges", []) for r in rows], pa.list_(pa.float64())),
                "categories": pa.array(
                    [r.get("categories", []) for r in rows], pa.list_(pa.string())
                ),
                "counts": pa.array([r["counts"] for r in rows], pa.list_(pa.int64())),
                "sums": pa.array([r.get("sums", []) for r in rows], pa.list_(pa.float64())),
                "group_ends": pa.array(
                    [r.get("group_ends", []) for r in rows], pa.list_(pa.uint32())
                ),
                "n": pa.array([r["n"] for r in rows], pa.int64()),
                "n_missing": pa.array([r["n_missing"] for r in rows], pa.int64()),
                "updated_at": pa.array([now] * len(rows), _TS_MS),
            }
        ),
    )
