"""The metric queries: drift, accuracy, latency, energy and the resonance index.

Each turns merged states (:mod:`warehouse.queries.merged`) into metrics with the
processors engines; ``resonance`` reads the policy's stored decisions instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from errors import UsageError
from warehouse.backend import Backend
from warehouse.queries.merged import (
    Filters,
    Merged,
    QueryResult,
    _engine,
    _extra_by,
    _finish,
    _Query,
)
from warehouse.queries.times import _range, parse_time
from warehouse.states import classification_engine, drift_engine, hub_factors
from warehouse.states import iso as _iso
from warehouse.states import load_profiles as _stored_profiles


def load_profiles(backend: Backend, filters: Filters) -> dict[tuple[str, str], dict]:
    """(model, model_version) → stored profile JSON (dict) for the consortium."""
    found = _stored_profiles(backend, filters.consortium, filters.model, filters.model_version)
    return {(model, version): doc for (_c, model, version), doc in found.items()}


def load_references(backend: Backend, filters: Filters) -> dict[tuple[str, str], Any]:
    """(model, model_version) → ReferenceProfile for the consortium (latest stored)."""
    from processors.reference import ReferenceProfile

    return {
        key: ReferenceProfile.from_dict(doc) for key, doc in load_profiles(backend, filters).items()
    }


def drift(
    backend: Backend,
    consortium: str,
    *,
    model: str | None = None,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
    by: Sequence[str] = (),
    states: bool = False,
    policy: Any = None,
    **filters: str | None,
) -> QueryResult:
    """Drift metrics per bucket, model, version and feature (``by`` adds member/site/hub).

    ``drift``: the policy's feature verdict (:func:`processors.policy.feature_results`,
    ``policy`` a :class:`processors.policy.Policy`, default built-in) on each bucket's
    merged histograms of one model version: Holm across its features, effect gates and
    ``min_samples``; ``drift`` False below ``min_samples``. ``states=True`` adds the
    merged histogram (``counts``, over the reference's bins) to each row, for charts of
    the current distribution against the reference.
    """
    from processors.policy import Policy, feature_results

    policy = policy or Policy()
    q = _Query.of(consortium, model, filters, start, end, step)
    keys = ["model", "model_version", *_extra_by(by), "feature", "kind"]
    refs = load_references(backend, q.filters)
    rows = []
    groups: dict[tuple, dict[str, Any]] = {}  # (bucket, keys but feature) -> feature -> engine
    for m in q.merged(backend, "drift_numeric", keys):
        ref = refs.get((m.keys["model"], m.keys["model_version"]))
        feat = ref.features.get(m.keys["feature"]) if ref else None
        metrics: dict[str, Any]
        try:
            if feat is None:
                raise LookupError("no reference profile stored for this model version")
            eng = drift_engine(m.state, feat)
            metrics = eng.result()
            group = (m.bucket, *(m.keys[k] for k in keys if k not in ("feature", "kind")))
            groups.setdefault(group, {})[m.keys["feature"]] = eng
        except (LookupError, ValueError) as exc:
            metrics = _counts_only(m) | {"error": str(exc)}
        if states:
            metrics["counts"] = list(m.state.get("counts") or [])
        rows.append({"bucket": _iso(m.bucket), **m.keys, **metrics, "_bucket": m.bucket})
    verdicts = {
        (*g, f.feature): bool(f.drift)
        for g, engines in groups.items()
        for f in feature_results(engines, policy.rules(consortium, g[1], g[2]))
    }
    for r in rows:
        group = (r.pop("_bucket"), *(r[k] for k in keys if k not in ("feature", "kind")))
        if "error" not in r:
            r["drift"] = verdicts[(*group, r["feature"])]
    return _finish(rows, ["bucket", *keys])


def _counts_only(m: Merged) -> dict[str, Any]:
    """n / n_missing without a reference (categorical: the last bin is ``missing``)."""
    counts = list(m.state.get("counts") or [])
    if m.keys["kind"] == "categorical":
        return {"n": int(sum(counts[:-1])), "n_missing": int(counts[-1]) if counts else 0}
    return {"n": int(sum(counts)), "n_missing": int(m.state.get("n_missing") or 0)}


def accuracy(
    backend: Backend,
    consortium: str,
    *,
    model: str | None = None,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
    by: Sequence[str] = (),
    **filters: str | None,
) -> QueryResult:
    """Classification metrics from summed confusion counts, regression from error sums."""
    from processors.accuracy import RegressionAccuracy

    q = _Query.of(consortium, model, filters, start, end, step)
    keys = ["model", "model_version", *_extra_by(by)]
    profiles = load_profiles(backend, q.filters)
    rows = []
    for m in q.merged(backend, "classification", [*keys, "classes"]):
        profile = profiles.get((m.keys["model"], m.keys["model_version"]))
        engine = classification_engine(m.state, m.keys.get("classes"), profile)
        keys_out = {key: m.keys[key] for key in keys}
        rows.append(
            {"bucket": _iso(m.bucket), **keys_out, "task": "classification", **engine.result()}
        )
    for m in q.merged(backend, "regression", keys):
        result = _engine(RegressionAccuracy, m).result()
        rows.append({"bucket": _iso(m.bucket), **m.keys, "task": "regression", **result})
    rows.sort(key=lambda r: (r["bucket"], *(r[k] for k in keys)))
    return _finish(rows, ["bucket", *keys, "task"])


def latency(
    backend: Backend,
    consortium: str,
    *,
    model: str | None = None,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
    by: Sequence[str] = (),
    **filters: str | None,
) -> QueryResult:
    """Latency quantiles (p50/p95/p99), mean and count from summed log buckets."""
    from processors.latency import LatencyHistogram

    q = _Query.of(consortium, model, filters, start, end, step)
    keys = ["model", "model_version", *_extra_by(by)]
    rows = []
    for m in q.merged(backend, "latency", keys):
        rows.append({"bucket": _iso(m.bucket), **m.keys, **_engine(LatencyHistogram, m).result()})
    return _finish(rows, ["bucket", *keys])


def hub_factors_table(backend: Backend) -> dict[str, tuple[float, float]]:
    """hub → (grid gCO2/kWh, PUE) as stored at migrate time."""
    return hub_factors(backend)


def energy(
    backend: Backend,
    consortium: str,
    *,
    model: str | None = None,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
    by: Sequence[str] = (),
    **filters: str | None,
) -> QueryResult:
    """J/inference, kWh (facility, PUE applied) and gCO2e per model and compute hub."""
    from processors.energy import EnergyMeter

    q = _Query.of(consortium, model, filters, start, end, step)
    keys = ["model", "model_version", *_extra_by([*by, "hub"])]
    factors = hub_factors_table(backend)
    rows = []
    for m in q.merged(backend, "energy", keys):
        grid, pue = factors.get(m.keys["hub"], (None, 1.0))
        result = _engine(EnergyMeter, m).result(grid_gco2_per_kwh=grid, pue=pue)
        rows.append({"bucket": _iso(m.bucket), **m.keys, **result})
    return _finish(rows, ["bucket", *keys])


def resonance(
    backend: Backend,
    consortium: str,
    *,
    model: str | None = None,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
    **filters: str | None,
) -> QueryResult:
    """The policy's stored decisions per bucket and model (never decided again here).

    ``resonance_index``: the mean of the bucket's stored window indexes
    (:func:`warehouse.alert_queries.range_index`); ``data_fit`` / ``model_quality`` /
    ``service_health``: the means of the stored components; ``drift_detected``: a drift
    rule's alert was firing at some time in the bucket; ``windows``: windows decided.
    The range is resolved once, so a relative range gives one row per model and bucket.
    """
    from warehouse.alert_queries import DRIFT_RULES, list_alerts, range_index, read_verdicts

    extra = [k for k, v in filters.items() if v is not None and k != "model_version"]
    if extra:
        raise UsageError(f"--{extra[0].replace('_', '-')}: the index is decided per model")
    lo, hi, step_s = _range(start, end, step)
    found = read_verdicts(backend, lo, hi, consortium, model)
    alerts = [a for a in list_alerts(backend, consortium, model) if a["rule"] in DRIFT_RULES]
    rows = []
    for (_c, mdl), per in sorted(found.items()):
        buckets: dict[int, dict[str, dict[str, Any]]] = {}
        for window, v in per.items():
            if filters.get("model_version") not in (None, v.get("model_version")):
                continue
            t = parse_time(window)
            b = lo if step_s is None else t // step_s * step_s
            buckets.setdefault(b, {})[window] = v
        for b, vs in sorted(buckets.items()):
            b_lo, b_hi = max(b, lo), (hi if step_s is None else min(b + step_s, hi))
            firing = any(
                a["model"] == mdl
                and parse_time(a["started_at"]) < b_hi
                and (a["resolved_at"] is None or parse_time(a["resolved_at"]) > b_lo)
                for a in alerts
            )
            rows.append(
                {
                    "bucket": _iso(b),
                    "model": mdl,
                    "resonance_index": range_index(vs),
                    "data_fit": _mean(v["data_fit"] for v in vs.values()),
                    "model_quality": _mean(v["model_quality"] for v in vs.values()),
                    "service_health": _mean(v["service_health"] for v in vs.values()),
                    "drift_detected": firing,
                    "windows": len(vs),
                }
            )
    return _finish(rows, ["bucket", "model"])


def resonance_means(
    backend: Backend,
    consortium: str,
    *,
    start: Any = None,
    end: Any = None,
    step: str | int | None = None,
) -> QueryResult:
    """:func:`resonance`'s index and components per bucket and model, averaged in SQL.

    The same definition (the mean of the bucket's stored window values, windows without
    one left out: ``avg`` skips NULLs), for ranges too long to read window by window: a
    month of 1-minute windows for 50 models is 2.16M verdicts, a few hundred rows here.
    """
    lo, hi, step_s = _range(start, end, step)
    epoch = "toInt64(toUnixTimestamp(window_start))"
    bucket = "{lo:Int64}" if step_s is None else f"intDiv({epoch}, {{step:Int64}}) * {{step:Int64}}"
    table = backend.query(
        f"SELECT model, {bucket} AS bucket, avg(resonance_index) AS resonance_index, "
        "avg(data_fit) AS data_fit, avg(model_quality) AS model_quality, "
        "avg(service_health) AS service_health, count() AS windows "
        "FROM verdicts FINAL WHERE consortium = {consortium:String} "
        "AND window_start >= toDateTime({lo:Int64}, 'UTC') "
        "AND window_start < toDateTime({hi:Int64}, 'UTC') "
        "GROUP BY model, bucket ORDER BY bucket, model",
        {"consortium": consortium, "lo": lo, "hi": hi, "step": step_s or 1},
    )
    rows = [
        {"bucket": _iso(int(r.pop("bucket"))), **r, "windows": int(r["windows"])}
        for r in table.to_pylist()
    ]
    return _finish(rows, ["bucket", "model"])


def _mean(values: Any) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


METRICS: dict[str, Callable[..., QueryResult]] = {
    "drift": drift,
    "accuracy": accuracy,
    "latency": latency,
    "energy": energy,
    "resonance": resonance,
}
