"""Request signatures of the chat platforms and of the generic webhook.

Each platform signs differently, and a robot in signed mode silently drops an
unsigned or wrongly signed message, so the three schemes live side by side here,
each with the exact recipe its platform documents.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk custom robot: HMAC-SHA256 of ``timestamp_ms + "\\n" + secret`` keyed by the
    secret, then Base64, then URL-encoded (it goes in the query string as ``&sign=``).

    >>> dingtalk_sign("SECabc", 1700000000000)
    'jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM%3D'
    """
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark custom bot: ``timestamp_s + "\\n" + secret`` is the HMAC-SHA256 KEY,
    applied to an empty message; Base64 only (it travels in the JSON body).

    >>> feishu_sign("s3cret", 1700000000)
    'IX3eHI0/v/Td7jqJ0ynSEK3Dq5JY3HUZeoeMgVZeZGo='
    """
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def body_signature(secret: str, body: bytes) -> str:
    """Generic webhook ``X-Resonance-Signature``: ``sha256=`` + hex HMAC-SHA256 of the body.

    >>> body_signature("k", b"{}")
    'sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
