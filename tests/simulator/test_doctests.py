"""The doctest examples of streams/simulator (outside the default testpaths) run here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import streams.simulator

MODULES = [m.name for m in pkgutil.iter_modules(streams.simulator.__path__, "streams.simulator.")]


@pytest.mark.parametrize("name", [*MODULES, "resonance.commands.simulate"])
def test_doctests(name):
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(importlib.import_module(name), optionflags=flags)
    assert result.failed == 0
