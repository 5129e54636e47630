"""``resonance models``: register, list, show, retire and import models on the registry topic.

The registry is the compacted Kafka topic ``models`` (streams.registry): every worker,
the sink and the query layer read it, and pick a registration up without a restart.
A bad registration is one line and exit 2, and leaves the registry unchanged: it is
validated in full (target, classes, reference, features against the model's previous
version) before anything is produced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from errors import UsageError
from resonance.commands.calibration import add_calibration_options, describe, fit_from_args
from resonance.commands.reference import add_target_options, fit_data, load_profile, parse_target

#: inline profiles up to this size; larger ones are stored as a pointer (reference_uri)
INLINE_MAX_BYTES = 512 * 1024

EPILOG = """\
examples:
  resonance models register --consortium steel --model strip-defect --version 3 \\
      --data train.parquet --categorical grade --target binary --classes ok,defect \\
      --baseline accuracy=0.93 --importance strip_temp_c=0.4,grade=0.2 --slo-p95-ms 50
  resonance models register --consortium steel --model strip-defect --version 3 \\
      --target binary --classes ok,defect --predictions ref_predictions.parquet \\
      --score-column p_defect --label-column actual   # score calibration (estimation)
  resonance models register --consortium steel --model coil-temp --version 1 \\
      --target regressor --bootstrap-samples 5000      # reference from production
  resonance models list
  resonance models show steel/strip-defect/3
  resonance models retire steel/strip-defect/2
  resonance models import ./sim-data                  # local files: references/<c>/*.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models",
        help="the model registry: register, list, show, retire, import",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    reg = sub.add_parser("register", help="register (or update) one model version")
    _bootstrap_arg(reg)
    reg.add_argument("--consortium", metavar="C", required=True, help="consortium")
    reg.add_argument("--model", metavar="M", required=True, help="model name")
    reg.add_argument("--version", metavar="V", required=True, help="model version")
    ref = reg.add_mutually_exclusive_group()
    ref.add_argument("--reference", metavar="ref.json", help="a profile from `reference build`")
    ref.add_argument("--data", metavar="FILE", help="training data (CSV/Parquet) to fit one from")
    ref.add_argument("--bootstrap-samples", metavar="N", type=int,
                     help="fit the reference from the first N production samples")  # fmt: skip
    ref.add_argument("--bootstrap-hours", metavar="T", type=float,
                     help="fit the reference from the first T hours of production")  # fmt: skip
    reg.add_argument("--categorical", metavar="a,b", help="categorical columns (--data)")
    add_target_options(reg, required=False)
    reg.add_argument("--baseline", metavar="k=v", action="append", default=[],
                     help="reference metric, e.g. accuracy=0.93 or mae=1.2")  # fmt: skip
    reg.add_argument("--importance", metavar="f=w,...", action="append", default=[],
                     help="feature importances (weights of the drift verdict)")  # fmt: skip
    reg.add_argument("--slo-p95-ms", metavar="N", type=float, help="latency SLO (p95, ms)")
    reg.add_argument("--replace-reference", action="store_true",
                     help="allow a new reference for a version that has one (its stored "
                     "windows were binned on the old one)")  # fmt: skip
    reg.add_argument("--owner", metavar="NAME", help="owner shown in reports")
    reg.add_argument("--contact", metavar="ADDR", help="contact shown in reports")
    add_calibration_options(reg)
    reg.set_defaults(func=run_register)

    listing = sub.add_parser("list", help="every registered model version")
    _bootstrap_arg(listing)
    listing.add_argument("--consortium", metavar="C", help="only this consortium")
    listing.add_argument(
        "--format", choices=("table", "json"), default="table", help="output (default: table)"
    )
    listing.set_defaults(func=run_list)

    for name, helptext, func in (
        ("show", "one entry as JSON", run_show),
        ("retire", "retire a model version (its events then go to the DLQ)", run_retire),
    ):
        q = sub.add_parser(name, help=helptext)
        _bootstrap_arg(q)
        q.add_argument("key", metavar="C/M/V", help="consortium/model/version")
        q.set_defaults(func=func)

    imp = sub.add_parser("import", help="register every profile of a local directory")
    _bootstrap_arg(imp)
    imp.add_argument("directory", metavar="DIR", help="holds references/<consortium>/*.json")
    imp.set_defaults(func=run_import)


def _bootstrap_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", help="host:port[,...] (default: RESONANCE_KAFKA_BOOTSTRAP)")


# ------------------------------------------------------------------------------ reading


def _registry(args: argparse.Namespace) -> tuple[Any, Any]:
    from streams.registry import read_registry
    from streams.settings import load_settings

    settings = load_settings(args.bootstrap)
    try:
        timeout = float(os.environ.get("RESONANCE_REGISTRY_TIMEOUT_S", "30"))
        return settings, read_registry(settings, timeout=timeout)
    except Exception as exc:
        raise UsageError(f"registry on {settings.kafka_bootstrap}: {exc}") from None


def _key(text: str) -> tuple[str, str, str]:
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"{text!r}: expected consortium/model/version")
    return parts[0], parts[1], parts[2]


def _publish(settings: Any, entries: list) -> None:
    from streams.registry import publish

    try:
        publish(settings, entries)
    except Exception as exc:
        raise UsageError(f"registry on {settings.kafka_bootstrap}: {exc}") from None


# ---------------------------------------------------------------------------- register


def _pairs(values: list[str], flag: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in ",".join(values).split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"{flag} {item!r}: expected name=number") from None
    return out


def _reference(args: argparse.Namespace) -> tuple[dict | None, str | None, dict | None, dict]:
    """(inline profile, pointer, target stored in the file, provenance) of the flags."""
    if args.categorical and not args.data:
        raise UsageError("--categorical: only with --data")
    if args.reference:
        profile = load_profile(args.reference)
        if (profile.model, profile.version) != (args.model, args.version):
            raise UsageError(
                f"--reference {args.reference}: profile is for {profile.model} version"
                f" {profile.version}, not {args.model} version {args.version}"
            )
        raw = json.loads(Path(args.reference).read_text(encoding="utf-8"))
        stored = raw.get("target") if isinstance(raw, dict) else None
        prov = {"source": "registered", "file": str(Path(args.reference).resolve())}
        if Path(args.reference).stat().st_size > INLINE_MAX_BYTES:
            return None, f"file://{Path(args.reference).resolve()}", stored, prov
        return profile.to_dict(), None, stored, prov
    if args.data:
        profile = fit_data(args.data, args.model, args.version, args.categorical, quiet=True)
        return profile.to_dict(), None, None, {"source": "registered", "data": str(args.data)}
    return None, None, None, {"source": "none"}


def run_register(args: argparse.Namespace) -> int:
    from streams.registry import Bootstrap, ModelEntry

    target = parse_target(args)
    baselines = _pairs(args.baseline, "--baseline")
    importances = _pairs(args.importance, "--importance")
    if args.slo_p95_ms is not None and not args.slo_p95_ms > 0:
        raise UsageError(f"--slo-p95-ms must be > 0, got {args.slo_p95_ms}")
    bootstrap = None
    if args.bootstrap_samples is not None or args.bootstrap_hours is not None:
        if args.bootstrap_samples is not None and args.bootstrap_samples < 10:
            raise UsageError(f"--bootstrap-samples must be >= 10, got {args.bootstrap_samples}")
        if args.bootstrap_hours is not None and not args.bootstrap_hours > 0:
            raise UsageError(f"--bootstrap-hours must be > 0, got {args.bootstrap_hours}")
        bootstrap = Bootstrap(samples=args.bootstrap_samples, hours=args.bootstrap_hours)
    reference, uri, stored_target, provenance = _reference(args)
    target = target or stored_target
    if target is None:
        raise UsageError("--target: required (binary, multiclass or regressor)")
    fitted = fit_from_args(args, _canonical_target(target))
    if importances and reference is not None:
        unknown = sorted(set(importances) - set(reference["features"]))
        if unknown:
            raise UsageError(f"--importance {unknown[0]!r}: not a feature of the reference")
    settings, registry = _registry(args)
    now = int(time.time() * 1000)
    previous = registry.get(args.consortium, args.model, args.version)
    if previous is not None and reference is None and uri is None and bootstrap is None:
        # an update of target/baselines/...: the version keeps its reference
        reference, uri = previous.reference, previous.reference_uri
        bootstrap, provenance = previous.bootstrap, previous.provenance
    calibration = fitted[0].to_dict() if fitted else _kept_calibration(previous, target)
    try:
        entry = ModelEntry(
            consortium=args.consortium,
            model=args.model,
            version=args.version,
            target=target,
            reference=reference,
            reference_uri=uri,
            bootstrap=bootstrap,
            provenance=provenance,
            baselines=baselines,
            importances=importances,
            slo_p95_ms=args.slo_p95_ms,
            calibration=calibration,
            owner=args.owner,
            contact=args.contact,
            registered_at=previous.registered_at if previous else now,
            updated_at=now,
        )
    except ValueError as exc:
        raise UsageError(_first_error(exc)) from None
    _check_features(entry, registry)
    _check_same_reference(entry, previous, args.replace_reference)
    _publish(settings, [entry])
    what = "updated" if previous else "registered"
    ref = entry.provenance.get("source")
    if bootstrap is not None:
        ref = f"bootstrap from the first {bootstrap.samples or bootstrap.hours} " + (
            "samples" if bootstrap.samples else "hours"
        )
    print(f"{what} {entry.key}: target {entry.target.kind}, reference: {ref}")
    if fitted:
        print(describe(*fitted))
    return 0


def _canonical_target(target: dict) -> dict:
    """The target as the entry will hold it (classes canonical, the positive one last)."""
    from streams.registry import Target

    try:
        return Target.model_validate(target).model_dump()
    except ValueError as exc:
        raise UsageError(f"target: {_first_error(exc)}") from None


def _kept_calibration(previous: Any, target: dict) -> dict | None:
    """An update without --predictions keeps the version's calibration, if it still fits."""
    if previous is None or previous.calibration is None:
        return None
    classes = tuple(_canonical_target(target).get("classes", ()))
    if tuple(previous.calibration.get("classes", ())) != classes:
        raise UsageError(
            f"--target: {previous.key} has a calibration for classes"
            f" {previous.calibration.get('classes')}; give --predictions to refit it"
        )
    return previous.calibration


def _first_error(exc: Exception) -> str:
    """One line out of a pydantic ValidationError: ``field: message``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        e = errors()[0]
        where = ".".join(str(x) for x in e.get("loc", ())) or "entry"
        return f"{where}: {e.get('msg', '').removeprefix('Value error, ')}"
    return str(exc).splitlines()[0]


def _check_same_reference(entry: Any, previous: Any, replace: bool) -> None:
    """A version's bins are fixed once stored windows use them: a different reference
    for a version that has one needs --replace-reference (or, better, a new version)."""
    if replace or previous is None or previous.profile is None:
        return
    if entry.profile == previous.profile:
        return
    raise UsageError(
        f"--version {entry.version}: {entry.key} already has a reference"
        f" ({previous.provenance.get('source', 'registered')}) and this one differs:"
        " register a new version, or pass --replace-reference"
    )


def _check_features(entry: Any, registry: Any) -> None:
    """A new version keeps the features (names and kinds) of the latest version before it."""
    profile = entry.profile
    if profile is None:
        return
    others = [e for e in registry.versions(entry.consortium, entry.model)
              if e.version != entry.version and e.profile is not None]  # fmt: skip
    if not others:
        return
    prev = max(others, key=lambda e: e.updated_at)
    want = {n: r.kind for n, r in prev.profile.features.items()}
    got = {n: r.kind for n, r in profile.features.items()}
    if want == got:
        return
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(n for n in set(want) & set(got) if want[n] != got[n])
    parts = [f"missing {', '.join(missing)}"] * bool(missing)
    parts += [f"new {', '.join(extra)}"] * bool(extra)
    parts += [f"kind changed: {', '.join(changed)}"] * bool(changed)
    raise UsageError(
        f"reference features do not match version {prev.version} of {entry.model}: "
        + "; ".join(parts)
    )


# ------------------------------------------------------------------ list / show / retire


def summary(entry: Any) -> dict[str, Any]:
    """The entry without its reference bins (what ``list --format json`` prints)."""
    d = entry.model_dump(by_alias=True, exclude={"reference", "calibration"})
    cal = entry.calibration
    d["calibration"] = None if cal is None else {
        k: cal[k] for k in ("method", "classes", "n", "ece", "ece_raw") if k in cal
    }  # fmt: skip
    profile = entry.profile
    d["features"] = {n: r.kind for n, r in profile.features.items()} if profile else {}
    d["key"] = entry.key
    return d


def run_list(args: argparse.Namespace) -> int:
    _, registry = _registry(args)
    entries = [e for e in registry if args.consortium in (None, e.consortium)]
    if args.format == "json":
        print(json.dumps([summary(e) for e in entries], indent=1))
        return 0
    rows = [("MODEL", "TARGET", "REFERENCE", "FEATURES", "STATUS", "OWNER")]
    for e in entries:
        target = e.target.kind if e.target else "-"
        if e.target and e.target.classes:
            target += f" ({','.join(e.target.classes)})"
        source = e.provenance.get("source", "none") if e.profile else (
            "bootstrap pending" if e.bootstrap else "none")  # fmt: skip
        n = len(e.profile.features) if e.profile else 0
        rows.append((e.key, target, source, str(n), "retired" if e.retired else "active",
                     e.owner or "-"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if len(rows) == 1:
        print("(no models registered)", file=sys.stderr)
    return 0


def _get(args: argparse.Namespace) -> tuple[Any, Any]:
    key = _key(args.key)
    settings, registry = _registry(args)
    entry = registry.get(*key)
    if entry is None:
        raise UsageError(f"{args.key}: not in the registry (see `resonance models list`)")
    return settings, entry


def run_show(args: argparse.Namespace) -> int:
    _, entry = _get(args)
    print(json.dumps(summary(entry), indent=1))
    return 0


def run_retire(args: argparse.Namespace) -> int:
    settings, entry = _get(args)
    if entry.retired:
        print(f"{entry.key}: already retired")
        return 0
    _publish(settings, [entry.replace(retired=True)])
    print(f"retired {entry.key}: its events now go to the DLQ as 'retired model'")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from streams.registry import import_directory

    directory = Path(args.directory)
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    entries = import_directory(directory)
    if not entries:
        raise UsageError(f"{directory}: no reference profiles (expected references/<c>/*.json)")
    settings, registry = _registry(args)
    for entry in entries:
        _check_features(entry, registry)
    _publish(settings, entries)
    print(f"registered {len(entries)} models from {directory}")
    return 0
