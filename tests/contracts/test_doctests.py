"""Every docstring example of every package runs (no hand-kept list to forget a module).

The modules are discovered by walking the packages, so a new module's examples run as soon
as it is written; a module whose examples fail, or an import that breaks, fails here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("errors", "processors", "streams", "simulator", "warehouse", "dashboards", "resonance")
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
    return names


ALL_MODULES = _modules()


def _has_examples(name: str) -> bool:
    module = importlib.import_module(name)
    return any(t.examples for t in doctest.DocTestFinder().find(module))


WITH_EXAMPLES = [name for name in ALL_MODULES if _has_examples(name)]


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS)
    assert result.failed == 0 and result.attempted > 0


def test_discovery_sees_every_package() -> None:
    """The walk reaches the modules the docs promise examples in (guards the walker itself).

    It also fails when a test package shadows one of ours (``tests/streams`` imported as
    ``streams``): then the walk sees the tests' modules instead of ``streams.join``.
    """
    for name in ("processors.drift", "streams.join", "simulator.truth", "warehouse.kinds"):
        assert name in WITH_EXAMPLES
    assert {n.split(".")[0] for n in WITH_EXAMPLES} >= {"errors", "processors", "streams"}
