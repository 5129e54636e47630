"""Each channel's request, as a real localhost server receives it, against its documented
format; DingTalk, Feishu and webhook signatures re-computed with a hand-written HMAC."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import unquote

from tests.notify.conftest import FakeTime, deliver_all, hmac_sha256, make_worker, notice

LINKS = {"grafana_url": "http://grafana:3000", "console_url": "http://console:8050"}


def send(channel: dict, notices, fake: FakeTime | None = None, **config) -> list[dict]:
    deliveries: list[dict] = []

    async def go() -> None:
        worker, client = make_worker(channel, fake, deliveries, links=LINKS, **config)
        async with client:
            for n in notices:
                worker.enqueue(n)
            await deliver_all(worker, fake)

    asyncio.run(go())
    return deliveries


def test_webhook_carries_the_alert_records_and_a_body_signature(hook):
    n = notice(0)
    deliveries = send({"type": "webhook", "url": f"{hook.url}/in", "secret": "k3y"}, [n])
    (req,) = hook.requests
    body = req.json
    assert body["schema"] == "resonance.notification/1" and body["digest"] is False
    assert body["alerts"] == [{"transition": "firing", "alert": dict(n.alert.raw)}]
    assert "coil_temp_c" in body["text"] and "psi=0.31" in body["text"]
    assert {"label": "Grafana", "url": "http://grafana:3000/d/res-model-steel?var-model="
            "hot-strip-temp-0"} in body["links"]  # fmt: skip
    expected = "sha256=" + hmac_sha256(b"k3y", req.body).hex()
    assert req.headers["x-resonance-signature"] == expected
    assert [(d["status"], d["http_status"], d["attempt"]) for d in deliveries] == [("sent", 200, 1)]


def test_webhook_without_secret_sends_no_signature(hook):
    send({"type": "webhook", "url": hook.url}, [notice(0)])
    assert "x-resonance-signature" not in hook.requests[0].headers


def test_slack_blocks(hook):
    send({"type": "slack", "url": f"{hook.url}/services/T/B/X"}, [notice(0, severity="critical")])
    body = hook.requests[0].json
    assert body["text"] == "[critical] steel/hot-strip-temp-0: feature_drift firing"
    header, section, context = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": body["text"]}}
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "*FIRING: feature_drift on steel/hot-strip-temp-0*" in section["text"]["text"]
    assert "**" not in section["text"]["text"]  # Markdown converted to mrkdwn
    assert context["type"] == "context"
    assert context["elements"][0]["text"].startswith("<http://grafana:3000/d/res-model-steel?")


def test_dingtalk_signed_markdown_with_at(hook):
    secret = "SEC0123456789abcdef"
    fake = FakeTime()
    channel = {
        "type": "dingtalk",
        "url": f"{hook.url}/robot/send?access_token=tok",
        "secret": secret,
        "at_mobiles": ["13800000000"],
        "at_user_ids": ["manager01"],
    }
    send(channel, [notice(0)], fake)
    req = hook.requests[0]
    assert req.path == "/robot/send" and req.query["access_token"] == ["tok"]
    (ts,) = req.query["timestamp"]
    assert int(ts) == int(fake.wall() * 1000)  # milliseconds
    # the robot's check: HMAC-SHA256(secret, ts + "\n" + secret), Base64, URL-decoded once
    (sign,) = req.query["sign"]  # parse_qs already URL-decoded it
    expected = base64.b64encode(hmac_sha256(secret.encode(), f"{ts}\n{secret}".encode()))
    assert sign == expected.decode()
    body = req.json
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "[warn] steel/hot-strip-temp-0: feature_drift firing"
    assert body["markdown"]["text"].endswith("@13800000000 @manager01")
    assert body["at"] == {"atMobiles": ["13800000000"], "atUserIds": ["manager01"],
                          "isAtAll": False}  # fmt: skip


def test_dingtalk_sign_is_url_encoded_in_the_raw_query(hook):
    """Base64 has '+', '/', '=': the raw query must carry them percent-encoded."""
    secret = "SECxyz"
    channel = {"type": "dingtalk", "url": f"{hook.url}/robot/send?access_token=t",
               "secret": secret}  # fmt: skip
    specials = 0
    for i in range(12):  # twelve timestamps: some signatures contain '+' or '/'
        send(channel, [notice(i)], FakeTime(start=i * 0.001))
        req = hook.requests[-1]
        ts = req.query["timestamp"][0]
        b64 = base64.b64encode(hmac_sha256(secret.encode(), f"{ts}\n{secret}".encode())).decode()
        raw_sign = dict(p.split("=", 1) for p in req.raw_query.split("&"))["sign"]
        assert not set(raw_sign) & set("+/=") and unquote(raw_sign) == b64
        specials += bool(set(b64) & set("+/"))
    assert specials > 0


def test_dingtalk_keyword_mode_is_unsigned_and_carries_the_keyword(hook):
    channel = {"type": "dingtalk", "url": f"{hook.url}/robot/send?access_token=t",
               "mode": "keyword", "keyword": "Resonance"}  # fmt: skip
    send(channel, [notice(0)])
    req = hook.requests[0]
    assert "sign" not in req.query and "timestamp" not in req.query
    md = req.json["markdown"]
    assert "Resonance" in md["title"] and "Resonance" in md["text"]


def test_wecom_markdown_within_4096_bytes_with_mentions(hook):
    channel = {
        "type": "wecom",
        "url": f"{hook.url}/cgi-bin/webhook/send?key=k",
        "mentioned_list": ["wangqing", "@all"],
        "mentioned_mobile_list": ["13800001111"],
    }
    many = [notice(i, model=f"冷轧-厚度预测-{i:03d}-" + "x" * 40) for i in range(120)]
    deliveries = send(channel, many, max_digest=120)
    assert len(hook.requests) > 1  # the digest split to stay under the byte limit
    seen = set()
    for req in hook.requests:
        assert req.query["key"] == ["k"]
        md = req.json["markdown"]
        assert req.json["msgtype"] == "markdown"
        assert len(md["content"].encode()) <= 4096
        assert md["mentioned_list"] == ["wangqing", "@all"]
        assert md["mentioned_mobile_list"] == ["13800001111"]
        seen |= {n.alert.model for n in many if n.alert.model in md["content"]}
    assert seen == {n.alert.model for n in many}
    assert {d["status"] for d in deliveries} == {"digested"}


def test_feishu_signed_interactive_card(hook):
    secret = "feishu-secret"
    fake = FakeTime()
    channel = {"type": "feishu", "url": f"{hook.url}/open-apis/bot/v2/hook/tok", "secret": secret}
    send(channel, [notice(0, severity="critical")], fake)
    body = hook.requests[0].json
    assert body["timestamp"] == str(int(fake.wall()))  # seconds, as a string
    key = f"{body['timestamp']}\n{secret}".encode()
    assert body["sign"] == base64.b64encode(hmac_sha256(key, b"")).decode()
    assert body["msg_type"] == "interactive"
    card = body["card"]
    assert card["header"]["template"] == "red"
    assert card["header"]["title"] == {"tag": "plain_text", "content": "[critical] steel/"
                                       "hot-strip-temp-0: feature_drift firing"}  # fmt: skip
    div, action = card["elements"]
    assert div["tag"] == "div" and div["text"]["tag"] == "lark_md"
    assert [b["text"]["content"] for b in action["actions"]] == ["Grafana", "Console"]


def test_feishu_text_message_unsigned(hook):
    channel = {"type": "feishu", "url": f"{hook.url}/open-apis/bot/v2/hook/tok", "card": False}
    send(channel, [notice(0, transition="resolved", state="resolved")])
    body = hook.requests[0].json
    assert set(body) == {"msg_type", "content"}
    assert body["msg_type"] == "text"
    text = body["content"]["text"]
    assert text.startswith("[warn] steel/hot-strip-temp-0: feature_drift resolved\nRESOLVED")
    assert "**" not in text and "Console: http://console:8050/#steel" in text
