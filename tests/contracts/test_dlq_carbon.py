"""DLQ records round-trip; hub carbon factors come from codecarbon's provincial data."""

from __future__ import annotations

import hashlib
import json

import pytest

from errors import UsageError
from streams.dlq import dlq_record, parse_dlq_record
from warehouse.carbon import EAST_PUE, HUBS, WEST_PUE, hub_factors, provincial_emissions


def test_dlq_record_fields_and_round_trip():
    raw = b'{"kind": "telemetry", "ts": NaN}'
    data = dlq_record(
        raw,
        "non-finite number (NaN/Infinity)",
        "ts",
        [0, 2],
        "telemetry",
        3,
        99,
        received_at=1_795_946_400_000,
    )
    obj = json.loads(data)
    assert set(obj) == {
        "reason", "field", "rows", "n_rows", "rejections", "rejections_omitted", "tenancy",
        "source", "raw", "raw_size", "raw_sha256", "raw_truncated", "received_at",
    }  # fmt: skip
    assert obj["source"] == {"topic": "telemetry", "partition": 3, "offset": 99}
    assert obj["raw_sha256"] == hashlib.sha256(raw).hexdigest() and obj["raw_size"] == len(raw)
    rec = parse_dlq_record(data)
    assert (rec.raw, rec.rows, rec.field, rec.received_at) == (raw, [0, 2], "ts", 1_795_946_400_000)
    assert rec.rejections == [
        {"reason": "non-finite number (NaN/Infinity)", "field": "ts", "rows": [0, 2], "n_rows": 2}
    ]


def test_dlq_record_whole_message_and_default_time():
    rec = parse_dlq_record(dlq_record(b"\x00\xff", "invalid JSON", None, None, "energy", 0, 1))
    assert rec.rows is None and rec.field is None and rec.raw == b"\x00\xff"
    assert rec.received_at > 1_700_000_000_000


def test_parse_dlq_record_rejects_garbage():
    with pytest.raises(ValueError, match="not a DLQ record"):
        parse_dlq_record(b'{"reason": "x"}')


def test_hub_factors_defaults():
    grid = provincial_emissions()
    factors = hub_factors()
    assert sorted(factors) == sorted(HUBS) and len(factors) == 8
    assert factors["beijing-tianjin-hebei"].grid_gco2_per_kwh == pytest.approx(
        (grid["CN-BJ"] + grid["CN-TJ"] + grid["CN-HE"]) / 3
    )
    assert factors["ningxia"].grid_gco2_per_kwh == 618.7  # MEE/NBS 2023 value
    assert factors["chengdu-chongqing"].grid_gco2_per_kwh == pytest.approx((156.4 + 558.1) / 2)
    assert factors["guizhou"].pue == WEST_PUE and factors["yangtze-river-delta"].pue == EAST_PUE
    assert factors["gansu"].gco2(3.6e6) == pytest.approx(447.1 * 1.2)


def test_hub_factor_overrides():
    f = hub_factors({"gansu": {"grid_gco2_per_kwh": 100, "pue": "1.1"}})
    assert (f["gansu"].grid_gco2_per_kwh, f["gansu"].pue, f["gansu"].source) == (
        100.0,
        1.1,
        "override",
    )
    assert f["guizhou"].pue == WEST_PUE


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"atlantis": {"pue": 1.2}}, "unknown hub 'atlantis'"),
        ({"gansu": {"pue": 0.9}}, "gansu.pue: out of range"),
        ({"gansu": {"grid": 1}}, "unknown key 'grid'"),
        ({"gansu": {"pue": "fast"}}, "not a number"),
    ],
)
def test_hub_factor_override_errors(overrides, message):
    with pytest.raises(UsageError, match=message):
        hub_factors(overrides)
