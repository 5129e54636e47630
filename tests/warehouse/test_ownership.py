"""One process owns a chDB directory; a second one gets one clear line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from errors import UsageError

pytestmark = pytest.mark.integration

HOLD = """
import sys, time
from warehouse.backend import ChdbBackend
b = ChdbBackend(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
b.close()
"""


def resonance(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resonance.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )


def test_second_process_gets_one_line(tmp_path):
    data = tmp_path / "wh"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        for args in (["db", "migrate"], ["query", "drift", "--consortium", "steel"]):
            out = resonance(*args, "--data-dir", str(data))
            assert out.returncode == 2
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1, out.stderr
            assert str(data.resolve()) in lines[0]
            assert "stop that process or pass another --data-dir" in lines[0]
            assert f"pid {holder.pid}" in lines[0]
    finally:
        holder.communicate("", timeout=60)
    # released on exit: the directory can be opened again
    out = resonance("db", "migrate", "--data-dir", str(data))
    assert out.returncode == 0, out.stderr


def test_lock_released_on_close(tmp_path):
    from warehouse.backend import LOCK_NAME, DirectoryLock

    a = DirectoryLock(tmp_path)
    a.acquire()
    with pytest.raises(UsageError, match=f"in use by another process \\(pid {os.getpid()}\\)"):
        DirectoryLock(tmp_path).acquire()  # a second open file description is refused
    a.release()
    b = DirectoryLock(tmp_path)
    b.acquire()  # released: the same directory can be locked again
    assert (tmp_path / LOCK_NAME).read_text() == str(os.getpid())
    b.release()
