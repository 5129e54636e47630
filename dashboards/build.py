"""Write the generated dashboards and provisioning files (stable text, committed)."""

from __future__ import annotations

from pathlib import Path

from dashboards import catalog, provisioning
from dashboards.scope import DEFAULT_CONSORTIA

ROOT = Path(__file__).resolve().parent
GENERATED = ROOT / "generated"
PROVISIONING = ROOT / "provisioning"


def rendered(consortia: tuple[str, ...] = DEFAULT_CONSORTIA) -> dict[Path, str]:
    """Relative path → file text, for dashboards (``generated/``) and provisioning."""
    out: dict[Path, str] = {}
    for scope, model in catalog.dashboards(consortia):
        out[Path("generated") / scope.folder / f"{model['uid']}.json"] = catalog.dumps(model)
    for rel, document in provisioning.files(consortia).items():
        out[Path("provisioning") / rel] = provisioning.dump(document)
    return out


def write(
    generated: Path = GENERATED,
    provisioning_dir: Path = PROVISIONING,
    consortia: tuple[str, ...] = DEFAULT_CONSORTIA,
) -> list[Path]:
    """Write every file; remove stale dashboard JSON so deleted dashboards disappear."""
    roots = {"generated": generated, "provisioning": provisioning_dir}
    written: list[Path] = []
    for rel, text in rendered(consortia).items():
        path = roots[rel.parts[0]].joinpath(*rel.parts[1:])
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    for stale in set(generated.rglob("*.json")) - set(written):
        stale.unlink()
    return written
