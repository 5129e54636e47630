"""``resonance report``: one consortium's month as HTML, PDF, CSV and Parquet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from errors import UsageError
from resonance.commands.db import add_backend_args, run_with_backend
from warehouse.backend import Backend

EPILOG = """\
The report covers one calendar month in UTC: summary per model, drift against the
reference, accuracy against the baseline, alerts, data quality, compute hubs and
provenance. summary.csv, drift.csv and accuracy.csv are a contract (docs/report.md);
the same data always gives byte-identical CSVs.

examples:
  resonance report --consortium steel --month 2026-11
  resonance report --consortium steel --month 2026-11 --out reports/steel --format html,csv
  resonance report --consortium steel --month 2026-11 --clickhouse-url http://localhost:8123
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="monthly report of one consortium (HTML, PDF, CSV, Parquet)",
        description="A consortium's month from stored partials and alerts, with charts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--consortium", required=True, metavar="C", help="consortium to report on")
    parser.add_argument("--month", required=True, metavar="YYYY-MM", help="UTC calendar month")
    parser.add_argument("--out", metavar="DIR", help="output directory (default report-C-MONTH)")
    parser.add_argument(
        "--format", default="html,pdf,csv,parquet", metavar="F,…", help="default: all four"
    )
    add_backend_args(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from resonance.report import build_report, parse_formats
    from resonance.report.build import check_out_dir
    from warehouse.queries import month_range

    month_range(args.month)  # bad input fails before opening the warehouse
    formats = parse_formats(args.format)
    out = check_out_dir(args.out or f"report-{args.consortium}-{args.month}")
    if args.data_dir and not Path(args.data_dir, "clickhouse").is_dir():
        raise UsageError(f"--data-dir {args.data_dir}: no warehouse there (resonance db migrate)")

    def work(backend: Backend) -> int:
        written = build_report(backend, args.consortium, args.month, out, formats)
        for fmt, paths in written.items():
            print(f"{fmt}: {', '.join(str(p) for p in paths) if fmt in ('html', 'pdf') else out}")
        print(f"report written to {out}", file=sys.stderr)
        return 0

    return run_with_backend(args, work)
