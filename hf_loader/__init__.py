"""The AHU ultrasound database as a Hugging Face `datasets` dataset."""

from .constants import LABEL2ID, LABELS, NUM_LABELS
from .errors import AHUDataError

# Imported on first use: `datasets` takes seconds to import and not every user needs it.
_LAZY_EXPORTS = {
    "AHUUltrasound": ".builder",
    "AHUUltrasoundConfig": ".builder",
    "scan_archive": ".scan_report",
    "index_archive": ".archive_index",
    "assign_splits": ".splits",
}


def __getattr__(name):
    if name in _LAZY_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_LAZY_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LABELS", "LABEL2ID", "NUM_LABELS", "AHUDataError", *_LAZY_EXPORTS]
