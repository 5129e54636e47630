"""Where the warehouse lives and how long it keeps minute data.

Read from the environment (``RESONANCE_*``) so a deployment can point every
command at a ClickHouse server without flags; CLI flags override it.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("resonance-data")
DEFAULT_DATABASE = "resonance"
#: a ClickHouse cluster name as ``remote_servers`` defines it (no macros, no quotes).
CLUSTER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
#: :data:`CLUSTER_NAME` in words, for the messages refusing a name
CLUSTER_RULE = "letters, digits, _ and -, not starting with a digit or -"
#: how long a sink's claim waits for fenced inserts already running (warehouse.sink.fence);
#: below aiokafka's max_poll_interval_ms (300 s), past which the group evicts the sink.
DEFAULT_SINK_FENCE_WAIT_S = 120.0


def valid_cluster(name: str) -> bool:
    """Letters, digits, ``_`` and ``-``, not starting with a digit or ``-``.

    >>> [valid_cluster(n) for n in ("prod_2", "eu-west", "", "1x", "a'b", "{cluster}")]
    [True, True, False, False, False, False]
    """
    return CLUSTER_NAME.fullmatch(name) is not None


class WarehouseSettings(BaseSettings):
    """Backend choice and retention.

    ``clickhouse_url`` set ⇒ ClickHouse server (clickhouse-connect, HTTP[S]);
    otherwise embedded chDB in ``data_dir``. User and password may also be in
    the URL (``http://user:pass@host:8123``); the explicit settings win.
    """

    model_config = SettingsConfigDict(env_prefix="RESONANCE_", extra="ignore", frozen=True)

    data_dir: Path = DEFAULT_DATA_DIR
    clickhouse_url: str | None = None
    clickhouse_user: str | None = None
    clickhouse_password: SecretStr | None = None
    clickhouse_database: str = DEFAULT_DATABASE
    clickhouse_secure: bool | None = None
    # Retention of the minute tables (rollups keep everything); 0 = keep forever.
    minute_ttl_days: int = 90
    # Retention of DLQ records (raw bytes are bulky); 0 = keep forever.
    dlq_ttl_days: int = 30
    # Embedded chDB only (docs/warehouse.md, "Memory"): the size of each of its caches
    # (marks, primary index, skipping-index marks, query conditions; ClickHouse's
    # defaults are 5 GiB, 5 GiB, 5 GiB and 100 MiB), and its memory limit (0 = chDB's
    # default, 90 % of RAM; a query that would pass it fails instead).
    chdb_cache_mb: int = Field(64, ge=0)
    chdb_max_memory_mb: int = Field(0, ge=0)
    # Embedded chDB only: seconds between two hand-backs of freed memory to the OS after
    # a sink batch (jemalloc purge + glibc malloc_trim; ChdbBackend.release_memory);
    # 0 = never.
    chdb_release_s: float = Field(5.0, ge=0)
    # The sink's cache of stored (version, state) per partial key (warehouse.sink.ledger);
    # a miss costs a ClickHouse lookup, a key ~4 KB of heap.
    sink_ledger_keys: int = Field(20_000, ge=1)
    # The sink fence (docs/warehouse.md, "Zombie sinks"): a claim waits at most this long
    # for the fenced inserts already running, then the sink stops (SinkFenceTimeout).
    sink_fence_wait_s: float = Field(DEFAULT_SINK_FENCE_WAIT_S, gt=0)
    # A ClickHouse cluster (remote_servers): the fence's wait then reads system.processes
    # of every replica (clusterAllReplicas); None = the server the sink talks to.
    clickhouse_cluster: str | None = None

    @field_validator("clickhouse_cluster")
    @classmethod
    def _cluster_name(cls, v: str | None) -> str | None:
        if not v:  # unset, or set empty (RESONANCE_CLICKHOUSE_CLUSTER= in a .env)
            return None
        if not valid_cluster(v):
            raise ValueError(f"{v!r} is not a cluster name ({CLUSTER_RULE})")
        return v
