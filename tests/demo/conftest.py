"""Fixtures of the demo tests: a real ``resonance demo`` run, and headless Chromium.

The real run is session-scoped and shared: the browser test drives its console while it
runs, then the end-to-end test waits for it to finish and reads its summary JSON. One
90 s pipeline run serves both.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the browser tests skip themselves; the others do not need playwright
    PlaywrightTimeout = TimeoutError

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("RESONANCE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_DURATION_S = 90
#: Playwright's default deadline for waits (its own default, 30 s, is short on a loaded CI)
BROWSER_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float = 5.0) -> dict | None:
    """The JSON at ``url``, or None while the server is not answering."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as res:
            return json.load(res)
    except (OSError, ValueError):
        return None


@dataclass
class DemoRun:
    """A ``resonance demo`` child process and where to find its outputs."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    summary: Path
    log: Path
    started: float

    def wait_for_metrics(self, timeout: float = 240.0) -> dict:
        """Block until the console reports stored telemetry; returns /api/health."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"demo exited early:\n{self.output()}"
            health = get_json(f"{self.url}/api/health")
            if health and health["events"]["telemetry"] > 0:
                return health
            time.sleep(0.5)
        raise AssertionError(f"no metrics after {timeout} s:\n{self.output()}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"demo still running after {timeout} s:\n{self.output()}"
            ) from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def start_demo(tmp: Path, *args: str) -> DemoRun:
    port = free_port()
    data_dir, summary, log = tmp / "data", tmp / "summary.json", tmp / "demo.log"
    argv = [sys.executable, "-m", "resonance.cli", "demo", "--no-browser", "--port", str(port),
            "--data-dir", str(data_dir), "--summary-json", str(summary), *args]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    return DemoRun(proc, f"http://127.0.0.1:{port}", data_dir, summary, log, time.monotonic())


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """One real ``resonance demo --duration 90`` run, shared by the tests that need it."""
    run = start_demo(tmp_path_factory.mktemp("demo"), "--duration", str(DEMO_DURATION_S))
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture
def live_demo(tmp_path: Path) -> Iterator[DemoRun]:
    """A ``resonance demo`` with no ``--duration``: live until the test is done with it,
    however slow the machine (a fixed-length run can end under a slow browser test)."""
    run = start_demo(tmp_path)
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    # `make test` installs it (scripts/system-deps.sh); a missing browser is a failure, not a skip.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run scripts/system-deps.sh (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def browser_page(chromium_path: Path) -> Iterator[tuple[object, list[str]]]:
    """A Playwright page in headless Chromium, and the console errors it logged."""
    from playwright import sync_api  # a dev dependency: missing is a failure, never a skip

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.set_default_timeout(BROWSER_TIMEOUT_S * 1000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page, errors
        finally:
            browser.close()


def wait_until(page, what: str, js: str, arg=None, timeout_s: float = BROWSER_TIMEOUT_S) -> None:
    """``page.wait_for_function`` with a generous deadline and a message saying what it
    waited for (and what the page showed) when the deadline passes."""
    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000, polling=250)
    except PlaywrightTimeout:
        shown = (page.text_content("body") or "")[:300]
        raise AssertionError(
            f"waited {timeout_s} s for {what}; the page showed: {shown!r}"
        ) from None
