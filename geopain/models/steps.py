"""The steps of a pain pipeline, each a small transformer in the scikit-learn way.

::

    LandmarkSequence list --Normalize--> Frames (pose and scale out, template frame)
                          --Reference--> Frames (optionally: each person's own reference out)
                          --IdentityAugment (training only)--> Frames with other identities
                          --GraphFeatures / MeasurementFeatures--> feature dict
                          --FeatureScaler--> scaled feature dict  --> model

:class:`Frames` carries the per-frame arrays and the :class:`~geopain.species.Scheme` object
along, so no step looks the scheme up again. :class:`~geopain.models.PainEstimator` is the
one-line front door that builds the usual chain; the steps can be used and tested alone.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import GeopainError, ReferenceUnavailableError
from ..graphs import FacialGraphBuilder
from ..landmarks import LandmarkSequence
from ..species import Scheme

#: Per-person references a pipeline can use (see :class:`Reference`).
REFERENCES = ("none", "first-frames", "subject-median", "neutral-labelled")


@dataclass
class Frames:
    """Every frame of a list of sequences, flattened: ``F`` frames of ``N`` landmarks.

    ``coords (F, N, 3)`` template units (NaN missing), ``confidence (F, N)``, ``subject (F,)``
    and ``sequence (F,)`` ids (str), ``seq_index (F,)`` which input sequence, ``time (F,)``
    seconds, ``found (F,)`` a face was found, ``neutral (F,)`` user-labelled neutral frames
    (NaN unknown), ``reference (F,)`` which per-person reference was applied.
    """

    scheme: Scheme
    coords: np.ndarray
    confidence: np.ndarray
    subject: np.ndarray
    sequence: np.ndarray
    seq_index: np.ndarray
    time: np.ndarray
    found: np.ndarray
    neutral: np.ndarray
    reference: np.ndarray

    def __len__(self) -> int:
        return len(self.coords)

    def with_coords(self, coords: np.ndarray, **changes: Any) -> "Frames":
        return replace(self, coords=np.asarray(coords, dtype=np.float32), **changes)


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def _neutral_labels(seq: LandmarkSequence) -> np.ndarray:
    """``(T,)`` 1 where the user marked a frame neutral, 0 where not, NaN unknown."""
    if "neutral" in seq.labels:
        return np.asarray(seq.labels["neutral"], dtype=np.float64)
    return np.full(seq.n_frames, np.nan)


class Normalize:
    """Sequences -> :class:`Frames` in the scheme's template frame (pose, position and size out)."""

    def __init__(self, scheme: Scheme):
        self.scheme = scheme

    def transform(self, seqs: Sequence[LandmarkSequence]) -> Frames:
        from ..geometry.normalize import normalize

        normed = [normalize(s) for s in seqs]
        lengths = [s.n_frames for s in seqs]
        rep = lambda v: np.repeat(np.asarray(v, dtype=object), lengths).astype(str)  # noqa: E731
        ts = np.concatenate([s.timestamps for s in seqs]) if seqs else np.zeros(0)
        fr = np.concatenate([s.frames for s in seqs]).astype(np.float64) if seqs else np.zeros(0)
        fps = np.concatenate([np.full(s.n_frames, s.fps or 25.0) for s in seqs]) if seqs else np.zeros(0)
        coords = np.concatenate([s.coords for s in normed], 0).astype(np.float32)
        return Frames(
            scheme=self.scheme, coords=coords,
            confidence=np.concatenate([s.confidence for s in normed], 0),
            subject=rep([s.subject for s in seqs]), sequence=rep([f"{s.subject}/{s.sequence}/{s.face_id}" for s in seqs]),
            seq_index=np.repeat(np.arange(len(seqs)), lengths),
            time=np.where(np.isfinite(ts), ts, fr / fps),
            found=np.concatenate([s.face_found for s in normed]),
            neutral=np.concatenate([_neutral_labels(s) for s in seqs]),
            reference=np.full(len(coords), "none", dtype=object),
        )


class Reference:
    """Per-person reference: each frame's geometry relative to the same person's own face.

    ``kind``:

    - ``"none"``: nothing (the model must have learned what identity is not);
    - ``"first-frames"``: the median of each sequence's first ``first_frames`` frames with a
      face (recordings that start at rest); the sequence needs more frames than that;
    - ``"subject-median"``: the median of each subject's frames (subject-wise
      standardisation, label-free); needs ``min_frames`` frames of the subject;
    - ``"neutral-labelled"``: the median of the frames marked neutral (label ``neutral`` = 1,
      e.g. a calm baseline recording); while fitting, frames with no pain label stand in
      where no frame is marked.

    The reference shape is subtracted and the template put back
    (:func:`~geopain.geometry.neutral.subtract_neutral`): the result has the template's identity
    and the person's expression. :meth:`problem` says, in one line, why an input cannot
    support the reference (one photo of a person, a folder of different people).
    """

    def __init__(self, kind: str = "none", min_frames: int = 8, first_frames: int = 10):
        if kind not in REFERENCES:
            raise GeopainError(f"reference must be one of {REFERENCES}, got {kind!r}")
        self.kind, self.min_frames, self.first_frames = kind, int(min_frames), int(first_frames)

    def _groups(self, frames: Frames) -> np.ndarray:
        return frames.sequence if self.kind == "first-frames" else frames.subject

    def _reference_rows(self, frames: Frames) -> dict[str, np.ndarray]:
        """``{group: frame indices}`` that define each group's reference (may be empty)."""
        groups = self._groups(frames)
        out: dict[str, np.ndarray] = {}
        for g in np.unique(groups):
            rows = np.flatnonzero((groups == g) & frames.found)
            if self.kind == "first-frames":
                rows = rows[: self.first_frames] if len(rows) > self.first_frames else rows[:0]
            elif self.kind == "neutral-labelled":
                rows = rows[frames.neutral[rows] == 1]
            elif len(rows) < self.min_frames:
                rows = rows[:0]
            out[str(g)] = rows
        return out

    def problem(self, frames: Frames) -> str | None:
        """Why ``frames`` cannot support this reference (one line), or ``None``."""
        if self.kind == "none":
            return None
        groups = self._groups(frames)
        rows = self._reference_rows(frames)
        for g, r in rows.items():
            if len(r):
                continue
            n = int(((groups == g) & frames.found).sum())
            what = "sequence" if self.kind == "first-frames" else "subject"
            if self.kind == "first-frames":
                need = f"more than {self.first_frames} frames with a face"
            elif self.kind == "subject-median":
                need = f"at least {self.min_frames} frames with a face of the same person"
            else:
                need = "frames marked neutral (a 'neutral' label of 1)"
            return f"{what} {g!r} has {n} frame(s) with a face; the {self.kind!r} reference needs {need}"
        return None

    def transform(self, frames: Frames, fitting: bool = False, labels: np.ndarray | None = None) -> Frames:
        """Apply the reference; raises :class:`ReferenceUnavailableError` where it cannot.

        ``labels (F,)`` (training targets; fit time only) stand in for missing neutral marks.
        """
        from ..geometry.neutral import subtract_neutral

        if self.kind == "none":
            return frames
        neutral = frames.neutral
        if self.kind == "neutral-labelled" and fitting and labels is not None:
            neutral = np.where(np.isfinite(neutral), neutral, (np.asarray(labels) == 0).astype(np.float64))
        frames = replace(frames, neutral=neutral)
        why = self.problem(frames)
        if why is not None:
            raise ReferenceUnavailableError(why)
        groups = self._groups(frames)
        coords = frames.coords.copy()
        template = frames.scheme.template
        for g, rows in self._reference_rows(frames).items():
            members = groups == g
            ref = _nanmedian(frames.coords[rows].astype(np.float64), 0)
            coords[members] = subtract_neutral(frames.coords[members], ref, template)
        label = np.full(len(frames), self.kind, dtype=object)
        return frames.with_coords(coords, reference=label)


class IdentityAugment:
    """Training-time identity variation far beyond the training subjects.

    Each call gives every frame, with probability ``p``, another identity:

    - **identity swap**: the frame's subject's median shape is replaced by another training
      subject's, scaled away from the mean identity by a random factor in ``[0.5, 1.5 * spread]``
      (label-free: medians over all of a subject's frames);
    - **smooth morph**: a random low-order polynomial displacement field over the template
      (what any face shape differs by), of the same size as the subjects' identity spread;
    - **mirror**: left and right landmarks swapped and x negated (pain is not lateral).

    The expression (the frame minus its subject's median) is kept, so the model sees the same
    pain on many faces and learns what identity is not. With ``expression`` > 0 it is varied too,
    as faces and generators differ in how an action unit moves the points: each region's
    movement scaled by a log-normal gain (sd ``0.4 * expression``), every movement turned by a
    random rotation (up to ``20° * expression``, at most 90°) and spread to the graph neighbours
    (a share up to ``0.5 * expression``, at most all of it), so the model learns a family of pain
    geometries, not one face's.
    """

    def __init__(self, p: float = 0.5, spread: float = 1.5, morph: float = 1.0, mirror: float = 0.5,
                 expression: float = 0.0, seed: int = 0):
        if expression < 0:
            raise GeopainError(f"IdentityAugment: expression must be >= 0, got {expression}")
        self.p, self.spread, self.morph, self.mirror, self.seed = p, spread, morph, mirror, seed
        self.expression = expression

    def fit(self, frames: Frames) -> "IdentityAugment":
        subj = frames.subject
        names = np.unique(subj)
        med = np.stack([_nanmedian(frames.coords[(subj == s) & frames.found].astype(np.float64), 0) for s in names])
        med = np.where(np.isfinite(med), med, frames.scheme.template[None])
        self.subjects_ = names
        self.medians_ = med  # (S, N, 3)
        self.mean_ = med.mean(0)
        dev = med - self.mean_
        self.identity_rms_ = float(np.sqrt(np.mean(dev ** 2))) if len(names) > 1 else 0.02
        self.identity_rms_ = max(self.identity_rms_, 1e-3)
        t = frames.scheme.template.astype(np.float64)
        self.centre_ = t.mean(0)
        self.extent_ = float(np.abs(t - self.centre_).max()) or 1.0
        edges = frames.scheme.edges
        A = np.zeros((frames.scheme.n_points,) * 2)
        if len(edges):
            A[edges[:, 0], edges[:, 1]] = A[edges[:, 1], edges[:, 0]] = 1.0
        self.neighbour_mean_ = A / np.maximum(A.sum(1, keepdims=True), 1.0)  # (N, N): mean over graph neighbours
        return self

    def _morph_basis(self, template: np.ndarray) -> np.ndarray:
        """``(N, P)`` monomials up to degree 2 of the template's normalised coordinates."""
        u = (template - self.centre_) / self.extent_
        x, y, z = u[:, 0], u[:, 1], u[:, 2]
        return np.stack([x, y, z, x * x, y * y, x * y, y * z, x * z, z * z], 1)

    def _vary_expression(self, expr: np.ndarray, scheme: Scheme, rng: np.random.Generator) -> np.ndarray:
        """``(F, N, 3)`` expressions with per-frame region gains, a rotation and neighbour spread."""
        from scipy.spatial.transform import Rotation

        F = len(expr)
        s = self.expression
        region = scheme.region_index  # (N,), -1 outside every region
        gains = np.exp(rng.normal(0.0, 0.4 * s, (F, int(region.max()) + 2)))[:, region + 1]  # (F, N)
        axis = rng.normal(size=(F, 3))
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        angle = np.deg2rad(min(20.0 * s, 90.0)) * rng.uniform(-1.0, 1.0, F)
        R = Rotation.from_rotvec(axis * angle[:, None]).as_matrix()  # (F, 3, 3)
        moved = np.einsum("fnj,fij->fni", np.nan_to_num(expr) * gains[..., None], R)
        share = (min(0.5 * s, 1.0) * rng.uniform(0.0, 1.0, F))[:, None, None]
        moved = (1.0 - share) * moved + share * np.einsum("mn,fnj->fmj", self.neighbour_mean_, moved)
        return np.where(np.isfinite(expr), moved, expr)

    def transform(self, frames: Frames, epoch: int) -> Frames:
        rng = np.random.default_rng((self.seed, epoch))
        F = len(frames)
        coords = frames.coords.astype(np.float64)
        index = {s: i for i, s in enumerate(self.subjects_)}
        own = np.array([index.get(s, -1) for s in frames.subject])
        own_med = np.where((own >= 0)[:, None, None], self.medians_[np.maximum(own, 0)], self.mean_[None])
        expr = coords - own_med
        pick = rng.random(F) < self.p
        new_subj = rng.integers(0, len(self.subjects_), F)
        factor = rng.uniform(min(0.5, self.spread), max(0.5, 1.5 * self.spread), F)[:, None, None]
        new_id = self.mean_[None] + factor * (self.medians_[new_subj] - self.mean_[None])
        basis = self._morph_basis(frames.scheme.template.astype(np.float64))  # (N, P)
        coef = rng.normal(0, 1, (F, basis.shape[1], 3))
        # one BLAS product (N, P) @ (P, F*3) instead of a slower einsum over frames
        field = (basis @ coef.transpose(1, 0, 2).reshape(basis.shape[1], F * 3)).reshape(-1, F, 3).transpose(1, 0, 2)
        rms = np.sqrt(np.mean(field ** 2, axis=(1, 2), keepdims=True)) + 1e-12
        field *= self.morph * self.identity_rms_ * rng.uniform(0, 1.5, (F, 1, 1)) / rms
        if self.expression > 0:
            expr = np.where(pick[:, None, None], self._vary_expression(expr, frames.scheme, rng), expr)
        out = np.where(pick[:, None, None], new_id + field + expr, coords)
        flip = pick & (rng.random(F) < self.mirror)
        if flip.any() and len(frames.scheme.mirror_pairs):
            mirrored = out[flip][:, frames.scheme.flip_index]
            mirrored[..., 0] *= -1
            out[flip] = mirrored
        return frames.with_coords(out)


class MeasurementFeatures:
    """Frames -> ``{"features": (F, M)}`` the species' pain-unit measurements (scale-free)."""

    def transform(self, frames: Frames) -> dict[str, Any]:
        from ..geometry.measure import measure_array

        return {"features": np.asarray(measure_array(frames.coords, frames.scheme), dtype=np.float64)}


def feature_blocks(info: dict[str, Any], n_features: int, n_nodes: int) -> dict[str, np.ndarray]:
    """``{block: (n_features,) bool}``: where each block sits in a model's per-frame
    ``features`` (the layout :class:`GraphFeatures` writes): the measurements, then the
    flattened coordinates (``3 * n_nodes`` columns), by registry metadata ``measurements`` /
    ``coordinates``. A model with neither flag (a measurement baseline) has measurements only;
    empty blocks are left out."""
    n_coords = 3 * n_nodes if info.get("coordinates") else 0
    cols = np.arange(n_features)
    blocks = {}
    if info.get("measurements") or not n_coords:
        blocks["measurements"] = cols < n_features - n_coords
    if n_coords:
        blocks["coordinates"] = cols >= n_features - n_coords
    return {name: mask for name, mask in blocks.items() if mask.any()}


class GraphFeatures:
    """Frames -> dense facial-graph tensors ``x, edge_index, edge_weight, edge_attr, pos, time``,
    and ``features (F, M [+ 3N])`` for models with a linear part: the measurements
    (``measurements=True``) then the flattened normalised coordinates, missing points at the
    template's (``coordinates=True``; registry metadata of the same names). ``edges=False``
    (registry ``graph=False``: point models): no per-frame edge tensors (``edge_weight`` and
    ``edge_attr`` are ``None``), which such models never read."""

    def __init__(self, scheme: Scheme, graph: dict[str, Any] | None = None, measurements: bool = False,
                 coordinates: bool = False, edges: bool = True):
        self.builder = FacialGraphBuilder(scheme, **{**(graph or {}), "edges": edges})
        self.measurements, self.coordinates = measurements, coordinates

    def transform(self, frames: Frames) -> dict[str, Any]:
        gt = self.builder.tensors(frames.coords, confidence=frames.confidence)

        def t(v):
            return None if v is None else torch.as_tensor(v).float()

        out = {"x": t(gt.x), "edge_index": torch.as_tensor(gt.edge_index).long(),
               "edge_weight": t(gt.edge_weight), "edge_attr": t(gt.edge_attr), "pos": t(gt.pos),
               "time": torch.as_tensor(frames.time, dtype=torch.float32)}
        linear = []
        if self.measurements:
            linear.append(torch.as_tensor(MeasurementFeatures().transform(frames)["features"], dtype=torch.float32))
        if self.coordinates:
            linear.append(out["pos"].reshape(len(frames), -1))
        if linear:
            out["features"] = torch.cat(linear, 1)
        return out


#: Inputs that are standardised per channel by :class:`FeatureScaler`.
SCALED = ("x", "edge_attr", "features")


class FeatureScaler:
    """Per-channel mean / sd of node, edge and measurement features over training frames
    (NaN-aware); ``transform`` standardises and turns NaN into 0 (the mean)."""

    def fit(self, inputs: dict[str, Any], frames: np.ndarray) -> "FeatureScaler":
        stats: dict[str, np.ndarray] = {}
        idx = torch.as_tensor(np.asarray(frames, dtype=np.int64))
        for key in SCALED:
            t = inputs.get(key)
            if t is None:
                continue
            v = t[idx].reshape(-1, t.shape[-1]).double()
            mean = torch.nanmean(v, 0)
            std = torch.sqrt(torch.nanmean((v - mean) ** 2, 0))
            std = torch.where(torch.isfinite(std) & (std > 1e-8), std, torch.ones_like(std))
            stats[f"{key}_mean"] = torch.nan_to_num(mean).numpy()
            stats[f"{key}_std"] = std.numpy()
        self.stats_ = stats
        return self

    @classmethod
    def from_stats(cls, stats: dict[str, np.ndarray]) -> "FeatureScaler":
        out = cls()
        out.stats_ = dict(stats)
        return out

    def transform(self, inputs: dict[str, Any]) -> dict[str, Any]:
        out = dict(inputs)
        for key in SCALED:
            if out.get(key) is not None and f"{key}_mean" in self.stats_:
                mean = torch.as_tensor(self.stats_[f"{key}_mean"], dtype=torch.float32)
                std = torch.as_tensor(self.stats_[f"{key}_std"], dtype=torch.float32)
                out[key] = torch.nan_to_num((out[key] - mean) / std).contiguous()  # row-major: faster batches
        for key in ("edge_weight", "pos"):
            if out.get(key) is not None:
                out[key] = torch.nan_to_num(out[key])
        return out
