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

#: Thresholds (documented in docs/dashboards.md).
DRIFT_SHARE_MAX = 0.3
ACCURACY_DROP_MAX = 0.05
ENERGY_RATIO_MAX = 1.5
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


def drift_rule() -> RuleSpec:
    inner = sql.drift_share(sql.MINUTE, MODEL_KEYS)
    return RuleSpec(
        "resonance-drift-share",
        "Drift share high",
        sql.all_tenants(sql.select_from("consortium, model, drift_share AS value", inner)),
        DRIFT_SHARE_MAX,
        15 * 60,
        f"More than {DRIFT_SHARE_MAX:.0%} of the model's features drift over the last 15 "
        f"minutes. {sql.DRIFT_RULE}",
    )


def accuracy_drop_rule() -> RuleSpec:
    """Last hour's quality vs the trailing 7-day quality of the same model."""
    recent = "window_start >= $__toTime - INTERVAL 1 HOUR"
    base = sql.model_quality(sql.MINUTE, MODEL_KEYS)
    last = sql.model_quality(sql.MINUTE, MODEL_KEYS, extra_where=recent)
    return RuleSpec(
        "resonance-accuracy-drop",
        "Model quality dropped",
        sql.all_tenants(f"""
        SELECT b.consortium AS consortium, b.model AS model, b.quality - r.quality AS value
        FROM ({base}
        ) AS b
        INNER JOIN ({last}
        ) AS r USING (consortium, model)"""),
        ACCURACY_DROP_MAX,
        7 * 86400,
        f"Quality (accuracy / 1 − MAPE) of the last hour is more than {ACCURACY_DROP_MAX} "
        "below the model's trailing 7-day quality.",
        for_="15m",
    )


def energy_anomaly_rule() -> RuleSpec:
    """J/inference of the last 15 minutes vs the trailing 24 h baseline."""
    recent = "window_start >= $__toTime - INTERVAL 15 MINUTE"
    base = sql.energy(sql.MINUTE, MODEL_KEYS)
    last = sql.energy(sql.MINUTE, MODEL_KEYS, extra_where=recent)
    return RuleSpec(
        "resonance-energy-anomaly",
        "Energy per inference anomalous",
        sql.all_tenants(f"""
        SELECT b.consortium AS consortium, b.model AS model,
               r.j_per_inference / nullIf(b.j_per_inference, 0) AS value
        FROM ({base}
        ) AS b
        INNER JOIN ({last}
        ) AS r USING (consortium, model)"""),
        ENERGY_RATIO_MAX,
        86400,
        f"Joules per inference over the last 15 minutes exceed {ENERGY_RATIO_MAX}× the "
        "model's trailing 24-hour average.",
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


RULES = (drift_rule, accuracy_drop_rule, energy_anomaly_rule, dlq_rule, lag_rule)


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
