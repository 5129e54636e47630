"""Times, ranges and steps of a query, and the aligned pieces a range is read in.

A time is ISO-8601, epoch s/ms, ``now`` or ``now-7d``; a step ``1m`` … ``1d`` or ``all``;
:func:`segments` picks, per piece of the range, the coarsest table grain dividing the step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from errors import UsageError
from warehouse.states import DAY, HOUR, MINUTE
from warehouse.states import iso as _iso

GRAINS = (DAY, HOUR, MINUTE)
DEFAULT_RANGE_S = DAY
_STEP = re.compile(r"^(\d+)([mhd])$")
_UNIT_S = {"m": MINUTE, "h": HOUR, "d": DAY}
_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")
_REL_UNIT_S = {"s": 1, "m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}


#: Times a query accepts: 1970-01-01 up to 2200-01-01 (ClickHouse DateTime's range is
#: 1970-2106; anything outside is a typo, not a range to scan).
MAX_TIME_S = 7_258_118_400


def parse_time(text: str | int | float | datetime | None, *, now: datetime | None = None) -> int:
    """Epoch seconds from ISO-8601, epoch s/ms, ``now`` or ``now-<N><s|m|h|d|w>``; a time
    outside 1970-2200 is a UsageError naming it.

    >>> parse_time("now-99999999d")
    Traceback (most recent call last):
    errors.UsageError: time 'now-99999999d' is outside 1970-01-01 .. 2200-01-01
    """
    try:
        value = _parse_time(text, now=now)
    except (OverflowError, OSError, ValueError):
        value = -1
    if not 0 <= value <= MAX_TIME_S:
        raise UsageError(f"time {text!r} is outside 1970-01-01 .. 2200-01-01") from None
    return value


def _parse_time(text: str | int | float | datetime | None, *, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    if text is None:
        return int(now.timestamp())
    if isinstance(text, datetime):
        return int((text if text.tzinfo else text.replace(tzinfo=UTC)).timestamp())
    if isinstance(text, int | float):
        return int(text / 1000) if text > 10**11 else int(text)
    raw = text.strip()
    rel = _RELATIVE.match(raw)
    if rel:
        back = int(rel[1]) * _REL_UNIT_S[rel[2]] if rel[1] else 0
        return int(now.timestamp()) - back
    if raw.isdigit():
        return _parse_time(int(raw))
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"time {text!r}: use ISO-8601 (2026-11-29T10:00Z), epoch seconds/ms, or now-7d"
        ) from None
    return _parse_time(value)


def parse_step(text: str | None) -> int | None:
    """``1m``, ``5m``, ``1h``, ``1d`` … → seconds; None = one bucket for the whole range."""
    if text is None or text in ("", "all"):
        return None
    match = _STEP.match(text.strip())
    if not match or int(match[1]) == 0:
        raise UsageError(f"--step {text!r}: use <N>m, <N>h or <N>d (e.g. 1m, 1h, 1d) or all")
    return int(match[1]) * _UNIT_S[match[2]]


def time_range(
    start: Any = None, end: Any = None, *, now: datetime | None = None
) -> tuple[int, int]:
    """[start, end) in epoch seconds; default: the last day up to now."""
    hi = parse_time(end, now=now)
    lo = parse_time(start, now=now) if start is not None else hi - DEFAULT_RANGE_S
    if lo >= hi:
        raise UsageError(f"--from must be before --to (got {_iso(lo)} .. {_iso(hi)})")
    return lo, hi


def segments(lo: int, hi: int, step: int | None) -> list[tuple[int, int, int]]:
    """Cut [lo, hi) into (grain, start, end) pieces, coarsest aligned grain first.

    Only grains that divide ``step`` are used, so no stored row straddles a bucket.

    >>> segments(0, 2 * 86400, None)
    [(86400, 0, 172800)]
    >>> segments(1800, 86400 + 90, None)
    [(60, 1800, 3600), (3600, 3600, 86400), (60, 86400, 86490)]
    >>> segments(0, 86400, 3600)
    [(3600, 0, 86400)]
    """
    grains = [g for g in GRAINS if step is None or step % g == 0] or [MINUTE]
    return _split(lo, hi, grains)


def _split(lo: int, hi: int, grains: Sequence[int]) -> list[tuple[int, int, int]]:
    if lo >= hi:
        return []
    g, rest = grains[0], grains[1:]
    if not rest:
        return [(g, lo, hi)]
    a, b = -(-lo // g) * g, hi // g * g
    if a >= b:
        return _split(lo, hi, rest)
    return _split(lo, a, rest) + [(g, a, b)] + _split(b, hi, rest)


def _range(start: Any, end: Any, step: str | int | None) -> tuple[int, int, int | None]:
    lo, hi = time_range(start, end)
    step_s = step if isinstance(step, int) else parse_step(step)
    if step_s is not None and (hi - lo) / step_s > 100_000:
        raise UsageError(f"--step too fine for the range: {math.ceil((hi - lo) / step_s)} buckets")
    return lo, hi, step_s
