"""The dashboards' SQL metrics equal the Python engines' on the same stored partials.

dashboards/sql.py recomputes PSI, accuracy, latency quantiles and energy in ClickHouse
SQL; warehouse.queries merges the same rows and calls the processors engines. Over
the simulated warehouse both must agree (to float rounding), on the minute tables and,
for drift, on the day rollups (``sumForEachMerge``) too.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
from scipy import stats

from dashboards import sql
from dashboards.macros import TimeRange, expand
from processors.drift import chi2_pvalue
from processors.resonance_index import quality_of, regressor_quality, regressor_quality_sql
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


def engine_rows(warehouse, every_value, span, query, step: int | None = None) -> list[dict]:
    rows = []
    for consortium in every_value["consortium"]:
        rows += query(warehouse.backend, consortium, start=span[0], end=span[1], step=step).rows
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
    assert max(want.values()) > 0.2, "the scenario's injected drift should show"


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


# ------------------------------------------------- drift verdict: effect AND significance

#: 10-minute windows: ~300 values per feature at the simulator's 0.5 samples/s per model,
#: the window size where PSI alone flags undrifted data.
WINDOW_S = 600
#: the p-value level the SQL and the engines are compared around (the p-values, not a verdict)
ALPHA = 0.01


def drift_rows(warehouse, every_value, span, step: int | None) -> dict[tuple, tuple[dict, dict]]:
    """(window start, model, version, feature) → (SQL row, engine row), for one step."""
    if step is None:
        text = sql.feature_psi(sql.MINUTE, ("model",))
    else:
        bucket = f"toStartOfInterval(window_start, INTERVAL {step} SECOND)"
        text = sql.feature_psi(sql.MINUTE, ("time", "model"), bucket=bucket)
    got = {
        (
            epoch(r["time"]) if step else None,
            r["model"],
            r["model_version"],
            r["feature"],
        ): r
        for r in run_sql(warehouse, every_value, span, text)
    }
    want = {
        (
            int(datetime.fromisoformat(r["bucket"]).timestamp()) if step else None,
            r["model"],
            r["model_version"],
            r["feature"],
        ): r
        for r in engine_rows(warehouse, every_value, span, queries.drift, step)
        if r.get("psi") is not None
    }
    assert got.keys() == want.keys() and len(got) > 20
    return {key: (got[key], want[key]) for key in want}


def epoch(t: datetime | int) -> int:
    return int(t.timestamp()) if isinstance(t, datetime) else int(t)


@pytest.fixture(scope="module", params=[None, WINDOW_S], ids=["whole-range", "10min"])
def pairs(request, warehouse, every_value, span) -> dict[tuple, tuple[dict, dict]]:
    return drift_rows(warehouse, every_value, span, request.param)


def engine_p(row: dict) -> float:
    return row["ks_pvalue"] if row["kind"] == "numeric" else row["chi2_pvalue"]


def test_ks_and_js_match_engines(pairs) -> None:
    numeric = 0
    for key, (got, want) in pairs.items():
        assert math.isclose(got["psi"], want["psi"], **TOL), key
        assert math.isclose(got["js"], want["js"], **TOL), key
        assert got["n_values"] == want["n"], key
        if want["kind"] == "numeric":
            numeric += 1
            assert math.isclose(got["ks"], want["ks"], **TOL), key
        else:
            assert got["ks"] is None, key
    assert numeric and numeric < len(pairs), "both kinds should be compared"


#: SQL p-values vs the engine's. KS: the Kolmogorov limit Q(D·√en) is never below scipy's
#: exact kstwo.sf(D, en) (the engine's, for en <= KS_LIMIT_N) and at most 0.28/√en above
#: it (absolute), 1.8/√en (relative) for p in NEAR_ALPHA. Chi-square: Wilson-Hilferty is
#: within 0.05 of chi2.sf (worst at 1 degree of freedom and p near 1), within 9.7% relative
#: for p in NEAR_ALPHA (1 to 30 degrees of freedom). Measured here: the test output.
KS_ABS_TOL_SQRT_EN = 0.3
KS_REL_TOL_SQRT_EN = 2.0
CHI2_ABS_TOL = 0.05
CHI2_REL_TOL = 0.1
NEAR_ALPHA = (ALPHA / 5, 10 * ALPHA)


def effective_n(ref_n: int, n: int) -> int:
    return max(1, round(ref_n * n / (ref_n + n)))


def test_p_values_close_to_engines(pairs, warehouse) -> None:
    ref_n = {
        (r["model"], r["model_version"], r["feature"]): r["n"]
        for r in warehouse.backend.query(
            "SELECT model, model_version, feature, n FROM reference_features FINAL"
        ).to_pylist()
    }
    worst = {"numeric": 0.0, "categorical": 0.0}
    for key, (got, want) in pairs.items():
        p_sql, p_eng = got["p_value"], engine_p(want)
        assert 0.0 <= p_sql <= 1.0, key
        if want["kind"] == "numeric":
            root_en = math.sqrt(effective_n(ref_n[key[1:]], want["n"]))
            assert -1e-12 <= p_sql - p_eng <= KS_ABS_TOL_SQRT_EN / root_en, (key, p_sql, p_eng)
            rel_tol = KS_REL_TOL_SQRT_EN / root_en
        else:
            assert abs(p_sql - p_eng) <= CHI2_ABS_TOL, (key, p_sql, p_eng)
            rel_tol = CHI2_REL_TOL
        if NEAR_ALPHA[0] <= p_eng <= NEAR_ALPHA[1]:
            rel = abs(p_sql - p_eng) / p_eng
            worst[want["kind"]] = max(worst[want["kind"]], rel)
            assert rel <= rel_tol, (key, p_sql, p_eng)
        far = p_eng < ALPHA / 2 or p_eng > 2 * ALPHA  # from the boundary
        if far and want["n"] >= 100:
            assert (p_sql < ALPHA) == (p_eng < ALPHA), (key, p_sql, p_eng)
    print(f"largest relative p-value difference near alpha: {worst}")


#: simulator/scenarios/default.yaml: models that never drift, and the sudden +3 std shift of
#: strip-surface-defect's strip temperature at 40% of the run.
CONTROLS = ("bof-endpoint-temp", "weld-defect", "pcb-solder-defect")
SHIFTED = ("strip-surface-defect", "strip_temp_c")


def test_the_policy_alerts_on_the_injected_shift_and_not_on_controls(warehouse) -> None:
    """The stored decisions the panels read: the default scenario's sudden shift raises a
    feature_drift alert on its model with the shifted feature as evidence; the models that
    never drift raise no alert of any rule."""
    from warehouse.alert_queries import list_alerts

    alerts = list_alerts(warehouse.backend)
    drift = [a for a in alerts if a["rule"] == "feature_drift" and a["model"] == SHIFTED[0]]
    assert drift and SHIFTED[1] in drift[0]["features"]
    assert [a for a in alerts if a["model"] in CONTROLS] == []


def scalar(warehouse, expr: str) -> float:
    return next(iter(warehouse.backend.query(f"SELECT {expr} AS v").to_pylist()))["v"]


def test_kolmogorov_sf_is_scipys(warehouse) -> None:
    for lam in (0.0, 1e-3, 0.3, 0.8, 0.999, 1.0, 1.2, 1.63, 2.0, 3.0, 5.0, 8.0):
        want = stats.kstwobign.sf(lam)
        got = scalar(warehouse, sql.kolmogorov_sf_expr(repr(lam)))
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15), lam


def test_chi2_statistic_and_wilson_hilferty(warehouse) -> None:
    rng = np.random.default_rng(3)
    for m in (2, 3, 6, 22):
        ref = rng.integers(0, 400, m)
        cur = rng.integers(0, 60, m)
        ref[0] = cur[0] = 0  # a column empty in both is dropped
        table = np.vstack([ref, cur])[:, 1:]
        want = stats.chi2_contingency(table, correction=False)[0]
        a, b = f"{[int(x) for x in ref]}", f"{[int(x) for x in cur]}"
        assert math.isclose(scalar(warehouse, sql.chi2_expr(a, b)), want, rel_tol=1e-9)
        p = scalar(warehouse, sql.chi2_pvalue_expr(a, b))
        assert abs(p - chi2_pvalue(ref, cur)) <= CHI2_ABS_TOL
    assert scalar(warehouse, sql.chi2_pvalue_expr("[5, 0]", "[7, 0]")) == 1.0  # 1 column


def tables_near_alpha(k: int, rng: np.random.Generator, want: int = 4) -> list[tuple]:
    """2×(k+1) count tables whose exact chi-square p-value (scipy) lies in NEAR_ALPHA."""
    m, found = k + 1, []
    even = np.full(m, 1 / m)
    for _ in range(2_000):
        ref = rng.multinomial(4_000, even)
        shifted = np.abs(even * (1 + rng.uniform(0, 0.6) * np.sqrt(m / 400) * rng.normal(size=m)))
        cur = rng.multinomial(400, shifted / shifted.sum())
        if (ref + cur == 0).any():
            continue
        p = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)[1]
        if NEAR_ALPHA[0] <= p <= NEAR_ALPHA[1]:
            found.append((ref, cur, p))
        if len(found) == want:
            break
    assert len(found) == want, k
    return found


def test_chi2_pvalue_sql_near_alpha_is_within_the_stated_tolerance(warehouse) -> None:
    """The SQL's Wilson-Hilferty p-value vs scipy's exact chi2.sf, 1 to 30 degrees of freedom."""
    rng = np.random.default_rng(11)
    worst = 0.0
    for k in (1, 2, 3, 5, 10, 20, 30):
        for ref, cur, p in tables_near_alpha(k, rng):
            a, b = f"{[int(x) for x in ref]}", f"{[int(x) for x in cur]}"
            got = scalar(warehouse, sql.chi2_pvalue_expr(a, b))
            worst = max(worst, abs(got - p) / p)
    print(f"largest relative chi-square p-value difference near alpha: {worst:.3f}")
    assert worst <= CHI2_REL_TOL


def test_regressor_quality_sql_is_the_python_rule(warehouse) -> None:
    """The Grafana quality's SQL fragment and processors.resonance_index agree, run in chDB."""
    for mape in (0.0, 1e-9, 0.25, 0.5, 0.999, 1.0, 1.001, 3.0, 1e6):
        got = scalar(warehouse, regressor_quality_sql(f"toFloat64({mape!r})"))
        assert got == regressor_quality(mape) == quality_of({"mape": mape}), mape
