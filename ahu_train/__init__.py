"""Training, evaluation and publishing of RViT on the AHU ultrasound database.

Modules follow the path of a run: `data` (dataset -> clip tensors: loading, the on-the-fly collator with
augmentation, several clips per video), `losses` (the paper's rank-weighted top-3 loss, class weights,
multi-label), `metrics` (the `evaluate` module metrics/ahu_metrics), `trainer` (`AHUTrainer`,
`make_compute_metrics`), `train` (arguments, the paper preset, `run_training`), `evaluation` (tables, plots,
CSVs, video-level aggregation, bootstrap), `model_card` (card and publishing), `demo` (the whole path).
"""
