"""Run the doctests of the contract modules (pytest collects doctests only under testpaths)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "streams.events",
    "streams.decode",
    "streams.dlq",
    "resonance.io",
    "warehouse.carbon",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(module, optionflags=flags)
    assert result.failed == 0 and result.attempted > 0
