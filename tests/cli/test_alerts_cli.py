"""`resonance alerts` and `resonance policy`: exact JSON keys, acks and silences stored,
bad input one line and exit 2 (in-process, on a real chDB directory)."""

from __future__ import annotations

import json

import pytest

from resonance.cli import main
from tests.cli.conftest import fails
from warehouse.alert_store import store_transitions
from warehouse.backend import ChdbBackend
from warehouse.migrate import migrate

FIRING = {
    "schema": "resonance.alert/1", "id": "0123456789abcdef0123", "transition": "firing",
    "state": "firing", "consortium": "steel", "model": "strip", "model_version": "3",
    "rule": "feature_drift", "severity": "warn", "started_at": "2026-01-01T00:00:00Z",
    "resolved_at": None, "window_start": "2026-01-01T00:01:00Z",
    "emitted_at": "2026-01-01T00:03:00Z", "value": 1.0, "threshold": 1.0,
    "features": [{"feature": "temp", "kind": "numeric", "statistic": "wasserstein",
                  "value": 0.41, "p_value": 1e-9, "n": 300}],
    "policy_version": "1", "seq": 0,
}  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("alerts-cli")
    backend = ChdbBackend(d)
    migrate(backend, minute_ttl_days=0, log=lambda _m: None)
    store_transitions(backend, [FIRING])
    backend.close()
    return str(d)


def test_list_json_keys_ack_and_silence(data_dir, capsys):
    assert main(["alerts", "ack", FIRING["id"], "--by", "ana", "--note", "on it",
                 "--data-dir", data_dir]) == 0  # fmt: skip
    assert main(["alerts", "silence", "--consortium", "steel", "--model", "strip", "--for", "4h",
                 "--by", "bo", "--data-dir", data_dir]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["alerts", "list", "--format", "json", "--data-dir", data_dir]) == 0
    (alert,) = json.loads(capsys.readouterr().out)
    assert list(alert) == ["id", "consortium", "model", "model_version", "rule", "severity",
                           "state", "started_at", "resolved_at", "features", "acked_by",
                           "acked_at", "silenced"]  # fmt: skip
    assert {k: alert[k] for k in ("id", "state", "started_at", "resolved_at", "features",
                                  "acked_by", "silenced")} == {
        "id": FIRING["id"], "state": "firing", "started_at": "2026-01-01T00:00:00Z",
        "resolved_at": None, "features": ["temp"], "acked_by": "ana", "silenced": True,
    }  # fmt: skip
    assert alert["acked_at"].endswith("Z")
    assert main(["alerts", "list", "--state", "resolved", "--format", "json",
                 "--data-dir", data_dir]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == []
    assert main(["alerts", "show", FIRING["id"], "--data-dir", data_dir]) == 0
    out = capsys.readouterr().out
    assert "feature_drift on steel/strip" in out and "temp (numeric): wasserstein 0.41" in out
    assert "ack by ana: on it" in out


def test_bad_input_is_one_line_exit_2(data_dir, tmp_path, capsys):
    fails(capsys, ["alerts", "show", "nope", "--data-dir", data_dir], "alert 'nope'")
    fails(capsys, ["alerts", "ack", "nope", "--by", "x", "--data-dir", data_dir], "no such alert")
    fails(capsys, ["alerts", "list", "--data-dir", str(tmp_path / "missing")], "--data-dir")
    (tmp_path / "empty").mkdir()
    fails(capsys, ["alerts", "list", "--data-dir", str(tmp_path / "empty")], "no warehouse")
    fails(capsys, ["alerts", "silence", "--consortium", "s", "--for", "soon", "--by", "x",
                   "--data-dir", data_dir], "--for")  # fmt: skip
    bad = tmp_path / "policy.yaml"
    bad.write_text("defaults:\n  staleness:\n    warn: -1\n")
    fails(capsys, ["policy", "show", "--policy", str(bad)], "defaults.staleness.warn")
    bad.write_text("defaults:\n  latency_p95:\n    slo: 200\n")
    fails(capsys, ["policy", "show", "--policy", str(bad)], "defaults.latency_p95.slo: Extra")


def test_policy_show_merges_overrides(tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text("version: v2\nconsortia:\n  steel:\n    latency_p95: {slo_ms: 250}\n"
                 "    models:\n      strip: {feature_drift: {for: 3}}\n")  # fmt: skip
    assert main(["policy", "show", "--policy", str(f), "--consortium", "steel",
                 "--model", "strip"]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["latency_p95"]["slo_ms"], shown["feature_drift"]["for"]) == (
        "v2", 250.0, 3)  # fmt: skip
    assert main(["policy", "show", "--policy", str(f), "--consortium", "auto"]) == 0
    assert json.loads(capsys.readouterr().out)["latency_p95"]["slo_ms"] is None


def test_every_alert_command_on_a_missing_or_empty_data_dir_and_every_bad_policy_file(
    tmp_path, capsys
):
    (tmp_path / "empty").mkdir()
    for d in ("missing", "empty"):
        where = str(tmp_path / d)
        for argv in (["show", "0123456789abcdef0123"], ["ack", "x", "--by", "ana"],
                     ["silence", "--consortium", "steel", "--for", "4h", "--by", "ana"],
                     ["list", "--format", "json"]):  # fmt: skip
            fails(capsys, ["alerts", *argv, "--data-dir", where], f"--data-dir {where}")
    missing = tmp_path / "nope.yaml"
    fails(capsys, ["policy", "show", "--policy", str(missing)], f"policy file {missing}")
    broken = tmp_path / "broken.yaml"
    broken.write_text("defaults: [\n")
    fails(capsys, ["policy", "show", "--policy", str(broken)], "not valid YAML", "line 2")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    fails(capsys, ["policy", "show", "--policy", str(listed)], "expected a mapping")
    bad = tmp_path / "bad.yaml"
    bad.write_text("consortia:\n  steel:\n    models:\n      m: {accuracy_drop: {for: 0}}\n")
    # the processes that evaluate refuse it before opening anything
    for cmd in (["policy", "show"], ["sink", "--data-dir", str(tmp_path / "empty")]):
        fails(capsys, [*cmd, "--policy", str(bad)], "consortia.steel.models.m.accuracy_drop.for")
