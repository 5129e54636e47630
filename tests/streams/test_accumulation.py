"""Pure accumulation (no broker): blocks, windows, lateness, join, partials, de-duplication."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from simulator import ListSink, Simulator
from simulator.catalogue import MODELS_BY_NAME
from simulator.references import write_references
from streams.blocks import TopicBlock
from streams.decode import DecodeResult, decode
from streams.join import JoinState, Outcome, Prediction, join_scope
from streams.partials import Partial, latest_per_key, sum_partials
from streams.partition import BlockConfig, PartitionState
from streams.registry import ModelRegistry

from .counts import diff, expected_totals, totals

T = ("steel", "baowu", "m", "1", "site", "hub")
START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
NOW_MS = int(START.timestamp() * 1000) + 3 * 3600_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    sim = Simulator(seed=2, rate=2.0, batch_size=10, models=("weld-defect", "cracker-cot"))
    sink = ListSink()
    summary = sim.run(sink, start=START, duration=900, pace=False, flush_outcomes=True)
    d = tmp_path_factory.mktemp("refs")
    write_references(sim.models, d / "references", 0, n=2000)
    return sink.records, summary, ModelRegistry.load(d)


def feed(state: PartitionState, records, offsets: Counter | None = None) -> list:
    offsets = Counter() if offsets is None else offsets
    rejects = []
    for topic, _, value in records:
        r = decode(value, now_ms=NOW_MS)
        rejects += r.rejections + state.process(topic, offsets[topic], r)
        offsets[topic] += 1
    return rejects


def test_partition_state_counts_exactly(run):
    records, summary, registry = run
    state = PartitionState(0, BlockConfig(), registry)
    assert feed(state, records) == []
    got = totals({p.key: p for p in state.partials(final=True)})
    assert diff(got, expected_totals(summary)) == {}


def test_blocks_split_anywhere_sum_to_the_same_totals(run):
    records, summary, registry = run
    state = PartitionState(0, BlockConfig(), registry)
    offsets: Counter = Counter()
    emitted = []
    for chunk in np.array_split(np.arange(len(records)), 7):
        feed(state, [records[i] for i in chunk], offsets)
        emitted += state.partials(final=False)  # cumulative, superseded by the final
        emitted += state.partials(final=True)
        state.reset()
    assert diff(totals(latest_per_key(emitted)), expected_totals(summary)) == {}


def test_replaying_a_block_gives_the_same_keys_and_states(run):
    records, _, registry = run

    def final():
        state = PartitionState(0, BlockConfig(lateness_ms=0), registry)
        feed(state, records[:200])
        return {p.key: (p.state, p.version) for p in state.partials(final=True)}

    assert final() == final()


def test_unknown_model_and_wrong_topic_are_rejected(run):
    """Strict mode (RESONANCE_UNKNOWN_MODELS=reject); the default is tests/streams/
    test_registry_state.py."""
    records, _, registry = run
    topic, _, value = next(r for r in records if r[0] == "telemetry")
    msg = orjson.loads(value)
    state = PartitionState(0, BlockConfig(unknown_models="reject"), registry)
    unknown = decode(orjson.dumps({**msg, "model": "nope"}), now_ms=NOW_MS)
    assert [r.reason for r in state.process("telemetry", 0, unknown)] == ["unknown model"]
    wrong = decode(value, now_ms=NOW_MS)
    assert "does not belong" in state.process("energy", 0, wrong)[0].reason
    assert state.blocks["telemetry"].last_offset == 0  # the offset still advances


def test_late_rows_are_flagged_but_still_counted():
    blk = TopicBlock("telemetry", 0, block_start=0, window_ms=60_000, lateness_ms=30_000)
    w, late = blk.windows(np.array([120_000, 125_000]))
    assert late.tolist() == [False, False]
    # watermark = 125 s - 30 s = 95 s: window [0, 60 s) is closed, [60 s, 120 s) is not
    w, late = blk.windows(np.array([10_000, 70_000]))
    assert w.tolist() == [0, 60_000] and late.tolist() == [True, False]
    blk.add_volume(T, w, late, "telemetry_samples")
    blk.flush()
    flags = {(p.window_start, p.late) for p in blk.partials(final=True, version=1)}
    assert flags == {(0, True), (60_000, False)}


def key(tenancy, pid: str):
    return (join_scope(tenancy), pid)


def test_join_is_bounded_and_counts_what_it_drops():
    j = JoinState(horizon_ms=1000, max_predictions=2, max_pending=1)
    for i in range(3):
        j.add_prediction(key(T, f"p{i}"), Prediction(0, T, "ok", 0.1, i))
    j.expire()
    assert j.add_outcome(key(T, "p0"), Outcome("p0", "ok", 5, T)) is None  # max_predictions
    assert [o.prediction_id for o in j.expire()] == []  # p0's outcome now waits (max_pending 1)
    assert j.add_outcome(key(T, "b"), Outcome("b", "ok", 11, T)) is None
    assert [o.prediction_id for o in j.expire()] == ["p0"]  # max_pending: the oldest goes
    j.add_prediction(key(T, "p9"), Prediction(0, T, "ok", 0.1, 2000))  # clock 2000
    assert [o.prediction_id for o in j.expire()] == ["b"]  # the horizon passed "b" (ts 11)
    # p1, p2 (ts 1, 2) fell out of the horizon: their outcomes wait instead of matching
    assert j.add_outcome(key(T, "p1"), Outcome("p1", "ok", 2001, T)) is None
    assert j.add_outcome(key(T, "p9"), Outcome("p9", "ok", 2002, T)).ts == 2000
    assert j.stats.predictions_evicted == 3 and j.stats.expired == 2


def test_join_pairs_repeated_ids_first_with_first_in_any_interleaving():
    """Per key, the i-th prediction meets the i-th outcome, whichever side comes first;
    a tenant's label never meets another tenant's prediction with the same id."""
    other = ("automotive", *T[1:])
    preds = [(T, Prediction(w, T, f"y{w}", 0.5, w)) for w in range(3)]
    preds.append((other, Prediction(9, other, "z", 0.5, 9)))
    outcomes = [(t, Outcome("x", f"a{k}", 100 + k, t)) for k, t in enumerate([T, other, T])]
    events = [("p", item) for item in preds] + [("o", item) for item in outcomes]
    seen = set()
    for seed in range(30):
        rng = np.random.default_rng(seed)
        order = sorted(range(len(events)), key=lambda i: (rng.random(), i))
        p_iter = iter([e for e in events if e[0] == "p"])  # each side stays in offset order
        o_iter = iter([e for e in events if e[0] == "o"])
        j, pairs = JoinState(), []
        for i in order:
            side, (tenancy, item) = next(p_iter if events[i][0] == "p" else o_iter)
            if side == "p":
                found = j.add_prediction(key(tenancy, "x"), item)
                pairs += [] if found is None else [(item.prediction, found.actual)]
            else:
                found = j.add_outcome(key(tenancy, "x"), item)
                pairs += [] if found is None else [(found.prediction, item.actual)]
        seen.add(tuple(sorted(pairs)))
        assert j.n_pending == 0 and len(j.predictions) == 1  # y2 waits for a third label
    assert seen == {(("y0", "a0"), ("y1", "a2"), ("z", "a1"))}


def partial(version: int, final: bool = False, emitted_at: int = 0, n: int = 1) -> Partial:
    return Partial(kind="volume", consortium="c", member="m", model="x", model_version="1",
                   site="s", hub="h", feature="", window_start=0, window_end=60_000, late=False,
                   source_topic="telemetry", source_partition=0, block_start=0,
                   last_offset=version, final=final, count=n, emitted_at=emitted_at,
                   state={"telemetry_samples": n})  # fmt: skip


def test_latest_per_key_prefers_version_then_final_then_latest_emission():
    a, b, c = partial(5, n=1), partial(9, n=2), partial(9, final=True, n=3)
    assert latest_per_key([b, c, a])[a.key].count == 3
    assert (
        latest_per_key([partial(9, emitted_at=2, n=7), partial(9, emitted_at=1)])[a.key].count == 7
    )


def test_partial_round_trip_and_sum():
    p = partial(3, n=4)
    q = Partial.decode(p.encode())
    assert q == p and q.key == p.key and orjson.loads(p.encode())["version"] == 3
    other = p.replace(block_start=4, last_offset=8)
    assert other.key != p.key
    (group,) = sum_partials([p, other, p.replace(last_offset=1)]).values()
    assert group["count"] == 8 and group["state"] == {"telemetry_samples": 8}


def test_import_path_takes_targets_from_models_json(tmp_path):
    """Local files are an import path (live changes come from the ``models`` topic)."""
    model = MODELS_BY_NAME["compressor-fault"]
    target = {"kind": "binary", "classes": ["fault", "normal"]}
    rows = {"models": [{**model.tenancy, "target": target}]}
    (tmp_path / "models.json").write_text(orjson.dumps(rows).decode())
    assert len(ModelRegistry.load(tmp_path)) == 0
    write_references([model], tmp_path / "references", 0, n=500)
    info = ModelRegistry.load(tmp_path).get(model.consortium, model.name, model.version)
    assert info is not None and info.target.classes == ("fault", "normal")
    assert info.provenance["source"] == "registered"


def test_block_finalises_when_full_idle_or_old(run):
    records, _, registry = run
    state = PartitionState(0, BlockConfig(block_messages=3, block_max_age_s=300), registry)
    feed(state, records[:2])
    t = state.opened_at
    assert not state.finalisable(idle_s=1000, now=t + 1)
    assert state.finalisable(idle_s=1000, now=t + 301)  # old
    assert state.finalisable(idle_s=5, now=state.last_message_at + 6)  # idle
    feed(state, records[2:3], Counter({"telemetry": 2, "predictions": 2}))
    assert state.finalisable(idle_s=1000, now=t + 1)  # full
    state.floors = {"energy": 10**9}  # recovery floor not reached yet (a topic with no block)
    assert not state.finalisable(idle_s=5, now=state.last_message_at + 6)
    idle = state.last_message_at + 16
    assert not state.finalisable(idle_s=5, now=idle)  # records below the floor still to come
    assert not state.finalisable(idle_s=5, now=idle, fetched={"energy": 10**9 - 1})
    assert state.finalisable(idle_s=5, now=idle, fetched={"energy": 10**9})  # markers: waived
    assert not state.finalisable(idle_s=5, now=state.last_message_at + 14,
                                 fetched={"energy": 10**9})  # fmt: skip


def test_a_match_only_group_keeps_its_credits(run):
    """A group whose only outcomes-side content is a match (no outcome message read) and
    the next group, which starts at the same outcomes offset, have different keys."""
    _, _, registry = run
    model = MODELS_BY_NAME["weld-defect"]
    ts = int(START.timestamp() * 1000)

    def event(kind: str, pid: str, **fields) -> DecodeResult:
        body = {"schema_version": 1, "kind": kind, **model.tenancy, "ts": ts,
                "prediction_id": pid, **fields}  # fmt: skip
        return decode(orjson.dumps(body), now_ms=NOW_MS)

    pred = {"prediction": "ok", "score": 0.1, "latency_ms": 5.0}
    state = PartitionState(0, BlockConfig(), registry)
    emitted = []
    groups = [
        [("outcomes", 0, event("outcome", "a", actual="ok"))],  # waits for its prediction
        [("predictions", 0, event("prediction", "b", **pred)),  # waits for its outcome
         ("predictions", 1, event("prediction", "a", **pred))],  # match: outcomes block at 1
        [("outcomes", 1, event("outcome", "b", actual="defect"))],  # match: outcomes at 1 too
    ]  # fmt: skip
    for group in groups:
        for topic, offset, result in group:
            state.process(topic, offset, result)
        emitted += state.partials(final=True)
        state.reset()
    matched = [p for p in emitted if p.kind == "volume" and p.state["outcomes_matched"]]
    assert [p.block_start for p in matched] == [1, 1] and matched[0].key != matched[1].key
    latest = latest_per_key(emitted).values()
    credited = sum(p.state["outcomes_matched"] for p in latest if p.kind == "volume")
    assert credited == 2, f"{credited} matches credited after de-duplication"
