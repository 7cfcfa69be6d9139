"""Shared pieces of the models that take whole windows of frames (registry ``window_model``).

A window model receives the dense facial-graph tensors of ``T`` consecutive frames::

    x            (B, T, N, F)   node features of every frame (scaled)
    edge_index   (2, E)         the scheme's edges, shared
    edge_weight  (B, T, E)      optional
    edge_attr    (B, T, E, K)   optional
    pos          (B, T, N, 3)   normalised landmark positions (template frame)
    time         (B, T)         seconds, optional
    mask         (B, T, N)      optional, True where a landmark was seen (default: all)

and returns one output per window ``(B, C)``; :meth:`frame_outputs` (where a model has it)
gives ``(B, T, C)``. :class:`~geopain.models.PainEstimator` builds windows of ``window`` frames
for these models whatever ``temporal`` says, labels each window by its centre frame and
averages the windows covering a frame; sequence-level outputs average a sequence's frames.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..errors import ShapeError

#: Windows per chunk when a window model runs without gradients (bounds attention memory).
EVAL_CHUNK = 256


def check_window(x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Validate ``x (B, T, N, F)`` and return the ``(B, T, N)`` bool mask (all True if ``None``)."""
    if x.dim() != 4:
        raise ShapeError(f"x: expected windows (B, T, N, F), got shape {tuple(x.shape)}")
    if mask is None:
        return torch.ones(x.shape[:3], dtype=torch.bool, device=x.device)
    if tuple(mask.shape) != tuple(x.shape[:3]):
        raise ShapeError(f"mask: expected {tuple(x.shape[:3])}, got {tuple(mask.shape)}")
    return mask.to(torch.bool)


def masked_mean(v: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Mean of ``v`` over ``dim`` where ``mask`` (broadcast on the last dim of ``v``); 0 where none."""
    m = mask.to(v.dtype).unsqueeze(-1)
    return (v * m).sum(dim) / m.sum(dim).clamp_min(1.0)


def masked_max(v: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Max of ``v`` over ``dim`` where ``mask``; 0 where none."""
    filled = v.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    out = filled.amax(dim)
    return torch.where(torch.isfinite(out), out, torch.zeros_like(out))


def chunked(fn: Callable[..., Tensor], chunk: int = EVAL_CHUNK) -> Callable[..., Tensor]:
    """Run ``fn(**window tensors)`` in chunks of windows when gradients are off (prediction)."""
    def run(**kw):
        x = kw["x"]
        if torch.is_grad_enabled() or x.shape[0] <= chunk:
            return fn(**kw)
        outs = []
        for s in range(0, x.shape[0], chunk):
            part = {k: (v[s:s + chunk] if torch.is_tensor(v) and k != "edge_index" and v.dim() > 1 and
                        v.shape[0] == x.shape[0] else v) for k, v in kw.items()}
            outs.append(fn(**part))
        return torch.cat(outs)
    return run
