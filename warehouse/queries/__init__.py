"""Metrics over any time range and step, from merged partials (docs/design.md, principle 1).

SQL sums the stored states (``sumForEach`` over histogram / confusion / bucket
arrays, ``sumMap`` over scalar sums), per bucket of ``step`` and per series;
the processors engines then turn each merged state into metrics
(``Engine.from_dict(...).result()``). A month's PSI is the PSI of the month's
merged histogram, never an average of minute PSIs.

Which table: the range is cut into aligned pieces, and each piece is read from
the coarsest table whose grain divides the step (a month at step 1d reads ~30
rows per series from the day rollup; the ragged edges of an unaligned range
come from the hour and minute tables). User values only ever travel as
``{name:Type}`` parameters.

The package re-exports the names other modules and tests import from ``warehouse.queries``:
:mod:`~warehouse.queries.times` (times, ranges, steps), :mod:`~warehouse.queries.merged`
(merged states, results), :mod:`~warehouse.queries.metrics` (the metric queries) and
:mod:`~warehouse.queries.report` (the monthly report's reads).
"""

from warehouse.queries.merged import Filters, QueryResult, merged_states
from warehouse.queries.metrics import (
    METRICS,
    accuracy,
    drift,
    energy,
    hub_factors_table,
    latency,
    load_profiles,
    load_references,
    resonance,
    resonance_means,
)
from warehouse.queries.report import (
    dlq_counts,
    hub_alternatives,
    known_consortia,
    known_models,
    late_volume,
    month_range,
    stored_alerts,
    volume,
)
from warehouse.queries.times import parse_step, parse_time, segments, time_range

__all__ = [
    "METRICS",
    "Filters",
    "QueryResult",
    "accuracy",
    "dlq_counts",
    "drift",
    "energy",
    "hub_alternatives",
    "hub_factors_table",
    "known_consortia",
    "known_models",
    "late_volume",
    "latency",
    "load_profiles",
    "load_references",
    "merged_states",
    "month_range",
    "parse_step",
    "parse_time",
    "resonance",
    "resonance_means",
    "segments",
    "stored_alerts",
    "time_range",
    "volume",
]
