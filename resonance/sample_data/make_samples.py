"""Regenerate the bundled sample data (deterministic): ``python make_samples.py``.

A hot strip mill's finishing stand, as a strip-defect model sees it. ``steel_reference.csv``
is training-time data; ``steel_current.csv`` is production data with drift: the finishing
temperature runs 12 °C hotter, the coiling speed varies twice as much, more high-strength
grades are rolled (and one grade the model never saw, ``S355J2``), and the cooling-water
flow meter drops out on 15% of the coils. Thickness and rolling force do not drift.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROWS = 2000
COLUMNS = (
    "coil_id",
    "grade",
    "strip_temp_c",
    "coil_speed_mps",
    "thickness_mm",
    "rolling_force_kn",
    "cooling_water_m3h",
)


def _sample(seed: int, *, drifted: bool) -> list[tuple[object, ...]]:
    rng = np.random.default_rng(seed)
    if drifted:
        grades = rng.choice(
            ["Q235", "Q345", "SPHC", "DC01", "S355J2"], ROWS, p=[0.25, 0.40, 0.15, 0.10, 0.10]
        )
    else:
        grades = rng.choice(["Q235", "Q345", "SPHC", "DC01"], ROWS, p=[0.45, 0.25, 0.20, 0.10])
    temp = rng.normal(900.0 + (12.0 if drifted else 0.0), 8.0, ROWS)
    speed = rng.normal(10.5, 0.6 * (2.0 if drifted else 1.0), ROWS)
    thickness = rng.choice([2.0, 2.5, 3.0, 4.0, 5.0, 6.0], ROWS) + rng.normal(0, 0.02, ROWS)
    force = rng.lognormal(np.log(18_000.0), 0.12, ROWS)
    water = rng.normal(420.0, 25.0, ROWS)
    missing = rng.random(ROWS) < (0.15 if drifted else 0.0)
    start = 500_000 if drifted else 100_000
    return [
        (
            f"C{start + i}",
            str(grades[i]),
            f"{temp[i]:.1f}",
            f"{speed[i]:.3f}",
            f"{thickness[i]:.3f}",
            f"{force[i]:.0f}",
            "" if missing[i] else f"{water[i]:.1f}",
        )
        for i in range(ROWS)
    ]


def write(path: Path, rows: list[tuple[object, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def main() -> None:
    write(HERE / "steel_reference.csv", _sample(20261129, drifted=False))
    write(HERE / "steel_current.csv", _sample(20261130, drifted=True))


if __name__ == "__main__":
    main()
