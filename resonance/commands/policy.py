"""``resonance policy show``: the effective monitoring policy of a consortium or model.

With ``--data-dir``/``--clickhouse-url`` the model's registry entry (the warehouse mirror
of the ``models`` topic) fills baselines, importances, SLO and energy baseline, and
``sources`` says where every value came from (precedence: processors.policy_inputs).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from errors import UsageError
from processors.policy import Policy
from processors.policy_config import PolicyConfig, PolicyError

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
    show.add_argument("--version", metavar="V", help="model version (default: the newest)")
    add_policy_arg(show)
    from resonance.commands.db import add_backend_args

    add_backend_args(show)
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    if args.model and not args.consortium:
        raise UsageError("--model needs --consortium")
    cfg = load_policy(args.policy)
    if not (args.data_dir or args.clickhouse_url):
        shown = cfg.show(args.consortium, args.model)
        _, sources = Policy(cfg).explain(args.consortium or "", args.model or "")
        print(json.dumps(shown | {"registry": None, "sources": sources}, indent=2))
        return 0
    if not args.model:
        raise UsageError("--data-dir/--clickhouse-url need --model (registry values are per model)")
    from resonance.commands.db import run_with_backend

    return run_with_backend(args, lambda backend: _show_registered(args, cfg, backend))


def _show_registered(args: argparse.Namespace, cfg: PolicyConfig, backend: Any) -> int:
    from warehouse.registry import list_models

    if args.clickhouse_url is None and not (Path(args.data_dir) / "clickhouse").is_dir():
        raise UsageError(f"--data-dir {args.data_dir}: no warehouse there")
    policy = Policy(cfg, list_models(backend, args.consortium))
    inputs = policy.inputs(args.consortium, args.model, args.version)
    rules, sources = policy.explain(args.consortium, args.model, args.version)
    shown = {"version": cfg.version, "consortium": args.consortium, "model": args.model,
             **rules.model_dump(by_alias=True)}  # fmt: skip
    registry = None if inputs is None else {"model_version": inputs.model_version}
    print(json.dumps(shown | {"registry": registry, "sources": sources}, indent=2))
    return 0
