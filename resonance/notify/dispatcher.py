"""One delivery loop per channel: queue, rate limit, digest, timeout, retry, record.

Each channel has its own asyncio task and queue, so a hung or throttled robot
delays only its own messages: nothing waits on it, not the Kafka consumer, not
another channel. When the limiter says "not yet", alerts queue up, and the next
request carries all of them as one digest (as many as fit the platform's size
limit). Every attempt is recorded (``resonance.delivery/1``): retried attempts
as ``retrying``, the last one as ``sent``/``digested`` or ``failed``: a message
is never dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from resonance.notify.channels import Channel, Outcome
from resonance.notify.message import Message, Notice, render
from resonance.notify.ratelimit import RateLimiter

log = logging.getLogger("resonance.notify")

DELIVERY_SCHEMA = "resonance.delivery/1"


@dataclass(slots=True)
class Queued:
    notice: Notice
    done: Callable[[], None] | None = None


def iso(ts: float) -> str:
    """Epoch seconds → ISO-8601 UTC with milliseconds.

    >>> iso(0.5)
    '1970-01-01T00:00:00.500Z'
    """
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def backoff_s(attempt: int, initial: float, maximum: float, rnd: float) -> float:
    """Exponential backoff with equal jitter: half fixed, half random (``rnd`` in [0, 1)).

    >>> backoff_s(1, 1.0, 60.0, 0.0), backoff_s(3, 1.0, 60.0, 0.999), backoff_s(10, 1.0, 60.0, 0.0)
    (0.5, 3.998, 30.0)
    """
    base = min(maximum, initial * 2 ** (attempt - 1))
    return base / 2 + base / 2 * rnd


class ChannelWorker:
    """Delivers what is queued for one channel, within its limits."""

    def __init__(
        self,
        channel: Channel,
        client: httpx.AsyncClient,
        record: Callable[[dict], None],
        *,
        max_digest: int = 50,
        queue_limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.channel = channel
        self.client = client
        self.record = record
        self.max_digest = max_digest
        self.queue_limit = queue_limit
        self.limiter = RateLimiter(channel.limits, clock)
        self.wall = wall
        self.rng = rng
        self._sleep = sleep
        self.queue: deque[Queued] = deque()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.requests = 0

    # ------------------------------------------------------------------ intake
    def enqueue(self, notice: Notice, done: Callable[[], None] | None = None) -> None:
        """Queue ``notice``; past ``queue_limit`` it is recorded as failed at once."""
        if len(self.queue) >= self.queue_limit:
            self._emit([notice], 0, "failed", None, f"queue full ({self.queue_limit})", [])
            if done:
                done()
            return
        self.queue.append(Queued(notice, done))
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # -------------------------------------------------------------------- loop
    async def run(self) -> None:
        """Deliver until :meth:`stop`; what is still queued then stays unacknowledged."""
        while not self._stop.is_set():
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if await self._pause(self.limiter.wait()):
                return
            items = self.take()
            await self.deliver(items)

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` (0: none); True if stopped meanwhile."""
        if seconds > 0:
            if self._sleep is not None:
                await self._sleep(seconds)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    def take(self) -> list[Queued]:
        """The oldest alerts that fit one message (at most ``max_digest``, within bytes)."""
        n = min(len(self.queue), self.max_digest)
        while n > 1:
            message = self._render([q.notice for q in list(self.queue)[:n]])
            if len(message.text.encode()) <= self.channel.max_bytes:
                break
            n = max(1, n * 3 // 4)
        return [self.queue.popleft() for _ in range(n)]

    def _render(self, notices: list[Notice]) -> Message:
        return render(notices, self.channel.templates, self.channel.links)

    async def deliver(self, items: list[Queued]) -> Outcome:
        """Send one message with retries; records every attempt; acknowledges the items."""
        notices = [q.notice for q in items]
        message = self._render(notices)
        retry = self.channel.config.retry
        digest = [n.alert.id for n in notices] if len(notices) > 1 else []
        outcome = Outcome(False, error="not attempted")
        settled = False  # only a final outcome acknowledges (a stop mid-retry does not)
        try:
            for attempt in range(1, retry.attempts + 1):
                if attempt > 1 and await self._pause(self.limiter.wait()):
                    return outcome
                outcome = await self.attempt(message, retry.timeout_s)
                final = outcome.ok or not outcome.retry or attempt == retry.attempts
                if outcome.ok:
                    status = "digested" if digest else "sent"
                else:
                    status = "failed" if final else "retrying"
                self._emit(notices, attempt, status, outcome.http_status, outcome.error, digest)
                if final:
                    settled = True
                    break
                wait = backoff_s(attempt, retry.initial_s, retry.max_s, self.rng())
                if await self._pause(max(wait, outcome.retry_after or 0.0)):
                    return outcome
        finally:
            if settled:
                for q in items:
                    if q.done:
                        q.done()
        return outcome

    async def attempt(self, message: Message, timeout_s: float) -> Outcome:
        """One POST; timeouts and connection errors are retryable outcomes, never raised."""
        request = self.channel.request(message, self.wall())
        self.limiter.record()
        self.requests += 1
        try:
            response = await self.client.post(
                request.url, content=request.body, headers=request.headers, timeout=timeout_s
            )
        except httpx.TimeoutException:
            outcome = Outcome(False, True, None, f"timeout after {timeout_s:g}s")
        except httpx.HTTPError as exc:
            outcome = Outcome(False, True, None, self._redact(f"{type(exc).__name__}: {exc}"))
        else:
            outcome = self.channel.outcome(response)
        if outcome.block_s:
            self.limiter.block(outcome.block_s)
        if not outcome.ok:
            log.warning("channel %s: %s", self.channel.name, outcome.error)
        return outcome

    def _redact(self, text: str) -> str:
        """Error texts may quote the URL (a credential): replace it by the channel's name."""
        url = self.channel.url
        for secret in (url, url.split("?", 1)[0]):
            text = text.replace(secret, f"<{self.channel.name} url>")
        return text[:500]

    def _emit(
        self,
        notices: list[Notice],
        attempt: int,
        status: str,
        http_status: int | None,
        error: str | None,
        digest: list[str],
    ) -> None:
        at = iso(self.wall())
        for n in notices:
            self.record(
                {
                    "schema": DELIVERY_SCHEMA,
                    "alert_id": n.alert.id,
                    "transition": n.transition,
                    "channel": self.channel.name,
                    "attempt": attempt,
                    "status": status,
                    "http_status": http_status,
                    "error": error,
                    "at": at,
                    "digest_of": digest,
                }
            )
