-- The model registry, mirrored from the compacted Kafka topic `models` by the sink
-- (streams.registry is the source of truth; this copy is for SQL and Grafana).
-- One row per model version; storing an entry again replaces it (read with FINAL).
-- Reference profiles of the entries go to `references` / `reference_features` as well.
CREATE TABLE IF NOT EXISTS models
(
    consortium LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    target_kind LowCardinality(String),
    classes Array(String),
    positive_class String,
    baselines Map(String, Float64),
    importances Map(String, Float64),
    slo_p95_ms Nullable(Float64),
    owner String,
    contact String,
    retired UInt8,
    reference_source LowCardinality(String),
    features UInt32,
    provenance String,
    entry String,
    registered_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (consortium, model, model_version);
