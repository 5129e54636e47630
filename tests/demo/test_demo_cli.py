"""``resonance demo`` input errors: one line on stderr, exit 2, nothing left running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from resonance import cli


def test_demo_is_a_command() -> None:
    assert "demo" in cli.COMMANDS


def test_missing_scenario_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--scenario", "no-such.yaml", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "resonance demo: error: --scenario no-such.yaml: no such file"


@pytest.mark.parametrize("flag", [["--duration", "0"], ["--rate", "-1"], ["--duration", "inf"]])
def test_non_positive_numbers_are_rejected(flag: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", *flag])
    assert exc.value.code == 2


def test_port_in_use_is_one_line_before_anything_starts(capsys, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "data"
        assert cli.main(["demo", "--no-browser", "--port", str(port), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"resonance demo: error: --port {port}: "), err
    assert "in use" in err[0]
    assert not data.exists()  # nothing was started, nothing created


@pytest.mark.integration
def test_data_dir_in_use_fails_fast_and_cleans_up(tmp_path) -> None:
    from warehouse.backend import DirectoryLock

    lock = DirectoryLock(tmp_path)
    lock.acquire()
    try:
        argv = [sys.executable, "-m", "resonance.cli", "demo", "--no-browser", "--port", "0",
                "--duration", "5", "--data-dir", str(tmp_path)]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        lock.release()
    assert done.returncode == 2, done.stderr
    assert "is in use by another process" in done.stderr.splitlines()[-1]
    assert not processes_in(tmp_path)  # the workers (cwd under the data dir) were stopped


def processes_in(directory: Path) -> list[str]:
    """Pids of processes whose working directory is under ``directory`` (Linux /proc)."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if str(cwd.readlink()).startswith(str(directory)):
                found.append(cwd.parent.name)
        except OSError:
            continue
    return found
