"""Grafana connection settings from the environment (``GRAFANA_TOKEN``), read-only.

The token is a :class:`pydantic.SecretStr`, so it never shows in a repr, a log line or a
traceback; only :func:`dashboards.push.connect` unwraps it.

>>> s = GrafanaSettings(token="glsa_secret")
>>> s.token, s.token.get_secret_value()
(SecretStr('**********'), 'glsa_secret')
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GrafanaSettings(BaseSettings):
    """``GRAFANA_TOKEN``: the service account token ``dashboards push`` uses by default."""

    model_config = SettingsConfigDict(env_prefix="GRAFANA_", extra="ignore", frozen=True)

    token: SecretStr | None = None
