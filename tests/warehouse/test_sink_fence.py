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
