"""Subject-independent splits: no subject is ever on both sides of a fold.

* :func:`loso`: leave one subject out (one fold per subject).
* :func:`group_kfold`: ``k`` folds of whole subjects (shuffled with a seed, sizes balanced
  by number of samples).
* :func:`holdout`: one fold testing a fixed list of subjects (e.g. read from a file).
* :func:`protocol_folds`: any of these from a string (``"loso"``, ``"kfold:5"``,
  ``"holdout:FILE"``) or by name from a table's metadata ``protocols``:
  ``{name: {"kind": "loso"|"kfold"|"holdout", "k": 5, "exclude_subjects": [...],
  "test_subjects": [...]}}`` (e.g. BioVid's LOSO-87 and LOSO-67).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import GeopainError, InputError


@dataclass(frozen=True)
class Fold:
    """One split by subject."""

    name: str
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]

    def indices(self, sample_subjects: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(train_idx, test_idx)`` of samples whose subject is on each side."""
        s = np.asarray(sample_subjects).astype(str)
        return np.flatnonzero(np.isin(s, self.train_subjects)), np.flatnonzero(np.isin(s, self.test_subjects))


def _unique(subjects: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(s) for s in subjects))


def _check(folds: list[Fold]) -> list[Fold]:
    for f in folds:
        both = set(f.train_subjects) & set(f.test_subjects)
        if both:  # pragma: no cover - guarded by construction
            raise GeopainError(f"fold {f.name}: subjects on both sides: {sorted(both)}")
    return folds


def loso(subjects: Iterable[Any], exclude: Iterable[str] = ()) -> list[Fold]:
    """One fold per subject: test that subject, train on the others."""
    ex = {str(e) for e in exclude}
    subs = [s for s in _unique(subjects) if s not in ex]
    if len(subs) < 2:
        raise GeopainError(f"leave-one-subject-out needs at least 2 subjects, got {len(subs)}")
    return _check([Fold(f"loso-{s}", tuple(x for x in subs if x != s), (s,)) for s in subs])


def group_kfold(subjects: Iterable[Any], k: int = 5, seed: int = 0, exclude: Iterable[str] = (),
                sample_subjects: Sequence[str] | None = None) -> list[Fold]:
    """``k`` folds of whole subjects, shuffled by ``seed``; with ``sample_subjects`` the
    folds are balanced by samples (largest subjects first into the smallest fold)."""
    ex = {str(e) for e in exclude}
    subs = [s for s in _unique(subjects) if s not in ex]
    k = int(k)
    if k < 2:
        raise GeopainError(f"k-fold needs k >= 2, got {k}")
    if len(subs) < k:
        raise GeopainError(f"{k}-fold needs at least {k} subjects, got {len(subs)}")
    rng = np.random.default_rng(seed)
    order = [subs[i] for i in rng.permutation(len(subs))]
    if sample_subjects is not None:
        counts = {s: 0 for s in subs}
        for s in np.asarray(sample_subjects).astype(str):
            if s in counts:
                counts[s] += 1
        order = sorted(order, key=lambda s: -counts[s])  # stable: ties keep the shuffled order
    else:
        counts = {s: 1 for s in subs}
    bins: list[list[str]] = [[] for _ in range(k)]
    load = np.zeros(k)
    for s in order:
        j = int(np.argmin(load))
        bins[j].append(s)
        load[j] += counts[s]
    folds = []
    for j, test in enumerate(bins):
        folds.append(Fold(f"fold-{j + 1}", tuple(s for s in subs if s not in test), tuple(sorted(test))))
    return _check(folds)


def holdout(subjects: Iterable[Any], test_subjects: Iterable[str], exclude: Iterable[str] = ()) -> list[Fold]:
    """One fold: the listed subjects are tested, every other subject trains."""
    ex = {str(e) for e in exclude}
    subs = [s for s in _unique(subjects) if s not in ex]
    test = [str(t) for t in test_subjects]
    unknown = sorted(set(test) - set(subs))
    if unknown:
        raise GeopainError(f"held-out subjects not in the data: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    held_out = set(test)
    train = tuple(s for s in subs if s not in held_out)
    if not train or not test:
        raise GeopainError("a held-out split needs subjects on both sides")
    return _check([Fold("holdout", train, tuple(test))])


def read_subject_list(path: str | os.PathLike) -> list[str]:
    """Subjects from a text file: one per line (or comma-separated); ``#`` starts a comment."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such subject list file")
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0]
        out.extend(x.strip() for x in line.split(",") if x.strip())
    if not out:
        raise InputError(p, "subject list is empty")
    return out


def protocol_folds(protocol: str, subjects: Iterable[Any], meta: Mapping[str, Any] | None = None, seed: int = 0,
                   sample_subjects: Sequence[str] | None = None) -> list[Fold]:
    """Folds of ``protocol``: ``"loso"``, ``"kfold:K"`` (``"kfold"`` = 5), ``"holdout:FILE"``
    (or ``"holdout:s1,s2"``), or a protocol named in ``meta["protocols"]``."""
    subjects = _unique(subjects)
    named = dict((meta or {}).get("protocols") or {})
    if protocol in named:
        spec = named[protocol]
        kind = spec.get("kind", "loso")
        ex = spec.get("exclude_subjects") or []
        if kind == "loso":
            return loso(subjects, exclude=ex)
        if kind == "kfold":
            return group_kfold(subjects, int(spec.get("k", 5)), seed, ex, sample_subjects)
        if kind == "holdout":
            return holdout(subjects, spec.get("test_subjects") or [], ex)
        raise GeopainError(f"protocol {protocol!r}: unknown kind {kind!r} (loso, kfold, holdout)")
    name, _, arg = protocol.partition(":")
    if name == "loso" and not arg:
        return loso(subjects)
    if name == "kfold":
        try:
            k = int(arg) if arg else 5
        except ValueError:
            raise GeopainError(f"protocol {protocol!r}: K must be an integer (kfold:5)") from None
        return group_kfold(subjects, k, seed, sample_subjects=sample_subjects)
    if name == "holdout" and arg:
        test = read_subject_list(arg) if Path(arg).is_file() else [s.strip() for s in arg.split(",") if s.strip()]
        if not Path(arg).is_file() and not set(test) & set(subjects):
            raise InputError(arg, "no such subject list file")
        return holdout(subjects, test)
    known = ["loso", "kfold:K", "holdout:FILE"] + sorted(named)
    raise GeopainError(f"unknown protocol {protocol!r}; use one of {', '.join(known)}")


def assert_subject_independent(folds: Iterable[Fold], sample_subjects: Sequence[str]) -> None:
    """Raise unless every fold's train and test samples share no subject."""
    s = np.asarray(sample_subjects).astype(str)
    for f in folds:
        tr, te = f.indices(s)
        both = set(s[tr]) & set(s[te])
        if both:
            raise GeopainError(f"fold {f.name} leaks subjects {sorted(both)}")
