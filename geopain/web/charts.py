"""Server-rendered SVG charts for the dashboard: a subject's score timeline and one face's landmarks.

No JavaScript and nothing fetched: each chart is one ``<svg>`` string with labelled axes, a
caption-ready title, the alert threshold as a dashed line, alert bands shaded, abstained
windows marked, and every point (or time bucket, when there are more windows than pixels)
a link to that moment.
"""
from __future__ import annotations

from html import escape
from typing import Callable

import numpy as np


def _ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    if not np.isfinite([lo, hi]).all() or hi <= lo:
        return np.array([lo])
    raw = (hi - lo) / max(1, n)
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    return np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)


def _fmt_time(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def timeline_svg(timeline: dict[str, np.ndarray], alerts: list[dict], threshold: float | None, y_label: str,
                 y_range: tuple[float, float] | None = None, link: Callable[[int], str] | None = None,
                 width: int = 960, height: int = 300, max_points: int = 600, title: str = "") -> str:
    """The score of one subject over time.

    Args:
        timeline: :meth:`geopain.store.Store.timeline` arrays (``id``, ``start_ms``, ``end_ms``,
            ``value``, ``scored``).
        alerts: dicts with ``start_ms``/``end_ms`` (drawn as red bands).
        threshold: the alert level (dashed line), or ``None``.
        y_label: the score's name and units.
        y_range: the y axis (default: the data's, with the threshold).
        link: window id -> URL of that moment.
        max_points: more windows than this are drawn as time buckets (mean line, min-max band),
            each bucket linking to its highest-scoring window.
    """
    W, H = int(width), int(height)
    ml, mr, mt, mb = 64, 16, 28 if title else 12, 44
    pw, ph = W - ml - mr, H - mt - mb
    ids, s, e = timeline["id"], timeline["start_ms"], timeline["end_ms"]
    v, ok = timeline["value"], timeline["scored"]
    mid = (s + e) / 2000.0  # seconds
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
           f'class="chart timeline" role="img" aria-label="{escape(title or "score timeline")}">']
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" class="plot-bg"/>')
    if title:
        out.append(f'<text x="{W / 2}" y="18" class="title" text-anchor="middle">{escape(title)}</text>')
    if not len(ids):
        out.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="empty">no windows stored yet</text></svg>')
        return "".join(out)
    t0, t1 = float(s.min()) / 1000, float(e.max()) / 1000
    if t1 <= t0:
        t1 = t0 + 1
    finite = v[ok & np.isfinite(v)]
    if y_range is not None:
        y0, y1 = map(float, y_range)
    else:
        vals = np.concatenate([finite, [threshold] if threshold is not None else []])
        y0, y1 = (float(vals.min()), float(vals.max())) if len(vals) else (0.0, 1.0)
        pad = 0.08 * (y1 - y0) if y1 > y0 else 0.5
        y0, y1 = y0 - pad, y1 + pad
    X = lambda t: ml + (np.asarray(t, float) - t0) / (t1 - t0) * pw  # noqa: E731
    Y = lambda y: mt + ph - (np.clip(np.asarray(y, float), y0, y1) - y0) / (y1 - y0) * ph  # noqa: E731
    # grid and axes
    for ty in _ticks(y0, y1, 5):
        yy = float(Y(ty))
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
                   f'<text x="{ml - 6}" y="{yy + 4:.1f}" text-anchor="end" class="tick">{ty:g}</text>')
    for tx in _ticks(t0, t1, 8):
        xx = float(X(tx))
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{mt}" y2="{mt + ph}" class="grid"/>'
                   f'<text x="{xx:.1f}" y="{mt + ph + 16}" text-anchor="middle" class="tick">{_fmt_time(tx)}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{H - 6}" text-anchor="middle" class="axis">time (m:ss from the start)</text>')
    out.append(f'<text transform="translate(14 {mt + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">'
               f'{escape(y_label)}</text>')
    for a in alerts:
        xa, xb = float(X(a["start_ms"] / 1000)), float(X(a["end_ms"] / 1000))
        out.append(f'<rect x="{xa:.1f}" y="{mt}" width="{max(xb - xa, 1.5):.1f}" height="{ph}" class="alert-band">'
                   f'<title>alert {_fmt_time(a["start_ms"] / 1000)}-{_fmt_time(a["end_ms"] / 1000)}, peak '
                   f'{a["peak"]:.3g}</title></rect>')
    if threshold is not None and y0 <= threshold <= y1:
        yy = float(Y(threshold))
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{yy:.1f}" y2="{yy:.1f}" class="threshold"/>'
                   f'<text x="{ml + pw - 4}" y="{yy - 4:.1f}" text-anchor="end" class="threshold-label">'
                   f'alert threshold {threshold:g}</text>')
    # abstained windows: ticks along the bottom
    ab = np.flatnonzero(~ok)
    if len(ab):
        xs = np.unique(np.round(X(mid[ab]), 0))
        out.append('<path class="abstained" d="' + "".join(f"M{x:.0f} {mt + ph}v-6" for x in xs) + '">'
                   f'<title>{len(ab)} abstained window(s)</title></path>')
    sc = np.flatnonzero(ok & np.isfinite(v))
    if len(sc) <= max_points:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(X(mid[sc]), Y(v[sc])))
        out.append(f'<polyline points="{pts}" class="score-line"/>')
        for i in sc:
            dot = (f'<circle cx="{float(X(mid[i])):.1f}" cy="{float(Y(v[i])):.1f}" r="3.5" class="point">'
                   f'<title>{_fmt_time(mid[i])}: {v[i]:.3g}</title></circle>')
            out.append(f'<a href="{escape(link(int(ids[i])))}" class="moment">{dot}</a>' if link else dot)
    else:
        edges = np.linspace(t0, t1, max_points + 1)
        b = np.clip(np.searchsorted(edges, mid[sc], side="right") - 1, 0, max_points - 1)
        order = np.lexsort((-v[sc], b))  # per bucket, the highest value first
        first = np.flatnonzero(np.r_[True, np.diff(b[order]) != 0])
        buckets = b[order][first]
        top = sc[order][first]
        sums = np.bincount(b, weights=v[sc], minlength=max_points)
        cnt = np.bincount(b, minlength=max_points)
        lo = np.full(max_points, np.inf)
        np.minimum.at(lo, b, v[sc])
        hi = np.full(max_points, -np.inf)
        np.maximum.at(hi, b, v[sc])
        xc = X((edges[:-1] + edges[1:]) / 2)
        used = cnt > 0
        band = [f"{x:.1f},{y:.1f}" for x, y in zip(xc[used], Y(hi[used]))] + \
               [f"{x:.1f},{y:.1f}" for x, y in zip(xc[used][::-1], Y(lo[used][::-1]))]
        out.append(f'<polygon points="{" ".join(band)}" class="score-band"/>')
        mean = sums[used] / cnt[used]
        out.append('<polyline points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xc[used], Y(mean)))
                   + '" class="score-line"/>')
        if link:
            bw = pw / max_points
            for bk, i in zip(buckets, top):
                out.append(f'<a href="{escape(link(int(ids[i])))}" class="moment"><rect x="{ml + bk * bw:.1f}" y="{mt}" '
                           f'width="{bw:.2f}" height="{ph}" class="bucket"><title>{_fmt_time(mid[i])}: max '
                           f'{v[i]:.3g}</title></rect></a>')
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" class="frame"/></svg>')
    return "".join(out)


def landmarks_svg(coords: np.ndarray, edges: np.ndarray | None = None, regions: dict[str, tuple[int, ...]] | None = None,
                  size: int = 420, title: str = "") -> str:
    """One face's points (source pixels, y down) with the scheme's edges, coloured by region."""
    xy = np.asarray(coords, np.float64)[:, :2]
    okp = np.isfinite(xy).all(1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
           f'class="chart landmarks" role="img" aria-label="{escape(title or "landmarks")}">',
           f'<rect x="0" y="0" width="{size}" height="{size}" class="plot-bg"/>']
    if not okp.any():
        out.append(f'<text x="{size / 2}" y="{size / 2}" text-anchor="middle" class="empty">no landmarks</text></svg>')
        return "".join(out)
    lo, hi = xy[okp].min(0), xy[okp].max(0)
    span = float(max(hi - lo)) or 1.0
    pad = 28
    scale = (size - 2 * pad) / span
    off = (size - (hi - lo) * scale) / 2
    P = (xy - lo) * scale + off
    if edges is not None and len(edges):
        e = np.asarray(edges, int)
        e = e[okp[e[:, 0]] & okp[e[:, 1]]]
        out.append('<path class="edges" d="' + "".join(f"M{P[a, 0]:.1f} {P[a, 1]:.1f}L{P[b, 0]:.1f} {P[b, 1]:.1f}"
                                                       for a, b in e) + '"/>')
    region_of = np.full(len(xy), -1)
    names = list(regions or {})
    for k, name in enumerate(names):
        idx = np.asarray(regions[name], int)
        region_of[idx[idx < len(xy)]] = k
    for i in np.flatnonzero(okp):
        r = int(region_of[i])
        cls = f"pt r{r % 8}" if r >= 0 else "pt"
        label = f"{i}" + (f" ({names[r]})" if r >= 0 else "")
        out.append(f'<circle cx="{P[i, 0]:.1f}" cy="{P[i, 1]:.1f}" r="2.6" class="{cls}"><title>{escape(label)}'
                   f'</title></circle>')
    if title:
        out.append(f'<text x="{size / 2}" y="16" text-anchor="middle" class="title">{escape(title)}</text>')
    out.append(f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle" class="axis">'
               f'{int(okp.sum())} points, image pixels (x right, y down)</text></svg>')
    return "".join(out)
