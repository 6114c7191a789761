#!/usr/bin/env python
"""Measures the frame pipeline's speed against PyAV's decode-only speed on the same videos, in one run.

    python -m benchmarks.bench_preprocess --out /tmp/ahu_bench [--samples 8] [--repeats 3] [--write-md]
    python -m benchmarks.bench_preprocess --archive /path/to/archive      # an existing archive's filtered/

Lines measured (source frames per second, one process, the same files, interleaved per repeat):
- decode only: PyAV decodes every frame and touches nothing (the ceiling: every frame must be decoded);
- pipeline: `extract_video_frames` (every 10th frame cropped on the luma plane, RGB, 224x224) + `detect_noise`;
- paper equivalent: every frame converted to a BGR ndarray, then every 10th cropped and resized (To_NPY.py);
for PyAV's default threading and `thread_type="AUTO"`; then the whole tier writer (`preprocess_tier`, JPEG
frames included) with 1 and 2 processes. `--write-md` puts the table in BENCHMARKS.md, "## Preprocessing".
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from benchmarks.report import cpu_model, write_section
from hf_loader.preprocess import PreprocessOptions, preprocess_sample
from hf_loader.processed_tier import preprocess_tier
from hf_loader.video_frames import extract_video_frames
from modeling_rvit.ultrasound_frames import (
    FRAME_SIZE,
    FRAME_STRIDE,
    GRAY_THRESHOLD,
    NoiseSettings,
    detect_noise,
    find_region_box,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Preprocessing"


def decode_only(path: Path, thread_type: str | None) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if thread_type:
            stream.thread_type = thread_type
        return sum(1 for _ in container.decode(stream))


def pipeline(path: Path, thread_type: str | None) -> int:
    video = extract_video_frames(path, thread_type=thread_type)
    detect_noise(video.frames, NoiseSettings())
    return video.num_source_frames


def paper_equivalent(path: Path, thread_type: str | None) -> int:
    """To_NPY.py's order of work: a BGR array of every frame, then every 10th one thresholded and cropped."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if thread_type:
            stream.thread_type = thread_type
        for index, frame in enumerate(container.decode(stream)):
            bgr = frame.to_ndarray(format="bgr24")
            count += 1
            if index % FRAME_STRIDE:
                continue
            gray = (bgr[..., 0] * 0.114 + bgr[..., 1] * 0.587 + bgr[..., 2] * 0.299).astype(np.uint8)
            x0, y0, x1, y1 = find_region_box(gray, GRAY_THRESHOLD) or (0, 0, frame.width, frame.height)
            crop = np.ascontiguousarray(bgr[y0:y1, x0:x1])
            np.asarray(Image.fromarray(crop).resize((FRAME_SIZE, FRAME_SIZE), Image.Resampling.BILINEAR))
    return count


def measure_interleaved(
    lines: dict, videos: list[Path], thread_type: str | None
) -> dict[str, tuple[float, float]]:
    """Run every line on each video in turn (so load changes hit all lines alike).

    Returns:
        `{line: (source frames per wall second, source frames per CPU second of this process)}`.
    """
    totals = {name: [0, 0.0, 0.0] for name in lines}
    for path in videos:
        for name, function in lines.items():
            wall, cpu = time.perf_counter(), time.process_time()
            frames = function(path, thread_type)
            totals[name][0] += frames
            totals[name][1] += time.perf_counter() - wall
            totals[name][2] += time.process_time() - cpu
    return {name: (frames / wall, frames / cpu) for name, (frames, wall, cpu) in totals.items()}


def tier_seconds(filtered: Path, workers: int, scratch: Path, subset: list[Path]) -> tuple[int, float]:
    """Wall time of `preprocess_tier` over `subset` (a fresh output folder each time)."""
    source = scratch / f"filtered-{workers}"
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    for path in subset:
        (source / path.name).symlink_to(path)
    out = scratch / f"processed-{workers}"
    if out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    report = preprocess_tier(source, out, PreprocessOptions(), num_workers=workers, progress=False)
    return report.num_source_frames, time.perf_counter() - start


def iou(a, b) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def quality(seed: int, scratch: Path) -> dict:
    """Noise precision/recall (default, paper, an eps sweep) and crop IoU on a default-scale sample archive."""
    from hf_loader.sample_archive import load_manifest, make_sample_archive

    archive = make_sample_archive(scratch / f"quality-{seed}", seed=seed, zips=False)
    manifest = load_manifest(archive)
    samples = {
        sample["sample_id"]: preprocess_sample(
            archive / sample["filtered_path"], PreprocessOptions(noise=None)
        )
        for sample in manifest["samples"]
    }

    def scores(settings: NoiseSettings) -> tuple[float, float]:
        found_true = found_false = missed = 0
        for sample in manifest["samples"]:
            processed = samples[sample["sample_id"]]
            noise = detect_noise(processed.frames, settings)
            found = {name for name, flag in zip(processed.frame_names, noise) if flag}
            truth = set(sample["noise_frames"])
            found_true, found_false, missed = (
                found_true + len(found & truth),
                found_false + len(found - truth),
                missed + len(truth - found),
            )
        return found_true / max(1, found_true + found_false), found_true / max(1, found_true + missed)

    overlaps = [
        iou(samples[s["sample_id"]].crop_box, s["us_box"])
        for s in manifest["samples"]
        if s["kind"] == "video"
    ]
    return {
        "samples": len(manifest["samples"]),
        "noise_frames": sum(len(s["noise_frames"]) for s in manifest["samples"]),
        "frames": sum(len(s["processed_frames"]) for s in manifest["samples"]),
        "default": scores(NoiseSettings()),
        "paper": scores(NoiseSettings.paper()),
        "sweep": {eps: scores(NoiseSettings(eps=eps)) for eps in (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)},
        "median_iou": float(np.median(overlaps)),
        "min_iou": float(np.min(overlaps)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--out", type=Path, help="generate a bench-scale sample archive (720x1280) here")
    source.add_argument("--archive", type=Path, help="use this archive's filtered/ videos")
    parser.add_argument("--samples", type=int, default=12, help="samples of the generated archive")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument(
        "--tier-videos", type=int, default=None, help="videos for the 1-vs-2-process runs (all)"
    )
    parser.add_argument(
        "--quality-seeds",
        type=int,
        nargs="*",
        default=[0, 1],
        help="sample-archive seeds for the noise/crop quality lines",
    )
    parser.add_argument("--skip-tier", action="store_true", help="skip the 1-vs-2-process tier runs")
    parser.add_argument("--write-md", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args(argv)

    if args.out is not None:
        from hf_loader.sample_archive import make_sample_archive

        archive = args.out
        if not (archive / "filtered").is_dir():
            make_sample_archive(archive, seed=0, scale="bench", num_samples=args.samples, zips=False)
    else:
        archive = args.archive
    videos = sorted((archive / "filtered").glob("Video_*.mp4"))
    if not videos:
        print(f"error: no Video_*.mp4 in {archive / 'filtered'}", file=sys.stderr)
        return 2
    with av.open(str(videos[0])) as container:
        stream = container.streams.video[0]
        video_format = f"{stream.codec_context.name} {stream.width}x{stream.height} {stream.format.name}"

    lines = {"decode only": decode_only, "pipeline": pipeline, "paper equivalent": paper_equivalent}
    results: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    paper_ratios: dict[tuple[str, str], list[float]] = {}
    load = os.getloadavg()[0]
    pipeline(videos[0], None)  # warm imports (scipy) outside the timings
    for thread_type in (None, "AUTO"):
        label = thread_type or "default"
        for _ in range(args.repeats):
            speeds = measure_interleaved(lines, videos, thread_type)
            for name, (wall_speed, cpu_speed) in speeds.items():
                results.setdefault((label, name), []).append(wall_speed)
                results.setdefault((label, name + " cpu"), []).append(cpu_speed)
            for clock, position in (("wall", 0), ("cpu", 1)):
                decode = speeds["decode only"][position]
                ratios.setdefault((label, clock), []).append(speeds["pipeline"][position] / decode)
                paper_ratios.setdefault((label, clock), []).append(
                    speeds["paper equivalent"][position] / decode
                )
            print(
                f"[{label}] " + ", ".join(f"{n} {w:.0f} fps (cpu {c:.0f})" for n, (w, c) in speeds.items()),
                flush=True,
            )

    subset = videos[: args.tier_videos]
    tier = {}
    with tempfile.TemporaryDirectory() as scratch:
        for workers in () if args.skip_tier else (1, 2, 1, 2):
            frames, seconds = tier_seconds(archive / "filtered", workers, Path(scratch), subset)
            tier.setdefault(workers, []).append(frames / seconds)
            print(f"[tier] {workers} process(es): {frames / seconds:.0f} source frames/s", flush=True)
        qualities = {seed: quality(seed, Path(scratch)) for seed in args.quality_seeds}

    total_frames = sum(decode_only(path, None) for path in videos)
    command = "python -m benchmarks.bench_preprocess " + " ".join(argv if argv is not None else sys.argv[1:])
    cores = len(os.sched_getaffinity(0))
    table = [
        SECTION,
        "",
        f"Command: `{command}`  ",
        (
            f"Machine: {cpu_model()}, {cores} cores, load average {load:.1f} at the start (compare lines of one run, "
            "not absolute numbers).  "
        ),
        (
            f"Videos: {len(videos)} bench-scale sample videos ({video_format}), {total_frames} source frames; "
            f"PyAV {av.__version__}; median of {args.repeats} interleaved repeats."
        ),
        "",
        (
            "Speed, one process, source frames per second (wall clock; the ratios also in CPU time of the process, "
            "which the other jobs on the machine disturb less):"
        ),
        "",
        (
            "| threading | decode only | pipeline | pipeline / decode (wall) | pipeline / decode (CPU time) "
            "| paper equivalent | paper / decode (wall) | paper / decode (CPU time) |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in ("default", "AUTO"):
        decode = statistics.median(results[(label, "decode only")])
        ours = statistics.median(results[(label, "pipeline")])
        paper = statistics.median(results[(label, "paper equivalent")])
        table.append(
            f"| {label} | {decode:.0f} | {ours:.0f} | {statistics.median(ratios[(label, 'wall')]):.2f} "
            f"| {statistics.median(ratios[(label, 'cpu')]):.2f} | {paper:.0f} "
            f"| {statistics.median(paper_ratios[(label, 'wall')]):.2f} "
            f"| {statistics.median(paper_ratios[(label, 'cpu')]):.2f} |"
        )
    one, two = (statistics.median(tier[1]), statistics.median(tier[2])) if tier else (float("nan"),) * 2
    table += [
        "",
        (
            "- pipeline: `extract_video_frames` (every 10th frame, crop found on the luma plane, only the crop "
            "resized and converted to RGB by swscale) + `detect_noise`; paper equivalent: a BGR array of every "
            "frame, then every 10th one thresholded, cropped and resized (To_NPY.py's order of work)."
        ),
        (
            f"- Whole tier writer (`preprocess_tier`, JPEG frames and noise list included, {len(subset)} videos): "
            f"1 process {one:.0f} source frames/s, 2 processes {two:.0f} source frames/s (x{two / one:.2f}; "
            "2 processes include spawning workers). One process already keeps two cores busy (frames are cropped "
            "and converted on a second thread while the decoder goes on), so on this 2-core machine a second "
            "process has no free core; processes pay off on machines with more cores than workers x 2."
        ),
        "",
        "Quality on the default sample archive (288x512 videos), against manifest.json:",
        "",
        (
            f"| seed | samples | frames | noise frames | noise P / R, default (eps={NoiseSettings().eps:g}) "
            "| noise P / R, paper (eps=15) | crop IoU median (min) |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for seed, q in qualities.items():
        table.append(
            f"| {seed} | {q['samples']} | {q['frames']} | {q['noise_frames']} | {q['default'][0]:.2f} / "
            f"{q['default'][1]:.2f} | {q['paper'][0]:.2f} / {q['paper'][1]:.2f} | {q['median_iou']:.3f} "
            f"({q['min_iou']:.3f}) |"
        )
    table += [
        "",
        "Noise precision / recall against eps (features min-max normalized to 0..1, 588 values):",
        "",
    ]
    eps_values = list(next(iter(qualities.values()))["sweep"]) if qualities else []
    table.append("| seed | " + " | ".join(f"eps={eps:g}" for eps in eps_values) + " |")
    table.append("|---|" + "---|" * len(eps_values))
    for seed, q in qualities.items():
        table.append(
            f"| {seed} | "
            + " | ".join(f"{q['sweep'][eps][0]:.2f} / {q['sweep'][eps][1]:.2f}" for eps in eps_values)
            + " |"
        )
    table.append("")
    text = "\n".join(table)
    print(text)
    if args.write_md:
        write_section(REPO_ROOT / "BENCHMARKS.md", SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
