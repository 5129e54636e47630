"""Kafka → ClickHouse sink (a package: see :mod:`warehouse.sink.core`).

Re-exports the names other modules and tests import from ``warehouse.sink``.
"""

from warehouse.sink.core import (
    Batcher,
    PartialWriter,
    SinkBatch,
    SinkConfig,
    WriteStats,
    decode_message,
    dlq_rows,
    flush,
    parse_partial,
    run_sink,
    write_with_retry,
)

__all__ = [
    "Batcher",
    "PartialWriter",
    "SinkBatch",
    "SinkConfig",
    "WriteStats",
    "decode_message",
    "dlq_rows",
    "flush",
    "parse_partial",
    "run_sink",
    "write_with_retry",
]
