"""Grafana-managed alert rules over ClickHouse (unified alerting file-provisioning format).

Each rule is one ClickHouse query (format table: string columns become labels,
one numeric ``value`` column per row, so one alert instance per consortium/model),
then a ``reduce`` (last) and a ``threshold`` expression. The SQL uses only the
macros the plugin's *backend* expands (``$__timeFilter``, ``$__toTime``,
``$__fromTime``) and no dashboard variables: alert rules run server-side, where
``$__conditionalAll`` and template variables do not exist.

Rules are built with the SDK's alerting builders, serialised, then reshaped into
the provisioning file layout (``groups[].rules[]``), which drops the API-only
fields (``folderUID``, ``ruleGroup``, ``orgID``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import RelativeTimeRange

from dashboards import sql
from dashboards.panels import dedent
from dashboards.query import ClickHouseQueryBuilder, Format, datasource_ref
from dashboards.scope import OPERATORS_FOLDER, operators_scope

GROUP = "resonance"
INTERVAL = "1m"
MODEL_KEYS = ("consortium", "model")

#: Thresholds of the operational rules (documented in docs/dashboards.md); the monitoring
#: rules are the policy's (processors/policy.py), read from the stored alerts.
DLQ_PER_MINUTE_MAX = 10.0
DLQ_WINDOW_MIN = 5
LAG_SECONDS_MAX = 300.0


@dataclass(frozen=True)
class RuleSpec:
    uid: str
    title: str
    sql: str
    threshold: float
    window_s: int  # relative time range of the query (how far back $__timeFilter reaches)
    summary: str
    severity: str = "warning"
    for_: str = "5m"
    no_data: str = "OK"


def policy_alerts_rule() -> RuleSpec:
    """The monitoring policy's own alerts (drift, accuracy, energy, latency, index floor,
    DLQ rate, staleness), read from the stored transitions: Grafana decides nothing, it
    routes what the stream decided. One instance per consortium, model and rule."""
    return RuleSpec(
        "resonance-policy-alert",
        "Resonance alert firing",
        """
        SELECT consortium, model, rule, argMax(severity, seq) AS severity,
               toFloat64(argMax(state, seq) = 'firing') AS value
        FROM alert_events FINAL
        GROUP BY consortium, model, rule, id
        HAVING value > 0""",
        0.0,
        3600,
        "A monitoring policy rule fires for this model (`resonance alerts list`; rules: "
        "`resonance policy show`). The policy already applied its `for` and hysteresis.",
        for_="0s",
    )


def dlq_rule() -> RuleSpec:
    return RuleSpec(
        "resonance-dlq-rate",
        "Dead-letter rate high",
        f"""
        SELECT source_topic, count() / {DLQ_WINDOW_MIN} AS value
        FROM dlq FINAL
        WHERE {sql.time_filter("received_at")}
        GROUP BY source_topic""",
        DLQ_PER_MINUTE_MAX,
        DLQ_WINDOW_MIN * 60,
        f"More than {DLQ_PER_MINUTE_MAX:g} rejected records per minute (last {DLQ_WINDOW_MIN} min) "
        "on a source topic.",
    )


def lag_rule() -> RuleSpec:
    """Age of the newest partial written, per consortium (sink or workers stalled)."""
    return RuleSpec(
        "resonance-pipeline-lag",
        "Pipeline lag",
        f"""
        SELECT consortium, dateDiff('second', max(inserted_at), $__toTime) AS value
        FROM volume_minute
        WHERE {sql.time_filter()}
        GROUP BY consortium""",
        LAG_SECONDS_MAX,
        6 * 3600,
        f"The newest partial is older than {LAG_SECONDS_MAX:g} s: workers or the sink "
        "are not keeping up (or stopped).",
        severity="critical",
        for_="2m",
        no_data="Alerting",
    )


RULES = (policy_alerts_rule, dlq_rule, lag_rule)


def build_rule(spec: RuleSpec, datasource_uid: str) -> alerting.Rule:
    """SDK rule: A = ClickHouse query, B = reduce(last), C = threshold (the condition)."""
    query = (
        ClickHouseQueryBuilder(dedent(spec.sql))
        .format(Format.TABLE)
        .ref_id("A")
        .datasource(datasource_ref(datasource_uid))
    )
    reduce = expr.TypeReduce().ref_id("B").expression("A").reducer("last")
    threshold = (
        expr.TypeThreshold()
        .ref_id("C")
        .expression("B")
        .conditions(
            [
                expr.ExprTypeThresholdConditions().evaluator(
                    expr.ExprTypeThresholdConditionsEvaluator().type("gt").params([spec.threshold])
                )
            ]
        )
    )
    return (
        alerting.Rule(spec.title)
        .uid(spec.uid)
        .condition("C")
        .queries(
            [
                alerting.Query("A")
                .datasource_uid(datasource_uid)
                .model(query)
                .relative_time_range(RelativeTimeRange(from_val=spec.window_s, to=0)),
                alerting.Query("B").datasource_uid("__expr__").model(reduce),
                alerting.Query("C").datasource_uid("__expr__").model(threshold),
            ]
        )
        .for_val(spec.for_)
        .no_data_state(spec.no_data)  # type: ignore[arg-type]
        .exec_err_state("Error")
        .labels({"team": "resonance", "severity": spec.severity, "rule": spec.uid})
        .annotations({"summary": spec.summary})
    )


def file_rule(rule: alerting.Rule) -> dict:
    """SDK rule JSON → one entry of a provisioning file's ``rules`` list."""
    data = json.loads(JSONEncoder().encode(rule.build()))
    for api_only in ("folderUID", "ruleGroup", "orgID"):
        data.pop(api_only, None)
    return data


def rules_file(datasource_uid: str | None = None) -> dict:
    """The alert-rules provisioning document (one group in the operators' folder)."""
    uid = datasource_uid or operators_scope().datasource_uid
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP,
                "folder": OPERATORS_FOLDER,
                "interval": INTERVAL,
                "rules": [file_rule(build_rule(make(), uid)) for make in RULES],
            }
        ],
    }
