"""Build one consortium's monthly report into a directory, with a progress bar on stderr.

Order matters for the user: every check that can fail on input (month, formats,
output directory, consortium, empty month) runs before any work starts, so a
mistake costs one line and exit 2, never a half-written report.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from errors import UsageError
from resonance.report import charts as charts_mod
from resonance.report import render
from resonance.report.data import MonthData, assemble
from warehouse.backend import Backend
from warehouse.states import iso

#: assemble() steps + charts + one per format
_DATA_STEPS = 9


class Progress:
    """A one-line bar on a terminal (redrawn in place), one line per step otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "report") -> None:
        self.total, self.done, self.label = total, 0, label
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.monotonic()

    def step(self, name: str) -> None:
        self.done = min(self.total, self.done + 1)
        width = 24
        filled = round(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        line = f"{self.label} [{bar}] {self.done}/{self.total} {name}"
        line += f" ({time.monotonic() - self.t0:.1f}s)"
        tty = self.stream.isatty()
        self.stream.write(("\r\033[K" if tty else "") + line + ("" if tty else "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()


def check_out_dir(out: str | Path) -> Path:
    """Create ``out`` if needed; one-line UsageError when it cannot be written."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: not a writable directory")
    probe = path / ".resonance-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out {out}: not writable ({exc.strerror or exc})") from None
    return path


def software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("resonance")
    except PackageNotFoundError:
        return "unknown"


def policy_version(versions: list[str]) -> str:
    """The policy versions the month's windows and alerts were decided under, else the version of
    the default policy (what the workers apply without a policy file)."""
    if versions:
        return ", ".join(versions)
    from processors.policy_config import PolicyConfig

    return f"{PolicyConfig.load(None).version} (the default policy; no stored decisions this month)"


def provenance(data: MonthData) -> dict[str, Any]:
    refs = data.tables["references"].rows
    return {
        "consortium": data.consortium,
        "month": data.month,
        "range_start": iso(data.lo),
        "range_end": iso(data.hi),
        "generated_at": iso(datetime.now(UTC)),
        "software_version": f"resonance {software_version()}",
        "policy_version": policy_version(data.provenance.get("policy_versions") or []),
        "reference_profiles": "; ".join(
            f"{r['model']} v{r['model_version']}: profile {r['profile_version']}" for r in refs
        )
        or "none stored",
    }


def build_report(
    backend: Backend,
    consortium: str,
    month: str,
    out: str | Path,
    formats: list[str] | tuple[str, ...] = render.FORMATS,
    stream: TextIO | None = None,
) -> dict[str, list[Path]]:
    """Write the report's files into ``out``; format → files written."""
    out_dir = check_out_dir(out)
    bar = Progress(_DATA_STEPS + 1 + len(formats), stream, f"report {consortium} {month}")
    try:
        data = assemble(backend, consortium, month, step=bar.step)
        prov = provenance(data)
        written: dict[str, list[Path]] = {}
        pictures: dict[str, bytes] = {}
        bar.step("charts")
        if {"html", "pdf"} & set(formats):
            pictures = charts_mod.charts(data)
        page = render.html(data, pictures, prov) if {"html", "pdf"} & set(formats) else ""
        stem = f"resonance-{consortium}-{month}"
        for fmt in formats:
            bar.step(fmt)
            if fmt == "csv":
                written[fmt] = render.write_csv(data.tables, out_dir)
                written[fmt].append(_write_provenance(out_dir, prov))
            elif fmt == "parquet":
                written[fmt] = render.write_parquet(data.tables, out_dir)
            elif fmt == "html":
                path = out_dir / f"{stem}.html"
                path.write_text(page, encoding="utf-8")
                written[fmt] = [path]
            elif fmt == "pdf":
                path = out_dir / f"{stem}.pdf"
                render.pdf(page, path)
                written[fmt] = [path]
    finally:
        bar.close()
    return written


def _write_provenance(out_dir: Path, prov: dict[str, Any]) -> Path:
    """provenance.json: the report's metadata (it holds the generation time, so it is
    the one export that differs between two runs over the same data)."""
    path = out_dir / "provenance.json"
    path.write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
