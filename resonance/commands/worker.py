"""``resonance worker``: run the streaming worker (Faust) that turns events into partials."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "worker",
        help="run a streaming worker: input topics -> partials (+ dlq)",
        description="Start one worker of the consumer group; run several to share partitions. "
        "Every setting also reads RESONANCE_* environment variables (docs/streaming.md).",
    )
    p.add_argument("--bootstrap", help="host:port[,...] (default: RESONANCE_KAFKA_BOOTSTRAP)")
    p.add_argument(
        "--references",
        help="import profiles from references/<consortium>/<model>-<version>.json at start-up "
        "(default: RESONANCE_REFERENCES_DIR); models come from the registry topic `models`",
    )
    p.add_argument("--window", type=float, help="tumbling window seconds (default 60)")
    p.add_argument("--lateness", type=float, help="allowed lateness seconds (default 120)")
    p.add_argument("--group", help="consumer group / Faust app id (default resonance-worker)")
    p.add_argument(
        "--consortium",
        help="topic prefix mode: read <consortium>.telemetry etc. and refuse other consortia's "
        "events (default: RESONANCE_TOPIC_CONSORTIUM; group resonance-worker.<consortium>)",
    )
    p.add_argument("--loglevel", default="warning", help="worker log level (default warning)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from errors import UsageError
    from streams.events import TENANCY_PATTERN
    from streams.settings import load_settings
    from streams.worker import run_worker

    if args.consortium is not None and not TENANCY_PATTERN.fullmatch(args.consortium):
        raise UsageError(f"--consortium {args.consortium!r}: must match {TENANCY_PATTERN.pattern}")
    group = args.group or (f"resonance-worker.{args.consortium}" if args.consortium else None)
    settings = load_settings(
        args.bootstrap,
        references_dir=Path(args.references) if args.references else None,
        window_s=args.window,
        allowed_lateness_s=args.lateness,
        app_id=group,
        topic_consortium=args.consortium,
    )
    if args.references and not Path(args.references).is_dir():
        raise UsageError(f"--references {args.references}: not a directory")
    return run_worker(settings, loglevel=args.loglevel)
