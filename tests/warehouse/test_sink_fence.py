"""Fenced sink on real chDB: a zombie flush, a second sink or a replay never double-counts.

The interleaving of issue 11: sink A reads ClickHouse and plans its deltas, stalls (a
zombie after a rebalance), sink B (the new owner) reads the same stored state, plans the
same deltas and inserts them, then A's insert lands. Both inserts carry the same
deterministic insert_deduplication_token, so the table (and its rollups) keep one.
"""

from __future__ import annotations

import threading

import pytest

from warehouse.sink import PartialWriter

from .test_sink_write import _partial

pytestmark = pytest.mark.integration


class Gate:
    """Backend wrapper (real chDB underneath): inserts wait until ``open`` is set."""

    def __init__(self, inner):
        self.inner, self.database = inner, inner.database
        self.open, self.waiting = threading.Event(), threading.Event()

    def query(self, sql, params=None):
        return self.inner.query(sql, params)

    def command(self, sql, params=None):
        return self.inner.command(sql, params)

    def insert_arrow(self, table, data, dedup_token=None):
        self.waiting.set()
        assert self.open.wait(300), "zombie insert never released"
        return self.inner.insert_arrow(table, data, dedup_token)

    def close(self):
        pass


def _totals(backend, consortium):
    minute = backend.query(
        "SELECT sumMap(sums) AS s, count() AS n FROM energy_minute WHERE consortium = {c:String}",
        {"c": consortium},
    ).to_pylist()[0]
    hour = backend.query(
        "SELECT sumMapMerge(sums) AS s FROM scalars_hour "
        "WHERE consortium = {c:String} AND kind = 'energy'",
        {"c": consortium},
    ).to_pylist()[0]
    return dict(minute["s"]), minute["n"], dict(hour["s"])


def test_zombie_flush_after_the_new_owner_read_stores_exactly_once(backend, helpers):
    state = {"joules": 10.0, "inferences": 10, "duration_s": 5.0, "readings": 10}
    record = _partial(helpers, 9, state, consortium="zombie")
    gate = Gate(backend)
    zombie = PartialWriter(gate)
    done: list = []
    thread = threading.Thread(target=lambda: done.append(zombie.write([record])))
    thread.start()
    assert gate.waiting.wait(300)  # A has read ClickHouse (nothing stored) and planned
    owner = PartialWriter(backend)
    assert owner.write([record]).inserted == 1  # B read the same state: same deltas
    gate.open.set()
    thread.join(300)
    assert done and done[0].inserted == 1  # A's insert "succeeded": ClickHouse dropped it
    assert _totals(backend, "zombie") == (state, 1, state)
    replay = PartialWriter(backend).write([record])  # a third sink replaying the topic
    assert replay.inserted == 0 and replay.skipped == 1
    assert _totals(backend, "zombie") == (state, 1, state)


def test_a_later_version_still_adds_its_delta(backend, helpers):
    v1 = {"joules": 4.0, "inferences": 4, "duration_s": 2.0, "readings": 4}
    v2 = {"joules": 10.0, "inferences": 10, "duration_s": 5.0, "readings": 10}
    a, b = PartialWriter(backend), PartialWriter(backend)
    a.write([_partial(helpers, 3, v1, consortium="versions")])
    b.write([_partial(helpers, 3, v1, consortium="versions")])  # same delta: deduplicated
    b.write([_partial(helpers, 9, v2, consortium="versions")])
    assert _totals(backend, "versions") == (v2, 2, v2)


def _race(backend, helpers, consortium, zombie_version, owner_versions):
    """Zombie A plans its delta from what is stored (nothing yet) to ``zombie_version`` and
    stalls; the owner B writes ``owner_versions`` one batch each; then A's insert lands.
    Version v of the key carries v joules (cumulative). Returns the stored totals."""

    def rec(v):
        return _partial(helpers, v, {"joules": float(v), "inferences": v, "duration_s": 1.0,
                                     "readings": v}, consortium=consortium)  # fmt: skip

    gate = Gate(backend)
    zombie = PartialWriter(gate)
    done: list = []
    thread = threading.Thread(target=lambda: done.append(zombie.write([rec(zombie_version)])))
    thread.start()
    assert gate.waiting.wait(300)
    owner = PartialWriter(backend)
    for v in owner_versions:
        owner.write([rec(v)])
    gate.open.set()
    thread.join(300)
    assert done
    return _totals(backend, consortium)[0]["joules"]


def test_a_zombie_whose_plan_the_owner_repeated_is_dropped_even_after_later_versions(
    backend, helpers
):
    """The overlapping case that holds: the owner re-read the zombie's batch from the same
    committed offset (same plan, nothing -> v9: same token) and went on to v14 before the
    zombie's insert landed. ClickHouse drops the zombie's insert: 14 stored, not 23."""
    assert _race(backend, helpers, "zombie-same-plan", 9, [9, 14]) == 14.0


def test_a_zombie_range_that_differs_from_the_owners_is_counted_twice(backend, helpers):
    """The documented limit (docs/warehouse.md, "Zombie sinks"): the zombie planned nothing
    -> v9, the owner's first batch reached v14 directly (nothing -> v14, another token).
    Both deltas land: 9 + 14 = 23 joules stored for 14 produced. The per-insert token
    cannot fence this; the sink's plan depends on when it read ClickHouse."""
    assert _race(backend, helpers, "zombie-other-range", 9, [14]) == 23.0
