"""Helpers shared by the landmark readers (:mod:`geopain.io.openface`, ``pts``, ``dlc``,
``yolo``, ``catflw``, and the datasets): each failure is an
:class:`~geopain.errors.InputError` naming the file.

They live apart from the registry (:mod:`geopain.io.readers`), which imports the readers:
a reader imports this module, never the registry that imports it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import GeopainError, InputError
from ..species import Scheme, get_scheme, load_scheme

if TYPE_CHECKING:
    from ..species import Scheme

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"



def check_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path; InputError unless it is an existing, non-empty file."""
    p = Path(path)
    if p.is_dir():
        raise InputError(p, "is a folder, not a file")
    if not p.is_file():
        raise InputError(p, "no such file")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty")
    return p


def read_text(path: str | os.PathLike, what: str) -> str:
    """The file's text (UTF-8, BOM removed); InputError for empty, binary or non-UTF-8 files.

    ``what`` names the expected format in messages (``"an OpenFace CSV"``).
    """
    p = check_file(path)
    raw = p.read_bytes()
    if raw.startswith(_HDF5_SIGNATURE):
        raise InputError(p, f"is an HDF5 file, not {what}")
    if b"\x00" in raw[:4096]:
        raise InputError(p, f"is a binary file, not {what}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(p, f"is not UTF-8 text ({exc.reason} at byte {exc.start}), not {what}") from None
    if not text.strip():
        raise InputError(p, "file holds only white space")
    return text


def is_number(text: str) -> bool:
    """True when ``text`` parses as a float (header sniffing, cell checks)."""
    try:
        float(text)
        return True
    except ValueError:
        return False


def looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def is_hdf5(path: str | os.PathLike) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == _HDF5_SIGNATURE


def check_field_counts(path: Path, lines: Sequence[str], first_line: int, expected: int) -> None:
    """InputError at the first line whose comma-separated field count is not ``expected``.

    ``first_line`` is the 1-based number of ``lines[0]`` in the file. Quoted lines are
    skipped (a quoted comma is not a separator); blank lines are ignored.
    """
    for i, line in enumerate(lines):
        if not line.strip() or '"' in line:
            continue
        n = line.count(",") + 1
        if n != expected:
            raise InputError(path, f"line {first_line + i} has {n} values, the header has {expected} columns")


def non_numeric_cell(frame, columns: Iterable[str], header_lines: int = 1) -> str | None:
    """Describe the first cell of ``columns`` that is text or NaN, or None if all are numbers.

    ``frame`` holds strings or numbers; line numbers count ``header_lines`` header rows.
    """
    import numpy as np
    import pandas as pd

    for col in columns:
        values = frame[col]
        num = pd.to_numeric(values, errors="coerce")
        bad = np.flatnonzero(~np.isfinite(num.to_numpy(dtype=float)))
        if bad.size:
            row = int(bad[0])
            cell = values.iloc[row]
            empty = cell is None or (isinstance(cell, float) and np.isnan(cell)) or str(cell).strip() == ""
            shown = "an empty cell" if empty else repr(str(cell).strip())
            return f"line {row + header_lines + 1}, column {col!r}: {shown} where a number must be"
    return None


def resolve_scheme(scheme: Any) -> "Scheme":
    """A :class:`~geopain.species.Scheme` from a Scheme, a key (``"sheep/spfes"``) or an adapter path."""
    if isinstance(scheme, Scheme):
        return scheme
    if isinstance(scheme, os.PathLike):
        return load_scheme(scheme)
    if not isinstance(scheme, str):
        raise GeopainError(f"scheme must be a key such as 'sheep/spfes' or an adapter path, got {scheme!r}")
    return get_scheme(scheme)


def default_ids(path: Path, subject: str | None, sequence: str | None) -> tuple[str, str]:
    """Subject and sequence ids: given ones, else the file's stem."""
    return (subject if subject is not None else path.stem), (sequence if sequence is not None else path.stem)


#: Landmark schemes recognised from the number of points alone (68 / 66 points: iBUG).
SCHEME_BY_COUNT = {68: "human/ibug68", 66: "human/ibug66"}


def scheme_for_points(path: Path, n: int, scheme: Any, what: str) -> "Scheme":
    """The scheme of a file holding ``n`` points: ``scheme`` if given, else recognised by count
    (:data:`SCHEME_BY_COUNT`); its point count must be ``n``. ``what`` names the points in
    messages (``"points"``, ``"landmarks per face"``)."""
    key = scheme or SCHEME_BY_COUNT.get(n)
    if key is None:
        known = " and ".join(str(k) for k in SCHEME_BY_COUNT)
        raise InputError(path, f"{n} {what}: give the landmark scheme (scheme=..., --scheme; only {known} are "
                               "recognised by count)")
    sch = resolve_scheme(key)
    if sch.n_points != n:
        raise InputError(path, f"{n} {what}, scheme {sch.key} has {sch.n_points}")
    return sch
