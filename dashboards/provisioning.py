"""Grafana file provisioning generated from code: datasources, dashboard provider, alerting.

Layout under ``dashboards/provisioning/`` (mounted at /etc/grafana/provisioning):

- ``datasources/resonance.yaml``: the operators' ClickHouse datasource (fixed uid
  ``resonance-clickhouse``), logging in as the read-only ``resonance_operator`` user
  (``readonly``, SELECT only, no table functions), plus one *viewer* datasource per
  consortium, logging in
  as that consortium's row-policy-limited ClickHouse user (warehouse/tenants.py).
  Host, users and passwords are ``${ENV}`` references, interpolated by Grafana.
- ``dashboards/resonance.yaml``: one file provider over dashboards/generated/ with
  ``foldersFromFilesStructure``, so each sub-directory (``operators``, ``steel``, ...)
  becomes a folder.
- ``alerting/``: rules (dashboards/alerts.py), an example webhook contact point and
  the notification policy tree. Rule models are not env-interpolated by Grafana,
  so ``$__timeFilter`` survives; contact-point settings are (``$ALERT_WEBHOOK_URL``).
"""

from __future__ import annotations

from collections.abc import Iterable

import yaml

from dashboards.alerts import rules_file
from dashboards.query import DATASOURCE_UID, PLUGIN_ID
from dashboards.scope import DEFAULT_CONSORTIA, tenant_datasource_uid
from warehouse.tenants import password_env, user_name

DASHBOARDS_PATH = "/var/lib/grafana/dashboards/resonance"
WEBHOOK_RECEIVER = "resonance-webhook"
#: ClickHouse native port inside the compose network (a number: the plugin reads it as one).
NATIVE_PORT = 9000


def env(name: str) -> str:
    return "${" + name + "}"


def clickhouse_datasource(name: str, uid: str, user: str, password_var: str) -> dict:
    return {
        "name": name,
        "uid": uid,
        "type": PLUGIN_ID,
        "orgId": 1,
        "editable": False,
        "jsonData": {
            "host": env("CLICKHOUSE_HOST"),
            "port": NATIVE_PORT,
            "protocol": "native",
            "secure": False,
            "username": user,
            "defaultDatabase": "resonance",
        },
        "secureJsonData": {"password": env(password_var)},
    }


def datasources(consortia: Iterable[str] = DEFAULT_CONSORTIA) -> dict:
    sources = [
        clickhouse_datasource(  # the operators folder: a read-only user (docs/production.md)
            "Resonance ClickHouse (operators, read-only)",
            DATASOURCE_UID,
            env("CLICKHOUSE_OPERATOR_USER"),
            "CLICKHOUSE_OPERATOR_PASSWORD",
        )
    ]
    for c in sorted(consortia):
        sources.append(
            clickhouse_datasource(
                f"Resonance ClickHouse ({c})",
                tenant_datasource_uid(c),
                user_name(c),
                password_env(c),
            )
        )
    return {"apiVersion": 1, "datasources": sources}


def dashboard_provider() -> dict:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "resonance",
                "orgId": 1,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": True},
            }
        ],
    }


def contact_points() -> dict:
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": WEBHOOK_RECEIVER,
                "receivers": [
                    {
                        "uid": WEBHOOK_RECEIVER,
                        "type": "webhook",
                        "disableResolveMessage": False,
                        "settings": {"url": "$ALERT_WEBHOOK_URL", "httpMethod": "POST"},
                    }
                ],
            }
        ],
    }


def notification_policies() -> dict:
    """Everything to the webhook, grouped per rule and tenant; critical repeats sooner."""
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": WEBHOOK_RECEIVER,
                "group_by": ["alertname", "consortium", "model"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "routes": [
                    {
                        "receiver": WEBHOOK_RECEIVER,
                        "object_matchers": [["severity", "=", "critical"]],
                        "repeat_interval": "1h",
                    }
                ],
            }
        ],
    }


def files(consortia: Iterable[str] = DEFAULT_CONSORTIA) -> dict[str, dict]:
    """Relative path under dashboards/provisioning/ → document."""
    return {
        "datasources/resonance.yaml": datasources(consortia),
        "dashboards/resonance.yaml": dashboard_provider(),
        "alerting/rules.yaml": rules_file(),
        "alerting/contact-points.yaml": contact_points(),
        "alerting/policies.yaml": notification_policies(),
    }


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings (SQL) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(document: dict) -> str:
    """Stable YAML: generated header, keys in insertion order, SQL as literal blocks."""
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    return "# Generated by `resonance dashboards build`; edit dashboards/*.py instead.\n" + body
