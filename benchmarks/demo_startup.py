"""Time from starting ``resonance demo`` to the first metrics on the console API.

Starts the demo as a child process (fresh data directory, free port, no browser), polls
``/api/health`` until the pipeline has stored events (partials written by the sink and
read back by the console), prints ``{"first_metrics_s": float}`` and stops the demo
with SIGINT, the way Ctrl-C would. Target: under 15 s.

    .venv/bin/python benchmarks/demo_startup.py [--timeout 60]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stored_events(url: str) -> int:
    """Telemetry samples the console reports, or 0 while the console is not up yet."""
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=2) as res:
            return int(json.load(res)["events"]["telemetry"])
    except (OSError, ValueError, KeyError):
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="resonance-bench-") as tmp:
        data = str(Path(tmp) / "data")
        argv = [sys.executable, "-m", "resonance.cli", "demo", "--no-browser",
                "--duration", "60", "--port", str(port), "--data-dir", data]  # fmt: skip
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first: float | None = None
        try:
            while time.monotonic() - t0 < args.timeout and proc.poll() is None:
                if stored_events(url) > 0:
                    first = time.monotonic() - t0
                    break
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(json.dumps({"first_metrics_s": None if first is None else round(first, 2)}))
    return 0 if first is not None else 1


if __name__ == "__main__":
    sys.exit(main())
