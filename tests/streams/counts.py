"""Totals from de-duplicated partials, and the same totals from a simulator summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from streams.partials import Partial

Totals = dict[tuple[str, str], int]


def totals(partials: Mapping[str, Partial]) -> Totals:
    """(model, what) -> count: per feature sample counts, volume fields, accuracy rows."""
    out: Counter[tuple[str, str]] = Counter()
    for p in partials.values():
        if p.kind.startswith("drift_"):
            out[(p.model, f"feature:{p.feature}")] += p.count
        elif p.kind == "volume":
            for name, n in p.state.items():
                if n:
                    out[(p.model, name)] += n
        elif p.kind in ("classification", "regression"):
            out[(p.model, "accuracy_rows")] += p.count
        elif p.kind == "latency":
            out[(p.model, "latency_rows")] += p.count
        elif p.kind == "energy":
            out[(p.model, "energy_meter_readings")] += p.count
    return dict(out)


def expected_totals(summary: Any, outcomes: bool = True) -> Totals:
    """What a worker must report for a simulator run, exactly."""
    out: dict[tuple[str, str], int] = {}
    for name, m in summary.models.items():
        for feature, f in m["features"].items():
            if m["telemetry"]:
                out[(name, f"feature:{feature}")] = f["samples"]
        for what, n in (
            ("telemetry_samples", m["telemetry"]),
            ("predictions", m["predictions"]),
            ("latency_rows", m["predictions"]),
            ("prediction_errors", m["errors"]),
            ("energy_readings", m["energy"]),
            ("energy_meter_readings", m["energy"]),
        ):
            if n:
                out[(name, what)] = n
        if outcomes and m["outcomes"]:
            out[(name, "outcomes_matched")] = m["outcomes"]
            out[(name, "accuracy_rows")] = m["outcomes"]
    return out


def diff(got: Totals, want: Totals) -> dict[tuple[str, str], tuple[int, int]]:
    """Entries that differ: key -> (got, want)."""
    keys = set(got) | set(want)
    return {k: (got.get(k, 0), want.get(k, 0)) for k in keys if got.get(k, 0) != want.get(k, 0)}
