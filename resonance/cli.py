"""The ``resonance`` command: one sub-command per module in :mod:`resonance.commands`.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning an exit code.
Bad input raises :class:`errors.UsageError`, printed as one line, exit 2; so does an
invalid ``RESONANCE_*`` setting (:func:`streams.settings.setting_error`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pydantic import ValidationError

from errors import UsageError

COMMANDS: tuple[str, ...] = (
    "alerts",
    "broker",
    "dashboards",
    "db",
    "demo",
    "drift",
    "models",
    "notify",
    "policy",
    "query",
    "reference",
    "report",
    "schema",
    "simulate",
    "sink",
    "topics",
    "worker",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser, or with ``only`` (a command name) just that one: importing
    all command modules costs a second of CPU, paid by every worker the demo starts."""
    parser = argparse.ArgumentParser(
        prog="resonance",
        description="Streaming monitor for industrial AI: drift, accuracy, energy, health.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (only,) if only in COMMANDS else COMMANDS:
        importlib.import_module(f"resonance.commands.{name}").register(subparsers)
    from resonance.commands.examples import add_examples

    add_examples(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"resonance {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a RESONANCE_* variable out of range: name it, exit 2
        from streams.settings import setting_error

        line = setting_error(exc)
        if line is None:
            raise
        print(f"resonance {args.command}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed early (``resonance drift ... | head``): not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
