"""``geopain.synth``: a principled face simulator for labelled landmark data (SIMULATION).

Everything this package produces is simulated: it is for demos, tests, benchmarks and for
checking that a pipeline can learn what it should. A result on simulated data is never a
clinical accuracy.

A species is data: ``species/<species>/synth.yaml`` defines the facial actions (displacement
fields on the landmarks of a base scheme), how each unit of the species' pain scale is
expressed, non-pain confounders, identity variation, head pose and occluders. See
:mod:`geopain.synth.simulator` for the generative model and the label rules.

Public API::

    simulate(species="human", n_subjects=10, sequences_per_subject=4, frames=60, seed=0,
             scheme=None, config=None) -> list[LandmarkSequence]
    SynthConfig(...)                     # difficulty knobs (noise, pose, confounders, ...)
    SynthConfig.preset("pretrain")       # randomised generator per subject (variability=1) for pretraining
    express(species, {"AU4": 3}) -> (T, N, 3)    # a face showing given intensities
    action_support(species, "AU4") -> (N,) bool  # landmarks a unit / action moves
    load_spec(species), face_model(species), available_species()
"""
from .simulator import (
    PRESETS,
    Simulator,
    POSE_CONVENTION,
    SynthConfig,
    action_support,
    conversion_matrix,
    envelope,
    express,
    resolve_scheme,
    rotation_matrices,
    simulate,
)
from .spec import VARIATION, FaceModel, FaceVariant, SynthSpec, available_species, face_model, load_spec

__all__ = [
    "simulate", "Simulator", "PRESETS", "SynthConfig", "express", "action_support", "load_spec", "face_model", "available_species",
    "FaceModel", "FaceVariant", "VARIATION", "SynthSpec", "POSE_CONVENTION", "envelope", "rotation_matrices", "conversion_matrix",
    "resolve_scheme",
]
