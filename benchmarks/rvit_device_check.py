#!/usr/bin/env python
"""
Checks that RViT computes the same thing on a device (a GPU) as on the CPU, where the test suite checks it
against the reference: one short run for a machine with an accelerator, before its timings are trusted.

    python -m benchmarks.rvit_device_check --device cuda --json OUT/device_check.json
    python -m benchmarks.rvit_device_check --device cpu --small        # what the test suite runs

On the same random weights (the paper's config, or a tiny one with `--small`), float32 with TF32 off:
- the device's logits and gradients against the CPU's;
- `frames_per_chunk` 1, 3, 8 and None (the device default: the whole clip on a GPU) against the default;
- stateful calls (chunks of unequal length, state carried) against the whole clip;
- a padded batch against each clip alone;
- SDPA against eager attention;
- a bf16-autocast training step against float32.
Prints one line per check and exits with status 1 if any fails.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch

from modeling_rvit import RViTConfig, RViTForVideoClassification

SMALL = {
    "image_size": 16,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "num_labels": 5,
}


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual − expected| / max |expected|, both moved to the CPU in float32."""
    actual, expected = actual.detach().float().cpu(), expected.detach().float().cpu()
    return ((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-12)).item()


def logits_and_gradients(model, pixel_values, labels, autocast: bool = False, **kwargs):
    model.zero_grad(set_to_none=True)
    with torch.autocast(pixel_values.device.type, dtype=torch.bfloat16, enabled=autocast):
        outputs = model(pixel_values, labels=labels, **kwargs)
    outputs.loss.backward()
    gradients = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return outputs.logits.detach().float(), gradients


def run_checks(device: str, small: bool = False, num_frames: int | None = None, seed: int = 0) -> list[dict]:
    """Every check as `{name, error, tolerance, passed}`; `error` is a relative error (or 1 − cosine)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    overrides = SMALL if small else {}
    num_frames = num_frames or (7 if small else 36)
    torch.manual_seed(seed)
    cpu_model = RViTForVideoClassification(RViTConfig(**overrides)).train()
    config = cpu_model.config
    generator = torch.Generator().manual_seed(seed + 1)
    clip = torch.randn(2, num_frames, 3, config.image_size, config.image_size, generator=generator)
    labels = torch.randint(0, config.num_labels, (2,), generator=generator)
    model = copy.deepcopy(cpu_model).to(device)
    clip_on, labels_on = clip.to(device), labels.to(device)
    checks = []

    def check(name: str, error: float, tolerance: float) -> None:
        checks.append({"name": name, "error": error, "tolerance": tolerance, "passed": error <= tolerance})

    expected_logits, expected_gradients = logits_and_gradients(cpu_model, clip, labels)
    logits, gradients = logits_and_gradients(model, clip_on, labels_on)
    check(f"{device} logits vs cpu", relative_error(logits, expected_logits), 1e-4)
    check(f"{device} gradients vs cpu", relative_error(gradients, expected_gradients), 1e-3)

    model.eval()
    with torch.no_grad():
        whole = model(clip_on).logits
        for chunk in (1, 3, 8, None):  # None: 8 on the CPU, the whole clip on a GPU
            chunked = copy.deepcopy(model)
            chunked.config.frames_per_chunk = chunk
            check(
                f"frames_per_chunk={chunk} vs default", relative_error(chunked(clip_on).logits, whole), 1e-5
            )

        state, sizes, start = model.init_state(2, device=device), [], 0
        while start < num_frames:  # chunks of 1, 3, 5, ... frames
            size = min(num_frames - start, 1 + 2 * len(sizes))
            sizes.append(size)
            output = model.step(clip_on[:, start : start + size], state)
            state, start = output.state, start + size
        check(f"stateful chunks {sizes} vs whole clip", relative_error(output.logits, whole), 1e-5)

        short = num_frames - max(1, num_frames // 3)
        mask = torch.ones(2, num_frames, dtype=torch.bool, device=device)
        mask[0, short:] = False
        padded = model(clip_on, frame_mask=mask).logits
        alone = model(clip_on[:1, :short]).logits
        check("padded clip vs the clip alone", relative_error(padded[:1], alone), 1e-5)
        check(
            "full clip in a padded batch vs alone",
            relative_error(padded[1:], model(clip_on[1:]).logits),
            1e-5,
        )

        eager = copy.deepcopy(model)
        eager.set_attn_implementation("eager")
        check("sdpa vs eager attention", relative_error(model(clip_on).logits, eager(clip_on).logits), 1e-4)

    model.train()
    half_logits, half_gradients = logits_and_gradients(model, clip_on, labels_on, autocast=True)
    check("bf16 autocast logits vs float32", relative_error(half_logits, logits), 5e-2)
    cosine = torch.nn.functional.cosine_similarity(half_gradients.double(), gradients.double(), dim=0).item()
    check("bf16 autocast gradients vs float32 (1 - cosine)", 1 - cosine, 1e-2)
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the device to check against the CPU (default cuda)")
    parser.add_argument(
        "--small", action="store_true", help="a tiny config and 7 frames instead of the paper's"
    )
    parser.add_argument("--frames", type=int, default=None, help="clip length (default 36, 7 with --small)")
    parser.add_argument("--json", type=Path, help="also write the checks to this file")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU here")
    checks = run_checks(args.device, small=args.small, num_frames=args.frames)
    for item in checks:
        verdict = "ok  " if item["passed"] else "FAIL"
        print(f"{verdict} {item['name']}: {item['error']:.2e} (tolerance {item['tolerance']:.0e})")
    if args.json:
        args.json.write_text(
            json.dumps({"device": args.device, "torch": torch.__version__, "checks": checks})
        )
    failed = [item["name"] for item in checks if not item["passed"]]
    print(
        f"{len(checks) - len(failed)} of {len(checks)} checks passed"
        + (f"; failed: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
