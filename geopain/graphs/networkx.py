"""networkx view of a facial graph, for geometric research (centralities, paths, spectra).

:func:`to_networkx` turns one PyG ``Data`` from :class:`~geopain.graphs.FacialGraphBuilder`
into an undirected :class:`networkx.Graph` with the same edge weights: node attributes
``pos`` (x, y, z), ``region`` (name), ``name`` (landmark name, when a scheme is given);
edge attributes ``weight``, ``length``, ``strain`` (from ``edge_attr``).
"""
from __future__ import annotations

import networkx as nx
import numpy as np

from ..errors import ShapeError
from ..species import REGIONS, Scheme, get_scheme

__all__ = ["to_networkx"]


def to_networkx(data, scheme: Scheme | str | None = None) -> nx.Graph:
    """Undirected networkx graph of one ``Data`` (both directions of an edge become one edge)."""
    if getattr(data, "edge_index", None) is None or getattr(data, "pos", None) is None:
        raise ShapeError("to_networkx: data needs edge_index and pos (one graph from FacialGraphBuilder)")
    pos = np.asarray(data.pos, dtype=np.float64)
    if pos.ndim != 2:
        raise ShapeError(f"to_networkx: one graph expected, pos has shape {pos.shape}")
    ei = np.asarray(data.edge_index)
    E = ei.shape[1]
    w = np.ones(E) if getattr(data, "edge_weight", None) is None else np.asarray(data.edge_weight, dtype=np.float64)
    attr = None if getattr(data, "edge_attr", None) is None else np.asarray(data.edge_attr, dtype=np.float64)
    sch = get_scheme(scheme) if isinstance(scheme, str) else scheme
    G = nx.Graph()
    region = None if getattr(data, "region", None) is None else np.asarray(data.region)
    if region is None and sch is not None:
        region = sch.region_index
    for i in range(pos.shape[0]):
        node = {"pos": tuple(pos[i])}
        if region is not None:
            node["region"] = REGIONS[int(region[i])]
        if sch is not None:
            node["name"] = sch.landmarks[i]
        G.add_node(i, **node)
    keep = ei[0] < ei[1]  # one direction of each undirected edge
    for e in np.flatnonzero(keep):
        ed = {"weight": float(w[e])}
        if attr is not None:
            ed["length"], ed["strain"] = float(attr[e, 0]), float(attr[e, 1])
        G.add_edge(int(ei[0, e]), int(ei[1, e]), **ed)
    return G
