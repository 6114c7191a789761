"""The 13 AHU disease labels in the paper's index order (Scientific Data 12:148, 2025).

The one definition of the label list: `hf_loader.constants.LABELS` and `RViTConfig`'s default `id2label` both
come from here. Plain Python, so that it ships with a saved model's remote code and imports without transformers.
"""

AHU_LABELS: tuple[str, ...] = (
    "Tumor",
    "Cyst",
    "Inflammation",
    "Stone",
    "Nodule",
    "Injury",
    "Calcification",
    "Occupancy",
    "Hernia",
    "Vascular",
    "Polyp",
    "Ectopic",
    "Anomalies",
)

__all__ = ["AHU_LABELS"]
