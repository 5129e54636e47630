"""Consortium overview: every model's Resonance index, drift share, quality, energy and
open alerts in one table, with trends of each below it."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import sql
from dashboards.base import alert_annotation, new_dashboard
from dashboards.panels import stat_panel, table_panel, time_series
from dashboards.scope import Scope

STEM = "overview"
MODEL_KEYS = ("consortium", "model")
CONSORTIUM = ("consortium",)
MODEL_COLUMNS = (
    "consortium",
    "model",
    "resonance_index",
    "drift_share",
    "quality",
    "j_per_inference",
    "open_alerts",
    "events",
)


INDEX = "d.resonance_index"  # the policy's stored index (mean over the range's windows)


def models_sql() -> str:
    """One row per model: the index from its three components, plus energy and alerts."""
    keys = ", ".join(MODEL_KEYS)
    return f"""
    SELECT m.consortium AS consortium, m.model AS model,
           {INDEX} AS resonance_index,
           d.drift_share AS drift_share, q.quality AS quality,
           e.j_per_inference AS j_per_inference, ifNull(a.open_alerts, 0) AS open_alerts,
           h.events AS events
    FROM (
        SELECT DISTINCT {keys} FROM volume_minute
        WHERE {sql.where(sql.time_filter(), sql.tenancy_filter())}
    ) AS m
    LEFT JOIN ({sql.drift_share(sql.MINUTE, MODEL_KEYS)}
    ) AS d USING ({keys})
    LEFT JOIN ({sql.model_quality(sql.MINUTE, MODEL_KEYS)}
    ) AS q USING ({keys})
    LEFT JOIN ({sql.service_health(MODEL_KEYS)}
    ) AS h USING ({keys})
    LEFT JOIN ({sql.energy(sql.MINUTE, MODEL_KEYS)}
    ) AS e USING ({keys})
    LEFT JOIN ({sql.open_alerts(MODEL_KEYS)}
    ) AS a USING ({keys})
    ORDER BY resonance_index ASC NULLS LAST, consortium, model
    {sql.NULL_JOINS}"""


def build(scope: Scope) -> Dashboard:
    dash = new_dashboard(
        scope,
        STEM,
        "Consortium overview",
        "Resonance index per model (data fit, model quality, service health), drift, "
        "quality, energy and open alerts. Metrics are computed from merged partials.",
    )
    dash.annotation(alert_annotation(scope))
    dash.with_panel(
        stat_panel(
            scope,
            "Models monitored",
            f"SELECT uniqExact(consortium, model) AS models FROM volume_minute "
            f"WHERE {sql.where(sql.time_filter(), sql.tenancy_filter())}",
        )
    )
    dash.with_panel(
        stat_panel(
            scope,
            "Open alerts",
            sql.select_from("sum(open_alerts) AS open_alerts", sql.open_alerts(CONSORTIUM)),
        )
    )
    dash.with_panel(
        stat_panel(
            scope,
            "Drift share (all models)",
            sql.select_from(
                "avg(drift_share) AS drift_share", sql.drift_share(sql.MINUTE, MODEL_KEYS)
            ),
            unit="percentunit",
        )
    )
    dash.with_panel(
        stat_panel(
            scope,
            "Energy (kWh, facility)",
            sql.select_from("sum(kwh) AS kwh", sql.energy(sql.MINUTE, CONSORTIUM)),
            unit="kwatth",
        )
    )
    dash.with_panel(table_panel(scope, "Models", models_sql(), MODEL_COLUMNS, height=10))
    bucket = sql.time_bucket()
    for title, metric, value, unit in (
        ("Drift share", sql.drift_share, "drift_share", "percentunit"),
        ("Model quality (accuracy / 1 − MAPE)", sql.model_quality, "quality", "percentunit"),
        ("Energy per inference", sql.energy, "j_per_inference", "joule"),
    ):
        trend = sql.model_trend(metric, sql.MINUTE, value, bucket)
        dash.with_panel(time_series(scope, title, trend, unit=unit, width=8))
    return dash
