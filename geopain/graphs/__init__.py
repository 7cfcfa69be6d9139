"""Weighted facial graphs (PyG and networkx) and spatio-temporal point sets.

- :mod:`.builder`: :class:`FacialGraphBuilder` (vectorised over frames), :class:`GraphTensors`,
  :func:`graphs_from_sequences`.
- :mod:`.transforms`: the composable PyG-style transforms the builder chains.
- :mod:`.weights`: edge weightings and why strain carries pain.
- :mod:`.temporal`: co-movement, spatio-temporal clouds, sliding windows.
- :mod:`.networkx`: :func:`to_networkx`.
"""
import importlib

# Attributes load on first use (PEP 562): geopain.graphs.arrays and .weights, which the
# torch-free ONNX path needs, import without torch; the rest imports torch / torch-geometric.
_EXPORTS = {
    "builder": ("FacialGraphBuilder", "GraphTensors", "graphs_from_sequences"),
    "networkx": ("to_networkx",),
    "temporal": ("comovement", "sliding_windows", "spatiotemporal_cloud"),
    "transforms": ("NODE_FEATURES", "CoMovement", "EdgeGeometry", "EdgeWeight", "FillMissing", "NodeFeatures",
                   "TemplateTopology", "template_edges", "template_triangles", "vertex_normals"),
    "weights": ("WEIGHTINGS", "comovement_factor", "distance_weight", "strain_weight", "uniform_weight"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}

__all__ = [
    "FacialGraphBuilder", "GraphTensors", "graphs_from_sequences", "to_networkx",
    "comovement", "sliding_windows", "spatiotemporal_cloud",
    "TemplateTopology", "FillMissing", "EdgeGeometry", "EdgeWeight", "CoMovement", "NodeFeatures",
    "NODE_FEATURES", "template_edges", "template_triangles", "vertex_normals",
    "WEIGHTINGS", "strain_weight", "distance_weight", "uniform_weight", "comovement_factor",
]


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
