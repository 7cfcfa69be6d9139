"""Subject-independent evaluation: splits, metrics, protocols and reports.

>>> from geopain.evaluation import run_protocol
>>> res = run_protocol(seqs, ["wgnn", "wgnn-uniform", "logreg"], "binary", "loso", out_dir="results")
"""
from .metrics import aggregate, binary_metrics, multiclass_metrics, regression_metrics, task_metrics
from .protocol import run_protocol, sequence_table
from .report import markdown_table, write_report
from .splits import Fold, group_kfold, holdout, loso, protocol_folds

__all__ = ["run_protocol", "sequence_table", "protocol_folds", "loso", "group_kfold", "holdout", "Fold",
           "binary_metrics", "multiclass_metrics", "regression_metrics", "task_metrics", "aggregate",
           "write_report", "markdown_table"]
