"""One table of training defaults, read by :class:`~geopain.models.PainEstimator`,
:func:`geopain.training.fit_network` and ``geopain train``/``evaluate`` (so the library, the
loop and the command line never disagree). Values from a small sweep on simulated cohorts
(see the 'Training defaults' commit): AdamW, lr 5e-4, weight decay 1e-2, up to 60 epochs with
early stopping after 10 without improvement on held-out subjects.

Importing this module imports nothing else (the command line reads it to print ``--help``).
"""
from __future__ import annotations

#: name -> default value
TRAINING: dict = {
    "epochs": 60,          # maximum training epochs
    "batch_size": 64,      # frames (or windows) per batch
    "lr": 5e-4,            # AdamW learning rate
    "weight_decay": 1e-2,  # AdamW weight decay
    "patience": 10,        # early-stopping patience in epochs
    "val_fraction": 0.2,   # fraction of training subjects held out for early stopping
    "balance": "weight",   # class imbalance: weighted loss ("weight"), balanced sampling ("sample") or None
    "hidden": 32,          # hidden width of neural models
    "layers": 3,           # layers of PointNet / WGNN
    "window": 16,          # frames per temporal window
    "window_step": 8,      # frames between window starts
}
