-- 0001_init: minute tables per kind of partial, hourly/daily rollups, DLQ, alerts,
-- hubs and references. Minute rows are DELTAS (new cumulative state - stored state,
-- see warehouse/sink.py), so every table can simply be summed and the materialized
-- views (which fire on INSERT) roll them up correctly.
-- Retention (TTL) is not written here: `resonance db migrate` applies it from the
-- settings with ALTER TABLE ... MODIFY TTL (warehouse/migrate.py).

-- ------------------------------------------------------------------ drift histograms
CREATE TABLE IF NOT EXISTS drift_minute
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    feature LowCardinality(String),
    kind LowCardinality(String),
    window_start DateTime('UTC'),
    late UInt8,
    counts Array(Int64),
    sums Array(Float64),
    n_missing Int64,
    key String,
    version Int64,
    final UInt8,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX key_idx key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (consortium, model, model_version, feature, window_start, member, site, hub)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS drift_hour
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    feature LowCardinality(String),
    kind LowCardinality(String),
    window_start DateTime('UTC'),
    counts AggregateFunction(sumForEach, Array(Int64)),
    sums AggregateFunction(sumForEach, Array(Float64)),
    n_missing SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (consortium, model, model_version, feature, kind, window_start, member, site, hub);

CREATE TABLE IF NOT EXISTS drift_day AS drift_hour
ENGINE = AggregatingMergeTree
PARTITION BY toYear(window_start)
ORDER BY (consortium, model, model_version, feature, kind, window_start, member, site, hub);

CREATE MATERIALIZED VIEW IF NOT EXISTS drift_hour_mv TO drift_hour AS
SELECT consortium, member, model, model_version, site, hub, feature, kind,
       toStartOfHour(window_start) AS window_start,
       sumForEachState(counts) AS counts, sumForEachState(sums) AS sums,
       sum(n_missing) AS n_missing
FROM drift_minute
GROUP BY consortium, member, model, model_version, site, hub, feature, kind, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS drift_day_mv TO drift_day AS
SELECT consortium, member, model, model_version, site, hub, feature, kind,
       toStartOfDay(window_start) AS window_start,
       sumForEachState(counts) AS counts, sumForEachState(sums) AS sums,
       sum(n_missing) AS n_missing
FROM drift_minute
GROUP BY consortium, member, model, model_version, site, hub, feature, kind, window_start;

-- ----------------------------------------------------------- classification accuracy
-- confusion: row-major n_classes x n_classes (true x predicted) over `classes` (JSON).
-- score_counts: binary only, row-major 2 x score_bins (true label 0/1); score_sums per bin.
CREATE TABLE IF NOT EXISTS classification_minute
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    classes String,
    window_start DateTime('UTC'),
    late UInt8,
    confusion Array(Int64),
    score_counts Array(Int64),
    score_sums Array(Float64),
    key String,
    version Int64,
    final UInt8,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX key_idx key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (consortium, model, model_version, window_start, member, site, hub)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS classification_hour
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    classes String,
    window_start DateTime('UTC'),
    confusion AggregateFunction(sumForEach, Array(Int64)),
    score_counts AggregateFunction(sumForEach, Array(Int64)),
    score_sums AggregateFunction(sumForEach, Array(Float64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (consortium, model, model_version, classes, window_start, member, site, hub);

CREATE TABLE IF NOT EXISTS classification_day AS classification_hour
ENGINE = AggregatingMergeTree
PARTITION BY toYear(window_start)
ORDER BY (consortium, model, model_version, classes, window_start, member, site, hub);

CREATE MATERIALIZED VIEW IF NOT EXISTS classification_hour_mv TO classification_hour AS
SELECT consortium, member, model, model_version, site, hub, classes,
       toStartOfHour(window_start) AS window_start,
       sumForEachState(confusion) AS confusion, sumForEachState(score_counts) AS score_counts,
       sumForEachState(score_sums) AS score_sums
FROM classification_minute
GROUP BY consortium, member, model, model_version, site, hub, classes, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS classification_day_mv TO classification_day AS
SELECT consortium, member, model, model_version, site, hub, classes,
       toStartOfDay(window_start) AS window_start,
       sumForEachState(confusion) AS confusion, sumForEachState(score_counts) AS score_counts,
       sumForEachState(score_sums) AS score_sums
FROM classification_minute
GROUP BY consortium, member, model, model_version, site, hub, classes, window_start;

-- -------------------------------------------------------- regression, latency, energy,
-- volumes: scalar sums (+ latency buckets). `sums` is a name -> value map of the
-- engine's scalar sums, so a new sum in an engine needs no migration; sumMap merges it.
CREATE TABLE IF NOT EXISTS regression_minute
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    window_start DateTime('UTC'),
    late UInt8,
    sums Map(LowCardinality(String), Float64),
    key String,
    version Int64,
    final UInt8,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX key_idx key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (consortium, model, model_version, window_start, member, site, hub)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS latency_minute
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    window_start DateTime('UTC'),
    late UInt8,
    buckets Array(Int64),
    sums Map(LowCardinality(String), Float64),
    key String,
    version Int64,
    final UInt8,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX key_idx key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (consortium, model, model_version, window_start, member, site, hub)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS energy_minute
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    window_start DateTime('UTC'),
    late UInt8,
    sums Map(LowCardinality(String), Float64),
    key String,
    version Int64,
    final UInt8,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX key_idx key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (consortium, model, model_version, window_start, member, site, hub)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS volume_minute
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    source_topic LowCardinality(String),
    window_start DateTime('UTC'),
    late UInt8,
    sums Map(LowCardinality(String), Float64),
    key String,
    version Int64,
    final UInt8,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX key_idx key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (consortium, model, model_version, source_topic, window_start, member, site, hub)
SETTINGS ttl_only_drop_parts = 1;

-- One rollup shape for the four scalar kinds: `kind` says which.
CREATE TABLE IF NOT EXISTS scalars_hour
(
    kind LowCardinality(String),
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    source_topic LowCardinality(String),
    window_start DateTime('UTC'),
    buckets AggregateFunction(sumForEach, Array(Int64)),
    sums AggregateFunction(sumMap, Map(LowCardinality(String), Float64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (kind, consortium, model, model_version, source_topic, window_start, member, site, hub);

CREATE TABLE IF NOT EXISTS scalars_day AS scalars_hour
ENGINE = AggregatingMergeTree
PARTITION BY toYear(window_start)
ORDER BY (kind, consortium, model, model_version, source_topic, window_start, member, site, hub);

CREATE MATERIALIZED VIEW IF NOT EXISTS regression_hour_mv TO scalars_hour AS
SELECT 'regression' AS kind, consortium, member, model, model_version, site, hub,
       '' AS source_topic, toStartOfHour(window_start) AS window_start,
       sumForEachState(CAST([], 'Array(Int64)')) AS buckets, sumMapState(sums) AS sums
FROM regression_minute
GROUP BY consortium, member, model, model_version, site, hub, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS regression_day_mv TO scalars_day AS
SELECT 'regression' AS kind, consortium, member, model, model_version, site, hub,
       '' AS source_topic, toStartOfDay(window_start) AS window_start,
       sumForEachState(CAST([], 'Array(Int64)')) AS buckets, sumMapState(sums) AS sums
FROM regression_minute
GROUP BY consortium, member, model, model_version, site, hub, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS latency_hour_mv TO scalars_hour AS
SELECT 'latency' AS kind, consortium, member, model, model_version, site, hub,
       '' AS source_topic, toStartOfHour(window_start) AS window_start,
       sumForEachState(buckets) AS buckets, sumMapState(sums) AS sums
FROM latency_minute
GROUP BY consortium, member, model, model_version, site, hub, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS latency_day_mv TO scalars_day AS
SELECT 'latency' AS kind, consortium, member, model, model_version, site, hub,
       '' AS source_topic, toStartOfDay(window_start) AS window_start,
       sumForEachState(buckets) AS buckets, sumMapState(sums) AS sums
FROM latency_minute
GROUP BY consortium, member, model, model_version, site, hub, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS energy_hour_mv TO scalars_hour AS
SELECT 'energy' AS kind, consortium, member, model, model_version, site, hub,
       '' AS source_topic, toStartOfHour(window_start) AS window_start,
       sumForEachState(CAST([], 'Array(Int64)')) AS buckets, sumMapState(sums) AS sums
FROM energy_minute
GROUP BY consortium, member, model, model_version, site, hub, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS energy_day_mv TO scalars_day AS
SELECT 'energy' AS kind, consortium, member, model, model_version, site, hub,
       '' AS source_topic, toStartOfDay(window_start) AS window_start,
       sumForEachState(CAST([], 'Array(Int64)')) AS buckets, sumMapState(sums) AS sums
FROM energy_minute
GROUP BY consortium, member, model, model_version, site, hub, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS volume_hour_mv TO scalars_hour AS
SELECT 'volume' AS kind, consortium, member, model, model_version, site, hub,
       source_topic, toStartOfHour(window_start) AS window_start,
       sumForEachState(CAST([], 'Array(Int64)')) AS buckets, sumMapState(sums) AS sums
FROM volume_minute
GROUP BY consortium, member, model, model_version, site, hub, source_topic, window_start;

CREATE MATERIALIZED VIEW IF NOT EXISTS volume_day_mv TO scalars_day AS
SELECT 'volume' AS kind, consortium, member, model, model_version, site, hub,
       source_topic, toStartOfDay(window_start) AS window_start,
       sumForEachState(CAST([], 'Array(Int64)')) AS buckets, sumMapState(sums) AS sums
FROM volume_minute
GROUP BY consortium, member, model, model_version, site, hub, source_topic, window_start;

-- ------------------------------------------------------------------ DLQ and alerts
-- Replaying the dlq topic (or a worker re-emitting the same rejection) collapses on
-- the ORDER BY key; read with FINAL.
CREATE TABLE IF NOT EXISTS dlq
(
    source_topic LowCardinality(String),
    source_partition Int32,
    source_offset Int64,
    reason LowCardinality(String),
    field String,
    rows Array(Int64),
    raw String,
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (source_topic, source_partition, source_offset, reason, field, rows);

-- dedup_key: the alert's own id/key when it has one, else sha1 of its JSON.
CREATE TABLE IF NOT EXISTS alerts
(
    consortium LowCardinality(String),
    member LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    site LowCardinality(String),
    hub LowCardinality(String),
    feature LowCardinality(String),
    rule LowCardinality(String),
    severity LowCardinality(String),
    state LowCardinality(String),
    value Nullable(Float64),
    threshold Nullable(Float64),
    window_start DateTime('UTC'),
    fired_at DateTime64(3, 'UTC'),
    dedup_key String,
    payload String
)
ENGINE = ReplacingMergeTree(fired_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (consortium, model, dedup_key);

-- --------------------------------------------------------------- dimensions
-- Filled at every migrate from resonance.carbon.hub_factors(); read with FINAL.
CREATE TABLE IF NOT EXISTS hubs
(
    hub LowCardinality(String),
    name String,
    provinces Array(String),
    grid_gco2_per_kwh Float64,
    pue Float64,
    source String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY hub;

-- Reference profiles (processors.reference.ReferenceProfile JSON) per model version:
-- the static half of drift, needed to compute PSI/KS from stored histograms.
CREATE TABLE IF NOT EXISTS references
(
    consortium LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    profile String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (consortium, model, model_version);

-- The same profiles, one row per feature, for dashboards ("reference vs current").
-- Numeric: edges (len = bins - 1), counts/sums per bin; categorical: categories
-- (bins = categories + other + missing).
CREATE TABLE IF NOT EXISTS reference_features
(
    consortium LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    feature LowCardinality(String),
    kind LowCardinality(String),
    edges Array(Float64),
    categories Array(String),
    counts Array(Int64),
    sums Array(Float64),
    n Int64,
    n_missing Int64,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (consortium, model, model_version, feature);
