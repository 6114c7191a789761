"""Training, evaluation and publishing of RViT on the AHU ultrasound database.

Modules follow the path of a run: `data` (dataset -> clip tensors), `losses`, `metrics`
(the `evaluate` module metrics/ahu_metrics), `trainer` (Trainer wiring), `evaluation`
(tables, plots, CSVs, video-level aggregation, bootstrap), `model_card`, `demo`.
"""
