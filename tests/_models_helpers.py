"""Shared fixtures of the models / training / evaluation tests: toy graphs and tiny cohorts."""
from __future__ import annotations

import functools

import numpy as np
import torch

N_NODES = 12


def ring_edges(n: int = N_NODES) -> torch.Tensor:
    """``(2, 2n)`` directed edges of a ring plus chords (a small fixed 'face' topology)."""
    a = np.arange(n)
    und = np.concatenate([np.stack([a, (a + 1) % n]), np.stack([a[::3], (a[::3] + n // 2) % n])], 1)
    return torch.as_tensor(np.concatenate([und, und[::-1]], 1), dtype=torch.long)


def toy_graphs(n: int, signal: str = "x", seed: int = 0, n_nodes: int = N_NODES):
    """Dense toy graphs ``(inputs, y)``: class 1 differs by node features (``signal="x"``)
    or only by edge weights (``signal="weight"``; features are identical noise)."""
    g = torch.Generator().manual_seed(seed)
    ei = ring_edges(n_nodes)
    y = torch.arange(n) % 2
    pos = torch.randn(n, n_nodes, 3, generator=g) * 0.3
    x = torch.cat([pos, torch.randn(n, n_nodes, 2, generator=g) * 0.3], -1)
    E = ei.shape[1]
    w = torch.full((n, E), 1.0)
    if signal == "x":
        x[y == 1, :3, 3] += 1.5  # three nodes carry a shifted feature
    elif signal == "weight":
        x = torch.ones(n, n_nodes, 5) + 0.05 * torch.randn(n, n_nodes, 5, generator=g)
        w = torch.where(y[:, None] == 1, torch.full((n, E), 4.0), torch.full((n, E), 0.25))
        w = w * (1 + 0.1 * torch.rand(n, E, generator=g))
    inputs = {"x": x, "pos": pos, "edge_index": ei, "edge_weight": w, "edge_attr": None}
    return inputs, y.numpy()


@functools.lru_cache(maxsize=None)
def _cohort(species: str, n_subjects: int, seqs: int, frames: int, seed: int):
    from geopain.synth import simulate

    return simulate(species, n_subjects=n_subjects, sequences_per_subject=seqs, frames=frames, seed=seed)


def cohort(species: str = "human", n_subjects: int = 4, seqs: int = 2, frames: int = 16, seed: int = 0):
    """A tiny simulated cohort (cached; copy before mutating)."""
    return list(_cohort(species, n_subjects, seqs, frames, seed))


FAST = {"epochs": 2, "hidden": 8, "batch_size": 64, "device": "cpu"}
