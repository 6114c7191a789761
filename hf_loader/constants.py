"""One definition of each fact about the AHU archive and the dataset.

Every other module imports from here; change a default here and it changes everywhere. Three groups of facts
live where they ship with a saved model: the 13 labels in `modeling_rvit.ahu_labels`, the paper's preprocessing
constants (frame stride and size, crop, noise filter) in `modeling_rvit.ultrasound_frames`, and its training input
(36 frames, 112 px, mean = std = 0.5) as the defaults of `RViTConfig` and `RViTVideoProcessor`.
"""

from __future__ import annotations

from modeling_rvit.ahu_labels import AHU_LABELS as LABELS  # the paper's index order

LABEL2ID: dict[str, int] = {name: index for index, name in enumerate(LABELS)}
NUM_LABELS = len(LABELS)

FIGSHARE_ARTICLE_ID = 26889334
FIGSHARE_API_URL = "https://api.figshare.com/v2"
DATASET_DOI = "10.6084/m9.figshare.26889334"
PAPER_DOI = "10.1038/s41597-025-04464-4"
# BibTeX of the paper: the builder's, the metric's, the dataset card's and the model card's citation.
PAPER_CITATION = f"""\
@article{{yang2025ahu,
  title   = {{An annotated heterogeneous ultrasound database}},
  author  = {{Yang and Chen and Dong and others}},
  journal = {{Scientific Data}},
  volume  = {{12}},
  pages   = {{148}},
  year    = {{2025}},
  doi     = {{{PAPER_DOI}}}
}}
"""

TIERS: tuple[str, ...] = ("raw", "filtered", "processed")
NOISE_LIST_NAME = "noise_files.txt"
RENAME_TABLE_NAME = "rename.xlsx"
COMMENTS_TABLE_NAME = "comments.xlsx"

# The label columns of every config, named as Trainer's defaults expect: `label` is the single-label target that
# `default_data_collator` and run_image_classification.py turn into `labels`; the multi-label list must not be
# called `labels` itself, or Trainer keeps it as the target and cannot stack lists of different lengths.
LABEL_COLUMN = "label"  # ClassLabel: the primary (first) label, the single-label training target
ALL_LABELS_COLUMN = "all_labels"  # List(ClassLabel): every label of the sample, primary first
# The names of exports written before the rename (issue #19): old name -> new name.
LEGACY_LABEL_COLUMNS = {"primary_label": LABEL_COLUMN, "labels": ALL_LABELS_COLUMN}
