"""The sink fence: an insert by a sink whose partitions were taken over stores nothing.

The deduplication token (:func:`warehouse.sink.ledger.dedup_token`) drops a zombie's
insert only when the zombie planned exactly what the new owner planned. The fence covers
every other interleaving (docs/warehouse.md, "Zombie sinks"):

1. **claim**: when Kafka assigns a sink its ``partials`` partitions, and before it reads
   ClickHouse, it inserts one ``sink_fence`` row per partition with a new epoch (the
   group's highest + 1) and a random claim id (:func:`claim`);
2. **wait**: it then waits until every fenced insert that was already running on the
   server (on every replica, with ``RESONANCE_CLICKHOUSE_CLUSTER``) has finished
   (:func:`wait_for_inserts`): those started before the claim existed. The wait logs
   what it waits for every 10 s and gives up after ``RESONANCE_SINK_FENCE_WAIT_S``
   (:class:`~errors.SinkFenceTimeout`: the sink stops rather than read too early);
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

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from errors import SinkFenced, SinkFenceTimeout, UsageError
from warehouse.backend import Backend, InsertGuard, WarehouseError
from warehouse.settings import CLUSTER_RULE, DEFAULT_SINK_FENCE_WAIT_S, valid_cluster

log = logging.getLogger("resonance.sink")

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
#: ... on every replica of a cluster (``RESONANCE_CLICKHOUSE_CLUSTER``): a zombie's insert
#: may run on another server than the new owner's.
INFLIGHT_CLUSTER_SQL = (
    "SELECT query_id FROM clusterAllReplicas({fence_cluster:String}, system.processes) "
    "WHERE query_kind = 'Insert' AND position(query, 'sink_fence') > 0"
)
#: the wait's longest pause between two looks (it starts at ``poll_s`` and doubles).
MAX_POLL_S = 1.0
#: at most this many query ids in a log line or an error message.
SHOWN_IDS = 10
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
    wait_s: float = DEFAULT_SINK_FENCE_WAIT_S,
    cluster: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Fence:
    """Claim ``partitions`` for ``group`` (a new, higher epoch), then wait out the fenced
    inserts already running (at most ``wait_s``, on every replica of ``cluster`` if
    given; :func:`wait_for_inserts`); call it before reading ClickHouse for these
    partitions. Raises :class:`~errors.SinkFenceTimeout` when the wait runs out."""
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
    wait_for_inserts(backend, limit_s=wait_s, cluster=cluster, sleep=sleep, clock=clock)
    return fence


def wait_for_inserts(
    backend: Backend,
    *,
    limit_s: float = DEFAULT_SINK_FENCE_WAIT_S,
    cluster: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_s: float = 0.1,
    log_every_s: float = 10.0,
) -> int:
    """Wait until the fenced inserts running now have finished; returns how many looks.

    An insert's guard is evaluated after the server listed it in ``system.processes``,
    so one that is not listed now starts after the caller's claim and sees it. Only
    the inserts seen at the first look are waited for (new ones cannot starve us).
    With ``cluster``, every replica's ``system.processes`` is read (``clusterAllReplicas``).
    Embedded chDB runs one statement at a time: nothing is ever running there.

    Looks ``poll_s`` apart, doubling to :data:`MAX_POLL_S`. While inserts are pending,
    one log line every ``log_every_s`` names them; once ``limit_s`` has passed (by
    ``clock``) with any still running, raises :class:`~errors.SinkFenceTimeout`: the
    caller must not read ClickHouse while they may still land (that would double-count).
    """
    sql, params = inflight_query(cluster)
    start = logged = clock()
    pending = _inflight(backend, sql, params)
    looks, delay = 1, poll_s
    while pending:
        now = clock()
        waited = now - start
        if waited >= limit_s:
            raise _timeout(pending, limit_s, cluster)
        if now - logged >= log_every_s:
            log.warning(
                "sink fence: waiting %.0f s for %d fenced insert(s) that were running "
                "at the claim (%s); the sink stops at %.0f s (RESONANCE_SINK_FENCE_WAIT_S)",
                waited, len(pending), _shown(pending), limit_s,
            )  # fmt: skip
            logged = now
        sleep(min(delay, limit_s - waited))
        delay = min(delay * 2, MAX_POLL_S)
        pending &= _inflight(backend, sql, params)
        looks += 1
    return looks


def inflight_query(cluster: str | None = None) -> tuple[str, Mapping[str, Any]]:
    """The SQL (and its parameters) listing the fenced inserts that are running.

    >>> inflight_query("prod")[1]
    {'fence_cluster': 'prod'}
    >>> inflight_query("x'); DROP")
    Traceback (most recent call last):
    ...
    errors.UsageError: RESONANCE_CLICKHOUSE_CLUSTER: "x'); DROP" is not a cluster name ...
    """
    if cluster is None:
        return INFLIGHT_SQL, {}
    if not valid_cluster(cluster):
        raise UsageError(
            f"RESONANCE_CLICKHOUSE_CLUSTER: {cluster!r} is not a cluster name ({CLUSTER_RULE})"
        )
    return INFLIGHT_CLUSTER_SQL, {"fence_cluster": cluster}


def check_cluster(backend: Backend, cluster: str | None) -> None:
    """Run the wait's query once (at sink start): a cluster the server does not know is
    bad configuration (:class:`~errors.UsageError`), not an outage to retry."""
    sql, params = inflight_query(cluster)
    try:
        backend.query(sql, params)
    except WarehouseError as exc:
        if cluster is not None and "CLUSTER_DOESNT_EXIST" in str(exc):
            raise UsageError(f"RESONANCE_CLICKHOUSE_CLUSTER={cluster}: {exc}") from exc
        raise


def _inflight(backend: Backend, sql: str, params: Mapping[str, Any]) -> set[str]:
    rows = backend.query(sql, params or None).column("query_id").to_pylist()
    return {str(q) for q in rows}


def _shown(ids: set[str]) -> str:
    first = sorted(ids)[:SHOWN_IDS]
    more = len(ids) - len(first)
    return ", ".join(first) + (f", +{more} more" if more else "")


def _timeout(pending: set[str], limit_s: float, cluster: str | None) -> SinkFenceTimeout:
    ids = tuple(sorted(pending))
    quoted = ", ".join(_literal(q) for q in ids[:SHOWN_IDS])
    on = f" ON CLUSTER {cluster}" if cluster else ""
    return SinkFenceTimeout(
        f"sink fence: {len(ids)} fenced insert(s) running at this sink's claim did not end "
        f"within {limit_s:g} s (RESONANCE_SINK_FENCE_WAIT_S): {_shown(pending)}. Reading "
        "ClickHouse while they may still land could count their rows twice, so the sink "
        f"stops; end them (KILL QUERY{on} WHERE query_id IN ({quoted})) or raise the "
        "setting, and restart it",
        ids,
    )


def _literal(text: str) -> str:
    """A ClickHouse string literal, for a statement the operator copies from a message."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
