"""Which chDB statements allocate most: peaks per statement from chDB's debug log.

    python benchmarks/chdb_peaks.py DIR/chdb.log [--top 15]

Reads the log ``soak.py --trace DIR --chdb-log`` writes (chDB's server log at debug
level): each statement's text (``executeQuery``) and its ``Query peak memory usage``, the
merges' ``Background process (mutate/merge) peak memory usage``. Prints one JSON object:
statements grouped by shape (literals and parameter values folded), each with count, max
and mean peak (MiB), the merges' peaks per table, and the OS threads seen per minute of the log
(distinct thread ids: a burst of chDB threads shows here).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

_LINE = re.compile(r"^(\S+ \S+) \[ (\d+) \] \{([^}]*)\} <(\w+)> ([^:]+): (.*)$")
_PEAK = re.compile(r"peak memory usage: ([\d.]+) (\w?i?B)")
_TABLE = re.compile(r"^(\S+) \(([0-9a-f-]{36})\)")
_UNITS = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}


def shape(sql: str) -> str:
    """A statement with its literals folded, so repeats group together."""
    sql = re.sub(r"\(stage: \w+\)$", "", sql)
    sql = re.sub(r"'(?:[^'\\]|\\.)*'", "'?'", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "N", sql)
    return re.sub(r"\s+", " ", sql).strip()[:160]


def peaks(path: Path) -> dict:
    text: dict[str, str] = {}
    by_shape: dict[str, list[float]] = defaultdict(list)
    merges: dict[str, list[float]] = defaultdict(list)  # table -> peaks
    tables: dict[str, str] = {}  # uuid -> table
    merging: dict[str, str] = {}  # thread -> table uuid of the merge it ran last
    threads: dict[str, set[str]] = defaultdict(set)
    for line in path.open(errors="replace"):
        m = _LINE.match(line)
        if not m:
            continue
        when, tid, qid, _level, source, msg = m.groups()
        threads[when[:16]].add(tid)
        if "::" in qid:
            merging[tid] = qid.split("::")[0]
        t = _TABLE.match(source)
        if t:
            tables.setdefault(t.group(2), t.group(1))
        if source == "executeQuery" and msg.startswith("(from"):  # chDB reuses query ids
            text[qid] = shape(re.sub(r"^\(from [^)]*\) (\(query \d+, line \d+\) )?", "", msg))
        elif source == "MemoryTracker":
            p = _PEAK.search(msg)
            if not p:
                continue
            mib = float(p.group(1)) * _UNITS.get(p.group(2), 1.0)
            if msg.startswith("Background"):  # logged after the merge's {uuid::part} lines
                merges[tables.get(merging.get(tid, ""), "?")].append(mib)
            else:
                by_shape[text.get(qid, "?")].append(mib)
    stmts = sorted(
        ({"max_mib": round(max(v), 1), "mean_mib": round(sum(v) / len(v), 1), "n": len(v),
          "sql": k} for k, v in by_shape.items()),
        key=lambda r: -r["max_mib"],
    )  # fmt: skip
    return {
        "statements": stmts,
        "merges": {t: {"n": len(v), "max_mib": round(max(v), 1),
                       "mean_mib": round(sum(v) / len(v), 1)}
                   for t, v in sorted(merges.items(), key=lambda kv: -max(kv[1]))},
        "threads_per_minute": {k: len(v) for k, v in sorted(threads.items())},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("log", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    out = peaks(args.log)
    out["statements"] = out["statements"][: args.top]
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
