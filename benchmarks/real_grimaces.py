"""A real photo warped into graded grimaces and a strong smile, scored end to end.

scikit-image's astronaut (a real, smiling face) goes through MediaPipe; its iBUG 68 landmarks
are moved by a pain grimace of increasing intensity (FACS AU4 brow lowering, AU6/7 lid
tightening, AU9/10 upper-lip raise; sizes relative to the distance between the eyes) or by a
strong smile (AU12 with some AU6), the photo is warped with those moves (a piecewise affine
warp, scikit-image), and MediaPipe runs again on the warped photo. A reference-free model
trained only on simulated faces should rank the grimaces by intensity and score the smile low.

    python benchmarks/real_grimaces.py [MODEL_DIR]     (default: geopain's shipped human encoder)
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

INTENSITIES = (0.0, 0.33, 0.67, 1.0)


def _moves(points: np.ndarray, kind: str, k: float) -> np.ndarray:
    """``(68, 2)`` pixel displacements (image axes, y down) of an iBUG 68 face."""
    p = points
    iod = np.linalg.norm(p[42:48].mean(0) - p[36:42].mean(0))
    mid_x = p[27:31, 0].mean()
    d = np.zeros_like(p)
    if kind == "grimace":
        d[17:27, 1] += 0.10 * iod * k  # AU4: brows down ...
        inner = [19, 20, 21, 22, 23, 24]
        d[inner, 0] += np.sign(mid_x - p[inner, 0]) * 0.05 * iod * k  # ... and together
        d[[37, 38, 43, 44], 1] += 0.06 * iod * k  # AU7: upper lids down
        d[[40, 41, 46, 47], 1] -= 0.05 * iod * k  # AU6/7: lower lids up
        d[[49, 50, 51, 52, 53, 61, 62, 63], 1] -= 0.08 * iod * k  # AU10: upper lip up
        d[[31, 35], 1] -= 0.04 * iod * k  # AU9: nose wings up
        d[[48, 54], 1] -= 0.03 * iod * k
    elif kind == "smile":
        corners = np.array([48, 54])
        d[corners, 1] -= 0.12 * iod * k  # AU12: corners up ...
        d[corners, 0] += np.sign(p[corners, 0] - mid_x) * 0.10 * iod * k  # ... and out
        d[[49, 53, 59, 55, 60, 64], 0] += np.sign(p[[49, 53, 59, 55, 60, 64], 0] - mid_x) * 0.05 * iod * k
        d[[40, 41, 46, 47], 1] -= 0.02 * iod * k  # a little AU6
    else:
        raise ValueError(kind)
    return d


def warp_face(image: np.ndarray, points: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """``image`` warped so that ``points (68, 2)`` move by ``moves``; the image border stays."""
    from skimage.transform import PiecewiseAffineTransform, warp

    h, w = image.shape[:2]
    centre = points.mean(0)
    ring = centre + 1.6 * (points[[0, 4, 8, 12, 16, 19, 24]] - centre)
    border = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [w / 2, 0], [w / 2, h - 1], [0, h / 2],
                       [w - 1, h / 2]])
    src = np.concatenate([points, ring, border])
    dst = np.concatenate([points + moves, ring, border])
    tform = PiecewiseAffineTransform.from_estimate(dst, src)  # warp() maps output coordinates back to the input
    out = warp(image, tform, output_shape=image.shape[:2], preserve_range=True)
    return np.clip(out, 0, 255).astype(np.uint8)


def score_grimaces(estimator, image: np.ndarray | None = None) -> dict[str, Any]:
    """Scores of the astronaut warped into grimaces of :data:`INTENSITIES` and a strong smile.

    Returns ``{"grimace": [score per intensity], "smile": score, "column": what the score is}``.
    """
    from skimage import data

    from geopain.extract import detect_image

    image = data.astronaut() if image is None else image
    face = detect_image(image, detector="mediapipe", scheme="human/ibug68")[0]
    points = face.coords[0, :, :2].astype(np.float64)

    def score(img: np.ndarray) -> float:
        faces = detect_image(img, detector="mediapipe", scheme="human/ibug68")
        if not faces:
            return float("nan")
        if estimator.task == "score":
            return float(estimator.predict(faces[:1])[0])
        proba = estimator.predict_proba(faces[:1])[0]
        return float(proba[1]) if estimator.task == "binary" else float((proba * np.arange(len(proba))).sum())

    grimace = [score(warp_face(image, points, _moves(points, "grimace", k))) for k in INTENSITIES]
    smile = score(warp_face(image, points, _moves(points, "smile", 1.0)))
    return {"grimace": grimace, "smile": smile, "intensities": list(INTENSITIES),
            "column": {"score": "predicted scale score", "binary": "p(pain)", "levels": "expected level"}[estimator.task]}


def main(argv: list[str]) -> int:
    from geopain.models import PainEstimator
    from geopain.models.pretrained import pretrained_dir

    est = PainEstimator.load(argv[0] if argv else pretrained_dir("human/ibug68", "wgnn"))
    res = score_grimaces(est)
    for k, s in zip(res["intensities"], res["grimace"]):
        print(f"grimace {k:.2f}: {res['column']} {s:.3f}")
    print(f"strong smile:  {res['column']} {res['smile']:.3f}")
    ranked = bool(np.all(np.diff(res["grimace"]) > 0))
    print(f"grimaces ranked by intensity: {ranked}; smile below the mildest grimace step: "
          f"{res['smile'] < res['grimace'][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
