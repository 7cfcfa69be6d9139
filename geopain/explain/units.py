"""Landmark attributions -> pain units and regions, through the species adapter only.

A species adapter (``species/<species>/<scheme>.yaml``) declares its measurements, each
belonging to a pain unit, where each unit shows (the landmarks its measurements report the
movement of, plus ``unit_shows_on``: :meth:`geopain.species.Scheme.unit_shown_landmarks`), and
its regions. Nothing here knows a species: a user-written adapter gets unit and region
explanations with no code.

Units: :func:`unit_attributions` reports the Shapley values that :func:`~geopain.explain.explain`
computes in the input space (:mod:`geopain.explain.shapley`) where it has them. Otherwise (and
for :func:`unit_landmark_weights`'s users) a landmark's attribution is shared equally among the
units that show on it, so unit attributions add up to the attribution of those landmarks; the
rest is reported as ``other``. Regions: every landmark belongs to at most one region, so region
attributions partition the total.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..species import Scheme


def unit_landmark_weights(scheme: Scheme) -> tuple[list[str], np.ndarray]:
    """``(units, W (U, N))``: each unit's share of each landmark (columns sum to 1 or 0)."""
    ul = scheme.unit_shown_landmarks()
    scale_units = list(scheme.pain_scale.units) if scheme.pain_scale is not None else []
    units = [u for u in scale_units if u in ul] + [u for u in ul if u not in scale_units]
    W = np.zeros((len(units), scheme.n_points))
    for i, u in enumerate(units):
        W[i, ul[u]] = 1.0
    claims = W.sum(0)
    W = np.divide(W, claims, out=np.zeros_like(W), where=claims > 0)
    return units, W


def unit_label(scheme: Scheme, unit: str) -> str:
    """``"AU4 brow lowerer"``: the unit's name with its scale's words (when the scale has them)."""
    scale = scheme.pain_scale
    desc = scale.units[unit].description if scale is not None and unit in scale.units else ""
    name = unit.replace("_", " ")
    return f"{name} ({desc})" if desc and desc.lower() != name.lower() else name


def unit_attributions(att, include_other: bool = True) -> pd.DataFrame:
    """``(F, U[+1])`` DataFrame of per-frame unit attributions (columns: unit names, ``other``)."""
    if att.units is not None:
        df = pd.DataFrame(att.units, columns=att.unit_names)
        return df if include_other else df.drop(columns="other")
    units, W = unit_landmark_weights(att.scheme)
    lm = att.landmarks
    data = np.nan_to_num(lm) @ W.T
    data[~np.isfinite(lm).all(1)] = np.nan
    df = pd.DataFrame(data, columns=units)
    if include_other:
        other = np.nansum(lm * (W.sum(0) == 0)[None], 1)
        other[~np.isfinite(lm).all(1)] = np.nan
        df["other"] = other
    return df


def region_attributions(att) -> pd.DataFrame:
    """``(F, R)`` DataFrame of per-frame region attributions (the scheme's regions)."""
    scheme = att.scheme
    names = list(scheme.regions)
    W = np.zeros((len(names), scheme.n_points))
    for i, r in enumerate(names):
        W[i, list(scheme.regions[r])] = 1.0
    lm = att.landmarks
    data = np.nan_to_num(lm) @ W.T
    data[~np.isfinite(lm).all(1)] = np.nan
    return pd.DataFrame(data, columns=names)


def unit_shares(values: pd.Series | np.ndarray, units: list[str]) -> np.ndarray:
    """Shares of ``|attribution|`` (sum 1) of a vector of unit attributions."""
    v = np.abs(np.nan_to_num(np.asarray(values, dtype=np.float64)))
    s = v.sum()
    return v / s if s > 0 else v


def top_unit(att, frames: np.ndarray | None = None) -> str | None:
    """The unit with the largest summed (signed, towards more pain) attribution over ``frames``."""
    df = unit_attributions(att, include_other=False)
    if frames is not None:
        df = df.iloc[np.asarray(frames)]
    tot = df.sum(0, skipna=True)
    return None if tot.empty else str(tot.idxmax())
