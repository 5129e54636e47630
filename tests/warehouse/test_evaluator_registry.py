"""The evaluator reads the registry mirror (table ``models``): a model registered with
feature importances gets an importance-weighted model verdict, the same stream without
them does not; ``resonance policy show`` names where each value came from (real chDB)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from processors.alert_lifecycle import iso
from resonance.cli import main
from streams.registry import ModelEntry, Target
from tests.warehouse.test_evaluator import MODELS, T0, profile, window_partials  # noqa: F401
from warehouse.backend import ChdbBackend
from warehouse.evaluator import Evaluator
from warehouse.migrate import migrate
from warehouse.references import store_reference
from warehouse.registry import store_entries
from warehouse.sink import PartialWriter

pytestmark = pytest.mark.integration

ENTRY = ModelEntry(consortium="steel", model="m-drift", version="1",
                   target=Target(kind="binary", classes=("ok", "bad")),
                   baselines={"accuracy": 0.93}, importances={"x": 0.8, "y": 0.1, "g": 0.1},
                   slo_p95_ms=45.0, updated_at=1)  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, profile, helpers):  # noqa: F811
    d = tmp_path_factory.mktemp("eval-registry")
    backend = ChdbBackend(d)
    migrate(backend, minute_ttl_days=0, log=lambda _m: None)
    for model in MODELS:
        store_reference(backend, "steel", replace(profile, model=model))
    store_entries(backend, [ENTRY])
    writer = PartialWriter(backend, retention_days=0)
    ev = Evaluator(backend, window_s=60, lateness_s=60, clock=lambda: T0 + 10_000)
    transitions = []
    for w in range(14):
        writer.write([p for m in MODELS for p in window_partials(profile, m, w, helpers)])
        transitions += ev.run()
    verdicts = backend.query(
        "SELECT model, toUnixTimestamp(window_start) AS t, drift_share FROM verdicts FINAL"
        " WHERE toUnixTimestamp(window_start) = {t:Int64} ORDER BY model",
        {"t": T0 + 600},
    ).to_pylist()
    backend.close()
    return d, transitions, verdicts


def test_importances_from_the_registry_weight_the_model_verdict(data_dir):
    _, transitions, verdicts = data_dir
    start = iso((T0 + 600) * 1000)
    fired = [(t["model"], t["rule"], t["transition"], t["started_at"]) for t in transitions]
    # x (importance 0.8) drifts from window 10: model_drift fires for the registered model
    # (share 0.8 >= 0.8: critical), and the index (data fit 0.2, the only component
    # known) falls below the floor for 2 windows; feature_drift as before; controls silent
    assert fired == [
        ("m-drift", "feature_drift", "firing", start),
        ("m-drift", "model_drift", "firing", start),
        ("m-drift", "resonance_floor", "firing", start),
    ]
    assert next(t for t in transitions if t["rule"] == "model_drift")["severity"] == "critical"
    assert [(v["model"], v["drift_share"]) for v in verdicts] == [
        ("m-ctl-1", 0.0), ("m-ctl-2", 0.0), ("m-drift", pytest.approx(0.8))]  # fmt: skip


def test_policy_show_names_the_registry(data_dir, tmp_path, capsys):
    d = str(data_dir[0])
    pol = tmp_path / "p.yaml"
    pol.write_text("consortia:\n  steel:\n    latency_p95: {slo_ms: 300}\n"
                   "    models:\n      m-drift: {accuracy_drop: {baseline: 0.9}}\n")  # fmt: skip
    assert main(["policy", "show", "--consortium", "steel", "--model", "m-drift",
                 "--policy", str(pol), "--data-dir", d]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    assert shown["registry"] == {"model_version": "1"}
    assert (shown["latency_p95"]["slo_ms"], shown["sources"]["latency_p95.slo_ms"]) == (
        45.0, "registry:1")  # fmt: skip
    assert (shown["accuracy_drop"]["baseline"], shown["sources"]["accuracy_drop.baseline"]) == (
        0.9, "policy:consortia.steel.models.m-drift")  # fmt: skip
    assert shown["model_drift"]["importance"] == {"x": 0.8, "y": 0.1, "g": 0.1}
    assert shown["sources"]["feature_drift.alpha"] == "default"
    # a model without an entry: the file's values only
    assert main(["policy", "show", "--consortium", "steel", "--model", "m-ctl-1",
                 "--policy", str(pol), "--data-dir", d]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    assert shown["registry"] is None
    assert shown["sources"]["latency_p95.slo_ms"] == "policy:consortia.steel"
