"""``resonance broker`` / ``topics`` / settings: launcher, idempotent topics, env config."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from resonance.cli import main
from streams.broker import metadata_ok
from streams.settings import StreamSettings
from streams.topics import TOPICS, create_topics, topic_partitions

from .conftest import ROOT


def test_missing_binary_is_one_line_naming_the_override(monkeypatch, capsys):
    monkeypatch.setenv("RESONANCE_BROKER_BIN", "/nonexistent/tansu")
    assert main(["broker"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "RESONANCE_BROKER_BIN" in err


def test_settings_from_env_and_security_for_both_clients(monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    monkeypatch.setenv("RESONANCE_KAFKA_BOOTSTRAP", "k1:9093,k2:9093")
    monkeypatch.setenv("RESONANCE_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("RESONANCE_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("RESONANCE_SASL_USERNAME", "svc")
    monkeypatch.setenv("RESONANCE_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("RESONANCE_SSL_CAFILE", str(ca))
    s = StreamSettings()
    assert "s3cret" not in repr(s)
    conf = s.confluent_config()
    assert conf["bootstrap.servers"] == "k1:9093,k2:9093"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512" and conf["sasl.password"] == "s3cret"
    assert conf["ssl.ca.location"] == str(ca)
    kw = s.aiokafka_kwargs()
    assert kw["security_protocol"] == "SASL_PLAINTEXT" and kw["sasl_plain_username"] == "svc"
    assert s.faust_broker_url() == "kafka://k1:9093;k2:9093"
    assert s.faust_credentials().username == "svc"


@pytest.mark.integration
def test_broker_command_prints_bootstrap_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "resonance.cli", "broker"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        bootstrap = proc.stdout.readline().strip()
        assert bootstrap.startswith("127.0.0.1:") and metadata_ok(bootstrap)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0
        deadline = time.monotonic() + 60
        while metadata_ok(bootstrap, timeout=0.5) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not metadata_ok(bootstrap, timeout=0.5), "the broker still answers 60 s after exit"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.integration
def test_topics_create_is_idempotent(broker, capsys):
    assert main(["topics", "create", "--bootstrap", broker.bootstrap, "--partitions", "3"]) == 0
    first = capsys.readouterr().out
    assert main(["topics", "create", "--bootstrap", broker.bootstrap, "--partitions", "3"]) == 0
    second = capsys.readouterr().out
    assert first.count("created") == len(TOPICS) and second.count("exists") == len(TOPICS)
    parts = topic_partitions(StreamSettings(kafka_bootstrap=broker.bootstrap))
    assert all(parts[t.name] == (t.partitions or 3) for t in TOPICS)
    assert parts["models"] == 1
    assert next(t for t in TOPICS if t.name == "models").configs() == {"cleanup.policy": "compact"}
    assert set(create_topics(StreamSettings(kafka_bootstrap=broker.bootstrap)).values()) == {
        "exists"
    }
