"""Warehouse fixtures: a real chDB in a tmp dir (one per module: ~1 s, ~270 MB), the
server backend (clickhouse-connect over HTTP) against ``CLICKHOUSE_URL`` or, when unset,
a localhost ClickHouse HTTP interface backed by chDB (``clickhouse_http.py``), and a
worker simulator that turns raw samples into cumulative partial records with the worker's
emitter (:class:`streams.blocks.TopicBlock`, several blocks and versions per key).

Point the server variant at the docker-compose ClickHouse with
``CLICKHOUSE_URL=http://app:app@localhost:8123 make test`` (see docs/warehouse.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from processors.accuracy import ClassificationAccuracy, RegressionAccuracy
from processors.drift import CategoricalDrift, NumericDrift
from processors.energy import EnergyMeter
from processors.latency import LatencyHistogram
from processors.reference import ReferenceProfile, fit_reference
from processors.volume import VOLUME_FIELDS, Volume
from streams.blocks import TopicBlock
from streams.partials import Partial
from warehouse.backend import Backend, ChdbBackend, ServerBackend
from warehouse.migrate import migrate
from warehouse.references import store_reference

BACKENDS = ["chdb", "server"]

# ---------------------------------------------------------------------- backends


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``CLICKHOUSE_URL`` when set; else a localhost ClickHouse HTTP interface over chDB
    (tests/warehouse/clickhouse_http.py, its own process), so clickhouse-connect's path runs."""
    url = os.environ.get("CLICKHOUSE_URL")
    if url:
        yield url
        return
    data = tmp_path_factory.mktemp("clickhouse-http")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("clickhouse_http.py")), str(data)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until it listens (or exits: empty line)
        assert line.startswith("port "), f"clickhouse_http.py did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _open(kind: str, request: pytest.FixtureRequest, tmp_path_factory) -> tuple[Backend, Callable]:
    if kind == "chdb":
        backend = ChdbBackend(tmp_path_factory.mktemp("chdb"))
        return backend, backend.close
    url = request.getfixturevalue("clickhouse_url")
    database = f"resonance_test_{uuid.uuid4().hex[:8]}"
    backend = ServerBackend(url, database=database)

    def drop() -> None:
        backend.command(f"DROP DATABASE IF EXISTS {database}")
        backend.close()

    return backend, drop


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, tmp_path_factory) -> Iterator[Backend]:
    """A migrated warehouse (TTL off so old synthetic windows stay), one per module."""
    b, close = _open(request.param, request, tmp_path_factory)
    try:
        migrate(b, minute_ttl_days=0, log=lambda _msg: None)
        yield b
    finally:
        close()


@pytest.fixture(scope="module")
def chdb_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("chdb-dir")


# ---------------------------------------------------------------- worker simulator

DAY = 86_400
#: synthetic data starts 35 days before today (00:00 UTC) so a 30-day month fits
T0 = int(datetime.now(UTC).timestamp()) // DAY * DAY - 35 * DAY
TENANCY = dict(
    consortium="steel",
    member="baowu",
    model="strip-defect",
    model_version="3",
    site="shanghai-hsm-2",
    hub="yangtze-river-delta",
)


@dataclass
class Raw:
    """Raw samples of one statistic stream: times (epoch s) and the engine's columns."""

    kind: str
    tenancy: dict
    feature: str
    ts: np.ndarray
    columns: tuple[np.ndarray, ...]
    factory: Callable[[], object]

    def engine(self, lo: int, hi: int):
        """The offline answer: one engine over every raw sample with lo <= ts < hi."""
        mask = (self.ts >= lo) & (self.ts < hi)
        e = self.factory()
        if mask.any():
            e.update(*(c[mask] for c in self.columns))
        return e


def sample_times(rng: np.random.Generator, per_window: int) -> np.ndarray:
    """Sparse month (4 windows a day at ragged minutes) + one dense hour (day 10, 10:00)."""
    windows = [
        T0 + d * DAY + h * 3600 + m * 60
        for d in range(31)
        for h, m in ((0, 0), (6, 7), (12, 33), (18, 59))
    ]
    windows += [T0 + 10 * DAY + 10 * 3600 + m * 60 for m in range(60)]
    ts = [w + rng.integers(0, 60, per_window) for w in windows]
    return np.sort(np.concatenate(ts))


def to_partials(raw: Raw, blocks: int = 2, versions: int = 2) -> list[Partial]:
    """Cumulative partials from the worker's own emitter (:class:`streams.blocks.TopicBlock`):
    the rows spread over ``blocks`` source blocks, each block emitting ``versions`` times as
    its offsets grow (the changed statistics, then every statistic, final)."""
    out = []
    rows = np.arange(raw.ts.size)
    tenancy = tuple(raw.tenancy[k] for k in TENANCY)
    for b in range(blocks):
        block = TopicBlock("telemetry", b, block_start=b * 10**6, window_ms=60_000)
        mine = rows[b::blocks]
        for v, part in enumerate(np.array_split(mine, versions)):
            if part.size:
                ts_ms = raw.ts[part] * 1000
                starts = block.window_start(ts_ms)
                late = np.zeros(part.size, bool)
                columns = (c[part] for c in raw.columns)
                block.add(raw.kind, tenancy, raw.feature, raw.factory, starts, late, *columns)
                block.seen(block.block_start + int(part[-1]))
            block.flush()
            final = v == versions - 1
            out += block.partials(final, version=block.last_offset, now_ms=0)
    return out


@dataclass
class World:
    """Raw streams, their reference profile and every partial record they produce."""

    profile: ReferenceProfile
    raws: list[Raw]

    def partials(self) -> list[Partial]:
        return [p for raw in self.raws for p in to_partials(raw)]

    def find(self, kind: str, feature: str = "", **tenancy) -> list[Raw]:
        return [
            r
            for r in self.raws
            if r.kind == kind
            and r.feature == feature
            and all(r.tenancy[k] == v for k, v in tenancy.items())
        ]


def build_world(
    seed: int = 0,
    per_window: int = 20,
    consortia: Sequence[str] = ("steel",),
    members: Sequence[str] = ("baowu", "ansteel"),
) -> World:
    """Numeric + categorical drift, binary classification, regression, latency, energy."""
    rng = np.random.default_rng(seed)
    profile = fit_reference(
        {
            "strip_temp_c": rng.normal(900, 15, 5000),
            "speed_mps": rng.gamma(2, 3, 5000),
            "grade": rng.choice(["Q235", "Q345", "SPHC"], 5000, p=[0.6, 0.3, 0.1]),
        },
        model=TENANCY["model"],
        version=TENANCY["model_version"],
        categorical=["grade"],
    )
    f = profile.features
    raws = []
    for consortium in consortia:
        for i, member in enumerate(members):
            t = dict(TENANCY, consortium=consortium, member=member, site=f"site-{i}")
            ts = sample_times(rng, per_window)
            n = ts.size
            temp = rng.normal(905 + 5 * i, 15, n)
            temp[rng.random(n) < 0.05] = np.nan
            raws += [
                Raw(
                    "drift_numeric",
                    t,
                    "strip_temp_c",
                    ts,
                    (temp,),
                    lambda: NumericDrift(f["strip_temp_c"]),
                ),
                Raw(
                    "drift_numeric",
                    t,
                    "speed_mps",
                    ts,
                    (rng.gamma(2.2, 3, n),),
                    lambda: NumericDrift(f["speed_mps"]),
                ),
                Raw(
                    "drift_categorical",
                    t,
                    "grade",
                    ts,
                    (rng.choice(["Q235", "Q345", "SPHC", "NEW", ""], n),),
                    lambda: CategoricalDrift(f["grade"]),
                ),
            ]
            y = rng.integers(0, 2, n).astype(str)
            score = np.clip(rng.normal(0.3 + 0.4 * (y == "1"), 0.2), 0, 1)
            pred = np.where(score > 0.5, "1", "0")
            raws.append(
                Raw(
                    "classification",
                    t,
                    "",
                    ts,
                    (y, pred, score),
                    lambda: ClassificationAccuracy(["0", "1"]),
                )
            )
            actual = rng.normal(10, 2, n)
            raws.append(
                Raw(
                    "regression",
                    t,
                    "",
                    ts,
                    (actual, actual + rng.normal(0, 1, n)),
                    RegressionAccuracy,
                )
            )
            raws.append(Raw("latency", t, "", ts, (rng.lognormal(3, 0.7, n),), LatencyHistogram))
            raws.append(
                Raw(
                    "energy",
                    t,
                    "",
                    ts,
                    (rng.uniform(50, 150, n), rng.integers(1, 20, n), np.full(n, 0.5)),
                    EnergyMeter,
                )
            )
            # like streams.partition: every prediction counts, errors count once more
            err = rng.random(n) < 0.03
            vts = np.concatenate([ts, ts[err]])
            codes = np.concatenate(
                [
                    np.full(n, VOLUME_FIELDS.index("predictions")),
                    np.full(int(err.sum()), VOLUME_FIELDS.index("prediction_errors")),
                ]
            )
            order = np.argsort(vts, kind="stable")
            raws.append(Raw("volume", t, "", vts[order], (codes[order],), Volume))
    return World(profile, raws)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world()


def load_world(backend: Backend, world: World) -> None:
    """Store the reference and write every partial through the sink's write path."""
    from warehouse.sink import PartialWriter

    for consortium in {r.tenancy["consortium"] for r in world.raws}:
        store_reference(backend, consortium, world.profile)
    PartialWriter(backend).write([p.to_dict() for p in world.partials()])


@pytest.fixture(scope="module")
def helpers():
    """The simulator helpers above, for test modules (importlib mode cannot import conftest)."""
    import types

    return types.SimpleNamespace(
        T0=T0,
        DAY=DAY,
        TENANCY=TENANCY,
        Raw=Raw,
        World=World,
        build_world=build_world,
        to_partials=to_partials,
        load_world=load_world,
    )
