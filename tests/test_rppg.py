"""rPPG (POS, CHROM) on videos rendered from a real photo with a known pulse in the skin, and refusal
on the same face without a pulse."""
from __future__ import annotations

import numpy as np
import pytest

from geopain.errors import GeopainError, ShapeError
from geopain.rppg import chrom, estimate_heart_rate, pos, region_polygons, render_pulse_video, skin_regions, spectrum_heart_rate


@pytest.fixture(scope="module")
def astronaut():
    """The face of scikit-image's astronaut, cropped, with its iBUG-68 landmarks from MediaPipe."""
    pytest.importorskip("mediapipe")
    from skimage import data

    from geopain.extract import detect_image
    from geopain.species import convert_sequence

    img = data.astronaut()
    faces = detect_image(img, detector="mediapipe")
    assert faces, "MediaPipe found no face in the astronaut photo"
    lm = convert_sequence(faces[0], "human/ibug68").coords[0, :, :2]
    x0, y0 = np.maximum(lm.min(0) - 30, 0).astype(int)
    x1, y1 = (lm.max(0) + 30).astype(int)
    return img[y0:y1, x0:x1], lm - [x0, y0]


class TestEstimateHeartRate:
    @pytest.mark.parametrize("method", ["pos", "chrom"])
    @pytest.mark.parametrize("fps,hr,motion", [(30, 72.0, 0.0), (25, 96.0, 3.0)])
    def test_rendered_pulse_within_3_bpm(self, astronaut, method, fps, hr, motion):
        image, lm = astronaut
        frames, moved = render_pulse_video(image, lm, fps=fps, seconds=8, hr_bpm=hr, amplitude=0.006,
                                           motion_px=motion, seed=2)
        out = estimate_heart_rate(frames, moved, fps, method=method)
        assert out["quality"] == "ok" and abs(out["hr_bpm"] - hr) <= 3.0

    @pytest.mark.parametrize("method", ["pos", "chrom"])
    def test_no_pulse_is_refused(self, astronaut, method):
        image, lm = astronaut
        frames, moved = render_pulse_video(image, lm, fps=25, seconds=8, hr_bpm=None, motion_px=3.0, seed=3)
        out = estimate_heart_rate(frames, moved, 25, method=method)
        assert out["quality"] == "low" and out["hr_bpm"] is None

    def test_errors(self, astronaut):
        image, lm = astronaut
        frames, moved = render_pulse_video(image, lm, fps=25, seconds=2, seed=0)
        with pytest.raises(GeopainError, match="at least 4 s"):
            estimate_heart_rate(frames, moved, 25)
        with pytest.raises(GeopainError, match="method"):
            estimate_heart_rate(frames, moved, 25, method="green")
        with pytest.raises(ShapeError, match="68"):
            region_polygons(np.zeros((5, 2)))


class TestMethods:
    @pytest.mark.parametrize("fn", [pos, chrom])
    def test_synthetic_colour_trace(self, fn):
        fps, t = 30.0, np.arange(300) / 30.0
        rgb = 150 * (1 + 0.005 * np.array([0.33, 0.77, 0.53])[None] * np.sin(2 * np.pi * 1.25 * t)[:, None])
        rgb = rgb + np.random.default_rng(0).normal(0, 0.05, rgb.shape)
        out = spectrum_heart_rate(fn(rgb, fps), fps)
        assert abs(out["hr_bpm"] - 75.0) <= 1.0

    def test_regions_inside_face(self, astronaut):
        image, lm = astronaut
        masks = skin_regions(lm[None], image.shape[:2])
        assert masks.shape == (1, 3) + image.shape[:2] and (masks.sum((2, 3)) > 50).all()
        assert not (masks[0, 1] & masks[0, 2]).any()  # the cheeks are apart


class TestVideoSkinColour:
    """The per-frame skin colour read from a video file under its landmarks: what `dataset prepare
    biovid --rppg` puts in the side table and the fusion models read as the rPPG signal."""

    @staticmethod
    def _write(path, frames, fps):
        import cv2

        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames.shape[2:0:-1])
        assert writer.isOpened()
        for f in frames:
            writer.write(np.ascontiguousarray(f[..., ::-1]))
        writer.release()

    @staticmethod
    def _sequence(landmarks, **kw):
        from geopain.landmarks import LandmarkSequence

        T = len(landmarks)
        return LandmarkSequence(coords=np.asarray(landmarks, np.float32), scheme="human/ibug68", fps=25.0,
                                timestamps=np.arange(T) / 25.0, units=kw.pop("units", "px"), **kw)

    def test_rendered_pulse_through_a_video_file(self, astronaut, tmp_path):
        from geopain.biosignals.features import rppg_features
        from geopain.rppg import video_skin_colour

        image, lm = astronaut
        frames, moved = render_pulse_video(image, lm, fps=25, seconds=8, hr_bpm=84.0, amplitude=0.006,
                                           motion_px=2.0, seed=4)
        self._write(tmp_path / "pulse.avi", frames, 25)
        colour = video_skin_colour(tmp_path / "pulse.avi", self._sequence(moved))
        assert colour.shape == (len(frames), 3) and np.isfinite(colour).all()
        assert rppg_features(colour, 25.0)["rppg_hr_bpm"] == pytest.approx(84.0, abs=3.0)
        still, _ = render_pulse_video(image, lm, fps=25, seconds=8, hr_bpm=None, motion_px=2.0, seed=5)
        self._write(tmp_path / "still.avi", still, 25)
        assert np.isnan(rppg_features(video_skin_colour(tmp_path / "still.avi", self._sequence(moved)), 25.0)["rppg_hr_bpm"])

    def test_frames_without_a_face_and_errors(self, astronaut, tmp_path):
        from geopain.errors import InputError
        from geopain.rppg import video_skin_colour

        image, lm = astronaut
        frames, moved = render_pulse_video(image, lm, fps=25, seconds=1, seed=0)
        self._write(tmp_path / "v.avi", frames, 25)
        moved = moved.copy()
        moved[3] = np.nan  # no face in frame 3
        colour = video_skin_colour(tmp_path / "v.avi", self._sequence(moved))
        assert np.isnan(colour[3]).all() and np.isfinite(np.delete(colour, 3, 0)).all()
        with pytest.raises(InputError, match="image pixels"):
            video_skin_colour(tmp_path / "v.avi", self._sequence(moved, units="cm"))
        from geopain.landmarks import LandmarkSequence

        sheep = LandmarkSequence(coords=np.zeros((len(frames), 28, 2), np.float32), scheme="sheep/spfes", fps=25.0,
                                 units="px")
        with pytest.raises(InputError, match="no conversion"):
            video_skin_colour(tmp_path / "v.avi", sheep)
