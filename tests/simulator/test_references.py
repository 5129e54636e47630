"""Reference profiles: written per model, fit on the undrifted distribution, detect the drift."""

from __future__ import annotations

import numpy as np
import pytest

from processors import drift, reference
from processors.policy import feature_results
from processors.policy_config import RuleSet
from simulator import Simulator, load_scenario
from simulator.catalogue import MODELS, MODELS_BY_NAME
from simulator.references import reference_path, write_references
from tests.simulator.conftest import START


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    out = tmp_path_factory.mktemp("refs")
    paths = write_references(list(MODELS), out, seed=0, n=5000)
    return out, paths


def test_one_file_per_model(profiles):
    out, paths = profiles
    assert len(paths) == len(MODELS)
    for m in MODELS:
        path = reference_path(out, m)
        assert path == out / m.consortium / f"{m.name}-{m.version}.json"
        prof = reference.ReferenceProfile.from_json(path.read_text())
        assert prof.model == m.name and prof.version == m.version
        assert set(prof.features) == {f.name for f in m.features}
        for name in m.categorical:
            assert prof.features[name].kind == "categorical"


def test_reference_matches_the_training_distribution(profiles):
    out, _ = profiles
    m = MODELS_BY_NAME["strip-surface-defect"]
    prof = reference.ReferenceProfile.from_json(reference_path(out, m).read_text())
    temp = prof.features["strip_temp_c"]
    assert temp.mean == pytest.approx(910.0, abs=1.0)
    assert temp.std == pytest.approx(12.0, rel=0.05)


def test_drift_engine_flags_the_injected_feature_only(profiles):
    out, _ = profiles
    start_ms = int(START.timestamp() * 1000)
    sim = Simulator(3, load_scenario("default"), 5.0)
    verdicts = {}
    for name in ("strip-surface-defect", "bof-endpoint-temp"):
        m = MODELS_BY_NAME[name]
        prof = reference.ReferenceProfile.from_json(reference_path(out, m).read_text())
        gen = sim.generator(m, start_ms, 3600.0)
        blk = gen.block(0, gen.n_samples)
        late = blk.t >= 0.5 * 3600
        engines = {}
        for f in m.features:
            values = blk.features[f.name][late]
            values = values.astype(str) if f.name in m.categorical else values
            engines[f.name] = drift.drift_engine(prof.features[f.name]).update(values)
        for r in feature_results(engines, RuleSet()):  # the policy's verdict
            verdicts[(name, r.feature)] = bool(r.drift)
    drifted = {k for k, v in verdicts.items() if v}
    assert drifted == {("strip-surface-defect", "strip_temp_c")}
    assert np.mean(list(verdicts.values())) < 0.2


def test_classifiers_are_registered_with_a_calibration_that_estimates_their_accuracy():
    """The demo's entries carry a calibration for every classifier; on fresh undrifted
    rows the CBPE estimate holds the realised accuracy within its band."""
    from processors.calibration import Calibration
    from processors.cbpe import CBPE
    from simulator import truth
    from simulator.generator import ModelGenerator, rng_for
    from simulator.references import entries

    models = list(MODELS)
    found = {e.model: e.calibration for e in entries(models, seed=0, n=2000)}
    classifiers = [m for m in models if m.target.kind != "regressor"]
    assert classifiers and {m for m, c in found.items() if c} == {m.name for m in classifiers}
    for m in classifiers:
        cal = Calibration.from_dict(found[m.name])
        assert cal.classes == tuple(m.target.classes) and cal.ece < 0.05
        cols = ModelGenerator(m, seed=9, rate=1.0, start_ms=0, duration_s=0.0).reference_sample(
            4000
        )
        pred, score = truth.predict(m, cols)
        actual = truth.actual(m, cols, rng_for(9, m.name, "labels"))
        r = CBPE(cal).update(pred, score).result()
        lo, hi = r["estimated_accuracy_band"]
        assert r["reliable"] and lo <= float(np.mean(pred == actual)) <= hi
