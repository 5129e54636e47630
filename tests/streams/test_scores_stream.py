"""The prediction ``scores`` object in the worker (no broker): multiclass CBPE window states
equal the engine on the rows sent, binary ``scores`` stand in for ``score``, and rows
naming a class the model lacks are dead-lettered naming ``scores.<class>``."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from processors.calibration import fit_calibration
from processors.cbpe import CBPE
from streams.decode import decode
from streams.partials import latest_per_key
from streams.partition import BlockConfig, PartitionState
from streams.registry import ModelEntry, ModelRegistry, Target
from streams.scores import R_INCOMPLETE, R_UNKNOWN_CLASS

T0 = 1_796_000_000_000 // 60_000 * 60_000
TENANCY = {"consortium": "steel", "member": "baowu", "site": "s", "hub": "h"}
CLASSES = ("none", "scratch", "scale")


@pytest.fixture(scope="module")
def cal():
    rng = np.random.default_rng(5)
    p = rng.dirichlet([1, 1, 1], 6000)
    y = [rng.choice(CLASSES, p=row) for row in p]
    return fit_calibration(p, y, CLASSES)


def message(model: str, ts: list[int], pred: list, **fields: object) -> bytes:
    ids = [f"{model}-{i}" for i in range(len(ts))]
    body = {"schema_version": 1, "kind": "prediction", "batch": True, **TENANCY, "model": model,
            "model_version": "1", "ts": ts, "prediction_id": ids, "prediction": pred,
            "latency_ms": [1.0] * len(ts), **fields}  # fmt: skip
    return orjson.dumps(body)


def state_for(cal) -> PartitionState:
    reg = ModelRegistry()
    target = Target(kind="multiclass", classes=CLASSES)
    reg.apply(ModelEntry(consortium="steel", model="m", version="1", target=target,
                         calibration=cal.to_dict()))  # fmt: skip
    return PartitionState(0, BlockConfig(), reg)


def estimation(state: PartitionState) -> dict[int, dict]:
    parts = latest_per_key(state.partials(final=True)).values()
    return {p.window_start: p.state for p in parts if p.kind == "estimation"}


def test_multiclass_scores_become_window_states_equal_to_the_engine(cal):
    rng = np.random.default_rng(6)
    state = state_for(cal)
    sent = []
    for offset in range(6):
        ts = (T0 + np.sort(rng.integers(0, 2 * 60_000, 40))).tolist()
        p = rng.dirichlet([1, 1, 1], 40)
        pred = [CLASSES[k] for k in p.argmax(axis=1)]
        given = {c: [float(v) for v in p[:, k]] for k, c in enumerate(CLASSES)}
        for c in CLASSES:
            given[c][0] = None  # an unscored row: kept, not estimated
        r = decode(message("m", ts, pred, scores=given), now_ms=T0)
        assert r.rejections == [] and state.process("predictions", offset, r) == []
        sent += [(t - t % 60_000, p[i], pred[i]) for i, t in enumerate(ts) if i]
    got = estimation(state)
    assert sorted(got) == [T0, T0 + 60_000]
    for window, stored in got.items():
        rows = [(p, y) for w, p, y in sent if w == window]
        want = CBPE(cal).update(np.array([y for _, y in rows]), np.array([p for p, _ in rows]))
        assert CBPE.from_dict(stored, calibration=cal).result() == want.result()
        assert sum(stored["n_pred"]) == len(rows)


def test_rows_with_unknown_or_missing_classes_are_rejected(cal):
    state = state_for(cal)
    scores = {"none": [0.2, 0.1, 0.5], "scratch": [0.3, 0.1, 0.5], "scale": [0.5, None, 0.0],
              "rust": [None, None, 0.0]}  # fmt: skip
    r = decode(
        message("m", [T0, T0 + 1, T0 + 2], ["scale", "none", "none"], scores=scores), now_ms=T0
    )
    rejects = sorted(map(str, state.process("predictions", 0, r)))
    assert rejects == sorted([
        f"scores.rust[2]: {R_UNKNOWN_CLASS} {list(CLASSES)}",
        f"scores.scale[1]: {R_INCOMPLETE}",
    ])  # fmt: skip
    (stored,) = estimation(state).values()
    assert stored["n_pred"] == [0, 0, 1]  # only row 0 counted


def test_binary_scores_stand_in_for_score():
    rng = np.random.default_rng(8)
    s = rng.random(4000)
    bcal = fit_calibration(s, np.where(rng.random(4000) < s, "defect", "ok"), ("ok", "defect"))
    reg = ModelRegistry()
    reg.apply(ModelEntry(consortium="steel", model="b", version="1",
                         target=Target(kind="binary", classes=("ok", "defect")),
                         calibration=bcal.to_dict()))  # fmt: skip
    state = PartitionState(0, BlockConfig(), reg)
    ok = [0.9, 0.4, 0.2]
    r = decode(message("b", [T0] * 3, ["ok", "defect", "defect"], scores={"ok": ok}), now_ms=T0)
    assert state.process("predictions", 0, r) == []
    (stored,) = estimation(state).values()
    want = CBPE(bcal).update(np.array(["ok", "defect", "defect"]), 1 - np.array(ok))
    assert CBPE.from_dict(stored, calibration=bcal).result() == want.result()
