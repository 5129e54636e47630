"""``resonance report`` on a backfilled month: CSV numbers equal the query layer's and
the engines' own results on the same partials, same data gives byte-identical CSVs,
nothing of another consortium appears, and the PDF and HTML render with their charts."""

from __future__ import annotations

import base64
import csv
import math
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from errors import UsageError
from processors.accuracy import ClassificationAccuracy, RegressionAccuracy
from processors.drift import drift_engine
from processors.energy import EnergyMeter
from processors.latency import LatencyHistogram
from processors.policy import Policy, feature_results
from resonance.report import build_report
from streams.blocks import Volume
from streams.partials import latest_per_key
from warehouse import queries as q

pytestmark = pytest.mark.integration

MONTH, NOV, DEC = "2026-11", 1793491200, 1796083200


@pytest.fixture(scope="module")
def report(month, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    build_report(month.backend, "steel", MONTH, out)
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def num(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def engines(partials, kind: str, lo: int, hi: int, factory) -> dict[tuple, object]:
    """The engines merged over every latest partial of ``kind`` in [lo, hi)."""
    out: dict[tuple, object] = {}
    for p in latest_per_key(partials).values():
        if p.kind != kind or not lo * 1000 <= p.window_start < hi * 1000:
            continue
        key = (p.model, p.model_version, p.feature, p.hub)
        engine = factory(p)
        out[key] = out[key].merge(engine) if key in out else engine
    return out


def per_model(merged: dict[tuple, object]) -> dict[tuple[str, str], object]:
    out: dict[tuple[str, str], object] = {}
    for (model, version, _f, _h), engine in merged.items():
        key = (model, version)
        out[key] = out[key].merge(engine) if key in out else engine
    return out


# ----------------------------------------------------------------- numbers are right


def test_drift_csv_equals_query_layer_and_engines(month, report):
    rows = read_csv(report / "drift.csv")
    assert rows and {r["consortium"] for r in rows} == {"steel"}
    refs = q.load_references(month.backend, q.Filters("steel"))
    query = {
        (r["model"], r["model_version"], r["feature"]): r
        for r in q.drift(month.backend, "steel", start=NOV, end=DEC).rows
    }

    def factory(p):
        ref = refs[(p.model, p.model_version)].features[p.feature]
        return type(drift_engine(ref)).from_dict(p.state, ref=ref)

    offline: dict = {}
    found: dict = {}
    for kind in ("drift_numeric", "drift_categorical"):
        for (model, version, feature, _hub), e in engines(
            month.partials["steel"], kind, NOV, DEC, factory
        ).items():
            offline[(model, version, feature)] = e.result()
            found.setdefault((model, version), {})[feature] = e
    for (model, version), per in found.items():  # the policy's verdict on the month
        for f in feature_results(per, Policy().rules("steel", model, version)):
            offline[(model, version, f.feature)]["drift"] = bool(f.drift)
    assert (
        set(offline) == set(query) == {(r["model"], r["model_version"], r["feature"]) for r in rows}
    )
    for r in rows:
        key = (r["model"], r["model_version"], r["feature"])
        want, engine = query[key], offline[key]
        assert int(r["n"]) == want["n"] == engine["n"]
        assert r["drift"] == ("true" if engine["drift"] else "false")
        for col in ("psi", "js", "ks", "wasserstein", "chi2_pvalue"):
            assert num(r[col]) == want.get(col), (key, col)  # repr round trip: exact
            assert close(num(r[col]), engine.get(col)), (key, col)
    # the default scenario's sudden shift is the top drifting feature
    top = read_csv(report / "top_drifting.csv")[0]
    assert (top["model"], top["feature"], top["drift"]) == (
        "strip-surface-defect",
        "strip_temp_c",
        "true",
    )


def test_summary_csv_equals_engines(month, report):
    rows = {(r["model"], r["model_version"]): r for r in read_csv(report / "summary.csv")}
    parts = month.partials["steel"]
    volume = per_model(engines(parts, "volume", NOV, DEC, lambda p: Volume.from_dict(p.state)))
    latency = per_model(
        engines(parts, "latency", NOV, DEC, lambda p: LatencyHistogram.from_dict(p.state))
    )
    energy = engines(parts, "energy", NOV, DEC, lambda p: EnergyMeter.from_dict(p.state))
    factors = q.hub_factors_table(month.backend)
    resonance = {
        r["model"]: r for r in q.resonance(month.backend, "steel", start=NOV, end=DEC).rows
    }
    assert set(rows) == set(volume) and len(rows) == 3
    for key, r in rows.items():
        assert int(r["samples"]) == volume[key].to_dict()["predictions"] > 0
        assert close(num(r["latency_p95_ms"]), latency[key].result()["p95"])
        kwh = gco2e = 0.0
        for (model, version, _f, hub), e in energy.items():
            if (model, version) == key:
                grid, pue = factors[hub]
                res = e.result(grid_gco2_per_kwh=grid, pue=pue)
                kwh, gco2e = kwh + res["kwh"], gco2e + res["gco2e"]
        assert close(num(r["kwh"]), kwh) and close(num(r["gco2e"]), gco2e)
        assert close(num(r["resonance_index"]), resonance[key[0]]["resonance_index"])
    # the report's SQL means are resonance()'s window-by-window means, daily too
    for step in (None, "1d"):
        key = lambda r: (r["bucket"], r["model"])  # noqa: E731
        by_py = sorted(
            q.resonance(month.backend, "steel", start=NOV, end=DEC, step=step).rows, key=key
        )
        by_sql = q.resonance_means(month.backend, "steel", start=NOV, end=DEC, step=step).rows
        assert [(r["bucket"], r["model"], r["windows"]) for r in by_sql] == [
            (r["bucket"], r["model"], r["windows"]) for r in by_py
        ]
        for a, b in zip(by_sql, by_py, strict=True):
            for col in ("resonance_index", "data_fit", "model_quality", "service_health"):
                assert close(a[col], b[col]), (a["bucket"], a["model"], col)


def test_accuracy_csv_daily_equals_engines(month, report):
    rows = read_csv(report / "accuracy.csv")
    classes = {(m.model, m.version): list(m.target.classes) for m in month.registry.models.values()}
    days = sorted({r["day"] for r in rows})
    assert days == ["2026-11-01", "2026-11-02"]
    checked = 0
    for day in days:
        lo = int(q.parse_time(f"{day}T00:00:00Z"))
        clf = per_model(
            engines(
                month.partials["steel"],
                "classification",
                lo,
                lo + 86_400,
                lambda p: ClassificationAccuracy.from_dict(
                    p.state, classes=classes[(p.model, p.model_version)]
                ),
            )
        )
        reg = per_model(
            engines(
                month.partials["steel"],
                "regression",
                lo,
                lo + 86_400,
                lambda p: RegressionAccuracy.from_dict(p.state),
            )
        )
        for r in (r for r in rows if r["day"] == day):
            key = (r["model"], r["model_version"])
            if key in clf:
                want = clf[key].result()
                assert r["mae"] == r["rmse"] == ""  # not applicable: empty
                assert close(num(r["accuracy"]), want["accuracy"])
            else:
                want = reg[key].result()
                assert r["accuracy"] == r["roc_auc"] == ""
                assert close(num(r["mae"]), want["mae"]) and close(num(r["rmse"]), want["rmse"])
            assert int(r["n"]) == want["n"] > 0
            checked += 1
    assert checked == len(rows) == 6


def test_month_accuracy_against_baseline_and_labelled_share(report):
    rows = {r["model"]: r for r in read_csv(report / "accuracy_monthly.csv")}
    clf = rows["strip-surface-defect"]
    assert (clf["baseline_metric"], num(clf["baseline"])) == ("accuracy", 0.9)
    assert close(num(clf["vs_baseline"]), min(1.0, num(clf["accuracy"]) / 0.9))
    reg = rows["bof-endpoint-temp"]
    assert (reg["baseline_metric"], num(reg["baseline"])) == ("mae", 5.0)
    assert close(num(reg["vs_baseline"]), min(1.0, 5.0 / num(reg["mae"])))
    for r in rows.values():
        assert close(num(r["labelled_share"]), int(r["n"]) / int(r["predictions"]))


def test_alerts_incidents_and_data_quality(month, report):
    incidents = read_csv(report / "incidents.csv")
    assert [
        (i["model"], i["started_at"], i["ended_at"], num(i["duration_h"])) for i in incidents
    ] == [("strip-surface-defect", "2026-11-01T10:00:00Z", "2026-11-02T16:30:00Z", 30.5)]
    alerts = {(a["rule"], a["severity"]): a for a in read_csv(report / "alerts.csv")}
    assert set(alerts) == {("feature_drift", "critical"), ("latency_p95", "warn")}
    assert (
        alerts[("feature_drift", "critical")]["alerts"],
        num(alerts[("feature_drift", "critical")]["resolve_median_h"]),
    ) == ("1", 30.5)
    assert alerts[("latency_p95", "warn")]["open"] == "1"
    dlq = read_csv(report / "dlq.csv")
    assert sorted(r["model"] for r in dlq) == sorted(
        m.model for m in month.registry.models.values()
    )
    assert {r["reason"] for r in dlq} == {"not an ISO-8601 timestamp: 'yesterday'"}
    volumes = read_csv(report / "volumes.csv")
    parts = month.partials["steel"]
    vol = per_model(engines(parts, "volume", NOV, DEC, lambda p: Volume.from_dict(p.state)))
    for r in volumes:
        counts = vol[(r["model"], r["model_version"])].to_dict()
        assert int(r["outcomes_unmatched"]) == counts["outcomes_unmatched"]
        assert int(r["outcomes_matched"]) == counts["outcomes_matched"]


def test_hubs_price_the_same_it_energy_at_every_hub(month, report):
    rows = read_csv(report / "hubs.csv")
    factors = q.hub_factors_table(month.backend)
    by_model = defaultdict(list)
    for r in rows:
        by_model[r["model"]].append(r)
    assert len(by_model) == 3
    for items in by_model.values():
        assert {r["hub"] for r in items} == set(factors)
        assert sum(r["actual"] == "true" for r in items) == 1
        it_kwh = {r["it_kwh"] for r in items}
        assert len(it_kwh) == 1
        for r in items:
            grid, pue = factors[r["hub"]]
            assert close(num(r["gco2e"]), float(r["it_kwh"]) * pue * grid)
        here = next(r for r in items if r["actual"] == "true")
        assert here["latency_p95_ms"] != ""  # measured where it ran


# ---------------------------------------------------------------- reproducible, isolated


def test_same_data_gives_byte_identical_csvs(month, report, tmp_path):
    build_report(month.backend, "steel", MONTH, tmp_path, ["csv"])
    names = sorted(p.name for p in report.glob("*.csv"))
    assert len(names) >= 15 and names == sorted(p.name for p in tmp_path.glob("*.csv"))
    for name in names:
        assert (report / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_nothing_from_the_other_consortium(month, report):
    """rival has the same model names and versions; its members, sites, DLQ rows and
    alerts must not reach steel's report in any format."""
    rival = {p.member for p in month.partials["rival"]} | {p.site for p in month.partials["rival"]}
    texts = {
        p.name: p.read_text() for p in report.iterdir() if p.suffix in (".csv", ".html", ".json")
    }
    texts["pdf"] = subprocess.run(
        ["pdftotext", str(next(report.glob("*.pdf"))), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for p in report.glob("*.parquet"):
        texts[p.name] = str(pq.read_table(p).to_pylist())
    assert len(texts) > 30
    for name, text in texts.items():
        assert "rival" not in text, name
        assert not any(word in text for word in rival), name
    for p in report.glob("*.parquet"):
        table = pq.read_table(p)
        if "consortium" in table.column_names:
            assert set(table.column("consortium").to_pylist()) <= {"steel"}, p.name
    # and the rival's own report sees its own alert only
    assert [a["consortium"] for a in q.stored_alerts(month.backend, "rival", NOV, DEC)] == ["rival"]


def test_estimation_csv_equals_query_layer_and_engines(month, report):
    """The calibrated classifier (multiclass, ``scores`` from the simulator): the month's
    estimate and band are CBPE over its stored states, the realised value the labels'."""
    from processors.cbpe import CBPE
    from warehouse.estimation_queries import estimated_series

    rows = read_csv(report / "estimation_monthly.csv")
    query = estimated_series(month.backend, "steel", start=NOV, end=DEC)
    assert [(r["model"], r["model_version"]) for r in rows] == [("strip-surface-defect", "3")]
    (r,), (want,) = rows, query
    entry = month.registry.get("steel", "strip-surface-defect", "3")
    cal, classes = entry.score_calibration, list(entry.target.classes)
    parts, key = month.partials["steel"], ("strip-surface-defect", "3")

    def estimate(p):
        return CBPE.from_dict(p.state, calibration=cal)

    def labelled(p):
        return ClassificationAccuracy.from_dict(p.state, classes=classes)

    engine = per_model(engines(parts, "estimation", NOV, DEC, estimate))[key]
    truth = per_model(engines(parts, "classification", NOV, DEC, labelled))[key].result()
    result = engine.result(realised_accuracy=truth["accuracy"])
    assert int(r["n"]) == want["n"] == engine.count > 0
    assert close(num(r["estimated_accuracy"]), result["estimated_accuracy"])
    lo, hi = result["estimated_accuracy_band"]
    assert close(num(r["band_lo"]), lo) and close(num(r["band_hi"]), hi)
    assert close(num(r["realised_accuracy"]), truth["accuracy"])
    assert r["reliable"] == ("true" if want["reliable"] else "false")
    assert r["reasons"] == "; ".join(want["reasons"])
    days = read_csv(report / "estimation.csv")
    assert [d["day"] for d in days] == ["2026-11-01", "2026-11-02"]
    assert sum(int(d["n"]) for d in days) == engine.count


# --------------------------------------------------------------------- documents render


def test_pdf_pages_render_non_blank(report, tmp_path):
    from PIL import Image, ImageOps

    pdf = next(report.glob("*.pdf"))
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 4
    for page in pages:
        gray = ImageOps.grayscale(Image.open(page))
        dark = sum(gray.histogram()[:200])
        assert dark / (gray.width * gray.height) > 0.005, page.name


def test_html_embeds_the_charts(report):
    html = next(report.glob("*.html")).read_text()
    charts = re.findall(
        r'<img class="chart" alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html
    )
    assert len(charts) == 5
    for _alt, data in charts:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    for title in (
        "Summary",
        "Drift",
        "Accuracy",
        "Alerts",
        "Data quality",
        "Compute hubs",
        "Provenance",
    ):
        assert f"<h2>{title}</h2>" in html
    assert "test-policy-1" in html  # the policy version of the stored decisions (provenance)


# ----------------------------------------------------------------------- bad input


def test_unknown_consortium_lists_the_known_ones(month, tmp_path):
    with pytest.raises(UsageError, match=r"'nobody' is unknown \(known: rival, steel\)"):
        build_report(month.backend, "nobody", MONTH, tmp_path)


def test_empty_month(month, tmp_path):
    with pytest.raises(UsageError, match="--month 2026-08: no data stored for steel"):
        build_report(month.backend, "steel", "2026-08", tmp_path)
