"""Runs of single events (pure, no broker): the worker accounts consecutive single
telemetry events of one tenancy as one table (``PartitionState.process_singles``); every
statistic, counter, rejection and DLQ record must be what one message at a time gives."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import orjson
import pytest
from faust.types import TP

import streams.app as app_module
from streams.app import StreamProcessor
from streams.blocks import RunSources, TopicBlock
from streams.settings import StreamSettings
from streams.topics import input_topics
from tests.streams.conftest import COIL_FEATURES as FEATURES

TENANCY = {"consortium": "steel", "member": "baowu", "model": "coil", "model_version": "2",
           "site": "s1", "hub": "Guizhou"}  # fmt: skip


def single(ts: int, features: dict, **tenancy) -> bytes:
    body = {"schema_version": 1, "kind": "telemetry", **TENANCY, **tenancy, "ts": ts,
            "features": features}  # fmt: skip
    return orjson.dumps(body)


def messages(seed: int, n: int) -> list[bytes]:
    """Single events, mostly runs of one tenancy, with every way out of a run mixed in."""
    rng = np.random.default_rng(seed)
    now = int(time.time() * 1000)
    out = []
    for _ in range(n):
        ts = now - int(rng.integers(0, 900_000))  # 15 minutes: late rows, many windows
        feats = {f: round(float(rng.normal(10, 2)), 3) for f in FEATURES}
        u = rng.random()
        if u < 0.04:
            out.append(single(ts, {**feats, "f1": "a string"}))  # an object column
        elif u < 0.07:
            out.append(single(ts, {**feats, "extra": 1.0}))  # an unknown feature
        elif u < 0.10:
            out.append(single(ts, dict(reversed(list(feats.items())))))  # another order
        elif u < 0.13:
            out.append(single(ts, feats, site="s2"))  # another series (bound: 1)
        elif u < 0.15:
            out.append(single(ts, feats, model="unknown"))  # no reference
        elif u < 0.17:
            out.append(b'{"not": "an event"}')
        elif u < 0.19:
            out.append(single(ts, {**feats, "f2": None}))
        else:
            out.append(single(ts, feats))
    return out


def worker(coil_registry, runs: bool, monkeypatch, **settings):
    """A StreamProcessor without Faust: only its message path is used here."""
    if not runs:
        monkeypatch.setattr(app_module, "_run_key", lambda tp, r: None)
    s = StreamSettings(**settings)
    processor = StreamProcessor(SimpleNamespace(), s, coil_registry)
    tp = TP(input_topics(None)["telemetry"], 0)
    return processor, tp


def account(coil_registry, values, runs: bool, monkeypatch, **settings):
    processor, tp = worker(coil_registry, runs, monkeypatch, **settings)
    from streams.partition import PartitionState

    state = PartitionState(0, processor.cfg, coil_registry)
    emitted: dict = {}
    rejected: dict = {}
    for lo in range(0, len(values), 37):  # batches, as fetched
        batch = [(tp, SimpleNamespace(offset=lo + i, value=v))
                 for i, v in enumerate(values[lo : lo + 37])]  # fmt: skip
        processor._rejected = {}
        processor._process_all(state, batch)
        assert state.flush() == []
        rejected.update({k: [str(x) for x in v[1]] for k, v in processor._rejected.items()})
        emitted.update({p.key: p for p in state.partials(final=False)})
    blk = state.blocks["telemetry"]
    return {
        "partials": {k: (p.state, p.count, p.version) for k, p in emitted.items()},
        "counters": processor.counters,
        "rejected": rejected,
        "limited": state.limited,
        "block": (blk.messages, blk.last_offset, blk.max_ts, sorted(blk.window_starts)),
        "next": state.next_offset,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runs_account_exactly_as_one_message_at_a_time(coil_registry, monkeypatch, seed):
    values = messages(seed, 600)
    bounds = {"max_windows_per_block": 9, "max_series_per_model": 1}
    with monkeypatch.context() as m:
        want = account(coil_registry, values, False, m, **bounds)
    got = account(coil_registry, values, True, monkeypatch, **bounds)
    assert got == want
    assert want["limited"]["windows"] > 0 and want["limited"]["series_per_model"] > 0
    assert want["counters"]["messages"] == 600


def test_a_run_is_one_table_chunk(coil_registry, monkeypatch):
    """The point of runs: one buffered chunk for a fetch of clean single events."""
    processor, tp = worker(coil_registry, True, monkeypatch)
    from streams.partition import PartitionState

    state = PartitionState(0, processor.cfg, coil_registry)
    now = int(time.time() * 1000)
    batch = [(tp, SimpleNamespace(offset=i, value=single(now - i, {f: 1.0 for f in FEATURES})))
             for i in range(50)]  # fmt: skip
    processor._process_all(state, batch)
    (table,) = state.blocks["telemetry"].tables.values()
    assert len(table.windows) == 1 and isinstance(table.sources[0], RunSources)
    assert processor.counters["messages"] == 50 and processor.counters["samples"] == 50


class Picky:
    """An engine that refuses any update holding the value 13."""

    count = 0

    def update(self, values):
        if (values == 13).any():
            raise ValueError("13")
        self.count += values.size


def test_a_refused_row_of_a_run_names_only_its_own_message():
    blk = TopicBlock("telemetry", 0, block_start=0, window_ms=60_000)
    t = ("c", "m", "x", "1", "s", "h")
    specs = (("drift_numeric", "f", Picky),)
    values = np.array([1.0, 13.0, 2.0, 13.0, 3.0])
    sources = RunSources("telemetry", list(range(5)))
    blk.add_table(t, specs, np.zeros(5, np.int64), np.zeros(5, bool), {"f": values}, sources)
    blk.cursor[0] = ("telemetry", 5)
    blk.add_table(t, specs, np.zeros(1, np.int64), np.zeros(1, bool), {"f": np.array([4.0])})
    failed = blk.flush()
    assert failed == [(("telemetry", 1), "ValueError: 13"), (("telemetry", 3), "ValueError: 13")]
    engine = blk.stats[("drift_numeric", t, "f", 0, False)].engine
    assert engine.count == 4  # offsets 0, 2, 4 and 5
