"""``resonance sink``: consume partials, alerts and DLQ records into the warehouse."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from typing import Any, TextIO

from processors.policy import Policy
from resonance.commands.db import add_backend_args, run_with_backend
from resonance.commands.policy import add_policy_arg, load_policy
from warehouse.backend import Backend

EPILOG = """\
Idempotent: replays and repeated cumulative partials are stored once (deltas per key),
offsets are committed only after ClickHouse has the batch, and while ClickHouse is down
the sink keeps its offsets and retries with backoff. Run `resonance db migrate` first;
an embedded --data-dir that does not exist yet is created (the only command besides
`db migrate` that does).
After each stored batch it evaluates the monitoring policy (--policy, `resonance policy
show`) on the windows that closed, stores the verdicts and alert transitions and
publishes the transitions to the `alerts` topic. Window and lateness: the workers'
settings (RESONANCE_WINDOW_S, RESONANCE_ALLOWED_LATENESS_S).

examples:
  resonance sink --bootstrap localhost:9092
  resonance sink --bootstrap kafka:9092 --clickhouse-url http://app:app@clickhouse:8123
"""


class Progress:
    """Running totals on stderr: redrawn in place (``\\r``) on a terminal, else one
    newline-terminated line every ``every_s`` seconds, so log files stay readable.

    >>> import io
    >>> out = io.StringIO()
    >>> p = Progress(out, every_s=0.0)
    >>> p(type("Stats", (), {"inserted": 3, "skipped": 1})(), 4); p.done()
    >>> out.getvalue()
    'sink: 4 records, 3 deltas stored, 1 duplicates skipped\\n'
    """

    def __init__(self, stream: TextIO, every_s: float = 10.0) -> None:
        self.stream, self.every_s = stream, every_s
        self.tty = stream.isatty()
        self.totals = {"records": 0, "inserted": 0, "skipped": 0}
        self.last = time.monotonic()
        self.pending = False

    def __call__(self, stats: Any, records: int) -> None:
        self.totals["records"] += records
        self.totals["inserted"] += stats.inserted
        self.totals["skipped"] += stats.skipped
        self.pending = True
        if self.tty or time.monotonic() - self.last >= self.every_s:
            self._line()

    def _line(self) -> None:
        t = self.totals
        text = (
            f"sink: {t['records']} records, {t['inserted']} deltas stored, "
            f"{t['skipped']} duplicates skipped"
        )
        if self.tty:
            print(f"\r{text}", end="", file=self.stream, flush=True)
        else:
            print(text, file=self.stream, flush=True)
        self.last, self.pending = time.monotonic(), False

    def done(self) -> None:
        """The final totals, newline-terminated."""
        if self.pending:
            self._line()
        if self.tty:
            print(file=self.stream)


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
    parser.add_argument(
        "--group",
        default="resonance-sink",
        metavar="G",
        help="consumer group; sinks in one group share the partitions (default: resonance-sink)",
    )
    parser.add_argument(
        "--batch-records",
        type=int,
        default=5_000,
        metavar="N",
        help="store a batch once it holds this many records (default: 5000)",
    )
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=1.0,
        metavar="S",
        help="... or once its oldest record waited this long (default: 1.0)",
    )
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
    from warehouse.settings import WarehouseSettings
    from warehouse.sink import PartialWriter, SinkConfig, run_sink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.bootstrap = load_settings(args.bootstrap).kafka_bootstrap
    warehouse = WarehouseSettings()
    config = SinkConfig(
        bootstrap=args.bootstrap,
        group_id=args.group,
        max_records=args.batch_records,
        max_seconds=args.batch_seconds,
        fence_wait_s=warehouse.sink_fence_wait_s,
        cluster=warehouse.clickhouse_cluster,
    )

    policy = Policy(load_policy(args.policy))

    def work(backend: Backend) -> int:
        from streams.settings import StreamSettings
        from warehouse.evaluator import Evaluator, KafkaPublisher
        from warehouse.migrate import minute_ttl_days

        writer = PartialWriter(backend, warehouse.sink_ledger_keys,
                               retention_days=minute_ttl_days(backend))  # fmt: skip
        stream = StreamSettings()
        evaluator = None if args.no_evaluate else Evaluator(
            backend, policy, window_s=stream.window_s, lateness_s=stream.allowed_lateness_s,
            publish=KafkaPublisher(args.bootstrap), fault_point=stream.fault_point,
        )  # fmt: skip
        progress = Progress(sys.stderr)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_sink(writer, config, stop, on_flush=progress, evaluator=evaluator)

        asyncio.run(main())
        progress.done()
        return 0

    return run_with_backend(args, work, create=True)  # a new --data-dir is created
