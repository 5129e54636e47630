"""``resonance drift``: compare a current data file with a reference (file or stored profile).

The JSON output is a contract others script against (issue 2): exactly one object::

    {"features": {"<col>": {"kind": "numeric"|"categorical", "psi": float, "js": float,
                            "ks": float|null, "wasserstein": float|null,
                            "chi2_pvalue": float|null, "missing_rate": float, "drift": bool}},
     "drift_share": float, "n_reference": int, "n_current": int}
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from errors import UsageError
from processors.drift import drift_engine
from processors.policy import feature_results, model_share
from processors.policy_config import RuleSet
from processors.reference import ReferenceProfile, fit_reference
from resonance.commands.policy import add_policy_arg, load_policy
from resonance.commands.reference import load_profile
from resonance.io import (
    column_is_numeric,
    is_numeric,
    numeric_text_culprit,
    parse_name_list,
    read_table,
    select,
    split_columns,
)

FEATURE_KEYS = ("kind", "psi", "js", "ks", "wasserstein", "chi2_pvalue", "missing_rate", "drift")

EPILOG = """\
Every numeric column the two files share is compared, plus the columns named with
--categorical (text columns not named are skipped, with a note on stderr). Bins come from
the reference: quantile edges for numeric columns, top-K categories plus "other" (unseen
categories) and "missing" for categorical ones.

--profile PROFILE uses a stored reference profile (see `resonance reference build`) instead
of fitting one from REF: the features compared are the profile's features that CUR has,
n_reference is the number of rows the profile was fitted on, and --reference may then be
omitted (if given, it is not read).

verdict: the monitoring policy's feature verdict (processors.policy.feature_results, README
"Policy"), the same rule the stream alerts on, as one look at CUR: a feature is tested only
with >= min_samples values (missing-rate test: missing ones included), Holm's procedure at
family-wise alpha across every (feature, test) pair, and each rejected test's effect gate
(numeric W1/std, categorical JS, missing-rate increase). --policy FILE (or
$RESONANCE_POLICY) changes the rules; --consortium/--model pick that model's overrides.
A feature below min_samples shows "n<N" and "drift": false. drift_share: the policy's model
verdict (importance-weighted when the policy gives importances) over the tested features.

exit status: 0 compared (whether or not drift was found), 2 bad input (one line on stderr).

examples:
  resonance drift --reference train.csv --current today.parquet --categorical grade
  resonance drift --reference train.csv --current today.csv --format json | jq .drift_share
  resonance drift --profile ref.json --current today.csv --format json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "drift",
        help="compare a current data file with a reference file or profile",
        description="Data drift of CUR against REF (or a stored profile), per feature.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--reference", metavar="REF", help="reference data (CSV or Parquet)")
    parser.add_argument(
        "--current", metavar="CUR", required=True, help="current data (CSV or Parquet)"
    )
    parser.add_argument("--categorical", metavar="a,b", help="comma-separated categorical columns")
    parser.add_argument(
        "--profile", metavar="PROFILE", help="stored reference profile (JSON) instead of fitting"
    )
    parser.add_argument(
        "--format", choices=("table", "json"), default="table", help="output (default: table)"
    )
    add_policy_arg(parser)
    parser.add_argument("--consortium", metavar="C", help="use this consortium's policy rules")
    parser.add_argument("--model", metavar="M", help="use this model's policy rules")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    categorical = parse_name_list(args.categorical, "--categorical")
    if args.profile is None and args.reference is None:
        raise UsageError("give --reference REF (or --profile PROFILE)")
    rules = load_policy(args.policy).rules(args.consortium, args.model)
    current = read_table(args.current)
    notes: list[str] = []
    if args.profile is not None:
        profile = load_profile(args.profile)
        n_reference = profile_rows(profile)
        columns = _profile_columns(profile, current, categorical, args.current, notes)
    else:
        reference = read_table(args.reference)
        n_reference = _rows(reference)
        profile, columns = _fit(
            reference, current, categorical, args.reference, args.current, notes
        )
    report = compare(
        profile, columns, n_reference=n_reference, current_path=args.current, rules=rules
    )
    for note in notes:
        print(f"resonance drift: note: {note}", file=sys.stderr)
    if args.format == "json":
        public = {k: v for k, v in report.items() if k != "min_samples"}
        public["features"] = {
            n: {k: f[k] for k in FEATURE_KEYS} for n, f in report["features"].items()
        }
        print(json.dumps(public, allow_nan=False))
    else:
        print(format_table(report))
    return 0


def _rows(columns: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(columns.values())))


def profile_rows(profile: ReferenceProfile) -> int:
    """Rows a profile was fitted on (non-missing + missing of any feature)."""
    return max((ref.n + ref.n_missing for ref in profile.features.values()), default=0)


def _fit(
    reference: Mapping[str, np.ndarray],
    current: Mapping[str, np.ndarray],
    categorical: list[str],
    ref_path: str,
    cur_path: str,
    notes: list[str],
) -> tuple[ReferenceProfile, Mapping[str, np.ndarray]]:
    """Fit a profile on the features both files share; returns it and CUR's columns.

    Notes for stderr are appended to ``notes`` (printed only if the comparison succeeds).
    """
    ref_num, ref_cat, ref_text = split_columns(reference, categorical, ref_path)
    cur_num, _, cur_text = split_columns(current, categorical, cur_path)
    for name in ref_num:
        if name in cur_text:
            _text_in_numeric(name, current[name], cur_path)
    for name in cur_num:
        if name in ref_text:
            _text_in_numeric(name, reference[name], ref_path)
    wanted = {n for n in ref_num if n in cur_num} | set(ref_cat)
    shared = [n for n in reference if n in wanted]  # REF's column order
    if not shared:
        text = sorted(set(ref_text) & set(cur_text))
        hint = f" (shared text columns: {', '.join(text)}; name them with --categorical)"
        raise UsageError(
            f"no shared columns to compare between {ref_path} and {cur_path}"
            + (hint if text else "")
        )
    skipped = sorted(set(ref_text) & set(cur_text))
    if skipped:
        notes.append(f"skipping text columns not named with --categorical: {', '.join(skipped)}")
    for name in shared:
        _require_values(name, reference[name], ref_path)
    try:
        profile = fit_reference(
            select(reference, shared),
            model="offline",
            version="0",
            categorical=ref_cat,
        )
    except ValueError as exc:
        raise UsageError(f"{ref_path}: {exc}") from None
    return profile, select(current, shared)


def _profile_columns(
    profile: ReferenceProfile,
    current: Mapping[str, np.ndarray],
    categorical: list[str],
    cur_path: str,
    notes: list[str],
) -> Mapping[str, np.ndarray]:
    for name in categorical:
        ref = profile.features.get(name)
        if ref is None:
            raise UsageError(f"--categorical column {name!r} is not in the profile")
        if ref.kind != "categorical":
            raise UsageError(f"--categorical column {name!r} is numeric in the profile")
    shared = [n for n in profile.features if n in current]
    absent = [n for n in profile.features if n not in current]
    if absent:
        notes.append(f"profile features not in {cur_path}: {', '.join(absent)}")
    if not shared:
        raise UsageError(f"no shared columns to compare between the profile and {cur_path}")
    for name in shared:
        if profile.features[name].kind == "numeric" and not column_is_numeric(current, name):
            _text_in_numeric(name, current[name], cur_path)
    return select(current, shared)


def _text_in_numeric(name: str, values: np.ndarray, path: str) -> None:
    culprit = numeric_text_culprit(values) or next(
        ((i, str(v)) for i, v in enumerate(values) if v is not None), (0, "")
    )
    row, text = culprit
    raise UsageError(
        f"{path}: column {name!r} is numeric in the other file but data row {row + 1} holds"
        f" text {text!r} (name it with --categorical if it is categorical)"
    )


def _require_values(name: str, values: np.ndarray, path: str) -> None:
    if is_numeric(values):
        empty = not np.isfinite(values).any()
    else:
        empty = all(v is None or v == "" for v in values)
    if empty:
        raise UsageError(f"{path}: column {name!r} has no values (all {len(values)} missing)")


def compare(
    profile: ReferenceProfile,
    current: Mapping[str, np.ndarray],
    *,
    n_reference: int,
    current_path: str = "current",
    rules: RuleSet | None = None,
) -> dict[str, Any]:
    """The contract's JSON object for ``current`` against ``profile``; verdicts by the
    policy's ``rules`` (the built-in defaults when None)."""
    rules = rules or RuleSet()
    engines: dict[str, Any] = {}
    features: dict[str, dict[str, Any]] = {}
    for name, values in current.items():
        _require_values(name, values, current_path)
        try:
            engines[name] = drift_engine(profile.features[name]).update(values)
        except ValueError as exc:
            raise UsageError(f"{current_path}: {exc}") from None
        features[name] = _feature_entry(name, engines[name].result())
    verdicts = {f.feature: f for f in feature_results(engines, rules)}
    for name, entry in features.items():
        entry["drift"] = bool(verdicts[name].drift)
    tested = [f for f in verdicts.values() if f.drift is not None]
    share = model_share(tested, rules.model_drift.importance)
    return {
        "features": features,
        "drift_share": float(share or 0.0),
        "n_reference": int(n_reference),
        "n_current": _rows(current),
        "min_samples": rules.feature_drift.min_samples,
    }


def _feature_entry(name: str, result: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": result["kind"]}
    for key in ("psi", "js", "ks", "wasserstein", "chi2_pvalue", "missing_rate"):
        value = result.get(key)
        if value is not None:
            value = float(value)
            if not math.isfinite(value):
                raise UsageError(f"column {name!r}: {key} is not finite ({value})")
        entry[key] = value
    for key in ("psi", "js", "missing_rate"):
        if entry[key] is None:  # pragma: no cover - guarded by _require_values
            raise UsageError(f"column {name!r}: {key} is undefined")
    entry["n"] = int(result["n"]) + int(result["n_missing"])
    return entry


def _verdict(f: Mapping[str, Any], min_samples: int) -> str:
    if f["drift"]:
        return "DRIFT"
    return f"n<{min_samples}" if f["n"] < min_samples else "ok"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(report: Mapping[str, Any]) -> str:
    """Aligned, human-readable table with a verdict column and a summary line."""
    header = ("feature", "kind", "psi", "js", "ks", "wasserstein", "chi2_p", "missing", "verdict")
    rows = [header]
    for name, f in report["features"].items():
        rows.append(
            (
                name,
                f["kind"],
                _fmt(f["psi"]),
                _fmt(f["js"]),
                _fmt(f["ks"]),
                _fmt(f["wasserstein"]),
                _fmt(f["chi2_pvalue"]),
                f"{100 * f['missing_rate']:.1f}%",
                _verdict(f, report["min_samples"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    n_drift = sum(f["drift"] for f in report["features"].values())
    lines.append("")
    lines.append(
        f"drift in {n_drift} of {len(report['features'])} features"
        f" (drift share {report['drift_share']:.2f});"
        f" reference {report['n_reference']} rows, current {report['n_current']} rows"
    )
    return "\n".join(lines)


__all__ = ["FEATURE_KEYS", "compare", "format_table", "profile_rows", "register", "run"]
