"""chDB's cache sizes, memory limit, merge concurrency and memory release reach the engine
(real chDB, docs/warehouse.md "Memory")."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from warehouse.backend import CHDB_CACHES, CHDB_MERGES_PER_THREAD, malloc_trim, open_backend
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


_POOL = """
import json, sys
from warehouse.backend import open_backend
from warehouse.settings import WarehouseSettings
b = open_backend(WarehouseSettings(), data_dir=sys.argv[1])
b.command("CREATE TABLE t (a Int64) ENGINE = MergeTree ORDER BY a")
b.command("INSERT INTO t VALUES (1)")
b.command("INSERT INTO t VALUES (2)")
b.command("OPTIMIZE TABLE t")  # the merge pool exists once a merge ran
value = lambda sql: b.query(sql).to_pylist()[0]["value"]
print(json.dumps([
    value("SELECT value FROM system.server_settings "
          "WHERE name = 'background_merges_mutations_concurrency_ratio'"),
    value("SELECT value FROM system.server_settings WHERE name = 'background_pool_size'"),
    value("SELECT value FROM system.metrics WHERE metric = 'BackgroundMergesAndMutationsPoolSize'"),
]))
b.close()
"""


def test_chdb_runs_one_merge_per_background_thread(tmp_path):
    """In a fresh process: chDB re-opened in one process adds to the pool's size metric
    at each start (2, 4, 6, ...), as the sink opens it once."""
    out = subprocess.run(
        [sys.executable, "-c", _POOL, str(tmp_path / "wh")],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2],
    ).stdout  # fmt: skip
    ratio, threads, pool = json.loads(out.strip().splitlines()[-1])
    assert ratio == str(CHDB_MERGES_PER_THREAD)
    # merges at once = pool threads x ratio (ClickHouse's default ratio 2: twice as many)
    assert pool == int(threads) * CHDB_MERGES_PER_THREAD


def jemalloc_dirty_mb(backend) -> float:
    """Dirty pages (freed, not yet handed back) of all of chDB's jemalloc arenas, MB."""
    stats = backend.query("SELECT stats FROM system.jemalloc_stats")["stats"][0].as_py()
    merged = stats[stats.index("Merged arenas stats:") :]
    line = next(x for x in merged.splitlines() if x.split()[:1] == ["dirty:"])
    return int(line.split()[2]) * 4096 / 2**20


def test_release_memory_purges_chdbs_dirty_pages_at_most_once_per_interval(tmp_path, monkeypatch):
    monkeypatch.setenv("RESONANCE_CHDB_RELEASE_S", "3600")
    backend = open_backend(WarehouseSettings(), data_dir=tmp_path / "wh")
    try:
        # a GROUP BY of 10M rows allocates and frees ~70 MB in jemalloc
        backend.command("SELECT sum(number) FROM numbers(10000000) GROUP BY number % 1000000")
        assert backend.release_memory() is True
        dirty = jemalloc_dirty_mb(backend)
        assert backend.release_memory() is False  # within RESONANCE_CHDB_RELEASE_S
    finally:
        backend.close()
    assert dirty < 16  # what the stats query itself freed, at most


def test_release_memory_never_runs_with_release_s_0(tmp_path, monkeypatch):
    monkeypatch.setenv("RESONANCE_CHDB_RELEASE_S", "0")
    backend = open_backend(WarehouseSettings(), data_dir=tmp_path / "wh")
    try:
        assert backend.release_s == 0
        assert backend.release_memory() is False
    finally:
        backend.close()


def test_malloc_trim_runs_on_glibc():
    assert malloc_trim() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
