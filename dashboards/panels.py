"""Panel helpers: one ClickHouse target per panel, sized on a 24-column grid.

Table panels list their columns in an ``organize`` transformation (column order
in Grafana); the query test reads that list as the columns the SQL must return,
so the contract between a panel and its SQL lives in one place. Time series and bar
charts set their custom field config explicitly (to the SDK's own defaults), so the
JSON decodes through the SDK's typed panel models and encodes back unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from dashboards.query import ClickHouseQueryBuilder, Format, datasource_ref
from dashboards.scope import Scope


def target(scope: Scope, sql: str, fmt: Format) -> ClickHouseQueryBuilder:
    return (
        ClickHouseQueryBuilder(dedent(sql))
        .format(fmt)
        .ref_id("A")
        .datasource(datasource_ref(scope.datasource_uid))
    )


def dedent(sql: str) -> str:
    """Strip blank lines and common indentation so the committed JSON stays readable."""
    lines = [line.rstrip() for line in sql.strip("\n").splitlines() if line.strip()]
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    return "\n".join(line[indent:] for line in lines)


def time_series(
    scope: Scope,
    title: str,
    sql: str,
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    description: str = "",
) -> timeseries.Panel:
    """Long-format time series: a ``time`` column, string label columns, numeric values."""
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref(scope.datasource_uid))
        .with_target(target(scope, sql, Format.TIME_SERIES))
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .span_nulls(False)
        .span(width)
        .height(height)
    )


def organize(columns: Sequence[str]) -> DataTransformerConfig:
    return DataTransformerConfig(
        id_val="organize",
        options={"indexByName": {c: i for i, c in enumerate(columns)}},
    )


def table_panel(
    scope: Scope,
    title: str,
    sql: str,
    columns: Sequence[str],
    *,
    width: int = 24,
    height: int = 9,
    description: str = "",
) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref(scope.datasource_uid))
        .with_target(target(scope, sql, Format.TABLE))
        .with_transformation(organize(columns))
        .span(width)
        .height(height)
    )


def stat_panel(
    scope: Scope,
    title: str,
    sql: str,
    *,
    unit: str = "short",
    width: int = 6,
    height: int = 4,
    description: str = "",
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref(scope.datasource_uid))
        .with_target(target(scope, sql, Format.TABLE))
        .unit(unit)
        .span(width)
        .height(height)
    )


def bar_chart(
    scope: Scope,
    title: str,
    sql: str,
    x_field: str,
    *,
    unit: str = "percentunit",
    width: int = 12,
    height: int = 8,
    description: str = "",
) -> barchart.Panel:
    return (
        barchart.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref(scope.datasource_uid))
        .with_target(target(scope, sql, Format.TABLE))
        .x_field(x_field)
        .unit(unit)
        .line_width(1)
        .fill_opacity(80)
        .gradient_mode(common.GraphGradientMode.NONE)
        .span(width)
        .height(height)
    )
