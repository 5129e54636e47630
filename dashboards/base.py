"""What every Resonance dashboard shares: uid per scope, UTC, time range, variables, tags."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import AnnotationQuery, Dashboard
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync

from dashboards import sql
from dashboards.panels import dedent
from dashboards.query import ClickHouseQueryBuilder, Format, datasource_ref
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


ALERTS_ANNOTATION = "Alerts"


def alert_annotation(scope: Scope) -> AnnotationQuery:
    """The alert timeline: every stored alert episode of the selected models as a region
    (:func:`dashboards.sql.alert_annotations`), on by default."""
    target = (
        ClickHouseQueryBuilder(dedent(sql.alert_annotations()))
        .format(Format.TABLE)
        .ref_id("Anno")
        .datasource(datasource_ref(scope.datasource_uid))
    )
    return (
        AnnotationQuery()
        .name(ALERTS_ANNOTATION)
        .datasource(datasource_ref(scope.datasource_uid))
        .enable(True)
        .icon_color("red")
        # the SDK types an annotation's target as the built-in datasource's; the
        # ClickHouse plugin takes a normal query target (see the SDK's TODO)
        .target(target)  # type: ignore[arg-type]
    )
