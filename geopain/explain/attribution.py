"""Attributions of a fitted :class:`~geopain.models.PainEstimator`'s pain output, per frame.

What is explained (:func:`explained_output`): for ``task="binary"`` the pain log-odds
``log p(pain) - log p(no pain)``; for ``"levels"`` the expected level ``sum_k k p_k``; for
``"score"`` the score. Every method satisfies *completeness*: the attributions of a frame sum
to ``f(frame) - f(reference frame)``; the reference frame is the species template (the
neutral face of the scheme, through the same pipeline), with the frame's own missing points
kept missing so that a point the detector did not see gets no attribution.

- **Neural models** (registry ``kind="torch"``): integrated gradients (Captum
  ``IntegratedGradients``, Gauss-Legendre quadrature) on every input at once: node features
  ``x (B, N, F)``, edge weights ``(B, E)``, edge features ``(B, E, K)`` and, for models that
  take them, the measurements ``(B, M)``. All frames are explained in one vectorised pass
  (``frames x steps`` samples, chunked). PyG's ``torch_geometric.explain`` (GNNExplainer) is not
  used: geopain's graph models run on dense fixed-topology batches with their own dense
  adjacency, not on PyG ``MessagePassing`` layers whose edge masks GNNExplainer injects, and
  its masks are optimised per graph (hundreds of steps per frame) with no completeness.
- **Measurement baselines** (``kind="sklearn"``): Shapley values of the measurements (Captum
  ``ShapleyValueSampling``, exact for the logistic regression up to sampling of permutations,
  which is exact for a linear model) against the template's measurements.

Completeness is exact for the baselines and within a few percent (quadrature) for models that
are smooth in their inputs (WGNN variants, PointNet, hybrid, shared-region); ``Attribution.delta``
reports it per frame. ``pointnet2`` selects neighbours and centroids by discrete kNN / farthest-point
sampling on the positions, which changes along the integration path, so its integrated gradients do
not add up (measured: error about the size of the output change); read its attributions as local
sensitivities only. Window (temporal) models are not explained.

Everything is then mapped onto landmarks (node features to their landmark, an edge's share
half to each end, a measurement's equally to the landmarks it uses), which
:mod:`geopain.explain.units` aggregates to the species' pain units and regions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import GeopainError
from ..landmarks import LandmarkSequence
from ..models.steps import Normalize
from ..tasks import canonical_task


@dataclass
class Attribution:
    """Per-frame attributions of one estimator on a list of sequences.

    ``F`` frames (all frames of the input, in order), ``N`` landmarks, ``E`` edges, ``M``
    measurements. Arrays are NaN for frames without a face.

    Attributes:
        landmarks: ``(F, N)`` attribution of each landmark (output units, e.g. log-odds).
        edges: ``(F, E)`` attribution of each edge (neural graph models; else zeros ``(F, 0)``).
        measurements: ``(F, M)`` attribution of each measurement (baselines, hybrid), or ``(F, 0)``.
        output: ``(F,)`` the explained output ``f(frame)``; ``reference_output``: ``(F,)`` ``f(reference)``.
        delta: ``(F,)`` completeness error ``sum(attributions) - (output - reference_output)``.
        edge_index: ``(2, E)`` the edges; ``measurement_names``: ``(M,)``.
        frame_ids: dict of ``(F,)`` arrays ``subject``, ``sequence``, ``face_id``, ``frame``, ``time``.
        method: the attribution method; target: what ``output`` is.
        found: ``(F,)`` frames that were explained; reference: ``(F,)`` what each frame was compared with.
        units: ``(F, U + 1)`` attribution of each pain unit and ``other`` (:mod:`geopain.explain.shapley`;
            adds up to ``output - unit_reference_output``), or ``None`` (then units come from the
            landmarks); unit_names: its columns; unit_method: how it was computed.
    """

    scheme: Any
    landmarks: np.ndarray
    edges: np.ndarray
    measurements: np.ndarray
    output: np.ndarray
    reference_output: np.ndarray
    delta: np.ndarray
    edge_index: np.ndarray
    measurement_names: list[str]
    frame_ids: dict[str, np.ndarray]
    method: str
    target: str
    found: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    reference: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    units: np.ndarray | None = None
    unit_names: list[str] = field(default_factory=list)
    unit_reference_output: np.ndarray | None = None
    unit_method: str = ""

    @property
    def total(self) -> np.ndarray:
        """``(F,)`` sum of the landmark attributions (= output - reference_output - delta)."""
        return np.nansum(self.landmarks, 1)


def explained_output(task: str) -> str:
    """What the attributions explain for ``task`` (words)."""
    return {"binary": "pain log-odds", "levels": "expected pain level", "score": "pain score"}[canonical_task(task, warn=False)]


def _target_from_log_probs(logp: torch.Tensor, task: str) -> torch.Tensor:
    """``(B,)`` explained output from ``(B, C)`` log-probabilities."""
    if task == "binary":
        return logp[:, 1] - logp[:, 0]
    levels = torch.arange(logp.shape[1], dtype=logp.dtype, device=logp.device)
    return (logp.exp() * levels).sum(1)


def _frame_ids(seqs: Sequence[LandmarkSequence]) -> dict[str, np.ndarray]:
    lengths = [s.n_frames for s in seqs]
    rep = lambda v: np.repeat(np.asarray(v, dtype=object), lengths)  # noqa: E731
    return {"subject": rep([s.subject for s in seqs]).astype(str), "sequence": rep([s.sequence for s in seqs]).astype(str),
            "face_id": np.repeat([s.face_id for s in seqs], lengths).astype(np.int64),
            "frame": np.concatenate([s.frames for s in seqs]).astype(np.int64),
            "time": np.concatenate([s.timestamps for s in seqs]).astype(np.float64)}


def _measurement_landmarks(scheme, n_points: int) -> np.ndarray:
    """``(M, N)`` each measurement's share of each landmark (rows sum to 1)."""
    W = np.zeros((len(scheme.measurements), n_points))
    for i, m in enumerate(scheme.measurements):
        lm = m.landmarks
        W[i, lm] = 1.0 / len(lm)
    return W


def feature_landmarks(est, scheme, n_cols: int) -> np.ndarray:
    """``(n_cols, N)`` each per-frame feature's share of each landmark (rows sum to 1), block by
    block as :func:`geopain.models.steps.feature_blocks` lays them out: the measurements, then
    the flattened coordinates."""
    from ..models.steps import feature_blocks

    N = scheme.n_points
    maps = {"measurements": lambda: _measurement_landmarks(scheme, N),
            "coordinates": lambda: np.repeat(np.eye(N), 3, axis=0)}
    blocks = feature_blocks(est._info, n_cols, N)
    W = np.concatenate([maps[name]() for name in blocks], 0) if blocks else np.zeros((0, N))
    if len(W) != n_cols:
        raise GeopainError(f"cannot map the {n_cols} per-frame features of {est.model!r} onto landmarks")
    return W


#: What each frame is compared with (see :func:`explain`).
REFERENCES = ("auto", "template", "calmest")


def _reference_frames(frames, calm: dict[int, np.ndarray] | None = None):
    """The reference of every frame of ``frames``: the template, or (``calm``: sequence index ->
    ``(N, 3)`` calm face of that sequence) the sequence's calm face; a frame's missing points stay
    missing, points missing in the calm face come from the template."""
    template = np.asarray(frames.scheme.template, dtype=np.float32)
    coords = np.broadcast_to(template[None], frames.coords.shape).copy()
    for q, face in (calm or {}).items():
        members = frames.seq_index == q
        coords[members] = np.where(np.isfinite(face), face, template)[None]
    missing = ~np.isfinite(frames.coords).all(-1)
    coords[missing] = np.nan
    return replace(frames, coords=coords, confidence=np.where(missing, 0.0, 1.0).astype(np.float32))


#: Share of a sequence's frames (lowest explained output) whose median face is its calm reference.
CALM_SHARE = 0.25
#: Frames ranked for calmness by their output averaged over this many neighbouring frames: ranking
#: single frames picks those whose detector noise happens to lower the output, and that noise,
#: kept in the reference, then reads as pain in every other frame (measured on simulated
#: single-unit sequences, units as input-space Shapley values: the explanation's top unit was the
#: driving unit in 44% of sequences with single-frame ranking, 74% with 5-frame averages; sheep,
#: WGNN, 50 sequences).
CALM_SMOOTH = 5


def _calm_frames(est, seqs, frames, reference: str) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """``(picks, names (F,))``: per sequence index the rows of its calm frames (its
    ``CALM_SHARE`` lowest-output frames with a face, output averaged over ``CALM_SMOOTH``
    neighbours; at least one), and per frame the reference's name."""
    from .faithfulness import explained_values

    names = np.full(len(frames), "template", dtype=object)
    picks: dict[int, np.ndarray] = {}
    counts = np.bincount(frames.seq_index[frames.found], minlength=len(seqs))
    if reference == "template" or (reference == "auto" and counts.max(initial=0) < 2):
        return picks, names  # single photos: nothing of the person to compare with
    values = explained_values(est, seqs)
    ok = frames.found & np.isfinite(values)
    for q in np.unique(frames.seq_index):
        members = np.flatnonzero(frames.seq_index == q)
        cand = members[ok[members]]
        if not len(cand) or (len(cand) < 2 and reference == "auto"):
            continue
        k = min(CALM_SMOOTH, len(cand))
        padded = np.pad(values[cand], (k // 2, k - 1 - k // 2), mode="edge")
        smooth = np.convolve(padded, np.ones(k) / k, mode="valid")
        n = max(1, int(round(CALM_SHARE * len(cand))))
        picks[int(q)] = cand[np.argsort(smooth, kind="stable")[:n]]
        names[members] = f"calm face of the sequence (median of its {n} lowest-output frames)"
    return picks, names


def _median_face(coords: np.ndarray) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(coords.astype(np.float64), 0).astype(np.float32)


def _check_frame_model(est) -> None:
    est._check_fitted()
    if est.temporal:
        raise GeopainError(f"explain works on frame models; {est.model!r} was trained on windows (temporal={est.temporal!r})")


def explain(est, sequences: Sequence[LandmarkSequence] | LandmarkSequence, n_steps: int = 16,
            chunk: int = 8192, n_samples: int = 8, seed: int = 0, reference: str = "auto",
            units: bool = True) -> Attribution:
    """Attributions of ``est``'s pain output on every frame of ``sequences`` (see module docstring).

    Args:
        est: a fitted frame-level :class:`~geopain.models.PainEstimator` (any registered kind).
        sequences: landmark sequences in (or convertible to) the model's scheme.
        n_steps: integrated-gradients quadrature points (neural models). Measured on a WGNN
            (96 frames): completeness error median / 90th percentile of the output change 1.0% /
            4.5% at 8 steps, 0.7% / 2.9% at 16 (default), 0.5% / 1.7% at 24, 0.2% / 1.0% at 32;
            the cost grows linearly with the steps.
        chunk: at most this many ``frame x step`` samples per forward/backward pass.
        n_samples: Shapley permutations (baselines).
        seed: seed of the Shapley permutations.
        reference: what each frame is compared with: ``"template"`` (the species' neutral face),
            ``"calmest"`` (the calm face of the same sequence: the landmark-wise median of its 25%
            lowest-output frames; what changed in this person's face), ``"auto"`` (calmest for sequences of several frames with a face,
            the template for single photos).
        units: also compute the pain units' Shapley values in the input space
            (:func:`geopain.explain.shapley.unit_shapley`, against the same reference), which
            :func:`~geopain.explain.units.unit_attributions` then reports.
    """
    from ..models.estimator import as_sequence_list

    if reference not in REFERENCES:
        raise GeopainError(f"reference must be one of {REFERENCES}, got {reference!r}")
    _check_frame_model(est)
    seqs = est._in_scheme(as_sequence_list(sequences))
    scheme = est.scheme_obj_
    frames = est._frames(seqs, scheme)
    picks, names = _calm_frames(est, seqs, frames, reference)
    calm = {q: _median_face(frames.coords[rows]) for q, rows in picks.items()}
    ref_frames = _reference_frames(frames, calm)
    featurizer = est._featurizer(scheme)
    ids = _frame_ids(seqs)
    index, _ = est._samples(seqs)
    F, N = len(frames), scheme.n_points
    if est._kind == "sklearn":
        att = _explain_baseline(est, scheme, featurizer, frames, ref_frames, index, ids, n_samples, seed)
    else:
        att = _explain_network(est, scheme, featurizer, frames, ref_frames, index, ids, n_steps, chunk, F, N)
    att.reference = names
    if units:
        from .shapley import unit_shapley

        # the frames before any per-person reference step: the Shapley values run the whole pipeline
        raw = frames if est._reference == "none" else Normalize(scheme).transform(seqs)
        faces = np.broadcast_to(scheme.template, (len(seqs), N, 3)).astype(np.float64)
        for q, rows in picks.items():
            faces[q] = _median_face(raw.coords[rows])
        att.unit_names, att.units, att.unit_reference_output, att.unit_method = unit_shapley(
            est, seqs, faces, normalised=raw.coords, seed=seed)
    return att


def long_table(att) -> "pd.DataFrame":
    """The attributions as one long table: frame ids, ``level`` (landmark / edge / measurement /
    unit / region), ``name``, ``attribution`` (frames with a face only)."""
    import pandas as pd

    from .units import region_attributions, unit_attributions

    rows = np.flatnonzero(att.found)
    names = list(att.scheme.landmarks)
    blocks = [("landmark", names, att.landmarks)]
    if att.edges.shape[1]:
        blocks.append(("edge", [f"{names[a]}-{names[b]}" for a, b in att.edge_index.T], att.edges))
    if att.measurements.shape[1]:
        blocks.append(("measurement", list(att.measurement_names), att.measurements))
    u = unit_attributions(att)
    blocks.append(("unit", list(u.columns), u.to_numpy()))
    r = region_attributions(att)
    blocks.append(("region", list(r.columns), r.to_numpy()))
    parts = []
    for level, labels, values in blocks:
        k = len(labels)
        v = values[rows]
        df = pd.DataFrame({key: np.repeat(arr[rows], k) for key, arr in att.frame_ids.items()})
        df["level"] = level
        df["name"] = np.tile(np.asarray(labels, dtype=object), len(rows))
        df["attribution"] = v.reshape(-1)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def _calibrated_log_probs(est, out: torch.Tensor) -> torch.Tensor:
    """Log-probabilities from raw model outputs, with the estimator's temperature when it has one."""
    t = float(getattr(est, "temperature_", 1.0) or 1.0)
    return torch.log_softmax(torch.log_softmax(out, 1) / t, 1)


def network_target(est):
    """``fn(x, edge_weight, edge_attr, features, pos, edge_index) -> (B,)``: the explained output of a
    neural estimator (empty ``edge_attr``/``features`` tensors mean "not an input")."""
    model, task = est.model_, est.task

    def fn(x, edge_weight, edge_attr, features, pos, edge_index):
        kw = {"x": x, "edge_index": edge_index, "edge_weight": edge_weight,
              "edge_attr": edge_attr if edge_attr.shape[-1] else None, "pos": pos}
        if features.shape[-1]:
            kw["features"] = features
        out = model(**kw)
        if task == "score":
            return out[:, 0] * float(est.score_range_[1])
        return _target_from_log_probs(_calibrated_log_probs(est, out), task)
    return fn


def network_inputs(est, scheme, featurizer, frames, ref_frames, index) -> tuple[tuple, tuple, torch.Tensor]:
    """``(inputs, baselines, edge_index)``: the scaled model inputs ``(x, edge_weight, edge_attr,
    features, pos)`` of the frames ``index`` and of their reference frames, where what a frame is
    missing (points, the edges and measurements that use them) is missing in its reference too."""
    from ..models.steps import FeatureScaler

    scaler = FeatureScaler.from_stats(est.scaler_)
    inp = scaler.transform(featurizer.transform(frames))
    ref = scaler.transform(featurizer.transform(ref_frames))
    ei = inp["edge_index"]
    N, E = scheme.n_points, ei.shape[1]
    idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
    B = len(idx)
    shapes = {"x": (B, N, 0), "edge_weight": (B, E), "edge_attr": (B, E, 0), "features": (B, 0), "pos": (B, N, 3)}
    keys = list(shapes)

    def pick(d, key):
        t = d.get(key)
        return torch.zeros(shapes[key]) if t is None else t[idx].float().contiguous()

    inputs = [pick(inp, k) for k in keys]
    base = [pick(ref, k) for k in keys]
    missing = torch.as_tensor(~np.isfinite(frames.coords[np.asarray(index)]).all(-1))  # (B, N)
    edge_missing = missing[:, ei[0]] | missing[:, ei[1]]  # (B, E)
    W = torch.as_tensor(feature_landmarks(est, scheme, inputs[3].shape[-1]) > 0, dtype=torch.float32)
    feat_missing = (missing.float() @ W.t()) > 0  # (B, M)
    masks = [missing[..., None], edge_missing, edge_missing[..., None], feat_missing, missing[..., None]]
    for i, m in enumerate(masks):
        if inputs[i].numel():
            base[i] = torch.where(m, inputs[i], base[i])
    return tuple(inputs), tuple(base), ei


#: Integrated-gradient passes of at most this many samples (frames x steps) run on one torch
#: thread: measured on 2 cores, one WGNN frame took 1.24 s with 2 threads and 57 ms with one.
SMALL_PASS = 512


def _explain_network(est, scheme, featurizer, frames, ref_frames, index, ids, n_steps, chunk, F, N) -> Attribution:
    from captum.attr import IntegratedGradients

    inputs, baselines, ei = network_inputs(est, scheme, featurizer, frames, ref_frames, index)
    B = len(index)
    est.model_.eval()
    fn = network_target(est)

    def used(*args):  # every input takes part in the graph (a model may ignore some, e.g. pos)
        ts = args[:-1]
        return fn(*args) + sum(0.0 * t.reshape(t.shape[0], -1).sum(1) for t in ts)
    ig = IntegratedGradients(used)
    per_pass = max(1, chunk // max(n_steps, 1))
    parts: list[list[torch.Tensor]] = [[] for _ in inputs]
    threads = torch.get_num_threads()
    if B * n_steps <= SMALL_PASS:  # a few frames: thread synchronisation costs more than it gives
        torch.set_num_threads(1)
    try:
        for start in range(0, B, per_pass):
            sl = slice(start, start + per_pass)
            attrs = ig.attribute(tuple(t[sl] for t in inputs), baselines=tuple(t[sl] for t in baselines),
                                 additional_forward_args=(ei,), n_steps=n_steps, method="gausslegendre")
            for p, a in zip(parts, attrs):
                p.append(a.detach().double())
    finally:
        torch.set_num_threads(threads)
    ax, aew, aea, aft, apos = [torch.cat(p).numpy() if p else np.zeros((0,)) for p in parts]
    with torch.no_grad():
        out = fn(*inputs, ei).double().numpy() if B else np.zeros(0)
        ref_out = fn(*baselines, ei).double().numpy() if B else np.zeros(0)
    if not B:
        ax, aew, aea, aft, apos = (np.zeros((0, *t.shape[1:])) for t in inputs)
    node = ax.sum(-1) + apos.sum(-1)
    edge = aew + aea.sum(-1)
    lm = node.copy()
    src, dst = ei[0].numpy(), ei[1].numpy()
    np.add.at(lm.T, src, 0.5 * edge.T)
    np.add.at(lm.T, dst, 0.5 * edge.T)
    meas = aft
    if meas.shape[-1]:
        lm += meas @ feature_landmarks(est, scheme, meas.shape[-1])
    delta = lm.sum(1) - (out - ref_out)
    return _assemble(est, scheme, F, index, lm, edge, meas, out, ref_out, delta, ei.numpy(), ids,
                     "integrated gradients (Captum)", frames.found)


def _assemble(est, scheme, F, index, lm, edge, meas, out, ref_out, delta, edge_index, ids, method, found) -> Attribution:
    def full(a):
        res = np.full((F, *a.shape[1:]), np.nan)
        res[index] = a
        return res

    return Attribution(scheme=scheme, landmarks=full(lm), edges=full(edge), measurements=full(meas), output=full(out),
                       reference_output=full(ref_out), delta=full(delta), edge_index=np.asarray(edge_index),
                       measurement_names=_feature_names(scheme, meas.shape[1]),
                       frame_ids=ids, method=method, target=explained_output(est.task), found=np.isin(np.arange(F), index))


def _feature_names(scheme, n_cols: int) -> list[str]:
    names = [m.name for m in scheme.measurements]
    if n_cols == len(names):
        return names
    coords = [f"{lm}.{c}" for lm in scheme.landmarks for c in "xyz"]
    return (names + coords)[-n_cols:] if n_cols in (len(coords), len(names) + len(coords)) else [f"feature_{i}" for i in range(n_cols)]


def baseline_target(est):
    """``fn(features (B, M) tensor) -> (B,)``: the explained output of a measurement baseline."""
    model, task = est.model_, est.task

    def fn(feats: torch.Tensor) -> torch.Tensor:
        X = feats.detach().double().numpy()
        if task == "score":
            return torch.as_tensor(model.predict(X), dtype=torch.float64)
        p = np.clip(model.predict_proba(X), 1e-300, 1.0)
        logp = torch.as_tensor(np.log(p))
        return _target_from_log_probs(_calibrated_log_probs(est, logp), task)
    return fn


def _explain_baseline(est, scheme, featurizer, frames, ref_frames, index, ids, n_samples, seed) -> Attribution:
    from captum.attr import ShapleyValueSampling

    X = featurizer.transform(frames)["features"][index]
    R = featurizer.transform(ref_frames)["features"][index]
    R = np.where(np.isfinite(X), R, X)  # a measurement the detector could not make stays unmade
    fn = baseline_target(est)
    xt = torch.as_tensor(np.nan_to_num(X, nan=np.nan), dtype=torch.float64)
    rt = torch.as_tensor(R, dtype=torch.float64)
    torch.manual_seed(seed)
    sv = ShapleyValueSampling(fn)
    B, M = X.shape
    attr = sv.attribute(xt, baselines=rt, n_samples=n_samples, perturbations_per_eval=1).double().numpy() if B else np.zeros((0, M))
    attr = np.nan_to_num(attr)
    out, ref_out = fn(xt).numpy(), fn(rt).numpy()
    lm = attr @ _measurement_landmarks(scheme, scheme.n_points)
    delta = lm.sum(1) - (out - ref_out)
    return _assemble(est, scheme, len(frames), index, lm, np.zeros((B, 0)), attr, out, ref_out, delta,
                     np.zeros((2, 0), np.int64), ids, "Shapley value sampling (Captum)", frames.found)
