"""The decoder's field table (``streams.decode._FIELDS``) and the pydantic contracts
(``streams.events``) describe the same events: the same fields per kind, the same required
ones, and the same verdict on every probe value, field by field and type by type."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from streams import decode as decoder
from streams.decode import decode
from streams.events import BATCH, SINGLE, validate_event
from tests.contracts.conftest import NOW, TENANCY

#: Values of every JSON type and edge a field check could draw a line at.
PROBES: tuple[object, ...] = (
    0, 1, -1, 7, 2**40, 0.0, 0.5, 1.0, 1.5, -0.5, 1e300, True, False, None,
    "", "x", "0.5", "1.5", [], {},
)  # fmt: skip

#: A valid value per field, for the fields not being probed.
VALID: dict[str, object] = {
    "prediction_id": "p-1",
    "prediction": "ok",
    "score": 0.5,
    "latency_ms": 12.0,
    "error": False,
    "actual": "ok",
    "joules": 3.0,
    "inferences": 4,
    "duration_s": 1.0,
}
KINDS = [k for k in decoder._FIELDS if k != "telemetry"]


def body(kind: str, **fields: object) -> dict[str, object]:
    out: dict[str, object] = {"schema_version": 1, "kind": kind, "ts": NOW, **TENANCY}
    out.update({name: VALID[name] for name in decoder._FIELDS[kind]})
    out.update(fields)
    return out


def pydantic_accepts(obj: dict[str, object]) -> bool:
    try:
        validate_event(obj, now_ms=NOW)
    except (ValidationError, ValueError):
        return False
    return True


def decoder_accepts(obj: dict[str, object]) -> bool:
    result = decode(orjson.dumps(obj), now_ms=NOW)
    return result.n == 1 and not result.rejections


@pytest.mark.parametrize("kind", sorted(decoder._FIELDS))
def test_same_fields_and_required_ones(kind: str) -> None:
    envelope = set(decoder._ENVELOPE)
    for table in (SINGLE, BATCH):
        fields = table[kind].model_fields
        assert set(fields) == decoder._ALLOWED[kind], kind
        required = {n for n, f in fields.items() if f.is_required()} - envelope - {"features"}
        assert required == {n for n, (req, _, _) in decoder._FIELDS[kind].items() if req}


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_accepts_and_rejects_what_pydantic_does(kind: str) -> None:
    for name in decoder._FIELDS[kind]:
        for value in PROBES:
            obj = body(kind, **{name: value})
            assert decoder_accepts(obj) == pydantic_accepts(obj), (kind, name, value)
        obj = body(kind)
        del obj[name]
        assert decoder_accepts(obj) == pydantic_accepts(obj), (kind, name, "absent")


def test_the_probes_draw_lines() -> None:
    """Each field has a probe it accepts and one it refuses (the check above can fail)."""
    for kind in KINDS:
        for name in decoder._FIELDS[kind]:
            verdicts = {pydantic_accepts(body(kind, **{name: v})) for v in PROBES}
            assert verdicts == {True, False}, (kind, name)
