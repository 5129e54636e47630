"""The model registry: one entry per model version on the compacted Kafka topic ``models``.

Every process that needs to know a model (workers, the sink, the CLI, the query layer)
reads the same topic, on any machine: :class:`RegistryReader` replays it from the start
and then follows it, so an entry registered while workers run is picked up without a
restart, and a restarted worker rebuilds the full registry from the topic. The topic is
keyed ``consortium/model/version`` with ``cleanup.policy=compact``; the last record of a
key wins. Retiring a model writes the entry again with ``retired: true``.

An entry (:class:`ModelEntry`, JSON schema ``resonance.model/1``) holds the reference
profile inline, or a pointer (``reference_uri``, a path or ``file://`` URL every reader
can open) when it is large; the target (``regressor``, or ``binary``/``multiclass`` with
its classes and positive class); baselines, feature importances and a latency SLO for the
alert policy; owner and contact; the retired flag; where its reference came from
(``provenance``: ``registered``, ``bootstrap`` with the samples it was fitted on, or
``none``); and, for a classifier registered with reference predictions, the score
``calibration`` that performance estimation reads (``processors.calibration``, its
``Calibration.to_dict()``: maps, classes, ECE on the reference).

Local files remain an import path (:meth:`ModelRegistry.load`, ``resonance models
import``), never the source of truth.

>>> e = ModelEntry(consortium="steel", model="m", version="1",
...                target=Target(kind="binary", classes=("ok", "defect")))
>>> e.key, e.target.positive_class, e.profile is None
('steel/m/1', 'defect', True)
>>> ModelEntry.model_validate_json(e.to_json()) == e
True
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from processors.calibration import Calibration
from processors.labels import canonical_label
from processors.reference import ReferenceProfile

log = logging.getLogger(__name__)

MODELS_TOPIC = "models"
SCHEMA = "resonance.model/1"
ModelId = tuple[str, str, str]  # consortium, model, model_version
TargetKind = Literal["regressor", "binary", "multiclass"]
TARGET_KINDS: tuple[str, ...] = ("regressor", "binary", "multiclass")


class Target(BaseModel):
    """What the model predicts. Binary: the positive class is the last (engines score it).

    >>> Target(kind="binary", classes=("defect", "ok"), positive_class="defect").classes
    ('ok', 'defect')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TargetKind
    classes: tuple[str, ...] = ()
    positive_class: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Target:
        if self.kind == "regressor":
            if self.classes or self.positive_class:
                raise ValueError("a regressor has no classes")
            return self
        classes = tuple(_class(c) for c in self.classes)
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"{self.kind} needs >= 2 distinct classes, got {list(classes)}")
        if self.kind == "binary" and len(classes) != 2:
            raise ValueError(f"binary needs exactly 2 classes, got {list(classes)}")
        positive = None if self.positive_class is None else _class(self.positive_class)
        if positive is not None and positive not in classes:
            raise ValueError(f"positive class {positive!r} is not one of {list(classes)}")
        if self.kind == "binary":
            positive = positive or classes[-1]
            classes = (*[c for c in classes if c != positive], positive)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "positive_class", positive)
        return self

    @property
    def is_classifier(self) -> bool:
        return self.kind in ("binary", "multiclass")


class Bootstrap(BaseModel):
    """Fit the reference from production: the first ``samples`` telemetry rows, or the rows
    of the first ``hours`` of event time (capped at ``max_samples``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int | None = Field(None, ge=10)
    hours: float | None = Field(None, gt=0)
    max_samples: int = Field(100_000, ge=10)
    categorical: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one(self) -> Bootstrap:
        if (self.samples is None) == (self.hours is None):
            raise ValueError("bootstrap needs exactly one of samples or hours")
        return self


class ModelEntry(BaseModel):
    """One model version in the registry (the value on the ``models`` topic)."""

    model_config = ConfigDict(frozen=True, extra="ignore", protected_namespaces=())

    schema_: Literal["resonance.model/1"] = Field(SCHEMA, alias="schema")
    consortium: str = Field(min_length=1)
    model: str = Field(min_length=1)
    version: str = Field(min_length=1)
    target: Target | None = None
    reference: dict[str, Any] | None = None
    reference_uri: str | None = None
    bootstrap: Bootstrap | None = None
    provenance: dict[str, Any] = Field(default_factory=lambda: {"source": "none"})
    baselines: dict[str, float] = Field(default_factory=dict)
    importances: dict[str, float] = Field(default_factory=dict)
    slo_p95_ms: float | None = Field(None, gt=0)
    calibration: dict[str, Any] | None = None
    owner: str | None = None
    contact: str | None = None
    retired: bool = False
    registered_at: int = 0
    updated_at: int = 0

    @field_validator("consortium", "model", "version")
    @classmethod
    def _no_slash(cls, v: str) -> str:
        if "/" in v:
            raise ValueError(f"{v!r} must not contain '/'")
        return v

    @model_validator(mode="after")
    def _reference_parses(self) -> ModelEntry:
        if self.reference is not None and self.reference_uri is not None:
            raise ValueError("give reference or reference_uri, not both")
        if self.reference is not None:
            profile = ReferenceProfile.from_dict(self.reference)
            if (profile.model, profile.version) != (self.model, self.version):
                raise ValueError(
                    f"reference is for {profile.model} version {profile.version},"
                    f" not {self.model} version {self.version}"
                )
        return self

    # --- derived ------------------------------------------------------------------------

    @property
    def key(self) -> str:
        return f"{self.consortium}/{self.model}/{self.version}"

    @property
    def mid(self) -> ModelId:
        return (self.consortium, self.model, self.version)

    @cached_property
    def profile(self) -> ReferenceProfile | None:
        """The reference profile (inline, or read once from ``reference_uri``)."""
        if self.reference is not None:
            return ReferenceProfile.from_dict(self.reference)
        if self.reference_uri is not None:
            path = self.reference_uri.removeprefix("file://")
            try:
                return ReferenceProfile.from_json(Path(path).read_text())
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("%s: reference %s unreadable: %s", self.key, path, exc)
        return None

    @cached_property
    def score_calibration(self) -> Calibration | None:
        """The :class:`processors.calibration.Calibration` of the entry, or None (also when
        it does not parse, or is for other classes than the target's: an entry is never
        refused for it, estimation is just off; ``models register`` checks both)."""
        if self.calibration is None or self.target is None:
            return None
        try:
            cal = Calibration.from_dict(self.calibration)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("%s: calibration unreadable: %s", self.key, exc)
            return None
        return cal if cal.classes == self.target.classes else None

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude={"profile"})

    def replace(self, **changes: Any) -> ModelEntry:
        """A validated copy with ``changes`` applied and ``updated_at`` set to now."""
        data = self.model_dump(by_alias=True) | changes
        data["updated_at"] = int(time.time() * 1000)
        return ModelEntry.model_validate(data)


# Compatibility names: workers and engines speak of "model info".
ModelInfo = ModelEntry


def parse_entry(value: bytes | str) -> ModelEntry:
    """An entry from a topic value; raises ValueError naming the problem."""
    try:
        return ModelEntry.model_validate_json(value)
    except Exception as exc:  # pydantic.ValidationError is a ValueError
        raise ValueError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from None


class ModelRegistry:
    """Entries by (consortium, model, version), plus a ``revision`` that grows on every change
    (caches keyed on entries, such as a worker's engine specs, compare it)."""

    def __init__(self, models: Mapping[ModelId, ModelEntry] | None = None) -> None:
        self.models: dict[ModelId, ModelEntry] = dict(models or {})
        self.revision = 0
        self._listeners: list[Callable[[ModelEntry], None]] = []

    def get(self, consortium: str, model: str, version: str) -> ModelEntry | None:
        return self.models.get((consortium, model, version))

    def apply(self, entry: ModelEntry) -> None:
        """Add or replace an entry (a record read from the topic, or a local change)."""
        if self.models.get(entry.mid) == entry:
            return
        self.models[entry.mid] = entry
        self.revision += 1
        for listener in list(self._listeners):
            listener(entry)

    def on_change(self, listener: Callable[[ModelEntry], None]) -> None:
        self._listeners.append(listener)

    def versions(self, consortium: str, model: str) -> list[ModelEntry]:
        return [e for (c, m, _), e in self.models.items() if (c, m) == (consortium, model)]

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self):
        return iter(sorted(self.models.values(), key=lambda e: e.mid))

    @classmethod
    def load(cls, directory: str | Path) -> ModelRegistry:
        """Import path: entries from profile files under ``<directory>/references``."""
        return cls({e.mid: e for e in import_directory(directory)})


# --------------------------------------------------------------------------- topic I/O


class RegistryReader:
    """Follows the ``models`` topic from its start on a daemon thread, into ``registry``.

    :meth:`start` returns once the topic has been read up to its end as of the call
    (so the caller sees every model registered before it started), then the thread keeps
    applying new records within ``poll_s``. No consumer group: every reader sees all.
    """

    def __init__(
        self, settings: Any, registry: ModelRegistry | None = None, poll_s: float = 0.2
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else ModelRegistry()
        self.poll_s = poll_s
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, timeout: float = 60.0) -> RegistryReader:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        conf = self.settings.confluent_config() | {
            "group.id": "resonance-registry-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            "topic.metadata.refresh.interval.ms": 5_000,
        }
        self._consumer = Consumer(conf)
        md = self._consumer.list_topics(MODELS_TOPIC, timeout=timeout)
        topic = md.topics.get(MODELS_TOPIC)
        parts = sorted(topic.partitions) if topic is not None and not topic.error else []
        if not parts:
            raise RuntimeError(
                f"topic {MODELS_TOPIC!r} not found on {self.settings.kafka_bootstrap}"
                " (run `resonance topics create`)"
            )
        tps = [TopicPartition(MODELS_TOPIC, p, OFFSET_BEGINNING) for p in parts]
        ends = {}
        for tp in tps:
            _, high = self._consumer.get_watermark_offsets(tp, timeout=timeout)
            ends[tp.partition] = high
        self._consumer.assign(tps)
        deadline = time.monotonic() + timeout
        done = {p for p, e in ends.items() if e <= 0}
        while len(done) < len(ends) and time.monotonic() < deadline:
            for msg in self._poll():
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        if len(done) < len(ends):
            raise RuntimeError(
                f"registry: topic {MODELS_TOPIC!r} not read to its end in {timeout} s"
            )
        self._thread = threading.Thread(target=self._follow, name="registry-reader", daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> list[Any]:
        with self._lock:
            msgs = self._consumer.consume(500, timeout=self.poll_s)
        out = []
        for msg in msgs:
            if msg.error():
                continue
            out.append(msg)
            if msg.value() is None:
                continue
            try:
                self.registry.apply(parse_entry(msg.value()))
            except ValueError as exc:
                self.errors += 1
                log.warning("models[%d]@%d ignored: %s", msg.partition(), msg.offset(), exc)
        return out

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception:  # a broker hiccup must not end live registration
                log.exception("registry reader poll failed")
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            self._consumer.close()


def read_registry(settings: Any, timeout: float = 60.0) -> ModelRegistry:
    """The registry as of now (the topic read to its end once), for one-shot commands."""
    reader = RegistryReader(settings).start(timeout)
    reader.stop()
    return reader.registry


def publish(settings: Any, entries: Iterable[ModelEntry], timeout: float = 30.0) -> int:
    """Produce entries to the ``models`` topic and wait for the broker's acknowledgement."""
    from confluent_kafka import Producer

    producer = Producer(settings.confluent_config() | {"acks": "all"})
    failed: list[str] = []

    def done(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    n = 0
    for entry in entries:
        producer.produce(
            MODELS_TOPIC, entry.to_json().encode(), entry.key.encode(), on_delivery=done
        )
        n += 1
    left = producer.flush(timeout)
    if left or failed:
        raise RuntimeError(f"registry: {left} entries unacknowledged, errors: {failed[:3]}")
    return n


# ------------------------------------------------------------------------ import path


def import_directory(directory: str | Path) -> list[ModelEntry]:
    """Entries from local files (the import path; ``resonance models import DIR``).

    Layout: ``<dir>/references/<consortium>/<model>-<version>.json`` (or
    ``<dir>/<consortium>/...``), each a reference profile, optionally with a ``"target"``
    object; targets may also come from ``<dir>/models.json`` (``{"models": [{"consortium",
    "model", "model_version", "target": {"kind", "classes"}}]}``). Unreadable files are
    skipped with a warning.
    """
    root = Path(directory)
    targets = _targets_file(root / "models.json")
    refs = root / "references" if (root / "references").is_dir() else root
    now = int(time.time() * 1000)
    out: list[ModelEntry] = []
    for path in sorted(refs.glob("*/*.json")):
        try:
            raw = json.loads(path.read_text())
            profile = ReferenceProfile.from_dict(raw)
            mid = (path.parent.name, profile.model, profile.version)
            target = targets.get(mid) or _target(raw.get("target"))
            entry = ModelEntry(
                consortium=mid[0],
                model=profile.model,
                version=profile.version,
                target=target,
                reference=profile.to_dict(),
                provenance={"source": "registered", "file": str(path)},
                registered_at=now,
                updated_at=now,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping reference %s: %s", path, exc)
            continue
        out.append(entry)
    return out


def _class(value: Any) -> str:
    """A class label by the one label rule (processors.labels): True → "true", 1.0 → "1"."""
    return canonical_label(value) or str(value)


def _target(d: Any) -> Target | None:
    if not isinstance(d, dict) or "kind" not in d:
        return None
    return Target(
        kind=d["kind"],
        classes=tuple(d.get("classes", ())),
        positive_class=d.get("positive_class"),
    )


def _targets_file(path: Path) -> dict[ModelId, Target]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    rows = data.get("models", []) if isinstance(data, dict) else data
    if isinstance(rows, dict):
        rows = list(rows.values())
    out: dict[ModelId, Target] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        try:
            target = _target(row.get("target")) or _target(row)
        except ValueError as exc:
            log.warning("ignoring a target in %s: %s", path, exc)
            continue
        version = row.get("model_version", row.get("version"))
        if target is not None and version is not None and "consortium" in row:
            out[(str(row["consortium"]), str(row["model"]), str(version))] = target
    return out
