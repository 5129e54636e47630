"""Bundled sample data (steel hot strip mill); regenerate with ``make_samples.py``."""

from pathlib import Path

DIR = Path(__file__).resolve().parent
REFERENCE = DIR / "steel_reference.csv"
CURRENT = DIR / "steel_current.csv"
