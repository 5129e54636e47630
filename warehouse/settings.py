"""Where the warehouse lives and how long it keeps minute data.

Read from the environment (``RESONANCE_*``) so a deployment can point every
command at a ClickHouse server without flags; CLI flags override it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("resonance-data")
DEFAULT_DATABASE = "resonance"


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
