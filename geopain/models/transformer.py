"""Spatio-temporal transformer over landmark tokens (registry ``"transformer"``).

The survey's ResNet18+Transformer and spatio-temporal transformer systems, with landmarks in
place of image patches: every landmark of every frame of a window is a token

    token(t, n) = W [x(t, n), BN(dx(t, n), |dx(t, n)|)] + identity(n) + time(t),   dx(t, n) = x(t, n) - x(t-1, n)

(its frame features, their frame-to-frame change and its size, standardised; a learned vector per landmark, a
sinusoidal code of the frame's position in the window). Each block attends **factorised**
(Divided space-time attention, Bertasius et al. 2021): first among the landmarks of one frame
(space), then along the frames of one landmark (time), then a feed-forward layer; pre-norm,
residual. Missing landmarks (``mask`` False) are never attended to.

By default tokens are **regions** rather than single landmarks: ``regions`` learned soft mixes
of the landmarks per frame (the tokens of the image systems are patches, not pixels); with
``tokens="landmark"`` every landmark is a token (``N / regions`` times the cost).

Outputs: a frame embedding per frame (masked mean and max over landmarks, projected) and a
window (sequence) embedding by attention pooling over frames; one head scores both, so
:meth:`forward` gives ``(B, C)`` per window and :meth:`frame_outputs` ``(B, T, C)`` per frame.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import ShapeError
from ._common import Head
from .windows import check_window, chunked, masked_max, masked_mean


def sinusoidal(T: int, dim: int, device=None, dtype=torch.float32) -> Tensor:
    """``(T, dim)`` sinusoidal position codes (Vaswani et al. 2017)."""
    pos = torch.arange(T, device=device, dtype=dtype)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=dtype)
    freq = torch.exp(-math.log(10000.0) * i / dim)
    out = torch.zeros(T, dim, device=device, dtype=dtype)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return out


def _key_padding(valid: Tensor) -> Tensor:
    """``(S, L)`` key padding mask (True = ignore) from validity; rows with nothing valid attend
    to everything (their output is masked later) so attention never divides by zero."""
    pad = ~valid
    return pad & ~pad.all(1, keepdim=True)


class FactorisedBlock(nn.Module):
    """Space attention (landmarks of a frame), time attention (frames of a landmark), MLP.

    ``dropout`` acts inside the feed-forward layer; ``attention_dropout`` (default 0) on the
    attention weights, where any dropout sends PyTorch's fused attention kernel to its unfused
    path (2.5-4x slower on CPUs for these short token sequences).
    """

    def __init__(self, dim: int, heads: int = 4, dropout: float = 0.1, attention_dropout: float = 0.0):
        super().__init__()
        self.norm_s, self.norm_t, self.norm_f = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.space = nn.MultiheadAttention(dim, heads, dropout=attention_dropout, batch_first=True)
        self.time = nn.MultiheadAttention(dim, heads, dropout=attention_dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        """``h (B, T, N, D)``, ``mask (B, T, N)`` -> ``(B, T, N, D)``."""
        B, T, N, D = h.shape
        s = self.norm_s(h).reshape(B * T, N, D)
        a, _ = self.space(s, s, s, key_padding_mask=_key_padding(mask.reshape(B * T, N)), need_weights=False)
        h = h + a.view(B, T, N, D)
        t = self.norm_t(h).transpose(1, 2).reshape(B * N, T, D)
        a, _ = self.time(t, t, t, key_padding_mask=_key_padding(mask.transpose(1, 2).reshape(B * N, T)),
                         need_weights=False)
        h = h + a.view(B, N, T, D).transpose(1, 2)
        return h + self.ff(self.norm_f(h))


class LandmarkTransformer(nn.Module):
    """Factorised space/time transformer over landmark tokens of a window.

    Args:
        in_channels: frame node features ``F``; out_channels: classes (or 1 for a score).
        hidden: token width ``D`` (a multiple of ``heads``); layers: factorised blocks.
        heads: attention heads; n_nodes: landmarks of the scheme (learned identities; 0: none).
        dropout: in the feed-forward layers and the head (attention weights have none: see
            :class:`FactorisedBlock`).
        tokens: ``"region"`` (default: ``regions`` tokens per frame, each a learned soft mix of the
            landmarks, ``softmax`` over regions per landmark, weighted by the mask; about
            ``N / regions`` times cheaper) or ``"landmark"`` (one token per landmark and frame).
            Without ``n_nodes`` tokens are landmarks.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 32, layers: int = 2, heads: int = 4,
                 n_nodes: int = 0, dropout: float = 0.1, tokens: str = "region", regions: int = 12):
        super().__init__()
        heads = max(1, min(heads, hidden))
        while hidden % heads:
            heads -= 1
        self.in_channels, self.out_channels, self.n_nodes = in_channels, out_channels, int(n_nodes)
        self.motion_norm = nn.BatchNorm1d(2 * in_channels, momentum=None)  # frame-to-frame changes are small: standardised
        self.inp = nn.Linear(3 * in_channels, hidden)
        self.identity = nn.Parameter(torch.randn(n_nodes, hidden) * 0.1) if n_nodes else None
        if tokens not in ("region", "landmark"):
            raise ShapeError(f"tokens must be 'region' or 'landmark', got {tokens!r}")
        if tokens == "region" and not n_nodes:
            tokens = "landmark"  # regions are learned per landmark: they need the scheme's landmarks
        self.tokens = tokens
        # learned soft regions: token r of a frame is the mask-weighted mix sum_n A[n, r] h(n)
        self.assign = nn.Parameter(torch.randn(n_nodes, regions) * 0.5) if tokens == "region" else None
        self.region_id = nn.Parameter(torch.randn(regions, hidden) * 0.1) if tokens == "region" else None
        self.blocks = nn.ModuleList(FactorisedBlock(hidden, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.frame = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU())
        self.pool = nn.Linear(hidden, 1)
        self.embed_dim = hidden
        self.head = Head(hidden, hidden, out_channels, dropout)

    def frame_embeddings(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, T, D)`` frame embeddings and the ``(B, T)`` frames with any landmark seen."""
        mask = check_window(x, mask)
        B, T, N, F = x.shape
        if self.identity is not None and N != self.n_nodes:
            raise ShapeError(f"the transformer was built for {self.n_nodes} landmarks, got {N}")
        x = torch.nan_to_num(x) * mask.unsqueeze(-1)
        prev = torch.cat([x[:, :1], x[:, :-1]], 1)
        moved = (x - prev) * (mask & torch.cat([mask[:, :1], mask[:, :-1]], 1)).unsqueeze(-1)
        motion = torch.cat([moved, moved.abs()], -1)
        motion = self.motion_norm(motion.reshape(-1, 2 * F)).view(B, T, N, 2 * F)
        feats = torch.cat([x, motion], -1)  # (B, T, N, 3F)
        if self.assign is not None:
            # soft regions of the seen landmarks; the mix commutes with the (affine) token map, so
            # landmarks are pooled first: W mean_a(f) + mean_a(identity) == mean_a(W f + identity)
            a = torch.softmax(self.assign, 1)[None, None] * mask.unsqueeze(-1)  # (B, T, N, R)
            mass = a.sum(2).clamp_min(1e-6).unsqueeze(-1)  # (B, T, R, 1)
            pooled = torch.einsum("btnr,btnf->btrf", a, feats) / mass
            h = self.inp(pooled) + a.transpose(2, 3) @ self.identity / mass + self.region_id
            mask = mass[..., 0] > 1e-3
        else:
            h = self.inp(feats)
            if self.identity is not None:
                h = h + self.identity
        h = h + sinusoidal(T, h.shape[-1], h.device, h.dtype)[None, :, None]
        for block in self.blocks:
            h = block(h, mask)
        h = self.norm(h)
        frames = self.frame(torch.cat([masked_mean(h, mask, 2), masked_max(h, mask, 2)], -1))
        return frames, mask.any(2)

    def embed(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None,
              mask: Tensor | None = None) -> Tensor:
        """``(B, D)`` window embedding: attention pooling of the frame embeddings."""
        frames, seen = self.frame_embeddings(x, mask)
        score = self.pool(frames)[..., 0].masked_fill(~seen, float("-inf"))
        w = torch.softmax(score, 1)
        w = torch.nan_to_num(w)  # a window without any landmark: zero embedding
        return (w.unsqueeze(-1) * frames).sum(1)

    def forward(self, x: Tensor, edge_index=None, edge_weight=None, edge_attr=None, pos=None, time=None,
                features=None, mask: Tensor | None = None) -> Tensor:
        """``(B, C)`` window outputs (logits, or a score); edges are not used."""
        return chunked(lambda x, mask: self.head(self.embed(x, mask=mask)))(x=x, mask=mask)

    def frame_outputs(self, x: Tensor, mask: Tensor | None = None, **_) -> Tensor:
        """``(B, T, C)`` per-frame outputs (the window head on each frame's embedding)."""
        frames, _ = self.frame_embeddings(x, mask)
        return self.head(frames)
