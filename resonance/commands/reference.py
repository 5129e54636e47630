"""``resonance reference``: build a reference profile from training data, or show one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from errors import UsageError
from processors.reference import DEFAULT_BINS, DEFAULT_TOP_K, ReferenceProfile, fit_reference
from resonance.io import parse_name_list, read_table, select, split_columns

BUILD_EPILOG = f"""\
Every numeric column becomes a numeric feature (quantile bin edges, default {DEFAULT_BINS}
bins, plus two open overflow bins); the columns named with --categorical keep their top-K
categories (default {DEFAULT_TOP_K}) plus "other" and "missing". Text columns not named
are skipped (note on stderr). The profile is JSON, versioned with --model and --version;
--target (with --classes for a classifier) stores what the model predicts, for
`resonance models register --reference`.

examples:
  resonance reference build --data train.parquet --model strip-defect --version 3 \\
      --categorical grade,shift --target multiclass --classes none,scratch,scale \\
      --out profiles/strip-defect-3.json
  resonance reference show profiles/strip-defect-3.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reference",
        help="build or show a reference profile",
        description="Reference profiles: the bins every window of a model version is counted on.",
        epilog="examples:\n  resonance reference build --help\n  resonance reference show ref.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="fit a profile from training data",
        description="Fit a reference profile from training data (CSV or Parquet).",
        epilog=BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "--data", metavar="FILE", required=True, help="training data (CSV or Parquet)"
    )
    build.add_argument("--model", metavar="M", required=True, help="model name")
    build.add_argument("--version", metavar="V", required=True, help="model version")
    build.add_argument("--categorical", metavar="a,b", help="comma-separated categorical columns")
    build.add_argument(
        "--bins",
        metavar="N",
        type=int,
        default=DEFAULT_BINS,
        help=f"quantile bins (default {DEFAULT_BINS})",
    )
    build.add_argument(
        "--top-k",
        metavar="K",
        type=int,
        default=DEFAULT_TOP_K,
        help=f"categories kept per categorical column (default {DEFAULT_TOP_K})",
    )
    add_target_options(build, required=False)
    build.add_argument(
        "--out", metavar="ref.json", required=True, help="where to write the profile"
    )
    build.set_defaults(func=run_build)
    show = actions.add_parser(
        "show",
        help="summarise a stored profile",
        description="Print a stored profile's model, version and features.",
        epilog="example:\n  resonance reference show profiles/strip-defect-3.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("profile", metavar="PROFILE", help="profile JSON written by `build`")
    show.set_defaults(func=run_show)


def load_profile(path: str | Path) -> ReferenceProfile:
    """Read a profile; :class:`UsageError` naming the file if it is missing or malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    if not text.strip():
        raise UsageError(f"{path}: empty file")
    try:
        return ReferenceProfile.from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a reference profile: {exc}") from None


def add_target_options(parser: argparse.ArgumentParser, required: bool) -> None:
    """--target/--classes/--positive-class, shared with ``resonance models register``."""
    parser.add_argument(
        "--target",
        metavar="KIND",
        required=required,
        help="what the model predicts: binary, multiclass or regressor",
    )
    parser.add_argument("--classes", metavar="a,b", help="class labels (classifiers)")
    parser.add_argument(
        "--positive-class", metavar="X", help="binary: the positive class (default: the last)"
    )


def parse_target(args: argparse.Namespace) -> dict | None:
    """The target object of the flags (None without --target); UsageError naming the flag."""
    from streams.registry import TARGET_KINDS, Target

    if args.target is None:
        if args.classes or args.positive_class:
            raise UsageError("--classes/--positive-class need --target binary|multiclass")
        return None
    if args.target not in TARGET_KINDS:
        raise UsageError(
            f"--target {args.target!r}: unknown kind (one of {', '.join(TARGET_KINDS)})"
        )
    classes = parse_name_list(args.classes, "--classes") if args.classes else []
    if args.target != "regressor" and not classes:
        raise UsageError(
            f"--classes: required for --target {args.target} (e.g. --classes ok,defect)"
        )
    if args.target == "regressor" and (classes or args.positive_class):
        raise UsageError("--classes/--positive-class: a regressor has no classes")
    try:
        target = Target(
            kind=args.target, classes=tuple(classes), positive_class=args.positive_class
        )
    except ValueError as exc:
        msg = str(exc).splitlines()[-1].strip().removeprefix("Value error, ")
        raise UsageError(f"--classes: {msg}") from None
    return target.model_dump(exclude_none=True)


def fit_data(
    data: str, model: str, version: str, categorical: str | None, bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K, quiet: bool = False,
) -> ReferenceProfile:  # fmt: skip
    """Fit a profile from a CSV/Parquet file (what ``reference build`` writes)."""
    if bins < 1:
        raise UsageError(f"--bins must be >= 1, got {bins}")
    if top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {top_k}")
    names_cat = parse_name_list(categorical, "--categorical")
    columns = read_table(data)
    numeric, cats, skipped = split_columns(columns, names_cat, data)
    names = [n for n in columns if n in numeric or n in cats]
    if not names:
        raise UsageError(f"{data}: no numeric columns (name text columns with --categorical)")
    try:
        profile = fit_reference(
            select(columns, names),
            model=model,
            version=version,
            categorical=cats,
            n_bins=bins,
            top_k=top_k,
        )
    except ValueError as exc:
        raise UsageError(f"{data}: {exc}") from None
    n_rows = len(next(iter(columns.values())))
    if skipped and not quiet:
        print(
            f"resonance reference: note: skipping text columns not named with --categorical:"
            f" {', '.join(skipped)}",
            file=sys.stderr,
        )
    if not quiet:
        print(
            f"fitted {len(numeric)} numeric and {len(cats)} categorical features"
            f" from {n_rows} rows of {data}",
            file=sys.stderr,
        )
    return profile


def run_build(args: argparse.Namespace) -> int:
    target = parse_target(args)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: directory {out.parent} does not exist")
    profile = fit_data(args.data, args.model, args.version, args.categorical, args.bins,
                       args.top_k)  # fmt: skip
    doc = profile.to_dict() | ({"target": target} if target else {})
    out.write_text(json.dumps(doc, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(describe(load_profile(args.profile)))
    return 0


def describe(profile: ReferenceProfile) -> str:
    """A short text summary: one line per feature."""
    lines = [
        f"model {profile.model} version {profile.version}"
        f" ({len(profile.features)} features, bins {profile.n_bins}, top-k {profile.top_k})"
    ]
    width = max((len(n) for n in profile.features), default=7)
    for name, ref in profile.features.items():
        missing = f"missing {100 * ref.missing_rate:.1f}%"
        if ref.kind == "numeric":
            detail = (
                f"{len(ref.edges) + 1} bins ({len(ref.group_ends)} PSI groups)"
                f"  mean {ref.mean:.4g}  std {ref.std:.4g}"
                f"  min {ref.min:.4g}  max {ref.max:.4g}"
            )
        else:
            shown = ", ".join(ref.categories[:5]) + (", ..." if len(ref.categories) > 5 else "")
            detail = f"{len(ref.categories)} categories: {shown}"
        lines.append(f"  {name.ljust(width)}  {ref.kind:<11}  n {ref.n}  {missing}  {detail}")
    return "\n".join(lines)
