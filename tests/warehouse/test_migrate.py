"""Migrations: versioned, recorded, idempotent; retention applied from settings."""

from __future__ import annotations

import pytest

from warehouse import migrate as mig
from warehouse.backend import WarehouseError

pytestmark = pytest.mark.integration


def columns(backend) -> list[dict]:
    return backend.query(
        "SELECT table, name, type, default_expression, position FROM system.columns "
        "WHERE database = currentDatabase() ORDER BY table, position"
    ).to_pylist()


def test_migrate_twice_leaves_schema_byte_identical(backend):
    before, cols = mig.schema_fingerprint(backend), columns(backend)
    assert mig.migrate(backend, minute_ttl_days=0, log=lambda _m: None) == []
    assert mig.migrate(backend, minute_ttl_days=0, log=lambda _m: None) == []
    assert mig.schema_fingerprint(backend) == before
    assert columns(backend) == cols
    sql = "SELECT version, checksum FROM schema_migrations ORDER BY version"
    recorded = backend.query(sql).to_pylist()
    assert [(r["version"], r["checksum"]) for r in recorded] == [
        (m.version, m.checksum) for m in mig.discover()
    ]


def test_every_documented_table_exists(backend):
    names = {name for name, _ in mig.schema_fingerprint(backend)}
    for table in (
        *mig.MINUTE_TABLES,
        "drift_hour",
        "drift_day",
        "classification_hour",
        "classification_day",
        "scalars_hour",
        "scalars_day",
        "dlq",
        "alert_events",
        "alert_actions",
        "alert_state",
        "verdicts",
        "hubs",
        "references",
        "reference_features",
        "schema_migrations",
    ):
        assert table in names
    assert "alerts" not in names  # 0001's alert table, dropped by 0009


def test_ttl_follows_the_setting_and_is_idempotent(backend):
    def create(table):
        return dict(mig.schema_fingerprint(backend))[table]

    try:
        mig.migrate(backend, minute_ttl_days=7, log=lambda _m: None)
        with_ttl = mig.schema_fingerprint(backend)
        assert "toIntervalDay(7)" in create("drift_minute")
        assert mig.minute_ttl_days(backend) == 7
        mig.migrate(backend, minute_ttl_days=7, log=lambda _m: None)
        assert mig.schema_fingerprint(backend) == with_ttl
    finally:
        mig.migrate(backend, minute_ttl_days=0, log=lambda _m: None)
    assert " TTL " not in create("drift_minute")
    assert mig.minute_ttl_days(backend) == 0


def test_hubs_loaded_once(backend):
    mig.migrate(backend, minute_ttl_days=0, log=lambda _m: None)
    raw = backend.query("SELECT count() AS n FROM hubs").to_pylist()[0]["n"]
    hubs = backend.query("SELECT hub, pue, grid_gco2_per_kwh FROM hubs FINAL").to_pylist()
    assert raw == len(hubs) == 8
    assert all(h["pue"] >= 1 and h["grid_gco2_per_kwh"] > 0 for h in hubs)


def test_an_edited_applied_migration_is_refused(backend, monkeypatch):
    real = mig.discover()
    edited = [mig.Migration(m.version, m.name, m.sql + "\n-- edited\n") for m in real]
    monkeypatch.setattr(mig, "discover", lambda: edited)
    with pytest.raises(WarehouseError, match="changed after it was applied"):
        mig.migrate(backend, minute_ttl_days=0, log=lambda _m: None)


def test_statement_splitting_ignores_comments():
    m = mig.Migration(1, "x", "-- a; b\nCREATE TABLE a (x Int8) ENGINE = Log;\n\nSELECT 1;\n")
    assert m.statements() == ["CREATE TABLE a (x Int8) ENGINE = Log", "SELECT 1"]
