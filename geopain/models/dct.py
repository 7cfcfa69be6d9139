"""Sliding windows + DCT of normalised landmark trajectories (registry ``"dct"``).

The survey's DCT transformer system, on landmarks: the window's normalised landmark
trajectories ``pos (B, T, N, 3)`` are cut into sub-windows of ``dct_window`` frames every
``dct_step`` frames; each sub-window's trajectory of each landmark coordinate is transformed
by the orthonormal DCT-II along time and its ``n_coeffs`` lowest-frequency coefficients are
kept (coefficient 0 is the mean position, i.e. the shape; 1.. the slow motion), with the log
energy of each coefficient above 0 (phase-free). Per landmark the coefficients (standardised
by batch norm) and the sub-window's mean node features go through a shared MLP with a
learned landmark identity, are pooled over landmarks (masked mean, max and a few channels
per landmark), and the sub-windows are aggregated to the window by mean and max.

:func:`dct_basis` and :func:`window_dct` are the transform itself (tested against
``scipy.fft.dct(norm="ortho")``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import GeopainError, ShapeError
from ._common import Head, LandmarkReadout, mlp
from .windows import check_window, chunked


def dct_basis(length: int, n_coeffs: int | None = None, dtype=torch.float32) -> Tensor:
    """``(K, L)`` rows of the orthonormal DCT-II: ``c_k = sum_t B[k, t] x_t``.

    ``B[k, t] = s_k cos(pi (t + 1/2) k / L)``, ``s_0 = sqrt(1/L)``, ``s_k = sqrt(2/L)``.
    """
    if length < 1:
        raise GeopainError(f"DCT length must be >= 1, got {length}")
    K = length if n_coeffs is None else int(n_coeffs)
    if not 1 <= K <= length:
        raise GeopainError(f"n_coeffs must be in 1..{length}, got {n_coeffs}")
    t = torch.arange(length, dtype=torch.float64)
    k = torch.arange(K, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi * (t + 0.5) * k / length) * math.sqrt(2.0 / length)
    basis[0] = math.sqrt(1.0 / length)
    return basis.to(dtype)


def subwindows(T: int, length: int, step: int) -> np.ndarray:
    """``(W, length)`` frame indices of sub-windows of a ``T``-frame window (the last one ends
    on the last frame; a window shorter than ``length`` repeats its last frame)."""
    from ..graphs.temporal import sliding_windows

    return sliding_windows(T, length, step)


def window_dct(traj: Tensor, length: int, step: int, n_coeffs: int) -> Tensor:
    """Low-frequency DCT of sliding windows along time.

    Args:
        traj: ``(..., T, C)`` trajectories (time on the second-last dim).
        length, step: sub-window length and step in frames; n_coeffs: coefficients kept.
    Returns:
        ``(..., W, K, C)``: for every sub-window ``w``, ``dct_basis(length, K) @ traj[..., idx_w, :]``.
    """
    if traj.dim() < 2:
        raise ShapeError(f"traj: expected (..., T, C), got shape {tuple(traj.shape)}")
    idx = torch.as_tensor(subwindows(traj.shape[-2], length, step), device=traj.device)  # (W, L)
    win = traj[..., idx, :]  # (..., W, L, C)
    basis = dct_basis(length, n_coeffs, traj.dtype).to(traj.device)
    return torch.einsum("kl,...wlc->...wkc", basis, win)


class DCTWindowModel(nn.Module):
    """DCT features of sub-windows of a window's normalised trajectories -> window output.

    Args:
        in_channels: frame node features ``F`` (their sub-window mean joins the coefficients).
        out_channels: classes, or 1 for a score.
        hidden: width; layers: depth of the per-landmark MLP.
        n_nodes: landmarks of the scheme (identities and per-landmark readout; 0: none).
        dct_window, dct_step: sub-windows in frames; n_coeffs: DCT coefficients kept per coordinate.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 32, layers: int = 2, n_nodes: int = 0,
                 dct_window: int = 8, dct_step: int = 4, n_coeffs: int = 5, dropout: float = 0.1):
        super().__init__()
        if not 1 <= n_coeffs <= dct_window:
            raise GeopainError(f"n_coeffs must be in 1..dct_window ({dct_window}), got {n_coeffs}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.dct_window, self.dct_step, self.n_coeffs = int(dct_window), int(dct_step), int(n_coeffs)
        n_dct = 3 * self.n_coeffs + self.n_coeffs - 1
        n_in = n_dct + in_channels
        self.norm = nn.BatchNorm1d(n_dct, momentum=None)  # coefficients of very different sizes
        self.net = mlp([n_in] + [hidden] * max(1, layers))
        self.identity = nn.Parameter(torch.randn(n_nodes, hidden) * 0.1) if n_nodes else None
        self.n_nodes = int(n_nodes)
        self.readout = LandmarkReadout(hidden, n_nodes)
        self.embed_dim = 2 * self.readout.out_dim
        self.head = Head(self.embed_dim, hidden, out_channels, dropout)

    def coefficients(self, pos: Tensor) -> Tensor:
        """``(B, W, N, 3K + K - 1)`` DCT coefficients of ``pos (B, T, N, 3)`` and the log energy
        ``log(1e-6 + sum_xyz c_k^2)`` of each coefficient ``k >= 1`` (how much a landmark moves at
        that frequency, whatever the phase)."""
        c = window_dct(pos.permute(0, 2, 1, 3), self.dct_window, self.dct_step, self.n_coeffs)  # (B, N, W, K, 3)
        c = c.permute(0, 2, 1, 3, 4)  # (B, W, N, K, 3)
        energy = torch.log(1e-6 + c[..., 1:, :].pow(2).sum(-1))
        return torch.cat([c.flatten(-2), energy], -1)

    def embed(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None,
              mask: Tensor | None = None) -> Tensor:
        mask = check_window(x, mask)
        B, T, N, F = x.shape
        if self.n_nodes and N != self.n_nodes:
            raise ShapeError(f"the DCT model was built for {self.n_nodes} landmarks, got {N}")
        p = x[..., :3] if pos is None else pos
        m = mask.unsqueeze(-1).to(x.dtype)
        # a missing point keeps its last seen place in its trajectory (no jump into the coefficients)
        p = torch.nan_to_num(p) * m + (1 - m) * torch.nan_to_num(p).mul(m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
        coef = self.coefficients(p)  # (B, W, N, 3K)
        idx = torch.as_tensor(subwindows(T, self.dct_window, self.dct_step), device=x.device)
        xm = (torch.nan_to_num(x) * m)[:, idx].sum(2) / m[:, idx].sum(2).clamp_min(1)  # (B, W, N, F) sub-window means
        W = coef.shape[1]
        coef = self.norm(coef.reshape(-1, coef.shape[-1])).view(B, W, N, -1)
        h = self.net(torch.cat([coef, xm], -1))
        if self.identity is not None:
            h = h + self.identity
        seen = mask[:, idx].any(2)  # (B, W, N) landmark seen in the sub-window
        h = h * seen.unsqueeze(-1)
        per_window = self.readout(h.flatten(0, 1)).view(B, W, -1)  # (B, W, R)
        return torch.cat([per_window.mean(1), per_window.amax(1)], -1)

    def forward(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None,
                features=None, mask: Tensor | None = None) -> Tensor:
        """``(B, C)`` window outputs; edges are not used."""
        return chunked(lambda x, pos, mask: self.head(self.embed(x, pos=pos, mask=mask)))(x=x, pos=pos, mask=mask)
