#!/usr/bin/env python
"""Benchmarks RViT on the CPU or a GPU: against the unfused reference equations, against VideoMAE /
TimeSformer / ViViT, and the memory of frame-by-frame inference. The measuring code is
`benchmarks/rvit_benchmarks.py`.

    python -m benchmarks.bench_rvit                        # every part, then prints the tables
    python -m benchmarks.bench_rvit --parts unfused profile --repeats 5
    python -m benchmarks.bench_rvit --parts scaling --models rvit videomae --frames 8 16
    python -m benchmarks.bench_rvit --write-md              # also puts the tables in BENCHMARKS.md, "## RViT"
    python -m benchmarks.bench_rvit --device cuda --parts unfused chunks compile --compile-mode reduce-overhead \
        --write-md                                       # on a GPU: "## RViT on a GPU"

Parts:
- unfused:  RViT (the AHU paper's config) vs the reference equations written out directly, same weights
            (logits checked to agree within 1e-4 first): training step (forward + backward + AdamW) and
            inference, float32 and bfloat16 autocast, batch 2, 112 px, 36 frames, runs interleaved.
- paper:    the training step of the paper preset (`RViTConfig.from_preset("ahu")`, the reference's dropout)
            against the unfused equations with the reference's dropout, at each of `--frames`, fp32 and bf16,
            interleaved; run it with `--threads 2`. With `--write-md` alone it rewrites only its own subsection.
- chunks:   RViT's training step with `frames_per_chunk` 1, 4, 8, 18, 36 (frames that go through a layer
            together), fp32 and bf16, against the unfused step; 36 frames, runs interleaved.
- compile:  the training step of RViT and of the unfused equations, each eager and under torch.compile
            (inductor), fp32 and bf16, against the eager unfused fp32 step; compiled logits checked against
            eager first. Compiling takes minutes at 36 frames (the frame loop is unrolled).
- profile:  torch.profiler of one training step of each, top operators by self time (CPU; GPU kernels on a GPU).
- scaling:  forward and forward+backward clips/s and peak memory at 8, 16, 36, 64 frames for RViT (patch 8,
            the paper's, and patch 16) and VideoMAE / TimeSformer / ViViT (width 192, patch 16, depth
            matched to RViT's parameter count).
- stateful: peak memory of RViT fed one frame at a time (state carried) vs the whole clip in one call.

Timing is CPU time of a single-threaded process (`--threads 1`): on a shared, loaded machine it is far
steadier than wall time, which is reported beside it. Memory: peak resident-size growth, see
`benchmarks/rvit_benchmarks.py`. With `--device cuda`: wall time with the GPU synchronized after each step,
and the growth of `torch.cuda.max_memory_allocated`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from benchmarks import rvit_benchmarks as bench
from benchmarks.report import cpu_model, write_section

REPO_ROOT = Path(__file__).resolve().parents[1]

PARTS = ("unfused", "paper", "chunks", "compile", "profile", "scaling", "stateful")
PAPER_SUBSECTION_TITLE = "### The paper preset against the reference equations with the reference's dropout"
SECTION_TITLE = "## RViT"
GPU_SECTION_TITLE = "## RViT on a GPU"
# Which clock the tables read: CPU time on the CPU (steady on a shared machine), wall time with the GPU
# synchronized after each step on a GPU. Set by `use_clock` from the results' device.
_CLOCK = "cpu"


def use_clock(device: str) -> None:
    global _CLOCK
    _CLOCK = "cpu" if device == "cpu" else "wall"


def _seconds() -> str:
    return f"{_CLOCK}_s"


def _rate(what: str) -> str:
    return f"{what}_per_{_CLOCK}_s"


def _label() -> str:
    return "CPU" if _CLOCK == "cpu" else "GPU, wall"


def _gflops(row: dict) -> float:
    return row.get("gflops_per_s", row.get("gflops_per_cpu_s", 0.0))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of the unfused comparison")
    parser.add_argument(
        "--unfused-frames", type=int, default=36, help="clip length of the unfused comparison"
    )
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    parser.add_argument(
        "--frames", nargs="+", type=int, default=[8, 16, 36, 64], help="scaling: clip lengths"
    )
    models = (*bench.RVIT_MODELS, *bench.BASELINES)
    parser.add_argument("--models", nargs="+", choices=models, default=list(models), help="scaling: models")
    parser.add_argument("--scaling-repeats", type=int, default=1, help="scaling: timed runs per length")
    parser.add_argument("--stateful-lengths", nargs="+", type=int, default=[16, 64, 256])
    parser.add_argument("--json", type=Path, help="also write every measurement to this JSON file")
    parser.add_argument(
        "--previous-json",
        type=Path,
        help="a --json file of an earlier run: parts not run now are taken from it",
    )
    parser.add_argument(
        "--write-md", action="store_true", help="write the tables into BENCHMARKS.md, '## RViT'"
    )
    parser.add_argument(
        "--render-only", action="store_true", help="measure nothing: write the tables of --previous-json"
    )
    parser.add_argument("--markdown-file", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu (default) or cuda: on a GPU, times are wall seconds with the GPU synchronized after each step, "
        "memory is torch.cuda.max_memory_allocated, and --write-md writes '## RViT on a GPU'",
    )
    parser.add_argument(
        "--compile-mode",
        default=None,
        help="compile: torch.compile's mode (default: its default; 'reduce-overhead' uses CUDA graphs on a GPU)",
    )
    args = parser.parse_args(argv)
    if args.device != "cpu" and not args.render_only:
        if args.device.split(":")[0] != "cuda":
            parser.error(f"--device {args.device}: give cpu or cuda")
        if not torch.cuda.is_available():
            parser.error(
                f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU on this machine"
            )
    return args


def machine_description(num_threads: int, device: str = "cpu") -> str:
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    gpu = f"{torch.cuda.get_device_name(torch.device(device))}; " if device != "cpu" else ""
    return (
        f"{gpu}{cpu_model()}, {os.cpu_count()} CPUs, load average {load} at the start; torch {torch.__version__}, "
        f"{num_threads} intra-op thread(s), Python {platform.python_version()}"
    )


def run_parts(args) -> dict:
    bench.configure_threads(args.threads)
    use_clock(args.device)
    device = args.device
    results: dict = {
        "machine": machine_description(args.threads, device),
        "device": device,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    # What the three comparisons on one clip length share.
    common = {
        "num_frames": args.unfused_frames,
        "repeats": args.repeats,
        "precisions": tuple(args.precisions),
        "device": device,
    }
    if "unfused" in args.parts:
        print(f"unfused comparison ({args.unfused_frames} frames, batch 2) ...", flush=True)
        results["unfused"] = bench.compare_with_unfused(**common)
        results["unfused"]["num_frames"] = args.unfused_frames
        print(format_unfused(results["unfused"]), flush=True)
    if "paper" in args.parts:
        print(
            f"paper preset with dropout ({', '.join(map(str, args.frames))} frames, batch 2) ...", flush=True
        )
        results["paper"] = bench.compare_paper_preset(
            frames=tuple(args.frames), repeats=args.repeats, precisions=tuple(args.precisions), device=device
        )
        print(format_paper(results["paper"]), flush=True)
    if "chunks" in args.parts:
        print(f"frames per chunk ({args.unfused_frames} frames, batch 2) ...", flush=True)
        results["chunks"] = bench.compare_frames_per_chunk(**common)
        print(format_chunks(results["chunks"]), flush=True)
    if "compile" in args.parts:
        print(
            f"torch.compile ({args.unfused_frames} frames, batch 2; compiling takes minutes) ...", flush=True
        )
        results["compile"] = bench.compare_compiled(**common, mode=args.compile_mode)
        print(format_compiled(results["compile"]), flush=True)
    if "profile" in args.parts:
        print("profiling one training step of each ...", flush=True)
        results["profile"] = {
            precision: bench.profile_training_step(
                num_frames=args.unfused_frames, precision=precision, device=device
            )
            for precision in args.precisions
        }
        results["profile_frames"] = args.unfused_frames
        print(format_profile(results["profile"], args.unfused_frames), flush=True)
    if "scaling" in args.parts:
        rows = []
        for model in tqdm(args.models, desc="scaling (one process per model)"):
            rows += bench.run_child(
                "scaling",
                args.threads,
                model_name=model,
                frames=args.frames,
                repeats=args.scaling_repeats,
                device=device,
            )
        results["scaling"] = rows
        print(format_scaling(rows), flush=True)
    if "stateful" in args.parts:
        print("frame-by-frame memory (one process) ...", flush=True)
        rows = bench.run_child("stateful", args.threads, lengths=args.stateful_lengths, device=device)
        results["stateful"] = rows
        print(format_stateful(rows), flush=True)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return results


def format_unfused(result: dict) -> str:
    rows = {(row["mode"], row["precision"], row["model"]): row for row in result["rows"]}
    roofs = result.get("matmul_roof_gflops", {})
    header = [
        "mode",
        "precision",
        f"RViT s/call ({_label()})",
        f"unfused s/call ({_label()})",
        "RViT clips/s",
        "unfused clips/s",
        *(["speed-up, CPU time"] if _CLOCK == "cpu" else []),
        "speed-up, wall time",
        "RViT vs unfused fp32",
        "RViT GFLOP/s",
        "unfused GFLOP/s",
        "matmul roof GFLOP/s",
        f"RViT, eager attention: s/call ({_label()}), speed-up",
    ]
    lines = [
        (
            f"Logits of RViT and of the unfused equations on the same weights: max relative difference "
            f"{result['logits_relative_difference']:.1e} (must be ≤ 1e-4)."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for (mode, precision, model), ours in rows.items():
        if model != "rvit" or (mode, precision, "unfused") not in rows:
            continue
        theirs = rows[(mode, precision, "unfused")]
        base = rows.get((mode, "fp32", "unfused"))
        versus_fp32 = f"{base[_seconds()] / ours[_seconds()]:.2f}x" if base else "-"
        roof = f"{roofs[precision]:.0f}" if precision in roofs else "-"
        eager = eager_cell(rows.get((mode, precision, "rvit_eager")), theirs)
        cells = [
            mode,
            precision,
            f"{ours[_seconds()]:.3f}",
            f"{theirs[_seconds()]:.3f}",
            f"{ours[_rate('clips')]:.2f}",
            f"{theirs[_rate('clips')]:.2f}",
            *([f"{theirs['cpu_s'] / ours['cpu_s']:.2f}x"] if _CLOCK == "cpu" else []),
            f"{theirs['wall_s'] / ours['wall_s']:.2f}x",
            versus_fp32,
            f"{_gflops(ours):.0f}",
            f"{_gflops(theirs):.0f}",
            roof,
            eager,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        (
            f"Clips/s are by {'CPU' if _CLOCK == 'cpu' else 'wall'} time. GFLOP/s: the model's floating-point work "
            "(`rvit_forward_flops`, ×3 for a training step; the same for both, they compute the same thing) per "
            f"{'CPU' if _CLOCK == 'cpu' else 'wall'} second; matmul roof: one "
            "1536×1536 matmul in the same process, the most a GEMM-bound step can reach on this core."
        ),
    ]
    lines += ["", *reading_of_unfused(rows, roofs)]
    return "\n".join(lines)


def format_paper(result: dict) -> str:
    """One line per clip length and precision: both steps' seconds and RViT's speed-up, by wall and CPU time."""
    rows = {(row["num_frames"], row["precision"], row["model"]): row for row in result["rows"]}
    header = [
        "frames",
        "precision",
        "RViT s/step (wall)",
        "reference equations s/step (wall)",
        "speed-up, wall time",
        "speed-up, CPU time",
    ]
    lines = [
        (
            f"Eval-mode logits of the two on the same weights: max relative difference "
            f"{result['logits_relative_difference']:.1e}."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    order = sorted(rows, key=lambda key: (key[0], ("fp32", "bf16").index(key[1])))
    for num_frames, precision, model in order:
        if model != "rvit":
            continue
        ours, theirs = rows[(num_frames, precision, model)], rows[(num_frames, precision, "unfused")]
        cells = [
            str(num_frames),
            precision,
            f"{ours['wall_s']:.3f}",
            f"{theirs['wall_s']:.3f}",
            f"{theirs['wall_s'] / ours['wall_s']:.2f}x",
            f"{theirs['cpu_s'] / ours['cpu_s']:.2f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paper_subsection(results: dict, command: str) -> str:
    return "\n".join(
        [
            PAPER_SUBSECTION_TITLE,
            "",
            f"Command: `{command}`  ",
            f"Machine: {results['machine']}.  ",
            (
                f"Run: {results['started']} to {results['finished']}. The training step (forward, cross-entropy, "
                "backward, AdamW) in train mode, batch 2, 112×112 frames: RViT built from "
                '`RViTConfig.from_preset("ahu")` (dropout 0.1 where the reference code has it) against '
                "`benchmarks/rvit_unfused.py` with `reference_dropout=0.1` (the reference's equations and its "
                "`nn.Dropout` calls, frame by frame), the same weights, the two runs interleaved in one process "
                "(median of the timed rounds after a warm-up). Wall time is what two threads give a step; CPU time "
                "adds up both threads' work. The machine was shared with other jobs during the run, so read ratios, "
                "not seconds."
            ),
            "",
            format_paper(results["paper"]),
            "",
        ]
    )


def write_paper_subsection(markdown_file: Path, results: dict, command: str) -> None:
    """Replaces (or appends) the paper-preset subsection inside '## RViT', leaving the rest of the file as it was."""
    text = markdown_file.read_text(encoding="utf-8")
    subsection = paper_subsection(results, command).rstrip("\n") + "\n"
    lines = text.splitlines(keepends=True)
    section = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION_TITLE), None)
    if section is None:
        raise SystemExit(f"{markdown_file} has no {SECTION_TITLE!r} section")
    section_end = next((i for i in range(section + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    start = next(
        (i for i in range(section, section_end) if lines[i].rstrip() == PAPER_SUBSECTION_TITLE), None
    )
    if start is None:
        start = end = section_end
        subsection = subsection + "\n"
    else:
        end = next(
            (i for i in range(start + 1, section_end) if lines[i].startswith(("## ", "### "))), section_end
        )
        subsection = subsection + ("\n" if end < len(lines) else "")
    markdown_file.write_text("".join(lines[:start]) + subsection + "".join(lines[end:]), encoding="utf-8")


def eager_cell(eager: dict | None, unfused: dict) -> str:
    return f"{eager[_seconds()]:.3f}, {unfused[_seconds()] / eager[_seconds()]:.2f}x" if eager else "-"


def reading_of_unfused(rows: dict, roofs: dict) -> list[str]:
    """Sentences that read the comparison against its targets (≥ 1.4x fp32 training, ≥ 2x with bf16)."""
    sentences = []
    ours, theirs = rows.get(("training", "fp32", "rvit")), rows.get(("training", "fp32", "unfused"))
    if ours and theirs and "fp32" in roofs and _gflops(ours):
        ceiling = roofs["fp32"] / _gflops(theirs)
        speed_up = theirs[_seconds()] / ours[_seconds()]
        theirs_share = _gflops(theirs) / roofs["fp32"]
        ours_share = _gflops(ours) / roofs["fp32"]
        sentences.append(
            f"- fp32 training: RViT {speed_up:.2f}x the unfused equations (target 1.4x). The unfused step "
            f"already runs at {theirs_share:.0%} of the fp32 matmul roof and RViT at {ours_share:.0%}: the "
            f"work is the same GEMMs, so even a step running at the roof would be at most {ceiling:.2f}x the "
            "unfused one."
        )
    bf16 = rows.get(("training", "bf16", "rvit"))
    if bf16 and theirs:
        bf16_theirs = rows.get(("training", "bf16", "unfused"))
        versus_fp32, versus_bf16 = (
            theirs[_seconds()] / bf16[_seconds()],
            bf16_theirs[_seconds()] / bf16[_seconds()],
        )
        sentences.append(
            f"- bf16 autocast training: RViT {versus_fp32:.2f}x the unfused fp32 step (target 2x), "
            f"{versus_bf16:.2f}x the unfused bf16 step"
            + (
                f"; RViT reaches {_gflops(bf16) / roofs['bf16']:.0%} of the bf16 roof"
                if "bf16" in roofs
                else ""
            )
            + "."
        )
    return sentences


def format_chunks(rows: list) -> str:
    """One line per `frames_per_chunk`: training-step CPU seconds and speed-up over the unfused fp32 step."""
    by_model: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_model.setdefault(row["model"], {})[row["precision"]] = row
    base = by_model.get("unfused", {}).get("fp32")
    precisions = sorted({row["precision"] for row in rows}, key=("fp32", "bf16").index)
    header = ["model"]
    for precision in precisions:
        header += [f"{precision} s/step ({_label()})", f"{precision}: vs unfused fp32"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, cells_by_precision in by_model.items():
        cells = [model]
        for precision in precisions:
            row = cells_by_precision.get(precision)
            cells += [f"{row[_seconds()]:.3f}", f"{base[_seconds()] / row[_seconds()]:.2f}x" if base else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_compiled(result: dict) -> str:
    """One line per model, precision and eager/compiled: CPU seconds, compile time, ratio to eager unfused fp32."""
    rows = result["rows"]
    base = next(
        (
            row
            for row in rows
            if (row["model"], row["precision"], row["compiled"]) == ("unfused", "fp32", False)
        ),
        None,
    )
    lines = [
        (
            f"| model | precision | torch.compile | s/step ({_label()}) | vs eager unfused fp32 | vs the same model eager "
            "| compile s (wall) | compiled logits vs eager (relative) |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        eager = next(
            other
            for other in rows
            if (other["model"], other["precision"], other["compiled"])
            == (row["model"], row["precision"], False)
        )
        compiled = row["compiled"]
        cells = [
            row["model"],
            row["precision"],
            result["backend"] if compiled else "-",
            f"{row[_seconds()]:.3f}",
            f"{base[_seconds()] / row[_seconds()]:.2f}x" if base else "-",
            f"{eager[_seconds()] / row[_seconds()]:.2f}x",
            f"{row['compile_s']:.0f}" if compiled else "-",
            f"{row['logits_relative_difference']:.1e}" if compiled else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *reading_of_compiled(rows)])


def reading_of_compiled(rows: list) -> list[str]:
    """Per precision: compiled RViT and compiled unfused against the eager unfused fp32 step (the targets')."""
    by_key = {(row["model"], row["precision"], row["compiled"]): row for row in rows}
    base = by_key.get(("unfused", "fp32", False))
    sentences = []
    for precision, target in (("fp32", "1.4x"), ("bf16", "2x")):
        ours, theirs = by_key.get(("rvit", precision, True)), by_key.get(("unfused", precision, True))
        if base and ours and theirs:
            sentences.append(
                f"- {precision} training under torch.compile: RViT {base[_seconds()] / ours[_seconds()]:.2f}x the eager "
                f"unfused fp32 step (target {target}); the compiled unfused equations reach "
                f"{base[_seconds()] / theirs[_seconds()]:.2f}x, so compiled RViT is {theirs[_seconds()] / ours[_seconds()]:.2f}x "
                "the compiled unfused step: inductor fuses the elementwise work of both, and what remains is the "
                "same GEMMs and per-frame attention."
            )
    return sentences


def format_profile(result: dict, num_frames: int) -> str:
    lines = [
        (
            "torch.profiler's per-operator times are wall clock: on a loaded machine compare shares within a "
            "column rather than milliseconds across columns."
        ),
        "",
    ]
    for precision, per_model in result.items():
        lines.append(f"Training step, {num_frames} frames, batch 2, {precision}: top operators by self time")
        lines.append("")
        lines.append("| rank | RViT: ms (calls) | unfused: ms (calls) |")
        lines.append("|---|---|---|")
        ours, theirs = per_model["rvit"]["top"], per_model["unfused"]["top"]
        for rank in range(max(len(ours), len(theirs))):
            cells = [
                f"`{ops[rank]['name']}` {ops[rank].get('self_ms', ops[rank].get('self_cpu_ms')):.0f} ms "
                f"({ops[rank]['calls']})"
                if rank < len(ops)
                else ""
                for ops in (ours, theirs)
            ]
            lines.append(f"| {rank + 1} | {cells[0]} | {cells[1]} |")
        lines.append(
            f"| total | {per_model['rvit']['total_ms']:.0f} ms | {per_model['unfused']['total_ms']:.0f} ms |"
        )
        lines.append("")
    return "\n".join(lines).rstrip()


def format_scaling(rows: list) -> str:
    by_key = {(row["model"], row["num_frames"], row["mode"]): row for row in rows}
    lines = [
        (
            f"| model | layers | parameters | frames | forward clips/s ({_label()}) | fwd+bwd clips/s ({_label()}) "
            "| forward peak extra MiB | fwd+bwd peak extra MiB |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, num_frames in sorted(
        {(m, f) for m, f, _ in by_key}, key=lambda key: (not key[0].startswith("rvit"), key)
    ):
        inference, training = (
            by_key.get((model, num_frames, "inference")),
            by_key.get((model, num_frames, "training")),
        )
        some = inference or training

        def cell(row, field, fmt):
            return format(row[field], fmt) if row else "-"

        lines.append(
            f"| {model} | {some['layers']} | {some['parameters'] / 1e6:.2f} M | {num_frames} | "
            f"{cell(inference, _rate('clips'), '.2f')} | {cell(training, _rate('clips'), '.2f')} | "
            f"{cell(inference, 'peak_extra_mib', '.0f')} | {cell(training, 'peak_extra_mib', '.0f')} |"
        )
    return "\n".join(lines)


def format_stateful(rows: list) -> str:
    by_key = {(row["mode"], row["num_frames"]): row for row in rows}
    lines = [
        (
            "| frames | one frame per call: peak extra MiB | whole clip in one call: peak extra MiB "
            f"| one frame per call: frames/s ({_label()}) |"
        ),
        "|---|---|---|---|",
    ]
    for num_frames in sorted({length for _, length in by_key}):
        stateful, whole = by_key.get(("stateful", num_frames)), by_key.get(("whole_clip", num_frames))
        lines.append(
            f"| {num_frames} | {stateful['peak_extra_mib']:.0f} | {whole['peak_extra_mib']:.0f} | "
            f"{stateful[_rate('frames')]:.1f} |"
            if stateful and whole
            else f"| {num_frames} | - | - | - |"
        )
    return "\n".join(lines)


def section_title(results: dict) -> str:
    return SECTION_TITLE if results.get("device", "cpu") == "cpu" else GPU_SECTION_TITLE


def markdown_section(results: dict, command: str) -> str:
    use_clock(results.get("device", "cpu"))
    if _CLOCK == "cpu":
        how = (
            "Times are CPU seconds of a single-threaded process (steady on this shared machine; wall-time ratios "
            "beside them); memory is how far the peak resident size (VmHWM, reset just before) rose above the "
            "resident size during the measured calls"
        )
    else:
        how = (
            f"On {results['device']}: times are wall seconds with the GPU synchronized after each step; memory is "
            "how far the GPU memory held by tensors (`torch.cuda.max_memory_allocated`, reset just before) rose "
            "during the measured calls"
        )
    parts = [
        section_title(results),
        "",
        f"Command: `{command}`  ",
        f"Machine: {results['machine']}.  ",
        f"Run: {results['started']} to {results['finished']}"
        + (f"; {results['earlier_run']}" if "earlier_run" in results else "")
        + ". Batch 2, 112×112 frames, the AHU paper's RViT "
        f"(patch 8, hidden 192, 2 layers, 8 heads, MLP 768, 13 labels). {how}, one child process per model "
        "(`benchmarks/rvit_benchmarks.py` says how).",
        "",
    ]
    if "unfused" in results:
        parts += [
            f"### RViT against the unfused reference equations ({results['unfused']['num_frames']} frames)",
            "",
            format_unfused(results["unfused"]),
            "",
        ]
    if "paper" in results:
        parts += [paper_subsection(results, command)]
    if "chunks" in results:
        parts += [
            "### Frames per chunk",
            "",
            (
                "Within a chunk of frames, each layer runs what does not depend on the recurrent state (LayerNorms, "
                "the frame half of the query/key/value projection, the MLP) as one matmul over the chunk's frames, "
                "and only the state's projection and the attention frame by frame. `frames_per_chunk=None`, the "
                "default, takes 8 on the CPU and the whole clip on other devices. Training step (forward, backward, "
                "AdamW), 36 frames, batch 2. The price is memory in a whole-clip inference call, which holds one "
                "chunk's activations at a time (the forward column of the clip-length table below); one frame per "
                "call (the last table) stays flat."
            ),
            "",
            format_chunks(results["chunks"]),
            "",
        ]
    if "compile" in results:
        parts += [
            f"### torch.compile ({results['compile']['num_frames']} frames)",
            "",
            (
                "The training step (forward, backward, AdamW) of each model eager and as `torch.compile(model)` "
                "(inductor, default mode), interleaved in one process. Compiling unrolls the frame loop, so it "
                "takes minutes at 36 frames and happens again for every new clip length or batch size; it pays "
                "off over a training run, not for a single clip."
            ),
            "",
            format_compiled(results["compile"]),
            "",
        ]
    if "profile" in results:
        parts += [
            "### Where a training step's time goes",
            "",
            format_profile(results["profile"], results["profile_frames"]),
            "",
        ]
    if "scaling" in results:
        parts += [
            "### Clip length: RViT against VideoMAE, TimeSformer and ViViT",
            "",
            (
                "`rvit`: the paper's model (patch 8, 196 tokens a frame); `rvit_p16`: the same with patch 16 "
                "(49 tokens a frame). Baselines: transformers' classes, width 192, 8 heads, MLP 768, patch 16 "
                "(VideoMAE and ViViT with tubelets of 2 frames), depth chosen so that the parameter count at 36 "
                "frames is closest to RViT's; their default attention implementation. Patch 16 for the "
                "baselines because joint space-time attention over patch-8 tokens (6,272 at 64 frames) takes "
                "minutes a step on this machine. One timed call per length and mode, after an unmeasured "
                "warm-up at the smallest length; two runs on this shared machine differed by up to about 30% in "
                "clips/s, so read ratios of 1.3x or less as ties."
            ),
            "",
            format_scaling(results["scaling"]),
            "",
        ]
    if "stateful" in results:
        parts += [
            "### Frame-by-frame inference memory (batch 1)",
            "",
            (
                "One frame per call: `model(frame, past_state=state, return_state=True)` with each frame made "
                "just before its call; whole clip: `model(clip)` on a clip made beforehand (not counted). Both "
                "under `torch.no_grad()`, the paper's RViT."
            ),
            "",
            format_stateful(results["stateful"]),
            "",
        ]
    return "\n".join(parts).rstrip() + "\n"


def only_paper(results: dict) -> bool:
    """Whether `results` hold the paper-preset part and no other (its table then goes in on its own)."""
    return "paper" in results and not any(part in results for part in PARTS if part != "paper")


def main(argv=None) -> None:
    args = parse_args(argv)
    command = "python -m benchmarks.bench_rvit " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.render_only:
        if not args.previous_json:
            raise SystemExit("--render-only needs --previous-json")
        results = json.loads(args.previous_json.read_text())
        if only_paper(results):
            write_paper_subsection(args.markdown_file, results, results["command"])
            print(f"wrote {PAPER_SUBSECTION_TITLE!r} in {args.markdown_file} from {args.previous_json}")
            return
        title = section_title(results)
        write_section(args.markdown_file, title, markdown_section(results, results["command"]))
        print(f"wrote {title!r} in {args.markdown_file} from {args.previous_json}")
        return
    previous = json.loads(args.previous_json.read_text()) if args.previous_json else None
    if previous is not None and previous.get("device", "cpu") != args.device:
        raise SystemExit(
            f"--previous-json {args.previous_json} was measured on {previous.get('device', 'cpu')}, this run "
            f"would be on {args.device}: their tables cannot be mixed"
        )
    results = run_parts(args)
    results["command"] = command.strip()
    if previous is not None:
        kept = [
            key
            for key in (
                "unfused",
                "paper",
                "chunks",
                "compile",
                "profile",
                "profile_frames",
                "scaling",
                "stateful",
            )
            if key not in results
        ]
        kept = [key for key in kept if key in previous]
        results.update({key: previous[key] for key in kept})
        if kept:
            results["earlier_run"] = (
                f"{', '.join(kept)} from the run of {previous['started']} "
                f"(`{previous.get('command', '?')}`; {previous['machine']})"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.write_md and only_paper(results):
        write_paper_subsection(args.markdown_file, results, results["command"])
        print(f"wrote {PAPER_SUBSECTION_TITLE!r} in {args.markdown_file}")
    elif args.write_md:
        title = section_title(results)
        write_section(args.markdown_file, title, markdown_section(results, results["command"]))
        print(f"wrote {title!r} in {args.markdown_file}")


if __name__ == "__main__":
    main()
