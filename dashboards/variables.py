"""Template variables: consortium → member → model → site → hub (+ feature on model detail).

Each is a ClickHouse query variable whose SQL is filtered by the variables before
it, so choosing a member narrows the models, and so on. Multi-value with "All":
panels filter with ``col IN (${var:singlequote})``, which Grafana expands to every
value of the variable when All is selected (no ``$__conditionalAll``, which only
the browser expands). In a consortium's copy the ``consortium`` variable is a
hidden constant.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import ConstantVariable, QueryVariable
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models.dashboard import VariableModel, VariableRefresh, VariableSort

from dashboards.query import datasource_ref
from dashboards.scope import Scope
from dashboards.sql import TENANCY, tenancy_filter, time_filter

#: Where the distinct values come from: the volume partials list every active stream.
VALUES_TABLE = "volume_minute"


def values_sql(column: str, after: tuple[str, ...], table: str = VALUES_TABLE) -> str:
    """Distinct ``column`` values in the time range, filtered by the earlier variables."""
    conditions = [time_filter()]
    if after:
        conditions.append(tenancy_filter(after))
    return (
        f"SELECT DISTINCT {column} FROM {table} WHERE {' AND '.join(conditions)} ORDER BY {column}"
    )


def query_variable(
    scope: Scope, name: str, sql: str, *, multi: bool = True, label: str | None = None
) -> QueryVariable:
    return (
        QueryVariable(name)
        .label(label or name.capitalize())
        .datasource(datasource_ref(scope.datasource_uid))
        .query({"editorType": "sql", "rawSql": sql})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )


def tenancy_variables(scope: Scope) -> list[cogbuilder.Builder[VariableModel]]:
    """consortium, member, model, site, hub for this scope."""
    out: list[cogbuilder.Builder[VariableModel]] = []
    for i, name in enumerate(TENANCY):
        if name == "consortium" and scope.consortium is not None:
            # Constant variables are never shown in Grafana's variable bar.
            out.append(ConstantVariable(name).value(scope.consortium).label("Consortium"))
            continue
        out.append(query_variable(scope, name, values_sql(name, TENANCY[:i])))
    return out


def feature_variable(scope: Scope) -> QueryVariable:
    """Single feature (the histogram panel compares one feature at a time)."""
    sql = (
        f"SELECT DISTINCT feature FROM drift_minute WHERE {time_filter()} AND "
        f"{tenancy_filter()} ORDER BY feature"
    )
    return query_variable(scope, "feature", sql, multi=False)
