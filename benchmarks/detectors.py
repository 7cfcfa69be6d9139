"""Detector speed: per-frame time and frames/s on a real photo and on a video, and geopain's overhead.

For each available detector:
- ``lib``: the library's own calls alone (mediapipe: full-range detector + FaceMesh on the crop;
  dlib: HOG + predictor; others: the detector's inner call),
- ``detect``: ``Detector.detect`` (adds conversion to the landmark arrays),
- ``extract``: the whole pipeline on a 240-frame video (FAN: 24): decode, detect, track, write parts, merge.
On the video, ``lib`` is the time spent inside the detector's own work during that same pipeline
run (so load from other processes affects both alike), and
overhead = (extract - decode - lib) / lib per frame (target <= 10%).
Usage: ``python benchmarks/detectors.py`` (cache dirs in a temp folder; nothing downloaded).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_tmp = tempfile.mkdtemp(prefix="geopain-bench-")
for k, v in {"GEOPAIN_CACHE": _tmp, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": f"{_tmp}/ultralytics",
             "MPLCONFIGDIR": f"{_tmp}/mpl", "TORCH_HOME": f"{_tmp}/torch"}.items():
    os.environ.setdefault(k, v)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _detectors_helpers import photo, write_video  # noqa: E402

from geopain.detectors import create  # noqa: E402
from geopain.errors import GeopainError  # noqa: E402
import geopain.extract as ex  # noqa: E402
from geopain.extract import extract  # noqa: E402
from geopain.media import iter_video  # noqa: E402


def per_call(fn, arg, repeat: int) -> float:
    fn(arg)  # warm up
    t = time.perf_counter()
    for _ in range(repeat):
        fn(arg)
    return (time.perf_counter() - t) / repeat


def lib_call(det):
    """The library's own work for one image, as the detector does it, without geopain's arrays."""
    if det.name == "mediapipe":
        def run(img):
            h, w = img.shape[:2]
            res = det._face.process(img)
            for d in res.detections or []:
                bb = d.location_data.relative_bounding_box
                side = max(bb.width * w, bb.height * h) * 1.6
                cx, cy = (bb.xmin + bb.width / 2) * w, (bb.ymin + bb.height / 2) * h
                x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
                det._mesh.process(np.ascontiguousarray(img[y0:int(cy + side / 2), x0:int(cx + side / 2)]))
        return run
    if det.name == "dlib":
        def run(img):
            rects, _, _ = det._hog.run(img, det.upsample, det.min_score)
            for r in rects:
                det._predictor(img, r)
        return run
    return det._detect


def generated_fan_weights() -> None:
    """FAN weights in the right shapes (timing only: speed does not depend on the values)."""
    import torch
    from face_alignment.models import FAN

    from geopain.detectors.fan import FAN_FILES, checkpoints_dir

    ck = checkpoints_dir()
    ck.mkdir(parents=True, exist_ok=True)
    torch.save(FAN(4).state_dict(), ck / FAN_FILES["2d"])


def tiny_yolo(work: Path) -> str:
    """A YOLOv8n-pose trained 1 epoch on rendered sheep faces (timing only)."""
    from geopain.detectors.yolo import train_yolo_pose
    from geopain.synth.render import write_dataset

    data = write_dataset(work / "sheep", n=16, size=128)
    return str(train_yolo_pose(data, "sheep/spfes", work / "yolo", epochs=1, imgsz=128, batch=8))


def main() -> int:
    work = Path(_tmp)
    img = photo("astronaut")
    clips = {}
    for n in (240, 24):
        clips[n] = work / f"clip{n}.mp4"
        write_video(clips[n], n=n, fps=25, size=256)
    video = clips[240]
    t = time.perf_counter()
    for _ in iter_video(video):
        pass
    decode = (time.perf_counter() - t) / 240
    print(f"video: 240 (FAN: 24) frames 256x256, decode alone {decode * 1000:.2f} ms/frame")
    generated_fan_weights()
    weights = tiny_yolo(work)
    header = f"{'detector':<15}{'input':<8}{'lib ms':>9}{'detect ms':>11}{'extract ms':>12}{'frames/s':>10}{'overhead':>10}"
    print(header)
    for name, kw in (("mediapipe", {}), ("dlib", {}), ("face-alignment", {}), ("yolo-pose", {"weights": weights, "imgsz": 256})):
        video = clips[24 if name == "face-alignment" else 240]
        frames = [f for _, _, f in iter_video(video)]
        try:
            det = create(name, **kw)
        except GeopainError as exc:
            print(f"{name:<15}skipped: {exc}")
            continue
        lib = lib_call(det)
        repeat = 20 if name in ("mediapipe", "yolo-pose") else 3
        t_lib = per_call(lib, img, repeat)
        t_det = per_call(det.detect, img, repeat)
        print(f"{name:<15}{'photo':<8}{t_lib * 1000:>9.2f}{t_det * 1000:>11.2f}{'':>12}{1 / t_det:>10.1f}"
              f"{(t_det - t_lib) / t_lib:>10.1%}")
        t = time.perf_counter()
        for f in frames:
            det.detect(f)
        v_det = (time.perf_counter() - t) / len(frames)
        out = work / f"{name}.parquet"
        species = "sheep" if name == "yolo-pose" else "human"
        run = lambda: extract([video], species=species, detector=name, output=out, progress=False, resume=False,  # noqa: E731
                              detector_kwargs=kw)
        t = time.perf_counter()
        run()  # creates the detector (kept for the process, as a Ray worker keeps it)
        cold = time.perf_counter() - t
        # same-run accounting: time inside the detector's own work during the pipeline run
        (worker,) = [d for d in ex.loaded_detectors() if d.name == name][:1] or [None]
        inner = {"t": 0.0}
        if worker is not None:
            own = worker._detect

            def timed(img, _own=own):
                t0 = time.perf_counter()
                try:
                    return _own(img)
                finally:
                    inner["t"] += time.perf_counter() - t0

            worker._detect = timed
        t = time.perf_counter()
        res = run()
        warm = time.perf_counter() - t
        if worker is not None:
            worker._detect = own
        v_ext = warm / res.n_frames
        v_lib = inner["t"] / res.n_frames
        over = (v_ext - decode - v_lib) / v_lib
        print(f"{name:<15}{'video':<8}{v_lib * 1000:>9.2f}{v_det * 1000:>11.2f}{v_ext * 1000:>12.2f}{1 / v_ext:>10.1f}{over:>10.1%}")
        print(f"{'':<15}(first extract {cold:.2f} s incl. creating the detector; again {warm:.2f} s)")
        det.close()
    print("video overhead = (extract - decode - lib) / lib per frame, same run, detector already created; "
          "FAN timed with generated weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
