"""The RViT benchmark's baseline and measuring tools (the benchmark runs as `python -m benchmarks.bench_rvit`)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import SHARED_DIR

from benchmarks import bench_rvit
from benchmarks import rvit_benchmarks as bench
from benchmarks.rvit_unfused import unfused_from_reference_case

REFERENCE_DIR = SHARED_DIR / "reference" / "rvit"


@pytest.fixture(autouse=True)
def cpu_clock(monkeypatch):
    # `bench_rvit.main` sets the tables' clock from the results' device: each test starts on the CPU clock.
    monkeypatch.setattr(bench_rvit, "_CLOCK", "cpu")


@pytest.mark.parametrize("case", ["ahu_softmax", "jester_linear"])
def test_unfused_equations_reproduce_the_reference_logits(case):
    model, io = unfused_from_reference_case(REFERENCE_DIR, case)
    with torch.no_grad():
        pooled = model.pooled_features(io["pixel_values"])
        logits = model.fc(pooled)
    scale = io["logits"].abs().max()
    assert (pooled - io["pooled_features"]).abs().max() <= 1e-4 * io["pooled_features"].abs().max()
    assert (logits - io["logits"]).abs().max() <= 1e-4 * scale


def test_rvit_and_unfused_pair_share_weights():
    model, unfused = bench.build_paper_pair(seed=1)
    pixel_values = torch.randn(1, 3, 3, 112, 112, generator=torch.Generator().manual_seed(1))
    assert bench.logits_difference(model, unfused, pixel_values) < 1e-4
    with torch.no_grad():
        unfused.fc.class_.bias.add_(1.0)
    assert bench.logits_difference(model, unfused, pixel_values) > 1e-2


@pytest.mark.slow  # VideoMAE builds its sinusoid table in Python
@pytest.mark.parametrize("baseline", bench.BASELINES)
def test_baseline_depth_matches_rvit_parameter_count(baseline):
    target = bench.count_parameters(bench.build_video_model("rvit", 36, device="meta"))
    depth = bench.matched_depth(baseline)
    matched = bench.count_parameters(
        bench.build_video_model(baseline, 36, num_hidden_layers=depth, device="meta")
    )
    one_more = bench.count_parameters(
        bench.build_video_model(baseline, 36, num_hidden_layers=depth + 1, device="meta")
    )
    assert abs(matched - target) <= abs(one_more - target)
    assert abs(matched - target) / target < 0.15


def test_peak_memory_sees_a_temporary_allocation_of_64_mib():
    with bench.PeakMemory() as peak:
        block = torch.ones(16 * 2**20, dtype=torch.float32)  # 64 MiB, touched
        del block
    assert 56 <= peak.extra_mib <= 128
    with bench.PeakMemory() as idle:
        pass
    assert idle.extra_mib < 16


def test_write_section_replaces_only_the_rvit_section(tmp_path):
    from benchmarks.report import write_section

    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text(
        "# Benchmarks\n\n## Preprocessing\n\nkeep me\n\n## RViT\n\nold numbers\n\n## Other\n\nkeep too\n"
    )
    write_section(markdown, "## RViT", "## RViT\n\nnew numbers\n")
    text = markdown.read_text()
    assert "old numbers" not in text and "new numbers" in text
    assert text.index("keep me") < text.index("new numbers") < text.index("## Other") < text.index("keep too")
    write_section(tmp_path / "NEW.md", "## RViT", "## RViT\n\nfirst\n")
    assert (tmp_path / "NEW.md").read_text() == "# Benchmarks\n\n## RViT\n\nfirst\n"


def test_gpu_results_render_wall_clock_tables_in_their_own_section(tmp_path):
    script = bench_rvit
    measured = tmp_path / "cpu.json"
    common = ["--unfused-frames", "2", "--repeats", "1", "--precisions", "fp32"]
    script.main(["--parts", "unfused", "chunks", *common, "--json", str(measured)])
    results = json.loads(measured.read_text())
    assert results["device"] == "cpu"
    # The same tables as if measured on a GPU (this machine has none): wall clock, their own section.
    (tmp_path / "gpu.json").write_text(json.dumps({**results, "device": "cuda"}))
    markdown = tmp_path / "BENCHMARKS.md"
    for name in ("cpu.json", "gpu.json"):
        script.main(
            ["--render-only", "--previous-json", str(tmp_path / name), "--markdown-file", str(markdown)]
        )
    text = markdown.read_text()
    cpu_part, gpu_part = text.split("## RViT on a GPU")
    assert "## RViT\n" in cpu_part and "RViT s/call (CPU)" in cpu_part and "speed-up, CPU time" in cpu_part
    assert "RViT s/call (GPU, wall)" in gpu_part and "fp32 s/step (GPU, wall)" in gpu_part
    assert "(CPU)" not in gpu_part and "speed-up, CPU time" not in gpu_part
    header = next(line for line in gpu_part.splitlines() if line.startswith("| mode |"))
    row = next(line for line in gpu_part.splitlines() if line.startswith("| training | fp32 |"))
    assert header.count("|") == row.count("|")
    with pytest.raises(SystemExit, match="measured on cuda"):
        script.main(["--parts", "chunks", *common, "--previous-json", str(tmp_path / "gpu.json")])


def test_compiled_comparison_checks_logits_and_times_eager_and_compiled_steps():
    # backend="eager": Dynamo's trace without code generation, so the test takes seconds, not minutes.
    result = bench.compare_compiled(num_frames=2, repeats=1, precisions=("fp32",), backend="eager")
    rows = result["rows"]
    assert [(row["model"], row["compiled"]) for row in rows] == [
        ("rvit", False),
        ("rvit", True),
        ("unfused", False),
        ("unfused", True),
    ]
    compiled = [row for row in rows if row["compiled"]]
    assert all(row["logits_relative_difference"] <= 1e-6 and row["compile_s"] >= 0 for row in compiled)
    assert all(row["cpu_s"] > 0 for row in rows)
    table = bench_rvit.format_compiled(result).splitlines()
    assert table[0].startswith("| model | precision | torch.compile | s/step (CPU) | vs eager unfused fp32 |")
    unfused_eager = next(line for line in table if line.startswith("| unfused | fp32 | - |"))
    assert unfused_eager.split(" | ")[4:6] == ["1.00x", "1.00x"]
    assert len([line for line in table if line.startswith("|")]) == 2 + len(rows)
    assert table[-1].startswith("- fp32 training under torch.compile: RViT ")


def test_frames_per_chunk_comparison_times_each_chunk_size_and_the_unfused_step():
    rows = bench.compare_frames_per_chunk(num_frames=2, chunk_sizes=(1, 2), repeats=1, precisions=("fp32",))
    assert [(row["model"], row["frames_per_chunk"]) for row in rows] == [
        ("unfused", None),
        ("rvit, 1 frames per chunk", 1),
        ("rvit, 2 frames per chunk", 2),
    ]
    assert all(row["cpu_s"] > 0 and row["precision"] == "fp32" for row in rows)
    table = bench_rvit.format_chunks(rows).splitlines()
    assert table[0] == "| model | fp32 s/step (CPU) | fp32: vs unfused fp32 |"
    assert table[2].startswith("| unfused | ") and table[2].endswith(" | 1.00x |")
    assert len(table) == 5


def test_device_check_passes_on_the_cpu_and_reports_a_failure(tmp_path, monkeypatch, capsys):
    from benchmarks import rvit_device_check

    report = tmp_path / "checks.json"
    assert rvit_device_check.main(["--device", "cpu", "--small", "--json", str(report)]) == 0
    checks = json.loads(report.read_text())["checks"]
    names = [check["name"] for check in checks]
    assert "stateful chunks [1, 3, 3] vs whole clip" in names and "sdpa vs eager attention" in names
    assert len(checks) == 12 and all(check["passed"] for check in checks)
    # A device that disagrees must fail the run, by name.
    broken = [{**checks[0], "error": 0.5, "passed": False}, *checks[1:]]
    monkeypatch.setattr(rvit_device_check, "run_checks", lambda *args, **kwargs: broken)
    assert rvit_device_check.main(["--device", "cpu", "--small"]) == 1
    assert "FAIL cpu logits vs cpu" in capsys.readouterr().out


def test_unfused_reference_dropout_acts_in_train_mode_only():
    from benchmarks.rvit_unfused import UnfusedRViT

    torch.manual_seed(0)
    plain = UnfusedRViT(image_size=16, patch_size=8, hidden_size=32, heads=4, mlp_dim=64, num_labels=5)
    dropped = UnfusedRViT(
        image_size=16, patch_size=8, hidden_size=32, heads=4, mlp_dim=64, num_labels=5, reference_dropout=0.1
    )
    dropped.load_state_dict(plain.state_dict())
    # Where the reference calls dropout: per layer the input, the attention output and twice the MLP; the position
    # embeddings; the pooled features and twice the head's MLP.
    rates = [module.p for module in dropped.modules() if isinstance(module, torch.nn.Dropout)]
    assert rates.count(0.1) == 2 * 4 + 1 + 3
    clip = torch.randn(2, 3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(dropped.eval()(clip), plain.eval()(clip))
        dropped.train()
        assert not torch.allclose(dropped(clip), dropped(clip))


def test_paper_table_goes_into_its_own_subsection(tmp_path):
    script = bench_rvit
    rows = [
        dict(num_frames=8, precision="fp32", model=name, cpu_s=cpu, wall_s=wall)
        for name, cpu, wall in (("rvit", 1.0, 0.5), ("unfused", 2.0, 0.8))
    ]
    results = {
        "machine": "test machine",
        "started": "then",
        "finished": "later",
        "paper": {"logits_relative_difference": 1e-7, "rows": rows},
    }
    assert script.only_paper(results)
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\n## RViT\n\n### Other table\n\nkeep me\n\n## Training\n\nkeep too\n")
    script.write_paper_subsection(markdown, results, "python -m benchmarks.bench_rvit --parts paper")
    script.write_paper_subsection(markdown, results, "python -m benchmarks.bench_rvit --parts paper")
    text = markdown.read_text()
    assert text.count(script.PAPER_SUBSECTION_TITLE) == 1
    assert "| 8 | fp32 | 0.500 | 0.800 | 1.60x | 2.00x |" in text
    assert text.index("keep me") < text.index(script.PAPER_SUBSECTION_TITLE) < text.index("## Training")
    assert text.rstrip().endswith("keep too")
