"""Report benchmark: a month of 1-minute partials for 50 models x 20 features, then
``resonance report`` on it (every format), timed with its peak memory.

The month is generated inside chDB by ``INSERT ... SELECT FROM numbers()``, one day per
statement, so no row passes through Python and memory stays bounded: drift histograms
(Poisson-like counts around the reference's bin shares; every tenth model drifts on one
feature in the second half of the month), classification or regression sums, latency
buckets, energy and volume counters for every model and minute. The materialized views
keep the hour and day rollups during the load, as they do behind the sink. A few alerts
and DLQ records are stored too (in a process of its own). The report then runs as the
CLI in a subprocess, so ``peak_rss_mb`` is the report process alone (chDB included), and
``report_cpu_s`` its CPU time (the wall time on a shared, loaded machine is longer).

    .venv/bin/python benchmarks/report.py --json [--models 50 --features 20 --days 30]

Prints ``{"report_s", "peak_rss_mb"}`` plus the load figures. Target: < 30 s, < 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

CONSORTIUM = "bench"
MONTH = "2026-11"
PER_MINUTE = 600  # samples per model, feature and minute
HUBS = ("guizhou", "yangtze-river-delta", "ningxia", "beijing-tianjin-hebei", "gansu")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def profiles(models: int, features: int, bins: int) -> list:
    from processors.reference import fit_reference

    rng = np.random.default_rng(0)
    columns = {f"f{j:02d}": rng.normal(j, 1 + j / 10, 20_000) for j in range(features)}
    base = fit_reference(columns, model="m00", version="1", n_bins=bins)
    return [
        type(base)(f"m{i:02d}", "1", base.features, base.n_bins, base.top_k) for i in range(models)
    ]


def _arr(values) -> str:
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def _tenancy(models: int) -> str:
    """SQL columns of one model index ``m`` (0-based): tenancy and a hub per model."""
    hubs = "[" + ",".join(f"'{h}'" for h in HUBS) + "]"
    return (
        f"'{CONSORTIUM}' AS consortium, 'member-' || toString(m % 5) AS member, "
        "'m' || leftPad(toString(m), 2, '0') AS model, '1' AS model_version, "
        f"'site-' || toString(m) AS site, {hubs}[m % {len(HUBS)} + 1] AS hub"
    )


def load_day(backend, day: int, lo: int, profs, features: int, days: int) -> int:
    """One day of every kind's minute rows, generated in SQL."""
    models = len(profs)
    feat = next(iter(profs[0].features.values()))
    ref = np.asarray(feat.counts, np.float64)
    shares = np.maximum(ref / ref.sum(), 1e-4)
    mids = np.asarray(feat.sums) / np.maximum(ref, 1)
    ramp = np.linspace(0.2, 1.8, shares.size)
    drifted = shares * ramp / (shares * ramp).sum()
    start = lo + day * 86_400
    late_half = int(day >= days // 2)
    n = models * features * 1440
    params = {"start": start}
    drift_sql = f"""
    INSERT INTO drift_minute (consortium, member, model, model_version, site, hub, feature,
        kind, window_start, late, counts, sums, n_missing, key, version, final)
    SELECT {_tenancy(models)}, 'f' || leftPad(toString(f), 2, '0') AS feature, 'numeric',
        toDateTime({{start:Int64}} + minute * 60, 'UTC'), 0, c,
        arrayMap((x, mid) -> x * mid, c, {_arr(mids)}), toInt64(randPoisson(2)),
        'k' || toString(number), 1, 1
    FROM (
        SELECT number, intDiv(number, {features * 1440}) AS m,
            intDiv(number, 1440) % {features} AS f, number % 1440 AS minute,
            if(m % 10 = 0 AND f = 0 AND {late_half} = 1, {_arr(drifted)}, {_arr(shares)}) AS p,
            arrayMap(mu -> toInt64(greatest(0, round(mu + sqrt(mu)
                * sqrt(-2 * log(randCanonical(mu) + 1e-12))
                * cos(2 * pi() * randCanonical(-mu))))),
                arrayMap(s -> s * {PER_MINUTE}, p)) AS c
        FROM numbers({n})
    )"""
    backend.command(drift_sql, params)
    per_model = f"""
    FROM (SELECT number, intDiv(number, 1440) AS m, number % 1440 AS minute
          FROM numbers({models * 1440}))"""
    window = "toDateTime({start:Int64} + minute * 60, 'UTC')"
    common = "'k' || toString(number), 1, 1"
    backend.command(
        f"""INSERT INTO classification_minute (consortium, member, model, model_version, site,
            hub, classes, window_start, late, confusion, score_counts, score_sums, key,
            version, final)
        SELECT {_tenancy(models)}, '["ok","defect"]', {window}, 0,
            [toInt64(randPoisson(500)), toInt64(randPoisson(20)), toInt64(randPoisson(30)),
             toInt64(randPoisson(50))], CAST([], 'Array(Int64)'), CAST([], 'Array(Float64)'),
            {common} {per_model} WHERE m % 2 = 0""",
        params,
    )
    backend.command(
        f"""INSERT INTO regression_minute (consortium, member, model, model_version, site, hub,
            window_start, late, sums, key, version, final)
        SELECT {_tenancy(models)}, {window}, 0,
            map('n', 600, 'sum_error', randNormal(0, 30), 'sum_abs_error', 600 * 2.5 + randNormal(0, 20),
                'sum_sq_error', 600 * 9.0 + randNormal(0, 50), 'sum_ape', 600 * 0.01, 'n_nonzero', 600),
            {common} {per_model} WHERE m % 2 = 1""",  # noqa: E501
        params,
    )
    from processors.latency import LatencyHistogram

    lat = LatencyHistogram().update(np.random.default_rng(day).lognormal(3.2, 0.35, 600))
    lat_counts = "[" + ",".join(str(c) for c in lat.to_dict()["counts"]) + "]"
    backend.command(
        f"""INSERT INTO latency_minute (consortium, member, model, model_version, site, hub,
            window_start, late, buckets, sums, key, version, final)
        SELECT {_tenancy(models)}, {window}, 0, {lat_counts},
            map('sum_ms', {lat.to_dict()["sum_ms"]!r}), {common} {per_model}""",
        params,
    )
    backend.command(
        f"""INSERT INTO energy_minute (consortium, member, model, model_version, site, hub,
            window_start, late, sums, key, version, final)
        SELECT {_tenancy(models)}, {window}, 0,
            map('joules', 600 * (0.5 + (m % 7) / 5) * (1 + randNormal(0, 0.05)),
                'inferences', 600, 'duration_s', 60, 'readings', 6), {common} {per_model}""",
        params,
    )
    backend.command(
        f"""INSERT INTO volume_minute (consortium, member, model, model_version, site, hub,
            source_topic, window_start, late, sums, key, version, final)
        SELECT {_tenancy(models)}, 'predictions', {window}, toUInt8(minute % 720 = 0),
            map('telemetry_samples', 600, 'predictions', 600, 'prediction_errors', 1,
                'outcomes_matched', 580, 'outcomes_unmatched', minute % 97 = 0),
            {common} {per_model}""",
        params,
    )
    backend.command(  # the policy's stored window verdicts, as the workers write them
        f"""INSERT INTO verdicts (consortium, model, model_version, window_start, drift_share,
            data_fit, model_quality, service_health, resonance_index, drifting, features,
            conditions, policy_version, evaluated_at)
        SELECT consortium, model, model_version, window_start, 1 - fit, fit, 0.93, 0.998,
            100 * (0.4 * fit + 0.4 * 0.93 + 0.2 * 0.998), if(fit < 1, ['f00'], []), '{{}}',
            '{{}}', 'bench', now64(3)
        FROM (SELECT {_tenancy(models)}, {window} AS window_start,
                     if(m % 10 = 0 AND {late_half} = 1, 0.95, 1.0) AS fit {per_model})""",
        params,
    )
    return n + 6 * models * 1440


def extras(backend, profs, lo: int) -> None:
    """References, a few alerts (resonance.alert/1 records) and DLQ rows."""
    from warehouse.alert_store import store_transitions
    from warehouse.references import store_reference
    from warehouse.sink import dlq_rows
    from warehouse.states import iso

    for i, p in enumerate(profs):
        baseline = {"accuracy": 0.9} if i % 2 == 0 else {"mae": 2.6}
        store_reference(backend, CONSORTIUM, p, baseline=baseline)
    alerts = []
    for i, p in enumerate(profs[::10]):
        start = iso(lo + (15 + i) * 86_400)
        end = iso(lo + (15 + i) * 86_400 + 7200)
        resolved = i % 2 == 1
        alerts.append(
            {
                "schema": "resonance.alert/1",
                "id": f"bench-{p.model}",
                "transition": "resolved" if resolved else "firing",
                "state": "resolved" if resolved else "firing",
                "consortium": CONSORTIUM,
                "model": p.model,
                "model_version": "1",
                "rule": "feature_drift",
                "severity": "critical",
                "started_at": start,
                "resolved_at": end if resolved else None,
                "window_start": start,
                "emitted_at": end if resolved else start,
                "value": 0.05,
                "threshold": 0.02,
                "features": [{"feature": "f00", "kind": "numeric", "statistic": "psi"}],
                "policy_version": "bench",
                "seq": 1,
            }
        )
    store_transitions(backend, alerts)
    raw = json.dumps({"consortium": CONSORTIUM, "model": "m00", "ts": "bad"}).encode()
    dlq = [
        (
            {"reason": "bad ts", "field": "ts", "source": {"topic": "telemetry", "offset": k},
             "received_at": (lo + k * 3600) * 1000},
            raw,
        )
        for k in range(50)
    ]  # fmt: skip
    for rec, raw_bytes in dlq:
        import base64

        rec["raw"] = base64.b64encode(raw_bytes).decode()
    backend.insert_arrow("dlq", dlq_rows(dlq))


def load(models: int, features: int, days: int, bins: int, data_dir: Path) -> dict:
    """Fill ``data_dir`` with the month (run in its own process: chDB's load memory must
    not count as the report's)."""
    from warehouse.backend import ChdbBackend
    from warehouse.migrate import migrate
    from warehouse.queries import month_range

    lo, _hi = month_range(MONTH)
    backend = ChdbBackend(data_dir)
    try:
        migrate(backend, minute_ttl_days=0, dlq_ttl_days=0, log=log)
        profs = profiles(models, features, bins)
        start, rows = time.perf_counter(), 0
        for day in range(days):
            rows += load_day(backend, day, lo, profs, features, days)
            log(f"day {day + 1}/{days}: {rows:,} rows ({time.perf_counter() - start:.0f} s)")
        load_s = time.perf_counter() - start
        extras(backend, profs, lo)
    finally:
        backend.close()
    return {"rows": rows, "load_s": round(load_s, 1)}


def report(data_dir: Path, out: Path) -> dict:
    """``resonance report`` as a subprocess: its wall time, CPU time and peak RSS alone."""
    cmd = [sys.executable, "-m", "resonance.cli", "report", "--consortium", CONSORTIUM]
    cmd += ["--month", MONTH, "--data-dir", str(data_dir), "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    report_s = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"resonance report failed ({status})")
    return {
        "report_s": round(report_s, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "report_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "load_average_1m": round(os.getloadavg()[0], 1),  # wall time on a shared machine
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--days", type=int, default=30, help="days of the month to fill")
    parser.add_argument("--bins", type=int, default=20, help="reference quantile bins")
    parser.add_argument("--out", type=Path, help="keep the report here (default: tmp)")
    parser.add_argument("--data-dir", type=Path, help="keep the warehouse here (default: tmp)")
    parser.add_argument("--reuse", action="store_true", help="report on --data-dir as it is")
    parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    size = {"models": args.models, "features": args.features, "days": args.days}
    if args.load_only:
        print(json.dumps(load(args.models, args.features, args.days, args.bins, args.data_dir)))
        return 0
    with tempfile.TemporaryDirectory(prefix="resonance-report-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "chdb"
        figures: dict = {}
        if not args.reuse:
            cmd = [sys.executable, __file__, "--load-only", "--data-dir", str(data_dir)]
            cmd += [f"--{k}={v}" for k, v in size.items()] + [f"--bins={args.bins}"]
            loaded = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
            figures |= json.loads(loaded.stdout)
        out = args.out or Path(tmp) / "report"
        figures = report(data_dir, out) | figures | size | {"bins": args.bins + 1}
        figures["files"] = len(list(out.iterdir()))
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
