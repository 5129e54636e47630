"""``resonance notify``: deliver alert transitions to chat robots and webhooks."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

EPILOG = """\
Consumes `alerts` (consumer group --group) and `alert-actions`, posts each transition to
the channels its route names (DingTalk, WeCom, Feishu, Slack, generic webhook) within
each platform's rate limits, and logs every attempt to the `deliveries` topic (the sink
stores it). URLs and secrets: ${NAME} in the file reads the environment. Links in
messages: `links:` in the file, else RESONANCE_NOTIFY_CONSOLE_URL / _GRAFANA_URL. docs/notify.md.

exit status: 0 stopped cleanly, 2 bad config (one line naming the key).

examples:
  resonance notify --bootstrap localhost:9092 --config notify.yaml
  resonance notify --url http://127.0.0.1:9000/hook     # every alert to one webhook
"""

ENV_URL = "RESONANCE_NOTIFY_URL"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "notify",
        help="deliver alert transitions to DingTalk, WeCom, Feishu, Slack or a webhook",
        description="The notifier: alerts -> chat robots and webhooks, with a delivery log.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--bootstrap",
        default=None,
        metavar="B",
        help="Kafka brokers (default: RESONANCE_KAFKA_BOOTSTRAP or localhost:9092)",
    )
    p.add_argument("--config", type=Path, default=None, metavar="FILE", help="notify.yaml")
    p.add_argument(
        "--url",
        default=None,
        metavar="URL",
        help=f"also post every alert to this generic webhook (default: ${ENV_URL})",
    )
    p.add_argument("--group", default="resonance-notify", metavar="G", help="consumer group")
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    p.set_defaults(func=run)


def links_from_env(config, env):
    """``RESONANCE_NOTIFY_{CONSOLE,GRAFANA}_URL`` fill the links the file leaves unset."""
    found = {
        key: env[f"RESONANCE_NOTIFY_{key.split('_')[0].upper()}_URL"]
        for key in ("console_url", "grafana_url")
        if getattr(config.links, key) is None
        and env.get(f"RESONANCE_NOTIFY_{key.split('_')[0].upper()}_URL")
    }
    if not found:
        return config
    return config.model_copy(update={"links": config.links.model_copy(update=found)})


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from errors import UsageError
    from resonance.notify.config import load_config, with_webhook
    from resonance.notify.service import NotifySettings, run_notifier

    config = load_config(args.config)
    url = args.url or os.environ.get(ENV_URL)
    if url:
        config = with_webhook(config, url)
    config = links_from_env(config, os.environ)
    if not config.channels:
        raise UsageError("channels: none configured (give --config FILE or --url URL)")
    if args.check:
        print(
            f"resonance notify: {len(config.channels)} channel(s), "
            f"{len(config.routes or [])} route(s): ok"
        )
        return 0
    bootstrap = args.bootstrap or os.environ.get("RESONANCE_KAFKA_BOOTSTRAP", "localhost:9092")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry the URL
    settings = NotifySettings(bootstrap=bootstrap, group_id=args.group)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_notifier(config, settings, stop)

    asyncio.run(main())
    return 0
