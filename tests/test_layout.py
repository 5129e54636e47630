"""The test tree cannot shadow the packages it tests, whatever pytest's import mode.

``tests/streams``, ``tests/warehouse`` … are named like our packages. pytest's default
``prepend`` mode puts the first folder above a test module that is not a package on
``sys.path``; if that folder held a ``streams`` (or ``warehouse`` …) entry, ``import streams``
in a test would load the test folder instead of ours. ``tests`` is a package, so that folder
is never ``tests/`` itself; and no test folder that can land on ``sys.path`` holds such an
entry.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
TESTS = ROOT / "tests"


def root_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["importlinter"]["root_packages"])


def path_entries() -> list[Path]:
    """Folders prepend mode may put on sys.path: the first non-package folder above each
    test module."""
    out = set()
    for module in TESTS.rglob("test_*.py"):
        folder = module.parent
        while (folder / "__init__.py").exists():
            folder = folder.parent
        out.add(folder)
    return sorted(out)


def test_tests_is_a_package_so_its_folder_never_lands_on_sys_path() -> None:
    assert (TESTS / "__init__.py").exists()
    assert TESTS not in path_entries()
    assert ROOT in path_entries()  # tests/streams/… resolve as tests.streams.…


def test_no_sys_path_folder_holds_one_of_our_package_names() -> None:
    ours = root_packages()
    assert {"streams", "warehouse", "processors"} <= ours
    for folder in path_entries():
        if folder == ROOT:
            continue
        names = {p.stem if p.suffix == ".py" else p.name for p in folder.iterdir()}
        assert not names & ours, (folder, names & ours)
