"""The sink fence: an insert by a sink whose partitions were taken over stores nothing.

The deduplication token (:func:`warehouse.sink.ledger.dedup_token`) drops a zombie's
insert only when the zombie planned exactly what the new owner planned. The fence covers
every other interleaving (docs/warehouse.md, "Zombie sinks"):

1. **claim**: when Kafka assigns a sink its ``partials`` partitions, and before it reads
   ClickHouse, it inserts one ``sink_fence`` row per partition with a new epoch (the
   group's highest + 1) and a random claim id (:func:`claim`);
2. **wait**: it then waits until every fenced insert that was already running on the
   server has finished (:func:`wait_for_inserts`): those started before the claim existed;
3. **guard**: every insert of deltas runs as ``INSERT ... SELECT ... WHERE guard``, the
   guard a ``throwIf`` over a scalar subquery of ``sink_fence`` that ClickHouse evaluates
   once when the statement starts (:meth:`Fence.guard`): if any of the sink's partitions
   has a newer claim (a higher ``(epoch, claim)``), the INSERT fails with
   ``resonance: sink fenced`` before it writes a row, so neither the minute table nor its
   materialized rollups see it.

So every insert that lands was planned from a read that saw every insert landed before
it: an older claimant's insert that starts after the claim is refused; one that started
before it has landed before the new owner reads (step 2), and the new owner's plan
chains on it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa

from errors import SinkFenced
from warehouse.backend import Backend, InsertGuard

Partition = tuple[str, int]  # (topic, partition)

#: a newer claim on one of the fence's partitions → throwIf → the INSERT stores nothing.
GUARD_SQL = (
    "throwIf((SELECT count() FROM sink_fence WHERE consumer_group = {fence_group:String} "
    "AND has({fence_partitions:Array(Tuple(String, Int32))}, tuple(topic, partition)) "
    "AND tuple(epoch, claim) > tuple({fence_epoch:UInt64}, {fence_claim:String})) > 0, "
    f"'{SinkFenced.MARK}: a newer sink claimed these partitions') = 0"
)
#: fenced inserts still running on the server (their SELECT names ``sink_fence``).
INFLIGHT_SQL = (
    "SELECT query_id FROM system.processes "
    "WHERE query_kind = 'Insert' AND position(query, 'sink_fence') > 0"
)
_LAST_EPOCH_SQL = "SELECT max(epoch) AS epoch FROM sink_fence WHERE consumer_group = {g:String}"


@dataclass(frozen=True)
class Fence:
    """One claim: the partitions a sink owns since its last assignment, and its epoch."""

    group: str
    epoch: int
    claim: str
    partitions: tuple[Partition, ...]

    def guard(self) -> InsertGuard:
        """The condition an insert of deltas must hold: no newer claim on these partitions."""
        return InsertGuard(
            GUARD_SQL,
            {
                "fence_group": self.group,
                "fence_partitions": list(self.partitions),
                "fence_epoch": self.epoch,
                "fence_claim": self.claim,
            },
        )


def claim(
    backend: Backend,
    group: str,
    partitions: Iterable[Partition],
    *,
    claim_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Fence:
    """Claim ``partitions`` for ``group`` (a new, higher epoch), then wait out the fenced
    inserts already running; call it before reading ClickHouse for these partitions."""
    parts = tuple(sorted({(str(t), int(p)) for t, p in partitions}))
    last = backend.query(_LAST_EPOCH_SQL, {"g": group}).column("epoch")[0].as_py()
    fence = Fence(group, int(last or 0) + 1, claim_id or uuid.uuid4().hex, parts)
    if parts:
        backend.insert_arrow(
            "sink_fence",
            pa.table(
                {
                    "consumer_group": [group] * len(parts),
                    "topic": [t for t, _ in parts],
                    "partition": pa.array([p for _, p in parts], pa.int32()),
                    "epoch": pa.array([fence.epoch] * len(parts), pa.uint64()),
                    "claim": [fence.claim] * len(parts),
                }
            ),
        )
    wait_for_inserts(backend, sleep=sleep)
    return fence


def wait_for_inserts(
    backend: Backend, *, sleep: Callable[[float], None] = time.sleep, poll_s: float = 0.1
) -> int:
    """Wait until the fenced inserts running now have finished; returns how many polls.

    An insert's guard is evaluated after the server listed it in ``system.processes``,
    so one that is not listed now starts after the caller's claim and sees it. Only
    the inserts seen at the first poll are waited for (new ones cannot starve us).
    Embedded chDB runs one statement at a time: nothing is ever running there.
    """
    pending = _inflight(backend)
    polls = 1
    while pending:
        sleep(poll_s)
        pending &= _inflight(backend)
        polls += 1
    return polls


def _inflight(backend: Backend) -> set[str]:
    return {str(q) for q in backend.query(INFLIGHT_SQL).column("query_id").to_pylist()}
