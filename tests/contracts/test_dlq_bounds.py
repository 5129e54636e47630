"""DLQ records are bounded: one per message, all rejections (capped), raw truncated."""

from __future__ import annotations

import hashlib

import pytest

from streams.decode import Rejection
from streams.dlq import DlqLimits, message_record, parse_dlq_record

TENANCY = {"consortium": "steel", "member": "baowu", "model": "m", "model_version": "3",
           "site": "hsm-2", "hub": "yangtze"}  # fmt: skip


def test_one_record_carries_every_rejection_capped_with_a_count_of_the_rest():
    rejs = [Rejection(f"unknown feature {i}", f"features.f{i}", tuple(range(5000)))
            for i in range(20_000)]  # fmt: skip
    raw = b"x" * 249_000
    limits = DlqLimits(max_raw_bytes=65_536, max_rejections=20, max_rows=100)
    data = message_record(raw, rejs, "telemetry", 2, 41, tenancy=TENANCY, limits=limits)
    rec = parse_dlq_record(data)
    assert len(data) <= limits.max_record_bytes
    assert len(rec.rejections) == 20 and rec.rejections_omitted == 19_980
    assert all(len(r["rows"]) == 100 and r["n_rows"] == 5000 for r in rec.rejections)
    assert rec.raw == raw[:65_536] and rec.raw_truncated and rec.raw_size == 249_000
    assert rec.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert rec.tenancy == TENANCY


@pytest.mark.parametrize("max_record", [4096, 20_000, 131_072])
def test_no_record_exceeds_the_configured_maximum(max_record):
    long_reason = "r" * 10_000
    rejs = [Rejection(long_reason, "f" * 5_000, tuple(range(100_000))) for _ in range(50)]
    limits = DlqLimits(max_raw_bytes=1 << 20, max_record_bytes=max_record)
    data = message_record(b"\xff" * 800_000, rejs, "telemetry", 0, 1, limits=limits)
    rec = parse_dlq_record(data)
    assert len(data) <= max_record
    assert rec.raw_size == 800_000 and rec.raw == b"\xff" * len(rec.raw) and rec.raw_truncated


def test_a_lone_surrogate_in_a_field_name_cannot_break_the_record():
    rej = Rejection("unknown feature", "features.\ud800", (0,))
    rec = parse_dlq_record(message_record(b"{}", [rej], "telemetry", 0, 1))
    assert rec.field == "features.?" and rec.reason == "unknown feature"


def test_limits_stay_below_the_producer_message_limit():
    with pytest.raises(ValueError, match="max_record_bytes"):
        DlqLimits(max_record_bytes=1_000_000)
