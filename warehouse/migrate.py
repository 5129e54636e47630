"""Versioned schema migrations (``warehouse/migrations/NNNN_name.sql``).

Each file is applied once, in version order, and recorded in
``schema_migrations`` with its SHA-256 so an edited, already-applied file is
caught instead of silently diverging. Statements use ``IF NOT EXISTS`` so an
interrupted migration can simply be re-run. Retention is a setting, not
schema: it is applied after the files with ``ALTER TABLE ... MODIFY TTL``, and
only when it differs from what the table already has, so migrating twice
leaves ``SHOW CREATE TABLE`` byte-identical.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import pyarrow as pa

from warehouse.backend import Backend, WarehouseError
from warehouse.carbon import hub_factors

MIGRATIONS_PACKAGE = "warehouse.migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

#: tables whose rows expire after ``minute_ttl_days`` (rollups are kept).
MINUTE_TABLES = (
    "drift_minute",
    "classification_minute",
    "regression_minute",
    "latency_minute",
    "energy_minute",
    "volume_minute",
    "estimation_minute",
)

MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """The file split on ``;`` at line ends, comments dropped."""
        body = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def discover() -> list[Migration]:
    """All migration files shipped in the package, by version."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise WarehouseError(f"duplicate migration versions in {MIGRATIONS_PACKAGE}: {versions}")
    return found


def applied(backend: Backend) -> dict[int, str]:
    """version → checksum of what this database already has."""
    backend.command(MIGRATIONS_DDL)
    table = backend.query("SELECT version, checksum FROM schema_migrations ORDER BY version")
    return {int(r["version"]): str(r["checksum"]) for r in table.to_pylist()}


def migrate(
    backend: Backend,
    *,
    minute_ttl_days: int = 90,
    dlq_ttl_days: int = 30,
    hubs: bool = True,
    log=None,
) -> list[int]:
    """Apply pending migrations, retention and the hubs table; returns versions applied now."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    done = applied(backend)
    new: list[int] = []
    for mig in discover():
        if mig.version in done:
            if done[mig.version] != mig.checksum:
                raise WarehouseError(
                    f"migration {mig.version:04d}_{mig.name}.sql changed after it was applied; "
                    "add a new migration instead of editing an applied one"
                )
            continue
        say(f"applying migration {mig.version:04d}_{mig.name}")
        for statement in mig.statements():
            backend.command(statement)
        backend.insert_arrow(
            "schema_migrations",
            pa.table(
                {
                    "version": pa.array([mig.version], pa.uint32()),
                    "name": [mig.name],
                    "checksum": [mig.checksum],
                    "applied_at": pa.array([_now_ms()], pa.timestamp("ms", tz="UTC")),
                }
            ),
        )
        new.append(mig.version)
    apply_ttl(backend, MINUTE_TABLES, "window_start", minute_ttl_days)
    apply_ttl(backend, ("dlq",), "received_at", dlq_ttl_days)
    if hubs:
        load_hubs(backend)
    return new


def apply_ttl(backend: Backend, tables: tuple[str, ...], column: str, days: int) -> None:
    """Set (or remove, for ``days == 0``) a day TTL, only where it differs."""
    if days < 0:
        raise WarehouseError(f"TTL must be >= 0 days, got {days}")
    for table in tables:
        current = _current_ttl(backend, table)
        wanted = f"toDateTime({column}) + toIntervalDay({days})" if days else None
        if current == wanted or (
            current is not None and wanted is not None and _norm(current) == _norm(wanted)
        ):
            continue
        if wanted is None:
            backend.command(f"ALTER TABLE {table} REMOVE TTL")
        else:
            backend.command(f"ALTER TABLE {table} MODIFY TTL {wanted}")


def _current_ttl(backend: Backend, table: str) -> str | None:
    result = backend.query(
        "SELECT create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND name = {table:String}",
        {"table": table},
    ).to_pylist()
    if not result:
        raise WarehouseError(f"table {table} is missing; run `resonance db migrate`")
    match = re.search(r"\bTTL (.+?)(?:\sSETTINGS\s|$)", result[0]["create_table_query"])
    return match[1].strip() if match else None


def minute_ttl_days(backend: Backend) -> int:
    """The minute tables' TTL in days as migrated (0 = none): what the sink must respect."""
    ttl = _current_ttl(backend, MINUTE_TABLES[0])
    match = re.search(r"toIntervalDay\((\d+)\)", ttl or "")
    return int(match[1]) if match else 0


def _norm(expr: str) -> str:
    return re.sub(r"\s+", "", expr)


def load_hubs(backend: Backend, overrides: dict | None = None) -> int:
    """Copy the carbon factors per compute hub into ``hubs`` (ReplacingMergeTree, read FINAL).

    Rows only change when a factor changes, so repeated migrations add nothing.
    """
    factors = hub_factors(overrides)
    current = {
        r["hub"]: (list(r["provinces"]), r["grid_gco2_per_kwh"], r["pue"], r["name"], r["source"])
        for r in backend.query(
            "SELECT hub, name, provinces, grid_gco2_per_kwh, pue, source FROM hubs FINAL"
        ).to_pylist()
    }
    changed = [
        f
        for f in factors.values()
        if current.get(f.hub) != (list(f.provinces), f.grid_gco2_per_kwh, f.pue, f.name, f.source)
    ]
    if not changed:
        return 0
    now = _now_ms()
    return backend.insert_arrow(
        "hubs",
        pa.table(
            {
                "hub": [f.hub for f in changed],
                "name": [f.name for f in changed],
                "provinces": [list(f.provinces) for f in changed],
                "grid_gco2_per_kwh": pa.array([f.grid_gco2_per_kwh for f in changed], pa.float64()),
                "pue": pa.array([f.pue for f in changed], pa.float64()),
                "source": [f.source for f in changed],
                "updated_at": pa.array([now] * len(changed), pa.timestamp("ms", tz="UTC")),
            }
        ),
    )


def schema_fingerprint(backend: Backend) -> list[tuple[str, str]]:
    """(name, CREATE statement) of every table and view: what "unchanged" means in tests."""
    table = backend.query(
        "SELECT name, create_table_query FROM system.tables "
        "WHERE database = currentDatabase() ORDER BY name"
    )
    return [(r["name"], r["create_table_query"]) for r in table.to_pylist()]


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
