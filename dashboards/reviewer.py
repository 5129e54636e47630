"""Reviewer monthly: one row per model and month from the daily rollups (``*_day``,
``-Merge`` of ``sumForEach`` / ``sumMap`` states), for consortium reviews."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import sql
from dashboards.base import new_dashboard
from dashboards.panels import table_panel, time_series
from dashboards.scope import Scope

STEM = "monthly"
KEYS = ("time", "consortium", "model")
COLUMNS = (
    "month",
    "consortium",
    "model",
    "drift_share",
    "resonance_index",
    "quality",
    "labelled",
    "p95",
    "inferences",
    "kwh",
    "gco2e",
)


def monthly_sql() -> str:
    bucket = sql.month_bucket()
    keys = ", ".join(KEYS)
    return f"""
    SELECT toDate(m.time) AS month, m.consortium AS consortium, m.model AS model,
           d.drift_share AS drift_share, d.resonance_index AS resonance_index,
           q.quality AS quality,
           q.labelled AS labelled, l.p95 AS p95, e.inferences AS inferences,
           e.kwh AS kwh, e.gco2e AS gco2e
    FROM (
        SELECT DISTINCT {sql.key_select(KEYS, bucket)} FROM scalars_day
        WHERE {sql.where(sql.time_filter(), sql.tenancy_filter())}
    ) AS m
    LEFT JOIN ({sql.energy(sql.DAY, KEYS, bucket=bucket)}
    ) AS e USING ({keys})
    LEFT JOIN ({sql.drift_share(sql.DAY, KEYS, bucket=bucket)}
    ) AS d USING ({keys})
    LEFT JOIN ({sql.model_quality(sql.DAY, KEYS, bucket=bucket)}
    ) AS q USING ({keys})
    LEFT JOIN ({sql.latency_quantiles(sql.DAY, KEYS, bucket=bucket)}
    ) AS l USING ({keys})
    ORDER BY month DESC, consortium, model
    {sql.NULL_JOINS}"""


def build(scope: Scope) -> Dashboard:
    dash = new_dashboard(
        scope,
        STEM,
        "Reviewer monthly",
        "Monthly figures per model from the daily rollups and the stored policy verdicts: "
        "drift share and resonance index (means over the month's windows), quality, "
        "latency p95, inferences, facility kWh and gCO2e.",
        time_from="now-1y",
        refresh="1h",
    )
    bucket = sql.month_bucket()
    dash.with_panel(table_panel(scope, "Per model and month", monthly_sql(), COLUMNS, height=12))
    for title, metric, value, unit in (
        ("Monthly drift share", sql.drift_share, "drift_share", "percentunit"),
        ("Monthly gCO2e", sql.energy, "gco2e", "massg"),
    ):
        trend = sql.model_trend(metric, sql.DAY, value, bucket)
        dash.with_panel(time_series(scope, title, trend, unit=unit))
    return dash
