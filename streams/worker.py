"""Run the Faust app as a worker process (what ``resonance worker`` does).

Processing and the ClickHouse sink are separate roles: a worker only reads the input
topics and writes ``partials``/``dlq``; ``resonance sink`` (warehouse/) reads ``partials``.
chDB lets one process own its data directory, and the two roles scale differently
(workers by input partitions, the sink by warehouse write capacity).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from streams.registry import ModelEntry, ModelRegistry, RegistryReader
from streams.settings import StreamSettings, setting_error

log = logging.getLogger("resonance.worker")


def run_worker(settings: StreamSettings, loglevel: str = "warning") -> int:
    """Block until SIGTERM/Ctrl-C; returns the exit code."""
    import faust

    from streams.app import create_app

    registry = ModelRegistry()
    imported = 0
    if settings.import_references and Path(settings.references_dir).is_dir():
        local = ModelRegistry.load(settings.references_dir)  # import path; the topic wins
        for entry in local:
            registry.apply(entry)
        imported = len(local)
    try:
        reader = RegistryReader(settings, registry).start()
    except Exception as exc:
        print(f"resonance worker: error: registry: {exc}", file=sys.stderr, flush=True)
        return 2
    registry.on_change(_announce)
    app, processor = create_app(settings, registry)
    print(
        f"resonance worker: {len(registry)} models ({imported} imported from files, the rest"
        f" from the registry topic), unknown models:"
        f" {settings.unknown_models}, group {settings.app_id!r} on {settings.kafka_bootstrap}",
        file=sys.stderr,
        flush=True,
    )
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    if not worker.stdout.isatty():
        worker.spinner = None  # its cursor escape codes would end up in the log file
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        reader.stop()
    return 0


def _announce(entry: ModelEntry) -> None:
    """One stderr line per registry change the worker picks up (live, no restart)."""
    status = "retired" if entry.retired else "active"
    source = entry.provenance.get("source", "none") if entry.profile else "none"
    target = entry.target.kind if entry.target else "none"
    print(f"resonance worker: registry: {entry.key} {status}, target {target}, reference {source}",
          file=sys.stderr, flush=True)  # fmt: skip


def main() -> int:
    """``python -m streams.worker``: settings from the environment only; an invalid one
    is one line naming its variable, exit 2."""
    try:
        settings = StreamSettings()
    except ValidationError as exc:
        print(f"resonance worker: error: {setting_error(exc)}", file=sys.stderr)
        return 2
    return run_worker(settings)


if __name__ == "__main__":
    sys.exit(main())
