"""Assemble a consortium's month from the warehouse query layer (the one read path).

Every number here comes from :mod:`warehouse.queries` (merged partials → engines)
or from the stored alerts; this module only selects, joins and orders rows, so a
report's CSV equals ``resonance query`` on the same range. Rows are sorted on
their keys, which makes the exports byte-identical for the same data.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from errors import UsageError
from resonance.report.estimation import estimation_tables
from resonance.report.tables import CONTRACTS, Table
from warehouse import queries as q
from warehouse.backend import Backend

#: metric of the stored baseline per task, and whether higher is better
BASELINE_METRIC = {"classification": ("accuracy", True), "regression": ("mae", False)}
TOP_DRIFTING = 10
DRIFT_RULES = ("feature_drift", "model_drift", "drift")


@dataclass
class MonthData:
    """Everything a report shows: its tables plus the raw series its charts draw."""

    consortium: str
    month: str
    lo: int
    hi: int
    tables: dict[str, Table] = field(default_factory=dict)
    histograms: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def add(self, table: Table) -> None:
        self.tables[table.name] = table


def check_month(backend: Backend, consortium: str, month: str) -> tuple[int, int]:
    """The month's range, or a one-line UsageError: unknown consortium, empty month."""
    lo, hi = q.month_range(month)
    known = q.known_consortia(backend)
    if consortium not in known:
        listed = ", ".join(known) if known else "none stored yet"
        raise UsageError(f"--consortium {consortium!r} is unknown (known: {listed})")
    if not q.volume(backend, consortium, start=lo, end=hi).rows:
        raise UsageError(f"--month {month}: no data stored for {consortium} in that month")
    return lo, hi


def assemble(
    backend: Backend,
    consortium: str,
    month: str,
    step: Callable[[str], None] = lambda _name: None,
) -> MonthData:
    """Read the month (and the previous one, for changes) into report tables."""
    lo, hi = check_month(backend, consortium, month)
    data = MonthData(consortium, month, lo, hi)
    c, kw = consortium, dict(start=lo, end=hi)
    prev = dict(start=_previous(lo), end=lo)
    profiles = q.load_profiles(backend, q.Filters(c))

    step("volumes")
    vol = _by_model(q.volume(backend, c, **kw).rows)
    step("drift")
    drift_rows = q.drift(backend, c, states=True, **kw).rows
    step("accuracy")
    acc_month = q.accuracy(backend, c, **kw).rows
    acc_daily = q.accuracy(backend, c, step="1d", **kw).rows
    step("latency and energy")
    lat = _by_model(q.latency(backend, c, **kw).rows)
    lat_hub = q.latency(backend, c, by=["hub"], **kw).rows
    energy = q.energy(backend, c, **kw).rows
    step("resonance index")
    res_month = {r["model"]: r for r in q.resonance_means(backend, c, **kw).rows}
    res_daily = q.resonance_means(backend, c, step="1d", **kw).rows
    step("estimated performance")
    est_month, est_daily = estimation_tables(backend, c, lo, hi)
    step("previous month")
    before = _previous_month(backend, c, prev)

    step("alerts and data quality")
    alerts = q.stored_alerts(backend, c, lo, hi)
    dlq = q.dlq_counts(backend, c, lo, hi).rows
    late = _by_model(q.late_volume(backend, c, lo, hi).rows)
    hubs = q.hub_alternatives(backend, c, **kw).rows

    step("tables")
    en = _energy_by_model(energy)
    acc = _by_model(acc_month)
    data.add(_summary(c, vol, res_month, acc, lat, en))
    data.add(changes := _changes(c, vol, res_month, acc, lat, en, before))
    data.add(_change_matrix(c, changes))
    data.add(_resonance_daily(c, res_daily))
    data.add(_energy_table(c, energy))
    data.add(_drift(c, drift_rows))
    data.add(_top_drifting(c, drift_rows))
    data.add(_incidents(c, alerts, hi))
    data.add(_accuracy_daily(c, acc_daily))
    data.add(_accuracy_monthly(c, acc, vol, profiles))
    data.add(est_month)
    data.add(est_daily)
    data.add(_alert_counts(c, alerts))
    data.add(_dlq(c, dlq))
    data.add(_missing(c, drift_rows, profiles))
    data.add(_volumes(c, vol, late))
    data.add(hub_rows := _hubs(c, hubs, lat_hub))
    data.add(_hub_matrix(c, hub_rows))
    data.add(_references(c, profiles, vol))
    data.histograms = _histograms(drift_rows, profiles, data.tables["top_drifting"].rows)
    from warehouse.alert_queries import policy_versions

    ids = [a["id"] for a in alerts if a.get("id")]
    data.provenance = {"policy_versions": policy_versions(backend, c, lo, hi, ids)}
    return data


# --------------------------------------------------------------------------- helpers


def _previous(lo: int) -> int:
    d = datetime.fromtimestamp(lo, UTC)
    year, mon = (d.year - 1, 12) if d.month == 1 else (d.year, d.month - 1)
    return int(datetime(year, mon, 1, tzinfo=UTC).timestamp())


def _by_model(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["model"], r["model_version"]): r for r in rows}


def _energy_by_model(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """kWh, gCO2e, joules and inferences summed over a model version's hubs."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        acc = out.setdefault(
            (r["model"], r["model_version"]),
            {"kwh": 0.0, "gco2e": 0.0, "joules": 0.0, "inferences": 0, "hubs": []},
        )
        acc["kwh"] += r["kwh"]
        acc["gco2e"] = (
            None if acc["gco2e"] is None or r["gco2e"] is None else acc["gco2e"] + r["gco2e"]
        )
        acc["joules"] += r["joules"]
        acc["inferences"] += r["inferences"]
        acc["hubs"].append(r["hub"])
    for acc in out.values():
        acc["j_per_inference"] = acc["joules"] / acc["inferences"] if acc["inferences"] else None
    return out


def _models(*maps: dict[tuple[str, str], Any]) -> list[tuple[str, str]]:
    return sorted({key for m in maps for key in m})


def _quality(row: dict[str, Any] | None) -> float | None:
    """The accuracy column of the summary: accuracy for classifiers, empty for regressors."""
    return None if row is None else row.get("accuracy")


def _summary(c, vol, res, acc, lat, en) -> Table:
    rows = []
    for model, version in _models(vol, acc, lat, en):
        key = (model, version)
        rows.append(
            {
                "consortium": c,
                "model": model,
                "model_version": version,
                "samples": (vol.get(key) or {}).get("predictions", 0),
                "resonance_index": (res.get(model) or {}).get("resonance_index"),
                "accuracy": _quality(acc.get(key)),
                "latency_p95_ms": (lat.get(key) or {}).get("p95"),
                "kwh": (en.get(key) or {}).get("kwh"),
                "gco2e": (en.get(key) or {}).get("gco2e"),
            }
        )
    return Table("summary", "Summary", list(CONTRACTS["summary"]), rows)


def _previous_month(backend: Backend, c: str, kw: dict[str, int]) -> dict[str, dict]:
    return {
        "vol": _by_model(q.volume(backend, c, **kw).rows),
        "res": {r["model"]: r for r in q.resonance_means(backend, c, **kw).rows},
        "acc": _by_model(q.accuracy(backend, c, **kw).rows),
        "lat": _by_model(q.latency(backend, c, **kw).rows),
        "en": _energy_by_model(q.energy(backend, c, **kw).rows),
    }


_CHANGE_METRICS = (
    ("samples", "vol", "predictions"),
    ("resonance_index", "res", "resonance_index"),
    ("accuracy", "acc", "accuracy"),
    ("mae", "acc", "mae"),
    ("latency_p95_ms", "lat", "p95"),
    ("kwh", "en", "kwh"),
    ("j_per_inference", "en", "j_per_inference"),
    ("gco2e", "en", "gco2e"),
)


def _changes(c, vol, res, acc, lat, en, before) -> Table:
    """Each summary metric this month, the previous month and the change."""
    now = {"vol": vol, "res": res, "acc": acc, "lat": lat, "en": en}
    rows = []
    for model, version in _models(vol, acc, lat, en):
        for metric, source, key in _CHANGE_METRICS:
            look = model if source == "res" else (model, version)
            cur = (now[source].get(look) or {}).get(key)
            old = (before[source].get(look) or {}).get(key)
            if cur is None and old is None:
                continue
            change = None if cur is None or old is None else cur - old
            rows.append(
                {
                    "consortium": c,
                    "model": model,
                    "model_version": version,
                    "metric": metric,
                    "month": cur,
                    "previous_month": old,
                    "change": change,
                    "change_pct": 100.0 * change / old if change is not None and old else None,
                }
            )
    cols = ["consortium", "model", "model_version", "metric", "month", "previous_month"]
    title = "Change against the previous month"
    return Table("changes", title, [*cols, "change", "change_pct"], rows, doc=False)


#: change shown in points (absolute) rather than per cent
_POINTS = ("resonance_index", "accuracy")


def _change_matrix(c: str, changes: Table) -> Table:
    """One line per model: the change of each metric (index and accuracy in points)."""
    wide: dict[tuple[str, str], dict[str, Any]] = {}
    for r in changes.rows:
        row = wide.setdefault(
            (r["model"], r["model_version"]),
            {"consortium": c, "model": r["model"], "model_version": r["model_version"]},
        )
        pts = r["metric"] in _POINTS
        row[f"{r['metric']}_{'pts' if pts else 'pct'}"] = r["change"] if pts else r["change_pct"]
    names = [f"{m}_{'pts' if m in _POINTS else 'pct'}" for m, _, _ in _CHANGE_METRICS]
    note = "resonance index and accuracy: change in points; the rest: change in per cent"
    title = "Change against the previous month"
    rows = [wide[k] for k in sorted(wide)]
    if all(r["previous_month"] is None for r in changes.rows):
        rows, note = [], "no data stored for the previous month"
    return Table(
        "change_matrix", title, ["consortium", "model", "model_version", *names], rows, note
    )


def _resonance_daily(c: str, rows: list[dict[str, Any]]) -> Table:
    keep = ["resonance_index", "data_fit", "model_quality", "service_health", "windows"]
    out = [
        {
            "consortium": c,
            "day": r["bucket"][:10],
            "model": r["model"],
            **{k: r.get(k) for k in keep},
        }
        for r in rows
    ]
    out.sort(key=lambda r: (r["model"], r["day"]))
    return Table(
        "resonance_daily", "Resonance index, daily", ["consortium", "model", "day", *keep], out
    )


def _energy_table(c: str, rows: list[dict[str, Any]]) -> Table:
    keep = ["inferences", "joules", "j_per_inference", "it_kwh", "kwh", "gco2e"]
    out = [
        {"consortium": c, "model": r["model"], "model_version": r["model_version"], "hub": r["hub"]}
        | {k: r.get(k) for k in keep}
        for r in rows
    ]
    out.sort(key=lambda r: (r["model"], r["model_version"], r["hub"]))
    cols = ["consortium", "model", "model_version", "hub", *keep]
    return Table("energy", "Energy per compute hub", cols, out)


def _drift(c: str, rows: list[dict[str, Any]]) -> Table:
    cols = list(CONTRACTS["drift"])
    out = [{"consortium": c} | {k: r.get(k) for k in cols[1:]} for r in rows]
    out.sort(key=lambda r: (r["model"], r["model_version"], r["feature"]))
    return Table("drift", "Drift per feature, month vs reference", cols, out)


def _top_drifting(c: str, rows: list[dict[str, Any]]) -> Table:
    """The features drifting most: verdict first, then PSI."""
    scored = [r for r in rows if r.get("psi") is not None]
    scored.sort(key=lambda r: (not r.get("drift"), -r["psi"], r["model"], r["feature"]))
    keep = ["model", "model_version", "feature", "kind", "n", "psi", "js", "ks", "drift"]
    out = [{"consortium": c} | {k: r.get(k) for k in keep} for r in scored[:TOP_DRIFTING]]
    return Table("top_drifting", "Features drifting most", ["consortium", *keep], out)


def _hours(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (q.parse_time(b) - q.parse_time(a)) / 3600.0


def _incidents(c: str, alerts: list[dict[str, Any]], hi: int) -> Table:
    """Drift alerts as incidents: start, end (empty while open) and duration in hours."""
    out = []
    for a in alerts:
        if a.get("rule") not in DRIFT_RULES:
            continue
        out.append(
            {
                "consortium": c,
                "model": a["model"],
                "model_version": a.get("model_version"),
                "rule": a["rule"],
                "severity": a.get("severity"),
                "started_at": a["started_at"],
                "ended_at": a.get("resolved_at"),
                "duration_h": _hours(a["started_at"], a.get("resolved_at")),
                "features": list(a.get("features") or []),
                "id": a.get("id"),
            }
        )
    cols = ["consortium", "model", "model_version", "rule", "severity", "started_at", "ended_at"]
    note = "" if alerts else "no alerts stored for this month"
    cols += ["duration_h", "features", "id"]
    return Table("incidents", "Drift incidents", cols, out, note, hide=("consortium", "id"))


def _accuracy_daily(c: str, rows: list[dict[str, Any]]) -> Table:
    cols = list(CONTRACTS["accuracy"])
    out = [
        {"consortium": c, "day": r["bucket"][:10]}
        | {
            k: r.get(k)
            for k in ("model", "model_version", "n", "accuracy", "roc_auc", "mae", "rmse")
        }
        for r in rows
    ]
    out.sort(key=lambda r: (r["model"], r["model_version"], r["day"]))
    return Table("accuracy", "Accuracy, daily", cols, out)


def baseline_of(profile: dict[str, Any] | None, task: str) -> tuple[str, float | None]:
    """The stored baseline (``profile["baseline"]``) for a task's headline metric.

    >>> baseline_of({"baseline": {"accuracy": 0.9}}, "classification")
    ('accuracy', 0.9)
    >>> baseline_of(None, "regression")
    ('mae', None)
    """
    metric, _ = BASELINE_METRIC[task]
    value = ((profile or {}).get("baseline") or {}).get(metric)
    return metric, None if value is None else float(value)


def _accuracy_monthly(c, acc, vol, profiles) -> Table:
    """The month's accuracy against the baseline, with the share of predictions labelled."""
    from processors.resonance_index import model_quality

    out = []
    for key, r in sorted(acc.items()):
        metric, base = baseline_of(profiles.get(key), r["task"])
        value = r.get(metric)
        predictions = (vol.get(key) or {}).get("predictions", 0)
        out.append(
            {
                "consortium": c,
                "model": key[0],
                "model_version": key[1],
                "task": r["task"],
                "n": r.get("n"),
                "accuracy": r.get("accuracy"),
                "roc_auc": r.get("roc_auc"),
                "mae": r.get("mae"),
                "rmse": r.get("rmse"),
                "baseline_metric": metric,
                "baseline": base,
                "vs_baseline": model_quality(value, base, BASELINE_METRIC[r["task"]][1]),
                "predictions": predictions,
                "labelled_share": (r.get("n") or 0) / predictions if predictions else None,
            }
        )
    cols = list(out[0]) if out else ["consortium", "model", "model_version", "task", "n"]
    note = "vs_baseline: min(1, metric / baseline), min(1, baseline / metric) for error metrics"
    return Table("accuracy_monthly", "Accuracy, month, against the baseline", cols, out, note)


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "mean": None, "max": None}
    return {
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "max": max(values),
    }


def _alert_counts(c: str, alerts: list[dict[str, Any]]) -> Table:
    """Counts by rule and severity; hours from start to acknowledgement and to resolution."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        groups[(a.get("rule") or "", a.get("severity") or "")].append(a)
    out = []
    for (rule, severity), items in sorted(groups.items()):
        ack = [h for a in items if (h := _hours(a["started_at"], a.get("acked_at"))) is not None]
        res = [h for a in items if (h := _hours(a["started_at"], a.get("resolved_at"))) is not None]
        ack_s, res_s = _stats(ack), _stats(res)
        out.append(
            {
                "consortium": c,
                "rule": rule,
                "severity": severity,
                "alerts": len(items),
                "open": sum(1 for a in items if not a.get("resolved_at")),
                "acked": len(ack),
                "ack_median_h": ack_s["median"],
                "ack_mean_h": ack_s["mean"],
                "resolved": len(res),
                "resolve_median_h": res_s["median"],
                "resolve_mean_h": res_s["mean"],
                "resolve_max_h": res_s["max"],
            }
        )
    cols = ["consortium", "rule", "severity", "alerts", "open", "acked", "ack_median_h"]
    cols += ["ack_mean_h", "resolved", "resolve_median_h", "resolve_mean_h", "resolve_max_h"]
    note = "" if alerts else "no alerts stored for this month"
    return Table("alerts", "Alerts by rule and severity", cols, out, note)


def _dlq(c: str, rows: list[dict[str, Any]]) -> Table:
    out = [{"consortium": c} | r for r in rows]
    cols = ["consortium", "model", "source_topic", "reason", "records"]
    note = "" if rows else "no rejected records received this month"
    return Table("dlq", "Rejected records (DLQ) by reason", cols, out, note)


def _missing(c, rows, profiles) -> Table:
    out = []
    for r in rows:
        ref = ((profiles.get((r["model"], r["model_version"])) or {}).get("features") or {}).get(
            r["feature"]
        ) or {}
        ref_n = (ref.get("n") or 0) + (ref.get("n_missing") or 0)
        out.append(
            {
                "consortium": c,
                "model": r["model"],
                "model_version": r["model_version"],
                "feature": r["feature"],
                "n": r.get("n"),
                "n_missing": r.get("n_missing"),
                "missing_rate": r.get("missing_rate"),
                "reference_missing_rate": ref.get("n_missing", 0) / ref_n if ref_n else None,
            }
        )
    out.sort(key=lambda r: (r["model"], r["model_version"], r["feature"]))
    cols = ["consortium", "model", "model_version", "feature", "n", "n_missing", "missing_rate"]
    return Table("missing", "Missing values per feature", [*cols, "reference_missing_rate"], out)


def _volumes(c, vol, late) -> Table:
    """Volumes, outcomes without a matching prediction, and data later than allowed."""
    out = []
    for key in _models(vol, late):
        v, lt = vol.get(key) or {}, late.get(key) or {}
        outcomes = v.get("outcomes_matched", 0) + v.get("outcomes_unmatched", 0)
        records = sum(v.get(f, 0) for f in ("telemetry_samples", "predictions", "outcomes_matched"))
        late_records = sum(
            lt.get(f, 0) for f in ("telemetry_samples", "predictions", "outcomes_matched")
        )
        out.append(
            {
                "consortium": c,
                "model": key[0],
                "model_version": key[1],
                "telemetry_samples": v.get("telemetry_samples", 0),
                "predictions": v.get("predictions", 0),
                "prediction_errors": v.get("prediction_errors", 0),
                "outcomes_matched": v.get("outcomes_matched", 0),
                "outcomes_unmatched": v.get("outcomes_unmatched", 0),
                "unmatched_rate": v.get("outcomes_unmatched", 0) / outcomes if outcomes else None,
                "late_records": late_records,
                "late_share": late_records / records if records else None,
            }
        )
    cols = list(out[0]) if out else ["consortium", "model", "model_version"]
    return Table("volumes", "Volumes, unmatched outcomes and late data", cols, out)


def _hubs(c, rows, lat_hub) -> Table:
    """The month's energy where each model ran, next to the same IT energy at every hub."""
    p95 = {(r["model"], r["model_version"], r["hub"]): r.get("p95") for r in lat_hub}
    actual = {
        (r["model"], r["model_version"], r["ran_at"]): r["gco2e"] for r in rows if r["actual"]
    }
    out = []
    for r in rows:
        ran = actual.get((r["model"], r["model_version"], r["ran_at"]))
        diff = None if ran is None or r["gco2e"] is None else r["gco2e"] - ran
        out.append(
            {
                "consortium": c,
                **{k: r[k] for k in ("model", "model_version", "ran_at", "hub", "actual")},
                **{k: r[k] for k in ("grid_gco2_per_kwh", "pue", "it_kwh", "kwh", "gco2e")},
                "gco2e_vs_actual": diff,
                "latency_p95_ms": p95.get((r["model"], r["model_version"], r["hub"])),
            }
        )
    out.sort(key=lambda r: (r["model"], r["model_version"], r["ran_at"], r["hub"]))
    cols = list(out[0]) if out else ["consortium", "model", "model_version", "ran_at", "hub"]
    note = "latency_p95_ms is given where it was measured (the hub where the model ran)"
    title = "Compute hubs: where each model would run greener"
    return Table("hubs", title, cols, out, note, doc=False)


def _hub_matrix(c: str, hubs: Table) -> Table:
    """One line per model: gCO2e where it ran, then the same IT energy at every hub."""
    wide: dict[tuple[str, str, str], dict[str, Any]] = {}
    names: list[str] = []
    for r in hubs.rows:
        key = (r["model"], r["model_version"], r["ran_at"])
        row = wide.setdefault(
            key, {"consortium": c, "model": key[0], "model_version": key[1], "ran_at": key[2]}
        )
        if r["actual"]:
            row |= {"kwh": r["kwh"], "gco2e": r["gco2e"], "latency_p95_ms": r["latency_p95_ms"]}
        row[r["hub"]] = r["gco2e"]
        names += [] if r["hub"] in names else [r["hub"]]
    for row in wide.values():
        alts = [(row[h], h) for h in names if row.get(h) is not None]
        row["greenest_hub"] = min(alts)[1] if alts else None
    cols = ["consortium", "model", "model_version", "ran_at", "kwh", "gco2e", "latency_p95_ms"]
    note = "gCO2e this month; hub columns: the same IT energy at that hub's grid factor and PUE"
    rows = [wide[k] for k in sorted(wide)]
    title = "Compute hubs: gCO2e where each model ran and at every national hub"
    return Table("hub_matrix", title, [*cols, *sorted(names), "greenest_hub"], rows, note)


def _references(c, profiles, vol) -> Table:
    out = []
    for key in sorted(set(profiles) | set(vol)):
        p = profiles.get(key) or {}
        out.append(
            {
                "consortium": c,
                "model": key[0],
                "model_version": key[1],
                "profile_version": p.get("profile_version"),
                "features": len(p.get("features") or {}),
                "n_bins": p.get("n_bins"),
                "top_k": p.get("top_k"),
                "baseline": ";".join(
                    f"{k}={v!r}" for k, v in sorted((p.get("baseline") or {}).items())
                ),
            }
        )
    cols = ["consortium", "model", "model_version", "profile_version", "features", "n_bins"]
    return Table("references", "Reference profiles", [*cols, "top_k", "baseline"], out)


def _histograms(drift_rows, profiles, top) -> list[dict[str, Any]]:
    """Merged month histograms vs the reference, as shares per bin, for the top features."""
    by_key = {(r["model"], r["model_version"], r["feature"]): r for r in drift_rows}
    out = []
    for t in top[:6]:
        r = by_key[(t["model"], t["model_version"], t["feature"])]
        ref = profiles[(t["model"], t["model_version"])]["features"][t["feature"]]
        counts = list(r.get("counts") or [])
        ref_counts = list(ref["counts"])
        if r["kind"] == "categorical":  # the last bin is "missing", not drawn
            counts, ref_counts = counts[:-1], ref_counts[:-1]
            labels = [*ref["categories"], "other"][: len(counts)]
            ticks, axis = labels, "category"
        else:
            labels = _edge_labels(ref["edges"])
            ticks = [f"<{ref['edges'][0]:.3g}", *(f"{e:.3g}" for e in ref["edges"])]
            axis = "lower edge of the reference's quantile bin"
        n, rn = sum(counts) or 1, sum(ref_counts) or 1
        out.append(
            {
                **{k: t[k] for k in ("model", "model_version", "feature", "kind", "psi", "drift")},
                "labels": labels,
                "ticks": ticks,
                "axis": axis,
                "current": [x / n for x in counts],
                "reference": [x / rn for x in ref_counts],
            }
        )
    return out


def _edge_labels(edges: list[float]) -> list[str]:
    """Bin labels for edges e0..ek: '<e0', 'e0–e1', …, '≥ek'."""
    fmt = "{:.3g}".format
    inner = [f"{fmt(a)}–{fmt(b)}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return [f"<{fmt(edges[0])}", *inner, f"≥{fmt(edges[-1])}"]
