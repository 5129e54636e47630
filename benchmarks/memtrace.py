"""Run a module under tracemalloc and log where its Python heap grows (soak.py --trace).

    python benchmarks/memtrace.py --out worker.jsonl --every 60 -m streams.worker [args]

Every ``--every`` seconds one JSON line on ``--out``: ``t_s``, ``rss_mb`` (the whole
process), ``traced_mb`` (the Python heap tracemalloc sees; RSS minus it is native memory:
chDB, Arrow, numpy buffers, allocator retention), and the ``--top`` source lines whose
traced size grew most since the first snapshot (``--warm`` seconds in); also glibc's
``mallinfo2`` (in use, free in its heaps, mmapped) and, with ``--chdb``, chDB's memory
tracker, cache sizes, active parts and jemalloc totals; Arrow's default pool (backend,
bytes held, peak), Python's and the OS's thread counts (chDB's pools are native threads),
and how many objects the garbage collector tracks. tracemalloc slows
allocation-heavy code by about 2x and its snapshots cost memory of their own: figures
from a traced run locate growth; ``--light`` (no tracemalloc) keeps RSS honest.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _rss_split() -> dict:
    """RSS by kind (MB): anonymous (heaps) and file-backed (mapped libraries: chDB's
    530 MB shared object pages in as its code runs, and the kernel may drop them)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                out[line.split(":")[0][3:].lower() + "_mb"] = round(int(line.split()[1]) / 1024, 1)
    return out


_BACKENDS: list = []  # ChdbBackend instances of this process (--chdb)
_WRITERS: list = []  # the sink's PartialWriter (its ledger's size)
_CHDB_METRICS = ("MemoryTracking", "MarkCacheBytes", "PrimaryIndexCacheBytes",
                 "UncompressedCacheBytes", "QueryCacheBytes", "QueryConditionCacheBytes",
                 "CompiledExpressionCacheBytes", "IndexMarkCacheBytes", "PageCacheBytes",
                 "MergesMutationsMemoryTracking")  # fmt: skip


def _chdb_log(path: Path) -> None:
    """chDB's server log at debug level into ``path``: each statement's text and its
    ``Query peak memory usage``, and the merges' peaks (what allocates, per statement)."""
    import warehouse.backend as wb

    base = wb.chdb_connection

    def logged(*a, **kw) -> str:  # type: ignore[no-untyped-def]
        return base(*a, **kw) + f"&logger.level=debug&logger.log={path}"

    wb.chdb_connection = logged  # type: ignore[assignment]


class _Peaks:
    """Per statement shape: the highest RSS reached while it ran, above RSS before it
    (MB; chDB runs one statement at a time and releases the GIL, so a thread sampling
    RSS every ~2 ms sees each statement's transient peak)."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}  # shape -> [n, max delta, sum delta]
        self._base: float | None = None
        self._max = 0.0
        self._lock = threading.Lock()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            if self._base is not None:
                self._max = max(self._max, _rss_mb())
            time.sleep(0.002)

    def wrap(self, fn):  # type: ignore[no-untyped-def]
        def run(backend, sql, *a, **kw):  # type: ignore[no-untyped-def]
            with self._lock:
                self._base = self._max = _rss_mb()
                try:
                    return fn(backend, sql, *a, **kw)
                finally:
                    delta = max(self._max, _rss_mb()) - self._base
                    self._base = None
                    key = _shape(sql)
                    n, top, total = self.stats.get(key, (0, 0.0, 0.0))
                    self.stats[key] = [n + 1, max(top, delta), total + delta]

        return run

    def top(self, k: int = 8) -> list[dict]:
        rows = sorted(self.stats.items(), key=lambda kv: -kv[1][1])[:k]
        return [{"sql": sql, "n": int(n), "max_mb": round(top, 1),
                 "mean_mb": round(total / n, 2)} for sql, (n, top, total) in rows]  # fmt: skip


_PEAKS: list[_Peaks] = []


def _shape(sql: str) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"\b\d+\b", "N", sql)).strip()[:120]


def _track_peaks() -> None:
    from warehouse.backend import ChdbBackend

    peaks = _Peaks()
    _PEAKS.append(peaks)
    ChdbBackend.query = peaks.wrap(ChdbBackend.query)  # type: ignore[method-assign]
    ChdbBackend.command = peaks.wrap(ChdbBackend.command)  # type: ignore[method-assign]
    ChdbBackend.insert_arrow = peaks.wrap(ChdbBackend.insert_arrow)  # type: ignore[method-assign]


def _track_chdb() -> None:
    from warehouse.backend import ChdbBackend

    init = ChdbBackend.__init__

    def tracked(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        init(self, *a, **kw)
        _BACKENDS.append(self)

    ChdbBackend.__init__ = tracked  # type: ignore[method-assign]

    from warehouse.sink.writer import PartialWriter

    winit = PartialWriter.__init__

    def wtracked(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        winit(self, *a, **kw)
        _WRITERS.append(self)

    PartialWriter.__init__ = wtracked  # type: ignore[method-assign]


def _chdb_probe() -> dict:
    """chDB's own view: memory tracker, cache sizes, active parts, jemalloc totals (MB)."""
    if not _BACKENDS or _BACKENDS[-1]._session is None:
        return {}
    b = _BACKENDS[-1]
    names = ", ".join(f"'{n}'" for n in _CHDB_METRICS)
    m = b.query(f"SELECT metric, value FROM system.metrics WHERE metric IN ({names})")
    pairs = zip(m["metric"].to_pylist(), m["value"].to_pylist(), strict=True)
    out = {k: round(v / 2**20, 1) for k, v in pairs}
    p = b.query("SELECT count() AS n, sum(primary_key_bytes_in_memory_allocated) AS pk,"
                " sum(rows) AS r FROM system.parts WHERE active").to_pylist()[0]  # fmt: skip
    out |= {"parts": p["n"], "pk_mb": round(p["pk"] / 2**20, 1), "rows": p["r"]}
    if _WRITERS:
        out["ledger_keys"] = len(_WRITERS[-1].ledger)
    stats = b.query("SELECT stats FROM system.jemalloc_stats")["stats"][0].as_py()
    merged = stats.find("Merged arenas stats:")
    for line in stats[merged:].splitlines()[:12] if merged >= 0 else []:
        parts = line.split()  # "   dirty:   N/A  <npages> ...": pages freed, not yet purged
        if len(parts) > 2 and parts[0] in ("dirty:", "muzzy:") and parts[2].isdigit():
            out["je_" + parts[0][:-1] + "_mb"] = round(int(parts[2]) * 4096 / 2**20, 1)
    for line in stats.splitlines():
        if line.startswith("Background threads:"):
            out["je_background_threads"] = int(line.split()[2].rstrip(","))
        if line.startswith("Allocated:"):  # Allocated: N, active: N, metadata: N ...
            for part in line.split(","):
                k, _, v = part.strip().partition(":")
                if v.strip().isdigit():
                    out["je_" + k.strip().split()[0]] = round(int(v) / 2**20, 1)
    return out


def _probe() -> dict:
    try:
        return _chdb_probe()
    except Exception as exc:  # a diagnostic never stops the process
        return {"error": str(exc)[:200]}


def _arrow() -> dict:
    """Arrow's view (MB): bytes its default pool holds now, and the pool's backend."""
    if "pyarrow" not in sys.modules:
        return {}
    pa = sys.modules["pyarrow"]
    pool = pa.default_memory_pool()
    return {"pool": pool.backend_name, "allocated_mb": round(pa.total_allocated_bytes() / 2**20, 1),
            "max_mb": round(pool.max_memory() / 2**20, 1)}  # fmt: skip


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]  # fmt: skip


def _malloc() -> dict:
    """glibc's view (MB): bytes in use, free inside its heaps (fragmentation), mmapped."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _Mallinfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    mb = 2**20
    return {"used_mb": round(m.uordblks / mb, 1), "free_mb": round(m.fordblks / mb, 1),
            "mmap_mb": round(m.hblkhd / mb, 1), "heaps_mb": round(m.arena / mb, 1)}  # fmt: skip


def _watch(out: Path, every: float, warm: float, top: int) -> None:
    t0 = time.monotonic()
    time.sleep(warm)
    traced = tracemalloc.is_tracing()
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    base = tracemalloc.take_snapshot().filter_traces(filters) if traced else None
    with out.open("w") as f:
        while True:
            row = {
                "t_s": round(time.monotonic() - t0, 1),
                "rss_mb": round(_rss_mb(), 1),
                **_rss_split(),
                "pymalloc_blocks": sys.getallocatedblocks(),
                "malloc": _malloc(),
                "chdb": _probe(),
                "arrow": _arrow(),
                "threads": threading.active_count(),  # Python's; os_threads: chDB's too
                "os_threads": len(os.listdir("/proc/self/task")),
                "gc_objects": len(gc.get_objects()),
            }
            if _PEAKS:
                row["statement_peaks"] = _PEAKS[0].top()
            if base is not None:
                snap = tracemalloc.take_snapshot().filter_traces(filters)
                row["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                row["tracemalloc_own_mb"] = round(tracemalloc.get_tracemalloc_memory() / 2**20, 1)
                row["top"] = [
                    {
                        "where": f"{d.traceback[0].filename}:{d.traceback[0].lineno}",
                        "mb": round(d.size / 2**20, 2),
                        "growth_mb": round(d.size_diff / 2**20, 2),
                        "count": d.count,
                    }  # fmt: skip
                    for d in snap.compare_to(base, "lineno")[:top]
                ]
                del snap
            f.write(json.dumps(row) + "\n")
            f.flush()
            time.sleep(every)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--every", type=float, default=60.0)
    parser.add_argument("--warm", type=float, default=60.0, help="seconds before the base")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--chdb", action="store_true", help="also log chDB's memory figures")
    parser.add_argument("--light", action="store_true",
                        help="no tracemalloc: RSS, glibc, pymalloc figures")  # fmt: skip
    parser.add_argument("--chdb-log", type=Path, metavar="FILE",
                        help="with --chdb: chDB's server log (debug: per-statement peak "
                        "memory) into FILE")  # fmt: skip
    parser.add_argument("--peaks", action="store_true",
                        help="with --chdb: per statement shape, the RSS peak above RSS "
                        "before it (statement_peaks: the 8 highest)")  # fmt: skip
    parser.add_argument("-m", dest="module", required=True, help="then the module's args")
    argv = sys.argv[1:]
    cut = argv.index("-m") + 2 if "-m" in argv else len(argv)
    args, rest = parser.parse_args(argv[:cut]), argv[cut:]
    if not args.light:
        tracemalloc.start(1)
    threading.Thread(target=_watch, args=(args.out, args.every, args.warm, args.top),
                     daemon=True).start()  # fmt: skip
    sys.argv = [args.module, *rest]
    sys.path[0] = os.getcwd()  # as ``python -m`` does (not benchmarks/: its warehouse.py)
    if args.chdb:
        _track_chdb()
        if args.peaks:
            _track_peaks()
        if args.chdb_log:
            _chdb_log(args.chdb_log.resolve())
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
