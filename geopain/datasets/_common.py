"""What every dataset reader shares: error collection, resumable per-part writing, protocols."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence


from ..errors import GeopainError, InputError, error_log_path
from ..io.tables import read_table, write_table
from ..landmarks import LandmarkSequence
from ..progress import progress_bar


@dataclass
class PrepareResult:
    """What :func:`geopain.datasets.prepare` produced.

    Attributes:
        path: the landmark table written.
        n_sequences, n_frames, n_subjects: what it holds.
        errors: one line per problem (``"<file>: <problem>"``); the items concerned were
            skipped or left unlabelled, everything else loaded.
        warnings: notes that are not errors (e.g. label inconsistencies inside the source).
        error_log: the text file holding ``errors`` (``<output>.errors.txt``), or None when clean.
        protocols: the named evaluation protocols written into the table's metadata.
        extra: other files written (e.g. ``{"biosignals": Path}``).
    """

    path: Path
    n_sequences: int
    n_frames: int
    n_subjects: int
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error_log: Path | None = None
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Path] = field(default_factory=dict)


class ErrorLog:
    """Collects one line per bad item; a bad item never stops the rest of a dataset."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def add(self, source: Any, problem: str) -> None:
        self.errors.append(str(InputError(source, problem)))

    def add_error(self, exc: BaseException, source: Any = None) -> None:
        if isinstance(exc, InputError) or source is None:
            self.errors.append(str(exc))
        else:
            self.errors.append(f"{source}: {exc}")

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def extend(self, lines: Iterable[str]) -> None:
        self.errors.extend(str(x) for x in lines)


def progress(iterable: Iterable, desc: str, total: int | None = None, enabled: bool = True):
    """tqdm progress on stderr (a plain iterator when tqdm is absent or disabled)."""
    return progress_bar(iterable, desc=desc, total=total, unit="subject", leave=False, enabled=enabled)


class PartStore:
    """Resumable per-part output next to the final table: ``<output>.parts/``.

    Each finished part (a subject, usually) is one Parquet table plus the error lines it
    produced; ``settings.json`` records the options, and parts written with other options
    are discarded. The parts folder is removed once the final table is written.
    """

    def __init__(self, output: Path, settings: Mapping[str, Any], resume: bool = True):
        self.output = Path(output)
        self.dir = self.output.with_name(self.output.name + ".parts")
        self.settings = json.loads(json.dumps(dict(settings), default=str))
        marker = self.dir / "settings.json"
        if self.dir.exists():
            old = json.loads(marker.read_text()) if marker.is_file() else None
            if not resume or old != self.settings:
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(self.settings, sort_keys=True))

    @staticmethod
    def _safe(name: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)

    def table(self, name: str) -> Path:
        return self.dir / f"{self._safe(name)}.parquet"

    def done(self, name: str) -> bool:
        return (self.dir / f"{self._safe(name)}.done").is_file()

    def save(self, name: str, sequences: Sequence[LandmarkSequence], errors: Sequence[str],
             warnings: Sequence[str] = ()) -> None:
        if sequences:
            write_table(sequences, self.table(name))
        (self.dir / f"{self._safe(name)}.log.json").write_text(
            json.dumps({"errors": list(errors), "warnings": list(warnings)}))
        (self.dir / f"{self._safe(name)}.done").write_text("")

    def load(self, name: str) -> tuple[list[LandmarkSequence], list[str], list[str]]:
        path = self.table(name)
        seqs = read_table(path) if path.is_file() else []
        log = json.loads((self.dir / f"{self._safe(name)}.log.json").read_text())
        return seqs, log["errors"], log["warnings"]

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def run_parts(parts: Sequence[str], work: Callable[[str, ErrorLog], list[LandmarkSequence]],
              store: PartStore, log: ErrorLog, desc: str, show_progress: bool = True) -> list[LandmarkSequence]:
    """Run ``work(part, part_log)`` for each part not already done; return every sequence.

    A part that raises a :class:`GeopainError` is recorded in the log (and not marked done,
    so a rerun tries it again); the remaining parts still run.
    """
    out: list[LandmarkSequence] = []
    for part in progress(parts, desc, total=len(parts), enabled=show_progress):
        if not store.done(part):
            part_log = ErrorLog()
            try:
                seqs = work(part, part_log)
            except GeopainError as exc:
                log.add_error(exc)
                continue
            store.save(part, seqs, part_log.errors, part_log.warnings)
        seqs, errors, warnings = store.load(part)
        out.extend(seqs)
        log.extend(errors)
        log.warnings.extend(warnings)
    return out


def finish(sequences: list[LandmarkSequence], output: Path, store: PartStore, log: ErrorLog,
           meta: dict[str, Any], keep_parts: bool = False) -> PrepareResult:
    """Write the final table with ``meta`` and the error log; remove the parts."""
    output = Path(output)
    if not sequences:  # a failed run that wrote nothing leaves nothing behind
        store.cleanup()
        problems = "; ".join(log.errors[:3]) or "nothing found"
        raise GeopainError(f"no usable data found ({problems})")
    meta = dict(meta)
    meta["errors"] = len(log.errors)
    write_table(sequences, output, meta=meta)
    err_path = error_log_path(output)
    if log.errors:
        err_path.write_text("\n".join(log.errors) + "\n")
    elif err_path.exists():
        err_path.unlink()
    if not keep_parts:
        store.cleanup()
    return PrepareResult(
        path=output,
        n_sequences=len(sequences),
        n_frames=int(sum(s.n_frames for s in sequences)),
        n_subjects=len({s.subject for s in sequences}),
        errors=list(log.errors),
        warnings=list(log.warnings),
        error_log=err_path if log.errors else None,
        protocols=dict(meta.get("protocols", {})),
    )


def read_number(path: Path, log: ErrorLog | None = None) -> float:
    """One float from a small text file (``"   3.0000000e+00"``); NaN and a log line if bad."""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError as exc:
        if log is not None:
            log.add(path, "missing file" if isinstance(exc, FileNotFoundError) else f"cannot read ({exc})")
        return float("nan")
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        if log is not None:
            shown = text[:40] + ("..." if len(text) > 40 else "")
            log.add(path, f"expected one number, found {shown!r}" if text else "expected one number, file is empty")
        return float("nan")
