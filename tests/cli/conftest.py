"""Helpers shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

from resonance.cli import main

SAMPLE_FEATURES = [
    "grade",
    "strip_temp_c",
    "coil_speed_mps",
    "thickness_mm",
    "rolling_force_kn",
    "cooling_water_m3h",
]
"""The bundled sample's features in file order (coil_id is text, not named categorical: skipped)."""


def fails(capsys, argv: list[str], *needles: str) -> str:
    """Exit 2, nothing on stdout, exactly one line on stderr containing every needle."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def reference_build(
    data: str | Path, out: str | Path, *extra: str, model: str = "m", version: str = "1"
) -> list[str]:
    """argv of ``resonance reference build`` (``extra``: further options)."""
    argv = ["reference", "build", "--data", str(data), "--model", model, "--version", version]
    return [*argv, "--out", str(out), *extra]
