"""`resonance alerts show ID` lists the notifier's deliveries of that alert."""

from __future__ import annotations

import pytest

from resonance.cli import main
from tests.notify.conftest import alert_record
from warehouse.alert_store import store_transitions
from warehouse.backend import ChdbBackend
from warehouse.deliveries import delivery_rows, parse_delivery
from warehouse.migrate import migrate

pytestmark = pytest.mark.integration


def test_alerts_show_lists_deliveries(tmp_path, capsys):
    rec = alert_record(0)
    backend = ChdbBackend(tmp_path)
    try:
        migrate(backend, minute_ttl_days=0, log=lambda _m: None)
        store_transitions(backend, [rec])
        attempts = [
            {"attempt": 1, "status": "retrying", "http_status": None,
             "error": "timeout after 10s", "digest_of": []},
            {"attempt": 2, "status": "digested", "http_status": 200, "error": None,
             "digest_of": [rec["id"], "other"]},
        ]  # fmt: skip
        rows = [
            parse_delivery({"schema": "resonance.delivery/1", "alert_id": rec["id"],
                            "transition": "firing", "channel": "steel-ding",
                            "at": f"2026-03-01T10:06:0{a['attempt']}.000Z", **a})
            for a in attempts
        ]  # fmt: skip
        backend.insert_arrow("deliveries", delivery_rows(rows))
    finally:
        backend.close()
    capsys.readouterr()
    assert main(["alerts", "show", rec["id"], "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    tail = out[out.index("deliveries:") :].splitlines()
    assert tail[2].split() == ["2026-03-01T10:06:01.000Z", "steel-ding", "firing", "1",
                               "retrying", "timeout", "after", "10s"]  # fmt: skip
    assert tail[3].split() == ["2026-03-01T10:06:02.000Z", "steel-ding", "firing", "2",
                               "digested", "200", "digest", "of", "2"]  # fmt: skip
