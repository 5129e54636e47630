"""Notifier fixtures: a real HTTP server on localhost with scripted answers, alert records
in the pinned ``resonance.alert/1`` format, an RFC 2104 HMAC written out by hand (so the
signature checks do not reuse the code under test), and a virtual clock for limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from resonance.notify.alert import parse_alert
from resonance.notify.channels import build_channels
from resonance.notify.config import parse_config
from resonance.notify.dispatcher import ChannelWorker
from resonance.notify.message import Notice


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b'{"errcode": 0, "errmsg": "ok", "code": 0}'
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # accept the request, never answer


@dataclass(frozen=True)
class Received:
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    stamp: float
    answered: bool = True  # False: the server hung on it

    @property
    def json(self) -> dict:
        return orjson.loads(self.body)


class Hook:
    """A threaded HTTP server recording every POST; ``script`` holds the next replies."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: deque[Reply] = deque()
        self.default = Reply()
        self.stamp: Callable[[], float] = time.monotonic
        self.released = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = hook.script.popleft() if hook.script else hook.default
                parts = urlsplit(self.path)
                hook.requests.append(
                    Received(
                        parts.path,
                        parts.query,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        hook.stamp(),
                        not reply.hang,
                    )
                )
                if reply.hang:
                    hook.released.wait()
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Hook:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook().start()
    try:
        yield h
    finally:
        h.stop()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """RFC 2104 HMAC over SHA-256, spelled out (independent of :mod:`hmac`)."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def alert_record(i: int = 0, **over) -> dict:
    """One transition in the pinned ``resonance.alert/1`` format."""
    rec = {
        "schema": "resonance.alert/1",
        "transition": "firing",
        "state": "firing",
        "consortium": "steel",
        "model": f"hot-strip-temp-{i}",
        "model_version": "3",
        "rule": "feature_drift",
        "severity": "warn",
        "started_at": "2026-03-01T10:00:00Z",
        "resolved_at": None,
        "window_start": "2026-03-01T10:05:00Z",
        "emitted_at": "2026-03-01T10:06:01Z",
        "value": 0.31,
        "threshold": 0.2,
        "features": [
            {"feature": "coil_temp_c", "kind": "numeric", "statistic": "psi", "value": 0.31,
             "p_value": 0.0004, "n": 1200},
            {"feature": "grade", "kind": "categorical", "statistic": "chi2", "value": 14.2,
             "p_value": 0.003, "n": 1200},
        ],
        "policy_version": "p1",
        "seq": 1,
    }  # fmt: skip
    rec.update(over)
    ident = "|".join(rec[k] for k in ("consortium", "model", "model_version", "rule", "started_at"))
    rec.setdefault("id", hashlib.sha1(ident.encode()).hexdigest()[:20])
    return rec


def notice(i: int = 0, **over) -> Notice:
    alert = parse_alert(alert_record(i, **over))
    return Notice(alert, alert.transition)


class FakeTime:
    """Virtual monotonic clock and sleep: a test walks through minutes at once."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_780_000_000.0 + self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


def make_worker(
    channel: dict, fake: FakeTime | None = None, deliveries: list | None = None, **config
) -> tuple[ChannelWorker, httpx.AsyncClient]:
    cfg = parse_config({"channels": {"ops": channel}, **config})
    (ch,) = build_channels(cfg).values()
    client = httpx.AsyncClient()
    record = deliveries.append if deliveries is not None else (lambda _d: None)
    kwargs = {}
    if fake is not None:
        kwargs = {"clock": fake.clock, "wall": fake.wall, "sleep": fake.sleep}
    worker = ChannelWorker(ch, client, record, max_digest=cfg.max_digest, rng=lambda: 0.5, **kwargs)
    return worker, client


async def deliver_all(worker: ChannelWorker, fake: FakeTime | None = None) -> None:
    """Drain the queue the way :meth:`ChannelWorker.run` does, on the virtual clock."""
    while worker.queue:
        wait = worker.limiter.wait()
        if wait > 0:
            assert fake is not None
            await fake.sleep(wait)
        await worker.deliver(worker.take())
