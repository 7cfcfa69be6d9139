"""Starting points for training: encoders pretrained on large simulated cohorts.

geopain ships, inside the package, small encoders pretrained by ``geopain pretrain`` on
thousands of simulated identities of each species (with the simulator's generator itself
randomised per subject), under ``geopain/models/pretrained/<species>/<scheme>/<model>/``:
a normal model directory (``config.json`` + ``model.safetensors``) plus ``pretrain.json``,
the exact settings that reproduce it. ``PainEstimator(init="pretrained")`` starts from it
(every weight whose name and shape match; the output head is new when the task differs)
and keeps its feature scaling, so the encoder sees inputs as it did in pretraining.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import GeopainError, MissingWeightsError
from .factory import MODELS

#: Where the shipped pretrained encoders live.
PRETRAINED_ROOT = Path(__file__).parent / "pretrained"


def pretrained_dir(scheme: str, model: str) -> Path:
    """The folder of the shipped encoder of ``model`` for ``scheme`` (it may not exist)."""
    return PRETRAINED_ROOT / scheme / model


def available() -> list[tuple[str, str]]:
    """``(scheme, model)`` pairs with shipped pretrained weights."""
    out = []
    for cfg in sorted(PRETRAINED_ROOT.glob("*/*/*/config.json")):
        d = cfg.parent
        out.append((f"{d.parent.parent.name}/{d.parent.name}", d.name))
    return out


@dataclass
class InitSource:
    """Weights and feature scaling of a trained model directory, to start training from."""

    directory: Path
    state: dict[str, torch.Tensor]
    scaler: dict[str, np.ndarray]
    model_kwargs: dict[str, Any]

    def output_layer(self, model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray] | None:
        """``(w (1, P), b (1,))`` of the source's output layer when it gave one value (a score)
        and ``model`` got a new output layer for another task; else ``None``."""
        prefix = getattr(model, "init_prefix", "")
        own = model.state_dict()
        for name, value in self.state.items():
            if name.startswith("head.net.") and name.endswith(".weight") and value.shape[0] == 1:
                target = prefix + name
                if target in own and own[target].shape != value.shape and value.shape[1] == own[target].shape[1]:
                    bias = self.state[name[: -len("weight")] + "bias"]
                    return value.numpy().astype(np.float64), bias.numpy().astype(np.float64)
        return None

    def fits(self, estimator) -> bool:
        """Same width and depth as ``estimator`` would build, and a frame model."""
        kw = self.model_kwargs
        return (not estimator.temporal and kw.get("hidden") == estimator.hidden
                and kw.get("layers", estimator.layers) == estimator.layers and not estimator.model_params)

    def apply(self, model: torch.nn.Module) -> dict[str, Any]:
        """Copy every tensor whose name and shape match into ``model``; returns what was copied."""
        own = model.state_dict()
        prefix = getattr(model, "init_prefix", "")
        loaded, skipped = [], []
        for name, value in self.state.items():
            # a model that embeds the source as a part (``init_prefix``) takes only that part
            target = prefix + name
            if target in own and own[target].shape == value.shape:
                own[target] = value.clone()
                loaded.append(target)
            else:
                skipped.append(name)
        if not loaded:
            raise GeopainError(f"{self.directory}: none of its weights fit this model (different architecture or size)")
        model.load_state_dict(own)
        return {"from": str(self.directory), "loaded": loaded, "skipped": skipped}


def _source_model(estimator) -> str:
    """The model whose shipped encoder ``estimator`` starts from (registry ``pretrained_from``)."""
    return MODELS.info(estimator.model).get("pretrained_from", estimator.model)


def load_init(init: str | os.PathLike, estimator) -> InitSource:
    """The starting point named by ``init`` (``"pretrained"`` or a model directory) for ``estimator``.

    Checks that it was trained on the same scheme, model family and graph settings.
    """
    if str(init) == "pretrained":
        directory = pretrained_dir(estimator.scheme_, _source_model(estimator))
        if not (directory / "config.json").is_file():
            have = ", ".join(f"{m} on {s}" for s, m in available()) or "none"
            raise MissingWeightsError(
                f"no pretrained {_source_model(estimator)!r} encoder ships for {estimator.scheme_} (shipped: {have}); "
                f"make one with 'geopain pretrain --scheme {estimator.scheme_} --model {_source_model(estimator)} -o DIR' "
                f"and pass init=DIR (--init DIR)")
    else:
        directory = Path(init)
    source = type(estimator).load(directory)
    if source.scheme_ != estimator.scheme_:
        raise GeopainError(f"{directory}: trained on scheme {source.scheme_}, not {estimator.scheme_}")
    if source._kind != "torch":
        raise GeopainError(f"{directory}: a {source.model!r} model has no network weights to start from")
    if (source.graph or {}) != (estimator.graph or {}):
        raise GeopainError(f"{directory}: built with graph settings {source.graph}, not {estimator.graph}")
    return InitSource(directory=directory, state=source.model_.state_dict(), scaler=dict(source.scaler_),
                      model_kwargs=dict(source.model_kwargs_))


def resolve_init(init: str | os.PathLike | None, estimator) -> InitSource | None:
    """``None``/``"none"``: random; ``"auto"``: the shipped encoder when one exists for the
    estimator's scheme and model and fits its size, else random; anything else: :func:`load_init`."""
    if init is None or str(init) == "none":
        return None
    if str(init) == "auto":
        if not (pretrained_dir(estimator.scheme_, _source_model(estimator)) / "config.json").is_file():
            return None
        try:
            source = load_init("pretrained", estimator)
        except GeopainError:
            return None
        return source if source.fits(estimator) else None
    return load_init(init, estimator)
