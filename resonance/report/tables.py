"""A report table: named columns and plain rows, written the same way to every format.

Every table of a report is one :class:`Table`; the HTML, the PDF, the CSV and the
Parquet exports all read the same object, so they cannot disagree. The CSV
column lists of ``summary``, ``drift`` and ``accuracy`` are a contract that
scripts read (docs/report.md): change them only with a new contract.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

#: The CSV contract: these files carry exactly these columns, in this order.
CONTRACTS: dict[str, tuple[str, ...]] = {
    "summary": (
        "consortium",
        "model",
        "model_version",
        "samples",
        "resonance_index",
        "accuracy",
        "latency_p95_ms",
        "kwh",
        "gco2e",
    ),
    "drift": (
        "consortium",
        "model",
        "model_version",
        "feature",
        "kind",
        "n",
        "psi",
        "js",
        "ks",
        "wasserstein",
        "chi2_pvalue",
        "drift",
    ),
    "accuracy": (
        "consortium",
        "model",
        "model_version",
        "day",
        "n",
        "accuracy",
        "roc_auc",
        "mae",
        "rmse",
    ),
}


@dataclass
class Table:
    """One table of the report: a title for people, columns and rows for machines."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    #: columns the HTML / PDF leave out (the exports keep every column)
    hide: tuple[str, ...] = ("consortium",)
    #: False: an export only (the document shows another view of the same rows)
    doc: bool = True

    def __post_init__(self) -> None:
        contract = CONTRACTS.get(self.name)
        if contract is not None and tuple(self.columns) != contract:
            raise ValueError(f"table {self.name}: columns differ from the CSV contract")

    @property
    def doc_columns(self) -> list[str]:
        return [c for c in self.columns if c not in self.hide]

    def to_csv(self) -> str:
        """CSV text: a header, then one line per row; empty cells where a value is None.

        Floats are written with ``repr`` (shortest exact round trip), so the same
        numbers always give the same bytes and ``float(cell)`` is the stored value.

        >>> Table("t", "T", ["a", "b", "c"], [{"a": 0.1, "b": None, "c": True}]).to_csv()
        'a,b,c\\r\\n0.1,,true\\r\\n'
        """
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([csv_cell(row.get(c)) for c in self.columns])
        return buf.getvalue()

    def to_arrow(self) -> Any:
        """An Arrow table (types inferred per column; None stays null)."""
        import pyarrow as pa

        data = {c: [_arrow_value(r.get(c)) for r in self.rows] for c in self.columns}
        return pa.table(
            {c: pa.array(v) if v else pa.array([], pa.string()) for c, v in data.items()}
        )


def csv_cell(value: Any) -> str:
    """One CSV cell: '' for None / NaN, true/false for booleans, repr for floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def _arrow_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value
