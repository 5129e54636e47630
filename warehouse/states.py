"""Stored partials → merged states → engines: the one read model (docs/design.md, principle 1).

Every reader of the partial tables goes through this module: the range queries
(:mod:`warehouse.queries`: CLI, reports), the per-window reader (:mod:`warehouse.window_reader`:
policy evaluator, console, demo summary) and the Grafana SQL generator (``dashboards/sql.py``,
which composes its metric expressions over :func:`summed_sql`). So the merged-state SQL, the
reference and hub lookups and the engine rebuild (defaults, categorical states, class labels)
are written once.

Rows are deltas, so summing them (``sumForEach`` over arrays, ``sumMap`` over the scalar sums
map, ``-Merge`` of the same on the hour / day rollups) is exact, late rows included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from processors.drift import CategoricalDrift, NumericDrift
from processors.labels import canonical_label
from processors.reference import FeatureReference, NumericReference
from warehouse.backend import Backend
from warehouse.kinds import KindSpec

MINUTE, HOUR, DAY = 60, 3_600, 86_400

#: The compute hubs' factors as stored at migrate time (warehouse.carbon).
HUBS_SQL = "SELECT hub, grid_gco2_per_kwh, pue FROM hubs FINAL"
#: Per-feature reference bins (migration 0001's view over ``references``), for SQL metrics.
REFERENCE_FEATURES_SQL = "SELECT * FROM reference_features FINAL"


def iso(value: datetime | int | float | str) -> str:
    """A ClickHouse DateTime (datetime, or epoch seconds) → ``YYYY-MM-DDTHH:MM:SSZ``.

    >>> iso(0), iso(datetime(2026, 12, 2, 14, 5, tzinfo=UTC)), iso("2026-12-02T00:00:00Z")
    ('1970-01-01T00:00:00Z', '2026-12-02T14:05:00Z', '2026-12-02T00:00:00Z')
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(float(value), UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------ SQL


def value_aggregates(spec: KindSpec, rollup: bool = False) -> list[tuple[str, str]]:
    """(column, aggregate function) for a kind's value columns, minute or rollup table.

    >>> from warehouse.kinds import KINDS
    >>> value_aggregates(KINDS["latency"], rollup=True)
    [('buckets', 'sumForEachMerge'), ('sums', 'sumMapMerge')]
    """
    out = []
    seen = set()
    for _key, (col, _dtype) in spec.arrays.items():
        if col not in seen:
            out.append((col, "sumForEachMerge" if rollup else "sumForEach"))
            seen.add(col)
    if spec.table == "drift_minute" and "sums" not in seen:
        out.append(("sums", "sumForEachMerge" if rollup else "sumForEach"))
    for col in spec.int_scalars:
        out.append((col, "sum"))
    if spec.map_sums:
        out.append(("sums", "sumMapMerge" if rollup else "sumMap"))
    return out


def table_for(spec: KindSpec, grain: int = MINUTE) -> tuple[str, str]:
    """(table, extra condition) of a kind at a grain: the rollups of the scalar kinds share
    one table (``scalars_hour`` / ``scalars_day``) told apart by its ``kind`` column.

    >>> from warehouse.kinds import KINDS
    >>> table_for(KINDS["energy"]), table_for(KINDS["energy"], DAY)
    (('energy_minute', ''), ('scalars_day', "kind = 'energy'"))
    """
    table = {MINUTE: spec.table, HOUR: spec.hour_table, DAY: spec.day_table}[grain]
    return table, (f"kind = '{spec.kind}'" if table.startswith("scalars_") else "")


def summed_sql(
    spec: KindSpec,
    keys: Sequence[str],
    *,
    group: Sequence[str] | None = None,
    where: Sequence[str] = (),
    grain: int = MINUTE,
    values: Sequence[str] | None = None,
    source: str | None = None,
) -> str:
    """The merged-state query: a kind's value columns summed per ``group`` (default ``keys``).

    ``keys``: SELECT expressions (``expr AS name`` allowed); ``where``: conditions ANDed (the
    rollup's ``kind`` condition is added); ``values``: only these value columns (default all);
    ``source``: a subquery of minute-shaped summed rows to sum again instead of a table.

    >>> from warehouse.kinds import KINDS
    >>> summed_sql(KINDS["energy"], ["model"], where=["consortium = 'c'"], grain=DAY)
    "SELECT model, sumMapMerge(sums) AS sums FROM scalars_day WHERE consortium = 'c' AND kind = 'energy' GROUP BY model"
    """  # noqa: E501
    rollup = source is None and grain != MINUTE
    table, kind_cond = (f"({source})", "") if source else table_for(spec, grain)
    aggs = [
        f"{fn}({col}) AS {col}"
        for col, fn in value_aggregates(spec, rollup)
        if values is None or col in values
    ]
    conds = [c for c in (*where, kind_cond) if c and c != "1"]
    sql = f"SELECT {', '.join([*keys, *aggs])} FROM {table}"
    if conds:
        sql += f" WHERE {' AND '.join(conds)}"
    return sql + f" GROUP BY {', '.join(group if group is not None else keys)}"


# -------------------------------------------------------------------- lookup tables


def load_profiles(
    backend: Backend,
    consortium: str | None = None,
    model: str | None = None,
    model_version: str | None = None,
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(consortium, model, model_version) → the stored reference profile (JSON dict)."""
    conds, params = [], {}
    for name, value in (
        ("consortium", consortium),
        ("model", model),
        ("model_version", model_version),
    ):
        if value is not None:
            conds.append(f"{name} = {{{name}:String}}")
            params[name] = value
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    table = backend.query(
        f"SELECT consortium, model, model_version, profile FROM references FINAL{where}", params
    )
    return {
        (r["consortium"], r["model"], r["model_version"]): orjson.loads(r["profile"])
        for r in table.to_pylist()
    }


def hub_factors(backend: Backend) -> dict[str, tuple[float, float]]:
    """hub → (grid gCO2/kWh, PUE) as stored at migrate time."""
    table = backend.query(HUBS_SQL)
    return {r["hub"]: (r["grid_gco2_per_kwh"], r["pue"]) for r in table.to_pylist()}


# ------------------------------------------------------------------------- engines


def rebuild(cls: Any, state: Mapping[str, Any]) -> Any:
    """The engine of a summed scalar state: sums that were zero in every delta are absent
    from the summed map, so the engine's empty state fills them."""
    return cls.from_dict(cls().to_dict() | dict(state))


def drift_engine(
    state: Mapping[str, Any], ref: FeatureReference
) -> NumericDrift | CategoricalDrift:
    """The drift engine of a summed drift state against the feature's reference (the
    reference decides numeric or categorical; categorical states have no sums)."""
    if isinstance(ref, NumericReference):
        return NumericDrift.from_dict(dict(state), ref=ref)
    return CategoricalDrift.from_dict({"counts": state["counts"]}, ref=ref)


def class_labels(
    stored: str | None, state: Mapping[str, Any], profile: Mapping[str, Any] | None
) -> list[str]:
    """Class labels: stored with the partial, else the profile's target, else 0..k-1.

    >>> class_labels(None, {"confusion": [[1, 0], [0, 1]]}, {"target": {"classes": [0, 1]}})
    ['0', '1']
    >>> class_labels('["no", "yes"]', {"confusion": [[1, 0], [0, 1]]}, None)
    ['no', 'yes']
    """
    if stored:
        return list(orjson.loads(stored))
    k = len(state["confusion"])
    target = (profile or {}).get("target") or {}
    classes = [canonical_label(c) or str(c) for c in target.get("classes") or []]
    return classes if len(classes) == k else [str(i) for i in range(k)]


def classification_engine(
    state: Mapping[str, Any], stored_classes: str | None, profile: Mapping[str, Any] | None
) -> Any:
    """ClassificationAccuracy of a summed state (its score bins read off the state)."""
    from processors.accuracy import ClassificationAccuracy

    classes = class_labels(stored_classes, state, profile)
    score_bins = len(state.get("score_sums") or []) or None
    static: dict[str, Any] = {"classes": classes}
    if score_bins:
        static["score_bins"] = score_bins
    return ClassificationAccuracy.from_dict(dict(state), **static)
