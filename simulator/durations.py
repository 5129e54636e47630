"""Offsets and durations as written in scenario files and on the command line.

``"+5m"``, ``"90s"``, ``"2h"``, ``"3d"``, ``"1w"`` or a number of seconds; in
scenarios also ``"40%"`` of the run's duration.

>>> parse_duration("+5m"), parse_duration("1.5h"), parse_duration(30)
(300.0, 5400.0, 30.0)
>>> Offset.parse("40%").seconds(3600.0)
1440.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_RE = re.compile(r"^\+?\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$")


def parse_duration(text: str | float) -> float:
    """Seconds in ``text``; raises ValueError naming the accepted forms."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text!r} is negative")
        return float(text)
    match = _RE.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like '+5m', '90s', '2h', '3d' or seconds")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class Offset:
    """A time offset from the start of a run: absolute seconds or a share of the duration."""

    value: float
    relative: bool = False

    @classmethod
    def parse(cls, text: str | float) -> Offset:
        s = str(text).strip()
        if s.endswith("%"):
            try:
                share = float(s[:-1].lstrip("+"))
            except ValueError:
                raise ValueError(f"{text!r} is not a percentage like '40%'") from None
            if not 0 <= share <= 1000:
                raise ValueError(f"{text!r} must be between 0% and 1000%")
            return cls(share / 100.0, relative=True)
        return cls(parse_duration(text))

    def seconds(self, duration_s: float) -> float:
        return self.value * duration_s if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"+{self.value:g}s"
