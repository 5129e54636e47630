"""Fenced sink on real chDB: a zombie flush, a second sink or a replay never double-counts.

The interleavings of issue 11, built with two (or three) :class:`PartialWriter` objects on
one warehouse: the zombie claims its partition (``sink_fence``), reads ClickHouse, plans
its deltas and is held before its insert is sent (:class:`Gate`); the new owner claims,
reads and writes; then the zombie's insert is released. Version ``v`` of the key carries
``v`` joules (cumulative), so the stored joules must equal the highest version written,
in the minute table and in both materialized rollups (``scalars_hour``, ``scalars_day``).
"""

from __future__ import annotations

import asyncio
import threading

import pyarrow as pa
import pytest

from errors import SinkFenced, SinkFenceTimeout, UsageError
from warehouse import migrate as mig
from warehouse.backend import ChdbBackend, WarehouseError
from warehouse.sink import PartialWriter, SinkConfig, run_sink
from warehouse.sink.fence import (
    INFLIGHT_CLUSTER_SQL,
    INFLIGHT_SQL,
    check_cluster,
    claim,
    wait_for_inserts,
)
from warehouse.sink.partials import parse_partial

from .test_sink_write import _partial

pytestmark = pytest.mark.integration

P0 = ("partials", 0)


class Gate:
    """Backend wrapper (real chDB underneath): inserts wait until ``open`` is set."""

    def __init__(self, inner):
        self.inner, self.database = inner, inner.database
        self.open, self.waiting = threading.Event(), threading.Event()

    def query(self, sql, params=None):
        return self.inner.query(sql, params)

    def command(self, sql, params=None):
        return self.inner.command(sql, params)

    def insert_arrow(self, table, data, dedup_token=None, **guard):
        self.waiting.set()
        assert self.open.wait(300), "zombie insert never released"
        return self.inner.insert_arrow(table, data, dedup_token, **guard)

    def close(self):
        pass


class Held:
    """A zombie flush: ``writer.write(records)`` on a thread, held at its insert by a Gate."""

    def __init__(self, writer, gate, records):
        self.gate, self.result, self.error = gate, None, None
        self.thread = threading.Thread(target=self._run, args=(writer, records))
        self.thread.start()
        assert gate.waiting.wait(300)  # it has read ClickHouse and planned its deltas

    def _run(self, writer, records):
        try:
            self.result = writer.write(records)
        except Exception as exc:  # the test inspects it
            self.error = exc

    def land(self):
        self.gate.open.set()
        self.thread.join(300)
        assert not self.thread.is_alive()
        return self


def _rec(helpers, consortium, v, partition=P0):
    state = {"joules": float(v), "inferences": v, "duration_s": 1.0, "readings": v}
    return parse_partial(_partial(helpers, v, state, consortium=consortium), *partition)


def _writer(backend, group, partitions=(P0,)):
    """A sink that was just assigned ``partitions``: it claims them, then may read."""
    writer = PartialWriter(backend)
    writer.fence = claim(backend, group, partitions)
    return writer


def _zombie(backend, group):
    """A writer holding an (older) claim whose inserts wait at a Gate."""
    gate = Gate(backend)
    writer = PartialWriter(gate)
    writer.fence = claim(backend, group, [P0])
    return writer, gate


def _totals(backend, consortium):
    """(minute joules, minute rows, hour joules, day joules) of the consortium."""
    c = {"c": consortium}
    minute = backend.query(
        "SELECT sumMap(sums)['joules'] AS j, count() AS n FROM energy_minute "
        "WHERE consortium = {c:String}",
        c,
    ).to_pylist()[0]
    hour, day = (
        backend.query(
            f"SELECT sumMapMerge(sums)['joules'] AS j FROM {table} "
            "WHERE consortium = {c:String} AND kind = 'energy'",
            c,
        ).to_pylist()[0]["j"]
        for table in ("scalars_hour", "scalars_day")
    )
    return minute["j"], minute["n"], hour, day


def test_zombie_insert_after_the_owner_claimed_stores_nothing(backend, helpers):
    """The issue's case: the zombie planned nothing -> v9, the owner read nothing too and
    wrote nothing -> v14 (another range, another token), then the zombie's insert landed.
    Unfenced that stored 23 joules for 14 produced; the fence refuses the zombie's insert
    inside ClickHouse, so the minute table and both rollups hold 14."""
    c = "fence-other-range"
    zombie, gate = _zombie(backend, "g1")
    held = Held(zombie, gate, [_rec(helpers, c, 9)])
    owner = _writer(backend, "g1")
    assert owner.write([_rec(helpers, c, 14)]).inserted == 1
    held.land()
    assert isinstance(held.error, SinkFenced) and held.result is None
    assert len(zombie.ledger) == 0  # it learnt nothing: a retry re-reads ClickHouse
    assert _totals(backend, c) == (14.0, 1, 14.0, 14.0)
    replay = _writer(backend, "g1").write([_rec(helpers, c, 9), _rec(helpers, c, 14)])
    assert (replay.inserted, replay.skipped) == (0, 1)  # a later sink replaying the topic
    assert _totals(backend, c) == (14.0, 1, 14.0, 14.0)


def test_zombie_that_planned_what_the_owner_planned_stores_nothing_twice(backend, helpers):
    """Same plan (nothing -> v9, same token), the owner going on to v14 before the zombie's
    insert lands: 14 stored, whether the token or the fence drops the zombie."""
    c = "fence-same-plan"
    zombie, gate = _zombie(backend, "g2")
    held = Held(zombie, gate, [_rec(helpers, c, 9)])
    owner = _writer(backend, "g2")
    owner.write([_rec(helpers, c, 9)])
    owner.write([_rec(helpers, c, 14)])
    assert isinstance(held.land().error, SinkFenced)
    assert _totals(backend, c) == (14.0, 2, 14.0, 14.0)


def test_zombie_that_landed_before_the_owner_claimed_is_chained_on(backend, helpers):
    """The zombie's insert lands before the owner's claim: the owner reads it and chains
    (nothing -> v9, then v9 -> v14): exact, two rows."""
    c = "fence-landed-first"
    zombie, gate = _zombie(backend, "g3")
    held = Held(zombie, gate, [_rec(helpers, c, 9)])
    assert held.land().error is None and held.result.inserted == 1
    owner = _writer(backend, "g3")
    assert owner.write([_rec(helpers, c, 14)]).inserted == 1
    assert _totals(backend, c) == (14.0, 2, 14.0, 14.0)


def test_zombie_released_between_the_owners_claim_and_read_is_refused(backend, helpers):
    """Released after the claim but before the owner reads: refused, the owner writes
    nothing -> v14 alone."""
    c = "fence-after-claim"
    zombie, gate = _zombie(backend, "g4")
    held = Held(zombie, gate, [_rec(helpers, c, 9)])
    owner = _writer(backend, "g4")
    assert isinstance(held.land().error, SinkFenced)
    assert owner.write([_rec(helpers, c, 14)]).inserted == 1
    assert _totals(backend, c) == (14.0, 1, 14.0, 14.0)


def test_two_sequential_zombie_flushes_after_an_owner_covering_less(backend, helpers):
    """The zombie's flushes nothing -> v9 and v9 -> v12 (its cache believes v9 stored) both
    land after the owner's first flush, which reached only v5; the owner then goes on to
    v14. Both zombie inserts are refused: 14 stored (5 + 9), never 5 + 9 + 3 + 9."""
    c = "fence-two-flushes"
    zombie, gate = _zombie(backend, "g5")
    first = Held(zombie, gate, [_rec(helpers, c, 9)])
    owner = _writer(backend, "g5")
    assert owner.write([_rec(helpers, c, 5)]).inserted == 1
    assert isinstance(first.land().error, SinkFenced)
    v9 = _rec(helpers, c, 9)
    zombie.ledger.record(v9.key, 9, v9.state)  # the worst case: it believes v9 landed
    with pytest.raises(SinkFenced):
        zombie.write([_rec(helpers, c, 12)])  # plans v9 -> v12 from its cache
    assert _totals(backend, c) == (5.0, 1, 5.0, 5.0)
    assert owner.write([_rec(helpers, c, 14)]).inserted == 1
    assert _totals(backend, c) == (14.0, 2, 14.0, 14.0)


def test_a_fenced_sink_that_claims_again_chains_on_what_the_owner_wrote(backend, helpers):
    """After a new claim (its next assignment) the former zombie reads what is stored and
    writes on top of it, and the former owner is fenced in turn."""
    c = "fence-reclaim"
    zombie, gate = _zombie(backend, "g6")
    held = Held(zombie, gate, [_rec(helpers, c, 9)])
    owner = _writer(backend, "g6")
    owner.write([_rec(helpers, c, 5)])
    assert isinstance(held.land().error, SinkFenced)
    zombie.fence = claim(backend, "g6", [P0])
    assert zombie.write([_rec(helpers, c, 12)]).inserted == 1  # v5 -> v12
    with pytest.raises(SinkFenced):
        owner.write([_rec(helpers, c, 14)])
    assert _totals(backend, c) == (12.0, 2, 12.0, 12.0)


def test_records_of_a_partition_the_sink_did_not_claim_are_refused(backend, helpers):
    c = "fence-unclaimed"
    writer = _writer(backend, "g7", [P0])
    with pytest.raises(SinkFenced, match="unclaimed partitions"):
        writer.write([_rec(helpers, c, 9, partition=("partials", 1))])
    assert _totals(backend, c)[1] == 0  # nothing stored


def test_claims_are_per_group_and_their_epochs_grow(backend):
    a = claim(backend, "g8", [P0, ("partials", 1)])
    b = claim(backend, "g8", [("partials", 1)])
    other = claim(backend, "g8-other-group", [P0])
    assert b.epoch == a.epoch + 1 and other.epoch == 1
    rows = backend.query(
        "SELECT topic, partition, epoch FROM sink_fence WHERE consumer_group = 'g8' "
        "ORDER BY epoch, partition"
    ).to_pylist()
    assert [(r["partition"], r["epoch"]) for r in rows] == [(0, 1), (1, 1), (1, 2)]


def test_a_tie_between_two_claims_goes_to_the_higher_claim_id(backend, helpers):
    """Two sinks that read the same highest epoch claim the same epoch: the higher claim
    id wins, the other is fenced (and, in run_sink, claims again)."""
    c = "fence-tie"
    loser = _writer(backend, "g9")
    tie = {"consumer_group": ["g9"], "topic": [P0[0]], "partition": pa.array([0], pa.int32()),
           "epoch": pa.array([loser.fence.epoch], pa.uint64()), "claim": ["f" * 32]}  # fmt: skip
    backend.insert_arrow("sink_fence", pa.table(tie))
    with pytest.raises(SinkFenced):
        loser.write([_rec(helpers, c, 9)])
    assert _totals(backend, c)[1] == 0


def test_a_claim_waits_out_the_fenced_inserts_already_running():
    """The server-side race: an insert whose guard was evaluated before the claim may still
    be writing. The claim waits until every fenced insert listed at its first look has
    ended (here q1 and q2; q3 started later, so it saw the claim and is not waited for)."""

    class Processes:
        database = "x"

        def __init__(self, seen):
            self.seen, self.sql = list(seen), []

        def query(self, sql, params=None):
            self.sql.append(sql)
            ids = self.seen.pop(0) if self.seen else []
            return pa.table({"query_id": pa.array(ids, pa.string())})

    stub = Processes([["q1", "q2"], ["q2", "q3"], ["q3"]])
    slept: list[float] = []
    assert wait_for_inserts(stub, sleep=slept.append) == 3
    assert len(slept) == 2 and stub.sql == [INFLIGHT_SQL] * 3


def test_the_inflight_query_runs_on_chdb(backend):
    assert backend.query(INFLIGHT_SQL).num_rows == 0  # nothing runs beside this query


def test_the_cluster_wide_inflight_query_names_a_missing_cluster_on_chdb(backend):
    """chDB (and clickhouse-connect in front of it) accepts the parameterised
    ``clusterAllReplicas`` and fails clearly on a cluster it does not have (it has none);
    the sink's start-up check turns that into bad configuration naming the setting."""
    with pytest.raises(WarehouseError, match=r"Requested cluster 'nosuch' not found"):
        backend.query(INFLIGHT_CLUSTER_SQL, {"fence_cluster": "nosuch"})
    named = r"RESONANCE_CLICKHOUSE_CLUSTER=nosuch: .*CLUSTER_DOESNT_EXIST"
    with pytest.raises(UsageError, match=named):
        check_cluster(backend, "nosuch")
    check_cluster(backend, None)  # the one-server query runs


def test_the_sink_refuses_to_start_with_a_cluster_the_server_lacks(backend):
    """Checked before Kafka is contacted (nothing listens on the bootstrap address)."""
    config = SinkConfig(bootstrap="127.0.0.1:9", cluster="nosuch")
    with pytest.raises(UsageError, match="RESONANCE_CLICKHOUSE_CLUSTER=nosuch"):
        asyncio.run(run_sink(PartialWriter(backend), config))


class Listed:
    """Backend wrapper (real chDB underneath) whose ``system.processes`` look lists
    ``ids`` as fenced inserts that never end: a zombie's insert stuck on the server."""

    def __init__(self, inner, ids):
        self.inner, self.ids, self.database = inner, ids, inner.database

    def query(self, sql, params=None):
        if sql in (INFLIGHT_SQL, INFLIGHT_CLUSTER_SQL):
            return pa.table({"query_id": pa.array(self.ids, pa.string())})
        return self.inner.query(sql, params)

    def command(self, sql, params=None):
        return self.inner.command(sql, params)

    def insert_arrow(self, table, data, dedup_token=None, **guard):
        return self.inner.insert_arrow(table, data, dedup_token, **guard)

    def close(self):
        pass


def test_a_claim_that_waits_too_long_stops_and_its_claim_still_fences(backend, helpers):
    """The new owner's claim waits for an insert that does not end: after the limit (an
    injected clock) it raises SinkFenceTimeout naming the insert, before reading anything.
    Its claim row stands, so the zombie's insert, when it is finally sent, is refused."""
    c = "fence-stuck"
    zombie, gate = _zombie(backend, "g-stuck")
    held = Held(zombie, gate, [_rec(helpers, c, 9)])
    now = [0.0]

    def sleep(s):
        now[0] += s

    with pytest.raises(SinkFenceTimeout, match="RESONANCE_SINK_FENCE_WAIT_S") as info:
        claim(Listed(backend, ["zombie-insert"]), "g-stuck", [P0], wait_s=5,
              sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert info.value.query_ids == ("zombie-insert",) and now[0] == 5
    epochs = backend.query(
        "SELECT max(epoch) AS e FROM sink_fence WHERE consumer_group = 'g-stuck'"
    ).to_pylist()
    assert epochs == [{"e": zombie.fence.epoch + 1}]  # the timed-out claim is recorded
    held.land()
    assert isinstance(held.error, SinkFenced)
    assert _totals(backend, c) == (0.0, 0, 0.0, 0.0)


def test_db_migrate_adds_the_fence_table_to_an_existing_store(tmp_path, monkeypatch):
    store = ChdbBackend(tmp_path)
    try:
        everything = mig.discover
        monkeypatch.setattr(mig, "discover", lambda: [m for m in everything() if m.version < 10])
        mig.migrate(store, minute_ttl_days=0, log=lambda _m: None)
        monkeypatch.setattr(mig, "discover", everything)
        assert mig.migrate(store, minute_ttl_days=0, log=lambda _m: None) == [10]
        assert claim(store, "upgraded", [P0]).epoch == 1
    finally:
        store.close()
