"""RViT as transformers classes.

Importing this package registers the classes with the Auto API, and marks them for `save_pretrained` to write
`auto_map` and copy this folder's code, so a saved model also loads with `trust_remote_code=True` where this
package is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification, AutoVideoProcessor

from .configuration_rvit import AHU_LABELS, RViTConfig, RViTConfigError
from .modeling_rvit import (
    RViTForVideoClassification,
    RViTInputError,
    RViTModel,
    RViTModelOutput,
    RViTPreTrainedModel,
    RViTState,
    RViTVideoClassifierOutput,
)
from .video_processing_rvit import RViTVideoProcessor

AutoConfig.register(RViTConfig.model_type, RViTConfig, exist_ok=True)
AutoModel.register(RViTConfig, RViTModel, exist_ok=True)
AutoModelForVideoClassification.register(RViTConfig, RViTForVideoClassification, exist_ok=True)
RViTConfig.register_for_auto_class()
RViTModel.register_for_auto_class("AutoModel")
RViTForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")
AutoVideoProcessor.register(RViTConfig, RViTVideoProcessor, exist_ok=True)
RViTVideoProcessor.register_for_auto_class()

__all__ = [
    "AHU_LABELS",
    "RViTConfig",
    "RViTConfigError",
    "RViTForVideoClassification",
    "RViTInputError",
    "RViTModel",
    "RViTModelOutput",
    "RViTPreTrainedModel",
    "RViTState",
    "RViTVideoClassifierOutput",
    "RViTVideoProcessor",
]
