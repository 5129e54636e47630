-- 0002_alerts: the policy's stored decisions (processors/policy.py, evaluated in the
-- stream by warehouse/evaluator.py) and the alert lifecycle.
--   alert_events   one row per alert state transition (the `alerts` topic record), the
--                  alert's history; a replayed transition collapses on (id, seq).
--   verdicts       one row per model and closed window: drift share, index components,
--                  the features that drift, every rule's condition. Every surface reads
--                  these instead of deciding again.
--   alert_state    the evaluator's cursor per model: last window decided + lifecycle
--                  state (JSON); written after the window's verdict and transitions.
--   alert_actions  acks and silences (the `alert-actions` topic, or the CLI directly).
CREATE TABLE IF NOT EXISTS alert_events
(
    id String,
    seq UInt32,
    transition LowCardinality(String),
    state LowCardinality(String),
    consortium LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    rule LowCardinality(String),
    severity LowCardinality(String),
    started_at DateTime64(3, 'UTC'),
    resolved_at Nullable(DateTime64(3, 'UTC')),
    window_start DateTime64(3, 'UTC'),
    emitted_at DateTime64(3, 'UTC'),
    value Nullable(Float64),
    threshold Nullable(Float64),
    features Array(String),
    policy_version String,
    payload String
)
ENGINE = ReplacingMergeTree(emitted_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (consortium, model, id, seq);

CREATE TABLE IF NOT EXISTS verdicts
(
    consortium LowCardinality(String),
    model LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime('UTC'),
    drift_share Nullable(Float64),
    data_fit Nullable(Float64),
    model_quality Nullable(Float64),
    service_health Nullable(Float64),
    resonance_index Nullable(Float64),
    drifting Array(String),
    features String,
    conditions String,
    policy_version String,
    evaluated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(evaluated_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (consortium, model, window_start);

CREATE TABLE IF NOT EXISTS alert_state
(
    consortium LowCardinality(String),
    model LowCardinality(String),
    last_window DateTime('UTC'),
    state String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (consortium, model);

CREATE TABLE IF NOT EXISTS alert_actions
(
    action LowCardinality(String),
    alert_id Nullable(String),
    consortium LowCardinality(String),
    model Nullable(String),
    rule Nullable(String),
    until Nullable(DateTime64(3, 'UTC')),
    by String,
    note Nullable(String),
    at DateTime64(3, 'UTC'),
    dedup_key String
)
ENGINE = ReplacingMergeTree(at)
ORDER BY (consortium, dedup_key);
