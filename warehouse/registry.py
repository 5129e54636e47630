"""The registry's mirror in the warehouse: table ``models`` (migration 0005).

The sink writes every entry it reads from the ``models`` topic here, and the entry's
reference profile to ``references``/``reference_features``, so SQL, Grafana and the
console see targets, baselines, importances and SLOs next to the metrics. The topic
stays the source of truth (streams.registry); this copy may lag it by one sink flush.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from warehouse.backend import Backend
from warehouse.references import store_reference

_TS_MS = pa.timestamp("ms", tz="UTC")
_MAP = pa.map_(pa.string(), pa.float64())


def entry_rows(entries: Iterable[Any]) -> pa.Table:
    """:class:`streams.registry.ModelEntry` objects → ``models`` columns."""
    entries = list(entries)
    profiles = [e.profile for e in entries]

    def col(f: Any, dtype: pa.DataType) -> pa.Array:
        return pa.array([f(e) for e in entries], dtype)

    source = [
        (e.provenance.get("source", "none") if p is not None else "none")
        for e, p in zip(entries, profiles, strict=True)
    ]
    return pa.table(
        {
            "consortium": col(lambda e: e.consortium, pa.string()),
            "model": col(lambda e: e.model, pa.string()),
            "model_version": col(lambda e: e.version, pa.string()),
            "target_kind": col(lambda e: e.target.kind if e.target else "", pa.string()),
            "classes": col(
                lambda e: list(e.target.classes) if e.target else [], pa.list_(pa.string())
            ),  # fmt: skip
            "positive_class": col(
                lambda e: (e.target and e.target.positive_class) or "", pa.string()
            ),  # fmt: skip
            "baselines": col(lambda e: list(e.baselines.items()), _MAP),
            "importances": col(lambda e: list(e.importances.items()), _MAP),
            "slo_p95_ms": col(lambda e: e.slo_p95_ms, pa.float64()),
            "owner": col(lambda e: e.owner or "", pa.string()),
            "contact": col(lambda e: e.contact or "", pa.string()),
            "retired": col(lambda e: int(e.retired), pa.uint8()),
            "reference_source": pa.array(source, pa.string()),
            "features": pa.array([len(p.features) if p else 0 for p in profiles], pa.uint32()),
            "provenance": col(lambda e: json.dumps(e.provenance, sort_keys=True), pa.string()),
            "entry": col(
                lambda e: e.model_dump_json(by_alias=True, exclude={"reference"}), pa.string()
            ),  # fmt: skip
            "registered_at": col(lambda e: e.registered_at, _TS_MS),
            "updated_at": col(lambda e: e.updated_at, _TS_MS),
        }
    )


def store_entries(backend: Backend, entries: Iterable[Any]) -> int:
    """Mirror entries (idempotent: ReplacingMergeTree on the model version)."""
    entries = list(entries)
    if not entries:
        return 0
    backend.insert_arrow("models", entry_rows(entries))
    for e in entries:
        profile = e.profile
        if profile is not None:
            target = e.target.model_dump(exclude_none=True) if e.target else None
            store_reference(backend, e.consortium, profile, target)
    return len(entries)


def list_models(backend: Backend, consortium: str | None = None) -> list[dict[str, Any]]:
    """Registered model versions from the mirror (latest entry each), for the query layer.

    Keys: consortium, model, model_version, target_kind, classes, positive_class,
    baselines, importances, slo_p95_ms, owner, contact, retired (bool),
    reference_source, features, provenance (dict).
    """
    where = "WHERE consortium = {c:String}" if consortium else ""
    rows = backend.query(
        "SELECT consortium, model, model_version, target_kind, classes, positive_class,"
        " baselines, importances, slo_p95_ms, owner, contact, retired, reference_source,"
        f" features, provenance FROM models FINAL {where}"
        " ORDER BY consortium, model, model_version",
        {"c": consortium} if consortium else None,
    ).to_pylist()
    for r in rows:
        r["retired"] = bool(r["retired"])
        r["provenance"] = json.loads(r["provenance"] or "{}")
        for k in ("baselines", "importances"):
            r[k] = dict(r[k]) if not isinstance(r[k], dict) else r[k]
    return rows


def registered_slo(
    backend: Backend, consortium: str, model: str, version: str | None = None
) -> float | None:
    """The model's latency SLO (p95, ms) from the registry mirror; None when it has none,
    or when its versions disagree and no ``version`` is given."""
    slos = {
        r["slo_p95_ms"]
        for r in list_models(backend, consortium)
        if r["model"] == model and version in (None, r["model_version"])
    }
    return slos.pop() if len(slos) == 1 else None
