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
stranger cannot run code.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..jsonio import to_jsonable, write_json

FORMAT = "geopain-model/1"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def save(estimator, directory: str | os.PathLike) -> Path:
    """Write a fitted estimator to ``directory`` (created); returns the directory."""
    from safetensors.torch import save_file

    from .. import __version__

    estimator._check_fitted()
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    kind = estimator._kind
    if kind == "sklearn":
        for k, v in estimator.model_.arrays_.items():
            tensors[f"baseline.{k}"] = torch.as_tensor(np.ascontiguousarray(v))
        baseline_config = estimator.model_.config()
    else:
        for k, v in estimator.model_.state_dict().items():
            tensors[f"model.{k}"] = v.detach().cpu().contiguous()
        tensors["edge_index"] = torch.as_tensor(np.ascontiguousarray(estimator.edge_index_))
        baseline_config = None
    for k, v in estimator.scaler_.items():
        tensors[f"scaler.{k}"] = torch.as_tensor(np.ascontiguousarray(v))
    for k, v in (getattr(estimator, "ood_", None) or {}).items():  # abstention: training embedding statistics
        tensors[f"ood.{k}"] = torch.as_tensor(np.ascontiguousarray(v))
    config = {
        "format": FORMAT,
        "geopain_version": __version__,
        "estimator": "PainEstimator",
        "params": to_jsonable(estimator.get_params()),
        "kind": kind,
        "scheme": estimator.scheme_,
        "n_classes": estimator.n_classes_,
        "score_range": list(estimator.score_range_),
        "n_features": estimator.n_features_,
        "model_kwargs": to_jsonable(estimator.model_kwargs_),
        "baseline": to_jsonable(baseline_config),
        # temperature fitted on held-out subjects; abstention thresholds (edit to change them)
        "calibration": to_jsonable(getattr(estimator, "calibration_", None)),
        "abstention": to_jsonable(getattr(estimator, "abstention_", None)),
    }
    tmp = d / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT})
    os.replace(tmp, d / WEIGHTS)
    write_json(d / CONFIG, config)
    if estimator.history_ is not None:
        estimator.history_.save(d)
    return d


def load(directory: str | os.PathLike):
    """Load an estimator written by :func:`save` (JSON + safetensors only)."""
    from safetensors.torch import load_file

    from .baselines import MeasurementBaseline
    from .estimator import PainEstimator

    d = Path(directory)
    cfg_path, w_path = d / CONFIG, d / WEIGHTS
    if not cfg_path.is_file() or not w_path.is_file():
        raise InputError(d, f"not a geopain model directory (needs {CONFIG} and {WEIGHTS})")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(cfg_path, f"not valid JSON ({exc})") from None
    if config.get("format") != FORMAT:
        raise InputError(cfg_path, f"unknown model format {config.get('format')!r} (expected {FORMAT})")
    try:
        tensors = load_file(str(w_path))
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(w_path, f"not a readable safetensors file ({exc})") from None
    params = dict(config["params"])
    if params.get("baseline") is not None and "reference" not in params:  # written before 'reference'
        params["reference"] = {"first": "first-frames"}.get(params["baseline"], params["baseline"])
    params.pop("subject_norm", None)
    params["baseline"] = None
    est = PainEstimator(**params)
    est.scheme_ = config["scheme"]
    from ..species import get_scheme

    est.scheme_obj_ = get_scheme(est.scheme_)
    est.n_classes_ = int(config["n_classes"])
    est.score_range_ = tuple(config["score_range"])
    est.n_features_ = int(config["n_features"])
    est.model_kwargs_ = dict(config["model_kwargs"])
    est.scaler_ = {k[len("scaler."):]: v.numpy() for k, v in tensors.items() if k.startswith("scaler.")}
    est.history_ = None
    est.calibration_ = config.get("calibration") or {"method": "none", "temperature": 1.0}
    est.temperature_ = float(est.calibration_.get("temperature", 1.0))
    est.abstention_ = config.get("abstention")
    est.ood_ = {k[len("ood."):]: v.double().numpy() for k, v in tensors.items() if k.startswith("ood.")}
    if config["kind"] == "sklearn":
        arrays = {k[len("baseline."):]: v.numpy() for k, v in tensors.items() if k.startswith("baseline.")}
        est.model_ = MeasurementBaseline.from_arrays(arrays, config["baseline"])
    else:
        est.edge_index_ = tensors["edge_index"].numpy()
        est.model_ = est._build_model(est.n_features_, dict(est.model_kwargs_))
        state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        try:
            est.model_.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError(w_path, f"weights do not fit the configured model ({str(exc).splitlines()[0]})") from None
        est.model_.eval()
    return est
