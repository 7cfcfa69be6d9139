"""Weighted facial graphs (PyG and networkx) and spatio-temporal point sets.

- :mod:`.builder`: :class:`FacialGraphBuilder` (vectorised over frames), :class:`GraphTensors`,
  :func:`graphs_from_sequences`.
- :mod:`.transforms`: the composable PyG-style transforms the builder chains.
- :mod:`.weights`: edge weightings and why strain carries pain.
- :mod:`.temporal`: co-movement, spatio-temporal clouds, sliding windows.
- :mod:`.networkx`: :func:`to_networkx`.
"""
from .builder import FacialGraphBuilder, GraphTensors, graphs_from_sequences
from .networkx import to_networkx
from .temporal import comovement, sliding_windows, spatiotemporal_cloud
from .transforms import (NODE_FEATURES, CoMovement, EdgeGeometry, EdgeWeight, FillMissing, NodeFeatures,
                         TemplateTopology, template_edges, template_triangles, vertex_normals)
from .weights import WEIGHTINGS, comovement_factor, distance_weight, strain_weight, uniform_weight

__all__ = [
    "FacialGraphBuilder", "GraphTensors", "graphs_from_sequences", "to_networkx",
    "comovement", "sliding_windows", "spatiotemporal_cloud",
    "TemplateTopology", "FillMissing", "EdgeGeometry", "EdgeWeight", "CoMovement", "NodeFeatures",
    "NODE_FEATURES", "template_edges", "template_triangles", "vertex_normals",
    "WEIGHTINGS", "strain_weight", "distance_weight", "uniform_weight", "comovement_factor",
]
