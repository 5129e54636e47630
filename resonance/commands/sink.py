"""``resonance sink``: consume partials, alerts and DLQ records into the warehouse."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from processors.policy import Policy
from resonance.commands.db import add_backend_args, run_with_backend
from resonance.commands.policy import add_policy_arg, load_policy
from warehouse.backend import Backend

EPILOG = """\
Idempotent: replays and repeated cumulative partials are stored once (deltas per key),
offsets are committed only after ClickHouse has the batch, and while ClickHouse is down
the sink keeps its offsets and retries with backoff. Run `resonance db migrate` first.
After each stored batch it evaluates the monitoring policy (--policy, `resonance policy
show`) on the windows that closed, stores the verdicts and alert transitions and
publishes the transitions to the `alerts` topic. Window and lateness: the workers'
settings (RESONANCE_WINDOW_S, RESONANCE_ALLOWED_LATENESS_S).

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
    parser.add_argument(
        "--bootstrap", metavar="B", help="Kafka brokers (default: RESONANCE_KAFKA_BOOTSTRAP)"
    )
    parser.add_argument("--group", default="resonance-sink", metavar="G", help="consumer group")
    parser.add_argument("--batch-records", type=int, default=5_000, metavar="N")
    parser.add_argument("--batch-seconds", type=float, default=1.0, metavar="S")
    parser.add_argument(
        "--no-evaluate",
        action="store_true",
        help="store only; do not evaluate the policy on closed windows",
    )
    add_policy_arg(parser)
    add_backend_args(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from streams.settings import load_settings
    from warehouse.sink import PartialWriter, SinkConfig, run_sink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.bootstrap = load_settings(args.bootstrap).kafka_bootstrap
    config = SinkConfig(
        bootstrap=args.bootstrap,
        group_id=args.group,
        max_records=args.batch_records,
        max_seconds=args.batch_seconds,
    )

    policy = Policy(load_policy(args.policy))

    def work(backend: Backend) -> int:
        from streams.settings import StreamSettings
        from warehouse.evaluator import Evaluator, KafkaPublisher
        from warehouse.migrate import minute_ttl_days

        writer = PartialWriter(backend, retention_days=minute_ttl_days(backend))
        stream = StreamSettings()
        evaluator = None if args.no_evaluate else Evaluator(
            backend, policy, window_s=stream.window_s, lateness_s=stream.allowed_lateness_s,
            publish=KafkaPublisher(args.bootstrap), fault_point=stream.fault_point,
        )  # fmt: skip
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
            await run_sink(writer, config, stop, on_flush=progress, evaluator=evaluator)

        asyncio.run(main())
        print(file=sys.stderr)
        return 0

    return run_with_backend(args, work)
