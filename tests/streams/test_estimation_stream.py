"""CBPE in the worker (no broker): a calibrated model's predictions become per-window
``estimation`` partials equal to the engine over the same rows; others get none."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from processors.calibration import fit_calibration
from processors.cbpe import CBPE, calibration_descriptor
from streams.decode import decode
from streams.partials import latest_per_key
from streams.partition import BlockConfig, PartitionState
from streams.registry import ModelEntry, ModelRegistry, Target

T0 = 1_796_000_000_000 // 60_000 * 60_000  # a minute boundary (ms)
TENANCY = {"consortium": "steel", "member": "baowu", "site": "s", "hub": "h"}


@pytest.fixture(scope="module")
def cal():
    rng = np.random.default_rng(3)
    s = rng.random(5000)
    y = np.where(rng.random(5000) < s**2, "defect", "ok")
    return fit_calibration(s, y, ("ok", "defect"))


def batch(model: str, ts: np.ndarray, score: list, pred: list) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "kind": "prediction",
            "batch": True,
            **TENANCY,
            "model": model,
            "model_version": "1",
            "ts": ts.tolist(),
            "prediction_id": [f"{model}-{t}-{i}" for i, t in enumerate(ts.tolist())],
            "prediction": pred,
            "score": score,
            "latency_ms": [1.0] * len(pred),
        }
    )


def registry(cal) -> ModelRegistry:
    target = Target(kind="binary", classes=("ok", "defect"))
    reg = ModelRegistry()
    reg.apply(ModelEntry(consortium="steel", model="cal", version="1", target=target,
                         calibration=cal.to_dict()))  # fmt: skip
    reg.apply(ModelEntry(consortium="steel", model="plain", version="1", target=target))
    return reg


def test_calibrated_predictions_give_window_states_equal_to_the_engine(cal):
    rng = np.random.default_rng(4)
    state = PartitionState(0, BlockConfig(), registry(cal))
    rows = []  # (window, score, pred) actually sent
    for i in range(12):
        ts = T0 + np.sort(rng.integers(0, 3 * 60_000, 50))
        score = rng.random(50)
        pred = np.where(score >= 0.5, "defect", "ok")
        sent = [None if j % 10 == 0 else float(s) for j, s in enumerate(score)]  # unscored
        for model in ("cal", "plain"):
            r = decode(batch(model, ts, sent, pred.tolist()), now_ms=T0)
            assert r.rejections == [] and state.process("predictions", 2 * i, r) == []
        keep = np.array([s is not None for s in sent])
        rows += list(zip((ts - ts % 60_000)[keep], score[keep], pred[keep], strict=True))
    parts = [p for p in latest_per_key(state.partials(final=True)).values()]
    est = [p for p in parts if p.kind == "estimation"]
    assert {p.model for p in est} == {"cal"}
    assert {p.feature for p in est} == {calibration_descriptor(cal)}
    assert sorted(p.window_start for p in est) == [T0, T0 + 60_000, T0 + 120_000]
    for p in est:
        mine = [(s, y) for w, s, y in rows if w == p.window_start]
        want = CBPE(cal).update(np.array([y for _, y in mine]), np.array([s for s, _ in mine]))
        assert p.count == want.count == len(mine)
        got = CBPE.from_dict(p.state, calibration=cal)
        assert got.result() == want.result()


def test_a_calibration_whose_classes_differ_from_the_target_estimates_nothing(cal):
    target = Target(kind="binary", classes=("0", "1"))
    reg = ModelRegistry()
    reg.apply(ModelEntry(consortium="steel", model="cal", version="1", target=target,
                         calibration=cal.to_dict()))  # fmt: skip
    state = PartitionState(0, BlockConfig(), reg)
    ts = T0 + np.arange(5)
    r = decode(batch("cal", ts, [0.2] * 5, ["0"] * 5), now_ms=T0)
    assert state.process("predictions", 0, r) == []
    assert state.flush() == []
    assert not [p for p in state.partials(final=True) if p.kind == "estimation"]


def test_multiclass_rows_with_every_class_scored(cal):
    """The ``scores`` object of the wire format (``{class: [p, ...]}``, streams.decode);
    a row without scores is left out, a row missing a class is dead-lettered naming it."""
    rng = np.random.default_rng(6)
    classes = ("a", "b", "c")
    ref = rng.dirichlet([1, 1, 1], 3000)
    y = np.array([rng.choice(3, p=p) for p in ref])
    mcal = fit_calibration({c: ref[:, k] for k, c in enumerate(classes)},
                           np.array(classes)[y], classes)  # fmt: skip
    reg = ModelRegistry()
    reg.apply(ModelEntry(consortium="steel", model="mc", version="1",
                         target=Target(kind="multiclass", classes=classes),
                         calibration=mcal.to_dict()))  # fmt: skip
    state = PartitionState(0, BlockConfig(), reg)
    ts = T0 + np.arange(40)
    p = rng.dirichlet([2, 1, 1], 40)
    pred = np.array(classes)[p.argmax(axis=1)]
    scores = {c: [float(v) for v in p[:, k]] for k, c in enumerate(classes)}
    scores["c"][3] = None  # class c missing
    for c in classes:
        scores[c][7] = None  # no scores at all
    body = orjson.loads(batch("mc", ts, [None] * 40, pred.tolist())) | {"scores": scores}
    r = decode(orjson.dumps(body), now_ms=T0)
    assert [str(x) for x in state.process("predictions", 0, r)] == [
        "scores.c[3]: no probability for this class"
    ]
    (est,) = [q for q in state.partials(final=True) if q.kind == "estimation"]
    keep = np.ones(40, bool)
    keep[[3, 7]] = False
    want = CBPE(mcal).update(pred[keep], p[keep])
    assert est.count == 38
    assert CBPE.from_dict(est.state, calibration=mcal).result() == want.result()
