"""``resonance topics create|list``: idempotent topic creation against any Kafka >= 3."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("topics", help="create or list Resonance's Kafka topics")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create missing topics (idempotent)")
    create.add_argument("--bootstrap", help="host:port[,...] (default: RESONANCE_KAFKA_BOOTSTRAP)")
    create.add_argument(
        "--partitions", type=int, help="partitions per topic (default: RESONANCE_PARTITIONS or 6)"
    )
    create.add_argument(
        "--consortium",
        action="append",
        default=[],
        help="also create <consortium>.telemetry, .predictions, .outcomes, .energy (topic "
        "prefix mode, docs/production.md); repeatable",
    )
    create.set_defaults(func=run_create)
    listing = sub.add_parser("list", help="print topics and their partition counts")
    listing.add_argument("--bootstrap", help="host:port[,...] (default: RESONANCE_KAFKA_BOOTSTRAP)")
    listing.set_defaults(func=run_list)


def run_create(args: argparse.Namespace) -> int:
    from errors import UsageError
    from streams.events import TENANCY_PATTERN
    from streams.settings import load_settings
    from streams.topics import create_topics

    if args.partitions is not None and args.partitions < 1:
        raise UsageError("--partitions must be >= 1")
    for c in args.consortium:
        if not TENANCY_PATTERN.fullmatch(c):
            raise UsageError(f"--consortium {c!r}: must match {TENANCY_PATTERN.pattern}")
    settings = load_settings(args.bootstrap)
    try:
        status = create_topics(settings, args.partitions, tuple(args.consortium))
    except Exception as exc:
        print(f"resonance topics: error: {settings.kafka_bootstrap}: {exc}", file=sys.stderr)
        return 1
    for name, what in status.items():
        print(f"{name}\t{what}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from streams.settings import load_settings
    from streams.topics import topic_partitions

    settings = load_settings(args.bootstrap)
    for name, n in sorted(topic_partitions(settings).items()):
        print(f"{name}\t{n}")
    return 0
