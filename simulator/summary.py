"""Exact counts of what a run produced, and the scenario's ground truth.

Counts are per topic (messages, samples) and per model (samples per topic,
served errors, labelled outcomes, energy totals, and per feature the number of
values and of nulls). Streaming tests compare worker totals against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from simulator.specs import Model
from simulator.wire import TOPICS


@dataclass(frozen=True)
class Message:
    """One produced message and what it adds to the summary."""

    emit_ms: int  # event time at which it may be sent (pacing) and merge order
    topic: str  # logical topic: telemetry, predictions, outcomes, energy
    model: str
    value: bytes
    rows: int
    stats: Mapping[str, float] = field(default_factory=dict)  # e.g. {"missing:x": 3, "errors": 1}


def _model_entry(model: Model) -> dict[str, Any]:
    return {
        **model.tenancy,
        "kind": model.target.kind,
        "classes": list(model.target.classes),
        **{topic: 0 for topic in TOPICS.values()},
        "errors": 0,
        "inferences": 0,
        "joules": 0.0,
        "features": {f.name: {"samples": 0, "missing": 0} for f in model.features},
    }


class Summary:
    """Accumulates :class:`Message` counts; :meth:`to_dict` is the ``--summary-json`` shape."""

    def __init__(self, run: Mapping[str, Any], models: list[Model], truth: Mapping[str, Any]):
        self.run = dict(run)
        self.topics = {t: {"messages": 0, "samples": 0} for t in TOPICS.values()}
        self.models = {m.name: _model_entry(m) for m in models}
        self.ground_truth = dict(truth)
        self.delivery = {"delivered": 0, "failed": 0}

    def record(self, msg: Message) -> None:
        self.topics[msg.topic]["messages"] += 1
        self.topics[msg.topic]["samples"] += msg.rows
        entry = self.models[msg.model]
        entry[msg.topic] += msg.rows
        if msg.topic == "telemetry":
            for feat in entry["features"].values():
                feat["samples"] += msg.rows
        for key, value in msg.stats.items():
            if key.startswith("missing:"):
                entry["features"][key[8:]]["missing"] += int(value)
            else:
                entry[key] += value

    @property
    def samples(self) -> int:
        return self.topics["telemetry"]["samples"]

    @property
    def messages(self) -> int:
        return sum(t["messages"] for t in self.topics.values())

    def to_dict(self) -> dict[str, Any]:
        for entry in self.models.values():
            entry["joules"] = round(entry["joules"], 3)
        return {
            "run": self.run,
            "topics": self.topics,
            "models": self.models,
            "ground_truth": self.ground_truth,
            "delivery": self.delivery,
        }

    def write(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
