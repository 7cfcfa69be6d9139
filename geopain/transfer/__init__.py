"""Transfer of pain models across species, detectors and datasets (``geopain transfer``).

>>> from geopain.transfer import prepare_domain, few_shot, fit_transfer, get_homology
>>> # human = prepare_domain(human_sequences, "human", reference="subject-median")
>>> # sheep = prepare_domain(sheep_sequences, "sheep", reference="subject-median")
>>> # result = few_shot(human, sheep, "finetune", [1, 2, 4, "all"], folds=3)   # curves
>>> # model = fit_transfer(human, sheep, "zero-shot"); model.predict_proba(sheep)

Homology is data (``homology:`` in each species' YAML, :mod:`geopain.transfer.homology`); the model
is the registry's ``shared-region`` (:mod:`geopain.models.shared`); methods and the few-shot protocol
are in :mod:`geopain.transfer.core`; outputs in :mod:`geopain.transfer.report`.
"""
from .core import (METHODS, Domain, TransferModel, TransferSettings, adapt, few_shot, few_shot_splits, fit_transfer,
                   prepare_domain, train_on, zero_shot)
from .homology import SHARED_UNITS, Homology, get_homology, unit_correspondence
from .report import markdown_table, plot_learning_curve, write_report

__all__ = ["METHODS", "Domain", "TransferModel", "TransferSettings", "adapt", "few_shot", "few_shot_splits",
           "fit_transfer", "prepare_domain", "train_on", "zero_shot", "SHARED_UNITS", "Homology", "get_homology",
           "unit_correspondence", "markdown_table", "plot_learning_curve", "write_report"]
