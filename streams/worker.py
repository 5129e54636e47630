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

from streams.registry import ModelRegistry
from streams.settings import StreamSettings

log = logging.getLogger("resonance.worker")


def run_worker(settings: StreamSettings, loglevel: str = "warning") -> int:
    """Block until SIGTERM/Ctrl-C; returns the exit code."""
    import faust

    from streams.app import create_app

    registry = ModelRegistry.load(settings.references_dir)
    if not len(registry):
        print(
            f"resonance worker: warning: no reference profiles under "
            f"{Path(settings.references_dir) / 'references'}; every event will go to the dlq",
            file=sys.stderr,
        )
    app, processor = create_app(settings, registry)
    print(
        f"resonance worker: {len(registry)} models, group {settings.app_id!r} on "
        f"{settings.kafka_bootstrap}",
        file=sys.stderr,
        flush=True,
    )
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def main() -> int:
    """``python -m streams.worker``: settings from the environment only."""
    return run_worker(StreamSettings())


if __name__ == "__main__":
    sys.exit(main())
