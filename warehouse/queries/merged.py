"""Stored partials summed in SQL per bucket and series, and the shape of a query's result.

:func:`merged_states` is the one place the range queries read partials; :class:`_Query`
is what every metric query starts from (filters, range, step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from errors import UsageError
from warehouse.backend import Backend
from warehouse.kinds import KINDS, KindSpec, columns_to_state
from warehouse.queries.times import _range, segments
from warehouse.states import rebuild, summed_sql


@dataclass(frozen=True)
class Filters:
    """Tenancy filters (exact matches, passed as parameters)."""

    consortium: str
    model: str | None = None
    model_version: str | None = None
    member: str | None = None
    site: str | None = None
    hub: str | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        conds, params = [], {}
        for name in ("consortium", "model", "model_version", "member", "site", "hub"):
            value = getattr(self, name)
            if value is not None:
                conds.append(f"{name} = {{f_{name}:String}}")
                params[f"f_{name}"] = value
        return " AND ".join(conds), params


@dataclass
class Merged:
    """One series × bucket: its key columns and the summed state."""

    bucket: int
    keys: dict[str, str]
    state: dict[str, Any]


def merged_states(
    backend: Backend,
    spec: KindSpec,
    filters: Filters,
    lo: int,
    hi: int,
    step: int | None,
    by: Sequence[str],
    extra_where: str = "",
) -> list[Merged]:
    """Sum a kind's stored states per (bucket, ``by``) over [lo, hi) in SQL."""
    by = list(by)
    where, params = filters.where()
    if extra_where:
        where = f"{where} AND {extra_where}"
    params["step"] = step or 1
    params["lo"] = lo
    bucket = (
        "{lo:Int64}"
        if step is None
        else ("intDiv(toInt64(toUnixTimestamp(window_start)), {step:Int64}) * {step:Int64}")
    )
    keys = [f"{bucket} AS bucket", *by]
    group = ["bucket", *by]
    parts = []
    for i, (grain, a, b) in enumerate(segments(lo, hi, step)):
        params[f"a{i}"], params[f"b{i}"] = a, b
        span = [
            f"window_start >= toDateTime({{a{i}:Int64}}, 'UTC')",
            f"window_start < toDateTime({{b{i}:Int64}}, 'UTC')",
        ]
        parts.append(summed_sql(spec, keys, group=group, where=[where, *span], grain=grain))
    sql = (
        summed_sql(spec, group, source=" UNION ALL ".join(parts)) + f" ORDER BY {', '.join(group)}"
    )
    out = []
    for row in backend.query(sql, params).to_pylist():
        found = {k: row[k] for k in by}
        out.append(Merged(int(row["bucket"]), found, columns_to_state(spec, row)))
    return out


@dataclass
class QueryResult:
    """Rows of metrics (plain dicts) with a stable column order."""

    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


def _finish(rows: list[dict[str, Any]], lead: Sequence[str]) -> QueryResult:
    cols = list(lead)
    for row in rows:
        cols.extend(k for k in row if k not in cols)
    return QueryResult(cols, rows)


@dataclass(frozen=True)
class _Query:
    """What every metric query starts from: the tenancy filters, the time range and the step."""

    filters: Filters
    lo: int
    hi: int
    step: int | None

    @classmethod
    def of(
        cls,
        consortium: str,
        model: str | None,
        filters: Mapping[str, str | None],
        start: Any,
        end: Any,
        step: str | int | None,
    ) -> _Query:
        f = Filters(consortium, model, **filters)
        return cls(f, *_range(start, end, step))

    def merged(self, backend: Backend, kind: str, by: Sequence[str]) -> list[Merged]:
        return merged_states(backend, KINDS[kind], self.filters, self.lo, self.hi, self.step, by)


def _engine(cls: Any, m: Merged) -> Any:
    """The engine of a merged state (fields the stored state lacks keep their defaults)."""
    return rebuild(cls, m.state)


_BY = ("member", "site", "hub")


def _extra_by(by: Sequence[str]) -> list[str]:
    bad = [b for b in by if b not in _BY]
    if bad:
        raise UsageError(f"--by {bad[0]!r}: choose from {', '.join(_BY)}")
    return list(dict.fromkeys(by))
