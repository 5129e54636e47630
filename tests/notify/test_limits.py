"""Retries, Retry-After, DingTalk's 10-minute block, rate limits and digests, against a
real localhost server; time is virtual (FakeTime), so minutes pass instantly."""

from __future__ import annotations

import asyncio
import re

from tests.notify.conftest import FakeTime, Reply, deliver_all, make_worker, notice

DINGTALK = {"type": "dingtalk", "mode": "plain"}


def run(channel: dict, notices, fake: FakeTime, **config) -> list[dict]:
    deliveries: list[dict] = []

    async def go() -> None:
        worker, client = make_worker(channel, fake, deliveries, **config)
        async with client:
            for n in notices:
                worker.enqueue(n)
            await deliver_all(worker, fake)

    asyncio.run(go())
    return deliveries


def test_a_500_is_retried_with_backoff_and_every_attempt_recorded(hook):
    hook.script.extend([Reply(500, b"boom"), Reply(503, b"busy")])
    fake = FakeTime()
    channel = {"type": "webhook", "url": hook.url, "retry": {"initial_s": 2, "max_s": 60}}
    deliveries = run(channel, [notice(0)], fake)
    assert len(hook.requests) == 3
    assert [(d["attempt"], d["status"], d["http_status"]) for d in deliveries] == [
        (1, "retrying", 500),
        (2, "retrying", 503),
        (3, "sent", 200),
    ]
    assert deliveries[0]["error"] == "HTTP 500: boom"
    # equal jitter with rng = 0.5: 3/4 of 2 s, then of 4 s
    assert fake.slept == [1.5, 3.0]


def test_final_failure_is_recorded_not_dropped(hook):
    hook.default = Reply(500, b"down")
    channel = {"type": "webhook", "url": hook.url, "retry": {"attempts": 3}}
    deliveries = run(channel, [notice(0)], FakeTime())
    assert [d["status"] for d in deliveries] == ["retrying", "retrying", "failed"]
    assert len(hook.requests) == 3


def test_a_4xx_is_not_retried(hook):
    hook.script.append(Reply(400, b"bad payload"))
    deliveries = run({"type": "webhook", "url": hook.url}, [notice(0)], FakeTime())
    assert [(d["status"], d["http_status"]) for d in deliveries] == [("failed", 400)]


def test_slack_429_retry_after_is_honoured(hook):
    hook.script.append(Reply(429, b"rate_limited", {"Retry-After": "7"}))
    fake = FakeTime()
    hook.stamp = fake.clock
    deliveries = run({"type": "slack", "url": hook.url}, [notice(0)], fake)
    first, second = hook.requests
    assert second.stamp - first.stamp >= 7.0
    assert [(d["status"], d["http_status"]) for d in deliveries] == [
        ("retrying", 429),
        ("sent", 200),
    ]


def test_slack_sends_at_most_one_message_a_second(hook):
    fake = FakeTime()

    async def go() -> None:
        worker, client = make_worker({"type": "slack", "url": hook.url}, fake)
        async with client:
            for i in range(5):  # one alert arriving every 0.25 s
                worker.enqueue(notice(i))
                while worker.queue and worker.limiter.wait() == 0:
                    await worker.deliver(worker.take())
                await fake.sleep(0.25)
            await deliver_all(worker, fake)

    hook.stamp = fake.clock
    asyncio.run(go())
    stamps = [r.stamp for r in hook.requests]
    assert all(b - a >= 1.0 for a, b in zip(stamps, stamps[1:], strict=False))
    sections = " ".join(r.json["blocks"][1]["text"]["text"] for r in hook.requests)
    assert all(f"steel/hot-strip-temp-{i}" in sections for i in range(5))
    assert len(hook.requests) < 5


def test_dingtalk_130101_blocks_the_robot_ten_minutes(hook):
    hook.script.append(Reply(200, b'{"errcode": 130101, "errmsg": "send too fast"}'))
    fake = FakeTime()
    hook.stamp = fake.clock
    deliveries = run({**DINGTALK, "url": hook.url}, [notice(0)], fake)
    first, second = hook.requests
    assert second.stamp - first.stamp >= 600.0
    assert deliveries[0]["status"] == "retrying"
    assert deliveries[0]["error"] == "errcode 130101: send too fast"
    assert deliveries[1]["status"] == "sent"


def test_burst_of_100_alerts_to_one_dingtalk_robot(hook):
    """At most 20 requests in any 60 s, and every alert is in some delivered message."""
    fake = FakeTime()
    hook.stamp = fake.clock
    deliveries: list[dict] = []
    notices = [notice(i) for i in range(100)]

    async def go() -> None:
        worker, client = make_worker({**DINGTALK, "url": hook.url}, fake, deliveries)
        async with client:
            for n in notices:  # one alert every 0.5 s, sent as soon as the limiter allows
                worker.enqueue(n)
                while worker.queue and worker.limiter.wait() == 0:
                    await worker.deliver(worker.take())
                await fake.sleep(0.5)
            await deliver_all(worker, fake)

    asyncio.run(go())
    stamps = sorted(r.stamp for r in hook.requests)
    assert max(sum(1 for t in stamps if s <= t < s + 60.0) for s in stamps) <= 20
    texts = [r.json["markdown"]["text"] for r in hook.requests]
    for n in notices:
        pattern = re.compile(rf"steel/{n.alert.model}(?!\d)")
        assert any(pattern.search(t) for t in texts), n.alert.model
    assert len(hook.requests) < 100  # digests happened
    delivered = {d["alert_id"] for d in deliveries if d["status"] in ("sent", "digested")}
    assert delivered == {n.alert.id for n in notices}
    digests = [d for d in deliveries if d["status"] == "digested"]
    assert digests and all(d["alert_id"] in d["digest_of"] for d in digests)


def test_burst_all_at_once_is_one_digest_per_allowed_request(hook):
    fake = FakeTime()
    deliveries = run({**DINGTALK, "url": hook.url}, [notice(i) for i in range(100)], fake,
                     max_digest=10)  # fmt: skip
    assert len(hook.requests) == 10
    assert sorted(len(d["digest_of"]) for d in deliveries) == [10] * 100


def test_a_stop_mid_request_leaves_the_alert_unacknowledged(hook):
    """Its offset must not be committed, so a restarted notifier delivers it."""
    hook.default = Reply(hang=True)
    acked: list[int] = []

    async def go() -> None:
        worker, client = make_worker({"type": "webhook", "url": hook.url}, FakeTime())
        async with client:
            worker.enqueue(notice(0), lambda: acked.append(0))
            task = asyncio.create_task(worker.deliver(worker.take()))
            deadline = asyncio.get_running_loop().time() + 60
            while not hook.requests and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            worker.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    assert len(hook.requests) == 1 and acked == []
