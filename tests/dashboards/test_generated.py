"""The committed dashboards and provisioning are exactly what the code builds, and valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.alerting import Rule
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.build import GENERATED, PROVISIONING, ROOT, rendered, write
from dashboards.query import PLUGIN_ID, ClickHouseQuery
from dashboards.scope import all_scopes

REBUILD = "run `resonance dashboards build` and commit the result"


def committed_dashboards() -> list[Path]:
    return sorted(GENERATED.rglob("*.json"))


def test_committed_files_equal_a_fresh_build() -> None:
    fresh = rendered()
    for rel, text in fresh.items():
        path = ROOT / rel
        assert path.exists(), f"{rel} missing: {REBUILD}"
        assert path.read_text() == text, f"{rel} differs from a fresh build: {REBUILD}"
    stale = {p.relative_to(ROOT) for p in committed_dashboards()} - set(fresh)
    assert not stale, f"stale generated dashboards {sorted(map(str, stale))}: {REBUILD}"


def test_build_is_stable(tmp_path: Path) -> None:
    first = write(tmp_path / "g", tmp_path / "p")
    texts = {p: p.read_text() for p in first}
    second = write(tmp_path / "g", tmp_path / "p")
    assert {p: p.read_text() for p in second} == texts


@pytest.mark.parametrize("path", committed_dashboards(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_dashboard_round_trips_through_the_sdk_model(path: Path) -> None:
    """Decoding with the SDK's Dashboard model and encoding again loses nothing, and
    every target decodes into our ClickHouse variant (not the SDK's unknown bag)."""
    register_default_plugins()
    raw = json.loads(path.read_text())
    # the SDK types an annotation's target as the built-in datasource's (its own TODO:
    # "this should just be a normal query target"), so annotation targets are decoded
    # with our ClickHouse variant and the rest through the SDK's Dashboard model
    annotations = raw["annotations"].pop("list", [])
    model = Dashboard.from_json(raw)
    assert json.loads(JSONEncoder().encode(model)) == raw
    targets = [t for panel in model.panels or [] for t in panel.targets or []]
    assert targets and all(isinstance(t, ClickHouseQuery) for t in targets)
    for anno in annotations:
        target = ClickHouseQuery.from_json(anno["target"])
        assert json.loads(JSONEncoder().encode(target)) == anno["target"]


def test_alert_rules_round_trip_through_the_sdk_model() -> None:
    register_default_plugins()
    doc = yaml.safe_load((PROVISIONING / "alerting" / "rules.yaml").read_text())
    for rule in doc["groups"][0]["rules"]:
        decoded = json.loads(JSONEncoder().encode(Rule.from_json(rule)))
        api_only = {"folderUID": "", "ruleGroup": "", "orgID": 0}
        assert decoded == rule | api_only, rule["uid"]


def test_uids_datasources_and_folders() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "resonance.yaml").read_text())
    provisioned = {d["uid"]: d for d in datasources["datasources"]}
    assert all(d["type"] == PLUGIN_ID for d in provisioned.values())
    scopes = {s.folder: s for s in all_scopes()}
    assert {p.name for p in GENERATED.iterdir() if p.is_dir()} == set(scopes)
    uids = []
    for path in committed_dashboards():
        raw = json.loads(path.read_text())
        scope = scopes[path.parent.name]
        uids.append(raw["uid"])
        assert len(raw["uid"]) <= 40 and path.stem == raw["uid"]
        for panel in raw["panels"]:
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == scope.datasource_uid in provisioned
                assert "$__conditionalAll" not in target["rawSql"]
        consortium = next(v for v in raw["templating"]["list"] if v["name"] == "consortium")
        if scope.consortium:  # a consortium's copy: fixed value, its own reader datasource
            assert consortium["type"] == "constant" and consortium["query"] == scope.consortium
            assert (
                provisioned[scope.datasource_uid]["jsonData"]["username"]
                == f"resonance_{scope.consortium}"
            )
        else:
            assert (
                consortium["type"] == "query" and consortium["multi"] and consortium["includeAll"]
            )
    assert len(uids) == len(set(uids))


def test_alert_rules_cover_the_required_signals() -> None:
    doc = yaml.safe_load((PROVISIONING / "alerting" / "rules.yaml").read_text())
    rules = doc["groups"][0]["rules"]
    assert {r["uid"] for r in rules} == {
        "resonance-policy-alert",
        "resonance-dlq-rate",
        "resonance-pipeline-lag",
    }
    for rule in rules:
        assert len(rule["uid"]) <= 40
        kinds = [q["model"].get("type", "sql") for q in rule["data"]]
        assert kinds == ["sql", "reduce", "threshold"] and rule["condition"] == "C"
    assert (PROVISIONING / "alerting" / "contact-points.yaml").exists()
    policies = yaml.safe_load((PROVISIONING / "alerting" / "policies.yaml").read_text())
    points = yaml.safe_load((PROVISIONING / "alerting" / "contact-points.yaml").read_text())
    assert policies["policies"][0]["receiver"] == points["contactPoints"][0]["name"]
