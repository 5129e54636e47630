"""``resonance simulate``: realistic, deterministic industrial AI event streams."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from errors import UsageError
from processors.alert_lifecycle import iso
from resonance.io import parse_name_list
from simulator.catalogue import CONSORTIA, MODELS_BY_NAME
from simulator.durations import parse_duration
from simulator.references import DEFAULT_SAMPLES, write_references
from simulator.runner import Simulator
from simulator.scenario import load_scenario
from simulator.sinks import JsonlSink, KafkaSink, Sink

MAX_BATCH = 5000  # ~100 bytes per sample and topic: a batch stays well under 1 MiB

EPILOG = """\
--rate is samples per second of event time PER MODEL (12 models by default).
Each sample is one telemetry event and one prediction; outcomes follow after the
model's label delay (dropped when observed after the end of the run, unless
--flush-outcomes), and each model reports energy every few seconds of event time.
Every topic is keyed by the model; --batch-size 1 sends single events.

Without --start the run starts now and is paced in real time. With a --start in
the past (ISO time, or "-30d") history is replayed as fast as possible, then the
run continues in real time if it reaches the present.

examples:
  resonance simulate --out-dir sim --duration 10m --rate 5 --summary-json sim/summary.json
  resonance simulate --bootstrap 127.0.0.1:9092 --start=-30d --duration 30d --rate 0.2
  resonance simulate --bootstrap 127.0.0.1:9092 --scenario showcase --consortia steel,automotive
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="produce realistic industrial AI event streams",
        description="Simulated plants and model servers: telemetry, predictions, outcomes and "
        "energy for 4 consortia and 12 models, with injected drift (see docs/simulator.md).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--bootstrap", metavar="HOST:PORT", help="produce to this Kafka broker")
    out.add_argument("--out-dir", metavar="DIR", help="write <topic>.jsonl files instead")
    p.add_argument("--rate", type=float, default=10.0, help="samples/s per model (default 10)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=100,
        help="samples per columnar batch message; 1 = single events (default 100)",
    )
    p.add_argument("--duration", default="60", help="event time to cover: seconds or 10m/2h/30d")
    p.add_argument("--start", help="event-time start (ISO, or -30d); default now, real time")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--scenario", default="default", help="YAML file, or a bundled one: default, showcase, none"
    )
    p.add_argument("--consortia", metavar="a,b", help="only these consortia")
    p.add_argument("--models", metavar="a,b", help="only these models")
    p.add_argument(
        "--references-out",
        metavar="DIR",
        help="write reference profiles to DIR/<consortium>/<model>-<version>.json "
        "(default with --out-dir: OUT/references)",
    )
    p.add_argument(
        "--reference-samples",
        type=int,
        default=DEFAULT_SAMPLES,
        metavar="N",
        help=f"training samples per reference profile (default {DEFAULT_SAMPLES})",
    )
    p.add_argument("--summary-json", metavar="PATH", help="write exact counts and ground truth")
    p.add_argument(
        "--flush-outcomes",
        action="store_true",
        help="also send outcomes observed after the end of the run",
    )
    p.add_argument(
        "--producer-config",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="librdkafka setting, repeatable (e.g. compression.type=gzip)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.add_argument("--list", action="store_true", help="print the catalogue and exit")
    p.set_defaults(func=run)


def parse_start(text: str | None, now: datetime | None = None) -> datetime | None:
    """``None`` (now), an ISO time (naive = UTC) or ``-30d``; never in the future.

    >>> parse_start("-1d", datetime(2026, 1, 2, tzinfo=UTC)).isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    if text is None:
        return None
    now = now or datetime.now(UTC)
    if text.startswith("-"):
        try:
            return now - timedelta(seconds=parse_duration(text[1:]))
        except ValueError as exc:
            raise UsageError(f"--start: {exc}") from None
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--start: {text!r} is not an ISO time like 2026-11-01T00:00:00Z"
        ) from None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    if start > now:
        raise UsageError(f"--start: {text} is in the future")
    return start


def _producer_config(items: list[str]) -> dict[str, str]:
    config = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--producer-config: expected KEY=VALUE, got {item!r}")
        config[key.strip()] = value.strip()
    return config


def _sink(args: argparse.Namespace) -> Sink:
    if args.out_dir:
        return JsonlSink(args.out_dir)
    from streams.settings import load_settings

    settings = load_settings(args.bootstrap)
    if not args.bootstrap and "RESONANCE_KAFKA_BOOTSTRAP" not in __import__("os").environ:
        raise UsageError("give --bootstrap HOST:PORT (or RESONANCE_KAFKA_BOOTSTRAP) or --out-dir")
    config = {**settings.confluent_config(), **_producer_config(args.producer_config)}
    return KafkaSink(settings.kafka_bootstrap, **config)


def _print_catalogue() -> None:
    for name, c in CONSORTIA.items():
        print(f"{name}: {', '.join(c.members)}")
        for m in MODELS_BY_NAME.values():
            if m.consortium == name:
                feats = ", ".join(f.name for f in m.features)
                print(
                    f"  {m.name} v{m.version} [{m.target.kind}] {m.member}/{m.site} @ {m.hub}:"
                    f" {feats}"
                )


def _validate(args: argparse.Namespace) -> float:
    if args.rate <= 0:
        raise UsageError("--rate: must be > 0")
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise UsageError(f"--batch-size: must be 1..{MAX_BATCH} (messages stay well under 1 MiB)")
    if args.reference_samples < 10:
        raise UsageError("--reference-samples: must be >= 10")
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    if duration <= 0:
        raise UsageError("--duration: must be > 0")
    return duration


def run(args: argparse.Namespace) -> int:
    if args.list:
        _print_catalogue()
        return 0
    duration = _validate(args)
    start = parse_start(args.start)
    scenario = load_scenario(args.scenario)
    try:
        sim = Simulator(
            args.seed,
            scenario,
            args.rate,
            args.batch_size,
            consortia=tuple(parse_name_list(args.consortia, "--consortia")),
            models=tuple(parse_name_list(args.models, "--models")),
        )
    except KeyError as exc:
        flag = "--consortia" if "consortium" in str(exc) else "--models"
        raise UsageError(f"{flag}: {exc.args[0]}") from None
    refs = args.references_out or (Path(args.out_dir) / "references" if args.out_dir else None)
    if refs:
        try:
            paths = write_references(sim.models, refs, args.seed, args.reference_samples)
        except OSError as exc:
            raise UsageError(f"--references-out: {exc}") from None
        print(f"simulate: {len(paths)} reference profiles in {refs}", file=sys.stderr)
    sink = _sink(args)
    summary = sim.run(
        sink,
        start,
        duration,
        progress=None if args.quiet else sys.stderr,
        flush_outcomes=args.flush_outcomes,
    )
    if args.summary_json:
        summary.write(args.summary_json)
    d = summary.delivery
    end = iso(int((start or datetime.now(UTC)).timestamp() * 1000 + duration * 1000))
    print(
        f"simulate: {summary.samples:,} samples in {summary.messages:,} messages "
        f"(delivered {d['delivered']:,}, failed {d['failed']:,}); event time up to {end}",
        file=sys.stderr,
    )
    if summary.run["interrupted"]:
        print("simulate: interrupted", file=sys.stderr)
        return 130
    if d["failed"]:
        first = getattr(sink, "first_error", None)
        print(f"simulate: {d['failed']} messages not delivered: {first}", file=sys.stderr)
        return 1
    return 0
