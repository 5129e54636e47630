"""Every panel target and alert-rule query in the generated files runs on real ClickHouse.

Walks dashboards/generated/**.json and provisioning/alerting/rules.yaml (nothing is
hand-listed), expands template variables and the plugin's macros like Grafana does
(dashboards/macros.py), runs the SQL on chDB filled by the simulator (conftest.py) and
checks the columns each panel type needs. Variables are resolved by running their own
queries, in dashboard order, once with every variable on its first value and once
with every multi-value variable on All.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dashboards.build import GENERATED, PROVISIONING
from dashboards.macros import TimeRange, expand

pytestmark = pytest.mark.integration

NUMERIC = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal.*|Bool)\)?$")
STRING = re.compile(r"^(Nullable\()?(LowCardinality\()?(Nullable\()?String\)*$")
TIME = re.compile(r"^(Nullable\()?(DateTime|DateTime64|Date)\b")
UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 31 * 86400, "y": 366 * 86400}


def dashboard_files() -> list[Path]:
    return sorted(GENERATED.rglob("*.json"))


def relative_range(dashboard: dict, now_s: int) -> TimeRange:
    """The dashboard's default range ("now-6h" .. "now") and a Grafana-like interval."""
    m = re.fullmatch(r"now-(\d+)([mhdwMy])", dashboard["time"]["from"])
    assert m and dashboard["time"]["to"] == "now", dashboard["time"]
    span = int(m.group(1)) * UNIT_S[m.group(2)]
    return TimeRange(now_s - span, now_s, interval_s=max(1, span // 300))


def describe(backend, sql: str) -> dict[str, str]:
    return {r["name"]: r["type"] for r in backend.query(f"DESCRIBE ({sql})").to_pylist()}


def variable_values(backend, dashboard: dict, rng: TimeRange, all_values: bool) -> dict:
    """Resolve variables in order, as Grafana does on load (each may use earlier ones)."""
    values: dict[str, list[str]] = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] == "constant":
            values[var["name"]] = [var["query"]]
            continue
        assert var["type"] == "query", var
        rows = backend.query(expand(var["query"]["rawSql"], values, rng)).to_pylist()
        options = [str(next(iter(r.values()))) for r in rows]
        assert options, f"variable {var['name']} has no values in the simulated range"
        values[var["name"]] = options if (all_values and var.get("includeAll")) else options[:1]
    return values


def panel_cases() -> Iterator[object]:
    for path in dashboard_files():
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                for mode in ("first", "all"):
                    yield pytest.param(
                        path,
                        panel,
                        target,
                        mode,
                        id=f"{path.parent.name}/{dashboard['uid']}/{panel['title']}/{mode}",
                    )


def check_columns(panel: dict, columns: dict[str, str]) -> None:
    """What the panel type needs from the result."""
    numeric = [c for c, t in columns.items() if NUMERIC.match(t)]
    kind = panel["type"]
    if kind == "timeseries":
        assert "time" in columns and TIME.match(columns["time"]), columns
        assert numeric, f"time series without a numeric column: {columns}"
        assert panel["targets"][0]["format"] == 0
    elif kind == "table":
        (organize,) = [t for t in panel["transformations"] if t["id"] == "organize"]
        missing = set(organize["options"]["indexByName"]) - set(columns)
        assert not missing, f"table columns {sorted(missing)} not returned: {columns}"
    elif kind == "stat":
        assert numeric, columns
    elif kind == "barchart":
        assert panel["options"]["xField"] in columns, columns
        assert numeric, columns
    else:
        raise AssertionError(f"no column contract for panel type {kind!r}")


@pytest.mark.parametrize(("path", "panel", "target", "mode"), list(panel_cases()))
def test_panel_query(warehouse, path: Path, panel: dict, target: dict, mode: str) -> None:
    dashboard = json.loads(path.read_text())
    rng = relative_range(dashboard, warehouse.now_s)
    values = variable_values(warehouse.backend, dashboard, rng, all_values=mode == "all")
    sql = expand(target["rawSql"], values, rng)
    columns = describe(warehouse.backend, sql)
    check_columns(panel, columns)
    result = warehouse.backend.query(sql)
    if panel["type"] == "timeseries" and mode == "all":
        assert result.num_rows > 0, f"{panel['title']}: no rows for the simulated range"


def alert_queries() -> Iterator[object]:
    doc = yaml.safe_load((PROVISIONING / "alerting" / "rules.yaml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            for query in rule["data"]:
                if query["datasourceUid"] != "__expr__":
                    yield pytest.param(rule, query, id=rule["uid"])


@pytest.mark.parametrize(("rule", "query"), list(alert_queries()))
def test_alert_query(warehouse, rule: dict, query: dict) -> None:
    """No variables at all (the expander raises on one); labels are strings, value numeric."""
    span = query["relativeTimeRange"]["from"]
    rng = TimeRange(warehouse.now_s - span, warehouse.now_s - query["relativeTimeRange"]["to"])
    sql = expand(query["model"]["rawSql"], {}, rng)
    columns = describe(warehouse.backend, sql)
    assert "value" in columns and NUMERIC.match(columns["value"]), columns
    labels = {c: t for c, t in columns.items() if c != "value"}
    assert labels and all(STRING.match(t) for t in labels.values()), columns
    assert query["model"]["format"] == 1
    rows = warehouse.backend.query(sql).to_pylist()
    assert rows, f"{rule['uid']}: no alert instances over the simulated data"
    expressions = {q["refId"]: q for q in rule["data"]}
    assert rule["condition"] in expressions
