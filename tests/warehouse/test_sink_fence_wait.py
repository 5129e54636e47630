"""The fence's wait for fenced inserts already running: bounded, logged, cluster-wide.

Pure timing logic: a double of ``system.processes`` whose inserts run until a given time
on an injected clock (the wait's ``sleep`` advances it), so no test waits for real time.
The same SQL on real chDB (and clickhouse-connect) is in test_sink_fence.py.
"""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest
from pydantic import ValidationError

from errors import SinkFenceTimeout, UsageError
from warehouse.settings import DEFAULT_SINK_FENCE_WAIT_S, WarehouseSettings
from warehouse.sink.fence import (
    INFLIGHT_CLUSTER_SQL,
    INFLIGHT_SQL,
    SHOWN_IDS,
    inflight_query,
    wait_for_inserts,
)

FOREVER = float("inf")


class Clock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Processes:
    """``system.processes`` as a dict: query id -> (starts, ends) on ``clock``."""

    database = "x"

    def __init__(self, clock: Clock, inserts: dict[str, tuple[float, float]]) -> None:
        self.clock, self.inserts = clock, inserts
        self.calls: list[tuple[str, object]] = []

    def query(self, sql, params=None):
        self.calls.append((sql, params))
        t = self.clock()
        ids = [q for q, (start, end) in self.inserts.items() if start <= t < end]
        return pa.table({"query_id": pa.array(ids, pa.string())})


def wait(processes: Processes, clock: Clock, **kw) -> int:
    kw.setdefault("poll_s", 1.0)  # whole seconds: the fake clock adds them exactly
    return wait_for_inserts(processes, sleep=clock.sleep, clock=clock, **kw)


def waiting_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "sink fence: waiting" in r.getMessage()]


def test_the_wait_logs_every_10_s_which_inserts_it_waits_for(caplog):
    caplog.set_level(logging.WARNING, logger="resonance.sink")
    clock = Clock()
    processes = Processes(clock, {"q2": (0, 25), "q1": (0, 12)})
    assert wait(processes, clock, limit_s=60) == 26  # looks at t = 0, 1, ..., 25
    assert clock.now == 25 and set(clock.slept) == {1.0}
    assert waiting_lines(caplog) == [
        "sink fence: waiting 10 s for 2 fenced insert(s) that were running at the claim "
        "(q1, q2); the sink stops at 60 s (RESONANCE_SINK_FENCE_WAIT_S)",
        "sink fence: waiting 20 s for 1 fenced insert(s) that were running at the claim "
        "(q2); the sink stops at 60 s (RESONANCE_SINK_FENCE_WAIT_S)",
    ]


def test_a_short_wait_logs_nothing(caplog):
    caplog.set_level(logging.WARNING, logger="resonance.sink")
    clock = Clock()
    assert wait(Processes(clock, {"q1": (0, 0.5)}), clock, poll_s=0.1) == 4
    assert clock.slept == pytest.approx([0.1, 0.2, 0.4])  # doubling pauses
    assert waiting_lines(caplog) == []


def test_the_pause_between_looks_doubles_to_one_second():
    clock = Clock()
    wait(Processes(clock, {"q1": (0, 5)}), clock, poll_s=0.125)
    assert clock.slept[:5] == [0.125, 0.25, 0.5, 1.0, 1.0]


def test_the_wait_gives_up_at_the_limit_naming_the_setting_and_the_inserts(caplog):
    caplog.set_level(logging.WARNING, logger="resonance.sink")
    clock = Clock()
    processes = Processes(clock, {"stuck-b": (0, FOREVER), "stuck-a": (0, FOREVER)})
    with pytest.raises(SinkFenceTimeout) as info:
        wait(processes, clock, limit_s=30)
    assert clock.now == 30  # never past the limit, never a look after it
    assert info.value.query_ids == ("stuck-a", "stuck-b")
    assert str(info.value) == (
        "sink fence: 2 fenced insert(s) running at this sink's claim did not end within "
        "30 s (RESONANCE_SINK_FENCE_WAIT_S): stuck-a, stuck-b. Reading ClickHouse while "
        "they may still land could count their rows twice, so the sink stops; end them "
        "(KILL QUERY WHERE query_id IN ('stuck-a', 'stuck-b')) or raise the setting, and "
        "restart it"
    )
    assert len(waiting_lines(caplog)) == 2  # at 10 s and 20 s


def test_a_limit_between_looks_is_kept_to():
    clock = Clock()
    with pytest.raises(SinkFenceTimeout):
        wait(Processes(clock, {"q": (0, FOREVER)}), clock, limit_s=2.5)
    assert clock.now == 2.5 and clock.slept == [1.0, 1.0, 0.5]


def test_inserts_that_start_after_the_claim_are_not_waited_for():
    """They evaluate their guard after the claim (and are refused): no starving."""
    clock = Clock()
    processes = Processes(clock, {"old": (0, 3), "new": (1, FOREVER)})
    assert wait(processes, clock, limit_s=10) == 4
    assert clock.now == 3


def test_many_inserts_are_shown_ten_at_a_time():
    clock = Clock()
    ids = {f"q{i:02}": (0, FOREVER) for i in range(SHOWN_IDS + 3)}
    with pytest.raises(SinkFenceTimeout) as info:
        wait(Processes(clock, ids), clock, limit_s=1)
    assert len(info.value.query_ids) == 13
    assert "q09, +3 more." in str(info.value) and "'q10'" not in str(info.value)


def test_with_a_cluster_the_wait_reads_every_replica(caplog):
    clock = Clock()
    processes = Processes(clock, {"q1": (0, FOREVER)})
    with pytest.raises(SinkFenceTimeout) as info:
        wait(processes, clock, limit_s=2, cluster="prod-eu_1")
    assert processes.calls == [(INFLIGHT_CLUSTER_SQL, {"fence_cluster": "prod-eu_1"})] * 3
    assert INFLIGHT_CLUSTER_SQL == (
        "SELECT query_id FROM clusterAllReplicas({fence_cluster:String}, system.processes) "
        "WHERE query_kind = 'Insert' AND position(query, 'sink_fence') > 0"
    )
    assert "KILL QUERY ON CLUSTER prod-eu_1 WHERE query_id IN ('q1')" in str(info.value)


def test_without_a_cluster_it_reads_the_one_server():
    clock = Clock()
    processes = Processes(clock, {})
    assert wait(processes, clock) == 1
    assert processes.calls == [(INFLIGHT_SQL, None)]
    assert "clusterAllReplicas" not in INFLIGHT_SQL


@pytest.mark.parametrize("name", ["", "1st", "-x", "a'b", "a b", "{cluster}", "a.b", "é"])
def test_a_cluster_name_outside_the_identifier_charset_is_refused(name):
    with pytest.raises(UsageError, match="RESONANCE_CLICKHOUSE_CLUSTER"):
        inflight_query(name)


def test_the_settings_read_and_check_the_fence_environment(monkeypatch):
    monkeypatch.delenv("RESONANCE_SINK_FENCE_WAIT_S", raising=False)
    monkeypatch.delenv("RESONANCE_CLICKHOUSE_CLUSTER", raising=False)
    s = WarehouseSettings()
    assert (s.sink_fence_wait_s, s.clickhouse_cluster) == (DEFAULT_SINK_FENCE_WAIT_S, None)
    assert DEFAULT_SINK_FENCE_WAIT_S == 120.0
    monkeypatch.setenv("RESONANCE_SINK_FENCE_WAIT_S", "45.5")
    monkeypatch.setenv("RESONANCE_CLICKHOUSE_CLUSTER", "prod_2")
    s = WarehouseSettings()
    assert (s.sink_fence_wait_s, s.clickhouse_cluster) == (45.5, "prod_2")
    monkeypatch.setenv("RESONANCE_CLICKHOUSE_CLUSTER", "")  # `RESONANCE_CLICKHOUSE_CLUSTER=`
    assert WarehouseSettings().clickhouse_cluster is None
    monkeypatch.setenv("RESONANCE_CLICKHOUSE_CLUSTER", "x') --")
    with pytest.raises(ValidationError, match="is not a cluster name"):
        WarehouseSettings()
    monkeypatch.delenv("RESONANCE_CLICKHOUSE_CLUSTER")
    monkeypatch.setenv("RESONANCE_SINK_FENCE_WAIT_S", "0")
    with pytest.raises(ValidationError, match="sink_fence_wait_s"):
        WarehouseSettings()
