"""RViT as transformers classes.

Importing this package registers the classes with the Auto API, and marks them for `save_pretrained` to write
`auto_map` and copy this folder's code, so a saved model also loads with `trust_remote_code=True` where this
package is not installed.

The package imports its classes on first use: `import modeling_rvit.ultrasound_frames` (the frame cleaning
`hf_loader` shares) imports neither transformers nor torch. Registration happens as soon as transformers and
this package are both imported, whichever comes first: at once when transformers already is, otherwise right
after `import transformers` finishes, or on first use of a class below.
"""

from __future__ import annotations

import importlib
import sys

# Public name -> the submodule that defines it.
_LAZY_EXPORTS = {
    "AHU_LABELS": ".ahu_labels",
    "RViTConfig": ".configuration_rvit",
    "RViTConfigError": ".configuration_rvit",
    "RViTForPreTraining": ".modeling_rvit",
    "RViTForPreTrainingOutput": ".modeling_rvit",
    "RViTForVideoClassification": ".modeling_rvit",
    "RViTInputError": ".modeling_rvit",
    "RViTModel": ".modeling_rvit",
    "RViTModelOutput": ".modeling_rvit",
    "RViTPreTrainedModel": ".modeling_rvit",
    "RViTState": ".modeling_rvit",
    "RViTVideoClassifierOutput": ".modeling_rvit",
    "RViTVideoProcessor": ".video_processing_rvit",
}
__all__ = list(_LAZY_EXPORTS)

_PLAIN_SUBMODULES = {__name__ + ".ultrasound_frames", __name__ + ".ahu_labels"}
_state = {"registered": False, "registering": False, "loading": 0}


def _register() -> None:
    """Registers RViT with the Auto classes (once); imports transformers, torch and the model code."""
    if _state["registered"] or _state["registering"]:
        return
    _state["registering"] = True
    try:
        from transformers import (
            AutoConfig,
            AutoModel,
            AutoModelForPreTraining,
            AutoModelForVideoClassification,
            AutoVideoProcessor,
        )

        from .configuration_rvit import RViTConfig
        from .modeling_rvit import RViTForPreTraining, RViTForVideoClassification, RViTModel
        from .video_processing_rvit import RViTVideoProcessor

        AutoConfig.register(RViTConfig.model_type, RViTConfig, exist_ok=True)
        AutoModel.register(RViTConfig, RViTModel, exist_ok=True)
        AutoModelForVideoClassification.register(RViTConfig, RViTForVideoClassification, exist_ok=True)
        AutoModelForPreTraining.register(RViTConfig, RViTForPreTraining, exist_ok=True)
        RViTConfig.register_for_auto_class()
        RViTModel.register_for_auto_class("AutoModel")
        RViTForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")
        RViTForPreTraining.register_for_auto_class("AutoModelForPreTraining")
        AutoVideoProcessor.register(RViTConfig, RViTVideoProcessor, exist_ok=True)
        RViTVideoProcessor.register_for_auto_class()
        _state["registered"] = True
    finally:
        _state["registering"] = False
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def _is_watched(name: str) -> bool:
    # ultrasound_frames and ahu_labels need no transformers; the other submodules do (and so end up registering).
    return name == "transformers" or (
        name.startswith(__name__ + ".") and name not in _PLAIN_SUBMODULES
    )


class _RegisterAfterImport:
    """A `sys.meta_path` finder that registers RViT once transformers has been imported.

    It finds nothing itself: for transformers and this package's submodules it wraps the loader the other
    finders return, and registers after such a module has finished executing, once no submodule of this package
    is still executing (registration imports them all, which must not happen halfway through one of them).
    """

    def find_spec(self, name, path=None, target=None):
        if _state["registered"] or not _is_watched(name):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisteringLoader(spec.loader, own=name != "transformers")
                return spec
        return None


class _RegisteringLoader:
    """The loader it wraps, registering RViT after `exec_module` when the time has come (see above)."""

    def __init__(self, loader, own: bool):
        self._loader, self._own = loader, own

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        _state["loading"] += self._own
        try:
            self._loader.exec_module(module)
        finally:
            _state["loading"] -= self._own
        if _state["loading"] == 0 and "transformers" in sys.modules:
            _register()


_HOOK = _RegisterAfterImport()

if "transformers" in sys.modules:
    _register()
else:
    sys.meta_path.insert(0, _HOOK)


def __getattr__(name):
    if name in _LAZY_EXPORTS:
        value = getattr(importlib.import_module(_LAZY_EXPORTS[name], __name__), name)
        _register()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_EXPORTS))
