"""``resonance schema export DIR``: JSON Schema files for every event kind and wire form."""

from __future__ import annotations

import argparse

from errors import UsageError
from streams.events import export_json_schemas

EPILOG = """\
Writes <kind>.<single|batch>.schema.json for kind in telemetry, prediction, outcome, energy
(JSON Schema 2020-12), e.g. for producers in other languages or schema registries.

example:
  resonance schema export schemas/
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="export the event contracts as JSON Schema",
        description="Event contracts (streams/events.py) as JSON Schema files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write one JSON Schema file per event kind and form",
        description="Write one JSON Schema file per event kind and form into DIR.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("directory", metavar="DIR", help="output directory (created if missing)")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    try:
        paths = export_json_schemas(args.directory)
    except OSError as exc:
        raise UsageError(f"{args.directory}: cannot write: {exc.strerror or exc}") from None
    for path in paths:
        print(path)
    return 0
