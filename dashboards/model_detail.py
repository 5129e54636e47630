"""Model detail: per-feature drift over time, the reference histogram against the current
one, accuracy (realised, and estimated before labels arrive), latency percentiles,
volumes and the dead-letter queue."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import sql
from dashboards.base import alert_annotation, new_dashboard
from dashboards.panels import bar_chart, table_panel, time_series
from dashboards.scope import Scope
from dashboards.variables import feature_variable

STEM = "model"
FEATURE_COLUMNS = (
    "model",
    "model_version",
    "feature",
    "psi",
    "ks",
    "p_value",
    "drifting",
    "n_values",
    "missing_rate",
)


def feature_psi_over_time() -> str:
    keys = ("time", "feature")
    inner = sql.feature_psi(sql.MINUTE, keys, bucket=sql.time_bucket())
    return sql.select_from(
        "time, feature, max(psi) AS psi", inner, "GROUP BY time, feature ORDER BY time"
    )


def feature_table() -> str:
    """Measurements per feature; ``drifting``: the policy's stored verdict of the range's
    last decided window (never a second rule in SQL)."""
    inner = sql.feature_psi(sql.MINUTE, ("model",))
    latest = f"""
        SELECT consortium, model, argMax(drifting, window_start) AS drifting
        FROM verdicts FINAL
        WHERE {sql.where(sql.time_filter(), sql.tenancy_filter(("consortium", "model")))}
        GROUP BY consortium, model"""
    return f"""
    SELECT f.model AS model, f.model_version AS model_version, f.feature AS feature,
           round(f.psi, 4) AS psi, round(f.ks, 4) AS ks, f.p_value AS p_value,
           has(v.drifting, f.feature) AS drifting, f.n_values AS n_values,
           f.n_missing / nullIf(f.n_values + f.n_missing, 0) AS missing_rate
    FROM ({inner}
    ) AS f
    LEFT JOIN ({latest}
    ) AS v ON v.consortium = f.consortium AND v.model = f.model
    ORDER BY psi DESC"""


def histogram_sql() -> str:
    """Reference vs current bin shares of the selected feature (first selected model,
    latest version).

    Bins are labelled by their lower edge (numeric: ``< first`` is the underflow
    bin) or category (categorical: + ``other`` + ``missing``)."""
    feature = sql.var_in("feature")
    keys = ("consortium", "model", "model_version", "feature")
    current = sql.summed(sql.MINUTE, "drift_numeric", keys, extra_where=feature, values=("counts",))
    return f"""
    SELECT bin, ref_share AS reference, cur_share AS current
    FROM (
        SELECT r.labels AS labels, r.shares AS rs,
               arrayMap(c -> c / nullIf(arraySum(h.counts), 0), h.counts) AS cs
        FROM ({current}
            ORDER BY consortium, model, model_version DESC
            LIMIT 1
        ) AS h
        INNER JOIN (
            SELECT consortium, model, model_version, feature,
                   if(kind = 'categorical', arrayConcat(categories, ['other', 'missing']),
                      arrayConcat(['< ' || toString(edges[1])], arrayMap(e -> toString(e), edges)))
                       AS labels,
                   arrayMap(c -> c / nullIf(arraySum(counts), 0), counts) AS shares
            FROM ({sql.REFERENCE_FEATURES})
            WHERE {sql.where(sql.tenancy_filter(("consortium", "model")), feature)}
        ) AS r ON r.consortium = h.consortium AND r.model = h.model
              AND r.model_version = h.model_version AND r.feature = h.feature
        WHERE length(r.shares) = length(h.counts)
    )
    ARRAY JOIN labels AS bin, rs AS ref_share, cs AS cur_share"""


def accuracy_over_time() -> str:
    inner = sql.classification_accuracy(sql.MINUTE, ("time", "model"), bucket=sql.time_bucket())
    return sql.series(inner, "accuracy", "model")


ESTIMATION_COLUMNS = (
    "model",
    "model_version",
    "n",
    "estimated",
    "band_lo",
    "band_hi",
    "realised",
    "reliable",
    "reasons",
)


def _estimated_vs_realised(keys: tuple[str, ...], bucket: str | None) -> str:
    est = sql.estimated_accuracy(sql.MINUTE, keys, bucket=bucket)
    acc = sql.classification_accuracy(sql.MINUTE, keys, bucket=bucket)
    on = " AND ".join(f"r.{k} = e.{k}" for k in keys)
    reasons = sql.estimation_reasons("e", "r")
    cols = ", ".join(f"e.{k} AS {k}" for k in keys)
    return f"""
    SELECT {cols}, e.n AS n, e.estimated AS estimated, e.band_lo AS band_lo,
           e.band_hi AS band_hi, r.accuracy AS realised, {reasons} AS reasons,
           empty(reasons) AS reliable
    FROM ({est}
    ) AS e
    LEFT JOIN ({acc}
    ) AS r ON {on}"""


def estimated_over_time() -> str:
    """Estimated accuracy (CBPE) with its band against the realised one, per model."""
    inner = _estimated_vs_realised(("time", "model"), sql.time_bucket())
    return sql.series(inner, "estimated, band_lo, band_hi, realised", "model")


def estimation_table() -> str:
    """Per model version over the range: estimate, band, realised, and the guardrails."""
    inner = _estimated_vs_realised(("model", "model_version"), None)
    return sql.select_from(
        ", ".join(ESTIMATION_COLUMNS[:-1]) + ", arrayStringConcat(reasons, '; ') AS reasons",
        inner,
        "ORDER BY model, model_version",
    )


def regression_over_time() -> str:
    inner = sql.regression_errors(sql.MINUTE, ("time", "model"), bucket=sql.time_bucket())
    return sql.series(inner, "mae, rmse", "model")


def latency_over_time() -> str:
    inner = sql.latency_quantiles(sql.MINUTE, ("time",), bucket=sql.time_bucket())
    return sql.select_from("time, p50, p95, p99", inner, "ORDER BY time")


def volume_over_time() -> str:
    inner = sql.volumes(("time", "source_topic"), bucket=sql.time_bucket())
    return f"""
    SELECT time, source_topic,
           ({sql.map_sum("sums", sql.RECORD_FIELDS)}) / $__interval_s AS per_second
    FROM ({inner}
    )
    ORDER BY time"""


def unreferenced_over_time() -> str:
    """Telemetry samples of models without a reference profile (counted, no drift yet);
    0 for a model with one."""
    inner = sql.volumes(("time", "model", "model_version"), bucket=sql.time_bucket())
    return f"""
    SELECT time, concat(model, ' v', model_version) AS model_version,
           sums['unreferenced'] AS samples
    FROM ({inner}
    )
    ORDER BY time"""


def build(scope: Scope) -> Dashboard:
    dash = new_dashboard(
        scope,
        STEM,
        "Model detail",
        "One model's drift per feature, reference vs current histogram, accuracy, latency "
        "percentiles and volumes. Pick a single model (and feature) for the histogram.",
    ).with_variable(feature_variable(scope))
    dash.annotation(alert_annotation(scope))
    dash.with_panel(
        time_series(
            scope,
            "PSI per feature",
            feature_psi_over_time(),
            width=16,
            description=f"PSI of each feature's merged window. {sql.DRIFT_RULE}",
        )
    )
    dash.with_panel(
        bar_chart(scope, "Reference vs current: $feature", histogram_sql(), "bin", width=8)
    )
    dash.with_panel(
        table_panel(
            scope,
            "Features",
            feature_table(),
            FEATURE_COLUMNS,
            height=8,
            description=f"ks: KS statistic (numeric); p_value: KS (numeric) or chi-square "
            f"(categorical) p-value. {sql.DRIFT_RULE}",
        )
    )
    dash.with_panel(
        time_series(
            scope, "Accuracy (classifiers)", accuracy_over_time(), unit="percentunit", width=12
        )
    )
    dash.with_panel(
        time_series(
            scope,
            "Estimated vs realised accuracy",
            estimated_over_time(),
            unit="percentunit",
            width=12,
            description="Estimated: confidence-based performance estimation (CBPE) from "
            "the calibrated scores, before any label arrives, with its 95% sampling band "
            "(band_lo, band_hi). Realised: from the labels, once they arrive. Only for "
            "classifiers registered with --predictions (docs/estimation.md). CBPE cannot "
            "see concept drift: a realised value outside the band says so.",
        )
    )
    dash.with_panel(
        table_panel(
            scope,
            "Estimation reliability",
            estimation_table(),
            ESTIMATION_COLUMNS,
            width=12,
            height=8,
            description="Over the range, per model version: an estimate is unreliable "
            "with too few predictions, a poorly calibrated reference, raw scores outside "
            "the reference range, or a realised accuracy outside the band. "
            "`resonance query estimated` also checks the features' reference range.",
        )
    )
    dash.with_panel(time_series(scope, "Errors (regressors)", regression_over_time(), width=12))
    dash.with_panel(
        time_series(scope, "Latency percentiles", latency_over_time(), unit="ms", width=12)
    )
    dash.with_panel(time_series(scope, "Volumes", volume_over_time(), unit="reqps", width=12))
    dash.with_panel(
        time_series(
            scope,
            "Unreferenced telemetry",
            unreferenced_over_time(),
            width=12,
            description="Samples of model versions without a reference profile: volume, "
            "latency, errors and energy are monitored, drift starts once a reference is "
            "registered or bootstrapped (resonance models register).",
        )
    )
    dlq_title = "Dead-letter queue (all consortia)" if scope.operators else "Dead-letter queue"
    dash.with_panel(
        time_series(
            scope, dlq_title, sql.dlq_rate(per_model=not scope.operators), unit="reqps", width=24
        )
    )
    return dash
