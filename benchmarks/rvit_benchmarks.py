"""Measurements behind `benchmarks/bench_rvit.py`: RViT's speed and memory on the CPU.

Four parts:
- `compare_with_unfused`: `RViTForVideoClassification` against `benchmarks.rvit_unfused.UnfusedRViT` (the
  reference equations written out directly) on the same weights, after checking both give the same logits;
  training-step and inference clips/s, float32 and bfloat16 autocast, runs interleaved (A B A B ...) so that
  the load of a shared machine hits both alike.
- `scaling_child`: clips/s and peak memory against clip length for RViT and transformers' VideoMAE,
  TimeSformer and ViViT sized to RViT's parameter count (one child process per model).
- `compare_frames_per_chunk`: RViT's training step against `config.frames_per_chunk`.
- `stateful_child`: peak memory of one-frame-at-a-time inference against clip length (and, for contrast, of
  the whole clip in one call).

Memory is the growth of the process's peak resident set size during the measured calls: the kernel's
high-water mark (`VmHWM` in /proc/self/status) is reset to the current resident size just before them
(`echo 5 > /proc/self/clear_refs`), read after them, and the resident size at the reset subtracted. Each model
runs in its own child process, which first runs every mode once at the smallest size, unmeasured (so that
the libraries' lazily loaded code and one-time buffers are already resident), and hands freed heap memory
back to the system (`malloc_trim`) before each measurement, so memory one measurement freed is not counted as
resident for the next. (`tracemalloc` sees none of torch's allocations, and `ru_maxrss` cannot be reset, so
it would report the import of torch whenever that is the larger.)
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINES = ("videomae", "timesformer", "vivit")
# "rvit" is the AHU paper's model (patch 8); "rvit_p16" the same with patch 16, the baselines' token grid.
RVIT_MODELS = ("rvit", "rvit_p16")
BATCH_SIZE = 2
IMAGE_SIZE = 112
# The dropout rate of the reference code (its model factories and block defaults; CONTEXT.md §8).
REFERENCE_DROPOUT = 0.1
# The AHU paper's RViT (RViTConfig defaults): hidden 192, 8 heads, MLP 768. The baselines use the same width;
# only their depth is chosen to match RViT's parameter count.
BASELINE_WIDTH = {"hidden_size": 192, "num_attention_heads": 8, "intermediate_size": 768}
# Joint space-time attention over patch-8 tokens (6,272 tokens at 64 frames) costs minutes per training
# step on a shared 2-CPU machine, so the baselines use the ViT-B/16 grid of their published models.
BASELINE_PATCH_SIZE = 16


def configure_threads(num_threads: int) -> None:
    """Pin torch's intra-op threads (on a shared, loaded machine oversubscribed OpenMP threads lose badly)."""
    torch.set_num_threads(num_threads)


def build_paper_pair(seed: int = 0, device: str = "cpu", with_dropout: bool = False):
    """
    The AHU paper's RViT as `(RViTForVideoClassification, UnfusedRViT)` holding the same weights, on `device`.
    `with_dropout`: RViT from `RViTConfig.from_preset("ahu")` (the reference's dropout) and the unfused equations
    with the reference's dropout (`reference_dropout=0.1`); otherwise both without dropout.
    """
    from modeling_rvit import RViTConfig, RViTForVideoClassification
    from modeling_rvit.convert_rvit_reference import convert_reference_state_dict

    from .rvit_unfused import UnfusedRViT

    torch.manual_seed(seed)
    config = RViTConfig.from_preset("ahu") if with_dropout else RViTConfig()
    unfused = UnfusedRViT(
        reference_dropout=REFERENCE_DROPOUT if with_dropout else 0.0,
        image_size=config.image_size,
        patch_size=config.patch_size,
        hidden_size=config.hidden_size,
        depth=config.num_hidden_layers,
        heads=config.num_attention_heads,
        mlp_dim=config.intermediate_size,
        num_labels=config.num_labels,
    )
    model = RViTForVideoClassification(config)
    model.load_state_dict(convert_reference_state_dict(unfused.state_dict(), config), strict=True)
    return model.to(device), unfused.to(device)


def random_batch(num_frames: int, batch_size: int, num_labels: int, device: str = "cpu"):
    """Seeded random clips `(batch, num_frames, 3, 112, 112)` and labels, on `device`: every part's input."""
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(batch_size, num_frames, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    labels = torch.randint(0, num_labels, (batch_size,), generator=generator)
    return pixel_values.to(device), labels.to(device)


def logits_difference(model, unfused, pixel_values: torch.Tensor) -> float:
    """max |logits(model) − logits(unfused)| / max |logits(unfused)|, both in eval mode, float32."""
    model.eval(), unfused.eval()
    with torch.no_grad():
        expected = unfused(pixel_values)
        actual = model(pixel_values).logits
    return ((actual - expected).abs().max() / expected.abs().max()).item()


def interleaved_seconds(
    steps: dict[str, Callable[[], None]], repeats: int, warmup: int = 1
) -> dict[str, dict[str, list[float]]]:
    """
    Runs every step `warmup` times, then `repeats` rounds of A, B, ...; returns per step the timed
    `{"cpu": [...], "wall": [...]}` seconds. CPU time (`time.process_time`, all of this process's threads) is
    what a single-threaded step costs; wall time also counts the waits a loaded machine imposes.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    seconds = {name: {"cpu": [], "wall": []} for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            seconds[name]["cpu"].append(time.process_time() - cpu)
            seconds[name]["wall"].append(time.perf_counter() - wall)
    return seconds


def timing_fields(seconds: dict[str, list[float]], batch_size: int) -> dict[str, float]:
    """Median seconds per call and clips/s, by CPU time and by wall time."""
    cpu, wall = statistics.median(seconds["cpu"]), statistics.median(seconds["wall"])
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "clips_per_cpu_s": batch_size / cpu,
        "clips_per_wall_s": batch_size / wall,
    }


def _autocast(precision: str, device_type: str = "cpu"):
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def synchronize(device_type: str) -> None:
    """Waits for the device's queued kernels (a no-op on the CPU), so that wall time covers them."""
    if device_type == "cuda":
        torch.cuda.synchronize()


def make_inference_step(forward: Callable, pixel_values: torch.Tensor, precision: str) -> Callable[[], None]:
    """`forward(pixel_values)` under `no_grad` (and bf16 autocast), on `pixel_values`' device, synchronized."""
    device_type = pixel_values.device.type

    def step():
        with torch.no_grad(), _autocast(precision, device_type):
            forward(pixel_values)
        synchronize(device_type)

    return step


def make_training_step(
    module: torch.nn.Module,
    forward: Callable,
    pixel_values: torch.Tensor,
    labels: torch.Tensor,
    precision: str,
) -> Callable[[], None]:
    """forward → cross-entropy → backward → AdamW step (lr 1e-4, the paper's), on `module`'s parameters; on
    `pixel_values`' device, synchronized at the end."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4, weight_decay=0.0)
    device_type = pixel_values.device.type

    def step():
        optimizer.zero_grad(set_to_none=True)
        with _autocast(precision, device_type):
            logits = forward(pixel_values)
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        optimizer.step()
        synchronize(device_type)

    return step


def rvit_forward_flops(config, num_frames: int, batch_size: int = BATCH_SIZE) -> float:
    """
    Floating-point operations (2 per multiply-add) of one RViT forward pass over (batch, num_frames) clips:
    patch embedding, per frame and layer the query/key/value projection (2C → 3C), attention (QKᵀ and AV),
    the output projection and the MLP, then the head. A training step is counted as 3 forward passes.
    """
    tokens = config.num_patches + 1
    width, mlp = config.hidden_size, config.intermediate_size
    patch_embedding = config.num_patches * config.num_channels * config.patch_size**2 * width
    per_layer = (
        tokens * (2 * width * 3 * width + width * width + 2 * width * mlp) + 2 * tokens * tokens * width
    )
    pooled = config.pooled_size
    head = pooled * config.head_mlp_ratio * pooled * 2 + pooled * config.num_labels
    return 2.0 * batch_size * (num_frames * (patch_embedding + config.num_hidden_layers * per_layer) + head)


def matmul_roof_gflops(
    precision: str = "fp32", size: int = 1536, repeats: int = 5, device: str = "cpu"
) -> float:
    """GFLOP/s of one large square matmul (median; CPU time on the CPU, synchronized wall time on a GPU, where
    `size` is raised to 8192 to fill it): the ceiling for GEMM-bound work."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    device_type = torch.device(device).type
    size = size if device_type == "cpu" else max(size, 8192)
    clock = time.process_time if device_type == "cpu" else time.perf_counter
    a, b = (torch.randn(size, size, dtype=dtype, device=device) for _ in range(2))
    a @ b
    synchronize(device_type)
    seconds = []
    for _ in range(repeats):
        start = clock()
        a @ b
        synchronize(device_type)
        seconds.append(clock() - start)
    return 2 * size**3 / statistics.median(seconds) / 1e9


def compare_with_unfused(
    num_frames: int = 36,
    batch_size: int = BATCH_SIZE,
    repeats: int = 3,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
    modes: tuple[str, ...] = ("training", "inference"),
    tolerance: float = 1e-4,
    device: str = "cpu",
) -> dict:
    """
    Our RViT (as loaded: SDPA attention; and `rvit_eager`, with eager attention) against the unfused reference
    equations on the same weights and input (batch, frames, 3, 112, 112).

    Returns `{"logits_relative_difference": float, "rows": [...]}`, each row `{mode, precision, model, cpu_s,
    wall_s, clips_per_cpu_s, clips_per_wall_s}` (medians over `repeats` interleaved rounds, after a warm-up).
    Rows also give `gflops_per_s` (see `rvit_forward_flops`; per CPU second on the CPU, per wall second on a GPU);
    `"matmul_roof_gflops"` maps each precision to `matmul_roof_gflops(precision)`, measured in the same process.
    Raises `AssertionError` if the logits differ by more than `tolerance` (relative to the largest |logit|).
    """
    clock = "cpu_s" if torch.device(device).type == "cpu" else "wall_s"
    model, unfused = build_paper_pair(device=device)
    pixel_values, labels = random_batch(num_frames, batch_size, model.config.num_labels, device)
    difference = logits_difference(model, unfused, pixel_values)
    if difference > tolerance:
        raise AssertionError(
            f"RViT and the unfused equations disagree: relative logit difference {difference:.2e}"
        )

    # The same model with transformers' eager (matmul → softmax → matmul) attention instead of SDPA.
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    forwards = {
        "rvit": lambda x: model(x).logits,
        "rvit_eager": lambda x: eager(x).logits,
        "unfused": unfused,
    }
    modules = {"rvit": model, "rvit_eager": eager, "unfused": unfused}
    rows = []
    for mode in modes:
        for precision in precisions:
            steps = {}
            for name, forward in forwards.items():
                if mode == "training":
                    modules[name].train()
                    steps[name] = make_training_step(modules[name], forward, pixel_values, labels, precision)
                else:
                    modules[name].eval()
                    steps[name] = make_inference_step(forward, pixel_values, precision)
            flops = rvit_forward_flops(model.config, num_frames, batch_size) * (
                3 if mode == "training" else 1
            )
            for name, seconds in interleaved_seconds(steps, repeats).items():
                timing = timing_fields(seconds, batch_size)
                rows.append(
                    dict(
                        mode=mode,
                        precision=precision,
                        model=name,
                        **timing,
                        gflops_per_s=flops / timing[clock] / 1e9,
                    )
                )
    roofs = {precision: matmul_roof_gflops(precision, device=device) for precision in precisions}
    return {"logits_relative_difference": difference, "rows": rows, "matmul_roof_gflops": roofs}


def compare_paper_preset(
    frames: tuple[int, ...] = (8, 16, 36, 64),
    repeats: int = 3,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
    batch_size: int = BATCH_SIZE,
    device: str = "cpu",
) -> dict:
    """
    The paper preset's training step (forward, backward, AdamW) with the reference's dropout: RViT built from
    `RViTConfig.from_preset("ahu")` against the unfused reference equations with the reference's dropout
    (`UnfusedRViT(reference_dropout=0.1)`), same weights (eval-mode logits checked to agree first), at each clip
    length of `frames`, both in train mode, runs interleaved. Returns `{"logits_relative_difference": float,
    "rows": [{num_frames, precision, model, cpu_s, wall_s, clips_per_cpu_s, clips_per_wall_s}, ...]}`.
    """
    model, unfused = build_paper_pair(device=device, with_dropout=True)
    probe, _ = random_batch(2, batch_size, model.config.num_labels, device)
    difference = logits_difference(model, unfused, probe)
    if difference > 1e-4:
        raise AssertionError(
            f"RViT and the unfused equations disagree: relative logit difference {difference:.2e}"
        )
    model.train(), unfused.train()
    forwards = {"rvit": functools.partial(_logits_of, model), "unfused": unfused}
    modules = {"rvit": model, "unfused": unfused}
    rows = []
    cases = tqdm([(num_frames, precision) for num_frames in frames for precision in precisions], desc="paper")
    for num_frames, precision in cases:
        pixel_values, labels = random_batch(num_frames, batch_size, model.config.num_labels, device)
        steps = {
            name: make_training_step(modules[name], forward, pixel_values, labels, precision)
            for name, forward in forwards.items()
        }
        timings = {
            name: timing_fields(seconds, batch_size)
            for name, seconds in interleaved_seconds(steps, repeats).items()
        }
        for name, timing in timings.items():
            rows.append(dict(num_frames=num_frames, precision=precision, model=name, **timing))
        cases.write(
            f"{num_frames} frames, {precision}: reference equations / RViT = "
            f"{timings['unfused']['wall_s'] / timings['rvit']['wall_s']:.2f}x wall, "
            f"{timings['unfused']['cpu_s'] / timings['rvit']['cpu_s']:.2f}x CPU"
        )
    return {"logits_relative_difference": difference, "rows": rows}


def compare_frames_per_chunk(
    num_frames: int = 36,
    chunk_sizes: tuple[int, ...] = (1, 4, 8, 18, 36),
    repeats: int = 3,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
    batch_size: int = BATCH_SIZE,
    device: str = "cpu",
) -> list[dict]:
    """
    Training steps of RViT with `config.frames_per_chunk` set to each of `chunk_sizes` (1: frame by frame; the
    clip length: every layer over the whole clip at once), and of the unfused equations, interleaved, on
    (batch, frames, 3, 112, 112). Rows `{precision, model, frames_per_chunk, cpu_s, wall_s, ...}`; the unfused
    row has `frames_per_chunk` None.
    """
    model, unfused = build_paper_pair(device=device)
    pixel_values, labels = random_batch(num_frames, batch_size, model.config.num_labels, device)
    modules = {"unfused": (unfused, unfused, None)}
    for chunk in chunk_sizes:
        chunked = copy.deepcopy(model)
        chunked.config.frames_per_chunk = chunk
        modules[f"rvit, {chunk} frames per chunk"] = (chunked, functools.partial(_logits_of, chunked), chunk)
    rows = []
    for precision in precisions:
        steps = {}
        for name, (module, forward, _) in modules.items():
            module.train()
            steps[name] = make_training_step(module, forward, pixel_values, labels, precision)
        for name, seconds in interleaved_seconds(steps, repeats).items():
            rows.append(
                dict(
                    precision=precision,
                    model=name,
                    frames_per_chunk=modules[name][2],
                    **timing_fields(seconds, batch_size),
                )
            )
    return rows


def _logits_of(model, pixel_values: torch.Tensor) -> torch.Tensor:
    return model(pixel_values).logits


def compare_compiled(
    num_frames: int = 36,
    batch_size: int = BATCH_SIZE,
    repeats: int = 3,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
    backend: str = "inductor",
    fresh_cache: bool = True,
    device: str = "cpu",
    mode: str | None = None,
) -> dict:
    """
    Training steps of RViT and of the unfused equations, each eager and under `torch.compile(model,
    backend=backend)`, interleaved in one process (the eager unfused fp32 step is the baseline of every ratio).

    Before timing, each compiled model's training-mode logits (dropout is 0: deterministic) are compared with its
    eager twin's on the same weights. Returns `{"rows": [...], "backend": backend}`, rows `{precision, model,
    compiled, compile_s, logits_relative_difference, cpu_s, wall_s, ...}`; `compile_s` is the wall time of the
    first compiled forward (the logits check) and training step, less the median compiled step: tracing and code
    generation, from an empty inductor cache when `fresh_cache` (a temporary `TORCHINDUCTOR_CACHE_DIR`; a warm
    cache from an earlier run of the same shapes would make it seconds).
    """
    with _empty_inductor_cache() if fresh_cache else contextlib.nullcontext():
        return _compare_compiled(num_frames, batch_size, repeats, precisions, backend, device, mode)


@contextlib.contextmanager
def _empty_inductor_cache():
    """A new, empty `TORCHINDUCTOR_CACHE_DIR` for the duration (inductor reads the variable when it compiles)."""
    previous = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="rvit_bench_inductor_") as cache_dir:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = previous


def _compare_compiled(num_frames, batch_size, repeats, precisions, backend, device, mode) -> dict:
    model, unfused = build_paper_pair(device=device)
    pixel_values, labels = random_batch(num_frames, batch_size, model.config.num_labels, device)
    rows = []
    for precision in precisions:
        steps, extra = {}, {}
        for name, module, logits_of in (
            ("rvit", model, _logits_of),
            ("unfused", unfused, lambda module, x: module(x)),
        ):
            eager = copy.deepcopy(module).train()
            compiled_module = copy.deepcopy(module).train()
            compiled = torch.compile(compiled_module, backend=backend, mode=mode)
            with _autocast(precision, pixel_values.device.type):
                reference = logits_of(eager, pixel_values).float()
            start = time.perf_counter()
            with _autocast(precision, pixel_values.device.type):
                difference = (logits_of(compiled, pixel_values).float() - reference).abs().max()
            eager_step = make_training_step(
                eager, functools.partial(logits_of, eager), pixel_values, labels, precision
            )
            compiled_step = make_training_step(
                compiled_module, functools.partial(logits_of, compiled), pixel_values, labels, precision
            )
            compiled_step()
            first_step_s = time.perf_counter() - start
            steps[name], steps[f"{name}, compiled"] = eager_step, compiled_step
            extra[name] = {"model": name, "compiled": False}
            extra[f"{name}, compiled"] = {
                "model": name,
                "compiled": True,
                "first_step_wall_s": first_step_s,
                "logits_relative_difference": (difference / reference.abs().max()).item(),
            }
        for name, seconds in interleaved_seconds(steps, repeats).items():
            row = dict(precision=precision, **extra[name], **timing_fields(seconds, batch_size))
            if row["compiled"]:
                row["compile_s"] = max(0.0, row.pop("first_step_wall_s") - row["wall_s"])
            rows.append(row)
    return {"rows": rows, "backend": backend, "mode": mode, "num_frames": num_frames}


def profile_training_step(
    num_frames: int = 36,
    precision: str = "fp32",
    top: int = 8,
    batch_size: int = BATCH_SIZE,
    device: str = "cpu",
) -> dict[str, list[dict]]:
    """
    `torch.profiler` of one training step of each model of `build_paper_pair` (after a warm-up step): the
    `top` operators by self time, as `{model: {"top": [{name, self_ms, calls}, ...], "total_ms", "clock"}}`.
    The time is the host's (`clock` "cpu") on the CPU and the GPU's (`clock` "device") on a GPU.
    """
    from torch.profiler import ProfilerActivity, profile

    on_gpu = torch.device(device).type == "cuda"
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if on_gpu else [ProfilerActivity.CPU]
    model, unfused = build_paper_pair(device=device)
    pixel_values, labels = random_batch(num_frames, batch_size, model.config.num_labels, device)
    result = {}
    for name, module, forward in (("rvit", model, lambda x: model(x).logits), ("unfused", unfused, unfused)):
        module.train()
        step = make_training_step(module, forward, pixel_values, labels, precision)
        step()
        with profile(activities=activities) as profiler:
            step()

        def self_us(event):
            return event.self_device_time_total if on_gpu else event.self_cpu_time_total

        events = sorted(profiler.key_averages(), key=self_us, reverse=True)
        result[name] = {
            "clock": "device" if on_gpu else "cpu",
            "total_ms": sum(self_us(event) for event in events) / 1000,
            "top": [
                {"name": event.key, "self_ms": self_us(event) / 1000, "calls": event.count}
                for event in events[:top]
            ],
        }
    return result


def count_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def build_video_model(
    name: str,
    num_frames: int,
    num_hidden_layers: int | None = None,
    device=None,
    patch_size: int | None = None,
):
    """
    A video classifier for 112 px clips of `num_frames`, 13 labels: `"rvit"` (the paper's config, patch 8),
    `"rvit_p16"` (the same with patch 16), or a baseline (width 192, patch `BASELINE_PATCH_SIZE`, depth
    matched to RViT's parameter count unless `num_hidden_layers` is given).
    """
    import transformers

    from modeling_rvit import RViTConfig, RViTForVideoClassification

    if name in RVIT_MODELS:
        config = RViTConfig(num_frames=num_frames, patch_size=16 if name == "rvit_p16" else 8)
        with torch.device(device or "cpu"):
            return RViTForVideoClassification(config)
    patch_size = patch_size or BASELINE_PATCH_SIZE
    layers = num_hidden_layers if num_hidden_layers is not None else matched_depth(name)
    common = dict(
        image_size=IMAGE_SIZE,
        num_frames=num_frames,
        num_hidden_layers=layers,
        num_labels=13,
        **BASELINE_WIDTH,
    )
    if name == "videomae":
        config = transformers.VideoMAEConfig(patch_size=patch_size, tubelet_size=2, **common)
        model_class = transformers.VideoMAEForVideoClassification
    elif name == "timesformer":
        config = transformers.TimesformerConfig(patch_size=patch_size, **common)
        model_class = transformers.TimesformerForVideoClassification
    elif name == "vivit":
        config = transformers.VivitConfig(tubelet_size=[2, patch_size, patch_size], **common)
        model_class = transformers.VivitForVideoClassification
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {RVIT_MODELS + BASELINES}")
    with torch.device(device or "cpu"):
        return model_class(config)


@functools.lru_cache
def matched_depth(name: str, num_frames: int = 36) -> int:
    """The baseline depth whose parameter count (at `num_frames`) is closest to the paper's RViT."""
    target = count_parameters(build_video_model("rvit", num_frames, device="meta"))
    one, two = (
        count_parameters(build_video_model(name, num_frames, num_hidden_layers=layers, device="meta"))
        for layers in (1, 2)
    )
    # Parameters grow by the same amount per layer: count(L) = count(1) + (L - 1) * per_layer.
    per_layer = two - one
    best = 1 + round((target - one) / per_layer)
    return max(1, best)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class PeakMemory:
    """
    `with PeakMemory() as peak: ...`; `peak.extra_mib`: how far the resident size rose above the start. With
    `device="cuda"`: how far the GPU memory held by tensors (`torch.cuda.max_memory_allocated`) rose instead.
    """

    def __init__(self, device: str = "cpu"):
        self.on_gpu = torch.device(device).type == "cuda"

    def __enter__(self) -> PeakMemory:
        _release_memory()
        if self.on_gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start_bytes = torch.cuda.memory_allocated()
            return self
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current VmRSS (Linux ≥ 4.0)
        self.start_kib = _status_kib("VmRSS")
        return self

    def __exit__(self, *exc_info) -> None:
        if self.on_gpu:
            torch.cuda.synchronize()
            self.extra_mib = max(0, torch.cuda.max_memory_allocated() - self.start_bytes) / 2**20
            return
        self.extra_mib = max(0, _status_kib("VmHWM") - self.start_kib) / 1024


def _release_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def scaling_child(
    model_name: str,
    frames: list[int],
    repeats: int,
    modes: tuple[str, ...] = ("inference", "training"),
    batch_size: int = BATCH_SIZE,
    device: str = "cpu",
) -> list:
    """In a fresh process: per clip length and mode, clips/s and the peak extra memory of the calls."""
    for mode in modes:  # unmeasured: loads the libraries' code and one-time buffers
        measure_clip_length(model_name, mode, min(frames), 1, batch_size, device)
    return [
        measure_clip_length(model_name, mode, num_frames, repeats, batch_size, device)
        for num_frames in sorted(frames)
        for mode in modes
    ]


def measure_clip_length(
    model_name: str, mode: str, num_frames: int, repeats: int, batch_size: int, device: str = "cpu"
) -> dict:
    """`repeats` timed calls of one mode ("inference" or "training") on (batch, num_frames, 3, 112, 112)."""
    pixel_values, labels = random_batch(num_frames, batch_size, 13, device)
    model = build_video_model(model_name, num_frames, device=device)
    forward = lambda x: model(pixel_values=x).logits  # noqa: E731
    if mode == "training":
        model.train()
        step = make_training_step(model, forward, pixel_values, labels, "fp32")
    else:
        model.eval()
        step = make_inference_step(forward, pixel_values, "fp32")
    with PeakMemory(device) as peak:
        seconds = interleaved_seconds({model_name: step}, repeats, warmup=0)[model_name]
    return dict(
        model=model_name,
        mode=mode,
        num_frames=num_frames,
        parameters=count_parameters(model),
        layers=model.config.num_hidden_layers,
        attn_implementation=model.config._attn_implementation,
        **timing_fields(seconds, batch_size),
        peak_extra_mib=peak.extra_mib,
    )


def stateful_child(
    lengths: list[int],
    modes: tuple[str, ...] = ("stateful", "whole_clip"),
    batch_size: int = 1,
    device: str = "cpu",
) -> list:
    """
    Peak extra memory of RViT inference against clip length, in a fresh process.
    `"stateful"`: one frame per call carrying `past_state` (frames made on the fly, the clip never held);
    `"whole_clip"`: the whole clip (made beforehand, not counted) in one call.
    """
    model = build_video_model("rvit", 36, device=device).eval()
    device_type = torch.device(device).type
    with torch.no_grad():  # unmeasured: loads the libraries' code and one-time buffers
        model(torch.zeros(batch_size, 2, 3, IMAGE_SIZE, IMAGE_SIZE, device=device))
    rows = []
    for length in sorted(lengths):
        for mode in modes:
            generator = torch.Generator().manual_seed(0)
            clip = None
            if mode == "whole_clip":
                clip = torch.randn(batch_size, length, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator).to(
                    device
                )
            with PeakMemory(device) as peak, torch.no_grad():
                start, wall = time.process_time(), time.perf_counter()
                if mode == "stateful":
                    state = model.init_state(batch_size, device=device)
                    for _ in range(length):
                        frame = torch.randn(batch_size, 1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
                        state = model(frame.to(device), past_state=state, return_state=True).state
                    outputs = state
                else:
                    outputs = model(clip)
                synchronize(device_type)
                seconds, wall = time.process_time() - start, time.perf_counter() - wall
            rows.append(
                {
                    "mode": mode,
                    "num_frames": length,
                    "batch_size": batch_size,
                    "frames_per_cpu_s": batch_size * length / seconds,
                    "frames_per_wall_s": batch_size * length / wall,
                    "peak_extra_mib": peak.extra_mib,
                }
            )
            del clip, outputs
    return rows


def run_child(kind: str, num_threads: int, **arguments) -> list:
    """Runs `scaling_child` or `stateful_child` in a fresh Python; returns its rows."""
    env = dict(os.environ, OMP_NUM_THREADS=str(num_threads))
    spec = json.dumps({"kind": kind, "num_threads": num_threads, "arguments": arguments})
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.rvit_benchmarks", spec],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark child {spec} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _child_main(spec: str) -> None:
    spec = json.loads(spec)
    configure_threads(spec["num_threads"])
    children = {"scaling": scaling_child, "stateful": stateful_child}
    print(json.dumps(children[spec["kind"]](**spec["arguments"])))


if __name__ == "__main__":
    _child_main(sys.argv[1])
