"""Time from starting ``resonance demo`` to the first metrics on the console API.

Starts the demo as a child process (fresh data directory, free port, no browser), polls
``/api/health`` until the pipeline has stored events (partials written by the sink and
read back by the console), prints JSON and stops the demo with SIGINT, the way Ctrl-C
would. Target: under 10 s.

The machine is shared, so the JSON carries the load average and a baseline measured in
the same run: the seconds a fresh interpreter needs to import the worker's and the
sink's stacks (faust, chdb), and ``ratio`` = first metrics / baseline.

    .venv/bin/python benchmarks/demo_startup.py [--timeout 60] [--runs 1] --json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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


def import_baseline() -> float:
    """Seconds for a fresh interpreter to import faust and chdb (the load yardstick)."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import faust, chdb"], check=True)
    return time.monotonic() - t0


def one_run(timeout: float) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory(prefix="resonance-bench-") as tmp:
        data = str(Path(tmp) / "data")
        argv = [sys.executable, "-m", "resonance.cli", "demo", "--no-browser",
                "--duration", "60", "--port", str(port), "--data-dir", data]  # fmt: skip
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1
        )

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append((round(time.monotonic() - t0, 2), line.rstrip()))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        first: float | None = None
        try:
            while time.monotonic() - t0 < timeout and proc.poll() is None:
                if stored_events(url) > 0:
                    first = time.monotonic() - t0
                    break
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader.join(5)
    console = next((t for t, line in lines if "console at" in line), None)
    return {"first_metrics_s": None if first is None else round(first, 2), "console_s": console}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON (the only output)")
    args = parser.parse_args()
    baseline = import_baseline()
    runs = [one_run(args.timeout) for _ in range(args.runs)]
    firsts = [r["first_metrics_s"] for r in runs if r["first_metrics_s"] is not None]
    first = statistics.median(firsts) if len(firsts) == len(runs) else None
    out = {
        "first_metrics_s": first,
        "runs": runs,
        "baseline_import_s": round(baseline, 2),
        "ratio": None if first is None else round(first / baseline, 2),
        "target_s": 10.0,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out))
    return 0 if first is not None else 1


if __name__ == "__main__":
    sys.exit(main())
