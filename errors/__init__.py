"""Every error Resonance raises on purpose, under one root (docs/design.md, "Layers").

This package is the leaf of the import graph: it imports nothing of ours, so every layer
(processors, streams, warehouse, dashboards, resonance) can raise and catch these without
importing a layer above it. The CLI prints a :class:`UsageError` as one line, exit 2.

>>> issubclass(WarehouseUnavailable, WarehouseError) and issubclass(WarehouseError, ResonanceError)
True
>>> isinstance(BrokerError("broker exited"), RuntimeError)  # callers that caught RuntimeError
True
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ResonanceError",
    "SimulatorError",
    "SinkFenceTimeout",
    "SinkFenced",
    "StreamsError",
    "UsageError",
    "WarehouseError",
    "WarehouseUnavailable",
]


class ResonanceError(Exception):
    """Root of every error Resonance raises on purpose."""


class UsageError(ResonanceError):
    """Bad user input (file, column, flag, setting); the message names the culprit."""


class StreamsError(ResonanceError):
    """The streaming layer (broker, workers, simulator) failed for a reason not the user's."""


class BrokerError(StreamsError, RuntimeError):
    """The local broker exited or never became ready."""


class SimulatorError(StreamsError):
    """The simulator could not produce what it was asked for."""


class WarehouseError(ResonanceError):
    """A statement failed inside ClickHouse (bad SQL is a bug, not user input)."""


class WarehouseUnavailable(WarehouseError):
    """ClickHouse cannot be reached or refused a write; the caller may retry."""


class SinkFenced(WarehouseError):
    """A newer sink claimed this sink's partitions (``sink_fence``): the insert stored
    nothing; the batch is dropped and re-read after a new claim (docs/warehouse.md)."""

    #: the message the fenced INSERT's ``throwIf`` raises inside ClickHouse.
    MARK = "resonance: sink fenced"


class SinkFenceTimeout(WarehouseError):
    """A sink's claim waited longer than ``RESONANCE_SINK_FENCE_WAIT_S`` for fenced inserts
    that were already running (a zombie's, docs/warehouse.md "Zombie sinks"). The sink
    stops instead of reading ClickHouse while such an insert may still land; the message
    names the inserts' query ids (``KILL QUERY`` them, or let the supervisor restart it)."""

    def __init__(self, message: str, query_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.query_ids = query_ids
