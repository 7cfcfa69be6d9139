"""Pain-unit attributions: Shapley values of the unit's landmarks, in the input space.

Integrated gradients work on the model's inputs, which are the *normalised* landmarks: every
frame is aligned to the template on all of its points. When one unit moves (a sheep's ears by
several centimetres, a person's upper lip), the alignment shifts, every normalised point moves a
little, and the attribution spreads to landmarks that never moved, mostly to those the model is
most sensitive to (eyes). Measured on simulated single-unit sequences: a sheep's ears moved,
1% of the landmark attribution landed on them.

So a unit's attribution is computed where the movement happened, before normalisation:

- **Players** (:func:`unit_players`): the landmarks where some unit shows
  (:meth:`geopain.species.Scheme.unit_shown_landmarks`), grouped by which units claim them, plus
  ``other`` (landmarks no unit claims). The groups partition the face.
- **Value of a coalition**: the model's explained output (pain log-odds, expected level or
  score; :func:`~geopain.explain.faithfulness.explained_values`, the full pipeline) on the frame
  where the coalition's landmarks keep their own positions and all others take the reference's
  (the sequence's calm face, or the template), the reference placed on the frame by a robust
  similarity fit, so that points that moved do not drag the fit.
- **Shapley values**, exact over all ``2^P`` coalitions (``P`` <= :data:`MAX_EXACT_PLAYERS`),
  else from sampled permutations. They add up to ``f(frame) - f(reference)`` exactly. A group
  several units show on is shared equally among them: the landmarks alone cannot say which of
  them moved (on iBUG 68 the lower eyelid shows AU6 and AU7).

Every model kind is explained the same way (it only needs the model's output), and the cost is
``2^P`` evaluations per frame in one vectorised pass (P = 6 for PSPI on iBUG 68 and for SPFES).
"""
from __future__ import annotations

from dataclasses import replace
from math import factorial
from typing import Sequence

import numpy as np

from ..landmarks import LandmarkSequence
from ..species import Scheme
from .units import unit_landmark_weights

#: Above this many players the Shapley values come from sampled permutations.
MAX_EXACT_PLAYERS = 10
#: Frames x coalitions evaluated per call of the pipeline (bounds memory).
CHUNK_FRAMES = 65536


def unit_players(scheme: Scheme) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(units, members (P, N) bool, shares (P, U + 1))``: the landmark groups of the face and
    each group's share of every unit (last column: ``other``, landmarks no unit claims); rows of
    ``shares`` sum to 1."""
    units, weights = unit_landmark_weights(scheme)
    claims = weights > 0  # (U, N)
    groups: dict[tuple[bool, ...], list[int]] = {}
    for n in range(scheme.n_points):
        groups.setdefault(tuple(claims[:, n]), []).append(n)
    members = np.zeros((len(groups), scheme.n_points), bool)
    shares = np.zeros((len(groups), len(units) + 1))
    for p, (signature, points) in enumerate(groups.items()):
        members[p, points] = True
        if any(signature):
            shares[p, :-1] = np.asarray(signature, float) / sum(signature)
        else:
            shares[p, -1] = 1.0
    return units, members, shares


def robust_fit_onto(coords: np.ndarray, target: np.ndarray, iterations: int = 20, tol: float = 1e-6) -> np.ndarray:
    """``(F, N, 3)`` frames moved onto ``target (N, 3)`` by a similarity fit that down-weights
    points far from it (iteratively reweighted: Cauchy weights at twice the frame's robust
    residual scale, until the fit moves less than ``tol`` or ``iterations``), so that the
    points an expression moved do not pull the fit; NaN stays NaN."""
    from ..geometry.align import align_frames

    ok = np.isfinite(target).all(-1)
    weights = np.broadcast_to(ok, coords.shape[:2]).astype(np.float64)
    aligned = None
    for _ in range(iterations):
        previous = aligned
        _, aligned = align_frames(coords, np.where(ok[:, None], target, 0.0), weights)
        if previous is not None and not (np.abs(aligned - previous) > tol).any():
            break
        r = np.linalg.norm(aligned - target[None], axis=-1)
        with np.errstate(invalid="ignore"):
            scale = 1.4826 * np.nanmedian(np.where(ok[None], r, np.nan), 1, keepdims=True) + 1e-9
        weights = np.where(ok[None] & np.isfinite(r), 1.0 / (1.0 + (r / (2.0 * scale)) ** 2), 0.0)
    return aligned


def _coalitions(P: int, n_permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(masks (C, P) bool, weights (P, C))``: the coalitions to evaluate and each player's
    Shapley weight on each coalition's value (phi = weights @ values)."""
    if P <= MAX_EXACT_PLAYERS:
        codes = np.arange(2 ** P)
        masks = ((codes[:, None] >> np.arange(P)) & 1).astype(bool)
        size = masks.sum(1)
        W = np.zeros((P, len(codes)))
        for i in range(P):
            without = ~masks[:, i]
            w = np.array([factorial(s) * factorial(P - s - 1) / factorial(P) for s in size[without]])
            W[i, codes[without]] -= w
            W[i, codes[without] | (1 << i)] += w
        return masks, W
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(P) for _ in range(n_permutations // 2)]
    perms += [p[::-1] for p in perms]  # antithetic: each permutation and its reverse
    index: dict[bytes, int] = {}
    rows: list[np.ndarray] = []
    contrib: list[tuple[int, int, int]] = []  # (player, coalition with, coalition without)

    def code(m: np.ndarray) -> int:
        key = m.tobytes()
        if key not in index:
            index[key] = len(rows)
            rows.append(m.copy())
        return index[key]

    for perm in perms:
        m = np.zeros(P, bool)
        before = code(m)
        for i in perm:
            m[i] = True
            after = code(m)
            contrib.append((int(i), after, before))
            before = after
    W = np.zeros((P, len(rows)))
    for i, a, b in contrib:
        W[i, a] += 1.0 / len(perms)
        W[i, b] -= 1.0 / len(perms)
    return np.array(rows), W


def unit_shapley(est, seqs: Sequence[LandmarkSequence], reference_faces: np.ndarray,
                 normalised: np.ndarray | None = None, n_permutations: int = 64, seed: int = 0
                 ) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    """Shapley values of the pain units of every frame of ``seqs`` (see module docstring).

    Args:
        est: a fitted frame-level :class:`~geopain.models.PainEstimator`.
        seqs: ``S`` sequences in the model's scheme.
        reference_faces: ``(S, N, 3)`` each sequence's reference, normalised (template frame):
            its calm face or the template; a NaN point takes the frame's own position.
        normalised: ``(F, N, 3)`` the frames already normalised (before any per-person reference),
            as :class:`~geopain.models.steps.Normalize` gives them; computed when not given.
        n_permutations: permutations sampled when there are more than :data:`MAX_EXACT_PLAYERS`
            players.

    Returns:
        ``(columns, values (F, U + 1), reference_output (F,), method)``: the unit names and
        ``"other"``, their attributions (NaN for frames without a face), the output at the
        reference, and how they were computed (words).
    """
    from ..models.steps import Normalize
    from .faithfulness import explained_values

    scheme = est.scheme_obj_
    units, members, shares = unit_players(scheme)
    N = scheme.n_points
    ref_faces = np.asarray(reference_faces, dtype=np.float64).reshape(len(seqs), N, 3)
    coords = Normalize(scheme).transform(seqs).coords if normalised is None else normalised
    lengths = np.array([s.n_frames for s in seqs], dtype=np.int64)
    F = int(lengths.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)])
    # each frame onto its reference (robustly), so that points that did not move coincide with it
    placed = np.concatenate([robust_fit_onto(np.asarray(coords[a:b], dtype=np.float64), r)
                             for a, b, r in zip(starts[:-1], starts[1:], ref_faces)], 0) \
        if len(seqs) else np.zeros((0, N, 3))
    ref = np.repeat(ref_faces, lengths, axis=0)
    ref = np.where(np.isfinite(ref), ref, placed)
    visible = np.isfinite(placed).all(-1)
    masks, W = _coalitions(len(members), n_permutations, seed)
    keep = masks.astype(np.float64) @ members.astype(np.float64) > 0  # (C, N): points at their own position
    values = np.full((len(masks), F), np.nan)
    per_call = max(1, CHUNK_FRAMES // max(F, 1))
    for c0 in range(0, len(masks), per_call):
        chunk = range(c0, min(c0 + per_call, len(masks)))
        batch = []
        for c in chunk:
            mixed = np.where(keep[c][None, :, None], placed, ref).astype(np.float32)
            mixed[~visible] = np.nan
            for q, s in enumerate(seqs):  # each coalition its own subject: per-person references stay within it
                batch.append(replace(s, coords=mixed[starts[q]:starts[q + 1]], units="cm", dims=3,
                                     subject=f"{s.subject}#coalition{c}", sequence=f"{s.sequence}#coalition{c}"))
        if batch:
            values[chunk.start:chunk.stop] = explained_values(est, batch).reshape(len(chunk), F)
    found = np.isfinite(values).all(0)
    phi = (W @ np.nan_to_num(values)).T  # (F, P)
    attributions = phi @ shares
    attributions[~found] = np.nan
    empty = int(np.flatnonzero(~masks.any(1))[0])
    reference_output = np.where(found, values[empty], np.nan)
    method = ("Shapley values of the units' landmark groups in the input space, "
              + ("exact" if len(members) <= MAX_EXACT_PLAYERS else f"{n_permutations} sampled permutations"))
    return units + ["other"], attributions, reference_output, method
