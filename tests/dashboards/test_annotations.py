"""The alert timeline annotation of the overview and model-detail dashboards: its SQL, as
generated, runs on chDB against stored transitions and returns one region per episode
with exact times, text and tags; the "Open alerts" panels read the same stored alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dashboards.build import GENERATED
from dashboards.macros import TimeRange, expand
from warehouse.alert_store import store_transitions
from warehouse.backend import ChdbBackend
from warehouse.migrate import migrate

pytestmark = pytest.mark.integration

BASE = {"schema": "resonance.alert/1", "consortium": "steel", "model_version": "3",
        "emitted_at": "2026-01-01T03:00:00Z", "value": 1.0, "threshold": 1.0,
        "policy_version": "1", "resolved_at": None}  # fmt: skip
TEMP = [{"feature": "temp", "kind": "numeric", "statistic": "wasserstein", "value": 0.41,
         "p_value": 1e-9, "n": 300}]  # fmt: skip
GRADE = [{"feature": "grade", "kind": "categorical", "statistic": "js", "value": 0.2,
          "p_value": 1e-7, "n": 300}]  # fmt: skip


def event(id_, seq, transition, model, rule, severity, started, window, **kw):
    state = "resolved" if transition == "resolved" else "firing"
    return BASE | {"id": id_, "seq": seq, "transition": transition, "state": state,
                   "model": model, "rule": rule, "severity": severity,
                   "started_at": started, "window_start": window, "features": []} | kw  # fmt: skip


EVENTS = [
    # strip: feature_drift fired at 01:00 on temp, escalated (grade too), resolved 01:30
    event("a" * 20, 0, "firing", "strip", "feature_drift", "warn", "2026-01-01T01:00:00Z",
          "2026-01-01T01:00:00Z", features=TEMP),
    event("a" * 20, 1, "escalated", "strip", "feature_drift", "critical",
          "2026-01-01T01:00:00Z", "2026-01-01T01:10:00Z", features=TEMP + GRADE),
    event("a" * 20, 2, "resolved", "strip", "feature_drift", "critical",
          "2026-01-01T01:00:00Z", "2026-01-01T01:32:00Z", resolved_at="2026-01-01T01:30:00Z"),
    # oven: latency fires at 02:00 and is still firing
    event("b" * 20, 0, "firing", "oven", "latency_p95", "warn", "2026-01-01T02:00:00Z",
          "2026-01-01T02:01:00Z"),
    # strip: an episode long before the range
    event("c" * 20, 0, "firing", "strip", "dlq_rate", "warn", "2025-12-30T00:00:00Z",
          "2025-12-30T00:00:00Z"),
    event("c" * 20, 1, "resolved", "strip", "dlq_rate", "warn", "2025-12-30T00:00:00Z",
          "2025-12-30T00:05:00Z", resolved_at="2025-12-30T00:04:00Z"),
]  # fmt: skip


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    b = ChdbBackend(tmp_path_factory.mktemp("annotations"))
    migrate(b, minute_ttl_days=0, log=lambda _m: None)
    store_transitions(b, EVENTS)
    store_transitions(b, EVENTS[:2])  # a replay collapses on (id, seq)
    yield b
    b.close()


def annotations(path):
    return json.loads(path.read_text())["annotations"]["list"]


@pytest.mark.parametrize("stem", ["overview", "model"])
def test_alert_timeline_regions_from_stored_transitions(backend, stem):
    (anno,) = annotations(GENERATED / "steel" / f"res-{stem}-steel.json")
    assert (anno["name"], anno["enable"], anno["datasource"]["uid"]) == (
        "Alerts", True, "resonance-clickhouse-steel")  # fmt: skip
    rng = TimeRange(epoch("2026-01-01T00:00:00Z"), epoch("2026-01-01T03:00:00Z"), 60)
    values = {"consortium": ["steel"], "model": ["strip", "oven"]}
    sql = expand(anno["target"]["rawSql"], values, rng)
    got = backend.query(sql).to_pylist()
    assert [(r["time"], r["timeEnd"]) for r in got] == [
        (datetime(2026, 1, 1, 1, 0, tzinfo=UTC), datetime(2026, 1, 1, 1, 30, tzinfo=UTC)),
        (datetime(2026, 1, 1, 2, 0, tzinfo=UTC), datetime(2026, 1, 1, 3, 0, tzinfo=UTC)),
    ]  # the firing one ends at the range's end
    assert [r["text"] for r in got] == [
        "feature_drift critical on steel/strip: resolved (3 transitions); features grade, temp",
        "latency_p95 warn on steel/oven: firing",
    ]
    assert [r["tags"] for r in got] == [
        "feature_drift,critical,resolved,grade,temp",
        "latency_p95,warn,firing",
    ]
    # the model variable narrows it; a range after the resolution keeps the open alert only
    one = expand(anno["target"]["rawSql"], {"consortium": ["steel"], "model": ["strip"]}, rng)
    assert [r["text"][:13] for r in backend.query(one).to_pylist()] == ["feature_drift"]
    late = TimeRange(epoch("2026-01-01T01:45:00Z"), epoch("2026-01-01T04:00:00Z"), 60)
    rows = backend.query(expand(anno["target"]["rawSql"], values, late)).to_pylist()
    assert [(r["tags"], r["timeEnd"]) for r in rows] == [
        ("latency_p95,warn,firing", datetime(2026, 1, 1, 4, 0, tzinfo=UTC))]  # fmt: skip


def test_open_alerts_panel_reads_the_stored_alerts(backend):
    dash = json.loads((GENERATED / "steel" / "res-overview-steel.json").read_text())
    (panel,) = [p for p in dash["panels"] if p["title"] == "Open alerts"]
    rng = TimeRange(epoch("2026-01-01T00:00:00Z"), epoch("2026-01-01T03:00:00Z"), 60)
    values = {"consortium": ["steel"], "model": ["strip", "oven"], "member": ["a"],
              "site": ["s"], "hub": ["h"]}  # fmt: skip
    sql = expand(panel["targets"][0]["rawSql"], values, rng)
    assert backend.query(sql).to_pylist() == [{"open_alerts": 1}]  # oven's latency alert
