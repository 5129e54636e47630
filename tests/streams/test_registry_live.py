"""The registry topic, live, on the real broker: two workers in separate working directories
(no shared files) pick a registration up without a restart; unregistered models are
monitored; outcomes that came before the target count once it is registered; retired
models go to the DLQ; a restarted worker rebuilds the registry from the topic; bootstrap."""

from __future__ import annotations

from collections import Counter

import numpy as np
import orjson
import pytest
from confluent_kafka import Producer

from processors.reference import fit_reference
from resonance.cli import main
from streams.dlq import parse_dlq_record
from streams.registry import read_registry

from .conftest import past

pytestmark = pytest.mark.integration

NO_FILES = {"RESONANCE_IMPORT_REFERENCES": "false"}


def tenancy(model: str) -> dict:
    return {"consortium": "steel", "member": "baowu", "model": model, "model_version": "1",
            "site": "s1", "hub": "Guizhou"}  # fmt: skip


class Events:
    """Columnar batches for one model, produced with the model as key."""

    def __init__(self, stack, model: str) -> None:
        self.model = model
        self.producer = Producer({"bootstrap.servers": stack.bootstrap})
        self.t0 = int(past(30).timestamp() * 1000)
        self.rng = np.random.default_rng(len(model))

    def send(self, topic: str, kind: str, n: int, **columns) -> None:
        body = {"schema_version": 1, "kind": kind, "batch": True, **tenancy(self.model),
                "ts": [self.t0 + 100 * i for i in range(n)], **columns}  # fmt: skip
        self.producer.produce(topic, orjson.dumps(body), f"steel/{self.model}".encode())
        assert self.producer.flush(30) == 0

    def telemetry(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        temp = self.rng.normal(900, 10, n)
        grade = self.rng.choice(["Q235", "Q345"], n)
        self.send("telemetry", "telemetry", n,
                  features={"temp": temp.tolist(), "grade": grade.tolist()})  # fmt: skip
        return temp, grade

    def predictions(self, n: int) -> None:
        self.send("predictions", "prediction", n, prediction_id=[f"p{i}" for i in range(n)],
                  prediction=["ok"] * n, score=[0.2] * n, latency_ms=[12.0] * n,
                  error=[i == 0 for i in range(n)])  # fmt: skip

    def outcomes(self, n: int) -> None:
        labels = ["ok" if i % 4 else "defect" for i in range(n)]
        self.send("outcomes", "outcome", n, prediction_id=[f"p{i}" for i in range(n)],
                  actual=labels)  # fmt: skip

    def energy(self, n: int) -> None:
        self.send("energy", "energy", n, joules=[3.0] * n, inferences=[5] * n,
                  duration_s=[1.0] * n)  # fmt: skip


def per_model(partials, model: str) -> Counter:
    out: Counter = Counter()
    for p in partials.values():
        if p.model != model:
            continue
        if p.kind == "volume":
            out.update({k: v for k, v in p.state.items() if v})
        else:
            out[p.kind] += p.count
    return out


def register(stack, model: str, *extra: str) -> None:
    argv = ["models", "register", "--bootstrap", stack.bootstrap, "--consortium", "steel",
            "--model", model, "--version", "1", *extra]  # fmt: skip
    assert main(argv) == 0


def test_live_registration_two_workers_no_shared_files(stack, tmp_path):
    dirs = [tmp_path / "host-a", tmp_path / "host-b"]
    for d in dirs:
        d.mkdir()
    a, b = (stack.worker(cwd=d, RESONANCE_REFERENCES_DIR=str(d / "refs"), **NO_FILES)
            for d in dirs)  # fmt: skip
    for w in (a, b):
        w.wait_output("assigned partitions")

    # unregistered: volume, latency, errors, energy stored; telemetry counted unreferenced
    x, y = Events(stack, "coil-x"), Events(stack, "coil-y")
    x.telemetry(40)
    x.predictions(30)
    x.energy(5)
    y.predictions(24)  # y: outcomes arrive before y has a target
    y.outcomes(24)
    want_x = {"telemetry_samples": 40, "unreferenced": 40, "predictions": 30,
              "prediction_errors": 1, "energy_readings": 5, "latency": 30, "energy": 5}  # fmt: skip

    def unregistered(ps) -> bool:
        cx, cy = per_model(ps, "coil-x"), per_model(ps, "coil-y")
        return all(cx[k] == v for k, v in want_x.items()) and cy["predictions"] == 24

    got = stack.partials(unregistered, what="unregistered")
    assert "classification" not in per_model(got, "coil-y")

    # register x (reference from training data) while both workers run: no restart
    train = tmp_path / "train.csv"
    rng = np.random.default_rng(0)
    pairs = zip(rng.normal(900, 10, 500), rng.choice(["Q235", "Q345"], 500), strict=True)
    rows = [f"{t:.3f},{g}" for t, g in pairs]
    train.write_text("temp,grade\n" + "\n".join(rows) + "\n")
    target = ("--target", "binary", "--classes", "ok,defect", "--baseline", "accuracy=0.9")
    register(stack, "coil-x", "--data", str(train), "--categorical", "grade", *target)
    for w in (a, b):
        assert w.wait_output("registry: steel/coil-x/1 active, target binary") <= 10.0
    x.telemetry(50)

    def drift(ps) -> bool:
        cx = per_model(ps, "coil-x")
        return cx["drift_numeric"] == 50 and cx["drift_categorical"] == 50

    got = stack.partials(drift, what="drift")
    assert per_model(got, "coil-x")["unreferenced"] == 40

    # y's target arrives later: its 24 outcomes are counted once
    register(stack, "coil-y", "--target", "binary", "--classes", "ok,defect")
    got = stack.partials(lambda ps: per_model(ps, "coil-y")["outcomes_matched"] == 24,
                         what="outcomes counted after the target")  # fmt: skip
    y_counts = per_model(got, "coil-y")
    assert y_counts["classification"] == 24 and y_counts["outcomes_unmatched"] == 0
    y.energy(1)  # a later message of y: the counts do not move
    got = stack.partials(lambda ps: per_model(ps, "coil-y")["energy_readings"] == 1)
    assert per_model(got, "coil-y")["outcomes_matched"] == 24

    # retired: its events go to the DLQ as "retired model"
    assert main(["models", "retire", "--bootstrap", stack.bootstrap, "steel/coil-x/1"]) == 0
    for w in (a, b):
        w.wait_output("registry: steel/coil-x/1 retired")
    x.telemetry(3)
    x.energy(2)
    dlq = stack.read("dlq", lambda vs: sum(b"retired model" in v for v in vs) == 2, what="dlq")
    reasons = Counter(parse_dlq_record(v).reason for v in dlq)
    assert reasons == {"retired model": 2}

    # a worker restarted later, in a fresh directory, rebuilds the registry from the topic
    a.stop()
    c_dir = tmp_path / "host-c"
    c_dir.mkdir()
    c = stack.worker(cwd=c_dir, RESONANCE_REFERENCES_DIR=str(c_dir / "refs"), **NO_FILES)
    c.wait_output("resonance worker: 2 models (0 imported from files")
    registry = read_registry(stack.settings())
    assert {e.key: e.retired for e in registry} == {"steel/coil-x/1": True, "steel/coil-y/1": False}
    assert not any(d.joinpath("refs").exists() for d in [*dirs, c_dir])  # no files involved


def test_bootstrap_reference_from_production(stack):
    register(stack, "coil-z", "--target", "regressor", "--bootstrap-samples", "60")
    w = stack.worker(**NO_FILES)
    w.wait_output("assigned partitions")
    z = Events(stack, "coil-z")
    first = [z.telemetry(35), z.telemetry(35)]  # the 60th sample is in the second message
    w.wait_output("registered steel/coil-z/1 (bootstrap)")
    z.telemetry(20)
    got = stack.partials(lambda ps: per_model(ps, "coil-z")["drift_numeric"] == 20, what="drift")
    assert per_model(got, "coil-z")["unreferenced"] == 70
    entry = read_registry(stack.settings()).get("steel", "coil-z", "1")
    temp = np.concatenate([t for t, _ in first])[:60]
    grade = np.concatenate([g for _, g in first])[:60]
    offline = fit_reference({"temp": temp, "grade": grade.astype(object)}, model="coil-z",
                            version="1", categorical=["grade"])  # fmt: skip
    assert entry.profile == offline
    assert entry.provenance["source"] == "bootstrap" and entry.provenance["samples"] == 60
