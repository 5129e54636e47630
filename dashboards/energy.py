"""Energy & carbon: per compute hub and per model, J/inference, kWh, gCO2e and PUE.

Facility kWh = metered IT joules / 3.6e6 × the hub's PUE; gCO2e = facility kWh × the
hub's grid intensity (``hubs`` table, from warehouse.carbon's provincial factors)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import sql
from dashboards.base import new_dashboard
from dashboards.panels import stat_panel, table_panel, time_series
from dashboards.scope import Scope

STEM = "energy"
ENERGY_COLUMNS = ("j_per_inference", "inferences", "it_kwh", "kwh", "gco2e", "pue")
HUB_COLUMNS = ("hub", "grid_gco2_per_kwh", *ENERGY_COLUMNS)
MODEL_COLUMNS = ("consortium", "model", "hub", *ENERGY_COLUMNS)


def per_hub() -> str:
    return f"""
    SELECT e.hub AS hub, h.grid_gco2_per_kwh AS grid_gco2_per_kwh,
           {", ".join(f"e.{c} AS {c}" for c in ENERGY_COLUMNS)}
    FROM ({sql.energy(sql.MINUTE, ("hub",))}
    ) AS e
    LEFT JOIN ({sql.HUBS}) AS h ON h.hub = e.hub
    ORDER BY gco2e DESC"""


def per_model() -> str:
    return f"""
    SELECT {", ".join(MODEL_COLUMNS)}
    FROM ({sql.energy(sql.MINUTE, ("consortium", "model", "hub"))}
    )
    ORDER BY gco2e DESC"""


def over_time(value: str, by: str) -> str:
    return sql.series(sql.energy(sql.MINUTE, ("time", by), bucket=sql.time_bucket()), value, by)


def total(value: str) -> str:
    return sql.select_from(value, sql.energy(sql.MINUTE, ("consortium",)))


def build(scope: Scope) -> Dashboard:
    dash = new_dashboard(
        scope,
        STEM,
        "Energy & carbon",
        "Energy per inference, facility kWh (IT energy × PUE) and gCO2e (× grid intensity) "
        "per compute hub and per model.",
        time_from="now-24h",
    )
    dash.with_panel(stat_panel(scope, "Facility energy", total("sum(kwh) AS kwh"), unit="kwatth"))
    dash.with_panel(stat_panel(scope, "Emissions", total("sum(gco2e) AS gco2e"), unit="massg"))
    dash.with_panel(
        stat_panel(
            scope,
            "Energy per inference",
            total("sum(joules) / nullIf(sum(inferences), 0) AS j_per_inference"),
            unit="joule",
        )
    )
    dash.with_panel(
        stat_panel(scope, "Inferences", total("sum(inferences) AS inferences"), unit="short")
    )
    dash.with_panel(table_panel(scope, "Per compute hub", per_hub(), HUB_COLUMNS, height=8))
    dash.with_panel(table_panel(scope, "Per model", per_model(), MODEL_COLUMNS, height=9))
    dash.with_panel(time_series(scope, "gCO2e per hub", over_time("gco2e", "hub"), unit="massg"))
    dash.with_panel(
        time_series(
            scope,
            "Energy per inference per model",
            over_time("j_per_inference", "model"),
            unit="joule",
        )
    )
    return dash
