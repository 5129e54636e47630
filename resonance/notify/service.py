"""The notifier process: ``alerts`` + ``alert-actions`` in, webhooks out, ``deliveries`` log.

It runs off the hot path, in its own consumer group: the workers and the sink
never wait for it, and it never waits for a webhook in its consumer loop (each
channel delivers on its own task, :mod:`resonance.notify.dispatcher`). Offsets of
``alerts`` are committed only below the oldest alert not yet delivered or failed
for good, so a restart re-reads what was still queued (at-least-once). Acks and
silences are read from the start of ``alert-actions`` before the first alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson

from resonance.notify.alert import parse_action, parse_alert
from resonance.notify.channels import build_channels
from resonance.notify.config import NotifyConfig
from resonance.notify.dispatcher import ChannelWorker
from resonance.notify.router import OffsetTracker, Router

log = logging.getLogger("resonance.notify")


@dataclass(frozen=True)
class NotifySettings:
    bootstrap: str = "localhost:9092"
    group_id: str = "resonance-notify"
    alerts_topic: str = "alerts"
    actions_topic: str = "alert-actions"
    deliveries_topic: str = "deliveries"
    commit_interval_s: float = 1.0
    renotify_check_s: float = 30.0
    actions_catch_up_s: float = 10.0
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000


@dataclass
class Stats:
    alerts: int = 0
    invalid: int = 0
    actions: int = 0
    deliveries: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class Notifier:
    """Wires consumers, router, channel workers and the deliveries producer."""

    def __init__(
        self,
        config: NotifyConfig,
        settings: NotifySettings,
        on_delivery: Callable[[dict], None] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.on_delivery = on_delivery
        self.stats = Stats()
        self.tracker = OffsetTracker()
        self._records: asyncio.Queue[dict] = asyncio.Queue()
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            follow_redirects=False,
        )
        self.workers = {
            name: ChannelWorker(
                channel,
                self.client,
                self._record,
                max_digest=config.max_digest,
                queue_limit=config.queue_limit,
            )
            for name, channel in build_channels(config).items()
        }
        self.router = Router(config, self._send)

    def _send(self, name: str, notice, done) -> None:
        self.workers[name].enqueue(notice, done)

    def _record(self, delivery: dict) -> None:
        self.stats.deliveries += 1
        status = delivery["status"]
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        log.info(
            "delivery %s %s via %s: %s (attempt %d)%s",
            delivery["alert_id"],
            delivery["transition"],
            delivery["channel"],
            status,
            delivery["attempt"],
            f" {delivery['error']}" if delivery["error"] else "",
        )
        if self.on_delivery:
            self.on_delivery(delivery)
        self._records.put_nowait(delivery)

    # ------------------------------------------------------------------ run
    async def run(self, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaProducer

        s = self.settings
        producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap, linger_ms=50)
        await producer.start()
        tasks = [asyncio.create_task(self._produce(producer), name="deliveries")]
        try:
            actions = await self._start_actions()
            tasks.append(asyncio.create_task(self._follow_actions(actions, stop), name="actions"))
            for name, worker in self.workers.items():
                tasks.append(asyncio.create_task(worker.run(), name=f"channel-{name}"))
            tasks.append(asyncio.create_task(self._renotify(stop), name="renotify"))
            await self._consume_alerts(stop)
        finally:
            for worker in self.workers.values():
                worker.stop()
            await asyncio.sleep(0)
            for task in tasks[1:]:
                task.cancel()
            await asyncio.gather(*tasks[1:], return_exceptions=True)
            await self._records.join()
            tasks[0].cancel()
            await asyncio.gather(tasks[0], return_exceptions=True)
            with contextlib.suppress(Exception):
                await producer.flush()
            await producer.stop()
            await self.client.aclose()

    async def _produce(self, producer) -> None:
        topic = self.settings.deliveries_topic
        while True:
            record = await self._records.get()
            try:
                await producer.send(topic, orjson.dumps(record), key=record["alert_id"].encode())
            except Exception as exc:  # the log line above already holds the attempt
                log.warning("deliveries topic: %s", exc)
            finally:
                self._records.task_done()

    async def _start_actions(self):
        """Read ``alert-actions`` from the beginning up to its end, before any alert."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        s = self.settings
        consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, enable_auto_commit=False)
        await consumer.start()
        parts = consumer.partitions_for_topic(s.actions_topic)
        if not parts:
            await consumer.force_metadata_update()
            parts = consumer.partitions_for_topic(s.actions_topic) or set()
        tps = [TopicPartition(s.actions_topic, p) for p in sorted(parts)]
        if not tps:
            log.warning("topic %s missing: acks and silences are not read", s.actions_topic)
            return consumer
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + s.actions_catch_up_s
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                break
            self._apply_actions(await consumer.getmany(timeout_ms=200))
        return consumer

    def _apply_actions(self, got: dict) -> None:
        for messages in got.values():
            for msg in messages:
                try:
                    self.router.on_action(parse_action(orjson.loads(msg.value)))
                    self.stats.actions += 1
                except (ValueError, TypeError) as exc:
                    log.warning("alert-actions offset %d skipped: %s", msg.offset, exc)

    async def _follow_actions(self, consumer, stop: asyncio.Event) -> None:
        try:
            if not consumer.assignment():
                return
            while not stop.is_set():
                self._apply_actions(await consumer.getmany(timeout_ms=500))
        finally:
            await consumer.stop()

    async def _renotify(self, stop: asyncio.Event) -> None:
        if self.config.renotify_minutes is None:
            return
        interval = min(self.settings.renotify_check_s, self.config.renotify_minutes * 15)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            self.router.renotify()

    async def _consume_alerts(self, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

        s = self.settings
        tracker = self.tracker
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
        )

        class _Rebalance(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                with contextlib.suppress(Exception):
                    if commits := tracker.commits(revoked):
                        await consumer.commit(commits)
                tracker.forget()

            async def on_partitions_assigned(self, assigned):
                pass

        consumer.subscribe([s.alerts_topic], listener=_Rebalance())
        await consumer.start()
        committed: dict = {}
        next_commit = time.monotonic() + s.commit_interval_s
        try:
            while not stop.is_set():
                got = await consumer.getmany(timeout_ms=200, max_records=1_000)
                for tp, messages in got.items():
                    for msg in messages:
                        self._on_alert_message(tp, msg)
                if time.monotonic() >= next_commit:
                    next_commit = time.monotonic() + s.commit_interval_s
                    committed = await self._commit(consumer, committed)
        finally:
            with contextlib.suppress(Exception):
                await self._commit(consumer, committed)
            await consumer.stop()

    def _on_alert_message(self, tp, msg) -> None:
        done = self.tracker.begin(tp, msg.offset)
        try:
            alert = parse_alert(orjson.loads(msg.value))
        except (ValueError, TypeError) as exc:
            self.stats.invalid += 1
            log.warning("alerts %s[%d]@%d skipped: %s", tp.topic, tp.partition, msg.offset, exc)
            done()
            return
        self.stats.alerts += 1
        self.router.on_alert(alert, done)

    async def _commit(self, consumer, committed: dict) -> dict:
        assigned = consumer.assignment()
        offsets = {tp: o for tp, o in self.tracker.commits(assigned).items() if o > 0}
        changed = {tp: o for tp, o in offsets.items() if committed.get(tp) != o}
        if changed:
            await consumer.commit(changed)
        return {**committed, **changed}


async def run_notifier(
    config: NotifyConfig, settings: NotifySettings, stop: asyncio.Event
) -> Notifier:
    """Run until ``stop`` is set; returns the notifier (its stats) for the caller."""
    notifier = Notifier(config, settings)
    await notifier.run(stop)
    return notifier
