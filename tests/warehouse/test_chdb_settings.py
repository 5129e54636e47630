"""chDB's cache sizes and memory limit reach the engine (real chDB, docs/warehouse.md "Memory")."""

from __future__ import annotations

from warehouse.backend import CHDB_CACHES, open_backend
from warehouse.settings import WarehouseSettings


def server_settings(backend) -> dict[str, int]:
    names = [*CHDB_CACHES, "max_server_memory_usage"]
    found = backend.query(
        "SELECT name, value FROM system.server_settings WHERE name IN {names:Array(String)}",
        {"names": names},
    ).to_pylist()
    return {r["name"]: int(r["value"]) for r in found}


def test_settings_from_the_environment_reach_chdb(tmp_path, monkeypatch):
    monkeypatch.setenv("RESONANCE_CHDB_CACHE_MB", "32")
    monkeypatch.setenv("RESONANCE_CHDB_MAX_MEMORY_MB", "3072")
    backend = open_backend(WarehouseSettings(), data_dir=tmp_path / "wh")
    try:
        got = server_settings(backend)
        backend.command("CREATE TABLE t (a Int64) ENGINE = MergeTree ORDER BY a")
        backend.command("INSERT INTO t SELECT number FROM numbers(10)")
        assert backend.query("SELECT sum(a) AS s FROM t").to_pylist() == [{"s": 45}]
    finally:
        backend.close()
    assert got == {**{name: 32 << 20 for name in CHDB_CACHES}, "max_server_memory_usage": 3 << 30}


def test_default_caches_are_64_mib_and_the_limit_is_chdbs(tmp_path):
    backend = open_backend(WarehouseSettings(), data_dir=tmp_path / "wh")
    try:
        got = server_settings(backend)
    finally:
        backend.close()
    assert {name: got[name] for name in CHDB_CACHES} == {name: 64 << 20 for name in CHDB_CACHES}
    assert got["max_server_memory_usage"] > 3 << 30  # chDB's own: 90 % of the machine's RAM
