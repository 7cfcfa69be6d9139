"""Checking an uploaded file before anything is written: its name, its type, its first bytes.

A name must be a plain file name (no folders, no ``..``, no leading dot, printable ASCII
letters, digits, ``._-`` and spaces); the extension must be a video's or a landmark
table's; the content must start like that type (MP4/MOV ``ftyp``, AVI ``RIFF..AVI``,
Matroska/WebM, MPEG, ASF, FLV; Parquet ``PAR1``; CSV as UTF-8 text). Each refusal is an
:class:`UploadRefused` with the HTTP status to answer and a one-line reason.
"""
from __future__ import annotations

import re

from ..media import VIDEO_EXTENSIONS

TABLE_EXTENSIONS = frozenset({".csv", ".parquet"})
#: Bytes read before deciding on the type.
SNIFF_BYTES = 4096
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")


class UploadRefused(Exception):
    """An upload that must not be written: ``status`` (4xx) and ``reason`` (one line)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_name(name: str | None) -> tuple[str, str]:
    """``(safe name, extension)`` or :class:`UploadRefused` (400 bad name, 415 wrong type)."""
    if not name:
        raise UploadRefused(400, "the upload has no file name")
    if "/" in name or "\\" in name or "\x00" in name or ".." in name or not _NAME.match(name):
        raise UploadRefused(400, f"file name {name!r} is not allowed: use a plain name (letters, digits, '._- '), "
                                 f"no folders and no '..'")
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in VIDEO_EXTENSIONS and ext not in TABLE_EXTENSIONS:
        raise UploadRefused(415, f"{name}: not a video ({', '.join(sorted(VIDEO_EXTENSIONS))}) or a landmark table "
                                 f"({', '.join(sorted(TABLE_EXTENSIONS))})")
    return name, ext


def _looks_like_video(ext: str, head: bytes) -> bool:
    if ext in (".mp4", ".mov", ".m4v"):
        return head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"mdat", b"wide", b"free")
    if ext == ".avi":
        return head[:4] == b"RIFF" and head[8:11] == b"AVI"
    if ext in (".mkv", ".webm"):
        return head[:4] == b"\x1a\x45\xdf\xa3"
    if ext in (".mpg", ".mpeg"):
        return head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")
    if ext == ".wmv":
        return head[:4] == b"\x30\x26\xb2\x75"
    if ext == ".flv":
        return head[:3] == b"FLV"
    return False


def check_content(name: str, ext: str, head: bytes) -> str:
    """``"video"`` or ``"table"`` when ``head`` (the first bytes) fits ``ext``, else 415."""
    if ext in TABLE_EXTENSIONS:
        if ext == ".parquet":
            if head[:4] != b"PAR1":
                raise UploadRefused(415, f"{name}: not a Parquet file (it does not start with PAR1)")
            return "table"
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the end is fine
                raise UploadRefused(415, f"{name}: not a CSV table (not UTF-8 text)") from None
            text = head[:exc.start].decode("utf-8")
        if "\x00" in text or "," not in text.split("\n", 1)[0]:
            raise UploadRefused(415, f"{name}: not a CSV table (no comma-separated header line)")
        return "table"
    if not _looks_like_video(ext, head):
        raise UploadRefused(415, f"{name}: the content is not a {ext[1:].upper()} video")
    return "video"
