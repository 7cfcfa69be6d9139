"""Pretraining on large simulated cohorts: ``geopain pretrain``.

A model that scores one photo of a stranger must know what identity is *not*. The
simulator (:mod:`geopain.synth`) makes that cheap: thousands of identities of a species, every
confounder, head pose, detector noise, and (preset ``"pretrain"``) a generator randomised per
subject, so the network learns the family of pain geometries rather than one generator's
displacement fields. :func:`pretrain` simulates such a cohort from a seed, trains a
:class:`~geopain.models.PainEstimator` on it (reference-free, identity augmentation on) and
saves an ordinary model directory plus ``pretrain.json``: every setting that reproduces it.

The encoders geopain ships (``geopain/models/pretrained/``) were made by this function with
the settings in their ``pretrain.json``; ``PainEstimator(init="pretrained")`` starts from them.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from . import __version__
from .errors import GeopainError
from .jsonio import write_json
from .synth import SynthConfig, simulate

PRETRAIN_FILE = "pretrain.json"


@dataclass
class PretrainConfig:
    """Everything that determines a pretrained encoder (stored as ``pretrain.json``).

    ``synth``: :class:`~geopain.synth.SynthConfig` changes applied to the preset ``preset``;
    ``estimator``: :class:`~geopain.models.PainEstimator` parameters.
    """

    species: str = "human"
    scheme: str | None = None
    model: str = "wgnn"
    task: str = "score"
    subjects: int = 1000
    sequences_per_subject: int = 2
    frames: int = 12
    preset: str = "pretrain"
    synth: dict[str, Any] = field(default_factory=dict)
    estimator: dict[str, Any] = field(default_factory=lambda: {"epochs": 10, "patience": 3, "batch_size": 256,
                                                                "lr": 2e-3, "hidden": 32, "layers": 3})
    seed: int = 0

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "PretrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known - {"geopain_version", "seconds", "frames_total", "scheme_key"})
        if unknown:
            raise GeopainError(f"pretrain config: unknown settings {unknown}")
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def read(cls, path: str | os.PathLike) -> "PretrainConfig":
        p = Path(path)
        try:
            return cls.from_dict(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise GeopainError(f"{p}: not a readable pretrain config ({exc})") from None


def simulate_cohort(cfg: PretrainConfig) -> list:
    """The simulated cohort of ``cfg`` (deterministic in ``cfg.seed``)."""
    synth = SynthConfig.preset(cfg.preset, **cfg.synth)
    return simulate(species=cfg.species, scheme=cfg.scheme, n_subjects=cfg.subjects,
                    sequences_per_subject=cfg.sequences_per_subject, frames=cfg.frames, seed=cfg.seed, config=synth)


def pretrain(cfg: PretrainConfig, output: str | os.PathLike, verbose: bool = True) -> Path:
    """Simulate, train and save; returns the model directory (with ``pretrain.json``)."""
    from .models import PainEstimator

    started = time.perf_counter()
    seqs = simulate_cohort(cfg)
    params = {"reference": "none", "augment": True, "seed": cfg.seed, **cfg.estimator}
    est = PainEstimator(model=cfg.model, task=cfg.task, verbose=verbose, **params)
    est.fit(seqs)
    out = est.save(output)
    record = {**asdict(cfg), "scheme_key": est.scheme_, "geopain_version": __version__,
              "frames_total": int(sum(s.n_frames for s in seqs)), "seconds": round(time.perf_counter() - started, 1)}
    write_json(out / PRETRAIN_FILE, record)
    return out
