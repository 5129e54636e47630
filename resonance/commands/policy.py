"""``resonance policy show``: the effective monitoring policy of a consortium or model."""

from __future__ import annotations

import argparse
import json
import os

from processors.policy_config import PolicyConfig, PolicyError
from resonance.errors import UsageError

POLICY_ENV = "RESONANCE_POLICY"


def load_policy(path: str | None) -> PolicyConfig:
    """The policy file at ``path`` (or ``$RESONANCE_POLICY``; defaults without either);
    a bad file raises UsageError naming the key."""
    path = path or os.environ.get(POLICY_ENV) or None
    try:
        return PolicyConfig.load(path)
    except PolicyError as exc:
        raise UsageError(str(exc)) from None


def add_policy_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy", metavar="FILE", help=f"policy YAML (default ${POLICY_ENV}, else built-in)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("policy", help="show the effective monitoring policy")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the effective policy (JSON)")
    show.add_argument("--consortium", metavar="C", help="show the rules in force for it")
    show.add_argument("--model", metavar="M", help="... and this model")
    add_policy_arg(show)
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    if args.model and not args.consortium:
        raise UsageError("--model needs --consortium")
    cfg = load_policy(args.policy)
    print(json.dumps(cfg.show(args.consortium, args.model), indent=2))
    return 0
