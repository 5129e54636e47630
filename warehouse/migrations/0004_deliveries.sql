-- Issue 14: the notifier's delivery log (topic `deliveries`, resonance.delivery/1).
-- One row per attempt and alert: a digest carrying N alerts is N rows with the
-- same `digest_of`. ReplacingMergeTree on the full identity of an attempt, so a
-- replayed topic stores each attempt once (read with FINAL, warehouse/deliveries.py).
CREATE TABLE IF NOT EXISTS deliveries
(
    alert_id String,
    transition LowCardinality(String),
    channel LowCardinality(String),
    attempt UInt16,
    status LowCardinality(String),
    http_status Nullable(UInt16),
    error Nullable(String),
    at DateTime64(3, 'UTC'),
    digest_of Array(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, channel, transition, attempt, status, at);
