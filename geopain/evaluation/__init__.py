"""Subject-independent evaluation: splits, metrics, protocols and reports.

>>> from geopain.evaluation import run_protocol
>>> res = run_protocol(seqs, ["wgnn", "wgnn-uniform", "logreg"], "binary", "loso", out_dir="results")
"""
from .compare import best_by_paired, compare_many, paired_comparison
from .metrics import (aggregate, binary_metrics, cohen_kappa, expected_calibration_error, multiclass_metrics,
                      regression_metrics, reliability_curve, task_metrics)
from .protocol import run_protocol, sequence_table
from .report import METRIC_LABELS, markdown_table, write_report
from .splits import Fold, group_kfold, holdout, loso, protocol_folds

__all__ = ["run_protocol", "sequence_table", "protocol_folds", "loso", "group_kfold", "holdout", "Fold",
           "binary_metrics", "multiclass_metrics", "regression_metrics", "task_metrics", "aggregate",
           "write_report", "markdown_table", "cohen_kappa", "expected_calibration_error", "reliability_curve",
           "paired_comparison", "compare_many", "best_by_paired", "METRIC_LABELS"]
