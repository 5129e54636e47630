-- 0010 (issue 11): the sink fence. A sink claims the partials partitions Kafka assigned it
-- (one row per partition, one epoch per claim: the group's highest epoch + 1, ties broken
-- by the random claim id) before it reads ClickHouse, and every insert of deltas checks,
-- inside the INSERT itself, that no newer claim exists for its partitions; a zombie's
-- insert then fails with 'resonance: sink fenced' and stores nothing (warehouse/sink/fence.py,
-- docs/warehouse.md "Zombie sinks"). Internal: no consortium column, granted to nobody.
CREATE TABLE IF NOT EXISTS sink_fence
(
    consumer_group String,
    topic String,
    partition Int32,
    epoch UInt64,
    claim String,
    claimed_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (consumer_group, topic, partition, epoch, claim);
