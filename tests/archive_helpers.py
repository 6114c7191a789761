"""Small archives for tests, cut from the sample archive or written by hand."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path


def samples_by_id(archive: Path) -> dict[int, dict]:
    manifest = json.loads((Path(archive) / "manifest.json").read_text(encoding="utf-8"))
    return {sample["sample_id"]: sample for sample in manifest["samples"]}


def copy_samples(archive: Path, out: Path, sample_ids, tiers=("filtered", "processed")) -> Path:
    """Copy a few samples' entries of `tiers` (plus the tier tables) into `out/<tier>/`."""
    archive, out = Path(archive), Path(out)
    samples = samples_by_id(archive)
    for tier in tiers:
        (out / tier).mkdir(parents=True, exist_ok=True)
    for sample_id in sample_ids:
        sample = samples[sample_id]
        for tier in tiers:
            relative = {
                "filtered": sample["filtered_path"],
                "processed": sample["processed_path"],
                "raw": sample["raw_path"],
            }[tier]
            source, target = archive / relative, out / relative
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
    if "processed" in tiers:
        shutil.copy2(archive / "processed" / "noise_files.txt", out / "processed" / "noise_files.txt")
    if "raw" in tiers:
        shutil.copy2(archive / "raw" / "rename.xlsx", out / "raw" / "rename.xlsx")
    return out


def zip_folder(folder: Path, zip_path: Path, top_folder: bool = True) -> Path:
    """Zip `folder` with (`<name>/...`) or without a top folder."""
    folder = Path(folder)
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                relative = path.relative_to(folder.parent if top_folder else folder)
                archive.write(path, relative.as_posix())
    return zip_path
