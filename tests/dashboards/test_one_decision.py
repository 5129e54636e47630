"""One decision: simulated hours through the real engines, sink writer and policy
evaluator (real chDB), then the console payload, `resonance query resonance`, the Grafana
SQL (generated overview and alert queries, macros expanded) and `resonance alerts list`
must agree on every model's drift status and resonance index over the same range."""

from __future__ import annotations

import pytest

from dashboards import overview, sql
from dashboards.alerts import policy_alerts_rule
from dashboards.macros import TimeRange, expand
from resonance.console.snapshot import Snapshot, build_snapshot
from warehouse import queries
from warehouse.alert_queries import DRIFT_RULES, list_alerts
from warehouse.window_reader import ReferenceStore, WarehouseReader

pytestmark = pytest.mark.integration


def test_console_query_grafana_and_alerts_agree(warehouse) -> None:
    backend = warehouse.backend
    lo, hi = warehouse.start_s // 60 * 60, warehouse.now_s
    every = {
        d: [r[d] for r in backend.query(f"SELECT DISTINCT {d} FROM volume_minute").to_pylist()]
        for d in sql.TENANCY
    }

    def grafana(text: str) -> list[dict]:
        return backend.query(expand(text, every, TimeRange(lo, hi - 1))).to_pylist()

    # resonance alerts list: models with a drift alert
    alerts = list_alerts(backend)
    listed = {(a["consortium"], a["model"]) for a in alerts if a["rule"] in DRIFT_RULES}
    assert listed, "the default scenario's injected drifts should raise alerts"
    # the console
    snap = build_snapshot(WarehouseReader(backend, ReferenceStore(backend), lo), Snapshot(), 1.0)
    console = {(c, r["model"]): r for c, rows in snap.consortia.items() for r in rows}
    # resonance query
    query = {}
    for consortium in every["consortium"]:
        for r in queries.resonance(backend, consortium, start=lo, end=hi).rows:
            query[(consortium, r["model"])] = r
    # Grafana: the overview's model table and the policy alert rule's instances
    table = {(r["consortium"], r["model"]): r for r in grafana(overview.models_sql())}
    rule_sql = policy_alerts_rule().sql
    firing_now = {(r["consortium"], r["model"], r["rule"]) for r in grafana(rule_sql)}
    open_drift = {(a["consortium"], a["model"]) for a in alerts
                  if a["rule"] in DRIFT_RULES and a["state"] == "firing"}  # fmt: skip

    assert set(console) == set(query) == set(table) and len(console) >= 12
    for key in console:
        c_row, q_row, g_row = console[key], query[key], table[key]
        assert c_row["drift_detected"] == q_row["drift_detected"] == (key in listed), key
        index = c_row["resonance_index"]
        assert index is not None, key
        assert q_row["resonance_index"] == pytest.approx(index, rel=1e-9), key
        assert g_row["resonance_index"] == pytest.approx(index, rel=1e-9), key
    assert {(c, m) for c, m, r in firing_now if r in DRIFT_RULES} == open_drift
