"""Process supervision for the demo: start children, watch them, stop them in order.

Children run in their own session (``start_new_session``) so a Ctrl-C in the
terminal reaches only the demo process, which then stops each child itself in a
chosen order (producers first, so the workers can flush what they hold, then the
workers). Output goes to one log file per child under ``<data-dir>/logs`` so the
terminal stays a summary and a failure leaves evidence.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Child:
    """One supervised subprocess and where its output goes."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait(self, timeout: float) -> bool:
        """True when the child exited within ``timeout`` seconds."""
        if self.process is None:
            return True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (a graceful shutdown), then SIGKILL after ``timeout``; returns the code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            if not self.wait(timeout):
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def tail(self, lines: int = 20) -> str:
        """The end of the child's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def resonance_argv(*args: str) -> list[str]:
    """``resonance <args>`` run with this interpreter, so the venv need not be on PATH."""
    return [sys.executable, "-m", "resonance.cli", *args]


class Supervisor:
    """Starts children, reports the first one that died, stops them in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        if cwd is not None:
            cwd.mkdir(parents=True, exist_ok=True)
        child = Child(name, argv, self.log_dir / f"{name}.log", dict(env or {}), cwd)
        self.children.append(child.start())
        return child

    def dead(self) -> list[Child]:
        """Children that exited although nobody asked them to."""
        return [c for c in self.children if not c.alive()]

    def stop_all(self, timeout: float = 15.0) -> dict[str, int | None]:
        """Stop every child, last started first; returns exit codes by name."""
        codes: dict[str, int | None] = {}
        for child in reversed(self.children):
            codes[child.name] = child.stop(timeout)
        return codes


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
