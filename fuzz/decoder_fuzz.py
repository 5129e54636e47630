"""Coverage-guided fuzzing of the stream decoder (atheris, libFuzzer underneath).

The properties are those the worker relies on to never stop a partition:

* :func:`streams.decode.decode` returns for any bytes, never raises, and never reaches its
  catch-all ("undecodable message ...", which would mean a decoder bug);
* accepted rows are consistent: every column has one value per accepted row;
* where the fast path (:mod:`streams.fast_decode`) takes a message, the general path
  gives the same result (kind, tenancy, rows, timestamps, feature columns bit for bit);
* the message's one DLQ record (:func:`streams.dlq.message_record`) stays within
  ``DlqLimits.max_record_bytes`` and parses back (:func:`streams.dlq.parse_dlq_record`).

A violation raises, atheris saves the input as ``crash-*`` in the working directory and the
run exits non-zero. ``make fuzz`` runs this for ``FUZZ_SECONDS`` (default 60) on the seed
corpus below (the contract tests' message shapes and the poison messages of issue 11), which
is written into the first corpus directory when that is empty.

Usage: ``python fuzz/decoder_fuzz.py [libFuzzer flags] CORPUS_DIR``, e.g.
``python fuzz/decoder_fuzz.py -max_total_time=60 test-artifacts/fuzz/corpus``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

NOW = 1_795_946_400_000  # 2026-11-29T10:00:00Z, the contract tests' clock
TENANCY = {
    "consortium": "steel",
    "member": "baowu",
    "model": "strip-defect",
    "model_version": "3",
    "site": "shanghai-hsm-2",
    "hub": "yangtze-river-delta",
}


def seeds() -> list[bytes]:
    """One valid message per kind and shape, plus the poison shapes of the test suite."""

    def msg(kind: str, batch: bool = False, **fields: object) -> bytes:
        body: dict[str, object] = {"schema_version": 1, "kind": kind, **TENANCY}
        if batch:
            body["batch"] = True
        body.update(fields)
        return orjson.dumps(body)

    out = [
        msg("telemetry", ts=NOW, features={"t": 912.4, "grade": "Q235", "speed": None}),
        msg("telemetry", batch=True, ts=[NOW, NOW + 1], features={"t": [1.5, None]}),
        msg(
            "telemetry",
            batch=True,
            ts=[NOW + i for i in range(5)],
            features={"a": [1, -0.0, 2.5e-300, 9007199254740993, 7], "é": [0.1] * 5},
        ),  # fmt: skip
        msg(
            "telemetry",
            batch=True,
            ts=[NOW, "2026-11-29T10:00:00.002Z"],
            features={"g": ["a", None]},
        ),  # fmt: skip
        msg(
            "prediction", ts=NOW, prediction_id="p1", prediction="defect", score=0.8, latency_ms=4
        ),  # fmt: skip
        msg(
            "prediction",
            batch=True,
            ts=[NOW],
            prediction_id=["p1"],
            prediction=[1.5],
            error=[False],
        ),  # fmt: skip
        msg("outcome", ts=NOW, prediction_id="p1", actual="ok"),
        msg("outcome", batch=True, ts=[NOW, NOW], prediction_id=["a", "b"], actual=[1, 0]),
        msg("energy", ts=NOW, joules=2.5, inferences=10, duration_s=1.0),
        msg("energy", batch=True, ts=[NOW], joules=[2.5], inferences=[1], duration_s=[0.1]),
    ]
    base = out[1]
    out += [
        base.replace(b"1.5", b"NaN"),
        base.replace(b"1.5", b"1e999"),
        base.replace(b'"steel"', b'"\\ud800"'),
        base.replace(b'"steel"', b'"\xed\xa0\x80"'),
        base.replace(b'"steel"', b'"x\') OR 1=1 --"'),
        msg("prediction", ts=NOW, prediction_id="p", prediction="x", error=None),
        b"[1,2]",
        b"{",
    ]
    return out


def check(data: bytes) -> None:
    """The fuzzed property (raises AssertionError on a violation)."""
    from streams.decode import (
        MAX_MESSAGE_BYTES,
        DecodeResult,
        _decode_into,
        _envelope,
        decode,
    )
    from streams.dlq import DlqLimits, message_record, parse_dlq_record
    from streams.events import MAX_TS_SKEW_MS
    from streams.fast_decode import fast_telemetry

    r = decode(data, now_ms=NOW)
    fast = fast_telemetry(data, NOW, MAX_TS_SKEW_MS, _envelope, DecodeResult)
    if fast is not None:
        general = DecodeResult()
        try:
            _decode_into(general, data, MAX_MESSAGE_BYTES, NOW, MAX_TS_SKEW_MS)
        except Exception as exc:
            raise AssertionError(f"fast path took what the general path refuses: {exc!r}") from exc
        assert not general.rejections, general.rejections
        assert (fast.kind, fast.tenancy, fast.batch) == (
            general.kind,
            general.tenancy,
            general.batch,
        )
        assert fast.ts_ms.tolist() == general.ts_ms.tolist(), (fast.ts_ms, general.ts_ms)
        assert fast.rows.tolist() == general.rows.tolist()
        assert list(fast.features) == list(general.features)
        for name, col in fast.features.items():
            other = general.features[name]
            assert col.dtype == other.dtype and col.tobytes() == other.tobytes(), name
    assert not any(x.reason.startswith("undecodable") for x in r.rejections), r.rejections
    assert r.message_rejected or r.n == len(r.rows) == len(r.ts_ms) <= r.n_input
    for col in [*r.columns.values(), *r.features.values()]:
        assert r.message_rejected or len(col) == r.n
    if r.rejections:
        limits = DlqLimits(max_raw_bytes=512, max_record_bytes=4_096)
        record = message_record(data, r.rejections, "telemetry", 0, 0, tenancy=r.tenancy,
                                limits=limits)  # fmt: skip
        assert len(record) <= limits.max_record_bytes, len(record)
        parse_dlq_record(record)


def main(argv: list[str]) -> None:
    try:
        import atheris
    except ImportError:
        sys.exit("fuzz: atheris is not installed (pip install -e '.[fuzz]')")
    dirs = [Path(a) for a in argv[1:] if not a.startswith("-")]
    if dirs and (not dirs[0].is_dir() or not any(dirs[0].iterdir())):
        dirs[0].mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            (dirs[0] / f"seed-{i:02d}.json").write_bytes(seed)
    with atheris.instrument_imports(include=["streams"]):
        import streams.decode
        import streams.dlq
        import streams.fast_decode  # noqa: F401
    atheris.Setup(argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
