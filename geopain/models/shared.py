"""A representation shared across species: species-specific graph encoders, region pooling through
the declared homology, one shared pain head.

Architecture (``H`` = ``hidden``, ``R`` = len(:data:`~geopain.species.REGIONS`) = 7)::

    species s:  x (B, N_s, F), the facial graph of s  --WGNN encoder of s-->  h (B, N_s, H)
                h --P_s (R, N_s): strength-weighted means over the homologous regions-->  r (B, R, H)
    shared:     [r flattened (R H), region present (R)] --MLP head--> pain logits (B, out)
                                                         --linear--> shared-unit intensities (B, K)

``P_s`` comes from the species' ``homology:`` block (:mod:`geopain.transfer.homology`); ``r``
is a fixed-size tensor common to every species, so the head is the same module for all of
them. Each species' encoder is a :class:`~geopain.models.wgnn.WGNN` whose readout is not used
(its node states are taken); node features are species-agnostic in meaning (template-frame
position, displacement, the shared region one-hot, confidence) and its message passing does
not depend on the number of landmarks, so an encoder trained on one species can start
another's (:meth:`SharedRegionModel.add_scheme` with ``init_from``). Per-landmark identities
(``node_identity=True``) are species-specific and start at zero when copied.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ShapeError
from ..species import REGIONS, get_scheme
from ._common import Head, check_dense
from .wgnn import WGNN


def scheme_slot(key: str) -> str:
    """A module name for a scheme key (``"human/ibug68"`` -> ``"human__ibug68"``)."""
    return key.replace("/", "__").replace(".", "_")


def node_states(encoder: WGNN, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None,
                edge_attr: Tensor | None) -> Tensor:
    """``(B, N, H)``: the node states a :class:`WGNN` hands to its readout (its own ``embed``
    runs; the readout's input is taken, so this follows any change to the encoder)."""
    captured: dict[str, Tensor] = {}

    def grab(module: nn.Module, args: tuple) -> None:
        captured["h"] = args[0]

    handle = encoder.readout.register_forward_pre_hook(grab)
    try:
        encoder.embed(x, edge_index, edge_weight, edge_attr)
    finally:
        handle.remove()
    return captured["h"]


class SchemeEncoder(nn.Module):
    """One scheme's WGNN encoder and its ``(R, N)`` region pooling (a buffer)."""

    def __init__(self, key: str, in_channels: int, hidden: int, layers: int, edge_dim: int, weighting: str,
                 node_identity: bool):
        super().__init__()
        from ..transfer.homology import get_homology

        scheme = get_scheme(key)
        self.key = key
        self.wgnn = WGNN(in_channels, 1, hidden=hidden, layers=layers, edge_dim=edge_dim, weighting=weighting,
                         n_nodes=scheme.n_points if node_identity else 0)
        pool = get_homology(scheme.species).region_pooling(scheme)
        self.register_buffer("pool", torch.as_tensor(pool, dtype=torch.float32))
        self.register_buffer("present", torch.as_tensor((pool.sum(1) > 0).astype(np.float32)))

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None, edge_attr: Tensor | None) -> Tensor:
        h = node_states(self.wgnn, x, edge_index, edge_weight, edge_attr)  # (B, N, H)
        if h.shape[1] != self.pool.shape[1]:
            raise ShapeError(f"{self.key}: expected {self.pool.shape[1]} landmarks, got {h.shape[1]}")
        return torch.einsum("rn,bnh->brh", self.pool, h)  # (B, R, H)


class SharedRegionModel(nn.Module):
    """Species-specific encoders -> region-level representation ``(B, R, H)`` -> shared head.

    Args:
        in_channels, out_channels: node features ``F`` and outputs (2 for binary pain).
        hidden, layers, edge_dim, weighting: each encoder's :class:`WGNN` settings.
        scheme: the scheme key(s) to build encoders for (more with :meth:`add_scheme`); the
            first is the active one (the one ``forward`` uses without ``scheme=``).
        n_units: shared-unit intensities predicted by the auxiliary head (0: none).
        node_identity: learned per-landmark vectors in each encoder (species-specific).
        n_nodes, head: accepted for the estimator's plumbing (nodes come from each scheme;
            the head is softmax).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 32, layers: int = 3, edge_dim: int = 0,
                 weighting: str = "refined", dropout: float = 0.1, scheme: str | Sequence[str] = "human/ibug68",
                 n_units: int = 0, node_identity: bool = False, n_nodes: int = 0, head: str = "softmax"):
        super().__init__()
        if head != "softmax":
            raise ShapeError(f"the shared-region model has a softmax head only, got {head!r}")
        self.in_channels, self.out_channels, self.hidden = in_channels, out_channels, hidden
        self.layers, self.edge_dim, self.weighting = layers, edge_dim, weighting
        self.node_identity = node_identity
        self.encoders = nn.ModuleDict()
        keys = [scheme] if isinstance(scheme, str) else list(scheme)
        if not keys:
            raise ShapeError("the shared-region model needs at least one scheme")
        for key in keys:
            self.add_scheme(key)
        self.active = keys[0]
        R = len(REGIONS)
        self.embed_dim = R * hidden + R
        self.norm = nn.LayerNorm(hidden)
        self.head = Head(self.embed_dim, hidden, out_channels, dropout)
        self.unit_head = nn.Linear(self.embed_dim, n_units) if n_units else None

    @property
    def schemes(self) -> list[str]:
        return [enc.key for enc in self.encoders.values()]

    def add_scheme(self, key: str, init_from: str | None = None) -> "SharedRegionModel":
        """Add an encoder for ``key``; with ``init_from`` (a scheme already in the model) it starts as
        a copy of that encoder (every weight whose name and shape match; identities at zero)."""
        slot = scheme_slot(key)
        if slot not in self.encoders:
            enc = SchemeEncoder(key, self.in_channels, self.hidden, self.layers, self.edge_dim, self.weighting,
                                self.node_identity)
            ref = next(iter(self.encoders.values()), None)
            if ref is not None:
                enc.to(next(ref.parameters()).device)
            self.encoders[slot] = enc
        if init_from is not None:
            src = self.encoders[scheme_slot(init_from)].wgnn.state_dict()
            own = self.encoders[slot].wgnn.state_dict()
            for name, value in src.items():
                if name in own and own[name].shape == value.shape:
                    own[name] = value.clone()
            if own.get("identity.weight") is not None and "identity.weight" in own:
                own["identity.weight"] = torch.zeros_like(own["identity.weight"])
            self.encoders[slot].wgnn.load_state_dict(own)
        return self

    def encoder(self, scheme: str | None = None) -> SchemeEncoder:
        key = scheme or self.active
        slot = scheme_slot(key)
        if slot not in self.encoders:
            raise ShapeError(f"no encoder for {key} in this shared model (it has: {', '.join(self.schemes)})")
        return self.encoders[slot]

    def regions(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None, edge_attr: Tensor | None = None,
                scheme: str | None = None) -> Tensor:
        """``(B, R, H)`` the region-level representation of a batch of ``scheme``'s faces."""
        check_dense(x)
        if edge_index is None:
            raise ShapeError("the shared-region model needs edge_index (2, E)")
        return self.norm(self.encoder(scheme)(x, edge_index, edge_weight, edge_attr))

    def embed(self, x: Tensor, edge_index: Tensor | None = None, edge_weight: Tensor | None = None,
              edge_attr: Tensor | None = None, pos: Tensor | None = None, scheme: str | None = None) -> Tensor:
        """``(B, R H + R)``: the region representation (masked where a species maps no region) and the mask."""
        enc = self.encoder(scheme)
        r = self.regions(x, edge_index, edge_weight, edge_attr, scheme) * enc.present[None, :, None]
        return torch.cat([r.flatten(1), enc.present.expand(r.shape[0], -1)], 1)

    def units(self, embedding: Tensor) -> Tensor | None:
        """``(B, K)`` shared-unit intensities (0-1) from :meth:`embed`'s output, or ``None``."""
        return None if self.unit_head is None else torch.sigmoid(self.unit_head(embedding))

    def forward(self, x: Tensor, edge_index: Tensor | None = None, edge_weight: Tensor | None = None,
                edge_attr: Tensor | None = None, pos: Tensor | None = None, features: Tensor | None = None,
                scheme: str | None = None) -> Tensor:
        return self.head(self.embed(x, edge_index, edge_weight, edge_attr, pos, scheme))
