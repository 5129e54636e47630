"""Streaming settings: one pydantic-settings object read from ``RESONANCE_*`` env vars.

Every command takes ``--bootstrap``; without it the bootstrap comes from
``RESONANCE_KAFKA_BOOTSTRAP``. Security settings are translated once here for the two
client libraries we use (confluent-kafka for admin/producing, aiokafka under Faust for
consuming) so both always agree.

>>> s = StreamSettings(kafka_bootstrap="h:1", security_protocol="SASL_SSL",
...                    sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p")
>>> s.confluent_config()["sasl.password"], s.aiokafka_kwargs()["sasl_plain_password"]
('p', 'p')
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class StreamSettings(BaseSettings):
    """Broker connection, topic layout, windowing, block protocol, join and Faust timings."""

    model_config = SettingsConfigDict(env_prefix="RESONANCE_", extra="ignore", frozen=True)

    # connection and security
    kafka_bootstrap: str = "127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    # topics
    partitions: int = Field(6, ge=1)
    replication_factor: int = Field(1, ge=1)

    #: topic prefix mode: this worker reads ``<consortium>.telemetry`` (and the other three
    #: input topics) and refuses events of any other consortium (docs/production.md)
    topic_consortium: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")

    # worker
    app_id: str = "resonance-worker"
    references_dir: Path = Path("resonance-data")
    window_s: float = Field(60.0, gt=0)
    allowed_lateness_s: float = Field(120.0, ge=0)
    emit_interval_s: float = Field(10.0, gt=0)
    block_messages: int = Field(20_000, ge=1)
    block_idle_s: float = Field(5.0, gt=0)
    block_max_age_s: float = Field(300.0, gt=0)
    #: fetched records go to the worker a fetch at a time (streams.consumer), not through
    #: Faust's per-message stream path (``take_within_s`` applies only then)
    batch_consumer: bool = True
    #: records per batch the worker handles at most (a fetch, or a ``take_events`` batch):
    #: bounds the time between progress lines, timers and emits
    take_max: int = Field(10_000, ge=1)
    take_within_s: float = Field(0.5, gt=0)
    max_message_bytes: int = Field(1 << 20, ge=1024)
    join_horizon_s: float = Field(7 * 86400.0, gt=0)
    join_max_predictions: int = Field(2_000_000, ge=1)
    join_max_pending: int = Field(200_000, ge=1)
    join_max_bytes: int = Field(128 << 20, ge=1 << 16)
    # bounds on state (docs/streaming.md, "Bounds"): the excess goes to the DLQ
    max_windows_per_message: int = Field(100, ge=1)
    max_windows_per_block: int = Field(2_000, ge=1)
    max_series_per_model: int = Field(1_000, ge=1)
    # bounds on one DLQ record (never above the producer's 1,000,000-byte message limit)
    dlq_max_raw_bytes: int = Field(65_536, ge=0)
    dlq_max_rejections: int = Field(20, ge=1)
    dlq_max_rows: int = Field(100, ge=1)
    dlq_max_record_bytes: int = Field(131_072, ge=4096, le=998_976)
    #: seconds between the worker's progress lines on stderr (benchmarks read them)
    report_interval_s: float = Field(10.0, gt=0)
    # registry (streams.registry): the compacted ``models`` topic is the source of truth
    #: ``accept``: models missing from the registry are monitored without a reference
    #: (telemetry counted as ``unreferenced``); ``reject``: their events go to the DLQ
    unknown_models: Literal["accept", "reject"] = "accept"
    #: bootstrap the reference of a model missing from the registry from its first N
    #: telemetry samples, or its first T hours of event time (at most one of the two)
    bootstrap_samples: int | None = Field(None, ge=10)
    bootstrap_hours: float | None = Field(None, gt=0)
    #: also import reference files under ``references_dir`` at start-up (local import path)
    import_references: bool = True
    #: tests only: exit at a point of the block protocol, ``after-acks:N`` (the N-th
    #: group's final partials acknowledged, not committed), ``after-commit:N`` or
    #: ``fail-commit:N`` (the N-th commit request is not sent and counts as failed); the
    #: sink's evaluator: ``after-alerts-published:N`` (the N-th transitions acked by the
    #: ``alerts`` topic, neither stored nor its cursor moved)
    fault_point: str | None = Field(
        None, pattern=r"^(after-acks|after-commit|fail-commit|after-alerts-published):[1-9][0-9]*$"
    )

    # Faust/aiokafka group timings: Tansu needs short ones (docs/design.md, "Measured constraints")
    broker_session_timeout: float = 10.0
    broker_heartbeat_interval: float = 1.0
    broker_rebalance_timeout: float = 5.0
    broker_request_timeout: float = 30.0

    def confluent_config(self) -> dict[str, Any]:
        """librdkafka configuration (admin client, producers)."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        for key, path in (
            ("ssl.ca.location", self.ssl_cafile),
            ("ssl.certificate.location", self.ssl_certfile),
            ("ssl.key.location", self.ssl_keyfile),
        ):
            if path is not None:
                conf[key] = str(path)
        return conf

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS context for aiokafka/Faust, or None for plaintext protocols."""
        if "SSL" not in self.security_protocol:
            return None
        ctx = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.ssl_certfile:
            ctx.load_cert_chain(
                str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None
            )
        return ctx

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaConsumer``/``AIOKafkaProducer``."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        ctx = self.ssl_context()
        if ctx is not None:
            kwargs["ssl_context"] = ctx
        return kwargs

    def faust_credentials(self) -> Any:
        """Faust ``broker_credentials`` (None for PLAINTEXT)."""
        import faust
        from faust.types.auth import SASLMechanism

        ctx = self.ssl_context()
        if self.sasl_mechanism:
            password = self.sasl_password.get_secret_value() if self.sasl_password else ""
            mechanism = SASLMechanism(self.sasl_mechanism)
            return faust.SASLCredentials(
                username=self.sasl_username or "",
                password=password,
                ssl_context=ctx,
                mechanism=mechanism,
            )
        if ctx is not None:
            return faust.SSLCredentials(ctx)
        return None

    def faust_broker_url(self) -> str:
        """``kafka://h1:p1;h2:p2`` for Faust."""
        return "kafka://" + ";".join(h.strip() for h in self.kafka_bootstrap.split(","))


def load_settings(bootstrap: str | None = None, **overrides: Any) -> StreamSettings:
    """Settings from the environment, with CLI flags (when given) taking precedence."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if bootstrap:
        values["kafka_bootstrap"] = bootstrap
    return StreamSettings(**values)


def setting_error(exc: ValidationError) -> str | None:
    """One line for a settings object the environment made invalid, naming the variable:
    ``RESONANCE_PARTITIONS='0': Input should be greater than or equal to 1``; ``None``
    when ``exc`` is not about a settings class. Secret values are never shown.

    >>> try:
    ...     StreamSettings(partitions=0)
    ... except ValidationError as exc:
    ...     print(setting_error(exc))
    RESONANCE_PARTITIONS=0: Input should be greater than or equal to 1
    """
    cls = next((c for c in _settings_classes() if c.__name__ == exc.title), None)
    if cls is None:
        return None
    errors = exc.errors()
    first = errors[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    name = (str(cls.model_config.get("env_prefix", "")) + field).upper()
    info = cls.model_fields.get(field)
    secret = info is not None and "SecretStr" in str(info.annotation)
    shown = "" if secret or "input" not in first else "=" + repr(first["input"])[:80]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{name}{shown}: {first['msg'].removeprefix('Value error, ')}{more}"


def _settings_classes() -> list[type[BaseSettings]]:
    out, todo = [], list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out
