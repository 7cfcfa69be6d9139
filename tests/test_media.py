"""Images as users have them, and videos, read by geopain.media."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from geopain.errors import InputError
from geopain.media import iter_video, read_image, to_rgb_uint8, video_info

from _detectors_helpers import photo, write_video


class TestReadImage:
    def test_rgb_roundtrip(self, tmp_path):
        Image.fromarray(photo("astronaut")).save(tmp_path / "a.png")
        out = read_image(tmp_path / "a.png")
        assert out.dtype == np.uint8 and out.shape == (512, 512, 3)
        assert np.array_equal(out, photo("astronaut"))

    def test_grayscale(self, tmp_path):
        Image.fromarray(photo("astronaut")[..., 0]).save(tmp_path / "g.png")
        out = read_image(tmp_path / "g.png")
        assert out.shape == (512, 512, 3) and np.array_equal(out[..., 0], out[..., 2])

    def test_rgba_composited_over_white(self, tmp_path):
        a = np.zeros((8, 8, 4), np.uint8)
        a[..., 0] = 200
        a[:4, :, 3] = 255  # top opaque red, bottom transparent
        Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
        out = read_image(tmp_path / "a.png")
        assert out.shape == (8, 8, 3)
        assert tuple(out[0, 0]) == (200, 0, 0) and tuple(out[7, 7]) == (255, 255, 255)

    def test_16bit(self, tmp_path):
        g = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
        Image.fromarray(g).save(tmp_path / "d.png")
        out = read_image(tmp_path / "d.png")
        assert out.dtype == np.uint8 and out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
        import cv2

        rgb16 = (np.dstack([g, g // 2, g // 4])).astype(np.uint16)
        cv2.imwrite(str(tmp_path / "c.png"), rgb16[..., ::-1])
        out = read_image(tmp_path / "c.png")
        assert out.shape == (64, 64, 3) and out[-1, -1, 0] >= 250

    def test_exif_rotation(self, tmp_path):
        img = Image.fromarray(photo("astronaut")[:, :300])  # 512 x 300 (rows x cols)
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 CW on display
        img.save(tmp_path / "r.jpg", exif=exif)
        out = read_image(tmp_path / "r.jpg")
        assert out.shape == (300, 512, 3)

    def test_small_and_large(self, tmp_path):
        Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "one.png")
        assert read_image(tmp_path / "one.png").shape == (1, 1, 3)
        big = np.zeros((6000, 9000), np.uint8)
        Image.fromarray(big).save(tmp_path / "big.png")
        assert read_image(tmp_path / "big.png").shape == (6000, 9000, 3)

    def test_bad_files(self, tmp_path):
        (tmp_path / "empty.jpg").write_bytes(b"")
        (tmp_path / "text.jpg").write_text("not an image")
        Image.fromarray(photo("astronaut")).save(tmp_path / "t.jpg")
        data = (tmp_path / "t.jpg").read_bytes()
        (tmp_path / "t.jpg").write_bytes(data[: len(data) // 3])
        with pytest.raises(InputError, match="empty.jpg: empty file"):
            read_image(tmp_path / "empty.jpg")
        with pytest.raises(InputError, match="text.jpg: not an image"):
            read_image(tmp_path / "text.jpg")
        with pytest.raises(InputError, match="t.jpg: corrupt or truncated"):
            read_image(tmp_path / "t.jpg")
        with pytest.raises(InputError, match="no such file"):
            read_image(tmp_path / "missing.png")


class TestToRgb:
    def test_float_and_gray_alpha(self):
        assert to_rgb_uint8(np.ones((2, 2))).max() == 255
        assert to_rgb_uint8(np.zeros((2, 2, 2), np.uint8)).shape == (2, 2, 3)
        with pytest.raises(ValueError):
            to_rgb_uint8(np.zeros((2, 2, 5), np.uint8))


class TestVideo:
    def test_frames_timestamps_stride(self, tmp_path):
        write_video(tmp_path / "v.mp4", n=12, fps=10)
        info = video_info(tmp_path / "v.mp4")
        assert info.fps == pytest.approx(10) and info.n_frames == 12
        got = list(iter_video(tmp_path / "v.mp4", stride=4))
        assert [g[0] for g in got] == [0, 4, 8]
        assert [g[1] for g in got] == pytest.approx([0.0, 0.4, 0.8])
        assert got[0][2].shape == (192, 192, 3) and got[0][2].dtype == np.uint8

    def test_truncated_and_bad(self, tmp_path):
        write_video(tmp_path / "v.mp4", n=12)
        data = (tmp_path / "v.mp4").read_bytes()
        (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
        (tmp_path / "text.mp4").write_text("hello")
        for name in ("cut.mp4", "text.mp4"):
            with pytest.raises(InputError, match=name):
                list(iter_video(tmp_path / name))


class TestAfterUltralytics:
    def test_bad_file_still_clear(self, tmp_path):
        """ultralytics patches PIL's open to pip-install a HEIF plugin; read_image must not go there."""
        pytest.importorskip("ultralytics")
        import ultralytics.utils.patches  # noqa: F401

        (tmp_path / "text.jpg").write_text("not an image")
        with pytest.raises(InputError, match="text.jpg: not an image"):
            read_image(tmp_path / "text.jpg")
