"""``notify.yaml``: channels, routes, links, templates, re-notify (docs/notify.md).

Webhook URLs and secrets are credentials (a DingTalk ``access_token`` or a WeCom
``key`` lets anyone post to the group), so they are :class:`~pydantic.SecretStr`
from the moment they are read: ``${NAME}`` in the file takes them from the
environment, and neither a log line nor an error message ever shows them. A bad
file fails at start-up with one line naming the key (:func:`load_config`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from resonance.errors import UsageError
from resonance.notify.ratelimit import Limit

DEFAULT_LIMITS: dict[str, tuple[Limit, ...]] = {
    "dingtalk": (Limit(20, 60.0),),
    "wecom": (Limit(20, 60.0),),
    "feishu": (Limit(100, 60.0), Limit(5, 1.0)),
    "slack": (Limit(1, 1.0),),
    "webhook": (),
}
"""Documented per-robot limits of each platform (a generic webhook has none)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Templates(_Strict):
    """``string.Template`` texts (``$model``, ``${rule}``...); unset ones keep the default."""

    title: str | None = None
    body: str | None = None
    digest_title: str | None = None
    digest_line: str | None = None

    def merged(self, override: Templates | None) -> Templates:
        if override is None:
            return self
        return Templates(**{**self.model_dump(), **override.model_dump(exclude_none=True)})


class Links(_Strict):
    grafana_url: str | None = None
    console_url: str | None = None


class RateSpec(_Strict):
    count: int = Field(gt=0)
    per_s: float = Field(gt=0)


class Retry(_Strict):
    attempts: int = Field(5, ge=1)
    initial_s: float = Field(1.0, gt=0)
    max_s: float = Field(60.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)


def _check_url(value: SecretStr) -> SecretStr:
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("invalid URL (expected http(s)://host/...)")
    return value


class _Channel(_Strict):
    url: SecretStr
    rate: list[RateSpec] | None = None
    retry: Retry = Retry()
    templates: Templates | None = None

    _url = field_validator("url")(_check_url)

    def limits(self) -> tuple[Limit, ...]:
        if self.rate is None:
            return DEFAULT_LIMITS[self.type]  # type: ignore[attr-defined]
        return tuple(Limit(r.count, r.per_s) for r in self.rate)


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    secret: SecretStr | None = None
    """If set, every request carries ``X-Resonance-Signature: sha256=<hmac of body>``."""


class SlackChannel(_Channel):
    type: Literal["slack"]


class _Signed(_Channel):
    mode: Literal["signed", "keyword", "plain"] | None = None
    secret: SecretStr | None = None
    keyword: str | None = None
    """Keyword mode: the robot accepts only messages containing it (added if missing)."""

    @model_validator(mode="after")
    def _mode_needs(self) -> _Signed:
        if self.effective_mode == "signed" and (
            self.secret is None or not self.secret.get_secret_value()
        ):
            raise ValueError("secret: required for signed mode")
        if self.effective_mode == "keyword" and not self.keyword:
            raise ValueError("keyword: required for keyword mode")
        return self

    @property
    def effective_mode(self) -> str:
        return self.mode or ("signed" if self.secret is not None else "plain")


class DingTalkChannel(_Signed):
    type: Literal["dingtalk"]
    at_mobiles: list[str] = []
    at_user_ids: list[str] = []
    at_all: bool = False


class WeComChannel(_Channel):
    type: Literal["wecom"]
    mentioned_list: list[str] = []
    mentioned_mobile_list: list[str] = []


class FeishuChannel(_Signed):
    type: Literal["feishu"]
    card: bool = True
    """An interactive card (header coloured by severity, link buttons); False: plain text."""


ChannelConfig = Annotated[
    WebhookChannel | SlackChannel | DingTalkChannel | WeComChannel | FeishuChannel,
    Field(discriminator="type"),
]


class Match(_Strict):
    """Every given field must match (a value or a list of values; ``*`` globs allowed)."""

    consortium: str | list[str] | None = None
    model: str | list[str] | None = None
    rule: str | list[str] | None = None
    severity: str | list[str] | None = None


class Route(_Strict):
    match: Match = Match()
    channels: list[str] = Field(min_length=1)


class NotifyConfig(_Strict):
    channels: dict[str, ChannelConfig] = {}
    routes: list[Route] | None = None
    """None: every alert goes to every channel."""
    links: Links = Links()
    templates: Templates = Templates()
    renotify_minutes: float | None = Field(None, gt=0)
    max_digest: int = Field(50, ge=1)
    queue_limit: int = Field(10_000, ge=1)

    @model_validator(mode="after")
    def _routes_name_channels(self) -> NotifyConfig:
        for i, route in enumerate(self.routes or []):
            for j, name in enumerate(route.channels):
                if name not in self.channels:
                    raise ValueError(f"routes.{i}.channels.{j}: unknown channel {name!r}")
        return self


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${NAME}`` in every string by the environment's value.

    >>> expand_env({"a": ["x-${T}"]}, {"T": "1"})
    {'a': ['x-1']}
    """
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{path}{k}.") for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{path}{i}.") for i, v in enumerate(value)]
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m[1] not in env:
                raise UsageError(f"{path.rstrip('.')}: environment variable {m[1]} is not set")
            return env[m[1]]

        return _ENV.sub(sub, value)
    return value


def _first_error(exc: ValidationError) -> str:
    """``channels.ops.secret: Field required``: the key and the reason, never the value."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not str(p).endswith("Channel") and p not in _TYPES]
    msg = err["msg"].removeprefix("Value error, ")
    if ": " in msg and msg.split(": ", 1)[0].replace(".", "").replace("_", "").isalnum():
        key, msg = msg.split(": ", 1)  # a validator naming a sub-key of loc
        loc.append(key)
    if err["type"] == "union_tag_invalid":
        msg = f"unknown channel type (expected one of {', '.join(_TYPES)})"
        loc.append("type")
    return f"{'.'.join(loc) or '(top level)'}: {msg}"


_TYPES = tuple(DEFAULT_LIMITS)


def parse_config(data: Any, env: Mapping[str, str] | None = None) -> NotifyConfig:
    """Validate a decoded ``notify.yaml``; raises UsageError naming the bad key.

    >>> parse_config({"channels": {"ops": {"type": "teams", "url": "https://x"}}})
    Traceback (most recent call last):
    ...
    errors.UsageError: channels.ops.type: unknown channel type (expected one of ...)
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError("(top level): expected a mapping")
    data = expand_env(data, os.environ if env is None else env)
    try:
        return NotifyConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(_first_error(exc)) from None


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> NotifyConfig:
    """Read and validate ``path`` (None: an empty config); errors name the file and key."""
    if path is None:
        return parse_config({}, env)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return parse_config(data, env)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def with_webhook(config: NotifyConfig, url: str, name: str = "webhook") -> NotifyConfig:
    """``config`` plus a generic webhook receiving every alert (``--url``, the demo)."""
    try:
        channel = WebhookChannel(type="webhook", url=SecretStr(url))
    except ValidationError as exc:
        raise UsageError(f"--url: {_first_error(exc)}") from None
    channels = {**config.channels, name: channel}
    routes = None if config.routes is None else [*config.routes, Route(channels=[name])]
    return config.model_copy(update={"channels": channels, "routes": routes})
