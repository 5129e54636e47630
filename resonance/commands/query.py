"""``resonance query``: metrics over any time range and step, from merged partials."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from typing import Any

from errors import UsageError
from resonance.commands.db import add_backend_args, run_with_backend
from warehouse.backend import Backend

METRICS = ("drift", "accuracy", "latency", "energy", "resonance", "estimated")

EPILOG = """\
Times: ISO-8601 (2026-11-29T10:00Z), epoch seconds or ms, now, now-7d (units s m h d w).
Default range: the last 24 h. --step 1m|1h|1d (or <N>m/<N>h/<N>d) buckets the range;
without it the whole range is one bucket (a month is read from the daily rollup).
An unknown consortium or model is an error that lists the known ones (exit 2).
CSV and table columns come in one fixed order per metric, whatever the rows hold.

examples:
  resonance query drift --consortium steel --model strip-defect --from now-30d
  resonance query accuracy --consortium steel --from 2026-11-01 --to 2026-12-01 --step 1d
  resonance query energy --consortium steel --format csv > energy.csv
  resonance query resonance --consortium steel --step 1h --format json
  resonance query estimated --consortium steel --model strip-defect --step 1h

`query estimated` gives a classifier's estimated accuracy and ROC AUC before the labels
arrive (confidence-based performance estimation from its calibrated scores, for models
registered with a calibration), beside the realised values once they do
(docs/estimation.md). It takes --model, --from, --to and --step only.

`query resonance` reads the policy's stored window verdicts and alerts (the same
decisions the console, Grafana and `resonance alerts` show); it decides nothing itself.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query",
        help="drift / accuracy / latency / energy / resonance / estimated over a time range",
        description="Metrics over any time range and step, merged from stored partials.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("metric", choices=METRICS, help="what to compute")
    parser.add_argument("--consortium", required=True, metavar="C", help="consortium")
    parser.add_argument("--model", metavar="M", help="only this model")
    parser.add_argument("--model-version", metavar="V", help="only this model version")
    parser.add_argument("--member", metavar="M", help="only this member company")
    parser.add_argument("--site", metavar="S", help="only this site")
    parser.add_argument("--hub", metavar="H", help="only this hub")
    parser.add_argument("--from", dest="start", metavar="T", help="range start (default now-1d)")
    parser.add_argument("--to", dest="end", metavar="T", help="range end, exclusive (default now)")
    parser.add_argument("--step", metavar="S", help="bucket: 1m, 1h, 1d ... (default: whole range)")
    parser.add_argument(
        "--by",
        metavar="a,b",
        help="also split by member, site and/or hub (not for resonance)",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="output (default: table)",
    )
    from resonance.commands.policy import add_policy_arg

    add_policy_arg(parser)  # the drift verdict's rules (query drift)
    add_backend_args(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from warehouse import queries

    if args.metric == "estimated":
        return _run_estimated(args)
    fn = queries.METRICS[args.metric]
    kwargs: dict[str, Any] = dict(
        model=args.model,
        start=args.start,
        end=args.end,
        step=args.step,
        model_version=args.model_version,
        member=args.member,
        site=args.site,
        hub=args.hub,
    )
    if args.by and args.metric == "resonance":
        raise UsageError("--by: not for `query resonance` (the index is decided per model)")
    if args.by:
        kwargs["by"] = [b.strip() for b in args.by.split(",") if b.strip()]
    if args.metric == "drift":
        from processors.policy import Policy
        from resonance.commands.policy import load_policy

        kwargs["policy"] = Policy(load_policy(args.policy))
    queries.time_range(args.start, args.end)  # bad input fails before opening the warehouse
    queries.parse_step(args.step)

    def work(backend: Backend) -> int:
        check_names(backend, args.consortium, args.model)
        result = fn(backend, args.consortium, **kwargs)
        columns = ordered_columns(args.metric, result.columns)
        sys.stdout.write(render(columns, result.rows, args.format))
        if not result.rows:
            print("no rows for this filter and range", file=sys.stderr)
        return 0

    return run_with_backend(args, work)


def _run_estimated(args: argparse.Namespace) -> int:
    from warehouse import estimation_queries, queries

    for flag in ("model_version", "member", "site", "hub", "by"):
        if getattr(args, flag):
            raise UsageError(f"--{flag.replace('_', '-')}: query estimated takes --model only")
    queries.time_range(args.start, args.end)  # bad input fails before opening the warehouse
    queries.parse_step(args.step)

    def work(backend: Backend) -> int:
        check_names(backend, args.consortium, args.model)
        rows = estimation_queries.estimated_series(
            backend, args.consortium, args.model, args.start, args.end, args.step
        )
        sys.stdout.write(render(list(estimation_queries.COLUMNS), rows, args.format))
        if not rows:
            print("no rows for this filter and range", file=sys.stderr)
        return 0

    return run_with_backend(args, work)


def check_names(backend: Backend, consortium: str, model: str | None) -> None:
    """A mistyped consortium or model is an error naming the known ones, not "no rows"."""
    from warehouse.queries import known_consortia, known_models

    consortia = known_consortia(backend)
    if consortium not in consortia:
        raise UsageError(
            f"--consortium {consortium}: unknown; known: {', '.join(consortia) or 'none yet'}"
        )
    if model is not None:
        models = known_models(backend, consortium)
        if model not in models:
            raise UsageError(
                f"--model {model}: unknown in {consortium}; known: {', '.join(models) or 'none'}"
            )


TENANCY = ("member", "site", "hub")
"""Columns present only with ``--by`` (or, for energy, always: its key has the hub)."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "drift": (
        "bucket", "model", "model_version", *TENANCY, "feature", "kind", "n", "n_missing",
        "missing_rate", "drift", "psi", "js", "ks", "ks_error_bound", "ks_pvalue",
        "wasserstein", "out_of_range_rate", "chi2_pvalue", "other_rate", "error",
    ),
    "accuracy": (
        "bucket", "model", "model_version", *TENANCY, "task", "n", "accuracy", "precision",
        "recall", "f1", "macro_f1", "roc_auc", "roc_auc_tie_bound", "ece", "mae", "rmse",
        "mape", "mape_n", "bias", "error",
    ),
    "latency": (
        "bucket", "model", "model_version", *TENANCY, "p50", "p95", "p99", "mean", "max",
        "count",
    ),
    "energy": (
        "bucket", "model", "model_version", *TENANCY, "joules", "inferences", "readings",
        "duration_s", "it_kwh", "facility_kwh", "kwh", "j_per_inference", "avg_power_w",
        "gco2e", "pue",
    ),
    "resonance": (
        "bucket", "model", "resonance_index", "data_fit", "model_quality", "service_health",
        "drift_detected", "windows",
    ),
}  # fmt: skip
"""Output columns per metric, in order: every one always (empty where a row has none)."""


def ordered_columns(metric: str, found: list[str]) -> list[str]:
    """The metric's fixed columns (tenancy ones only when the query has them), then any
    column the table does not know yet, sorted.

    >>> ordered_columns("latency", ["bucket", "model", "model_version", "count", "p50"])
    ['bucket', 'model', 'model_version', 'p50', 'p95', 'p99', 'mean', 'max', 'count']
    >>> ordered_columns("latency", ["bucket", "site", "zz"])[:4], ordered_columns("latency", ["zz"])[-1]
    (['bucket', 'model', 'model_version', 'site'], 'zz')
    """  # noqa: E501
    fixed = [c for c in COLUMNS[metric] if c not in TENANCY or c in found]
    return fixed + sorted(set(found) - set(fixed))


def render(columns: list[str], rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as an aligned table, a JSON array or CSV (header included)."""
    if fmt == "json":
        return json.dumps([_jsonable(r) for r in rows], indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
        return buf.getvalue()
    cells = [[_cell(row.get(k)) for k in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()
    }
