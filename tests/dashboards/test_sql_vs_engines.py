"""The dashboards' SQL metrics equal the Python engines' on the same stored partials.

dashboards/sql.py recomputes PSI, accuracy, latency quantiles and energy in ClickHouse
SQL; warehouse.queries merges the same rows and calls the processors engines. Over
the simulated warehouse both must agree (to float rounding), on the minute tables and,
for drift, on the day rollups (``sumForEachMerge``) too.
"""

from __future__ import annotations

import math

import pytest

from dashboards import sql
from dashboards.macros import TimeRange, expand
from warehouse import queries

pytestmark = pytest.mark.integration

TOL = {"rel_tol": 1e-9, "abs_tol": 1e-9}


@pytest.fixture(scope="module")
def span(warehouse) -> tuple[int, int]:
    """Whole days around the simulated data (so the day rollups hold exactly the same rows)."""
    lo = (warehouse.start_s // 86400) * 86400
    hi = (warehouse.now_s // 86400 + 1) * 86400
    return lo, hi


@pytest.fixture(scope="module")
def every_value(warehouse) -> dict[str, list[str]]:
    """Every tenancy variable on All, as Grafana would expand it."""
    return {
        d: [
            r[d]
            for r in warehouse.backend.query(f"SELECT DISTINCT {d} FROM volume_minute").to_pylist()
        ]
        for d in sql.TENANCY
    }


def run_sql(warehouse, every_value, span, text: str) -> list[dict]:
    # The SQL filters are inclusive at both ends ($__timeFilter); queries use [lo, hi).
    return warehouse.backend.query(
        expand(text, every_value, TimeRange(span[0], span[1] - 1))
    ).to_pylist()


def engine_rows(warehouse, every_value, span, query) -> list[dict]:
    rows = []
    for consortium in every_value["consortium"]:
        rows += query(warehouse.backend, consortium, start=span[0], end=span[1], step=None).rows
    return rows


def test_psi_matches_engines(warehouse, every_value, span) -> None:
    keys = ("model",)
    got = {
        (r["model"], r["model_version"], r["feature"]): r["psi"]
        for r in run_sql(warehouse, every_value, span, sql.feature_psi(sql.MINUTE, keys))
    }
    want = {
        (r["model"], r["model_version"], r["feature"]): r["psi"]
        for r in engine_rows(warehouse, every_value, span, queries.drift)
        if r.get("psi") is not None
    }
    assert got.keys() == want.keys() and len(got) > 20
    for key, psi in want.items():
        assert math.isclose(got[key], psi, **TOL), key
    assert max(want.values()) > sql.PSI_THRESHOLD, "the scenario's injected drift should show"


def test_day_rollups_give_the_same_psi(warehouse, every_value, span) -> None:
    minute, day = (
        {
            (r["model"], r["feature"]): r["psi"]
            for r in run_sql(warehouse, every_value, span, sql.feature_psi(grain, ("model",)))
        }
        for grain in (sql.MINUTE, sql.DAY)
    )
    assert minute.keys() == day.keys()
    for key, psi in minute.items():
        assert math.isclose(day[key], psi, **TOL), key


def test_accuracy_matches_engines(warehouse, every_value, span) -> None:
    got = {
        r["model"]: r["accuracy"]
        for r in run_sql(
            warehouse, every_value, span, sql.classification_accuracy(sql.MINUTE, ("model",))
        )
    }
    want = {
        r["model"]: r["accuracy"]
        for r in engine_rows(warehouse, every_value, span, queries.accuracy)
        if r["task"] == "classification"
    }
    assert got.keys() == want.keys() and want
    for model, acc in want.items():
        assert math.isclose(got[model], acc, **TOL), model


def test_regression_errors_match_engines(warehouse, every_value, span) -> None:
    got = {
        r["model"]: r
        for r in run_sql(
            warehouse, every_value, span, sql.regression_errors(sql.MINUTE, ("model",))
        )
    }
    want = [
        r
        for r in engine_rows(warehouse, every_value, span, queries.accuracy)
        if r["task"] == "regression"
    ]
    assert want and {r["model"] for r in want} == got.keys()
    for r in want:
        for metric in ("mae", "rmse", "mape"):
            assert math.isclose(got[r["model"]][metric], r[metric], **TOL), (r["model"], metric)


def test_latency_quantiles_match_engines(warehouse, every_value, span) -> None:
    got = {
        r["model"]: r
        for r in run_sql(
            warehouse, every_value, span, sql.latency_quantiles(sql.MINUTE, ("model",))
        )
    }
    want = engine_rows(warehouse, every_value, span, queries.latency)
    assert want and {r["model"] for r in want} == got.keys()
    for r in want:
        for q in ("p50", "p95", "p99"):
            assert math.isclose(got[r["model"]][q], r[q], **TOL), (r["model"], q)


def test_energy_matches_engines(warehouse, every_value, span) -> None:
    got = {
        (r["model"], r["hub"]): r
        for r in run_sql(warehouse, every_value, span, sql.energy(sql.MINUTE, ("model", "hub")))
    }
    want = engine_rows(warehouse, every_value, span, queries.energy)
    assert want and {(r["model"], r["hub"]) for r in want} == got.keys()
    for r in want:
        for metric in ("j_per_inference", "kwh", "gco2e"):
            assert math.isclose(got[(r["model"], r["hub"])][metric], r[metric], **TOL), metric
