"""``resonance sink``: consume partials, alerts and DLQ records into the warehouse."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from resonance.commands.db import add_backend_args, run_with_backend
from warehouse.backend import Backend

EPILOG = """\
Idempotent: replays and repeated cumulative partials are stored once (deltas per key),
offsets are committed only after ClickHouse has the batch, and while ClickHouse is down
the sink keeps its offsets and retries with backoff. Run `resonance db migrate` first.

examples:
  resonance sink --bootstrap localhost:9092
  resonance sink --bootstrap kafka:9092 --clickhouse-url http://app:app@clickhouse:8123
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sink",
        help="write partials / alerts / DLQ / delivery records from Kafka to the warehouse",
        description="Kafka → ClickHouse sink (partials, alerts, dlq, deliveries).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bootstrap", default="localhost:9092", metavar="B", help="Kafka brokers")
    parser.add_argument("--group", default="resonance-sink", metavar="G", help="consumer group")
    parser.add_argument("--batch-records", type=int, default=5_000, metavar="N")
    parser.add_argument("--batch-seconds", type=float, default=1.0, metavar="S")
    add_backend_args(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from warehouse.sink import PartialWriter, SinkConfig, run_sink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SinkConfig(
        bootstrap=args.bootstrap,
        group_id=args.group,
        max_records=args.batch_records,
        max_seconds=args.batch_seconds,
    )

    def work(backend: Backend) -> int:
        from warehouse.migrate import minute_ttl_days

        writer = PartialWriter(backend, retention_days=minute_ttl_days(backend))
        totals = {"records": 0, "inserted": 0, "skipped": 0}

        def progress(stats, records: int) -> None:
            totals["records"] += records
            totals["inserted"] += stats.inserted
            totals["skipped"] += stats.skipped
            print(
                f"\rsink: {totals['records']} records, {totals['inserted']} deltas stored, "
                f"{totals['skipped']} duplicates skipped",
                end="",
                file=sys.stderr,
            )

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_sink(writer, config, stop, on_flush=progress)

        asyncio.run(main())
        print(file=sys.stderr)
        return 0

    return run_with_backend(args, work)
