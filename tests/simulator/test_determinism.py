"""Same seed, same bytes; another seed, other data; batch size does not change the samples."""

from __future__ import annotations

from tests.simulator.conftest import rows, run


def test_same_seed_identical_bytes():
    a, _ = run(seed=5, duration=600)
    b, _ = run(seed=5, duration=600)
    assert a.records == b.records
    assert len(a.records) > 100


def test_different_seed_differs():
    a, _ = run(seed=5, duration=600)
    b, _ = run(seed=6, duration=600)
    assert a.values("telemetry") != b.values("telemetry")


def test_batch_size_does_not_change_samples():
    batched, _ = run(seed=3, duration=300, batch_size=50, models=("weld-defect",))
    single, _ = run(seed=3, duration=300, batch_size=1, models=("weld-defect",))
    strip = ("batch",)
    for topic in ("telemetry", "predictions"):
        a = [{k: v for k, v in r.items() if k not in strip} for r in rows(batched, topic)]
        b = [{k: v for k, v in r.items() if k not in strip} for r in rows(single, topic)]
        assert a == b


def test_model_selection_does_not_change_a_models_samples():
    alone, _ = run(seed=2, duration=300, models=("cracker-cot",))
    together, _ = run(seed=2, duration=300, models=("cracker-cot", "panel-mura"))
    assert rows(alone, "telemetry") == rows(together, "telemetry", "cracker-cot")
