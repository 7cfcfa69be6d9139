"""Explanations of pain predictions: landmarks, edges, pain units, regions and time.

>>> from geopain.explain import explain, unit_attributions
>>> att = explain(estimator, sequences)            # (F, N) landmark attributions, (F, E) edges
>>> units = unit_attributions(att)                 # (F, U) per pain unit of the species' scale

See :mod:`geopain.explain.attribution` (methods, completeness), :mod:`geopain.explain.units`
(aggregation through the species adapter's unit -> landmark map), :mod:`geopain.explain.plots`
(face heatmap, top edges, unit bars, unit timeline) and :mod:`geopain.explain.faithfulness`
(deletion / insertion curves).
"""
from __future__ import annotations

from .attribution import Attribution, explain, explained_output
from .units import region_attributions, unit_attributions, unit_landmark_weights

__all__ = ["Attribution", "explain", "explained_output", "unit_attributions", "region_attributions",
           "unit_landmark_weights"]
