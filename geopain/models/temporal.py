"""Sequence models: per-frame embeddings + a recurrent head, and a spatio-temporal point cloud.

* :class:`RecurrentModel`: any frame model's ``embed`` (PointNet, PointNet++, WGNN) on
  every frame of a window, then a GRU or LSTM over time; the last hidden state feeds the
  head, giving one prediction per window.
* :class:`SpatioTemporalPointNet`: the window as one point cloud of ``T * N`` points
  whose features are the frame features plus time (seconds from the window's start,
  scaled), encoded by a PointNet or PointNet++ (neighbours then search in 4D).

Inputs are dense windows: ``x (B, T, N, F)``, ``edge_weight (B, T, E)``,
``edge_attr (B, T, E, K)``, ``pos (B, T, N, 3)``, optional ``time (B, T)`` seconds.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ShapeError
from ._common import Head
from .pointnet import PointNet, PointNet2


def _flat(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.flatten(0, 1)


def _check_window(x: Tensor) -> None:
    if x.dim() != 4:
        raise ShapeError(f"x: expected windows (B, T, N, F), got shape {tuple(x.shape)}")


class RecurrentModel(nn.Module):
    """Frame encoder (a :class:`~geopain.models._common.DenseModel`) + GRU/LSTM over time."""

    def __init__(self, encoder: nn.Module, out_channels: int, rnn: str = "gru", hidden: int = 64,
                 layers: int = 1, dropout: float = 0.1):
        super().__init__()
        if rnn not in ("gru", "lstm"):
            raise ShapeError(f"rnn must be 'gru' or 'lstm', got {rnn!r}")
        self.encoder, self.rnn_kind, self.out_channels = encoder, rnn, out_channels
        cls = nn.GRU if rnn == "gru" else nn.LSTM
        self.rnn = cls(encoder.embed_dim, hidden, num_layers=layers, batch_first=True)
        self.embed_dim = hidden
        self.head = Head(hidden, hidden, out_channels, dropout)

    def embed(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None) -> Tensor:
        _check_window(x)
        B, T = x.shape[:2]
        e = self.encoder.embed(x.flatten(0, 1), edge_index, _flat(edge_weight), _flat(edge_attr), _flat(pos))
        out, _ = self.rnn(e.view(B, T, -1))
        return out[:, -1]

    def forward(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None) -> Tensor:
        return self.head(self.embed(x, edge_index, edge_weight, edge_attr, pos, time))


class SpatioTemporalPointNet(nn.Module):
    """A window as one cloud of ``T*N`` points with time as a coordinate.

    Args:
        in_channels: frame point features ``F`` (time is appended, so the encoder sees ``F+1``).
        encoder: ``"pointnet"`` or ``"pointnet2"``; time_scale: seconds -> coordinate units.
    """

    def __init__(self, in_channels: int, out_channels: int, encoder: str = "pointnet", hidden: int = 64,
                 time_scale: float = 1.0, **kw):
        super().__init__()
        self.time_scale, self.out_channels = time_scale, out_channels
        if encoder == "pointnet":
            self.net = PointNet(in_channels + 1, out_channels, hidden=hidden, **kw)
        elif encoder == "pointnet2":
            self.net = PointNet2(in_channels + 1, out_channels, hidden=hidden, pos_dims=4, **kw)
        else:
            raise ShapeError(f"encoder must be 'pointnet' or 'pointnet2', got {encoder!r}")
        self.embed_dim = self.net.embed_dim

    def _cloud(self, x: Tensor, pos: Tensor | None, time: Tensor | None) -> tuple[Tensor, Tensor]:
        _check_window(x)
        B, T, N, _ = x.shape
        if time is None:
            time = torch.arange(T, device=x.device, dtype=x.dtype).expand(B, T)
        t = ((time - time[:, :1]) * self.time_scale)[:, :, None, None].expand(B, T, N, 1).to(x.dtype)
        p = x[..., :3] if pos is None else pos
        cloud = torch.cat([x, t], -1).reshape(B, T * N, -1)
        return cloud, torch.cat([p, t], -1).reshape(B, T * N, 4)

    def embed(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None) -> Tensor:
        cloud, p = self._cloud(x, pos, time)
        return self.net.embed(cloud, pos=p)

    def forward(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None) -> Tensor:
        return self.net.head(self.embed(x, edge_index, edge_weight, edge_attr, pos, time))
