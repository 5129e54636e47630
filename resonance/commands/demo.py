"""``resonance demo``: the whole pipeline on one machine, with a live console.

Argument parsing only; the orchestration lives in :mod:`resonance.demo.run`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from errors import UsageError
from resonance.commands.policy import POLICY_ENV, add_policy_arg, load_policy

PACKAGED_SCENARIOS = ("default", "showcase")

EPILOG = """\
What runs: an embedded Kafka-compatible broker (Tansu, in memory), the simulator
(real time, the default scenario unless --scenario), Faust worker processes, and the
sink into embedded ClickHouse (chDB) under --data-dir, and with --notify-url or
--notify-config the notifier (`resonance notify`), whose deliveries the console lists.
The demo process itself runs the sink, so it is the one process that owns the chDB
directory, and serves the console from the same session. Logs of every child: <data-dir>/logs/.

Ctrl-C stops everything cleanly; the data stays in --data-dir for `resonance query`
and reports. Without --duration the demo runs until Ctrl-C.

exit status: 0 clean run (also after Ctrl-C), 1 a pipeline process failed, 2 bad input.

examples:
  resonance demo
  resonance demo --duration 90 --no-browser --summary-json s.json
  resonance demo --notify-url http://127.0.0.1:9000/hook
  make demo ARGS="--port 8060 --rate 400"
"""


def _positive(kind: type):
    """Parse a finite number > 0 (argparse reports the flag's name itself)."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run broker, simulator, workers, sink and a live console on this machine",
        description="The whole pipeline on one machine in one command, with a live console.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duration",
        type=_positive(float),
        default=None,
        metavar="SECONDS",
        help="simulate this many wall-clock seconds, drain, then exit (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--rate",
        type=_positive(float),
        default=None,
        metavar="R",
        help="simulated inferences per second per model (default: the simulator's)",
    )
    parser.add_argument(
        "--scenario",
        default=None,
        metavar="FILE",
        help="scenario YAML, or a packaged one by name: default, showcase (default: default)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("resonance-data"),
        metavar="D",
        help="where the warehouse, reference profiles and logs go (default: ./resonance-data)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8050,
        help="console port on 127.0.0.1 (default: 8050; 0 picks a free one)",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="do not open the console in a browser"
    )
    parser.add_argument(
        "--summary-json",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the run summary (events, scenario truth, per-model status) here at exit",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="number of worker processes (default: 1)",
    )
    parser.add_argument(
        "--notify-url",
        default=None,
        metavar="URL",
        help="run the notifier too and post every alert transition to this generic webhook",
    )
    parser.add_argument(
        "--notify-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="run the notifier too, with this notify.yaml (docs/notify.md)",
    )
    add_policy_arg(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from resonance.demo.run import DemoOptions, run_demo

    scenario = args.scenario
    if scenario is not None and scenario not in PACKAGED_SCENARIOS and not Path(scenario).is_file():
        raise UsageError(f"--scenario {scenario}: no such file")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be within 0..65535")
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: must be >= 1")
    if args.notify_url or args.notify_config:
        from resonance.notify.config import load_config, with_webhook

        config = load_config(args.notify_config)  # a bad file fails before anything starts
        if args.notify_url:
            try:
                with_webhook(config, args.notify_url)
            except UsageError as exc:
                raise UsageError(str(exc).replace("--url", "--notify-url", 1)) from None
    policy = args.policy or os.environ.get(POLICY_ENV) or None
    load_policy(policy)  # a bad policy file fails before anything starts
    options = DemoOptions(
        policy=Path(policy) if policy else None,
        duration_s=args.duration,
        rate=args.rate,
        scenario=args.scenario,
        data_dir=args.data_dir,
        port=args.port,
        open_browser=not args.no_browser,
        summary_json=args.summary_json,
        workers=args.workers,
        notify_url=args.notify_url,
        notify_config=args.notify_config,
    )
    return run_demo(options)
