"""Topic layout and idempotent creation (``resonance topics create``).

The four input topics share one partition count and are keyed by model, so a model's
predictions and outcomes land on the same partition number and meet in one worker.
Retention is generous on inputs (the join rebuild re-reads predictions back to the join
horizon) and on ``partials`` (the sink may lag), longer on ``dlq`` (someone must look).
``models`` (the registry, streams.registry) is compacted: the last entry per key is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from streams.settings import StreamSettings

DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    schema: str
    retention_days: int
    copartitioned: bool = False
    config: dict[str, str] = field(default_factory=dict)
    partitions: int | None = None  # fixed count (None: the settings' partitions)

    def configs(self) -> dict[str, str]:
        if self.config.get("cleanup.policy") == "compact":
            return dict(self.config)  # compacted: kept forever, last record per key
        return {
            "retention.ms": str(self.retention_days * DAY_MS),
            "cleanup.policy": "delete",
            **self.config,
        }


INPUT_TOPICS = ("telemetry", "predictions", "outcomes", "energy")


def input_topics(consortium: str | None = None) -> dict[str, str]:
    """Input topic name -> the topic a worker reads: ``<consortium>.<name>`` in topic prefix
    mode (one set of input topics per consortium, so per-topic ACLs pin producers to
    their own consortium), else the shared topics.

    >>> input_topics("steel")["telemetry"], input_topics()["outcomes"]
    ('steel.telemetry', 'outcomes')
    """
    return {name: f"{consortium}.{name}" if consortium else name for name in INPUT_TOPICS}


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("telemetry", "model", "streams.events telemetry (single or batch)", 8, True),
    TopicSpec("predictions", "model", "streams.events prediction (single or batch)", 8, True),
    TopicSpec("outcomes", "model", "streams.events outcome (single or batch)", 8, True),
    TopicSpec("energy", "model", "streams.events energy (single or batch)", 8, True),
    TopicSpec("partials", "partial key (sha1)", "streams.partials.Partial JSON", 7),
    TopicSpec("alerts", "consortium/model", "resonance.alert/1: one alert state transition", 30),
    TopicSpec("alert-actions", "consortium/model", "resonance.alert-action/1: ack, silence", 30),
    TopicSpec("dlq", "source topic", "streams.dlq record JSON", 30),
    TopicSpec("deliveries", "alert id", "resonance.delivery/1 JSON (notifier attempts)", 30),
    TopicSpec(
        "models",
        "consortium/model/version",
        "streams.registry.ModelEntry JSON (the model registry)",
        0,
        config={"cleanup.policy": "compact"},
        partitions=1,
    ),
)


def create_topics(
    settings: StreamSettings, partitions: int | None = None, consortia: tuple[str, ...] = ()
) -> dict[str, str]:
    """Create missing topics; returns ``{name: "created" | "exists"}``. Idempotent.

    ``consortia`` (and ``settings.topic_consortium``) also get their own prefixed set of
    the four input topics (topic prefix mode), with the shared topics' partitions and
    retention: the partition count must match the workers' everywhere.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    n = partitions or settings.partitions
    admin = AdminClient(settings.confluent_config())
    prefixed = dict.fromkeys([*consortia, *filter(None, [settings.topic_consortium])])
    specs = list(TOPICS)
    for consortium in prefixed:
        names = input_topics(consortium)
        specs += [replace(s, name=names[s.name]) for s in TOPICS if s.name in names]
    new = [
        NewTopic(
            spec.name, spec.partitions or n, settings.replication_factor, config=spec.configs()
        )
        for spec in specs
    ]
    status: dict[str, str] = {}
    for name, fut in admin.create_topics(new, request_timeout=30).items():
        try:
            fut.result()
            status[name] = "created"
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            status[name] = "exists"
    return status


def topic_partitions(settings: StreamSettings, timeout: float = 10.0) -> dict[str, int]:
    """Partition count per existing topic (metadata request)."""
    from confluent_kafka.admin import AdminClient

    md = AdminClient(settings.confluent_config()).list_topics(timeout=timeout)
    return {name: len(t.partitions) for name, t in md.topics.items()}
