-- 0003 (issue 11): the DLQ's tenancy in columns, and fenced inserts.
--
-- The worker writes the *validated* tenancy of a rejected message into its DLQ record and
-- the sink stores it here; row policies filter on these columns (warehouse/tenants.py).
-- Rows stored before this migration get the consortium their raw JSON names (as before).
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS consortium LowCardinality(String) DEFAULT JSONExtractString(raw, 'consortium');
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS member LowCardinality(String) DEFAULT '';
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS model LowCardinality(String) DEFAULT JSONExtractString(raw, 'model');
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS model_version LowCardinality(String) DEFAULT '';
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS site LowCardinality(String) DEFAULT '';
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS hub LowCardinality(String) DEFAULT '';
-- raw holds at most the first 64 KB (configurable) of the message: its full size and hash
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS raw_size UInt64 DEFAULT length(raw);
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS raw_sha256 String DEFAULT lower(hex(SHA256(raw)));
-- every rejection of the message (JSON array, capped), the first one is reason/field/rows
ALTER TABLE dlq ADD COLUMN IF NOT EXISTS rejections String DEFAULT '[]';

-- The sink inserts every batch of deltas with a deterministic insert_deduplication_token
-- (warehouse/sink.py): a zombie flush, a second sink or a retry of the same deltas is
-- dropped by the table, and (deduplicate_blocks_in_dependent_materialized_views) by the
-- rollups too. Replicated tables deduplicate by default; plain MergeTree needs a window.
ALTER TABLE drift_minute MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE classification_minute MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE regression_minute MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE latency_minute MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE energy_minute MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE volume_minute MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE drift_hour MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE drift_day MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE classification_hour MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE classification_day MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE scalars_hour MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE scalars_day MODIFY SETTING non_replicated_deduplication_window = 10000;
