"""Metrics over any time range and step, from merged partials (docs/design.md, principle 1).

SQL sums the stored states (``sumForEach`` over histogram / confusion / bucket
arrays, ``sumMap`` over scalar sums), per bucket of ``step`` and per series;
the processors engines then turn each merged state into metrics
(``Engine.from_dict(...).result()``). A month's PSI is the PSI of the month's
merged histogram, never an average of minute PSIs.

Which table: the range is cut into aligned pieces, and each piece is read from
the coarsest table whose grain divides the step (a month at step 1d reads ~30
rows per series from the day rollup; the ragged edges of an unaligned range
come from the hour and minute tables). User values only ever travel as
``{name:Type}`` parameters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from errors import UsageError
from warehouse.backend import Backend
from warehouse.kinds import KINDS, KindSpec, columns_to_state
from warehouse.states import (
    DAY,
    HOUR,
    MINUTE,
    classification_engine,
    drift_engine,
    hub_factors,
    rebuild,
    summed_sql,
)
from warehouse.states import iso as _iso
from warehouse.states import load_profiles as _stored_profiles

GRAINS = (DAY, HOUR, MINUTE)
DEFAULT_RANGE_S = DAY
_STEP = re.compile(r"^(\d+)([mhd])$")
_UNIT_S = {"m": MINUTE, "h": HOUR, "d": DAY}
_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")
_REL_UNIT_S = {"s": 1, "m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}


# ----------------------------------------------------------------- times and steps


#: Times a query accepts: 1970-01-01 up to 2200-01-01 (ClickHouse DateTime's range is
#: 1970-2106; anything outside is a typo, not a range to scan).
MAX_TIME_S = 7_258_118_400


def parse_time(text: str | int | float | datetime | None, *, now: datetime | None = None) -> int:
    """Epoch seconds from ISO-8601, epoch s/ms, ``now`` or ``now-<N><s|m|h|d|w>``; a time
    outside 1970-2200 is a UsageError naming it.

    >>> parse_time("now-99999999d")
    Traceback (most recent call last):
    errors.UsageError: time 'now-99999999d' is outside 1970-01-01 .. 2200-01-01
    """
    try:
        value = _parse_time(text, now=now)
    except (OverflowError, OSError, ValueError):
        value = -1
    if not 0 <= value <= MAX_TIME_S:
        raise UsageError(f"time {text!r} is outside 1970-01-01 .. 2200-01-01") from None
    return value


def _parse_time(text: str | int | float | datetime | None, *, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    if text is None:
        return int(now.timestamp())
    if isinstance(text, datetime):
        return int((text if text.tzinfo else text.replace(tzinfo=UTC)).timestamp())
    if isinstance(text, int | float):
        return int(text / 1000) if text > 10**11 else int(text)
    raw = text.strip()
    rel = _RELATIVE.match(raw)
    if rel:
        back = int(rel[1]) * _REL_UNIT_S[rel[2]] if rel[1] else 0
        return int(now.timestamp()) - back
    if raw.isdigit():
        return _parse_time(int(raw))
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"time {text!r}: use ISO-8601 (2026-11-29T10:00Z), epoch seconds/ms, or now-7d"
        ) from None
    return _parse_time(value)


def parse_step(text: str | None) -> int | None:
    """``1m``, ``5m``, ``1h``, ``1d`` … → seconds; None = one bucket for the whole range."""
    if text is None or text in ("", "all"):
        return None
    match = _STEP.match(text.strip())
    if not match or int(match[1]) == 0:
        raise UsageError(f"--step {text!r}: use <N>m, <N>h or <N>d (e.g. 1m, 1h, 1d) or all")
    return int(match[1]) * _UNIT_S[match[2]]


def time_range(
    start: Any = None, end: Any = None, *, now: datetime | None = None
) -> tuple[int, int]:
    """[start, end) in epoch seconds; default: the last day up to now."""
    hi = parse_time(end, now=now)
    lo = parse_time(start, now=now) if start is not None else hi - DEFAULT_RANGE_S
    if lo >= hi:
        raise UsageError(f"--from must be before --to (got {_iso(lo)} .. {_iso(hi)})")
    return lo, hi


def segments(lo: int, hi: int, step: int | None) -> list[tuple[int, int, int]]:
    """Cut [lo, hi) into (grain, start, end) pieces, coarsest aligned grain first.

    Only grains that divide ``step`` are used, so no stored row straddles a bucket.

    >>> segments(0, 2 * 86400, None)
    [(86400, 0, 172800)]
    >>> segments(1800, 86400 + 90, None)
    [(60, 1800, 3600), (3600, 3600, 86400), (60, 86400, 86490)]
    >>> segments(0, 86400, 3600)
    [(3600, 0, 86400)]
    """
    grains = [g for g in GRAINS if step is None or step % g == 0] or [MINUTE]
    return _split(lo, hi, grains)


def _split(lo: int, hi: int, grains: Sequence[int]) -> list[tuple[int, int, int]]:
    if lo >= hi:
        return []
    g, rest = grains[0], grains[1:]
    if not rest:
        return [(g, lo, hi)]
    a, b = -(-lo // g) * g, hi // g * g
    if a >= b:
        return _split(lo, hi, rest)
    return _split(lo, a, rest) + [(g, a, b)] + _split(b, hi, rest)


# ------------------------------------------------------------------- merged states


@dataclass(frozen=True)
class Filters:
    """Tenancy filters (exact matches, passed as parameters)."""

    consortium: str
    model: str | None = None
    model_version: str | None = None
    member: str | None = None
    site: str | None = None
    hub: str | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        conds, params = [], {}
        for name in ("consortium", "model", "model_version", "member", "site", "hub"):
            value = getattr(self, name)
            if value is not None:
                conds.append(f"{name} = {{f_{name}:String}}")
                params[f"f_{name}"] = value
        return " AND ".join(conds), params


@dataclass
class Merged:
    """One series × bucket: its key columns and the summed state."""

    bucket: int
    keys: dict[str, str]
    state: dict[str, Any]


def merged_states(
    backend: Backend,
    spec: KindSpec,
    filters: Filters,
    lo: int,
    hi: int,
    step: int | None,
    by: Sequence[str],
    extra_where: str = "",
) -> list[Merged]:
    """Sum a kind's stored states per (bucket, ``by``) over [lo, hi) in SQL."""
    by = list(by)
    where, params = filters.where()
    if extra_where:
        where = f"{where} AND {extra_where}"
    params["step"] = step or 1
    params["lo"] = lo
    bucket = (
        "{lo:Int64}"
        if step is None
        else ("intDiv(toInt64(toUnixTimestamp(window_start)), {step:Int64}) * {step:Int64}")
    )
    keys = [f"{bucket} AS bucket", *by]
    group = ["bucket", *by]
    parts = []
    for i, (grain, a, b) in enumerate(segments(lo, hi, step)):
        params[f"a{i}"], params[f"b{i}"] = a, b
        span = [
            f"window_start >= toDateTime({{a{i}:Int64}}, 'UTC')",
            f"window_start < toDateTime({{b{i}:Int64}}, 'UTC')",
        ]
        parts.append(summed_sql(spec, keys, group=group, where=[where, *span], grain=grain))
    sql = (
        summed_sql(spec, group, source=" UNION ALL ".join(parts)) + f" ORDER BY {', '.join(group)}"
    )
    out = []
    for row in backend.query(sql, params).to_pylist():
        found = {k: row[k] for k in by}
        out.append(Merged(int(row["bucket"]), found, columns_to_state(spec, row)))
    return out


# ---------------------------------------------------------------------- results


@dataclass
class QueryResult:
    """Rows of metrics (plain dicts) with a stable column order."""

    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


def _finish(rows: list[dict[str, Any]], lead: Sequence[str]) -> QueryResult:
    cols = list(lead)
    for row in rows:
        cols.extend(k for k in row if k not in cols)
    return QueryResult(cols, rows)


# ------------------------------------------------------------------------- drift


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


# ---------------------------------------------------------------------- accuracy


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


# ----------------------------------------------------------------------- latency


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


# ------------------------------------------------------------------------ energy


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


# -------------------------------------------------------------- resonance index


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


# ------------------------------------------------------------------------ helpers


def _range(start: Any, end: Any, step: str | int | None) -> tuple[int, int, int | None]:
    lo, hi = time_range(start, end)
    step_s = step if isinstance(step, int) else parse_step(step)
    if step_s is not None and (hi - lo) / step_s > 100_000:
        raise UsageError(f"--step too fine for the range: {math.ceil((hi - lo) / step_s)} buckets")
    return lo, hi, step_s


@dataclass(frozen=True)
class _Query:
    """What every metric query starts from: the tenancy filters, the time range and the step."""

    filters: Filters
    lo: int
    hi: int
    step: int | None

    @classmethod
    def of(
        cls,
        consortium: str,
        model: str | None,
        filters: Mapping[str, str | None],
        start: Any,
        end: Any,
        step: str | int | None,
    ) -> _Query:
        f = Filters(consortium, model, **filters)
        return cls(f, *_range(start, end, step))

    def merged(self, backend: Backend, kind: str, by: Sequence[str]) -> list[Merged]:
        return merged_states(backend, KINDS[kind], self.filters, self.lo, self.hi, self.step, by)


def _engine(cls: Any, m: Merged) -> Any:
    """The engine of a merged state (fields the stored state lacks keep their defaults)."""
    return rebuild(cls, m.state)


_BY = ("member", "site", "hub")


def _extra_by(by: Sequence[str]) -> list[str]:
    bad = [b for b in by if b not in _BY]
    if bad:
        raise UsageError(f"--by {bad[0]!r}: choose from {', '.join(_BY)}")
    return list(dict.fromkeys(by))


METRICS: dict[str, Callable[..., QueryResult]] = {
    "drift": drift,
    "accuracy": accuracy,
    "latency": latency,
    "energy": energy,
    "resonance": resonance,
}

__all__ = [
    *METRICS,
    "Filters",
    "QueryResult",
    "merged_states",
    "parse_step",
    "parse_time",
    "segments",
]


# ------------------------------------------------------ monthly report reads (issue 15)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_range(month: str) -> tuple[int, int]:
    """``YYYY-MM`` → [start, end) epoch seconds of that calendar month in UTC.

    >>> [_iso(t) for t in month_range("2026-12")]
    ['2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z']
    """
    match = _MONTH.match(month.strip()) if isinstance(month, str) else None
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1970:
        raise UsageError(f"--month {month!r}: use YYYY-MM, e.g. 2026-11")
    year, mon = int(match[1]), int(match[2])
    nxt = (year + 1, 1) if mon == 12 else (year, mon + 1)
    lo = datetime(year, mon, 1, tzinfo=UTC)
    return int(lo.timestamp()), int(datetime(*nxt, 1, tzinfo=UTC).timestamp())


def known_consortia(backend: Backend) -> list[str]:
    """Consortia with a stored reference profile or any stored volume, sorted."""
    table = backend.query(
        "SELECT DISTINCT consortium FROM ("
        " SELECT consortium FROM references"
        " UNION ALL SELECT consortium FROM scalars_day WHERE kind = 'volume'"
        " UNION ALL SELECT consortium FROM volume_minute"
        ") ORDER BY consortium"
    )
    return [r["consortium"] for r in table.to_pylist() if r["consortium"]]


def known_models(backend: Backend, consortium: str) -> list[str]:
    """Models of ``consortium`` with a stored reference profile or any stored volume."""
    table = backend.query(
        "SELECT DISTINCT model FROM ("
        " SELECT consortium, model FROM references"
        " UNION ALL SELECT consortium, model FROM scalars_day WHERE kind = 'volume'"
        " UNION ALL SELECT consortium, model FROM volume_minute"
        ") WHERE consortium = {c:String} ORDER BY model",
        {"c": consortium},
    )
    return [r["model"] for r in table.to_pylist() if r["model"]]


def volume(
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
    """Volume counters (processors.volume.VOLUME_FIELDS) per bucket, model and version."""
    from processors.volume import VOLUME_FIELDS

    q = _Query.of(consortium, model, filters, start, end, step)
    keys = ["model", "model_version", *_extra_by(by)]
    rows = []
    for m in q.merged(backend, "volume", keys):
        counts = {f: int(m.state.get(f) or 0) for f in VOLUME_FIELDS}
        rows.append({"bucket": _iso(m.bucket), **m.keys, **counts})
    return _finish(rows, ["bucket", *keys])


def late_volume(backend: Backend, consortium: str, lo: int, hi: int) -> QueryResult:
    """Volume counters of partials flagged late (past the allowed lateness), per model.

    Read from the minute table: the rollups sum late and on-time rows together.
    """
    from processors.volume import VOLUME_FIELDS

    where, params = Filters(consortium).where()
    span = [
        "late = 1",
        "window_start >= toDateTime({lo:Int64}, 'UTC')",
        "window_start < toDateTime({hi:Int64}, 'UTC')",
    ]
    keys = ["model", "model_version"]
    sql = summed_sql(KINDS["volume"], keys, where=[where, *span])
    table = backend.query(f"{sql} ORDER BY model, model_version", params | {"lo": lo, "hi": hi})
    rows = []
    for r in table.to_pylist():
        sums = dict(r["sums"] or [])
        counts = {f: int(sums.get(f) or 0) for f in VOLUME_FIELDS}
        rows.append({"model": r["model"], "model_version": r["model_version"], **counts})
    return _finish(rows, ["model", "model_version"])


def dlq_counts(backend: Backend, consortium: str, lo: int, hi: int) -> QueryResult:
    """Rejected records received in [lo, hi) by model, source topic and reason.

    DLQ rows carry no tenancy columns: the rejected message's own JSON names its
    consortium (as the dashboards' DLQ panels read it); a message too broken to
    name one belongs to no consortium's report. DLQ rows have no event time, so
    they are counted by when they were received.
    """
    table = backend.query(
        "SELECT JSONExtractString(raw, 'model') AS model, source_topic, reason, "
        "count() AS records FROM dlq FINAL "
        "WHERE JSONExtractString(raw, 'consortium') = {consortium:String} "
        "AND received_at >= toDateTime64({lo:Int64}, 3, 'UTC') "
        "AND received_at < toDateTime64({hi:Int64}, 3, 'UTC') "
        "GROUP BY model, source_topic, reason ORDER BY model, source_topic, reason",
        {"consortium": consortium, "lo": lo, "hi": hi},
    )
    return _finish(table.to_pylist(), ["model", "source_topic", "reason", "records"])


def hub_alternatives(
    backend: Backend, consortium: str, *, start: Any = None, end: Any = None
) -> QueryResult:
    """Per model, version and hub it ran at: kWh and gCO2e of the same IT energy at each
    national hub's grid factor and PUE (``actual`` marks the hub where it ran)."""
    from processors.energy import EnergyMeter

    q = _Query.of(consortium, None, {}, start, end, None)
    factors = hub_factors_table(backend)
    rows = []
    for m in q.merged(backend, "energy", ["model", "model_version", "hub"]):
        engine = _engine(EnergyMeter, m)
        for hub, (grid, pue) in sorted(factors.items()):
            result = engine.result(grid_gco2_per_kwh=grid, pue=pue)
            rows.append(
                {
                    "model": m.keys["model"],
                    "model_version": m.keys["model_version"],
                    "ran_at": m.keys["hub"],
                    "hub": hub,
                    "actual": hub == m.keys["hub"],
                    "grid_gco2_per_kwh": grid,
                    "pue": pue,
                    "it_kwh": result["it_kwh"],
                    "kwh": result["kwh"],
                    "gco2e": result["gco2e"],
                }
            )
    return _finish(rows, ["model", "model_version", "ran_at", "hub"])


def stored_alerts(backend: Backend, consortium: str, lo: int, hi: int) -> list[dict[str, Any]]:
    """The consortium's stored alerts active at some time in [lo, hi), oldest first.

    Read through ``warehouse.alert_queries.list_alerts``, the alert lifecycle's own
    read path.
    """
    from warehouse.alert_queries import list_alerts

    alerts = list_alerts(backend, consortium=consortium, state="all")
    out = []
    for a in alerts:
        started = parse_time(a["started_at"]) if a.get("started_at") else None
        resolved = parse_time(a["resolved_at"]) if a.get("resolved_at") else None
        if a.get("consortium") != consortium or started is None or started >= hi:
            continue
        if resolved is not None and resolved < lo:
            continue
        out.append(dict(a))
    return sorted(out, key=lambda a: (a["started_at"], a.get("model") or "", a.get("id") or ""))


__all__ += [
    "resonance_means",
    "dlq_counts",
    "hub_alternatives",
    "known_consortia",
    "known_models",
    "late_volume",
    "month_range",
    "stored_alerts",
    "volume",
]
