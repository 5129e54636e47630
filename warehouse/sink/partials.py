"""Partial records as the sink stores them: parsed and validated, one bad field named.

>>> from warehouse.sink.partials import TENANCY
>>> TENANCY[0], len(TENANCY)
('consortium', 6)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from warehouse.kinds import KindSpec, spec_for

TENANCY = ("consortium", "member", "model", "model_version", "site", "hub")


@dataclass(frozen=True, slots=True)
class SinkPartial:
    """One partial record (docs/internals.md "Partials"), as the sink needs it."""

    kind: str
    tenancy: tuple[str, ...]
    dimension: str  # feature / classes / source_topic, by kind ("" if none)
    window_start: int  # epoch seconds
    late: bool
    key: str
    version: int
    final: bool
    state: Mapping[str, Any]
    source_topic: str = ""
    source_partition: int = 0
    emitted_at: int = 0
    #: the ``partials`` topic partition the record was read from (the sink fence's unit);
    #: ("", -1) when it did not come from Kafka (:class:`PartialWriter` used directly).
    topic: str = ""
    partition: int = -1

    @property
    def spec(self) -> KindSpec:
        return spec_for(self.kind)


def parse_partial(
    record: Mapping[str, Any] | Any, topic: str = "", partition: int = -1
) -> SinkPartial:
    """Validate a decoded partial record (or a streams.partials.Partial); raises
    ValueError naming the bad field. ``topic`` / ``partition``: where Kafka had it."""
    if not isinstance(record, Mapping) and hasattr(record, "to_dict"):
        record = record.to_dict()
    kind = _field(record, "kind", str)
    spec = spec_for(kind)
    tenancy = tuple(_field(record, name, str) for name in TENANCY)
    state = _field(record, "state", dict)
    if spec.dimension == "feature":
        dimension = _field(record, "feature", str)
    elif spec.dimension == "classes":
        classes = record.get("classes") or state.get("classes")
        dimension = orjson.dumps([str(c) for c in classes]).decode() if classes else ""
        state = {k: v for k, v in state.items() if k != "classes"}
    elif spec.dimension == "calibration":  # CBPE: the calibration descriptor rides in feature
        dimension = _field(record, "feature", str)
    elif spec.dimension == "source_topic":
        dimension = str(record.get("source_topic") or "")
    else:
        dimension = ""
    window_ms = _field(record, "window_start", int)
    return SinkPartial(
        kind=kind,
        tenancy=tenancy,
        dimension=dimension,
        window_start=window_ms // 1000,
        late=bool(record.get("late", False)),
        key=_field(record, "key", str),
        version=_field(record, "version", int),
        final=bool(record.get("final", False)),
        state=state,
        source_topic=str(record.get("source_topic") or ""),
        source_partition=int(record.get("source_partition") or 0),
        emitted_at=int(record.get("emitted_at") or 0),
        topic=topic,
        partition=partition,
    )


def _field(record: Mapping[str, Any], name: str, kind: type) -> Any:
    value = record.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ValueError(f"partial field {name!r}: expected {kind.__name__}, got {value!r:.60}")
    return value
