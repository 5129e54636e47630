"""`resonance models register|list|show|retire|import` against a real broker."""

from __future__ import annotations

import json

import pytest

from processors.reference import ReferenceProfile
from resonance.cli import main
from resonance.sample_data import CURRENT, REFERENCE
from streams.broker import EmbeddedBroker
from streams.registry import read_registry
from streams.settings import StreamSettings
from tests.cli.conftest import fails, reference_build

pytestmark = pytest.mark.integration


@pytest.fixture
def bootstrap(tmp_path):
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as b:
        assert main(["topics", "create", "--bootstrap", b.bootstrap, "--partitions", "1"]) == 0
        yield b.bootstrap


def models(bootstrap: str, *argv: str) -> list[str]:
    return ["models", argv[0], "--bootstrap", bootstrap, *argv[1:]]


def register(bootstrap: str, version: str, *extra: str) -> list[str]:
    return models(bootstrap, "register", "--consortium", "steel", "--model", "strip",
                  "--version", version, *extra)  # fmt: skip


def snapshot(bootstrap: str) -> dict:
    reg = read_registry(StreamSettings(kafka_bootstrap=bootstrap))
    return {e.key: e.to_json() for e in reg}


def test_register_list_show_retire(bootstrap, tmp_path, capsys):
    argv = register(bootstrap, "1", "--data", str(REFERENCE), "--categorical", "grade",
                    "--target", "binary", "--classes", "defect,ok", "--positive-class", "defect",
                    "--baseline", "accuracy=0.93", "--baseline", "roc_auc=0.97",
                    "--importance", "strip_temp_c=0.4,grade=0.2", "--slo-p95-ms", "50",
                    "--owner", "steel MLOps", "--contact", "oncall@steel.example")  # fmt: skip
    assert main(argv) == 0
    assert "registered steel/strip/1: target binary" in capsys.readouterr().out
    entry = read_registry(StreamSettings(kafka_bootstrap=bootstrap)).get("steel", "strip", "1")
    assert entry.target.classes == ("ok", "defect") and entry.target.positive_class == "defect"
    assert entry.baselines == {"accuracy": 0.93, "roc_auc": 0.97}
    assert entry.importances == {"strip_temp_c": 0.4, "grade": 0.2}
    assert entry.slo_p95_ms == 50.0 and entry.owner == "steel MLOps"
    assert entry.profile.features["strip_temp_c"].n == 2000
    assert entry.provenance["source"] == "registered"

    assert main(models(bootstrap, "list")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["MODEL", "TARGET", "REFERENCE"]
    assert out[1].split()[:4] == ["steel/strip/1", "binary", "(ok,defect)", "registered"]
    assert main(models(bootstrap, "show", "steel/strip/1")) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["features"]["grade"] == "categorical" and "reference" not in shown

    assert main(models(bootstrap, "retire", "steel/strip/1")) == 0
    capsys.readouterr()
    assert main(models(bootstrap, "list", "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out)[0]["retired"] is True


def test_reference_build_stores_the_target_for_register(bootstrap, tmp_path, capsys):
    ref = tmp_path / "ref.json"
    build = reference_build(REFERENCE, ref, "--categorical", "grade", "--target", "multiclass",
                            "--classes", "a,b,c", model="strip", version="2")  # fmt: skip
    assert main(build) == 0
    assert ReferenceProfile.from_json(ref.read_text()).model == "strip"
    assert main(register(bootstrap, "2", "--reference", str(ref))) == 0
    entry = read_registry(StreamSettings(kafka_bootstrap=bootstrap)).get("steel", "strip", "2")
    assert entry.target.kind == "multiclass" and entry.target.classes == ("a", "b", "c")


def test_bad_registrations_change_nothing(bootstrap, tmp_path, capsys):
    assert main(register(bootstrap, "1", "--data", str(REFERENCE), "--categorical", "grade",
                         "--target", "regressor")) == 0  # fmt: skip
    capsys.readouterr()
    before = snapshot(bootstrap)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"profile_version": 1, "model": ')
    fewer = tmp_path / "fewer.csv"
    lines = CURRENT.read_text().splitlines()
    fewer.write_text("\n".join(",".join(line.split(",")[:4]) for line in lines) + "\n")
    cases = [
        (("--data", str(REFERENCE), "--target", "ranker"), ("--target", "ranker", "unknown")),
        (("--data", str(REFERENCE), "--target", "binary"), ("--classes", "required")),
        (("--data", str(REFERENCE), "--target", "binary", "--classes", "ok"), ("--classes",)),
        (("--reference", str(bad_json), "--target", "regressor"), ("bad.json", "not")),
        (("--data", str(fewer), "--categorical", "grade", "--target", "regressor"),
         ("do not match version 1", "missing", "rolling_force_kn")),
        (("--data", str(REFERENCE), "--categorical", "grade", "--target", "regressor",
          "--baseline", "accuracy"), ("--baseline", "accuracy")),
        (("--data", str(REFERENCE), "--target", "regressor", "--importance", "nope=1"),
         ("--importance", "nope")),
    ]  # fmt: skip
    for extra, needles in cases:
        fails(capsys, register(bootstrap, "2", *extra), *needles)
    other = tmp_path / "other.csv"
    other.write_text("\n".join(lines[:200]) + "\n")  # same features, other bins
    again = register(bootstrap, "1", "--data", str(other), "--categorical", "grade",
                     "--target", "regressor")  # fmt: skip
    fails(capsys, again, "already has a reference", "new version")
    fails(capsys, models(bootstrap, "retire", "steel/strip/9"), "steel/strip/9", "not in")
    fails(capsys, models(bootstrap, "show", "steel-strip"), "consortium/model/version")
    assert snapshot(bootstrap) == before
    # an update without a reference keeps the version's reference
    assert main(register(bootstrap, "1", "--target", "regressor", "--baseline", "mae=2.5")) == 0
    entry = read_registry(StreamSettings(kafka_bootstrap=bootstrap)).get("steel", "strip", "1")
    assert entry.baselines == {"mae": 2.5} and entry.profile.features["grade"].n == 2000
