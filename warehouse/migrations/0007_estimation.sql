-- 0007 (issue 16): confidence-based performance estimation (CBPE) states per window.
-- One row is a DELTA of processors.cbpe.CBPE's state (like every minute table), so rows
-- sum: a day's state is the sum of its minutes. `calibration` names the calibration the
-- state was built on (JSON {"id", "classes", "ece"}, streams/partition.py): states of two
-- calibrations never merge, and the read path needs nothing else to decode one.
-- Arrays are flattened row-major: expected K x K (predicted x true), counts / sum_p /
-- sum_p2 C x B (C = 1 scored class for a binary model, K otherwise; B raw-score bins).
CREATE TABLE IF NOT EXISTS estimation_minute
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    calibration String,
    window_start DateTime('UTC'),
    late UInt8,
    n_pred Array(Int64),
    expected Array(Float64),
    sum_q2 Array(Float64),
    counts Array(Int64),
    sum_p Array(Float64),
    sum_p2 Array(Float64),
    n_outside Int64,
    key String,
    version Int64,
    final UInt8,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX key_idx key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (consortium, model, model_version, window_start, member, site, hub)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS estimation_hour
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    calibration String,
    window_start DateTime('UTC'),
    n_pred AggregateFunction(sumForEach, Array(Int64)),
    expected AggregateFunction(sumForEach, Array(Float64)),
    sum_q2 AggregateFunction(sumForEach, Array(Float64)),
    counts AggregateFunction(sumForEach, Array(Int64)),
    sum_p AggregateFunction(sumForEach, Array(Float64)),
    sum_p2 AggregateFunction(sumForEach, Array(Float64)),
    n_outside SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (consortium, model, model_version, calibration, window_start, member, site, hub)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS estimation_day AS estimation_hour
ENGINE = AggregatingMergeTree
PARTITION BY toYear(window_start)
ORDER BY (consortium, model, model_version, calibration, window_start, member, site, hub)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS estimation_hour_mv TO estimation_hour AS
SELECT consortium, member, model, model_version, site, hub, calibration,
       toStartOfHour(window_start) AS window_start,
       sumForEachState(n_pred) AS n_pred, sumForEachState(expected) AS expected,
       sumForEachState(sum_q2) AS sum_q2, sumForEachState(counts) AS counts,
       sumForEachState(sum_p) AS sum_p, sumForEachState(sum_p2) AS sum_p2,
       sum(n_outside) AS n_outside
FROM estimation_minute
GROUP BY consortium, member, model, model_version, site, hub, calibration, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS estimation_day_mv TO estimation_day AS
SELECT consortium, member, model, model_version, site, hub, calibration,
       toStartOfDay(window_start) AS window_start,
       sumForEachState(n_pred) AS n_pred, sumForEachState(expected) AS expected,
       sumForEachState(sum_q2) AS sum_q2, sumForEachState(counts) AS counts,
       sumForEachState(sum_p) AS sum_p, sumForEachState(sum_p2) AS sum_p2,
       sum(n_outside) AS n_outside
FROM estimation_minute
GROUP BY consortium, member, model, model_version, site, hub, calibration, window_start;
