"""``resonance simulate`` end to end on files, and its one-line usage errors."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from resonance.cli import main

BASE = [
    "simulate",
    "--start",
    "2026-11-01T00:00:00Z",
    "--duration",
    "10m",
    "--rate",
    "1",
    "--quiet",
    "--reference-samples",
    "500",
]


def test_writes_jsonl_summary_and_references(tmp_path, capsys):
    out = tmp_path / "sim"
    code = main(
        [
            *BASE,
            "--out-dir",
            str(out),
            "--consortia",
            "steel,electronics",
            "--summary-json",
            str(out / "summary.json"),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    lines = {t: (out / f"{t}.jsonl").read_text().splitlines() for t in summary["topics"]}
    for topic, counts in summary["topics"].items():
        assert counts["messages"] == len(lines[topic])
        assert counts["samples"] == sum(len(json.loads(x)["ts"]) for x in lines[topic])
    per_model = Counter(json.loads(x)["model"] for x in lines["telemetry"])
    assert set(per_model) == set(summary["models"])
    assert {m["consortium"] for m in summary["models"].values()} == {"steel", "electronics"}
    assert all(m["telemetry"] == 600 for m in summary["models"].values())
    refs = sorted(p.relative_to(out).as_posix() for p in out.glob("references/*/*.json"))
    assert "references/steel/strip-surface-defect-3.json" in refs and len(refs) == 6
    assert summary["run"]["start"] == "2026-11-01T00:00:00Z"
    assert summary["ground_truth"]["scenario"] == "default"
    assert "600 samples" not in capsys.readouterr().out  # messages go to stderr


def test_single_events_and_scenario_file(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "injections:\n  - {model: bolt-torque, feature: friction_coef,"
        " kind: missing_sensor, start: '50%'}\n"
    )
    out = tmp_path / "sim"
    code = main(
        [
            *BASE,
            "--out-dir",
            str(out),
            "--models",
            "bolt-torque",
            "--batch-size",
            "1",
            "--scenario",
            str(scenario),
            "--summary-json",
            str(out / "s.json"),
        ]
    )
    assert code == 0
    events = [json.loads(x) for x in (out / "telemetry.jsonl").read_text().splitlines()]
    assert len(events) == 600 and "batch" not in events[0]
    nulls = sum(e["features"]["friction_coef"] is None for e in events)
    summary = json.loads((out / "s.json").read_text())
    assert nulls == summary["models"]["bolt-torque"]["features"]["friction_coef"]["missing"]
    assert 250 < nulls <= 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "--rate"),
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "100000"], "--batch-size"),
        (["--duration", "soon"], "--duration"),
        (["--start", "2999-01-01"], "--start"),
        (["--start", "yesterday"], "--start"),
        (["--consortia", "textiles"], "--consortia"),
        (["--models", "hal-9000"], "--models"),
        (["--scenario", "/nonexistent.yaml"], "/nonexistent.yaml"),
        (["--producer-config", "oops", "--bootstrap", "x:1"], "--producer-config"),
    ],
)
def test_usage_errors_are_one_line(tmp_path, capsys, args, message):
    argv = [*BASE, *args]
    if "--bootstrap" not in args:
        argv += ["--out-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_needs_a_destination(capsys, monkeypatch):
    monkeypatch.delenv("RESONANCE_KAFKA_BOOTSTRAP", raising=False)
    assert main(BASE) == 2
    assert "--bootstrap" in capsys.readouterr().err


def test_list_prints_the_catalogue(capsys):
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    assert "strip-surface-defect" in out and "guizhou" in out


def test_docs_list_the_catalogue():
    from pathlib import Path

    from simulator.catalogue import HUBS, MODELS

    doc = (Path(__file__).parents[2] / "docs" / "simulator.md").read_text()
    for name in [m.name for m in MODELS] + list(HUBS):
        assert f"`{name}`" in doc, name
