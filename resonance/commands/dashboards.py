"""``resonance dashboards build|push``: Grafana dashboards and provisioning from code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
build writes dashboards/generated/<folder>/<uid>.json (one folder for operators, one
per consortium) and dashboards/provisioning/ (datasources, dashboard provider,
alert rules, contact point, notification policy). Output is stable: building twice
changes nothing.

push uploads the built dashboards through Grafana's HTTP API: one folder per
consortium (created or renamed in place by uid) and every dashboard with
overwrite, so it is safe to run again. The token may come from GRAFANA_TOKEN.

examples:
  resonance dashboards build
  resonance dashboards push --url http://localhost:3000 --token "$GRAFANA_TOKEN"
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="build or push the Grafana dashboards",
        description="Grafana dashboards, provisioning and alert rules generated from code.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="write the dashboard JSON and provisioning files")
    build.add_argument(
        "--out", type=Path, help="dashboard JSON directory (default: dashboards/generated)"
    )
    build.add_argument(
        "--provisioning",
        type=Path,
        help="provisioning directory (default: dashboards/provisioning)",
    )
    build.add_argument(
        "--consortium",
        action="append",
        metavar="NAME",
        help="consortium to generate a folder for (repeatable; default: the built-in four)",
    )
    build.set_defaults(func=run_build)

    push = actions.add_parser("push", help="upload the built dashboards to a Grafana")
    push.add_argument("--url", required=True, help="Grafana base URL, e.g. http://localhost:3000")
    push.add_argument("--token", help="service account token (default: $GRAFANA_TOKEN)")
    push.add_argument("--dir", type=Path, help="built dashboards (default: dashboards/generated)")
    push.set_defaults(func=run_push)


def run_build(args: argparse.Namespace) -> int:
    from dashboards import build
    from dashboards.scope import DEFAULT_CONSORTIA

    consortia = tuple(args.consortium or DEFAULT_CONSORTIA)
    paths = build.write(
        args.out or build.GENERATED, args.provisioning or build.PROVISIONING, consortia
    )
    print(f"wrote {len(paths)} files", file=sys.stderr)
    return 0


def run_push(args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from dashboards import build, push
    from dashboards.settings import GrafanaSettings

    token = SecretStr(args.token) if args.token else GrafanaSettings().token
    api = push.connect(args.url, token)
    result = push.push(api, args.dir or build.GENERATED, url=args.url)
    print(
        f"pushed {result.dashboards} dashboards; folders created {result.folders_created}, "
        f"kept {result.folders_updated}",
        file=sys.stderr,
    )
    return 0
