"""The four poison scenarios of issue 11 on the real broker: the worker stays up, the 100
good events before and after each bad message count exactly, and every bad message is in
the DLQ with its reason, in one bounded record.

1. lone surrogates (escaped in a tenancy value, raw ED A0 80 bytes, in a feature name);
2. large rejected messages (an ~800 KB batch with one NaN row; a message over 1 MiB);
3. a cross-tenant outcome whose prediction_id equals another tenant's prediction;
4. amplification (20,000 unknown features in one message; every row in its own minute).
"""

from __future__ import annotations

import orjson
import pytest
from confluent_kafka import Producer

from simulator import ListSink, Simulator
from streams.dlq import parse_dlq_record

from .conftest import past
from .counts import totals

pytestmark = pytest.mark.integration

MODELS = ("weld-defect", "strip-surface-defect")
TENANCY = ("consortium", "member", "model", "model_version", "site", "hub")
RECORD_MAX = 131_072  # the default dlq_max_record_bytes


def _single(template: dict, i: int, **over) -> dict:
    """Event i of a batch template as a single event."""
    out = {k: v for k, v in template.items() if k != "batch"}
    for k, v in template.items():
        if isinstance(v, list):
            out[k] = v[i % len(v)]
        elif isinstance(v, dict):
            out[k] = {f: col[i % len(col)] for f, col in v.items()}
    out.update(over)
    return out


def test_poison_messages_never_stop_the_worker(stack):
    sim = Simulator(seed=5, rate=2.0, batch_size=10, models=MODELS)
    sink = ListSink()
    sim.run(sink, start=past(40), duration=120, pace=False, flush_outcomes=True)
    stack.write_references(sim.models)
    first = {}
    for topic, _, value in sink.records:
        obj = orjson.loads(value)
        first.setdefault((topic, obj["model"]), obj)
    tele = first[("telemetry", "strip-surface-defect")]
    model = tele["model"]
    ts = int(past(30).timestamp() * 1000)
    good = [orjson.dumps(_single(tele, i, ts=ts + i)) for i in range(100)]
    features = list(tele["features"])
    numeric = next(f for f in features if isinstance(tele["features"][f][0], float))

    # (value, expected reason, accepted rows)
    site_escape = orjson.dumps(_single(tele, 0, ts=ts, site="__S__")).replace(
        b'"__S__"', b'"\\ud800"'
    )
    site_bytes = site_escape.replace(b'"\\ud800"', b'"\xed\xa0\x80"')
    name_escape = orjson.dumps(_single(tele, 0, ts=ts)).replace(
        f'"{numeric}"'.encode(), b'"\\ud800"', 1
    )
    n_big = 14_000
    big = {**tele, "ts": [ts] * n_big,
           "features": {f: [tele["features"][f][0]] * n_big for f in features}}  # fmt: skip
    big["features"][numeric][17] = "__NAN__"
    big_raw = orjson.dumps(big).replace(b'"__NAN__"', b"NaN")
    huge = orjson.dumps({**_single(tele, 0, ts=ts), "pad": "x" * 1_100_000})
    unknown = _single(tele, 0, ts=ts)
    unknown["features"] = {**unknown["features"], **{f"u{i:05d}": 1.0 for i in range(20_000)}}
    n_win = 4_000
    minutes = {**tele, "ts": [ts - 60_000 * i for i in range(n_win)],
               "features": {f: [tele["features"][f][0]] * n_win for f in features}}  # fmt: skip
    bad = [
        (site_escape, "invalid JSON", 0),
        (site_bytes, "invalid JSON", 0),
        (name_escape, "invalid JSON", 0),
        (big_raw, "non-finite", n_big - 1),
        (huge, "too large", 0),
        (orjson.dumps(unknown), "unknown feature", 1),
        (orjson.dumps(minutes), "too many windows in one message", 100),
    ]
    assert len(big_raw) > 750_000

    # scenario 3: an automotive outcome carrying a steel prediction's id, on its partition
    pred = first[("predictions", model)]
    other = first[("outcomes", "weld-defect")]
    steel_preds = [orjson.dumps(_single(pred, i, ts=ts + i, prediction_id=f"id-{i}"))
                   for i in range(200)]  # fmt: skip
    label = pred["prediction"][0]
    steel_outcomes = [
        orjson.dumps(_single(first[("outcomes", model)], 0, ts=ts + 1000 + i,
                             prediction_id=f"id-{i}", actual=label))
        for i in range(200)
    ]  # fmt: skip
    foreign = orjson.dumps(_single(other, 0, ts=ts + 500, prediction_id="id-50"))

    producer = Producer({"bootstrap.servers": stack.bootstrap, "message.max.bytes": 4_000_000,
                         "log_level": 0})  # fmt: skip
    key = model.encode()
    where: dict[int, tuple] = {}

    def produce(topic: str, value: bytes, i: int | None = None) -> None:
        def done(err, msg):
            assert err is None, err
            if i is not None:
                where[i] = (msg.topic(), msg.partition(), msg.offset())

        producer.produce(topic, value, key, on_delivery=done)

    for v in good:
        produce("telemetry", v)
    for i, (value, _, _) in enumerate(bad):
        produce("telemetry", value, i)
        for v in good:
            produce("telemetry", v)
    for v in steel_preds:
        produce("predictions", v)
    for i, v in enumerate(steel_outcomes):
        if i == 100:
            produce("outcomes", foreign)
        produce("outcomes", v)
    producer.flush(120)
    assert len(where) == len(bad)

    worker = stack.worker()
    n_good = 100 * (len(bad) + 1) + sum(rows for *_, rows in bad)
    want = {(model, "telemetry_samples"): n_good, (model, "predictions"): 200,
            (model, "outcomes_matched"): 200, (model, "accuracy_rows"): 200}  # fmt: skip
    want.update({(model, f"feature:{f}"): n_good for f in features})

    def counted(ps) -> dict:
        got = totals(ps)
        return {k: got.get(k, 0) for k in want}

    got = stack.partials(lambda ps: counted(ps) == want, what="good events", check=False)
    assert counted(got) == want
    assert totals(got).get(("weld-defect", "outcomes_matched"), 0) == 0  # never matched

    def records(values):
        return {(r.source["topic"], r.source["partition"], r.source["offset"]): (r, len(v))
                for v in values for r in [parse_dlq_record(v)]}  # fmt: skip

    dlq = records(stack.read("dlq", lambda vs: set(where.values()) <= records(vs).keys(),
                             what="a dlq record per bad message"))  # fmt: skip
    for i, (value, reason, _) in enumerate(bad):
        record, size = dlq[where[i]]
        assert reason in " | ".join(r["reason"] for r in record.rejections), (reason, record)
        assert size <= RECORD_MAX and record.raw_size == len(value)
        assert record.raw == value[: len(record.raw)]
    assert len([k for k in records(stack.read("dlq", lambda vs: True)) if k in where.values()])
    unknown_record = dlq[where[5]][0]
    assert unknown_record.rejections_omitted == 0 and len(unknown_record.rejections) == 11
    assert worker.alive
