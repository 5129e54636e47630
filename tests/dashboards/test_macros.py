"""The macro expander reproduces the plugin's expansions (pkg/macros/macros.go) and Grafana's
variable formats, and refuses what it cannot reproduce."""

from __future__ import annotations

import pytest

from dashboards.macros import MacroError, TimeRange, expand, expand_macros, expand_variables

RANGE = TimeRange(1_700_000_000, 1_700_003_600, interval_s=30)


@pytest.mark.parametrize(
    ("sql", "expanded"),
    [
        ("$__timeFilter(ts)", "ts >= toDateTime(1700000000) AND ts <= toDateTime(1700003600)"),
        ("$__timeInterval(ts)", "toStartOfInterval(toDateTime(ts), INTERVAL 30 second)"),
        ("count() / $__interval_s", "count() / 30"),
        ("$__fromTime - $__toTime", "toDateTime(1700000000) - toDateTime(1700003600)"),
        (
            "$__timeFilter(toDateTime(a, 'UTC'))",
            "toDateTime(a, 'UTC') >= toDateTime(1700000000) AND toDateTime(a, 'UTC') <= "
            "toDateTime(1700003600)",
        ),
    ],
)
def test_plugin_macros(sql: str, expanded: str) -> None:
    assert expand_macros(sql, RANGE) == expanded


def test_interval_is_at_least_one_second() -> None:
    assert expand_macros("$__interval_s", TimeRange(0, 10, interval_s=0)) == "1"


@pytest.mark.parametrize(
    "macro", ["$__conditionalAll(a = 1, $x)", "$__timeGroup(ts, '5m')", "$__unknown"]
)
def test_unsupported_macros_raise(macro: str) -> None:
    with pytest.raises(MacroError):
        expand_macros(macro, RANGE)


def test_variables_single_multi_all_and_quoting() -> None:
    values = {"model": ["a", "b'c"], "site": ["s1"]}
    sql = "model IN (${model:singlequote}) AND site = '$site' AND x = ${site} AND [[site]]"
    assert expand_variables(sql, values) == (
        "model IN ('a','b\\'c') AND site = 's1' AND x = s1 AND s1"
    )


@pytest.mark.parametrize("values", [{}, {"model": []}])
def test_missing_or_empty_variables_raise(values: dict) -> None:
    with pytest.raises(MacroError):
        expand_variables("model IN (${model:singlequote})", values)


def test_variables_before_macros() -> None:
    sql = "SELECT $__timeInterval(window_start) AS time FROM t WHERE m IN (${m:singlequote})"
    assert expand(sql, {"m": ["x"]}, RANGE) == (
        "SELECT toStartOfInterval(toDateTime(window_start), INTERVAL 30 second) AS time "
        "FROM t WHERE m IN ('x')"
    )
