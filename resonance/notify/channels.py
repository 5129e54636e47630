"""One class per platform: the request it expects, and what its answer means.

Chat platforms answer HTTP 200 to most failures and put the verdict in the body
(DingTalk/WeCom ``errcode``, Feishu ``code``), so each channel classifies its own
responses into :class:`Outcome`: delivered, retry (when, and whether to block the
robot), or a final failure. Building a request is pure (a clock value in, bytes
out), so tests can check each payload against the platform's documented format.
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import httpx
import orjson

from resonance.notify.config import (
    DingTalkChannel,
    FeishuChannel,
    NotifyConfig,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
)
from resonance.notify.message import Message, to_plain, to_slack, truncate_bytes
from resonance.notify.ratelimit import Limit
from resonance.notify.signing import body_signature, dingtalk_sign, feishu_sign

NOTIFICATION_SCHEMA = "resonance.notification/1"
DINGTALK_BLOCK_S = 600.0
"""DingTalk errcode 130101 (more than 20 messages a minute): the robot is blocked 10 min."""
WECOM_MARKDOWN_BYTES = 4096
FEISHU_BODY_BYTES = 20_000
SLACK_SECTION_CHARS = 3000
COLOURS = {"critical": "red", "warn": "orange", "resolved": "green"}


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt achieved; ``retry_after``/``block_s`` come from the platform."""

    ok: bool
    retry: bool = False
    http_status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    block_s: float | None = None


def json_request(url: str, payload: dict, headers: dict[str, str] | None = None) -> Request:
    return Request(
        url, orjson.dumps(payload), {"Content-Type": "application/json", **(headers or {})}
    )


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date.

    >>> retry_after_seconds("3"), retry_after_seconds(None)
    (3.0, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def http_outcome(response: httpx.Response) -> Outcome | None:
    """The HTTP-level verdict, or None when the body must decide (a 2xx)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    error = f"HTTP {status}: {response.text[:200]}"
    if status == 429:
        after = retry_after_seconds(response.headers.get("Retry-After"))
        return Outcome(False, True, status, error, retry_after=after, block_s=after)
    return Outcome(False, status >= 500 or status == 408, status, error)


class Channel(ABC):
    """A configured destination: name, limits, payload and response rules."""

    def __init__(self, name: str, config, notify: NotifyConfig) -> None:
        self.name = name
        self.config = config
        self.templates = notify.templates.merged(config.templates)
        self.links = notify.links
        self.url = config.url.get_secret_value()

    @property
    def limits(self) -> tuple[Limit, ...]:
        return self.config.limits()

    @property
    def max_bytes(self) -> int:
        """Budget of the rendered Markdown; a digest takes fewer alerts to stay under it."""
        return 18_000

    @abstractmethod
    def request(self, message: Message, now: float) -> Request:
        """The HTTP request carrying ``message`` (``now``: wall-clock seconds, for signing)."""

    def outcome(self, response: httpx.Response) -> Outcome:
        verdict = http_outcome(response)
        return verdict or Outcome(True, http_status=response.status_code)

    def __repr__(self) -> str:  # never the URL: it is a credential
        return f"{type(self).__name__}({self.name!r})"


class Webhook(Channel):
    """Generic JSON: title, Markdown text and the alert records themselves."""

    config: WebhookChannel

    def request(self, message: Message, now: float) -> Request:
        payload = {
            "schema": NOTIFICATION_SCHEMA,
            "title": message.title,
            "text": message.text,
            "severity": message.severity,
            "digest": len(message.notices) > 1,
            "alerts": [
                {"transition": n.transition, "alert": dict(n.alert.raw)} for n in message.notices
            ],
            "links": [{"label": label, "url": url} for label, url in message.links],
        }
        body = orjson.dumps(payload)
        headers = {"Content-Type": "application/json"}
        if self.config.secret is not None:
            headers["X-Resonance-Signature"] = body_signature(
                self.config.secret.get_secret_value(), body
            )
        return Request(self.url, body, headers)


class Slack(Channel):
    """Incoming webhook with blocks: header, mrkdwn section, link context."""

    config: SlackChannel

    def request(self, message: Message, now: float) -> Request:
        blocks: list[dict] = [
            {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": to_slack(message.text)[:SLACK_SECTION_CHARS]},
            },
        ]
        if message.links:
            links = " · ".join(f"<{url}|{label}>" for label, url in message.links)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
        return json_request(self.url, {"text": message.title, "blocks": blocks})


def _with_keyword(text: str, keyword: str | None) -> str:
    return text if not keyword or keyword in text else f"{keyword} {text}"


class DingTalk(Channel):
    """Custom robot, markdown + ``at``; signed (query string) or keyword mode."""

    config: DingTalkChannel

    def request(self, message: Message, now: float) -> Request:
        c = self.config
        mentions = [f"@{m}" for m in (*c.at_mobiles, *c.at_user_ids)]
        text = message.text + ("\n\n" + " ".join(mentions) if mentions else "")
        title = message.title
        if c.effective_mode == "keyword":
            title, text = _with_keyword(title, c.keyword), _with_keyword(text, c.keyword)
        payload = {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": text},
            "at": {
                "atMobiles": list(c.at_mobiles),
                "atUserIds": list(c.at_user_ids),
                "isAtAll": c.at_all,
            },
        }
        url = self.url
        if c.effective_mode == "signed":
            ts = int(now * 1000)
            sign = dingtalk_sign(c.secret.get_secret_value(), ts)  # type: ignore[union-attr]
            url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={sign}"
        return json_request(url, payload)

    def outcome(self, response: httpx.Response) -> Outcome:
        verdict = http_outcome(response)
        if verdict is not None:
            return verdict
        code, msg = _body_code(response, "errcode", "errmsg")
        if code in (0, None):
            return Outcome(True, http_status=response.status_code)
        error = f"errcode {code}: {msg}"
        if code == 130101:
            return Outcome(False, True, response.status_code, error, block_s=DINGTALK_BLOCK_S)
        return Outcome(False, code == -1, response.status_code, error)  # -1: system busy


class WeCom(Channel):
    """Group robot: markdown of at most 4,096 bytes, mentions by user id and mobile."""

    config: WeComChannel

    @property
    def max_bytes(self) -> int:
        return WECOM_MARKDOWN_BYTES - 200  # room for the mentions line

    def request(self, message: Message, now: float) -> Request:
        c = self.config
        mentions = " ".join(f"<@{u}>" for u in c.mentioned_list)
        text = message.text + (f"\n{mentions}" if mentions else "")
        payload = {
            "msgtype": "markdown",
            "markdown": {
                "content": truncate_bytes(text, WECOM_MARKDOWN_BYTES),
                "mentioned_list": list(c.mentioned_list),
                "mentioned_mobile_list": list(c.mentioned_mobile_list),
            },
        }
        return json_request(self.url, payload)

    def outcome(self, response: httpx.Response) -> Outcome:
        verdict = http_outcome(response)
        if verdict is not None:
            return verdict
        code, msg = _body_code(response, "errcode", "errmsg")
        if code in (0, None):
            return Outcome(True, http_status=response.status_code)
        error = f"errcode {code}: {msg}"
        if code == 45009:  # API frequency limit: the minute window must pass
            return Outcome(False, True, response.status_code, error, block_s=60.0)
        return Outcome(False, code == -1, response.status_code, error)


class Feishu(Channel):
    """Custom bot: interactive card (or text); signed mode puts timestamp+sign in the body."""

    config: FeishuChannel

    def request(self, message: Message, now: float) -> Request:
        c = self.config
        title, text = message.title, message.text
        if c.effective_mode == "keyword":
            title, text = _with_keyword(title, c.keyword), _with_keyword(text, c.keyword)
        text = truncate_bytes(text, FEISHU_BODY_BYTES - 2_000)
        if c.card:
            colour = COLOURS["resolved" if message.resolved else message.severity]
            elements: list[dict] = [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]
            if message.links:
                buttons = [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": label},
                        "url": url,
                        "type": "default",
                    }
                    for label, url in message.links
                ]
                elements.append({"tag": "action", "actions": buttons})
            payload: dict = {
                "msg_type": "interactive",
                "card": {
                    "config": {"wide_screen_mode": True},
                    "header": {
                        "title": {"tag": "plain_text", "content": title},
                        "template": colour,
                    },
                    "elements": elements,
                },
            }
        else:
            payload = {"msg_type": "text", "content": {"text": f"{title}\n{to_plain(text)}"}}
        if c.effective_mode == "signed":
            ts = int(now)
            payload["timestamp"] = str(ts)
            payload["sign"] = feishu_sign(c.secret.get_secret_value(), ts)  # type: ignore[union-attr]
        return json_request(self.url, payload)

    def outcome(self, response: httpx.Response) -> Outcome:
        verdict = http_outcome(response)
        if verdict is not None:
            return verdict
        code, msg = _body_code(response, "code", "msg")
        if code in (0, None):
            return Outcome(True, http_status=response.status_code)
        error = f"code {code}: {msg}"
        # 9499: too many requests; 11232: frequency limit (e.g. at :00/:30)
        retry = code in (9499, 11232)
        return Outcome(False, retry, response.status_code, error, block_s=1.0 if retry else None)


def _body_code(response: httpx.Response, code_key: str, msg_key: str) -> tuple[int | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get(code_key, body.get("StatusCode"))
    return (code if isinstance(code, int) else None), str(body.get(msg_key, ""))[:200]


CHANNEL_TYPES: dict[str, type[Channel]] = {
    "webhook": Webhook,
    "slack": Slack,
    "dingtalk": DingTalk,
    "wecom": WeCom,
    "feishu": Feishu,
}


def build_channels(config: NotifyConfig) -> dict[str, Channel]:
    return {name: CHANNEL_TYPES[c.type](name, c, config) for name, c in config.channels.items()}
