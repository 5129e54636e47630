"""Write a report: HTML (jinja2, charts embedded), PDF (WeasyPrint), CSV and Parquet.

HTML and PDF are one template: the PDF is WeasyPrint's rendering of the HTML,
with the A4 page rules in its stylesheet. CSV and Parquet carry every table in
full; the documents cut very long tables and point at the CSV instead.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

from resonance.report.data import MonthData
from resonance.report.tables import Table

FORMATS = ("html", "pdf", "csv", "parquet")
#: rows of one table shown in the HTML / PDF; the exports always hold every row
DOC_ROWS = 60


def parse_formats(text: str) -> list[str]:
    """``html,pdf`` → ["html", "pdf"]; one-line error naming an unknown format.

    >>> parse_formats("csv, html")
    ['csv', 'html']
    """
    from errors import UsageError

    out = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise UsageError(f"--format {text!r}: choose from {','.join(FORMATS)}")
    return list(dict.fromkeys(out))


def cell(value: Any) -> str:
    """A value as people read it in the document (the CSV keeps full precision).

    >>> cell(0.000123456), cell(1234.5678), cell(None), cell(True)
    ('0.000123', '1,234.57', '–', 'yes')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value != 0 and abs(value) < 0.01:
            return f"{value:.3g}"
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


#: long per-feature / per-day tables: the document shows the rows that matter most
_DOC_ORDER = {
    "drift": lambda r: (not r.get("drift"), -(r.get("psi") or 0.0)),
    "missing": lambda r: (
        -((r.get("missing_rate") or 0.0) - (r.get("reference_missing_rate") or 0.0))
    ),
}


#: tables a chart already draws: too long for the document, they stay in the exports
_DOC_SKIP = {"accuracy", "resonance_daily"}


def _doc_table(t: Table) -> Table:
    """The document's view of a table: at most :data:`DOC_ROWS` rows (the most telling
    ones first for per-feature tables); the exports keep every row."""
    if len(t.rows) <= DOC_ROWS:
        return t
    if t.name in _DOC_SKIP:
        note = f"{len(t.rows)} rows: every row is in {t.name}.csv; the chart above draws them"
        return Table(t.name, t.title, t.columns, [], note, t.hide)
    order = _DOC_ORDER.get(t.name)
    rows = sorted(t.rows, key=order) if order else t.rows
    how = "sorted by relevance, " if order else ""
    note = f"first {DOC_ROWS} of {len(t.rows)} rows ({how}every row is in {t.name}.csv)"
    return Table(t.name, t.title, t.columns, rows[:DOC_ROWS], note, t.hide)


def _kpis(data: MonthData) -> list[dict[str, str]]:
    s = data.tables["summary"].rows
    idx = [r["resonance_index"] for r in s if r["resonance_index"] is not None]
    drifting = sum(1 for r in data.tables["drift"].rows if r.get("drift"))
    return [
        {"label": "model versions", "value": str(len(s))},
        {"label": "predictions", "value": cell(sum(r["samples"] for r in s))},
        {"label": "lowest resonance index", "value": cell(min(idx)) if idx else "–"},
        {"label": "drifting features (month)", "value": str(drifting)},
        {"label": "kWh (facility)", "value": cell(sum(r["kwh"] or 0.0 for r in s))},
        {"label": "kg CO2e", "value": cell(sum(r["gco2e"] or 0.0 for r in s) / 1000)},
    ]


def html(data: MonthData, charts: dict[str, bytes], provenance: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (charts as data: URIs)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("resonance.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = cell
    env.filters["header"] = lambda name: name.replace("_", " ")
    lo, hi = provenance["range_start"], provenance["range_end"]
    return env.get_template("report.html.j2").render(
        consortium=data.consortium,
        month=data.month,
        range_text=f"data range {lo} to {hi} (end exclusive)",
        kpis=_kpis(data),
        tables={name: _doc_table(t) for name, t in data.tables.items()},
        charts={k: base64.b64encode(v).decode("ascii") for k, v in charts.items()},
        provenance=provenance,
    )


def pdf(html_text: str, path: Path) -> None:
    """Render the HTML to PDF with WeasyPrint (fonts from the system: DejaVu)."""
    import logging

    logging.getLogger("fontTools").setLevel(logging.ERROR)
    import weasyprint

    weasyprint.HTML(string=html_text).write_pdf(path)


def write_csv(tables: dict[str, Table], out: Path) -> list[Path]:
    """``<table>.csv`` per table, LF-free of locale: the same rows give the same bytes."""
    paths = []
    for name, t in sorted(tables.items()):
        path = out / f"{name}.csv"
        path.write_bytes(t.to_csv().encode("utf-8"))
        paths.append(path)
    return paths


def write_parquet(tables: dict[str, Table], out: Path) -> list[Path]:
    """``<table>.parquet`` per table (the same columns as the CSV, typed)."""
    import pyarrow.parquet as pq

    paths = []
    for name, t in sorted(tables.items()):
        path = out / f"{name}.parquet"
        pq.write_table(t.to_arrow(), path)
        paths.append(path)
    return paths
