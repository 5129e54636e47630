"""CPU time of the stream decoder per message: fast paths against the general path.

The messages are ``stream_throughput``'s: batch envelopes of 100 samples x 20 numeric
features (~15.5 KB, 2,100 JSON numbers) and single events of 20 features. Each is decoded
by :func:`streams.decode.decode` as the worker calls it (fast path first: simdjson for
batches, msgspec for single events) and again with the fast path switched off (the
general path: orjson, then per-column checks), in alternating rounds of the same process,
so the ratio holds on a loaded machine. Results are kept 200 at a time, as a block keeps
them until its flush (freeing each at once would flatter both paths). CPU time
(``time.process_time``), best round of ``--rounds``.

    python benchmarks/decode_cost.py --json
    python benchmarks/decode_cost.py --json --tree ../other-checkout   # its decoder instead
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# --tree: the decoder (streams/) of another checkout, imported instead of this one's; its
# benchmarks/stream_throughput.py puts that checkout first on sys.path and makes the messages
TREE = (Path(sys.argv[sys.argv.index("--tree") + 1]) if "--tree" in sys.argv else ROOT).resolve()
sys.path.insert(0, str(TREE / "benchmarks"))

import stream_throughput  # noqa: E402

from streams import decode as decode_module  # noqa: E402

KEEP = 200


def per_message_us(values: list[bytes]) -> float:
    kept: list[object] = []
    start = time.process_time()
    for raw in values:
        kept.append(decode_module.decode(raw))
        if len(kept) >= KEEP:
            kept.clear()
    return (time.process_time() - start) / len(values) * 1e6


def general_us(values: list[bytes]) -> float:
    fast = decode_module.fast_telemetry
    decode_module.fast_telemetry = lambda *a: None  # type: ignore[assignment]
    try:
        return per_message_us(values)
    finally:
        decode_module.fast_telemetry = fast


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--singles", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", type=Path, help="checkout whose decoder to measure")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    values = stream_throughput.payloads(args.batches, args.singles, np.random.default_rng(0))
    batches, singles = values[: args.batches], values[args.batches :]
    for raw in (batches[0], singles[0]):  # the messages are clean: both paths accept them
        assert decode_module.decode(raw).n and not decode_module.decode(raw).rejections
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, fn, vals in (
            ("batch_fast_us", per_message_us, batches),
            ("batch_general_us", general_us, batches),
            ("single_fast_us", per_message_us, singles),
            ("single_general_us", general_us, singles),
        ):
            best[name] = min(best.get(name, float("inf")), fn(vals))
    figures = {
        "tree": str(TREE),
        "decoder": decode_module.__file__,
        **best,
        "batch_speedup": best["batch_general_us"] / best["batch_fast_us"],
        "single_speedup": best["single_general_us"] / best["single_fast_us"],
        "batch_fast_ns_per_value": best["batch_fast_us"] * 1e3 / (100 * 21),
        "load_average_1m_start": load_start,
        "load_average_1m": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    for key, value in figures.items():
        print(f"{key:<28}{value:>10.2f}" if isinstance(value, float) else f"{key:<28}{value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
