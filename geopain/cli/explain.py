"""``geopain explain MODEL_DIR INPUT -o DIR``: why a model scored what it scored.

INPUT is what ``geopain predict`` takes (a landmark table, an image, a video or a folder; the
same input handling). DIR receives:

- ``attributions.csv`` (or ``.parquet``): one row per frame x item, long format: ``subject,
  sequence, face_id, frame, time, level`` (``landmark`` / ``edge`` / ``measurement`` / ``unit``
  / ``region``), ``name``, ``attribution`` (units of the explained output: pain log-odds,
  expected level or score);
- ``frames.csv``: per frame the explained output, its reference value, the prediction with
  ``status``/``reason``, and one column per pain unit;
- per sequence (the first ``--max-plots``): ``<seq>_heatmap.png`` (on the image when the input is
  an image or a video, on the species template for tables), ``<seq>_edges.png``,
  ``<seq>_units.png`` and, for sequences of more than one frame, ``<seq>_timeline.png``.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import GeopainError
from .predict import load_input


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="attributions of a model's pain output to landmarks, edges, pain units and time",
                       description="Explain a trained model's pain output per frame: integrated gradients (neural "
                                   "models) or Shapley values (measurement baselines), mapped to landmarks, edges, "
                                   "the species' pain units and regions. INPUT is what 'geopain predict' takes.")
    p.add_argument("model", help="model directory written by 'geopain train'")
    p.add_argument("input", help="landmark table (.parquet/.csv), image, video, or a folder of images and videos")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="attribution table format (default csv)")
    p.add_argument("--reference", choices=["auto", "template", "calmest"], default="auto",
                   help="what each frame is compared with: the species template face, or the calmest frame (lowest "
                        "output) of its own sequence; auto: calmest for sequences of several frames, template for "
                        "single photos (default auto)")
    p.add_argument("--steps", type=int, default=16, help="integrated-gradients steps (default 16: completeness error median 0.7%%, 90th percentile 3%% of the output change)")
    p.add_argument("--detector", default=None, help="landmark detector for images and videos (default: the species')")
    p.add_argument("--stride", type=int, default=1, help="use every STRIDE-th video frame (default 1)")
    p.add_argument("--subject-from", choices=["folder", "file", "face-track", "column"], default=None,
                   help="who is who (as for 'geopain predict')")
    p.add_argument("--subject-column", default="subject", metavar="NAME", help="table column of the subject")
    p.add_argument("--max-plots", type=int, default=10, help="plot at most this many sequences (default 10)")
    p.add_argument("--quiet", action="store_true", help="no progress bar while detecting")
    p.set_defaults(func=run)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80] or "sequence"


def _image_and_points(seq, frame_row: int):
    """The image (H, W, 3) behind a frame of an image or video sequence and the landmarks in its pixels."""
    import numpy as np

    from ..media import iter_video, media_kind, read_image

    src = seq.source
    if not src or seq.units != "px" or not Path(str(src)).is_file():
        return None, None
    kind = media_kind(src)
    frame_no = int(seq.frames[frame_row])
    image = None
    if kind == "image":
        image = read_image(src)
    elif kind == "video":
        for i, _, img in iter_video(src, start=frame_no):
            image = img
            break
    if image is None:
        return None, None
    return image, np.asarray(seq.coords[frame_row, :, :2], dtype=np.float64)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from ..explain import explain
    from ..explain.attribution import long_table
    from ..explain.plots import plot_face_heatmap, plot_top_edges, plot_unit_bars, plot_unit_timeline, unit_summary
    from ..explain.units import unit_attributions
    from ..models import PainEstimator

    est = PainEstimator.load(args.model)
    if est.temporal:
        raise GeopainError(f"{args.model}: explain works on frame models; this one was trained on windows")
    seqs = load_input(Path(args.input), est.scheme_, args.detector, args.stride, args.subject_from,
                      args.subject_column, progress=not args.quiet)
    problem = est.reference_problem(seqs)
    if problem is not None:
        raise GeopainError(f"{args.model}: {' '.join(str(problem).split())}")
    att = explain(est, seqs, n_steps=args.steps, reference=args.reference)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    table = long_table(att)
    tpath = out / f"attributions.{args.format}"
    if args.format == "parquet":
        table.to_parquet(tpath, index=False)
    else:
        table.to_csv(tpath, index=False)
    pred = est.predict_frames(seqs)
    frames = pd.DataFrame({k: v for k, v in att.frame_ids.items()})
    frames["explained"] = att.target
    frames["output"] = att.output
    frames["reference_output"] = att.reference_output
    frames["reference"] = att.reference
    for col in ("prediction", "p_1", "expected_level", "status", "reason"):
        if col in pred.columns:
            frames[col] = pred[col].to_numpy()
    frames = pd.concat([frames, unit_attributions(att).add_prefix("unit_")], axis=1)
    frames.to_csv(out / "frames.csv", index=False)
    start = 0
    written = []
    for i, s in enumerate(seqs):
        rows = np.arange(start, start + s.n_frames)
        start += s.n_frames
        rows = rows[att.found[rows]]
        if i >= args.max_plots or not len(rows):
            continue
        stem = _safe(f"{s.subject}_{s.sequence}_{s.face_id}")
        peak = int(rows[np.nanargmax(att.output[rows])])
        image, points = _image_and_points(s, peak - (start - s.n_frames))
        label = f"{s.subject}/{s.sequence}"
        what = f"frame {int(att.frame_ids['frame'][peak])}" if len(rows) > 1 else "the frame"
        written.append(plot_face_heatmap(att, [peak], out / f"{stem}_heatmap.png", image=image, points=points,
                                         title=f"{label}: landmark attributions, {what} (highest {att.target})"))
        written.append(plot_top_edges(att, rows, out / f"{stem}_edges.png",
                                      title=f"{label}: what mattered (mean over {len(rows)} frame(s))"))
        written.append(plot_unit_bars(att, rows, out / f"{stem}_units.png"))
        if len(rows) > 1:
            written.append(plot_unit_timeline(att, rows, out / f"{stem}_timeline.png",
                                              title=f"{label}: pain units over time"))
        words = ", ".join(f"{lab} {100 * sh:.0f}%" for lab, _, sh in unit_summary(att, rows)[:3])
        print(f"  {label}: {words}")
    print(f"{int(att.found.sum())} frames explained ({att.method}, {att.target}, reference: "
          f"{', '.join(sorted(set(att.reference[att.found].tolist())))}); wrote {tpath}, {out / 'frames.csv'} and "
          f"{len(written)} plots in {out}", file=sys.stdout)
    return 0
