-- 0001's `alerts` table (one row per alert, keyed by a dedup key) has been unused since 0002:
-- alerts are state transitions in `alert_events` (warehouse.alert_store), read through
-- warehouse.alert_queries. Nothing writes or reads `alerts` any more.
DROP TABLE IF EXISTS alerts;
