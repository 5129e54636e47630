"""The examples in the warehouse docstrings run (warehouse/ is not a doctest path)."""

from __future__ import annotations

import doctest

import pytest

import warehouse.kinds
import warehouse.queries
import warehouse.sink


@pytest.mark.parametrize("module", [warehouse.kinds, warehouse.queries, warehouse.sink])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
