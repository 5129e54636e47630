"""The run summary: the ``--summary-json`` contract and the compact terminal lines.

Both are views of the same :class:`~resonance.console.snapshot.Snapshot`, so what the
terminal says, what the console shows and what the JSON records cannot disagree.

The JSON contract (issue 5; keep it exactly)::

    {"events": {"telemetry": int, "predictions": int, "outcomes": int, "energy": int,
                "rejected": int},
     "scenario": {"injected": [{"consortium": str, "model": str, "kind": str, "start": str}],
                  "controls": [{"consortium": str, "model": str}]},
     "consortia": {"<name>": {"models": {"<model>": {
         "samples": int, "drift_detected": bool, "first_drift_at": str | null,
         "accuracy": float | null, "energy_kwh": float, "resonance_index": float}}}},
     "alerts": [{"consortium": str, "model": str, "rule": str, "severity": str,
                 "state": str, "started_at": str}]}

``drift_detected`` / ``first_drift_at`` come from the stored alerts (a drift rule fired /
its ``started_at``), ``resonance_index`` from the stored window verdicts.

``scenario`` is the ground truth of what was injected; every other figure comes from
the pipeline (partials summed in the warehouse), never from the scenario.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVENT_KEYS = ("telemetry", "predictions", "outcomes", "energy", "rejected")
ALERT_KEYS = ("consortium", "model", "rule", "severity", "state", "started_at")


@dataclass(frozen=True)
class Injected:
    """One injected drift, as the scenario defines it (ground truth)."""

    consortium: str
    model: str
    kind: str
    start: str  # ISO-8601 UTC event time


@dataclass(frozen=True)
class Truth:
    """What the scenario injected and which models are controls."""

    injected: tuple[Injected, ...]
    controls: tuple[tuple[str, str], ...]  # (consortium, model)


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def model_entry(model: Mapping[str, Any]) -> dict[str, Any]:
    """One model's entry, with the contract's types (int, bool, str|None, float|None, float)."""
    return {
        "samples": int(model.get("samples") or 0),
        "drift_detected": bool(model.get("drift_detected")),
        "first_drift_at": model.get("first_drift_at") or None,
        "accuracy": _num(model.get("accuracy")),
        "energy_kwh": float(_num(model.get("energy_kwh")) or 0.0),
        "resonance_index": float(_num(model.get("resonance_index")) or 0.0),
    }


def summary_json(
    events: Mapping[str, int],
    truth: Truth,
    consortia: Mapping[str, Sequence[Mapping[str, Any]]],
    alerts: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Assemble the contract from event counts, the scenario truth and per-model rows.

    ``consortia`` maps a consortium to its model rows (the console's model payloads:
    dicts with ``model`` and the metric keys).
    """
    return {
        "events": {k: int(events.get(k, 0)) for k in EVENT_KEYS},
        "scenario": {
            "injected": [
                {"consortium": i.consortium, "model": i.model, "kind": i.kind, "start": i.start}
                for i in truth.injected
            ],
            "controls": [{"consortium": c, "model": m} for c, m in truth.controls],
        },
        "consortia": {
            name: {"models": {row["model"]: model_entry(row) for row in rows}}
            for name, rows in sorted(consortia.items())
        },
        "alerts": [{k: a[k] for k in ALERT_KEYS} for a in alerts],
    }


def write_summary(path: Path, payload: Mapping[str, Any]) -> None:
    """Write atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


def terminal_lines(
    elapsed_s: float,
    events: Mapping[str, int],
    events_per_s: float,
    windows_closed: int,
    drifting: Sequence[tuple[str, str, str | None]],
    console_url: str,
) -> str:
    """Three short lines for the terminal: flow, drift, where to look."""
    flow = " · ".join(f"{k} {events.get(k, 0):,}" for k in EVENT_KEYS)
    mm, ss = divmod(int(elapsed_s), 60)
    lines = [
        f"[{mm:02d}:{ss:02d}] {events_per_s:,.0f} events/s · {flow} · windows {windows_closed:,}"
    ]
    if drifting:
        shown = ", ".join(
            f"{c}/{m}" + (f" since {t[11:19]}" if t else "") for c, m, t in drifting[:4]
        )
        more = f" (+{len(drifting) - 4} more)" if len(drifting) > 4 else ""
        lines.append(f"        drift detected: {shown}{more}")
    else:
        lines.append("        drift detected: none yet")
    lines.append(f"        console: {console_url}   (Ctrl-C stops; data stays on disk)")
    return "\n".join(lines)
