"""Routing, transitions only, acks and silences, re-notify; config errors and secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resonance.cli import main
from resonance.notify.alert import RENOTIFY, parse_action, parse_alert
from resonance.notify.config import load_config, parse_config
from resonance.notify.router import Router
from tests.notify.conftest import alert_record

CONFIG = {
    "channels": {
        "steel-ding": {"type": "dingtalk", "url": "https://oapi.example/robot/send?access_token=T",
                       "secret": "SECx"},
        "crit-slack": {"type": "slack", "url": "https://hooks.example/services/A/B/C"},
        "all": {"type": "webhook", "url": "http://127.0.0.1:1/hook"},
    },
    "routes": [
        {"match": {"consortium": "steel", "rule": ["feature_drift", "model_drift"]},
         "channels": ["steel-ding"]},
        {"match": {"severity": "critical", "model": "hot-*"}, "channels": ["crit-slack", "all"]},
        {"channels": ["all"]},
    ],
    "renotify_minutes": 30,
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def router() -> tuple[Router, list[tuple[str, str, str]], Clock]:
    sent: list[tuple[str, str, str]] = []
    clock = Clock()
    r = Router(parse_config(CONFIG), lambda ch, n, done: sent.append((ch, n.alert.id,
               n.transition)) or (done and done()), clock)  # fmt: skip
    return r, sent, clock


def test_routes_by_consortium_model_rule_severity():
    r, sent, _ = router()
    warn = parse_alert(alert_record(0))
    crit = parse_alert(alert_record(1, severity="critical", rule="accuracy_drop"))
    other = parse_alert(alert_record(2, consortium="automotive"))
    assert r.on_alert(warn) == 2
    assert r.on_alert(crit) == 2
    assert r.on_alert(other) == 1
    assert [(ch, i) for ch, i, _ in sent] == [
        ("steel-ding", warn.id), ("all", warn.id),
        ("crit-slack", crit.id), ("all", crit.id),
        ("all", other.id),
    ]  # fmt: skip


def test_replayed_transition_notifies_once_and_done_is_called():
    r, sent, _ = router()
    done = []
    rec = alert_record(0)
    assert r.on_alert(parse_alert(rec), lambda: done.append(1)) == 2
    assert r.on_alert(parse_alert(rec), lambda: done.append(2)) == 0
    assert len(sent) == 2 and done == [1, 2]
    esc = parse_alert(alert_record(0, transition="escalated", severity="critical", seq=2))
    assert r.on_alert(esc) == 3


def test_ack_and_silence_keep_alerts_quiet():
    r, sent, clock = router()
    a = parse_alert(alert_record(0))
    r.on_action(parse_action({"schema": "resonance.alert-action/1", "action": "ack",
                              "alert_id": a.id, "consortium": "steel", "by": "li"}))  # fmt: skip
    assert r.on_alert(a) == 0
    until = (clock.now + timedelta(hours=1)).isoformat()
    r.on_action(parse_action({"schema": "resonance.alert-action/1", "action": "silence",
                              "alert_id": None, "consortium": "steel", "model": None,
                              "rule": "feature_drift", "until": until, "by": "li"}))  # fmt: skip
    b = parse_alert(alert_record(1))
    assert r.on_alert(b) == 0
    assert r.on_alert(parse_alert(alert_record(2, rule="accuracy_drop"))) == 1
    clock.now += timedelta(hours=2)  # the silence ended
    assert r.on_alert(parse_alert(alert_record(3))) == 2
    assert {i for _, i, _ in sent} == {
        parse_alert(alert_record(2, rule="accuracy_drop")).id,
        parse_alert(alert_record(3)).id,
    }


def test_renotify_reminds_of_long_firing_alerts_until_resolved():
    r, sent, clock = router()
    rec = alert_record(0)
    r.on_alert(parse_alert(rec))
    sent.clear()
    clock.now += timedelta(minutes=29)
    assert r.renotify() == []
    clock.now += timedelta(minutes=1)
    (reminder,) = r.renotify()
    assert reminder.transition == RENOTIFY
    assert sent == [("steel-ding", reminder.alert.id, RENOTIFY), ("all", reminder.alert.id,
                    RENOTIFY)]  # fmt: skip
    assert r.renotify() == []  # not again before another interval
    r.on_alert(parse_alert({**rec, "transition": "resolved", "state": "resolved", "seq": 2}))
    clock.now += timedelta(hours=5)
    assert r.renotify() == []


@pytest.mark.parametrize(
    ("channel", "key"),
    [
        ({"type": "teams", "url": "https://x"}, "channels.ops.type"),
        ({"type": "dingtalk", "url": "https://x", "mode": "signed"}, "channels.ops.secret"),
        ({"type": "feishu", "url": "https://x", "mode": "signed", "secret": ""},
         "channels.ops.secret"),
        ({"type": "wecom", "url": "ftp://x/SECRETKEY"}, "channels.ops.url"),
        ({"type": "slack"}, "channels.ops.url"),
        ({"type": "dingtalk", "url": "https://x", "mode": "keyword"}, "channels.ops.keyword"),
        ({"type": "slack", "url": "${NOT_SET_ANYWHERE}"}, "channels.ops.url"),
    ],
)  # fmt: skip
def test_bad_config_is_one_line_naming_the_key_exit_2(tmp_path, capsys, channel, key):
    import yaml

    path = tmp_path / "notify.yaml"
    path.write_text(yaml.safe_dump({"channels": {"ops": channel}}))
    assert main(["notify", "--config", str(path), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: {key}: " in err
    assert "SECRETKEY" not in err


def test_secrets_come_from_the_environment_and_are_never_shown(tmp_path, capsys):
    path = tmp_path / "notify.yaml"
    path.write_text(
        "channels:\n  ops:\n    type: dingtalk\n"
        "    url: https://oapi.example/robot/send?access_token=${DT_TOKEN}\n"
        "    secret: ${DT_SECRET}\n"
    )
    env = {"DT_TOKEN": "tok-very-secret", "DT_SECRET": "SECsupersecret"}
    config = load_config(path, env)
    channel = config.channels["ops"]
    assert channel.url.get_secret_value().endswith("tok-very-secret")
    assert channel.secret.get_secret_value() == "SECsupersecret"
    shown = repr(config) + str(config) + config.model_dump_json()
    assert "very-secret" not in shown and "supersecret" not in shown
    from resonance.notify.channels import build_channels

    assert "very-secret" not in repr(build_channels(config))


def test_unknown_route_channel_and_unknown_keys_are_named():
    from errors import UsageError

    with pytest.raises(UsageError, match=r"^routes\.0\.channels\.0: unknown channel 'nope'$"):
        parse_config({"channels": {}, "routes": [{"channels": ["nope"]}]})
    with pytest.raises(UsageError, match=r"^renotify_minute: Extra inputs"):
        parse_config({"renotify_minute": 5})


def test_the_shipped_deploy_config_is_valid():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "deploy" / "notify.yaml"
    env = {"NOTIFY_WEBHOOK_URL": "http://hooks.plant/resonance", "NOTIFY_WEBHOOK_SECRET": "s"}
    config = load_config(path, env)
    assert list(config.channels) == ["webhook"] and config.renotify_minutes == 120
