"""SQL fragments for panels and alert rules: metrics from *merged partials*, in ClickHouse.

The warehouse stores mergeable sufficient statistics (histograms, confusion
counts, latency buckets, energy sums) as deltas. The merged states come from
:func:`warehouse.states.summed_sql`, the query the Python read path runs too; this
module only adds the metric expressions over them, with the constants imported from
the engines (PSI floor, latency buckets, J per kWh). One function per concept;
dashboards and alerts only compose them, so no SQL is written twice.

Tables and columns: warehouse/migrations/0001_init.sql (minute tables
``*_minute``; rollups ``*_day`` hold ``AggregateFunction`` states read with ``-Merge``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from processors.cbpe import DEFAULT_THRESHOLDS as ESTIMATION
from processors.drift import PSI_FLOOR
from processors.energy import JOULES_PER_KWH
from processors.latency import DEFAULT_GAMMA, DEFAULT_HI_MS, DEFAULT_LO_MS, LatencyHistogram
from processors.resonance_index import regressor_quality_sql
from processors.volume import VOLUME_FIELDS
from warehouse.kinds import KINDS
from warehouse.states import DAY, MINUTE, summed_sql
from warehouse.states import HUBS_SQL as HUBS
from warehouse.states import REFERENCE_FEATURES_SQL as REFERENCE_FEATURES

#: Grains (seconds: minute tables, day rollups) and the stored lookup tables, from warehouse.
__all__ = ["DAY", "HUBS", "MINUTE", "REFERENCE_FEATURES"]

#: Template variables, in dependency order; each one filters the tenancy column of the same name.
TENANCY = ("consortium", "member", "model", "site", "hub")
TIME = "window_start"

#: Terms of the Kolmogorov series (either form converges far below float precision by then).
KOLMOGOROV_TERMS = 100
#: Below this λ the Kolmogorov survival function is evaluated as 1 − CDF with the series in
#: 1/λ² (the alternating series in λ² converges too slowly there); both are the same function.
KOLMOGOROV_SWITCH = 1.0
#: The verdict in words, for panel descriptions: SQL measures, the policy decides.
DRIFT_RULE = (
    "Whether a feature or model drifts is the monitoring policy's stored verdict "
    "(`verdicts` table, `resonance policy show`); PSI, KS and p-values here are measurements."
)

_LATENCY = LatencyHistogram()  # bucket layout of the default engine (what workers emit)
_N_LOG = _LATENCY.n_log


# ---------------------------------------------------------------- filters and buckets


def var_in(column: str, variable: str | None = None) -> str:
    """``column IN (${var:singlequote})``: Grafana quotes every selected value (All = all)."""
    return f"{column} IN (${{{variable or column}:singlequote}})"


def tenancy_filter(dims: Sequence[str] = TENANCY, alias: str = "") -> str:
    """AND of one IN-filter per tenancy variable; ``alias`` prefixes the columns."""
    prefix = f"{alias}." if alias else ""
    return " AND ".join(var_in(prefix + d, d) for d in dims)


def time_filter(column: str = TIME) -> str:
    return f"$__timeFilter({column})"


def time_bucket(column: str = TIME) -> str:
    """Bucket of a time series panel (the plugin's interval, >= 1 s)."""
    return f"$__timeInterval({column})"


def month_bucket(column: str = TIME) -> str:
    """Calendar month (UTC), as a DateTime so Grafana reads it as the time column."""
    return f"toDateTime(toStartOfMonth({column}), 'UTC')"


def select_from(columns: str, subquery: str, tail: str = "") -> str:
    """``SELECT columns FROM (subquery) [tail]``: a panel's outer query over a fragment."""
    return f"SELECT {columns} FROM ({subquery}\n)" + (f" {tail}" if tail else "")


def series(subquery: str, value: str, by: str) -> str:
    """Long-format time series of one column of a per-(time, ``by``) fragment."""
    return select_from(f"time, {by}, {value}", subquery, "ORDER BY time")


def model_trend(metric: Callable[..., str], grain: int, value: str, bucket: str) -> str:
    """Per-model time series of ``value`` from a per-(time, model) ``metric`` fragment."""
    return series(metric(grain, ("time", "model"), bucket=bucket), value, "model")


def all_tenants(query: str) -> str:
    """The query without the tenancy variable filters, for alert rules: they run in
    Grafana's backend, where dashboard variables do not exist, over every tenant
    (one alert instance per label set)."""
    return query.replace(f" AND {tenancy_filter()}", "").replace(f"{tenancy_filter()} AND ", "")


def where(*conditions: str) -> str:
    return " AND ".join(c for c in conditions if c and c != "1")


def key_select(keys: Sequence[str], bucket: str | None) -> str:
    """SELECT list of grouping keys; the key ``time`` is the ``bucket`` expression."""
    if "time" in keys and bucket is None:
        raise ValueError("key 'time' needs a bucket expression")
    return ", ".join(f"{bucket} AS time" if k == "time" else k for k in keys)


def with_keys(keys: Sequence[str], *required: str) -> list[str]:
    """``keys`` plus the ``required`` ones, in order, without duplicates."""
    return list(dict.fromkeys([*keys, *required]))


def summed(
    grain: int,
    kind: str,
    keys: Sequence[str],
    bucket: str | None = None,
    extra_where: str = "",
    values: Sequence[str] | None = None,
) -> str:
    """The merged states of a kind per ``keys`` in the panel's time range and tenancy
    variables: :func:`warehouse.states.summed_sql`, the read path's own query.

    Value columns keep their stored names (``counts``, ``confusion``, ``buckets``, ``sums``).
    """
    conds = [time_filter(), tenancy_filter(), extra_where]
    select = [key_select(keys, bucket)]
    return summed_sql(KINDS[kind], select, group=keys, where=conds, grain=grain, values=values)


# ------------------------------------------------------------------------ drift (PSI)


def floor_shares(counts: str, total: str) -> str:
    """Shares of ``counts`` over ``total`` with empty bins floored like processors.drift.psi."""
    return f"arrayMap(c -> if(c = 0, {PSI_FLOOR!r}, c / {total}), {counts})"


def grouped_expr(counts: str, ends: str) -> str:
    """Per-group sums of fine-bin ``counts``: group g is bins ends[g-1]+1 .. ends[g]
    (processors.reference.NumericReference.grouped); an empty ``ends`` (a profile stored
    before group_ends existed) keeps one group per bin."""
    picked = f"arrayMap(e -> arrayCumSum({counts})[e], {ends})"
    return (
        f"if(empty({ends}), {counts}, arrayPopFront(arrayDifference(arrayPushFront({picked}, 0))))"
    )


def psi_expr(ref_counts: str, ref_n: str, cur_counts: str) -> str:
    """PSI Σ (q−p)·ln(q/p) of the current histogram against the reference (processors.drift)."""
    p = floor_shares(ref_counts, ref_n)
    q = floor_shares(cur_counts, f"arraySum({cur_counts})")
    return f"arraySum(arrayMap((p, q) -> (q - p) * ln(q / p), {p}, {q}))"


def js_expr(ref_counts: str, ref_n: str, cur_counts: str, cur_n: str) -> str:
    """Jensen-Shannon distance, base 2, no smoothing (processors.drift.js_distance)."""
    half_kl = "if({a} > 0, {a} * log2(2 * {a} / ({a} + {b})), 0)"
    terms = f"{half_kl.format(a='p', b='q')} + {half_kl.format(a='q', b='p')}"
    div = (
        f"arraySum(arrayMap((p, q) -> {terms}, "
        f"arrayMap(c -> c / {ref_n}, {ref_counts}), arrayMap(c -> c / {cur_n}, {cur_counts}))) / 2"
    )
    return f"sqrt(least(1, greatest(0, {div})))"


def ks_expr(ref_counts: str, ref_n: str, cur_counts: str, cur_n: str) -> str:
    """KS D = max over bin edges of |F_ref − F_cur| (processors.drift.NumericDrift: exact at
    the edges), from cumulative bin counts."""
    gap = (
        f"arrayMax(arrayMap((a, b) -> abs(a / {ref_n} - b / {cur_n}), "
        f"arrayCumSum({ref_counts}), arrayCumSum({cur_counts})))"
    )
    return f"least(1, greatest(0, {gap}))"


def kolmogorov_sf_expr(lam: str) -> str:
    """Q(λ) = P(K > λ) of the Kolmogorov distribution (= scipy.stats.kstwobign.sf), in [0, 1].

    λ >= KOLMOGOROV_SWITCH: 2 Σ_{k>=1} (−1)^(k−1) exp(−2k²λ²); below: 1 − √(2π)/λ ·
    Σ_{k>=1} exp(−(2k−1)²π²/(8λ²)) (Jacobi's identity: the same function, fast there)."""
    k = f"range(1, {KOLMOGOROV_TERMS + 1})"
    big = f"2 * arraySum(arrayMap(k -> pow(-1, k - 1) * exp(-2 * k * k * {lam} * {lam}), {k}))"
    small = (
        f"1 - sqrt(2 * pi()) / {lam} * arraySum(arrayMap("
        f"k -> exp(-pow(2 * k - 1, 2) * pi() * pi() / (8 * {lam} * {lam})), {k}))"
    )
    q = f"multiIf({lam} <= 0, 1, {lam} < {KOLMOGOROV_SWITCH!r}, {small}, {big})"
    return f"least(1, greatest(0, {q}))"


def ks_pvalue_expr(d: str, ref_n: str, cur_n: str) -> str:
    """Two-sample KS p-value: Kolmogorov limit Q(D·√en), en = round(m·n/(m+n)) as the engine
    rounds it (processors.drift.ks_pvalue, which uses kstwo below KS_LIMIT_N: see docs)."""
    en = f"greatest(1, roundBankers(toFloat64({ref_n}) * {cur_n} / ({ref_n} + {cur_n})))"
    return kolmogorov_sf_expr(f"({d} * sqrt({en}))")


def chi2_expr(ref_counts: str, cur_counts: str) -> str:
    """Pearson chi-square statistic of the 2×m table (reference, current), columns empty in
    both dropped, no Yates correction (processors.drift.chi2_pvalue)."""
    r1, r2 = f"arraySum({ref_counts})", f"arraySum({cur_counts})"
    total = f"({r1} + {r2})"
    cell = " + ".join(
        f"pow({o} - {row} * (a + b) / {total}, 2) / ({row} * (a + b) / {total})"
        for o, row in (("a", r1), ("b", r2))
    )
    return f"arraySum(arrayMap((a, b) -> if(a + b = 0, 0, {cell}), {ref_counts}, {cur_counts}))"


def chi2_pvalue_expr(ref_counts: str, cur_counts: str) -> str:
    """Chi-square p-value P(χ²_k > X), k = non-empty columns − 1, by the Wilson–Hilferty
    normal approximation ((X/k)^(1/3) is ~normal); 1 when k < 1 or a row is empty."""
    x = chi2_expr(ref_counts, cur_counts)
    k = f"(arrayCount((a, b) -> a + b > 0, {ref_counts}, {cur_counts}) - 1)"
    z = f"((pow({x} / {k}, 1 / 3) - (1 - 2 / (9 * {k}))) / sqrt(2 / (9 * {k})))"
    p = f"0.5 * erfc({z} / sqrt(2))"
    empty = f"{k} < 1 OR arraySum({ref_counts}) = 0 OR arraySum({cur_counts}) = 0"
    return f"if({empty}, 1, least(1, greatest(0, {p})))"


def feature_psi(
    grain: int, keys: Sequence[str], *, bucket: str | None = None, extra_where: str = ""
) -> str:
    """Subquery: PSI, JS, KS, p-value, verdict and n per ``keys`` + model_version + feature,
    from merged histograms.

    Categorical histograms end with a ``missing`` bin, which every metric excludes (as
    the engine does); numeric histograms have no missing bin. Rows whose bins do not
    match the stored reference (another model version's layout) are skipped.
    ``ks`` is NULL for categorical features; ``p_value`` is the KS p-value (numeric) or
    the chi-square p-value (categorical). No verdict here: the policy's is stored.
    """
    group = with_keys(keys, "consortium", "model", "model_version", "feature")
    numeric = "r.kind = 'numeric'"
    cur = "if(r.kind = 'categorical', arrayPopBack(h.counts), h.counts)"
    ref = "if(r.kind = 'categorical', arrayPopBack(r.counts), r.counts)"
    # PSI and JS on the reference's quantile groups, KS on its fine bins (as the engine)
    g_cur, g_ref = grouped_expr(cur, "r.group_ends"), grouped_expr(ref, "r.group_ends")
    return f"""
    SELECT {", ".join(f"h.{k} AS {k}" for k in group)},
           arraySum({cur}) AS n_values, h.n_missing AS n_missing,
           {psi_expr(g_ref, "r.n", g_cur)} AS psi,
           {js_expr(g_ref, "r.n", g_cur, "n_values")} AS js,
           if({numeric}, {ks_expr(ref, "r.n", cur, "n_values")}, NULL) AS ks,
           if({numeric}, {ks_pvalue_expr("assumeNotNull(ks)", "r.n", "n_values")},
              {chi2_pvalue_expr(ref, cur)}) AS p_value
    FROM ({summed(grain, "drift_numeric", group, bucket, extra_where, ("counts", "n_missing"))}
    ) AS h
    INNER JOIN ({REFERENCE_FEATURES}) AS r
        ON r.consortium = h.consortium AND r.model = h.model
       AND r.model_version = h.model_version AND r.feature = h.feature
    WHERE length({ref}) = length({cur}) AND arraySum({cur}) > 0"""


def drift_share(
    grain: int, keys: Sequence[str], *, bucket: str | None = None, extra_where: str = ""
) -> str:
    """Subquery: the policy's stored decisions per ``keys`` (consortium, model, time):
    mean drift share and mean resonance index of the range's windows (the same means as
    `resonance query resonance` and the console), windows decided. ``grain`` is unused
    (verdicts are per window, read as they are)."""
    del grain
    cols = ", ".join(keys)
    return f"""
    SELECT {key_select(keys, bucket)}, avg(drift_share) AS drift_share,
           avg(resonance_index) AS resonance_index, count() AS windows
    FROM verdicts FINAL
    WHERE {where(time_filter(), tenancy_filter(("consortium", "model")), extra_where)}
    GROUP BY {cols}"""


# ---------------------------------------------------------------------------- accuracy


def accuracy_expr(confusion: str) -> str:
    """Trace / total of a row-major k×k confusion matrix (k = √length)."""
    k = f"toUInt32(round(sqrt(length({confusion}))))"
    trace = f"arraySum(arrayMap(i -> {confusion}[i * {k} + i + 1], range({k})))"
    return f"if(arraySum({confusion}) = 0, NULL, {trace} / arraySum({confusion}))"


def classification_accuracy(
    grain: int, keys: Sequence[str], *, bucket: str | None = None, extra_where: str = ""
) -> str:
    """Subquery: accuracy and n per ``keys`` from summed confusion counts (per class list)."""
    group = with_keys(keys, "classes")
    return f"""
    SELECT {", ".join(keys)},
           sum(acc * n) / nullIf(sum(n), 0) AS accuracy, toFloat64(sum(n)) AS labelled
    FROM (
        SELECT {", ".join(group)}, {accuracy_expr("confusion")} AS acc, arraySum(confusion) AS n
        FROM ({summed(grain, "classification", group, bucket, extra_where, ("confusion",))})
    )
    GROUP BY {", ".join(keys)}"""


def estimated_accuracy(
    grain: int, keys: Sequence[str], *, bucket: str | None = None, extra_where: str = ""
) -> str:
    """Subquery: CBPE's estimated accuracy, its band and n per ``keys`` from summed states.

    As :meth:`processors.cbpe.CBPE.result`: the trace of the summed expected confusion
    matrix over the predictions; standard error √max(trace − Σ q², 0) / n, band ± z·se
    clipped to [0, 1]. States of one calibration sum; across versions or calibrations
    the estimate is the prediction-weighted mean and the variances add. Also the raw
    scores outside the reference range (``n_outside``) and the worst reference ECE,
    for the guardrails (:func:`estimation_reasons`).
    """
    group = with_keys(keys, "model_version", "calibration")
    z = ESTIMATION.z
    values = ("n_pred", "expected", "sum_q2", "n_outside")
    return f"""
    SELECT {", ".join(keys)}, sum(correct) / nullIf(sum(rows), 0) AS estimated,
           sqrt(sum(greatest(correct - q2, 0))) / nullIf(sum(rows), 0) AS se,
           greatest(estimated - {z} * se, 0) AS band_lo,
           least(estimated + {z} * se, 1) AS band_hi,
           toFloat64(sum(rows)) AS n, toFloat64(sum(outside)) AS n_outside,
           max(cal_ece) AS ece
    FROM (
        SELECT {", ".join(group)}, arraySum(n_pred) AS rows, length(n_pred) AS k,
               arraySum(arrayMap(i -> expected[i * k + i + 1], range(k))) AS correct,
               arraySum(sum_q2) AS q2, n_outside AS outside,
               JSONExtractFloat(calibration, 'ece') AS cal_ece
        FROM ({summed(grain, "estimation", group, bucket, extra_where, values)})
    )
    GROUP BY {", ".join(keys)}"""


def estimation_reasons(estimated: str = "e", realised: str = "r") -> str:
    """Why an estimate is unreliable, as an array of strings (empty: reliable), from the
    columns of :func:`estimated_accuracy` (alias ``estimated``) and an accuracy fragment
    (alias ``realised``). The thresholds are processors.cbpe's; the feature-range
    guardrail needs the reference and is left to ``resonance query estimated``."""
    t, e, r = ESTIMATION, estimated, realised
    return f"""arrayFilter(x -> x != '', [
               if({e}.n < {t.min_samples}, 'too few samples', ''),
               if({e}.ece > {t.max_ece}, 'poor reference calibration', ''),
               if({e}.n_outside / {e}.n > {t.max_outside_scores},
                  'scores outside the reference range', ''),
               if({r}.accuracy IS NOT NULL
                  AND ({r}.accuracy < {e}.band_lo OR {r}.accuracy > {e}.band_hi),
                  'realised outside the band: concept drift?', '')])"""


def regression_errors(
    grain: int, keys: Sequence[str], *, bucket: str | None = None, extra_where: str = ""
) -> str:
    """Subquery: MAE, RMSE, MAPE and n per ``keys`` from summed error sums."""
    s = "sums"
    return f"""
    SELECT {", ".join(keys)}, toFloat64({s}['n']) AS labelled,
           {s}['sum_abs_error'] / nullIf({s}['n'], 0) AS mae,
           sqrt({s}['sum_sq_error'] / nullIf({s}['n'], 0)) AS rmse,
           {s}['sum_ape'] / nullIf({s}['n_nonzero'], 0) AS mape
    FROM ({summed(grain, "regression", keys, bucket, extra_where)}
    )"""


def model_quality(
    grain: int, keys: Sequence[str], *, bucket: str | None = None, extra_where: str = ""
) -> str:
    """Subquery: one quality score in [0, 1] per ``keys``: accuracy for classifiers,
    1 − MAPE floored at 0 for regressors (processors.resonance_index.regressor_quality_sql),
    averaged weighted by labelled predictions when ``keys`` mix both."""
    cls = classification_accuracy(grain, keys, bucket=bucket, extra_where=extra_where)
    reg = regression_errors(grain, keys, bucket=bucket, extra_where=extra_where)
    cols = ", ".join(keys)
    return f"""
    SELECT {cols}, sum(q * w) / nullIf(sum(w), 0) AS quality, sum(w) AS labelled
    FROM (
        SELECT {cols}, accuracy AS q, labelled AS w FROM ({cls}
        )
        UNION ALL
        SELECT {cols}, {regressor_quality_sql("mape")} AS q, labelled AS w FROM ({reg}
        ) WHERE mape IS NOT NULL
    )
    GROUP BY {cols}"""


# ----------------------------------------------------------------------------- latency


def latency_quantile_expr(buckets: str, q: float) -> str:
    """Value of the bucket holding the ⌈q·n⌉-th latency, as LatencyHistogram.quantile."""
    rank = f"greatest(1, ceil({q!r} * arraySum({buckets})))"
    i = f"(arrayFirstIndex(c -> c >= {rank}, arrayCumSum({buckets})) - 1)"
    value = (
        f"multiIf({i} = 0, {DEFAULT_LO_MS!r}, {i} = {_N_LOG + 1}, "
        f"{DEFAULT_LO_MS!r} * pow({DEFAULT_GAMMA!r}, {_N_LOG}), "
        f"{DEFAULT_LO_MS!r} * pow({DEFAULT_GAMMA!r}, {i} - 0.5))"
    )
    return f"if(arraySum({buckets}) = 0, NULL, {value})"


def latency_quantiles(
    grain: int,
    keys: Sequence[str],
    *,
    bucket: str | None = None,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
) -> str:
    """Subquery: p50/p95/p99 (ms), mean and count per ``keys`` from summed buckets."""
    cols = ", ".join(keys)
    b = "buckets"
    qs = ", ".join(f"{latency_quantile_expr(b, q)} AS p{round(q * 100)}" for q in quantiles)
    return f"""
    SELECT {cols}, {qs}, sums['sum_ms'] / nullIf(arraySum({b}), 0) AS mean_ms,
           arraySum({b}) AS requests
    FROM ({summed(grain, "latency", keys, bucket)}
    )"""


LATENCY_RANGE_MS = (DEFAULT_LO_MS, DEFAULT_HI_MS)

# ------------------------------------------------------------------------------ energy


def energy(
    grain: int, keys: Sequence[str], *, bucket: str | None = None, extra_where: str = ""
) -> str:
    """Subquery: J/inference, IT and facility kWh, gCO2e and PUE per ``keys``.

    Same definitions as processors.energy.EnergyMeter.result: facility kWh = IT
    kWh × the hub's PUE; gCO2e = facility kWh × the hub's grid intensity (table
    ``hubs``, copied from warehouse.carbon at migrate time). Summed per hub first,
    since PUE and grid intensity are per hub.
    """
    inner_keys = with_keys(keys, "hub")
    cols = ", ".join(keys)
    return f"""
    SELECT {cols},
           sum(j) AS joules, sum(n_inf) AS inferences,
           sum(j) / nullIf(sum(n_inf), 0) AS j_per_inference,
           sum(j) / {JOULES_PER_KWH!r} AS it_kwh,
           sum(j * hub_pue) / {JOULES_PER_KWH!r} AS kwh,
           sum(j * hub_pue * grid) / {JOULES_PER_KWH!r} AS gco2e,
           sum(j * hub_pue) / nullIf(sum(j), 0) AS pue
    FROM (
        SELECT {", ".join(f"e.{k} AS {k}" for k in inner_keys)}, e.sums['joules'] AS j,
               e.sums['inferences'] AS n_inf, h.pue AS hub_pue, h.grid_gco2_per_kwh AS grid
        FROM ({summed(grain, "energy", inner_keys, bucket, extra_where)}
        ) AS e
        LEFT JOIN ({HUBS}) AS h ON h.hub = e.hub
    )
    GROUP BY {cols}"""


# ----------------------------------------------------------------- volumes, alerts, DLQ


def volumes(keys: Sequence[str], *, bucket: str | None = None) -> str:
    """Subquery: summed volume counters ``sums`` (a map) per ``keys``."""
    return summed(MINUTE, "volume", keys, bucket)


def open_alerts(keys: Sequence[str]) -> str:
    """Subquery: alerts firing now (latest transition not resolved), per ``keys``, from the
    stored transitions (``alert_events``); the time picker does not hide an open alert."""
    cols = ", ".join(keys)
    return f"""
    SELECT {cols}, countIf(last_state = 'firing') AS open_alerts
    FROM (
        SELECT {cols}, id, argMax(state, seq) AS last_state
        FROM alert_events FINAL
        WHERE {where(tenancy_filter(("consortium", "model")))}
        GROUP BY {cols}, id
    )
    GROUP BY {cols}"""


def alert_annotations() -> str:
    """Annotations: the stored alert history (``alert_events``) as one region per alert
    episode, from its ``started_at`` to its resolution (to the range's end while it
    fires), for the selected models. Columns as Grafana's annotation support reads them:
    ``time``, ``timeEnd``, ``text``, ``tags`` (comma-separated: rule, severity, state, then
    the features involved)."""
    return f"""
    SELECT min(started_at) AS time,
           ifNull(argMax(resolved_at, seq), toDateTime64($__toTime, 3, 'UTC')) AS timeEnd,
           concat(any(rule), ' ', argMax(severity, seq), ' on ', any(consortium), '/',
                  any(model), ': ', argMax(state, seq),
                  if(max(seq) > 0, concat(' (', toString(max(seq) + 1), ' transitions)'), ''),
                  if(empty(groupUniqArrayArray(features)), '',
                     concat('; features ',
                            arrayStringConcat(arraySort(groupUniqArrayArray(features)), ', ')))
           ) AS text,
           arrayStringConcat(arrayConcat([any(rule), argMax(severity, seq), argMax(state, seq)],
                             arraySort(groupUniqArrayArray(features))), ',') AS tags
    FROM alert_events FINAL
    WHERE {where(tenancy_filter(("consortium", "model")))}
    GROUP BY id
    HAVING time <= $__toTime AND timeEnd >= $__fromTime
    ORDER BY time, text"""


def dlq_rate(*, per_model: bool) -> str:
    """Time series: rejected records per second by reason and source topic.

    DLQ rows carry the rejected message's validated tenancy (migration 0003; the tenant
    row policy filters on the same columns). Operators see every rejection, including
    messages too broken to name a model (``per_model=False``); a consortium's copy
    filters on the selected models.
    """
    model = "model"
    return f"""
    SELECT {time_bucket("received_at")} AS time, reason, source_topic,
           count() / $__interval_s AS per_second
    FROM dlq FINAL
    WHERE {where(time_filter("received_at"), var_in(model, "model") if per_model else "")}
    GROUP BY time, reason, source_topic
    ORDER BY time"""


# ------------------------------------------------------------------------ volumes, health

#: Volume counters (processors.volume.VOLUME_FIELDS) that count records received; errors
#: and rejections are counted separately.
RECORD_FIELDS = (
    "telemetry_samples",
    "predictions",
    "outcomes_matched",
    "outcomes_unmatched",
    "energy_readings",
)
assert set(RECORD_FIELDS) | {"prediction_errors"} <= set(VOLUME_FIELDS), VOLUME_FIELDS


def map_sum(map_expr: str, keys: Sequence[str]) -> str:
    """Sum of some keys of a sums map (a missing key reads as 0)."""
    return " + ".join(f"{map_expr}['{k}']" for k in keys)


def service_health(keys: Sequence[str], *, bucket: str | None = None) -> str:
    """Subquery: records, prediction errors and health = 1 − error rate per ``keys``.

    No latency SLO is configured, which resonance_index.service_health counts as a
    factor of 1."""
    cols = ", ".join(keys)
    return f"""
    SELECT {cols}, {map_sum("sums", RECORD_FIELDS)} AS events,
           sums['prediction_errors'] / nullIf(sums['predictions'], 0) AS error_rate,
           greatest(0, 1 - error_rate) AS health
    FROM ({volumes(keys, bucket=bucket)}
    )"""


#: LEFT JOINs of per-model subqueries must yield NULL (unknown), not 0, for missing rows.
NULL_JOINS = "SETTINGS join_use_nulls = 1"
