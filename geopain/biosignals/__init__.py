"""Biosignals next to the face: GSR, ECG and EMG features (SciPy), the camera's remote pulse (rPPG
from the skin colour, :mod:`geopain.rppg`), simulated signals with a set coupling to pain, and
sequence-level fusion with the face models' scores (or graph embedding).

    biosignal_features(table) -> one row of features per (subject, sequence), with what is missing
    simulate_biosignals(sequences, coupling=1.0) -> a per-frame side table like BioVid's
    FusionModel("early" | "late" | "attention" | "bio" | "face").fit(face, bio, labels=...).predict(face, bio)
    face_sequence_table(estimator, sequences) -> per-sequence face probability and graph embedding
"""
from .features import (FEATURE_NAMES, FEATURES, SIGNALS, biosignal_features, ecg_features, emg_features, gsr_features,
                       r_peaks, rppg_features)
from .simulate import simulate_biosignals

#: the fusion models live with the other models (geopain.models.fusion); imported on first use
#: so that reading biosignal features never imports torch
_FROM_MODELS = ("FUSIONS", "FusionModel", "FusionEstimator", "face_sequence_table")


def __getattr__(name: str):
    if name in _FROM_MODELS:
        from ..models import fusion

        return getattr(fusion, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["biosignal_features", "gsr_features", "ecg_features", "emg_features", "rppg_features", "r_peaks", "FEATURE_NAMES", "FEATURES",
           "SIGNALS", "simulate_biosignals", *_FROM_MODELS]
