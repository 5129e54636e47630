"""Expand a panel's SQL the way Grafana + the ClickHouse plugin do, to run it elsewhere.

Two stages, in Grafana's order:

1. Template variables (Grafana, before the query leaves the browser / alert
   engine): ``${name:singlequote}`` → ``'a','b'`` (quotes escaped), ``${name}`` /
   ``$name`` → the values joined by ``,``. "All" means every value of the
   variable (no custom all value is configured).
2. Plugin macros (the plugin's Go backend, ``pkg/macros/macros.go``):

   ======================  ================================================================
   ``$__timeFilter(c)``    ``c >= toDateTime(<from>) AND c <= toDateTime(<to>)``
   ``$__timeInterval(c)``  ``toStartOfInterval(toDateTime(c), INTERVAL <N> second)``
   ``$__interval_s``       ``<N>``, the panel interval in whole seconds, at least 1
   ``$__fromTime``         ``toDateTime(<from>)``; ``$__toTime`` likewise
   ======================  ================================================================

   ``<from>``/``<to>`` are unix seconds. Any other ``$__`` macro raises, so SQL that
   uses a macro we cannot reproduce here (``$__conditionalAll`` is expanded by the
   browser only, never for alert rules) fails the query test instead of passing
   untested.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_MACRO = re.compile(r"\$__(\w+)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(?!__)(\w+)")


class MacroError(ValueError):
    """SQL uses a macro or variable we cannot expand like Grafana does."""


@dataclass(frozen=True)
class TimeRange:
    """The dashboard range (unix seconds) and panel interval (seconds)."""

    from_s: int
    to_s: int
    interval_s: int = 60

    @property
    def interval(self) -> int:
        return max(int(self.interval_s), 1)


def quote(value: str) -> str:
    """Grafana's ``singlequote`` format for one value."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_values(values: Sequence[str], fmt: str | None, name: str) -> str:
    if fmt == "singlequote":
        return ",".join(quote(v) for v in values)
    if fmt in (None, "raw", "csv"):
        return ",".join(values)
    raise MacroError(f"variable ${{{name}:{fmt}}}: format {fmt!r} not supported")


def expand_variables(sql: str, values: Mapping[str, Sequence[str]]) -> str:
    """Replace every template variable; an unknown variable raises MacroError."""

    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3) or m.group(4)
        if name not in values:
            raise MacroError(f"variable ${name} has no value")
        chosen = list(values[name])
        if not chosen:
            raise MacroError(f"variable ${name} is empty (Grafana would send an empty IN ())")
        return format_values(chosen, m.group(2), name)

    return _VARIABLE.sub(replace, sql)


def _call_argument(sql: str, start: int, name: str) -> tuple[str, int]:
    """The balanced-parenthesis argument starting at ``sql[start] == '('``."""
    if start >= len(sql) or sql[start] != "(":
        raise MacroError(f"$__{name} needs an argument in parentheses")
    depth = 0
    for i in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[i], 0)
        if depth == 0:
            return sql[start + 1 : i].strip(), i + 1
    raise MacroError(f"$__{name}: unbalanced parentheses")


def expand_macros(sql: str, time_range: TimeRange) -> str:
    """Replace the plugin's macros (see the module docstring) left to right."""
    frm, to, n = time_range.from_s, time_range.to_s, time_range.interval
    with_arg = {
        "timeFilter": lambda c: f"{c} >= toDateTime({frm}) AND {c} <= toDateTime({to})",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {n} second)",
    }
    plain = {
        "interval_s": str(n),
        "fromTime": f"toDateTime({frm})",
        "toTime": f"toDateTime({to})",
    }
    out: list[str] = []
    pos = 0
    for m in _MACRO.finditer(sql):
        if m.start() < pos:
            continue
        name = m.group(1)
        out.append(sql[pos : m.start()])
        if name in with_arg:
            arg, pos = _call_argument(sql, m.end(), name)
            out.append(with_arg[name](expand_macros(arg, time_range)))
        elif name in plain:
            out.append(plain[name])
            pos = m.end()
        else:
            raise MacroError(f"macro $__{name} is not expanded by the plugin's backend")
    out.append(sql[pos:])
    return "".join(out)


def expand(sql: str, values: Mapping[str, Sequence[str]], time_range: TimeRange) -> str:
    """Both stages, in Grafana's order: variables, then macros."""
    return expand_macros(expand_variables(sql, values), time_range)
