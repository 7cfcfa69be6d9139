"""Training loops for the neural pain models.

* Class imbalance: ``balance="weight"`` (loss weighted by inverse class frequency; for
  scores, by the inverse frequency of the score's pain level), ``"sample"`` (balanced
  sampling with replacement) or ``None``.
* Early stopping on a validation split that is itself subject-independent
  (:func:`subject_validation_split`): the best epoch's weights are restored.
* Seeds: :func:`set_seed` seeds Python, NumPy and torch; batches come from a seeded
  generator, so the same seed gives the same model.
* Progress: a tqdm bar over epochs (``verbose=True``); curves: :meth:`History.save`
  writes ``training_curves.csv`` and ``training_curves.png``.

Inputs are per-frame tensors plus an ``index`` that maps each sample to its frame
(``(S,)``) or to the frames of its window (``(S, T)``), so windows are gathered per batch
instead of being copied.
"""
from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from .errors import GeopainError
from .defaults import TRAINING
from .progress import progress_bar


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``: the GPU when one is present, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def subject_validation_split(groups: np.ndarray, fraction: float = 0.2, seed: int = 0,
                             labels: np.ndarray | None = None, tries: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices by subject: ``(train_idx, val_idx)``, no subject on both sides.

    Holds out ``round(fraction * subjects)`` subjects (at least 1; none when fewer than 3
    subjects or ``fraction`` is 0). With ``labels`` (classification), tries a few draws
    for a validation set that contains more than one class.
    """
    groups = np.asarray(groups).astype(str)
    subjects = np.unique(groups)
    n_val = 0 if (fraction <= 0 or len(subjects) < 3) else max(1, int(round(fraction * len(subjects))))
    everything = np.arange(len(groups))
    if n_val == 0:
        return everything, everything[:0]
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(tries):
        val_subjects = rng.choice(subjects, n_val, replace=False)
        mask = np.isin(groups, val_subjects)
        best = (everything[~mask], everything[mask])
        if labels is None or len(np.unique(labels[mask])) > 1:
            break
    return best


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes,)`` inverse-frequency weights (``n / (k * count)``, 0 for absent classes)."""
    y = np.asarray(y, dtype=np.int64)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(y) / (present.sum() * counts[present])
    return w


@dataclass
class History:
    """Per-epoch training record."""

    rows: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def save(self, out_dir: str | os.PathLike, prefix: str = "training_curves") -> list[Path]:
        """Write ``<prefix>.csv`` and ``<prefix>.png`` (loss per epoch, best epoch marked)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        csv = out / f"{prefix}.csv"
        self.to_frame().to_csv(csv, index=False)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        df = self.to_frame()
        if len(df):
            ax.plot(df["epoch"], df["train_loss"], label="train")
            if "val_loss" in df and df["val_loss"].notna().any():
                ax.plot(df["epoch"], df["val_loss"], label="validation (held-out subjects)")
            if self.best_epoch >= 0:
                ax.axvline(self.best_epoch, color="gray", ls="--", lw=0.8, label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
        fig.tight_layout()
        png = out / f"{prefix}.png"
        fig.savefig(png, dpi=100)
        plt.close(fig)
        return [csv, png]


def _batch(inputs: dict[str, Any], index: Tensor, device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {"edge_index": inputs["edge_index"].to(device) if inputs.get("edge_index") is not None else None}
    for key in ("x", "edge_weight", "edge_attr", "pos"):
        t = inputs.get(key)
        out[key] = None if t is None else t[index].to(device, non_blocking=True)
    if inputs.get("features") is not None:  # per-frame measurements (hybrid models)
        out["features"] = inputs["features"][index].to(device, non_blocking=True)
    if index.dim() == 2 and inputs.get("time") is not None:
        out["time"] = inputs["time"][index].to(device)
    return out


def predict_network(model: nn.Module, inputs: dict[str, Any], index: np.ndarray, batch_size: int = 4096,
                    device: str | torch.device = "cpu", **model_kwargs: Any) -> np.ndarray:
    """Model outputs ``(S, out)`` for samples ``index`` (no gradients, eval mode);
    ``model_kwargs`` go to every forward call (e.g. ``scheme=`` of the shared-region model)."""
    device = resolve_device(device)
    model.eval()
    idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
    outs = []
    with torch.no_grad():
        for start in range(0, len(idx), batch_size):
            outs.append(model(**_batch(inputs, idx[start:start + batch_size], device), **model_kwargs).float().cpu())
    if not outs:
        return np.zeros((0, getattr(model, "out_channels", 1)), dtype=np.float32)
    return torch.cat(outs).numpy()


def _loss(out: Tensor, y: Tensor, w: Tensor | None, task: str) -> Tensor:
    if task == "score":
        per = (out[:, 0] - y) ** 2
    else:
        per = nn.functional.cross_entropy(out, y.long(), reduction="none")
    if w is None:
        return per.mean()
    return (per * w).sum() / w.sum().clamp_min(1e-12)


def fit_network(model: nn.Module, inputs: dict[str, Any], index: np.ndarray, y: np.ndarray, task: str, *,
                groups: np.ndarray | None = None, strata: np.ndarray | None = None, n_classes: int = 2,
                epochs: int = TRAINING["epochs"], batch_size: int = TRAINING["batch_size"],
                lr: float = TRAINING["lr"], weight_decay: float = TRAINING["weight_decay"],
                patience: int = TRAINING["patience"], val_fraction: float = TRAINING["val_fraction"],
                balance: str | None = TRAINING["balance"], seed: int = 0,
                device: str | torch.device = "auto", verbose: bool = False,
                augment: Callable[[int], dict[str, Any]] | None = None) -> History:
    """Train ``model`` in place; returns the :class:`History`.

    Args:
        inputs: per-frame tensors ``x``, ``edge_weight``, ``edge_attr``, ``pos`` (first dim
            frames), shared ``edge_index``, optional ``time``.
        index: ``(S,)`` frame of each sample or ``(S, T)`` frames of each window.
        y: ``(S,)`` class indices, or scores already scaled for ``task="score"``.
        groups: ``(S,)`` subject of each sample, for the subject-independent validation split.
        strata: ``(S,)`` class of each sample used for balancing (defaults to ``y`` when
            classifying; for scores pass their pain levels).
        augment: ``augment(epoch)`` returns that epoch's training inputs (same keys and
            frames as ``inputs``, e.g. faces given other identities); validation always uses
            ``inputs`` as given.
    """
    if balance not in (None, "none", "weight", "sample"):
        raise GeopainError(f"balance must be 'weight', 'sample' or None, got {balance!r}")
    set_seed(seed)
    device = resolve_device(device)
    model.to(device)
    index = np.asarray(index)
    y = np.asarray(y)
    S = len(y)
    groups = np.zeros(S, dtype=int) if groups is None else np.asarray(groups)
    strata_arr = (y.astype(np.int64) if task != "score" else np.zeros(S, np.int64)) if strata is None else np.asarray(strata, np.int64)
    tr, va = subject_validation_split(groups, val_fraction, seed, strata_arr if task != "score" else None)
    k = int(strata_arr.max()) + 1 if S else 1
    cw = class_weights(strata_arr[tr], max(k, n_classes if task != "score" else k))
    sample_w = cw[strata_arr] if balance == "weight" else None
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)  # one kernel per step, not per tensor
    idx_t = torch.as_tensor(index, dtype=torch.long)
    y_t = torch.as_tensor(y, dtype=torch.float32)
    w_t = None if sample_w is None else torch.as_tensor(sample_w, dtype=torch.float32)
    hist = History()
    best_state, best_loss, bad = None, float("inf"), 0
    if len(va):  # the starting point counts too: a pretrained or pre-fitted model may already be best
        start_out = torch.as_tensor(predict_network(model, inputs, index[va], 4096, device))
        best_loss = float(_loss(start_out, y_t[va], None if w_t is None else w_t[va], task))
        best_state = copy.deepcopy(model.state_dict())

    bar = progress_bar(range(epochs), desc=f"train {type(model).__name__}", enabled=verbose, leave=False)
    tr_t = torch.as_tensor(tr, dtype=torch.long)
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        if balance == "sample":
            p = torch.as_tensor(cw[strata_arr[tr]], dtype=torch.float64)
            order = tr_t[torch.multinomial(p, len(tr), replacement=True, generator=gen)]
        else:
            order = tr_t[torch.randperm(len(tr), generator=gen)]
        total, count = 0.0, 0
        train_inputs = inputs if augment is None else augment(epoch)
        for b in range(0, len(order), batch_size):
            sel = order[b:b + batch_size]
            if len(sel) < 2 and len(order) > 1:
                continue
            out = model(**_batch(train_inputs, idx_t[sel], device))
            loss = _loss(out, y_t[sel].to(device), None if w_t is None else w_t[sel].to(device), task)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0, foreach=True)
            opt.step()
            total += loss.item() * len(sel)
            count += len(sel)
        row = {"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": float("nan")}
        if len(va):
            out = torch.as_tensor(predict_network(model, inputs, index[va], 4096, device))
            vw = None if w_t is None else w_t[va]
            row["val_loss"] = float(_loss(out, y_t[va], vw, task))
            if task != "score":
                pred = out.argmax(1).numpy()
                row["val_balanced_accuracy"] = float(np.mean([np.mean(pred[y[va] == c] == c) for c in np.unique(y[va])]))
        row["seconds"] = time.perf_counter() - start
        hist.rows.append(row)
        monitor = row["val_loss"] if len(va) else row["train_loss"]
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row['val_loss']:.3f}")
        if monitor < best_loss - 1e-5:
            best_loss, bad, hist.best_epoch = monitor, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if len(va) and bad >= patience:
                hist.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return hist
