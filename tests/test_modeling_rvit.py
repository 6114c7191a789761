"""RViT port: faithful to the reference, stateful, masked, saved and loaded like any transformers model."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from conftest import SHARED_DIR
from safetensors.torch import load_file, save_file

from hf_loader import constants
from modeling_rvit import (
    AHU_LABELS,
    RViTConfig,
    RViTConfigError,
    RViTForVideoClassification,
    RViTInputError,
    RViTModel,
)
from modeling_rvit.convert_rvit_reference import (
    RViTConversionError,
    convert_reference_state_dict,
    convert_rvit_reference,
    load_reference_state_dict,
)
from modeling_rvit.modeling_rvit import RViTConvStem

REFERENCE_DIR = SHARED_DIR / "reference" / "rvit"
REFERENCE_CASES = ("ahu_softmax", "jester_linear")


def tiny_config(**overrides) -> RViTConfig:
    """16 px frames, patch 8 (4 patches + class token), width 32: fast enough to run many frames."""
    fields = {
        "image_size": 16,
        "patch_size": 8,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "num_labels": 5,
        "num_frames": 6,
        "initializer_range": 0.2,
    }
    fields.update(overrides)
    return RViTConfig(**fields)


def tiny_model(seed: int = 0, **overrides) -> RViTForVideoClassification:
    torch.manual_seed(seed)
    return RViTForVideoClassification(tiny_config(**overrides)).eval()


def random_clip(batch_size: int, num_frames: int, size: int = 16, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, num_frames, 3, size, size, generator=generator)


def assert_close_relative(actual: torch.Tensor, expected: torch.Tensor, tolerance: float) -> None:
    """|actual - expected| <= tolerance * max|expected| everywhere."""
    error = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    assert error <= tolerance * scale, f"max error {error:.3g} > {tolerance} * {scale:.3g}"


def expected_parameter_count(config: RViTConfig) -> int:
    """Parameters of the architecture in the reference README, counted from the config alone."""
    c, n, p = config.hidden_size, config.num_patches, config.patch_size
    if config.patch_embedding_type == "conv_stem":
        # log2(p) 3×3 convolutions without bias, widths doubling up to c, each with BatchNorm; a 1×1 projection.
        widths = [c >> (p.bit_length() - 2 - index) for index in range(p.bit_length() - 1)]
        inputs = [config.num_channels, *widths[:-1]]
        patch_embedding = sum(9 * i * w + 2 * w for i, w in zip(inputs, widths)) + widths[-1] * c + c
    else:
        patch_embedding = config.num_channels * p * p * c + c
    embeddings = patch_embedding + c + (n + 1) * c
    state_tokens = config.num_hidden_layers * c
    per_layer = (
        3 * 2 * c  # three LayerNorms
        + 2 * c * 3 * c
        + 3 * c  # fused [W_qkv  W_qkv_h] and the summed bias
        + c * c
        + c  # output projection
        + 2 * c * config.intermediate_size
        + config.intermediate_size
        + c  # MLP
    )
    d = config.pooled_size
    if config.head_type == "mlp":
        r = config.head_mlp_ratio
        head = d * r * d + r * d + r * d * d + d + d * config.num_labels + config.num_labels
    else:
        head = 2 * d + d * config.num_labels + config.num_labels
    return embeddings + state_tokens + config.num_hidden_layers * per_layer + head


def test_default_config_is_the_ahu_paper_model():
    config = RViTConfig()
    assert (config.image_size, config.patch_size, config.hidden_size) == (112, 8, 192)
    assert (config.num_hidden_layers, config.num_attention_heads, config.intermediate_size) == (2, 8, 768)
    assert config.num_frames == 36  # RViT-main/main.py; training reads this default
    assert config.num_labels == constants.NUM_LABELS
    assert config.attention_type == "softmax" and config.head_type == "mlp"


def test_ahu_labels_are_hf_loader_labels():
    assert constants.LABELS is AHU_LABELS  # one definition, modeling_rvit/ahu_labels.py
    config = RViTConfig()
    assert [config.id2label[index] for index in range(config.num_labels)] == list(constants.LABELS)
    assert config.label2id == constants.LABEL2ID


def test_other_label_counts_get_generic_names():
    config = RViTConfig(num_labels=27)
    assert config.num_labels == 27 and config.id2label[0] == "LABEL_0"


@pytest.mark.parametrize("preset", sorted(RViTConfig.presets))
def test_preset_parameter_count(preset):
    config = RViTConfig.from_preset(preset)
    with torch.device("meta"):
        model = RViTForVideoClassification(config)
    count = sum(parameter.numel() for parameter in model.parameters())
    assert count == expected_parameter_count(config)
    if preset == "ahu":
        # CONTEXT.md §3: the AHU paper's RViT has about 3.85 M parameters.
        assert abs(count - 3.85e6) < 0.01e6, count


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        RViTConfig.from_preset("huge")


@pytest.mark.parametrize("case", REFERENCE_CASES)
def test_reference_case_reproduced_through_converter_and_from_pretrained(case, tmp_path):
    output_dir = convert_rvit_reference(
        REFERENCE_DIR / f"{case}.weights.safetensors", REFERENCE_DIR / f"{case}.json", tmp_path / case
    )
    model = RViTForVideoClassification.from_pretrained(output_dir).eval()
    reference = load_file(REFERENCE_DIR / f"{case}.io.safetensors")
    with torch.no_grad():
        outputs = model(reference["pixel_values"])
    assert_close_relative(outputs.logits, reference["logits"], 1e-4)
    assert_close_relative(outputs.pooler_output, reference["pooled_features"], 1e-4)


def test_converter_script_writes_a_loadable_folder(tmp_path):
    import importlib.util

    from conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location(
        "convert_script", REPO_ROOT / "scripts" / "convert_rvit_reference.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    case = "jester_linear"
    exit_code = script.main(
        [
            "--weights",
            str(REFERENCE_DIR / f"{case}.weights.safetensors"),
            "--config-json",
            str(REFERENCE_DIR / f"{case}.json"),
            "--out",
            str(tmp_path / "converted"),
        ]
    )
    assert exit_code == 0
    saved = json.loads((tmp_path / "converted" / "config.json").read_text())
    assert saved["model_type"] == "rvit" and saved["attention_type"] == "linear"
    assert saved["auto_map"]["AutoModelForVideoClassification"] == "modeling_rvit.RViTForVideoClassification"
    model = RViTForVideoClassification.from_pretrained(tmp_path / "converted")
    assert model.config.num_labels == 27


def test_converter_reads_a_torch_state_dict_and_a_torchscript_archive(tmp_path):
    reference = load_file(REFERENCE_DIR / "ahu_softmax.weights.safetensors")
    pth = tmp_path / "state_dict.pth"
    torch.save({"state_dict": {f"module.{key}": value for key, value in reference.items()}}, pth)
    assert load_reference_state_dict(pth).keys() == reference.keys()

    # A TorchScript archive whose state dict has the reference names, like the released final.pth.
    class Holder(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Holder()
    for key, value in reference.items():
        *path, name = key.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        module.register_parameter(name, torch.nn.Parameter(value))
    archive = tmp_path / "final.pth"
    torch.jit.script(root).save(str(archive))
    from_archive = load_reference_state_dict(archive)
    assert from_archive.keys() == reference.keys()
    assert all(torch.equal(from_archive[key], reference[key]) for key in reference)


def test_converter_lists_unknown_and_missing_keys(tmp_path):
    reference = load_file(REFERENCE_DIR / "ahu_softmax.weights.safetensors")
    config = RViTConfig()
    with pytest.raises(RViTConversionError, match=r"encoder\.extra\.weight"):
        convert_reference_state_dict({**reference, "encoder.extra.weight": torch.zeros(1)}, config)

    incomplete = {
        key: value for key, value in reference.items() if key != "transformer.layers.1.0.mlp.net.3.bias"
    }
    weights = tmp_path / "incomplete.safetensors"
    save_file(incomplete, weights)
    with pytest.raises(RViTConversionError, match=r"rvit\.encoder\.layer\.1\.mlp\.fc2\.bias"):
        convert_rvit_reference(weights, REFERENCE_DIR / "ahu_softmax.json", tmp_path / "out")

    no_hidden = {key: value for key, value in reference.items() if not key.endswith("to_qkv_h.weight")}
    with pytest.raises(RViTConversionError, match="to_qkv_h.weight"):
        convert_reference_state_dict(no_hidden, config)


def test_converter_rejects_a_config_missing_fields(tmp_path):
    config_json = tmp_path / "reference.json"
    config_json.write_text(json.dumps({"image_size": 112, "patch_size": 8}))
    with pytest.raises(RViTConversionError, match="depth"):
        convert_rvit_reference(
            REFERENCE_DIR / "ahu_softmax.weights.safetensors", config_json, tmp_path / "out"
        )


def test_layernorm_linear_head_converts_from_reference_names():
    model = tiny_model(head_type="layernorm_linear")
    config = model.config
    reference = {
        "embedding.weight": torch.randn(32, 3, 8, 8),
        "embedding.bias": torch.randn(32),
        "_cls": torch.randn(1, 1, 32),
        "_seq": torch.randn(2, 1, 1, 32),
        "pos_embedding": torch.randn(1, 5, 32),
        "fc.0.weight": torch.randn(96),
        "fc.0.bias": torch.randn(96),
        "fc.1.weight": torch.randn(5, 96),
        "fc.1.bias": torch.randn(5),
    }
    converted = convert_reference_state_dict(reference, config)
    assert torch.equal(converted["classifier.layernorm.weight"], reference["fc.0.weight"])
    assert torch.equal(converted["classifier.out_proj.weight"], reference["fc.1.weight"])
    assert torch.equal(converted["rvit.encoder.state_tokens"], reference["_seq"].reshape(2, 32))


@pytest.mark.parametrize("attention_type", ["softmax", "linear"])
@pytest.mark.parametrize("chunk_sizes", [(1,) * 7, (3, 4), (2, 2, 3), (6, 1)])
def test_chunked_stateful_calls_match_the_whole_clip(attention_type, chunk_sizes):
    model = tiny_model(attention_type=attention_type)
    clip = random_clip(2, 7)
    with torch.no_grad():
        whole = model(clip)
        state = model.init_state(batch_size=2)
        for chunk in clip.split(list(chunk_sizes), dim=1):
            outputs = model.step(chunk, state)
            state = outputs.state
    assert_close_relative(outputs.logits, whole.logits, 1e-5)
    assert_close_relative(outputs.pooler_output, whole.pooler_output, 1e-5)
    assert state.num_frames_seen.tolist() == [7, 7]


def test_past_state_argument_continues_the_clip_on_the_base_model():
    torch.manual_seed(0)
    model = RViTModel(tiny_config()).eval()
    clip = random_clip(1, 5)
    with torch.no_grad():
        whole = model(clip)
        first = model(clip[:, :2], return_state=True)
        assert first.state is not None
        rest = model(clip[:, 2:], past_state=first.state, return_state=True)
    assert_close_relative(rest.last_hidden_state, whole.last_hidden_state, 1e-5)
    assert_close_relative(rest.pooler_output, whole.pooler_output, 1e-5)
    assert whole.state is None


@pytest.mark.parametrize("attention_type", ["softmax", "linear"])
def test_padded_batch_matches_each_clip_alone(attention_type):
    model = tiny_model(attention_type=attention_type)
    short, long = random_clip(1, 3, seed=2), random_clip(1, 6, seed=3)
    # Padding by repeating garbage frames: a masked frame must not change anything.
    padded_short = torch.cat((short, random_clip(1, 3, seed=4)), dim=1)
    batch = torch.cat((padded_short, long))
    frame_mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        batched = model(batch, frame_mask=frame_mask, return_state=True)
        alone = torch.cat((model(short).logits, model(long).logits))
    assert_close_relative(batched.logits, alone, 1e-5)
    assert batched.state.num_frames_seen.tolist() == [3, 6]


@pytest.mark.parametrize("attention_type", ["softmax", "linear"])
def test_frames_per_chunk_changes_nothing_but_the_schedule(attention_type):
    """Chunks of 1, 3 and all frames: the same logits, hidden states, attention maps and gradients, with a padding
    mask whose boundaries fall inside and between chunks (one clip fully masked after frame 2)."""
    clip = random_clip(3, 7)
    frame_mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0]])
    labels = torch.tensor([0, 3, 4])
    results = {}
    for chunk in (1, 3, 7, None):
        model = RViTForVideoClassification._from_config(
            tiny_config(attention_type=attention_type, frames_per_chunk=chunk), attn_implementation="eager"
        )
        model.load_state_dict(tiny_model(seed=5).state_dict())
        outputs = model(clip, frame_mask=frame_mask, labels=labels)
        outputs.loss.backward()
        gradients = {name: parameter.grad for name, parameter in model.named_parameters()}
        results[chunk] = (outputs, gradients)
    expected, expected_gradients = results[1]
    # Asking for hidden states and attention maps runs the call as one chunk: the same logits.
    with torch.no_grad():
        with_outputs = model(clip, frame_mask=frame_mask, output_hidden_states=True, output_attentions=True)
    assert_close_relative(with_outputs.logits, expected.logits, 1e-5)
    assert all(hidden.shape == (3, 7, 5, 32) for hidden in with_outputs.hidden_states)
    for chunk, (outputs, gradients) in results.items():
        assert_close_relative(outputs.logits, expected.logits, 1e-5)
        for name, gradient in gradients.items():
            # Relative to the largest entry: the linear kind's unnormalized scores make gradients span decades.
            difference = (gradient - expected_gradients[name]).abs().max()
            assert difference <= 1e-5 * expected_gradients[name].abs().max(), f"{chunk}: {name}"


@pytest.mark.parametrize("with_mask", [False, True])
def test_last_layer_runs_its_mlp_on_the_last_valid_frame_only(with_mask):
    """Nothing reads the last layer's frame tokens but the last valid frame's: its MLP runs on one frame per clip and
    chunk, and the logits, last hidden state and gradients are those of the full computation (which hidden states
    ask for)."""
    clip = random_clip(3, 7)
    frame_mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0]])
    frame_mask = frame_mask if with_mask else None
    labels = torch.tensor([0, 3, 4])
    model = tiny_model(seed=5, frames_per_chunk=3)
    mlp_inputs = {index: [] for index in range(2)}
    for index, layer in enumerate(model.rvit.encoder.layer):
        layer.mlp.register_forward_pre_hook(lambda module, args, index=index: mlp_inputs[index].append(args[1].shape))

    def run(**kwargs):
        model.zero_grad()
        outputs = model(clip, frame_mask=frame_mask, labels=labels, **kwargs)
        outputs.loss.backward()
        return outputs, {name: parameter.grad.clone() for name, parameter in model.named_parameters()}

    full, full_gradients = run(output_hidden_states=True)  # one chunk, every frame through every layer
    assert mlp_inputs == {0: [(3, 7, 5, 32)], 1: [(3, 7, 5, 32)]}
    mlp_inputs = {index: [] for index in range(2)}
    skipped, gradients = run()
    assert mlp_inputs == {0: [(3, 3, 5, 32), (3, 3, 5, 32), (3, 1, 5, 32)], 1: [(3, 1, 5, 32)] * 3}
    last_valid = [6, 3, 1] if with_mask else [6, 6, 6]
    expected_last = full.hidden_states[-1][torch.arange(3), torch.tensor(last_valid)]
    with torch.no_grad():
        last_hidden_state = model.rvit(clip, frame_mask=frame_mask).last_hidden_state
    assert_close_relative(last_hidden_state, expected_last, 1e-5)
    assert_close_relative(skipped.logits, full.logits, 1e-5)
    for name, gradient in gradients.items():
        difference = (gradient - full_gradients[name]).abs().max()
        assert difference <= 1e-5 * full_gradients[name].abs().max(), name


def test_any_clip_length_gives_one_prediction_per_clip():
    model = tiny_model()
    with torch.no_grad():
        logits = {num_frames: model(random_clip(2, num_frames)).logits for num_frames in (1, 2, 9)}
    assert all(value.shape == (2, 5) for value in logits.values())
    assert not torch.allclose(logits[1], logits[9])


def test_save_and_load_round_trip_keeps_every_weight(tmp_path):
    model = tiny_model(seed=3)
    clip = random_clip(2, 4)
    with torch.no_grad():
        before = model(clip).logits
    model.save_pretrained(tmp_path / "saved")
    # A different seed: a reloaded parameter that was silently re-initialized would differ.
    torch.manual_seed(123)
    reloaded = RViTForVideoClassification.from_pretrained(tmp_path / "saved").eval()
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name
    with torch.no_grad():
        assert torch.equal(reloaded(clip).logits, before)
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["auto_map"]["AutoConfig"] == "configuration_rvit.RViTConfig"
    assert (tmp_path / "saved" / "modeling_rvit.py").is_file()


def test_auto_classes_resolve_rvit():
    from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

    config = AutoConfig.for_model("rvit", image_size=16, hidden_size=32, num_attention_heads=4)
    assert isinstance(config, RViTConfig) and config.hidden_size == 32
    assert isinstance(AutoModelForVideoClassification.from_config(config), RViTForVideoClassification)
    assert isinstance(AutoModel.from_config(config), RViTModel)


@pytest.mark.parametrize(
    "first",
    [
        "import modeling_rvit",  # before transformers: registers once transformers is imported
        "import transformers, modeling_rvit",  # after: registers at once
        "from modeling_rvit.video_processing_rvit import RViTVideoProcessor",  # a submodule only
        "import modeling_rvit.ultrasound_frames; import modeling_rvit; modeling_rvit.RViTConfig",  # first use
    ],
)
def test_importing_the_package_registers_rvit_with_the_auto_classes(first):
    import subprocess
    import sys
    from pathlib import Path

    code = (
        f"{first}\n"
        "from transformers import AutoConfig, AutoModelForVideoClassification\n"
        "from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING\n"
        "config = AutoConfig.for_model('rvit')\n"
        "model_class = AutoModelForVideoClassification._model_mapping[type(config)]\n"
        "(processor_class,) = VIDEO_PROCESSOR_MAPPING[type(config)].values()\n"
        "print(type(config).__name__, model_class.__name__, processor_class.__name__, model_class._auto_class)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "RViTConfig",
        "RViTForVideoClassification",
        "RViTVideoProcessor",
        "AutoModelForVideoClassification",
    ]


def test_eager_and_sdpa_attention_agree():
    torch.manual_seed(0)
    eager = RViTForVideoClassification._from_config(tiny_config(), attn_implementation="eager").eval()
    sdpa = RViTForVideoClassification._from_config(tiny_config(), attn_implementation="sdpa").eval()
    sdpa.load_state_dict(eager.state_dict())
    assert eager.config._attn_implementation == "eager" and sdpa.config._attn_implementation == "sdpa"
    clip = random_clip(2, 4)
    with torch.no_grad():
        assert_close_relative(sdpa(clip).logits, eager(clip).logits, 1e-5)


def test_gradient_checkpointing_gives_the_same_gradients():
    model = tiny_model(seed=4).train()
    clip = random_clip(2, 4)
    labels = torch.tensor([1, 3])

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad()
        model(clip, labels=labels).loss.backward()
        return {name: parameter.grad.clone() for name, parameter in model.named_parameters()}

    mlp_calls = []
    # A pre-hook: non-reentrant checkpointing stops recomputing once the saved tensors are rebuilt.
    model.rvit.encoder.layer[0].mlp.register_forward_pre_hook(lambda *args: mlp_calls.append(1))
    plain = gradients()
    calls_without_checkpointing = len(mlp_calls)
    model.activation_checkpointing_enable()
    mlp_calls.clear()
    checkpointed = gradients()
    # The backward pass recomputes every checkpointed layer call (one per layer, all frames at once): one more
    # MLP call.
    assert calls_without_checkpointing == 1
    assert len(mlp_calls) == 2 * calls_without_checkpointing
    for name, gradient in plain.items():
        assert gradient.abs().sum() > 0, f"{name} got no gradient"
        torch.testing.assert_close(checkpointed[name], gradient, rtol=1e-5, atol=1e-7, msg=name)


def test_single_label_multi_label_and_regression_losses():
    clip = random_clip(2, 3)
    model = tiny_model()
    single = model(clip, labels=torch.tensor([0, 4]))
    expected = torch.nn.functional.cross_entropy(single.logits, torch.tensor([0, 4]))
    torch.testing.assert_close(single.loss, expected)

    model = tiny_model(problem_type="multi_label_classification")
    targets = torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 0, 0, 1]])
    multi = model(clip, labels=targets)
    torch.testing.assert_close(
        multi.loss, torch.nn.functional.binary_cross_entropy_with_logits(multi.logits, targets)
    )

    model = tiny_model(num_labels=1)
    targets = torch.tensor([0.5, -1.0])
    regression = model(clip, labels=targets)
    torch.testing.assert_close(
        regression.loss, torch.nn.functional.mse_loss(regression.logits.squeeze(), targets)
    )


def test_hidden_states_and_attentions_are_per_frame_and_per_layer():
    config = tiny_config()
    model = RViTForVideoClassification._from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():
        outputs = model(random_clip(2, 3), output_hidden_states=True, output_attentions=True)
    assert len(outputs.hidden_states) == config.num_hidden_layers + 1
    assert all(h.shape == (2, 3, 5, 32) for h in outputs.hidden_states)
    assert len(outputs.attentions) == config.num_hidden_layers
    assert all(a.shape == (2, 3, 4, 5, 5) for a in outputs.attentions)
    torch.testing.assert_close(outputs.attentions[0].sum(-1), torch.ones(2, 3, 4, 5))
    # The last layer's tokens of the last frame are the model's last_hidden_state.
    with torch.no_grad():
        base = model.rvit(random_clip(2, 3), output_hidden_states=True)
    torch.testing.assert_close(base.hidden_states[-1][:, -1], base.last_hidden_state)


def test_linear_attention_maps_are_unnormalized_kernel_scores():
    model = tiny_model(attention_type="linear")
    with torch.no_grad():
        outputs = model(random_clip(1, 2), output_attentions=True)
    assert outputs.attentions[0].shape == (1, 2, 4, 5, 5)
    assert (outputs.attentions[0] > 0).all()
    assert not torch.allclose(outputs.attentions[0].sum(-1), torch.ones(1, 2, 4, 5))


def test_return_dict_false_gives_a_tuple():
    model = tiny_model()
    with torch.no_grad():
        outputs = model(random_clip(1, 2), return_dict=False)
    assert isinstance(outputs, tuple) and outputs[0].shape == (1, 5)


@pytest.mark.parametrize(
    ("make_call", "message"),
    [
        (lambda model: model(torch.zeros(3, 3, 16, 16)), r"5-D .* pixel_values\[None\]"),
        (lambda model: model(torch.zeros(1, 2, 3, 32, 32)), "image_size=32"),
        (lambda model: model(torch.zeros(1, 2, 1, 16, 16)), "3×16×16"),
        (lambda model: model(torch.zeros(1, 0, 3, 16, 16)), "no frames"),
        (lambda model: model(torch.zeros(1, 2, 3, 16, 16), frame_mask=torch.ones(1, 3)), r"\(1, 2\)"),
        (lambda model: model(torch.zeros(2, 2, 3, 16, 16), past_state=model.init_state(1)), "1 clips"),
    ],
    ids=["4d", "size", "channels", "empty", "mask-shape", "state-batch"],
)
def test_wrong_input_gets_a_clear_error(make_call, message):
    model = tiny_model()
    with pytest.raises(RViTInputError, match=message):
        make_call(model)


def test_attention_maps_with_sdpa_fall_back_to_eager_with_a_warning(caplog):
    from transformers.utils import logging as transformers_logging

    eager = RViTForVideoClassification._from_config(tiny_config(), attn_implementation="eager").eval()
    sdpa = RViTForVideoClassification._from_config(tiny_config(), attn_implementation="sdpa").eval()
    sdpa.load_state_dict(eager.state_dict())
    clip = random_clip(1, 2)
    logger = transformers_logging.get_logger("modeling_rvit.modeling_rvit")
    logger.warning_once.cache_clear()
    with caplog.at_level("WARNING", logger="modeling_rvit.modeling_rvit"), torch.no_grad():
        expected = eager(clip, output_attentions=True)
        actual = sdpa(clip, output_attentions=True)
    assert "uses eager attention" in caplog.text
    assert len(actual.attentions) == 2
    for got, wanted in zip(actual.attentions, expected.attentions, strict=True):
        torch.testing.assert_close(got, wanted)
    torch.testing.assert_close(actual.logits, expected.logits)
    assert sdpa.config._attn_implementation == "sdpa"  # only that call fell back


@pytest.mark.parametrize("attention_type", ["softmax", "linear"])
def test_returned_hidden_states_and_attention_maps_get_gradients(attention_type):
    """`retain_grad()` on the returned tensors gets the gradient of the output with respect to them: checked
    against the gradient of each frame's attention map captured where the attention computes it."""
    model = RViTModel._from_config(
        tiny_config(attention_type=attention_type, frames_per_chunk=2), attn_implementation="eager"
    )
    captured = []
    attention = model.encoder.layer[0].attention
    original_forward = attention.forward

    def capturing_forward(*args, **kwargs):
        output, weights = original_forward(*args, **kwargs)
        captured.append(weights)
        return output, weights

    attention.forward = capturing_forward
    outputs = model(random_clip(2, 5), output_hidden_states=True, output_attentions=True)
    target = outputs.last_hidden_state.square().sum()
    per_frame_gradients = torch.autograd.grad(target, captured, retain_graph=True)
    hidden, maps = outputs.hidden_states[1], outputs.attentions[0]
    hidden.retain_grad()
    maps.retain_grad()
    target.backward()
    assert hidden.grad is not None and hidden.grad.abs().sum() > 0
    torch.testing.assert_close(maps.grad, torch.stack(per_frame_gradients, dim=1))
    # Without retain_grad(), nothing is kept, as for any non-leaf tensor.
    outputs = model(random_clip(2, 5), output_attentions=True)
    outputs.last_hidden_state.sum().backward()
    assert outputs.attentions[0].grad is None


def test_invalid_config_raises_rvit_config_error():
    cases = [
        ({"num_attention_heads": 5}, "not a multiple of num_attention_heads"),
        ({"attention_type": "performer"}, "choose one of"),
        ({"frames_per_chunk": 0}, "frames_per_chunk=0"),
        ({"hidden_dropout_prob": 1.5}, "not a probability"),
    ]
    for overrides, message in cases:
        with pytest.raises(RViTConfigError, match=message) as raised:
            tiny_config(**overrides)
        assert raised.type is RViTConfigError
        assert isinstance(raised.value, ValueError)


def tiny_vit(tmp_path):
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(5)
    vit_config = ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        initializer_range=0.2,
        layer_norm_eps=1e-6,
    )
    vit = ViTModel(vit_config, add_pooling_layer=False).eval()
    vit.save_pretrained(tmp_path / "vit")
    return vit, tmp_path / "vit"


def test_from_vit_pretrained_starts_the_frame_path_as_the_vit(tmp_path):
    vit, vit_dir = tiny_vit(tmp_path)
    model = RViTForVideoClassification.from_vit_pretrained(vit_dir, num_labels=5).eval()
    config = model.config
    assert (config.hidden_size, config.num_hidden_layers, config.layer_norm_eps, config.num_labels) == (
        32,
        2,
        1e-6,
        5,
    )
    assert torch.equal(model.rvit.embeddings.position_embeddings, vit.embeddings.position_embeddings)
    assert torch.equal(model.rvit.encoder.layer[1].mlp.fc2.weight, vit.layers[1].mlp.fc2.weight)
    state_half = model.rvit.encoder.layer[0].attention.qkv.weight[:, 32:]
    assert torch.equal(state_half, torch.zeros_like(state_half))

    # With the state half at zero, layer 0 on a frame computes exactly the ViT's first layer
    # (RViT adds the position embeddings in every layer, ViT once, so deeper layers differ by design).
    frame = random_clip(1, 1)
    with torch.no_grad():
        rvit_hidden = model.rvit(frame, output_hidden_states=True).hidden_states
        vit_hidden = vit(frame[:, 0], output_hidden_states=True).hidden_states
    torch.testing.assert_close(rvit_hidden[1][:, 0], vit_hidden[1], rtol=1e-5, atol=1e-5)


def test_from_vit_pretrained_copies_state_half_and_resizes_positions(tmp_path):
    vit, _ = tiny_vit(tmp_path)
    model = RViTModel.from_vit_pretrained(vit, state_projection_init="copy", image_size=32)
    qkv = model.encoder.layer[0].attention.qkv.weight
    assert torch.equal(qkv[:, :32], qkv[:, 32:])
    assert model.embeddings.position_embeddings.shape == (1, 17, 32)
    assert torch.equal(model.embeddings.position_embeddings[:, 0], vit.embeddings.position_embeddings[:, 0])
    with torch.no_grad():
        assert model(random_clip(1, 2, size=32)).pooler_output.shape == (1, 96)


def test_half_precision_model_takes_float32_frames():
    model = tiny_model()
    clip = random_clip(1, 3)
    with torch.no_grad():
        full = model(clip).logits
        half = model.to(torch.bfloat16)(clip).logits
    assert half.dtype == torch.bfloat16
    assert_close_relative(half.float(), full, 5e-2)


@pytest.mark.parametrize("frames_per_chunk", [1, 4])
def test_bf16_autocast_training_step_tracks_float32(frames_per_chunk):
    """The low-precision path (state weight cast once, eager attention in bf16 on the CPU) against float32: close
    logits and gradients pointing the same way."""
    model = tiny_model(seed=6, frames_per_chunk=frames_per_chunk).train()
    clip, labels = random_clip(2, 5), torch.tensor([1, 2])

    def loss_and_gradient(autocast: bool):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            outputs = model(clip, labels=labels)
        outputs.loss.backward()
        gradient = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        return outputs.logits.float(), gradient

    full_logits, full_gradient = loss_and_gradient(False)
    half_logits, half_gradient = loss_and_gradient(True)
    assert_close_relative(half_logits, full_logits, 5e-2)
    assert torch.nn.functional.cosine_similarity(half_gradient, full_gradient, dim=0) > 0.99


def test_forward_traces_as_one_graph_for_torch_compile():
    # backend="eager" runs only the Dynamo trace (no code generation): fullgraph=True fails on any graph break.
    model = tiny_model()
    clip, frame_mask = random_clip(2, 3), torch.tensor([[1, 1, 0], [1, 1, 1]])
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(
            compiled(clip, frame_mask=frame_mask).logits, model(clip, frame_mask=frame_mask).logits
        )


def test_inductor_compiled_training_step_matches_eager():
    # What `torch.compile(model)` (and Trainer's torch_compile=True) runs: generated code, not only the trace.
    # Chunks of 2 over 3 frames, a padded clip and dropout 0: the compiled graph must keep every branch.
    eager = tiny_model(frames_per_chunk=2).train()
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model)
    clip, frame_mask, labels = random_clip(2, 3), torch.tensor([[1, 1, 0], [1, 1, 1]]), torch.tensor([1, 3])

    def logits_and_gradients(model, forward):
        outputs = forward(clip, frame_mask=frame_mask, labels=labels)
        outputs.loss.backward()
        return outputs.logits.detach(), {name: p.grad for name, p in model.named_parameters()}

    expected_logits, expected_gradients = logits_and_gradients(eager, eager)
    logits, gradients = logits_and_gradients(compiled_model, compiled)
    assert_close_relative(logits, expected_logits, 1e-5)
    assert gradients.keys() == expected_gradients.keys()
    for name, gradient in gradients.items():
        assert gradient is not None, name
        assert_close_relative(gradient, expected_gradients[name], 1e-4)


def test_trainer_prediction_step_returns_only_the_logits(tmp_path):
    from transformers import Trainer, TrainingArguments

    model = tiny_model()
    arguments = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    trainer = Trainer(model=model, args=arguments)
    inputs = {"pixel_values": random_clip(2, 3), "labels": torch.tensor([0, 1])}
    loss, logits, labels = trainer.prediction_step(model, inputs, prediction_loss_only=False)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 5)
    assert loss is not None and torch.equal(labels, inputs["labels"])


def test_dropout_mask_drops_with_probability_p_and_scales_the_rest():
    from modeling_rvit.modeling_rvit import dropout_mask

    torch.manual_seed(0)
    mask = dropout_mask((8, 16, 64, 64), 0.1, torch.zeros(()))  # (clips, frames, tokens, channels)
    kept = mask != 0
    # 524,288 draws: the keep rate's standard deviation is 4.1e-4.
    assert abs(kept.float().mean().item() - 0.9) < 2e-3
    torch.testing.assert_close(mask.unique(), torch.tensor([0.0, 1 / 0.9]))
    # Independent across neighbouring elements (which share a 64-bit random word), frames and tokens.
    for dim in (3, 1, 2):
        first, second = kept.narrow(dim, 0, kept.shape[dim] - 1), kept.narrow(dim, 1, kept.shape[dim] - 1)
        assert abs((first & second).float().mean().item() - 0.81) < 3e-3, dim
    assert not torch.equal(kept[:, 0], kept[:, 1])
    torch.manual_seed(0)
    assert torch.equal(dropout_mask((8, 16, 64, 64), 0.1, torch.zeros(())), mask)
    half = dropout_mask((1000, 1000), 0.5, torch.zeros((), dtype=torch.bfloat16))
    assert half.dtype == torch.bfloat16
    assert abs((half != 0).float().mean().item() - 0.5) < 3e-3
    assert set(half.unique().tolist()) == {0.0, 2.0}


def test_ahu_preset_has_the_reference_dropout_and_eval_mode_ignores_it():
    config = RViTConfig.from_preset("ahu")
    assert config.hidden_dropout_prob == config.layer_input_dropout_prob == 0.1
    assert config.embedding_dropout_prob == config.classifier_dropout_prob == 0.1
    assert config.attention_probs_dropout_prob == 0.0
    dropout_fields = {
        "hidden_dropout_prob": 0.1,
        "layer_input_dropout_prob": 0.1,
        "embedding_dropout_prob": 0.1,
        "classifier_dropout_prob": 0.1,
    }
    plain, with_dropout = tiny_model(seed=3), tiny_model(seed=3, **dropout_fields)
    clip = random_clip(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(with_dropout(clip).logits, plain(clip).logits, rtol=0, atol=0)
        with_dropout.train()
        first, second = with_dropout(clip).logits, with_dropout(clip).logits
    assert not torch.allclose(first, second)


def test_state_takes_the_attention_output_without_dropout():
    """The reference drops the attention output on its way into the frame tokens only: with that dropout (and the
    MLP's) at 1, a one-layer model's state is the dropout-free one and its frame tokens are `x + P` alone."""
    model = RViTModel(tiny_config(num_hidden_layers=1, hidden_dropout_prob=1.0))
    clip = random_clip(2, 3)
    with torch.no_grad():
        expected = model.eval()(clip, return_state=True)
        dropped = model.train()(clip, return_state=True)
        last_frame_tokens = model.embeddings(clip)[:, -1] + model.embeddings.position_embeddings
    torch.testing.assert_close(dropped.state.hidden, expected.state.hidden)
    torch.testing.assert_close(dropped.last_hidden_state, last_frame_tokens)


def test_position_dropout_is_one_mask_per_frame_shared_by_the_batch():
    clip = random_clip(1, 4).expand(2, -1, -1, -1, -1)  # two identical clips
    model = RViTModel(tiny_config(embedding_dropout_prob=0.5)).train()
    positions = []
    layer = model.encoder.layer[1]
    original_forward = layer.forward

    def capturing_forward(tokens, state, position_embeddings, *args, **kwargs):
        positions.append(position_embeddings)
        return original_forward(tokens, state, position_embeddings, *args, **kwargs)

    layer.forward = capturing_forward
    with torch.no_grad():
        outputs = model(clip, return_state=True)
    torch.testing.assert_close(outputs.last_hidden_state[0], outputs.last_hidden_state[1])
    torch.testing.assert_close(outputs.state.hidden[:, 0], outputs.state.hidden[:, 1])
    frame_masks = [(position != 0) for position in positions[0]]  # default chunking: one call, 4 frames
    assert len(frame_masks) == 4 and not torch.equal(frame_masks[0], frame_masks[1])
    # Layer input dropout, by contrast, draws for every clip.
    model = RViTModel(tiny_config(layer_input_dropout_prob=0.5)).train()
    with torch.no_grad():
        outputs = model(clip)
    assert not torch.allclose(outputs.last_hidden_state[0], outputs.last_hidden_state[1])


def test_reference_presets_keep_the_patchify_embedding_and_scratch_has_a_conv_stem():
    # The reference cases above run the default embedding; the conv stem is opt-in, by field or preset.
    for preset in ("ahu", "jester", "small", "base"):
        assert RViTConfig.from_preset(preset).patch_embedding_type == "patchify"
    scratch = RViTConfig.from_preset("scratch")
    ahu = RViTConfig.from_preset("ahu")
    assert scratch.patch_embedding_type == "conv_stem"
    assert {**scratch.to_dict(), "patch_embedding_type": "patchify"} == ahu.to_dict()
    model = tiny_model(patch_embedding_type="conv_stem")
    stem = model.rvit.embeddings.patch_embeddings
    assert isinstance(stem, RViTConvStem)
    # patch 8: three 3×3 stride-2 convolutions (8, 16, 32 channels up to hidden 32), then the 1×1 projection.
    widths = [layer.out_channels for layer in stem.convolutions if isinstance(layer, torch.nn.Conv2d)]
    assert widths == [8, 16, 32]
    clip = random_clip(2, 3)
    with torch.no_grad():
        tokens = model.rvit.embeddings(clip)
    assert tokens.shape == (2, 3, 1 + model.config.num_patches, 32)


def test_conv_stem_gets_he_init_and_reloads_with_every_weight(tmp_path):
    model = tiny_model(seed=5, patch_embedding_type="conv_stem", initializer_range=0.02)
    first = model.rvit.embeddings.patch_embeddings.convolutions[0]
    # He normal, fan-out 8 channels × 9: std sqrt(2 / 72) = 0.167 (the default normal init would give 0.02).
    assert abs(first.weight.std().item() - (2 / 72) ** 0.5) < 0.05
    clip = random_clip(2, 4)
    model.train()
    model(clip)  # moves the BatchNorm running statistics off their initial values
    model.eval()
    with torch.no_grad():
        before = model(clip).logits
    model.save_pretrained(tmp_path / "stem")
    torch.manual_seed(321)
    reloaded = RViTForVideoClassification.from_pretrained(tmp_path / "stem").eval()
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name
    with torch.no_grad():
        assert torch.equal(reloaded(clip).logits, before)


def test_conv_stem_needs_a_power_of_two_patch():
    with pytest.raises(RViTConfigError, match="power-of-two patch_size"):
        RViTConfig(image_size=24, patch_size=6, patch_embedding_type="conv_stem")
    with pytest.raises(RViTConfigError, match="patch_embedding_type='pixel'"):
        RViTConfig(patch_embedding_type="pixel")
