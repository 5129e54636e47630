"""Monthly reports for consortium reviewers: HTML, PDF, CSV and Parquet from the warehouse.

``data`` assembles a consortium's month from :mod:`warehouse.queries` (the one read
path), ``tables`` holds the rows every format writes, ``charts`` draws them with
matplotlib, ``render`` writes the files and ``build`` runs it all with a progress bar.
See docs/report.md.
"""

from resonance.report.build import build_report
from resonance.report.render import FORMATS, parse_formats

__all__ = ["FORMATS", "build_report", "parse_formats"]
