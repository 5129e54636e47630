"""Sliding-window rate limits per robot, with a block for a platform's penalty box.

A chat robot counts what it received over the last minute (DingTalk, WeCom) or
second (Feishu, Slack) and punishes excess: DingTalk blocks a robot for ten minutes
(errcode 130101). So the limiter counts sends over each window and says how long
to wait before the next one; the dispatcher merges what queues up meanwhile into a
digest. The clock is injectable, so tests can walk through minutes instantly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` requests in any ``per_s`` seconds."""

    count: int
    per_s: float


class RateLimiter:
    """Counts request times over the longest window; ``wait()`` is the delay until allowed.

    >>> now = [0.0]
    >>> rl = RateLimiter([Limit(2, 60.0)], clock=lambda: now[0])
    >>> rl.record(); rl.record(); rl.wait()
    60.0
    >>> now[0] = 60.0; rl.wait()
    0.0
    >>> rl.block(600.0); rl.wait()
    600.0
    """

    def __init__(self, limits: Sequence[Limit], clock: Callable[[], float] = time.monotonic):
        self.limits = tuple(limits)
        self.clock = clock
        self._sent: deque[float] = deque()
        self._horizon = max((lim.per_s for lim in self.limits), default=0.0)
        self._blocked_until = float("-inf")

    def wait(self) -> float:
        """Seconds until one more request fits every window (0.0: now)."""
        now = self.clock()
        while self._sent and self._sent[0] <= now - self._horizon:
            self._sent.popleft()
        delay = max(0.0, self._blocked_until - now)
        for lim in self.limits:
            inside = [t for t in self._sent if t > now - lim.per_s]
            if len(inside) >= lim.count:
                delay = max(delay, inside[-lim.count] + lim.per_s - now)
        return delay

    def record(self) -> None:
        """Count one request sent now (successful or not: the platform counted it)."""
        self._sent.append(self.clock())

    def block(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a platform's penalty, or a ``Retry-After``)."""
        self._blocked_until = max(self._blocked_until, self.clock() + seconds)
