"""``--help`` examples of the commands whose modules do not write their own epilog.

One table, applied by :func:`resonance.cli.build_parser` to every parser that has no
epilog yet (tests/cli/test_help.py checks that every command ends up with examples).
"""

from __future__ import annotations

import argparse

EXAMPLES: dict[str, tuple[str, ...]] = {
    "alerts": (
        "resonance alerts list --state firing --data-dir resonance-data",
        "resonance alerts ack 3f2a9c0d1e4b5a6f7c8d --by alice --data-dir resonance-data",
    ),
    "alerts list": (
        "resonance alerts list --state firing --data-dir resonance-data",
        "resonance alerts list --consortium steel --since now-1h --format json",
    ),
    "alerts show": ("resonance alerts show 3f2a9c0d1e4b5a6f7c8d --data-dir resonance-data",),
    "alerts ack": (
        "resonance alerts ack 3f2a9c0d1e4b5a6f7c8d --by alice --note 'sensor swapped'",
        "resonance alerts ack 3f2a9c0d1e4b5a6f7c8d --by alice --bootstrap localhost:9092",
    ),
    "alerts silence": (
        "resonance alerts silence --consortium steel --model weld-defect --for 2h --by alice",
    ),
    "broker": (
        "resonance broker --port 9092          # in-memory Tansu on localhost:9092",
        "resonance broker --port 19092 --log broker.log",
    ),
    "dashboards build": (
        "resonance dashboards build --out dashboards/generated",
        "resonance dashboards build --consortium steel --out /tmp/steel-dashboards",
    ),
    "dashboards push": ("GRAFANA_TOKEN=... resonance dashboards push --url http://localhost:3000",),
    "db migrate": (
        "resonance db migrate --data-dir resonance-data",
        "resonance db migrate --clickhouse-url http://app:app@localhost:8123 --minute-ttl-days 30",
    ),
    "db status": ("resonance db status --data-dir resonance-data",),
    "db reference": (
        "resonance db reference --consortium steel references/steel/weld-defect-1.json",
    ),
    "db load-references": ("resonance db load-references references --data-dir resonance-data",),
    "db tenants": ("resonance db tenants steel automotive --out deploy/tenants.sql",),
    "models register": (
        "resonance models register --consortium steel --model weld-defect --version 1 "
        "--reference ref.json",
    ),
    "models list": ("resonance models list --consortium steel --bootstrap localhost:9092",),
    "models show": ("resonance models show steel/weld-defect/1",),
    "models retire": ("resonance models retire steel/weld-defect/1",),
    "models import": ("resonance models import references --bootstrap localhost:9092",),
    "policy": ("resonance policy show --consortium steel --model weld-defect",),
    "policy show": (
        "resonance policy show",
        "resonance policy show --consortium steel --model weld-defect --policy policy.yaml",
    ),
    "topics": ("resonance topics create --bootstrap localhost:9092", "resonance topics list"),
    "topics create": ("resonance topics create --bootstrap localhost:9092 --partitions 12",),
    "topics list": ("resonance topics list --bootstrap localhost:9092",),
    "worker": (
        "resonance worker --bootstrap localhost:9092",
        "RESONANCE_WINDOW_S=10 resonance worker --bootstrap kafka:9092 --group resonance-worker",
    ),
}


def add_examples(parser: argparse.ArgumentParser, name: str = "") -> None:
    """Give ``parser`` and its sub-commands the table's examples where they have no epilog."""
    if name in EXAMPLES and not parser.epilog:
        lines = "\n".join(f"  {e}" for e in EXAMPLES[name])
        parser.epilog = f"examples:\n{lines}\n"
        if parser.formatter_class is argparse.HelpFormatter:
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                add_examples(child, f"{name} {sub}".strip())
