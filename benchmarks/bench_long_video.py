#!/usr/bin/env python
"""Peak memory of decoding a long video against its length: the `video-classification` pipeline and
`preprocess_sample`, each in a fresh process.

    python -m benchmarks.bench_long_video [--lengths 600 5000 20000] [--code_root /path/to/checkout] [--write-md]

Clips are 64x48 H.264 mp4s (an ultrasound-like bright region with slow texture, a 100-frame title card every
2,000 frames, so noise removal has something to remove), written once into `--out`. Each measurement runs in a
new Python process with `PYTHONPATH=<code_root>` (this checkout by default; another checkout, e.g. main's, gives
the "before" figures) and reports its peak resident memory (`VmHWM` of /proc/self/status) and its resident
memory just before the call (`VmRSS` after the imports and, for the pipeline, the model load). The pipeline is
a randomly initialised RViT with the paper's shape (`RViTConfig()`: 36 frames, 112 px) and its default
processor (stride 10, region crop to 224 px, noise removal); one thread. `--write-md` puts the table in
BENCHMARKS.md under "## Long videos: peak memory against clip length", one column pair per `--label`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from benchmarks.report import cpu_model, write_section

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Long videos: peak memory against clip length"
TARGETS = ("pipeline", "preprocess_sample")

MAKE_MODEL = textwrap.dedent(
    """
    import sys
    import torch
    from modeling_rvit import RViTConfig, RViTForVideoClassification, RViTVideoProcessor

    torch.manual_seed(0)
    config = RViTConfig(id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1})
    RViTForVideoClassification(config).save_pretrained(sys.argv[1])
    RViTVideoProcessor().save_pretrained(sys.argv[1])
    """
)

CHILD = textwrap.dedent(
    """
    import json, sys

    def status(field):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024

    target, video, model = sys.argv[1], sys.argv[2], sys.argv[3]
    if target == "pipeline":
        import torch
        torch.set_num_threads(1)
        from transformers import pipeline
        import modeling_rvit  # registers RViT with the Auto classes
        classify = pipeline("video-classification", model=model)
        before = status("VmRSS")
        result = classify(video, top_k=1)
        kept = None
    else:
        from hf_loader.preprocess import preprocess_sample  # imports neither torch nor transformers
        before = status("VmRSS")
        sample = preprocess_sample(video)
        kept = len(sample.frames)
    print(json.dumps({"before_mb": before, "peak_mb": status("VmHWM"), "kept_frames": kept}))
    """
)


def write_clip(path: Path, num_frames: int, width: int = 64, height: int = 48, fps: int = 30) -> Path:
    """A `num_frames`-frame H.264 mp4: a textured bright region on black, a white title card (noise) for 100
    frames of every 2,000."""
    import av

    yy, xx = np.mgrid[0:height, 0:width]
    inside = (yy >= 8) & (yy < height - 6) & (xx >= 10) & (xx < width - 10)
    title = np.full((height, width, 3), 250, np.uint8)
    title[height // 3 : height // 2] = 20
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(num_frames):
            if index % 2000 >= 1900:
                array = title
            else:
                texture = 100 + 40 * np.sin(index / 25 + xx / 6) * np.cos(yy / 5 - index / 40)
                array = np.repeat(np.where(inside, texture, 0).astype(np.uint8)[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def run_child(code_root: Path, target: str, video: Path, model: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_root), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, target, str(video), str(model)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=code_root,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--lengths", type=int, nargs="+", default=[600, 5000, 20000])
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--code_root", type=Path, default=REPO_ROOT)
    parser.add_argument("--out", type=Path, default=Path("/tmp/ahu_bench_long_video"))
    parser.add_argument("--label", default=None, help="column label (default: the code root's folder name)")
    parser.add_argument("--write-md", action="store_true")
    args = parser.parse_args(argv)
    code_root = args.code_root.resolve()
    label = args.label or code_root.name
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.out / f"model-{label}"
    if "pipeline" in args.targets and not (model / "config.json").is_file():
        env = {**os.environ, "PYTHONPATH": str(code_root)}
        subprocess.run([sys.executable, "-c", MAKE_MODEL, str(model)], check=True, env=env, cwd=code_root)
    rows = []
    for length in args.lengths:
        video = args.out / f"Video_{length}_Cyst.mp4"
        if not video.is_file():
            write_clip(video, length)
        for target in args.targets:
            measured = run_child(code_root, target, video, model)
            rows.append(
                {"length": length, "target": target, "mp4_mb": video.stat().st_size / 2**20, **measured}
            )
            print(json.dumps({"label": label, **rows[-1]}), flush=True)
    load = os.getloadavg()
    machine = (
        f"{cpu_model()}, {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )
    print(machine)
    if args.write_md:
        results_file = args.out / "results.json"
        results = json.loads(results_file.read_text()) if results_file.is_file() else {}
        # A run of some targets or lengths replaces those rows only.
        measured = {(row["target"], row["length"]) for row in rows}
        kept = [
            row
            for row in results.get(label, {}).get("rows", [])
            if (row["target"], row["length"]) not in measured
        ]
        results[label] = {"rows": kept + rows, "machine": machine}
        results_file.write_text(json.dumps(results, indent=1))
        write_section(REPO_ROOT / "BENCHMARKS.md", SECTION, render(results))
    return 0


def render(results: dict) -> str:
    """The markdown section: one row per (target, length), a peak / before-call pair of columns per label."""
    labels = list(results)
    header = "| target | frames | mp4 MB | " + " | ".join(
        f"{label}: peak RSS MB (before call)" for label in labels
    )
    intro = textwrap.dedent(
        """
        `python -m benchmarks.bench_long_video --write-md` (after) and
        `python -m benchmarks.bench_long_video --code_root /work/main --label "main (before)" --write-md` (before:
        main's code, this script). Each cell: the peak resident memory (`VmHWM`) of a fresh process that decodes one
        64x48 H.264 clip, and in brackets its resident memory just before the call (after the imports and, for the
        pipeline, the model load). Pipeline: `pipeline("video-classification")` with a random RViT of the paper's
        shape and its default processor (stride 10, region crop to 224 px, noise removal, 36-frame centre window),
        torchcodec decoding, one thread. preprocess_sample: the paper's frame pipeline (`PreprocessOptions()`),
        which returns every kept frame (2,000 at 224x224 for 20,000 source frames, 301 MB): beyond 16 MB they are
        written to an anonymous temporary file and returned as a memory map, so its pages count only once read, and
        the kernel can drop them again. The machine was shared with other jobs (load averages below).
        """
    ).strip()
    lines = [SECTION, "", intro, "", header + " |", "|---|---|---|" + "---|" * len(labels)]
    keys = sorted(
        {
            (row["target"], row["length"], round(row["mp4_mb"], 2))
            for r in results.values()
            for row in r["rows"]
        }
    )
    for target, length, size in keys:
        cells = []
        for label in labels:
            row = next(
                (r for r in results[label]["rows"] if (r["target"], r["length"]) == (target, length)), None
            )
            if row is None:
                cells.append("–")
            elif "error" in row:
                cells.append(f"error: {row['error'][:60]}")
            else:
                cells.append(f"{row['peak_mb']:.0f} ({row['before_mb']:.0f})")
        lines.append(f"| {target} | {length:,} | {size} | " + " | ".join(cells) + " |")
    lines.append("")
    for label in labels:
        rows = {(r["target"], r["length"]): r["peak_mb"] for r in results[label]["rows"] if "peak_mb" in r}
        lengths = sorted({length for _, length in rows})
        ratios = [
            f"{target} {rows[target, lengths[-1]] / rows[target, lengths[0]]:.2f}x"
            for target in TARGETS
            if len(lengths) > 1 and (target, lengths[0]) in rows and (target, lengths[-1]) in rows
        ]
        if ratios:
            lines.append(
                f"- {label}, peak at {lengths[-1]:,} frames / at {lengths[0]:,}: " + ", ".join(ratios)
            )
    for label in labels:
        lines.append(f"- {label}: {results[label]['machine']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
