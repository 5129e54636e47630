"""``resonance db``: create/upgrade the warehouse schema, load reference profiles, show status.

Also home of the backend flags every warehouse command shares (``--data-dir`` /
``--clickhouse-url``), so ``query`` and ``sink`` parse them the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from errors import UsageError
from warehouse.backend import Backend, WarehouseError, open_backend
from warehouse.settings import WarehouseSettings

EPILOG = """\
The embedded chDB warehouse lives in --data-dir (default ./resonance-data, or
RESONANCE_DATA_DIR); only one process may open it at a time. With --clickhouse-url
(or RESONANCE_CLICKHOUSE_URL, plus RESONANCE_CLICKHOUSE_USER / _PASSWORD / _DATABASE /
_SECURE) the same SQL runs on a ClickHouse server.

examples:
  resonance db migrate
  resonance db migrate --clickhouse-url http://app:app@localhost:8123 --minute-ttl-days 30
  resonance db load-references ./sim-data          # <dir>/references/<consortium>/*.json
  resonance db reference profiles/strip-defect-3.json --consortium steel
  resonance db status
  resonance db tenants steel automotive > tenants.sql   # server: roles + row policies
"""


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--data-dir",
        metavar="D",
        help="embedded chDB directory (default ./resonance-data); must exist, except for "
        "`db migrate` and `sink`, which create it",
    )
    group.add_argument(
        "--clickhouse-url", metavar="U", help="ClickHouse server, http(s)://[user:pass@]host:port"
    )


def existing_data_dir(settings: WarehouseSettings, data_dir: str | None) -> None:
    """A command that reads (or adds to) a warehouse needs one: a mistyped ``--data-dir``
    must not silently create an empty warehouse (and then fail on a missing table).

    >>> existing_data_dir(WarehouseSettings(), "/nonexistent/typo")
    Traceback (most recent call last):
    errors.UsageError: --data-dir /nonexistent/typo: no warehouse there (create one with `resonance db migrate --data-dir /nonexistent/typo`, or run `resonance demo`)
    """  # noqa: E501
    path = Path(data_dir) if data_dir else Path(settings.data_dir)
    if (path / "clickhouse").is_dir():
        return
    where = f"--data-dir {data_dir}" if data_dir else f"data directory {path} (the default)"
    raise UsageError(
        f"{where}: no warehouse there (create one with `resonance db migrate --data-dir "
        f"{path}`, or run `resonance demo`)"
    )


def open_from_args(args: argparse.Namespace, create: bool = False) -> Backend:
    """The backend of ``--data-dir`` / ``--clickhouse-url``; an embedded warehouse is only
    created by the commands that say so (``db migrate``, ``sink``)."""
    settings = WarehouseSettings()
    data_dir = getattr(args, "data_dir", None)
    url = getattr(args, "clickhouse_url", None) or (None if data_dir else settings.clickhouse_url)
    if not url and not create:
        existing_data_dir(settings, data_dir)
    return open_backend(settings, data_dir=data_dir, clickhouse_url=url)


def run_with_backend(
    args: argparse.Namespace, work: Callable[[Backend], int], *, create: bool = False
) -> int:
    """Open the backend, run ``work``, close; warehouse failures become one line, exit 1
    (a missing ``--data-dir`` is bad input: exit 2)."""
    try:
        backend = open_from_args(args, create)
    except WarehouseError as exc:
        print(f"resonance {args.command}: error: {exc}", file=sys.stderr)
        return 1
    try:
        return work(backend)
    except WarehouseError as exc:
        print(f"resonance {args.command}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        backend.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db",
        help="warehouse schema, references and status",
        description="Warehouse administration (embedded chDB or ClickHouse server).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    mig = actions.add_parser(
        "migrate",
        help="apply pending migrations (idempotent; creates --data-dir if missing)",
    )
    add_backend_args(mig)
    mig.add_argument(
        "--minute-ttl-days",
        type=int,
        metavar="N",
        help="keep minute tables N days, 0 = forever (default 90, RESONANCE_MINUTE_TTL_DAYS)",
    )
    mig.add_argument(
        "--dlq-ttl-days",
        type=int,
        metavar="N",
        help="keep DLQ records N days, 0 = forever (default 30, RESONANCE_DLQ_TTL_DAYS)",
    )
    mig.set_defaults(func=_migrate)

    status = actions.add_parser("status", help="applied migrations and row counts")
    add_backend_args(status)
    status.set_defaults(func=_status)

    ref = actions.add_parser("reference", help="store one reference profile (JSON)")
    ref.add_argument("profile", metavar="FILE", help="profile written by `resonance reference`")
    ref.add_argument("--consortium", required=True, metavar="C", help="consortium of the model")
    add_backend_args(ref)
    ref.set_defaults(func=_reference)

    refs = actions.add_parser("load-references", help="store every profile of a registry directory")
    refs.add_argument("directory", metavar="DIR", help="holds references/<consortium>/*.json")
    add_backend_args(refs)
    refs.set_defaults(func=_load_references)

    from warehouse.tenants import register_tenants  # roles + row policies (server only)

    register_tenants(actions)


def _migrate(args: argparse.Namespace) -> int:
    from warehouse.migrate import migrate

    settings = WarehouseSettings()
    minute = settings.minute_ttl_days if args.minute_ttl_days is None else args.minute_ttl_days
    dlq = settings.dlq_ttl_days if args.dlq_ttl_days is None else args.dlq_ttl_days
    if minute < 0 or dlq < 0:
        raise UsageError("--minute-ttl-days / --dlq-ttl-days must be >= 0")

    def work(backend: Backend) -> int:
        applied = migrate(backend, minute_ttl_days=minute, dlq_ttl_days=dlq)
        state = f"applied {', '.join(f'{v:04d}' for v in applied)}" if applied else "up to date"
        print(f"warehouse {state} (minute TTL {minute or 'off'} d, DLQ TTL {dlq or 'off'} d)")
        return 0

    return run_with_backend(args, work, create=True)


def _status(args: argparse.Namespace) -> int:
    def work(backend: Backend) -> int:
        from warehouse.migrate import applied, discover

        done = applied(backend)
        for mig in discover():
            mark = "applied" if mig.version in done else "PENDING"
            print(f"{mig.version:04d}_{mig.name}: {mark}")
        tables = backend.query(
            "SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() "
            "AND engine LIKE '%MergeTree' ORDER BY name"
        ).to_pylist()
        for t in tables:
            print(f"  {t['name']:<24} {t['total_rows'] or 0:>12} rows")
        return 0

    return run_with_backend(args, work)


def _reference(args: argparse.Namespace) -> int:
    from processors.reference import ReferenceProfile
    from warehouse.references import store_reference

    path = Path(args.profile)
    try:
        raw = path.read_text(encoding="utf-8")
        profile = ReferenceProfile.from_json(raw)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None

    def work(backend: Backend) -> int:
        store_reference(backend, args.consortium, profile, target=_target_of(raw))
        print(f"stored {profile.model} v{profile.version} for {args.consortium}")
        return 0

    return run_with_backend(args, work)


def _target_of(raw: str) -> dict | None:
    import json

    target = json.loads(raw).get("target")
    return target if isinstance(target, dict) else None


def _load_references(args: argparse.Namespace) -> int:
    from streams.registry import ModelRegistry
    from warehouse.references import store_reference

    directory = Path(args.directory)
    if not (directory / "references").is_dir():
        raise UsageError(f"{directory}: no references/ directory (expected references/<c>/*.json)")
    registry = ModelRegistry.load(directory)

    def work(backend: Backend) -> int:
        for info in registry.models.values():
            target = None
            if info.target is not None:
                target = {"kind": info.target.kind, "classes": list(info.target.classes)}
            store_reference(backend, info.consortium, info.profile, target=target)
        print(f"stored {len(registry)} reference profiles from {directory}")
        return 0

    return run_with_backend(args, work)
