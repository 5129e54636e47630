"""``resonance alerts list|show|ack|silence``: the stored alerts, their history, acks and
silences (warehouse tables of migration 0002; the policy decides, this only reads)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from errors import UsageError
from resonance.commands.db import add_backend_args, run_with_backend
from warehouse.backend import Backend

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
TABLE_KEYS = ("id", "consortium", "model", "rule", "severity", "state", "started_at",
              "resolved_at", "features", "acked_by", "silenced")  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("alerts", help="list, show, ack and silence alerts")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="alerts with their state, ack and silence")
    ls.add_argument("--consortium", metavar="C", help="only this consortium")
    ls.add_argument("--model", metavar="M", help="only this model")
    ls.add_argument(
        "--state",
        choices=("firing", "resolved", "all"),
        default="all",
        help="current state of the alerts to list (default: all)",
    )
    ls.add_argument("--since", metavar="T", help="ISO-8601, epoch, now-<N><s|m|h|d|w>")
    ls.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="output (default: table)",
    )
    add_backend_args(ls)
    ls.set_defaults(func=_list)
    show = sub.add_parser("show", help="timeline and evidence of one alert")
    show.add_argument("id", help="alert id (the first column of `alerts list`)")
    add_backend_args(show)
    show.set_defaults(func=_show)
    ack = sub.add_parser("ack", help="acknowledge an alert")
    ack.add_argument("id", help="alert id to acknowledge")
    ack.add_argument("--by", required=True, metavar="NAME", help="who acknowledges")
    ack.add_argument("--note", metavar="TEXT", help="free text stored with the ack")
    _writer_args(ack)
    ack.set_defaults(func=_ack)
    sil = sub.add_parser("silence", help="silence a consortium, model or rule for a while")
    sil.add_argument("--consortium", required=True, metavar="C", help="consortium to silence")
    sil.add_argument("--model", metavar="M", help="only this model (default: all)")
    sil.add_argument("--rule", metavar="R", help="only this rule, e.g. feature_drift")
    sil.add_argument("--for", dest="duration", required=True, metavar="D", help="e.g. 4h, 30m")
    sil.add_argument("--by", required=True, metavar="NAME", help="who silences")
    sil.add_argument("--note", metavar="TEXT", help="free text stored with it")
    _writer_args(sil)
    sil.set_defaults(func=_silence)


def _writer_args(parser: argparse.ArgumentParser) -> None:
    add_backend_args(parser)
    parser.add_argument("--bootstrap", metavar="B", help="produce to alert-actions instead")


def _with_alerts(args: argparse.Namespace, work: Any) -> int:
    """Run ``work`` on a warehouse that exists and holds the alert tables (else exit 2)."""
    if getattr(args, "clickhouse_url", None) is None:
        from warehouse.settings import WarehouseSettings

        d = Path(args.data_dir) if args.data_dir else Path(WarehouseSettings().data_dir)
        if not (d / "clickhouse").is_dir():
            raise UsageError(f"--data-dir {d}: no warehouse there (run the pipeline first)")

    def checked(backend: Backend) -> int:
        found = backend.query("EXISTS TABLE alert_events").to_pylist()
        if not found or not list(found[0].values())[0]:
            raise UsageError("warehouse has no alert tables: run `resonance db migrate`")
        return work(backend)

    return run_with_backend(args, checked)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    from warehouse.queries import parse_time

    return datetime.fromtimestamp(parse_time(text), UTC)


def _list(args: argparse.Namespace) -> int:
    from warehouse.alert_queries import KEYS, list_alerts

    since = _since(args.since)

    def work(backend: Backend) -> int:
        found = list_alerts(backend, args.consortium, args.model, args.state, since)
        sys.stdout.write(render(found, args.format, KEYS))
        return 0

    return _with_alerts(args, work)


def render(alerts: list[dict[str, Any]], fmt: str, keys: tuple[str, ...]) -> str:
    if fmt == "json":
        return json.dumps([{k: a[k] for k in keys} for a in alerts], indent=2) + "\n"
    cols = keys if fmt == "csv" else TABLE_KEYS
    cells = [[_cell(a[k]) for k in cols] for a in alerts]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(cells)
        return buf.getvalue()
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _show(args: argparse.Namespace) -> int:
    import textwrap

    from warehouse.alert_queries import alert_actions, alert_history
    from warehouse.deliveries import deliveries_for, format_deliveries

    def work(backend: Backend) -> int:
        history = alert_history(backend, args.id)
        if not history:
            raise UsageError(f"alert {args.id!r}: no such alert")
        first = history[0]
        print(f"alert {first['id']}: {first['rule']} on {first['consortium']}/{first['model']}"
              f" (version {first['model_version']}), policy {first['policy_version']}")  # fmt: skip
        for rec in history:
            value = "" if rec["value"] is None else f" value {rec['value']:.4g}"
            limit = "" if rec["threshold"] is None else f" threshold {rec['threshold']:.4g}"
            print(f"  {rec['window_start']}  {rec['transition']:<9} {rec['severity']:<8}"
                  f"{value}{limit}")  # fmt: skip
            for f in rec["features"]:
                p = "" if f["p_value"] is None else f" p={f['p_value']:.3g}"
                print(f"      {f['feature']} ({f['kind']}): {f['statistic']} "
                      f"{f['value']:.4g}{p} n={f['n']}")  # fmt: skip
        for a in alert_actions(backend, args.id):
            note = f": {a['note']}" if a["note"] else ""
            print(f"  {a['at']}  {a['action']} by {a['by']}{note}")
        print("deliveries:")
        print(textwrap.indent(format_deliveries(deliveries_for(backend, args.id)), "  "))
        return 0

    return _with_alerts(args, work)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _write_action(args: argparse.Namespace, record: dict[str, Any], check_id: bool) -> int:
    if args.bootstrap:
        if args.data_dir or args.clickhouse_url:
            raise UsageError("--bootstrap cannot be combined with --data-dir/--clickhouse-url")
        import orjson
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": args.bootstrap})
        key = f"{record['consortium']}/{record['model'] or ''}".encode()
        producer.produce("alert-actions", orjson.dumps(record), key)
        if producer.flush(30):
            print(f"resonance alerts: error: broker {args.bootstrap} did not acknowledge",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"{record['action']} sent to alert-actions")
        return 0
    from warehouse.alert_queries import alert_history
    from warehouse.alert_store import store_actions

    def work(backend: Backend) -> int:
        if check_id:
            history = alert_history(backend, record["alert_id"])
            if not history:
                raise UsageError(f"alert {record['alert_id']!r}: no such alert")
            record["consortium"], record["model"] = history[0]["consortium"], history[0]["model"]
            record["rule"] = history[0]["rule"]
        store_actions(backend, [record])
        print(f"{record['action']} stored")
        return 0

    return _with_alerts(args, work)


def _ack(args: argparse.Namespace) -> int:
    record = {"schema": "resonance.alert-action/1", "action": "ack", "alert_id": args.id,
              "consortium": "", "model": None, "rule": None, "until": None, "by": args.by,
              "note": args.note, "at": _now_iso()}  # fmt: skip
    return _write_action(args, record, check_id=True)


def _silence(args: argparse.Namespace) -> int:
    m = _DURATION.match(args.duration.strip())
    if not m or int(m[1]) == 0:
        raise UsageError(f"--for {args.duration!r}: use <N><s|m|h|d|w>, e.g. 4h")
    until = datetime.now(UTC) + timedelta(seconds=int(m[1]) * _UNIT_S[m[2]])
    record = {"schema": "resonance.alert-action/1", "action": "silence", "alert_id": None,
              "consortium": args.consortium, "model": args.model, "rule": args.rule,
              "until": until.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
              "by": args.by, "note": args.note, "at": _now_iso()}  # fmt: skip
    return _write_action(args, record, check_id=False)
