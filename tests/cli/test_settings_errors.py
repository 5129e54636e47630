"""An invalid ``RESONANCE_*`` variable is one line naming it, exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.events import TelemetryEvent
from streams.settings import StreamSettings, setting_error
from tests.cli.conftest import fails
from warehouse.settings import WarehouseSettings


def test_a_bad_sink_setting_names_its_variable(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RESONANCE_SINK_LEDGER_KEYS", "abc")
    line = fails(capsys, ["sink", "--data-dir", str(tmp_path), "--bootstrap", "127.0.0.1:1"])
    assert line == (
        "resonance sink: error: RESONANCE_SINK_LEDGER_KEYS='abc': "
        "Input should be a valid integer, unable to parse string as an integer"
    )


def test_the_worker_module_names_the_variable_too() -> None:
    env = {"RESONANCE_PARTITIONS": "0", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "streams.worker"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "resonance worker: error: RESONANCE_PARTITIONS='0': "
        "Input should be greater than or equal to 1"
    )


def test_a_secret_value_is_never_shown() -> None:
    with pytest.raises(ValidationError) as info:
        StreamSettings(sasl_password=["not", "a", "string"])
    assert setting_error(info.value) == "RESONANCE_SASL_PASSWORD: Input should be a valid string"


def test_every_error_is_counted_and_other_models_are_not_settings() -> None:
    with pytest.raises(ValidationError) as info:
        WarehouseSettings(sink_ledger_keys="x", sink_fence_wait_s="y")
    assert setting_error(info.value).endswith("(and 1 more)")
    with pytest.raises(ValidationError) as other:
        TelemetryEvent.model_validate({})
    assert setting_error(other.value) is None
