"""Delta rows of one kind → an Arrow table with the kind table's column types."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from warehouse.kinds import DRIFT_KIND, KindSpec, state_to_columns
from warehouse.sink.partials import TENANCY, SinkPartial

_TS = pa.timestamp("s", tz="UTC")
_SUMS = pa.map_(pa.string(), pa.float64())


def rows_to_arrow(
    spec: KindSpec, rows: Sequence[tuple[SinkPartial, Mapping[str, Any]]]
) -> pa.Table:
    """Delta rows of one kind table → an Arrow table with the table's column types."""
    cols: dict[str, list] = defaultdict(list)
    for p, delta in rows:
        for name, value in zip(TENANCY, p.tenancy, strict=True):
            cols[name].append(value)
        if spec.dimension:
            cols[spec.dimension].append(p.dimension)
        if p.kind in DRIFT_KIND:
            cols["kind"].append(DRIFT_KIND[p.kind])
        cols["window_start"].append(p.window_start)
        cols["late"].append(int(p.late))
        cols["key"].append(p.key)
        cols["version"].append(p.version)
        cols["final"].append(int(p.final))
        for name, value in state_to_columns(spec, delta).items():
            cols[name].append(list(value.items()) if isinstance(value, dict) else value)
    return pa.table({name: pa.array(vals, _arrow_type(spec, name)) for name, vals in cols.items()})


def _arrow_type(spec: KindSpec, column: str) -> pa.DataType:
    if column == "window_start":
        return _TS
    if column in ("late", "final"):
        return pa.uint8()
    if column == "version" or column in spec.int_scalars:
        return pa.int64()
    if column == "sums" and spec.map_sums:
        return _SUMS
    for col, dtype in spec.arrays.values():
        if col == column:
            return pa.list_(pa.int64() if dtype == "int64" else pa.float64())
    return pa.string()
