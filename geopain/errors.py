"""Errors geopain raises for user mistakes.

Every user-facing problem (a bad file, a malformed adapter, a wrong shape) is a
:class:`GeopainError`; the CLI prints it as one line and exits non-zero, without a
traceback. Programming errors stay ordinary Python exceptions.
"""
from __future__ import annotations

from os import PathLike


class GeopainError(ValueError):
    """Base class of the errors geopain reports to users as one line."""


class InputError(GeopainError):
    """A file (or item of a batch) that cannot be read: names the file and the problem."""

    def __init__(self, source: str | PathLike | None, problem: str):
        self.source = None if source is None else str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class SchemeError(GeopainError):
    """A species adapter or landmark scheme that is malformed or unknown."""


class ShapeError(GeopainError):
    """An array whose shape or dtype does not fit what a function expects."""


class MissingWeightsError(GeopainError):
    """A real component needs weight files that are not present locally."""


def check_shape(name: str, array, expected: tuple) -> None:
    """Raise :class:`ShapeError` unless ``array.shape`` matches ``expected``.

    ``expected`` holds ints (exact), ``None`` (any size) or strings (named sizes that
    must agree with each other within the call, e.g. ``("T", "N", 3)``).
    """
    shape = tuple(getattr(array, "shape", ()))
    if len(shape) != len(expected):
        raise ShapeError(f"{name}: expected {len(expected)} dims {_fmt(expected)}, got shape {shape}")
    bound: dict[str, int] = {}
    for got, want in zip(shape, expected):
        if want is None:
            continue
        if isinstance(want, str):
            if bound.setdefault(want, got) != got:
                raise ShapeError(f"{name}: dimension {want} is {bound[want]} and {got} in shape {shape}")
        elif got != want:
            raise ShapeError(f"{name}: expected shape {_fmt(expected)}, got {shape}")


def _fmt(expected: tuple) -> str:
    return "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"


class ReferenceUnavailableError(GeopainError):
    """The input cannot support the per-person reference a model was trained with
    (one frame of a subject, no neutral-labelled frames, ...)."""


def error_log_path(output: str | PathLike):
    """Where a batch command lists the items it could not read: ``OUT.errors.txt`` beside the
    output ``OUT`` (``out/x.parquet`` -> ``out/x.parquet.errors.txt``, like ``OUT.parts/``)."""
    from pathlib import Path

    out = Path(output)
    return out.with_name(out.name + ".errors.txt")


class OutputExistsError(GeopainError):
    """The output file exists and holds something else; replacing it needs ``--overwrite``."""


class SettingsChangedError(GeopainError):
    """A partial run (``OUT.parts/``) was made with other settings than this one."""
