"""What a notification says: one alert, or a digest of several, rendered from templates.

Templates are :class:`string.Template` texts in Markdown (the common ground of
DingTalk, WeCom and Feishu cards); channels that speak another dialect convert
(:func:`to_slack`, :func:`to_plain`). ``safe_substitute`` keeps an unknown
``$name`` in a user's template as written instead of failing a delivery.
Variables: ``$id $transition $headline $state $consortium $model $model_version
$rule $severity $started_at $resolved_at $window_start $value $threshold
$features $grafana_link $console_link $links`` (and ``$count`` in digest titles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from string import Template
from urllib.parse import quote, urlencode

from resonance.notify.alert import RENOTIFY, Alert
from resonance.notify.config import Links, Templates

DEFAULT_TEMPLATES = Templates(
    title="[$severity] $consortium/$model: $rule $transition",
    body=(
        "### $headline: $rule on $consortium/$model\n\n"
        "- **severity**: $severity\n"
        "- **model**: $model (version $model_version)\n"
        "- **started**: $started_at\n"
        "- **value**: $value (threshold $threshold)\n"
        "$features\n\n"
        "$links"
    ),
    digest_title="Resonance: $count alert transitions",
    digest_line="- **$headline** [$severity] $consortium/$model $rule since $started_at",
)
TOP_FEATURES = 5
HEADLINES = {
    "firing": "FIRING",
    "escalated": "ESCALATED",
    "resolved": "RESOLVED",
    RENOTIFY: "STILL FIRING",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One alert to announce, and why now (its transition, or a re-notify reminder)."""

    alert: Alert
    transition: str


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str  # Markdown
    notices: tuple[Notice, ...]
    links: tuple[tuple[str, str], ...]  # (label, url)
    severity: str  # the worst of the notices
    resolved: bool  # every notice is a resolution

    @property
    def alert_ids(self) -> list[str]:
        return [n.alert.id for n in self.notices]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def feature_lines(alert: Alert, top: int = TOP_FEATURES) -> str:
    """The ``top`` features by statistic value, one Markdown bullet each."""
    feats = sorted(alert.features, key=lambda f: -f.value)[:top]
    lines = []
    for f in feats:
        p = "" if f.p_value is None else f", p={f.p_value:.3g}"
        lines.append(f"- `{f.feature}` ({f.kind}): {f.statistic}={f.value:.4g}{p}, n={f.n}")
    more = len(alert.features) - len(feats)
    if more > 0:
        lines.append(f"- … and {more} more features")
    return "\n".join(lines)


def alert_links(alert: Alert, links: Links) -> tuple[tuple[str, str], ...]:
    """Grafana's model dashboard and the console, filtered to the alert's model.

    >>> from resonance.notify.alert import parse_alert
    >>> a = parse_alert({"schema": "resonance.alert/1", "id": "x", "transition": "firing",
    ...     "state": "firing", "consortium": "steel", "model": "m 1", "rule": "r",
    ...     "severity": "warn", "started_at": "2026-01-01T00:00:00Z"})
    >>> alert_links(a, Links(grafana_url="http://g:3000/", console_url="http://c"))
    (('Grafana', 'http://g:3000/d/res-model-steel?var-model=m+1'), ('Console', 'http://c/#steel'))
    """
    out = []
    if links.grafana_url:
        query = urlencode({"var-model": alert.model})
        out.append(
            ("Grafana", f"{links.grafana_url.rstrip('/')}/d/res-model-{alert.consortium}?{query}")
        )
    if links.console_url:
        out.append(("Console", f"{links.console_url.rstrip('/')}/#{quote(alert.consortium)}"))
    return tuple(out)


def variables(notice: Notice, links: Links) -> dict[str, str]:
    a = notice.alert
    pairs = alert_links(a, links)
    by = dict(pairs)
    return {
        "id": a.id,
        "transition": notice.transition,
        "headline": HEADLINES.get(notice.transition, notice.transition.upper()),
        "state": a.state,
        "consortium": a.consortium,
        "model": a.model,
        "model_version": a.model_version or "n/a",
        "rule": a.rule,
        "severity": a.severity,
        "started_at": a.started_at,
        "resolved_at": a.resolved_at or "",
        "window_start": a.window_start,
        "value": _fmt(a.value),
        "threshold": _fmt(a.threshold),
        "features": feature_lines(a),
        "grafana_link": by.get("Grafana", ""),
        "console_link": by.get("Console", ""),
        "links": " · ".join(f"[{label}]({url})" for label, url in pairs),
    }


def render(notices: list[Notice], templates: Templates, links: Links) -> Message:
    """One notice: the full message. Several: a digest, one line per notice."""
    t = DEFAULT_TEMPLATES.merged(templates)
    severity = "critical" if any(n.alert.severity == "critical" for n in notices) else "warn"
    resolved = all(n.transition == "resolved" for n in notices)
    if len(notices) == 1:
        v = variables(notices[0], links)
        pairs = alert_links(notices[0].alert, links)
        title = Template(t.title or "").safe_substitute(v)
        text = Template(t.body or "").safe_substitute(v)
        return Message(title, text.strip(), tuple(notices), pairs, severity, resolved)
    title = Template(t.digest_title or "").safe_substitute(count=str(len(notices)))
    lines = [Template(t.digest_line or "").safe_substitute(variables(n, links)) for n in notices]
    pairs = ()
    if links.console_url:
        pairs = (("Console", links.console_url),)
    footer = " · ".join(f"[{label}]({url})" for label, url in pairs)
    text = f"### {title}\n\n" + "\n".join(lines) + (f"\n\n{footer}" if footer else "")
    return Message(title, text, tuple(notices), pairs, severity, resolved)


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^#{1,6}\s*(.+)$", re.MULTILINE)


def to_slack(markdown: str) -> str:
    """Markdown → Slack mrkdwn (``*bold*``, ``<url|label>``).

    >>> to_slack("### Hi\\n- **a** [x](http://u)")
    '*Hi*\\n• *a* <http://u|x>'
    """
    text = _LINK.sub(r"<\2|\1>", markdown)
    text = _BOLD.sub(r"*\1*", text)
    text = _HEADING.sub(r"*\1*", text)
    return re.sub(r"^- ", "• ", text, flags=re.MULTILINE)


def to_plain(markdown: str) -> str:
    """Markdown → plain text (Feishu text messages).

    >>> to_plain("### Hi\\n- **a** [x](http://u)")
    'Hi\\n- a x: http://u'
    """
    text = _LINK.sub(r"\1: \2", markdown)
    text = _BOLD.sub(r"\1", text)
    return _HEADING.sub(r"\1", text).replace("`", "")


def truncate_bytes(text: str, limit: int, marker: str = "\n…") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary.

    >>> truncate_bytes("温度漂移", 8, marker="")
    '温度'
    """
    raw = text.encode()
    if len(raw) <= limit:
        return text
    keep = limit - len(marker.encode())
    return raw[:keep].decode("utf-8", errors="ignore") + marker
