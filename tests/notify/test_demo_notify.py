"""``resonance demo --notify-url URL``: alert transitions on the demo's broker reach the URL
as generic webhook posts, and the console lists the deliveries.

The alerts are produced by the test in the pinned format (the workers' policy produces
the same records), so the test does not depend on when a drift is detected.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from tests.demo.conftest import get_json, start_demo
from tests.notify.conftest import alert_record
from tests.notify.test_service_kafka import produce

pytestmark = pytest.mark.integration
DEADLINE_S = 240.0


def wait_for(predicate, what: str, run, timeout: float = DEADLINE_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.process.poll() is None, f"demo exited early:\n{run.output()}"
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{run.output()}")


def test_demo_posts_alerts_to_the_notify_url_and_lists_deliveries(tmp_path, hook):
    run = start_demo(tmp_path, "--duration", "120", "--notify-url", f"{hook.url}/demo")
    try:
        bootstrap = wait_for(
            lambda: (m := re.search(r"broker (127\.0\.0\.1:\d+)", run.output())) and m[1],
            "the demo's broker address",
            run,
        )
        records = [alert_record(i, consortium="automotive", model=f"weld-{i}") for i in range(3)]
        ids = {r["id"] for r in records}
        # the notifier may still be joining its group: records wait on the topic meanwhile
        asyncio.run(produce(bootstrap, "alerts", records))

        def posted() -> set:
            got = {a["alert"]["id"] for r in hook.requests for a in r.json["alerts"]}
            return ids <= got

        wait_for(posted, "the alerts posted to --notify-url", run)
        assert all(r.path == "/demo" for r in hook.requests)
        assert hook.requests[0].json["schema"] == "resonance.notification/1"

        def listed() -> list | None:
            data = get_json(f"{run.url}/api/deliveries")
            rows = (data or {}).get("deliveries", [])
            done = {d["alert_id"] for d in rows if d["status"] in ("sent", "digested")}
            return rows if ids <= done else None

        rows = wait_for(listed, "the deliveries in the console", run)
        assert {d["channel"] for d in rows if d["alert_id"] in ids} == {"webhook"}
        one = get_json(f"{run.url}/api/deliveries?alert_id={records[0]['id']}")
        assert one and {d["alert_id"] for d in one["deliveries"]} == {records[0]["id"]}
    finally:
        run.stop()
    assert run.process.returncode == 0, run.output()
    notify_log = (run.data_dir / "logs" / "notify.log").read_text()
    assert hook.url not in notify_log  # the URL is a credential: never logged
