"""RViT under transformers' own common model and config tests, as transformers' video models (VideoMAE,
TimeSformer) are tested: `ModelTesterMixin` and `ConfigTester` from the installed transformers version's source
distribution (see tests/transformers_common_tests.py), with a model tester for a tiny RViT."""

from __future__ import annotations

import copy
import unittest
from unittest import mock

import pytest
import torch
from transformers.models.auto import modeling_auto
from transformers.testing_utils import torch_device
from transformers_common_tests import import_common_module

from modeling_rvit import RViTConfig, RViTForVideoClassification, RViTModel

configuration_common = import_common_module("test_configuration_common")
modeling_common = import_common_module("test_modeling_common")
ConfigTester = configuration_common.ConfigTester
ModelTesterMixin = modeling_common.ModelTesterMixin
floats_tensor = modeling_common.floats_tensor
ids_tensor = modeling_common.ids_tensor


@pytest.fixture(autouse=True, scope="module")
def rvit_in_the_auto_mapping_names():
    """The common tests find a model's task in `modeling_auto`'s name tables (e.g. to add `labels` for the video
    classification head); RViT registers with the Auto classes at run time, which does not write those tables."""
    with (
        mock.patch.dict(modeling_auto.MODEL_MAPPING_NAMES, {"rvit": "RViTModel"}),
        mock.patch.dict(
            modeling_auto.MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES, {"rvit": "RViTForVideoClassification"}
        ),
    ):
        yield


class RViTModelTester:
    def __init__(
        self,
        parent,
        batch_size=3,
        num_frames=3,
        image_size=16,
        patch_size=8,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        num_labels=5,
        initializer_range=0.02,
        frames_per_chunk=2,
        is_training=True,
        use_labels=True,
    ):
        self.parent = parent
        self.batch_size = batch_size
        self.num_frames = num_frames
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.num_labels = num_labels
        self.initializer_range = initializer_range
        # Smaller than num_frames, so that the frame loop runs over more than one chunk.
        self.frames_per_chunk = frames_per_chunk
        self.is_training = is_training
        self.use_labels = use_labels
        # Tokens per frame: the patches and the class token.
        self.seq_length = (image_size // patch_size) ** 2 + 1

    def get_config(self) -> RViTConfig:
        return RViTConfig(
            image_size=self.image_size,
            patch_size=self.patch_size,
            num_channels=self.num_channels,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            num_labels=self.num_labels,
            num_frames=self.num_frames,
            initializer_range=self.initializer_range,
            frames_per_chunk=self.frames_per_chunk,
        )

    def prepare_config_and_inputs(self):
        pixel_values = floats_tensor(
            [self.batch_size, self.num_frames, self.num_channels, self.image_size, self.image_size]
        )
        labels = ids_tensor([self.batch_size], self.num_labels) if self.use_labels else None
        return self.get_config(), pixel_values, labels

    def prepare_config_and_inputs_for_common(self):
        config, pixel_values, _ = self.prepare_config_and_inputs()
        return config, {"pixel_values": pixel_values}

    def create_and_check_model(self, config, pixel_values, labels):
        model = RViTModel(config).to(torch_device).eval()
        with torch.no_grad():
            result = model(pixel_values)
        self.parent.assertEqual(
            result.last_hidden_state.shape, (self.batch_size, self.seq_length, self.hidden_size)
        )
        self.parent.assertEqual(
            result.pooler_output.shape, (self.batch_size, self.hidden_size * (self.num_hidden_layers + 1))
        )

    def create_and_check_for_video_classification(self, config, pixel_values, labels):
        model = RViTForVideoClassification(config).to(torch_device).eval()
        with torch.no_grad():
            result = model(pixel_values, labels=labels)
        self.parent.assertEqual(result.logits.shape, (self.batch_size, self.num_labels))
        self.parent.assertEqual(result.loss.shape, ())


class RViTModelTest(ModelTesterMixin, unittest.TestCase):
    """
    The common tests with RViT's shapes: hidden states and attention maps are per frame, `(batch, frames, tokens,
    hidden)` and `(batch, frames, heads, tokens, tokens)`, as the tests of transformers' video models allow.
    """

    all_model_classes = (RViTModel, RViTForVideoClassification)
    test_resize_embeddings = False
    test_torch_exportable = False

    def setUp(self):
        self.model_tester = RViTModelTester(self)
        self.config_tester = ConfigTester(
            self, config_class=RViTConfig, has_text_modality=False, hidden_size=32
        )

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = copy.deepcopy(inputs_dict)
        if return_labels and model_class is RViTForVideoClassification:
            inputs_dict["labels"] = torch.zeros(
                self.model_tester.batch_size, dtype=torch.long, device=torch_device
            )
        return inputs_dict

    def test_config(self):
        self.config_tester.run_common_tests()

    def test_model(self):
        self.model_tester.create_and_check_model(*self.model_tester.prepare_config_and_inputs())

    def test_for_video_classification(self):
        self.model_tester.create_and_check_for_video_classification(
            *self.model_tester.prepare_config_and_inputs()
        )

    def test_attention_outputs(self):
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        tester = self.model_tester
        expected_shape = [
            tester.batch_size,
            tester.num_frames,
            tester.num_attention_heads,
            tester.seq_length,
            tester.seq_length,
        ]
        for model_class in self.all_model_classes:
            for by_config in (False, True):
                config = copy.deepcopy(config)
                config.output_attentions = by_config
                model = model_class._from_config(config, attn_implementation="eager").to(torch_device).eval()
                inputs = self._prepare_for_class(inputs_dict, model_class)
                with torch.no_grad():
                    outputs = model(**inputs, **({} if by_config else {"output_attentions": True}))
                self.assertEqual(len(outputs.attentions), tester.num_hidden_layers)
                for attention in outputs.attentions:
                    self.assertListEqual(list(attention.shape), expected_shape)
                with torch.no_grad():
                    both = model(**inputs, output_attentions=True, output_hidden_states=True)
                # The attentions come last, after the hidden states.
                self.assertEqual(len(both), len(outputs) + (0 if config.output_hidden_states else 1))
                self.assertIs(both.to_tuple()[-1], both.attentions)

    def test_hidden_states_output(self):
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        tester = self.model_tester
        expected_shape = [tester.batch_size, tester.num_frames, tester.seq_length, tester.hidden_size]
        for model_class in self.all_model_classes:
            for by_config in (False, True):
                config = copy.deepcopy(config)
                config.output_hidden_states = by_config
                model = model_class(config).to(torch_device).eval()
                inputs = self._prepare_for_class(inputs_dict, model_class)
                with torch.no_grad():
                    outputs = model(**inputs, **({} if by_config else {"output_hidden_states": True}))
                self.assertEqual(len(outputs.hidden_states), tester.num_hidden_layers + 1)
                for hidden_states in outputs.hidden_states:
                    self.assertListEqual(list(hidden_states.shape), expected_shape)

    def test_model_get_set_embeddings(self):
        # A patch embedding (a convolution), not a token table: checked as VideoMAE's tests check theirs.
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            model = model_class(config)
            self.assertIsInstance(model.get_input_embeddings(), torch.nn.Module)
            self.assertIsNone(model.get_output_embeddings())

    @unittest.skip(reason="RViT reads pixel values; it has no input embeddings to pass instead")
    def test_inputs_embeds(self):
        pass

    @unittest.skip(reason="RViT reads pixel values; it has no input embeddings to pass instead")
    def test_inputs_embeds_matches_input_ids(self):
        pass

    @unittest.skip(reason="RViT's layers have no feed-forward chunking (chunk_size_feed_forward)")
    def test_feed_forward_chunking(self):
        pass
