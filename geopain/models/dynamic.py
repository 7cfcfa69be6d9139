"""Dynamic summaries of a window by approximate rank pooling, scored by a graph model
(registry ``"dynamic"``).

The survey's approximated hierarchical dynamic image system, with landmark graphs in place of
images. Rank pooling (Fernando et al. 2015) summarises a sequence ``psi_1..psi_T`` by the
direction ``d`` that orders its time-averages ``V_t = mean(psi_1..psi_t)`` in time; its
approximation (Bilen et al. 2016, the first step of the ranking objective from ``d = 0``) is
a fixed weighting of the frames::

    d = sum_t alpha_t psi_t,   alpha_t = 2 (T - t + 1) - (T + 1) (H_T - H_(t-1)),   H_t = sum_(i<=t) 1/i

which equals ``sum_(q>t) (V_q - V_t)`` exactly (:func:`rank_pool_direct`, the test).

Level 1: every sub-window of ``sub_window`` frames becomes one **dynamic shape**: per landmark
its node features' mean, their rank-pooled direction (divided by ``sum |alpha|``) and their
motion energy (:func:`band_limited_speed`). Rank pooling alone gives the net trend of a
sub-window, which a slow build-up and one cycle of fast talking can share; the motion energy
says how much moved to get there, so a smooth trend and an oscillation differ. It is measured on
the trajectory smoothed over 3 frames, at a lag of 2: a detector's frame-to-frame jitter is
white and dominates the plain frame-to-frame change of landmarks that barely move, while facial
movements (talking at 3-5 Hz included) are well below half the frame rate
(``benchmarks/temporal.py``, dynamics-only cohort, sequence-level BA over seeds 0-2:
plain frame-to-frame change 0.542/0.521/0.479, band-limited 0.646/0.542/0.521). A
registered graph model (``encoder``, default ``"wgnn"``) embeds this graph, with the
sub-window's mean edge weights and features. Level 2 (hierarchical): the sub-windows'
embeddings are rank-pooled again and joined with their mean; a head gives the window's output
(classes, or a PSPI / SPFES score with ``task="score"``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import GeopainError, ShapeError
from ..registry import Registry
from ._common import Head
from .dct import subwindows
from .windows import check_window, chunked


def rank_pool_weights(T: int, dtype=torch.float32) -> Tensor:
    """``(T,)`` approximate rank pooling weights ``alpha_t`` (t = 1..T); ``T == 1`` gives ``[0]``."""
    if T < 1:
        raise GeopainError(f"rank pooling needs at least one frame, got {T}")
    t = torch.arange(1, T + 1, dtype=torch.float64)
    H = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(1.0 / t, 0)])  # H_0..H_T
    alpha = 2 * (T - t + 1) - (T + 1) * (H[T] - H[:-1])
    return alpha.to(dtype)


def approximate_rank_pool(v: Tensor, dim: int = 1, normalise: bool = True) -> Tensor:
    """``sum_t alpha_t v_t`` along ``dim`` (divided by ``sum |alpha_t|`` when ``normalise``)."""
    T = v.shape[dim]
    a = rank_pool_weights(T, v.dtype).to(v.device)
    if normalise:
        a = a / a.abs().sum().clamp_min(1e-12)
    shape = [1] * v.dim()
    shape[dim] = T
    return (v * a.view(shape)).sum(dim)


def band_limited_speed(v: Tensor, dim: int = 1) -> Tensor:
    """Mean absolute change along ``dim`` of ``v`` smoothed over 3 frames, at a lag of 2 frames
    (the dimension is reduced). Frame-to-frame jitter (white noise, Nyquist-rate alternation)
    is damped; movements slower than a quarter of the frame rate pass. Fewer than 5 frames: the
    plain frame-to-frame change; 1 frame: zeros."""
    T = v.shape[dim]
    if T == 1:
        return torch.zeros_like(v.select(dim, 0))
    if T < 5:
        return v.diff(dim=dim).abs().mean(dim)
    smooth = (v.narrow(dim, 0, T - 2) + v.narrow(dim, 1, T - 2) + v.narrow(dim, 2, T - 2)) / 3
    return (smooth.narrow(dim, 2, T - 4) - smooth.narrow(dim, 0, T - 4)).abs().mean(dim)


def rank_pool_direct(psi: np.ndarray) -> np.ndarray:
    """``sum_(q>t) (V_q - V_t)`` with ``V_t`` the mean of ``psi[:t]``, computed literally
    (``psi (T, ...)``; slow, for checking :func:`approximate_rank_pool`)."""
    psi = np.asarray(psi, dtype=np.float64)
    T = len(psi)
    V = np.cumsum(psi, 0) / np.arange(1, T + 1).reshape((-1,) + (1,) * (psi.ndim - 1))
    out = np.zeros(psi.shape[1:])
    for t in range(T):
        for q in range(t + 1, T):
            out += V[q] - V[t]
    return out


class DynamicSummaryModel(nn.Module):
    """Hierarchical approximate rank pooling of a window, each dynamic shape scored by a graph model.

    Args:
        in_channels: frame node features ``F`` (the encoder sees ``3F``: mean, rank-pooled
            direction and motion energy).
        out_channels: classes, or 1 for a score.
        hidden, layers, edge_dim, n_nodes: the encoder's size, edge features and landmarks.
        encoder: a registered frame model (a graph model such as ``"wgnn"``, or ``"pointnet"``).
        registry: where ``encoder`` is registered (the factory passes :data:`geopain.models.MODELS`).
        sub_window, sub_step: level-1 sub-windows in frames.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 32, layers: int = 3, edge_dim: int = 0,
                 n_nodes: int = 0, encoder: str = "wgnn", sub_window: int = 8, sub_step: int = 4,
                 dropout: float = 0.1, registry: Registry | None = None):
        super().__init__()
        if registry is None:
            raise GeopainError("DynamicSummaryModel needs the model registry to build its encoder; "
                               "use geopain.models.create('dynamic', ...)")
        info = registry.info(encoder)
        if info.get("kind") != "torch" or info.get("window_model") or info.get("temporal_only"):
            raise GeopainError(f"the dynamic summary needs a neural frame model as encoder, got {encoder!r}")
        kw = {"hidden": hidden}
        if info.get("layered"):
            kw["layers"] = layers
        if info.get("edge_features"):
            kw["edge_dim"] = edge_dim
        if info.get("landmarks"):
            kw["n_nodes"] = n_nodes
        self.encoder_name, self.graph = encoder, bool(info.get("graph"))
        self.encoder = registry.create(encoder, in_channels=3 * in_channels, out_channels=out_channels, **kw)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.sub_window, self.sub_step = int(sub_window), int(sub_step)
        # dynamics are small next to the shapes: standardised (direction and motion, per channel)
        self.norm = nn.BatchNorm1d(in_channels, momentum=None)
        self.motion_norm = nn.BatchNorm1d(in_channels, momentum=None)
        self.embed_dim = 2 * self.encoder.embed_dim
        self.head = Head(self.embed_dim, hidden, out_channels, dropout)

    def dynamic_shapes(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(B, W, N, 3F)``: per sub-window, each landmark's mean node features, their
        rank-pooled direction and their motion energy (:func:`band_limited_speed`), the last two
        standardised per channel (batch norm; missing points count as their sub-window mean)."""
        mask = check_window(x, mask)
        idx = torch.as_tensor(subwindows(x.shape[1], self.sub_window, self.sub_step), device=x.device)
        m = mask.unsqueeze(-1).to(x.dtype)[:, idx]  # (B, W, L, N, 1)
        win = torch.nan_to_num(x)[:, idx]  # (B, W, L, N, F)
        mean = (win * m).sum(2) / m.sum(2).clamp_min(1)
        win = win * m + (1 - m) * mean.unsqueeze(2)
        dyn = approximate_rank_pool(win, dim=2)
        motion = band_limited_speed(win, dim=2)
        F = dyn.shape[-1]
        return torch.cat([mean, self.norm(dyn.reshape(-1, F)).view_as(dyn),
                          self.motion_norm(motion.reshape(-1, F)).view_as(motion)], -1)

    def embed(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None,
              mask: Tensor | None = None) -> Tensor:
        dyn = self.dynamic_shapes(x, mask)  # (B, W, N, 3F)
        B, W = dyn.shape[:2]
        idx = torch.as_tensor(subwindows(x.shape[1], self.sub_window, self.sub_step), device=x.device)

        def sub_mean(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[:, idx].mean(2).flatten(0, 1)

        if self.graph and edge_index is None:
            raise ShapeError(f"the dynamic summary with encoder {self.encoder_name!r} needs edge_index (2, E)")
        p = None if pos is None else sub_mean(pos)
        h = self.encoder.embed(dyn.flatten(0, 1), edge_index, sub_mean(edge_weight), sub_mean(edge_attr), p)
        h = h.view(B, W, -1)  # level 2: the sub-windows' embeddings, rank-pooled again
        return torch.cat([h.mean(1), approximate_rank_pool(h, dim=1)], -1)

    def forward(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None,
                features=None, mask: Tensor | None = None) -> Tensor:
        """``(B, C)`` window outputs (logits, or a score)."""
        return chunked(lambda x, edge_weight, edge_attr, pos, mask: self.head(
            self.embed(x, edge_index, edge_weight, edge_attr, pos, mask=mask)))(
            x=x, edge_weight=edge_weight, edge_attr=edge_attr, pos=pos, mask=mask)
