"""What every Resonance dashboard shares: uid per scope, UTC, time range, variables, tags."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync

from dashboards.scope import Scope
from dashboards.variables import tenancy_variables

TAGS = ("resonance",)


def new_dashboard(
    scope: Scope,
    stem: str,
    title: str,
    description: str,
    *,
    time_from: str = "now-6h",
    refresh: str = "1m",
) -> Dashboard:
    """A dashboard with the tenancy variables of ``scope`` and a uid unique per folder."""
    suffix = "all consortia" if scope.operators else scope.consortium
    return (
        Dashboard(f"Resonance · {title} ({suffix})")
        .uid(scope.uid(stem))
        .description(description)
        .tags([*TAGS, stem, scope.folder])
        .timezone("utc")
        .time(time_from, "now")
        .refresh(refresh)
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .editable()
        .variables(tenancy_variables(scope))
    )
