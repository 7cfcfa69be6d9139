"""Saving and loading fitted :class:`~geopain.models.PainEstimator` objects, safely.

A model directory holds:

* ``config.json``: format tag, geopain version, the estimator's parameters as given, the
  learned scalars (scheme, number of classes, score range, feature count, model kwargs), the
  calibration (temperature fitted on held-out subjects) and the abstention thresholds;
* ``model.safetensors``: every array: the torch state dict (``model.*``), feature scalers
  (``scaler.*``), the shared edge list, or a baseline's exported arrays (``baseline.*``), the
  training embedding statistics of the out-of-distribution check (``ood.*``);
* ``training_curves.csv``/``.png`` when the model was trained by a loop.

Loading reads JSON and safetensors only: nothing is unpickled, so a model file from a
stranger cannot run code. This module only handles the files; what goes into them is the
estimator's (:meth:`PainEstimator.get_state` / :meth:`~PainEstimator.set_state`), so neither
module imports the other's internals. ``load(directory)`` is ``PainEstimator.load`` and lives in
:mod:`geopain.models` (it needs the class).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import InputError
from ..jsonio import write_json

FORMAT = "geopain-model/1"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def write_model_dir(directory: str | os.PathLike, config: dict[str, Any], tensors: dict[str, torch.Tensor],
                    history=None) -> Path:
    """Write ``config`` (with the format tag and geopain version added) and ``tensors`` as a
    model directory (created); ``history`` (a training history) adds its curves. The weights
    are written to a temporary file and renamed, so a crash never leaves half a model."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT})
    os.replace(tmp, d / WEIGHTS)
    write_json(d / CONFIG, {"format": FORMAT, "geopain_version": __version__, **config})
    if history is not None:
        history.save(d)
    return d


def read_model_dir(directory: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(config, tensors)`` of a model directory written by :func:`write_model_dir` (JSON and
    safetensors only); a one-line :class:`~geopain.errors.InputError` for anything else."""
    from safetensors.torch import load_file

    d = Path(directory)
    cfg_path, w_path = d / CONFIG, d / WEIGHTS
    if not cfg_path.is_file() or not w_path.is_file():
        raise InputError(d, f"not a geopain model directory (needs {CONFIG} and {WEIGHTS})")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(cfg_path, f"not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else None
        raise InputError(cfg_path, f"unknown model format {got!r} (expected {FORMAT})")
    try:
        tensors = load_file(str(w_path))
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(w_path, f"not a readable safetensors file ({exc})") from None
    return config, tensors
