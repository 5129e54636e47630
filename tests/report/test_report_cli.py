"""``resonance report`` as a user runs it: a progress bar on stderr, the files written, and
one line with exit 2 for each kind of bad input. A tiny warehouse of its own (a chDB
directory belongs to one process, so the CLI runs in a subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SETUP = """
import sys
import numpy as np
from processors.reference import fit_reference
from processors.volume import VOLUME_FIELDS, Volume
from streams.partials import Partial
from warehouse.backend import ChdbBackend
from warehouse.migrate import migrate
from warehouse.references import store_reference
from warehouse.sink import PartialWriter

b = ChdbBackend(sys.argv[1])
migrate(b, minute_ttl_days=0, log=lambda _m: None)
store_reference(b, "steel", fit_reference({"x": np.arange(100.0)}, model="m", version="1"))
w0 = 1793534400000  # 2026-11-01T12:00Z
codes = np.array([VOLUME_FIELDS.index("predictions")] * 40)
tenancy = dict(consortium="steel", member="a", model="m", model_version="1", site="s",
               hub="guizhou", feature="")
PartialWriter(b).write([Partial(kind="volume", **tenancy, window_start=w0, window_end=w0 + 60000,
    late=False, source_topic="predictions", source_partition=0, block_start=0, last_offset=40,
    final=True, state=Volume().update(codes).to_dict(), count=40)])
b.close()
"""


def resonance(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resonance.cli", "report", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "chdb"
    subprocess.run([sys.executable, "-c", SETUP, str(path)], check=True, timeout=300)
    return path


def one_line_exit_2(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resonance report: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_report_cli_writes_files_with_a_progress_bar(data_dir, tmp_path):
    proc = resonance(
        "--consortium", "steel", "--month", "2026-11", "--data-dir", str(data_dir),
        "--out", str(tmp_path), "--format", "csv,html",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "report steel 2026-11 [" in proc.stderr
    assert re.search(r"\] (\d+)/\1 html \(", proc.stderr), proc.stderr  # the bar ends full
    assert (tmp_path / "summary.csv").read_text().splitlines()[1].startswith("steel,m,1,40,")
    assert (tmp_path / "resonance-steel-2026-11.html").stat().st_size > 5_000
    assert not list(tmp_path.glob("*.pdf")) and not list(tmp_path.glob("*.parquet"))


def test_unknown_consortium_lists_known(data_dir, tmp_path):
    proc = resonance("--consortium", "auto", "--month", "2026-11", "--data-dir", str(data_dir))
    one_line_exit_2(proc, "--consortium 'auto' is unknown", "(known: steel)")


def test_empty_month(data_dir, tmp_path):
    proc = resonance(
        "--consortium", "steel", "--month", "2026-10", "--data-dir", str(data_dir),
        "--out", str(tmp_path),
    )  # fmt: skip
    one_line_exit_2(proc, "--month 2026-10: no data stored for steel")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "november", "2026-11-01"])
def test_invalid_month(month, tmp_path):
    proc = resonance("--consortium", "steel", "--month", month, "--out", str(tmp_path))
    one_line_exit_2(proc, f"--month {month!r}: use YYYY-MM")


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out in (blocker, blocker / "sub"):
        proc = resonance("--consortium", "steel", "--month", "2026-11", "--out", str(out))
        one_line_exit_2(proc, f"--out {out}")


def test_unknown_format(tmp_path):
    proc = resonance("--consortium", "steel", "--month", "2026-11", "--format", "docx")
    one_line_exit_2(proc, "--format 'docx': choose from html,pdf,csv,parquet")
