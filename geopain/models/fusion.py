"""Face + biosignal fusion at sequence level: early, late and modality-aware attention.

The face modality is a fitted :class:`~geopain.models.PainEstimator` (e.g. ``"wgnn"``): per
sequence its mean per-frame pain probability and its mean **graph embedding** (the network's
readout, :func:`geopain.models.abstention.embeddings`). The biosignal modality is
:func:`~geopain.biosignals.features.biosignal_features`. :class:`FusionModel` fits, on the
training sequences, one of:

- ``"bio"``: the biosignal-only reference (logistic regression on the standardised features
  of the signals present, with missing-signal indicators);
- ``"face"``: the face model's own sequence probability (the face-only reference);
- ``"early"``: logistic regression on ``[face input, biosignal features, missing indicators]``;
- ``"late"``: the face logit and the biosignal model's logit combined by a logistic
  regression (stacking) fitted on out-of-fold, subject-grouped logits of both: the biosignal
  model's from inner folds, the face's from face models that did not see the subject
  (:func:`out_of_fold_face_table`). A missing biosignal modality contributes 0 (its logit is
  not invented);
- ``"attention"``: modality-aware attention (torch): one token per modality present (face
  input, GSR, ECG, EMG and rPPG features, each its own linear map plus a learned modality vector),
  a learned query attends over the tokens that are present (absent modalities are masked out),
  a linear head scores the pooled vector, plus an undecayed linear skip from the face input (so
  strong decay shrinks the model to the face alone, not to a constant); its weight decay is chosen on inner subject-grouped
  folds of the training sequences (``weight_decay="auto"``).

The face input of early fusion and attention (``face_input``) is by default the face model's
logit, fitted on its **out-of-fold** values (``face_oof``) and applied to the fitted face
model's own: a face model's scores and embeddings on its own training sequences are far surer
and righter than on new subjects, and a fusion fitted on them trusts the face too much (with
in-sample embeddings, early fusion and attention lost to the biosignals alone on the simulated
cohorts of ``benchmarks/biosignals.py``). ``face_input="embedding"`` uses the face model's
mean graph embedding (PCA, ``n_components``) instead; out-of-fold embeddings cannot stand in
there, since each inner face model has its own embedding space.

``predict`` returns one row per sequence: ``p_1`` (pain probability), ``prediction`` and
``missing`` (the absent signals: a sample without ECG still scores and says so).

:class:`FusionEstimator` is the same as one estimator over landmark sequences, registered as
``fusion-early``, ``fusion-late``, ``fusion-attention`` and ``biosignals`` (the biosignal-only
reference; registry ``kind="fusion"``), so ``run_protocol`` and ``geopain evaluate`` compare
them with the face models in one run: it trains the face models on the training sequences
(by default one per half of the training subjects, each scoring the other half for the fusion
and both scoring new sequences together: ``face_fit="cross"``, about one face fit in all),
looks their biosignal features up by ``subject, sequence``, fits the fusion and gives every
frame of a sequence that sequence's fused probability (fusion is sequence-level: frame-level
metrics of these models repeat the sequence's score).
"""
from __future__ import annotations

import copy
import json
import warnings
from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..biosignals.features import FEATURE_NAMES, FEATURES, KEYS, SIGNALS, biosignal_features
from ..errors import GeopainError
from ..evaluation.splits import group_kfold
from ..landmarks import sequences_digest
from ..predictions import frame_table, sequence_task_targets, task_targets
from ..tasks import SEQUENCE_TARGET, canonical_task, sequence_targets
from .abstention import embeddings
from .estimator import PainEstimator
from .factory import MODELS

FUSIONS = ("face", "bio", "early", "late", "attention")
FACE_INPUTS = ("score", "embedding")
FACE_FITS = ("cross", "full")


def face_sequence_table(estimator, sequences: Sequence, with_embedding: bool = True,
                        frames: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per sequence: ``subject, sequence, p_face`` and (``with_embedding``)
    ``emb_0..emb_{D-1}`` (mean graph embedding of the frames with a face) of a fitted binary
    :class:`PainEstimator` (or a :class:`FaceEnsemble`, which has no single embedding).
    ``frames``: ``estimator.predict_frames(sequences)`` when the caller has it already."""
    seqs = list(sequences)
    if frames is None:
        frames = estimator.predict_frames(seqs)
    p = frames[frames["face_found"]].groupby(["subject", "sequence"], sort=False)["p_1"].mean()
    if not with_embedding or isinstance(estimator, FaceEnsemble):
        return p.rename("p_face").rename_axis(KEYS).reset_index()
    Z, index = embeddings(estimator, seqs)
    subj = np.concatenate([[s.subject] * s.n_frames for s in seqs])[index]
    name = np.concatenate([[s.sequence] * s.n_frames for s in seqs])[index]
    emb = pd.DataFrame(Z, columns=[f"emb_{i}" for i in range(Z.shape[1])])
    emb["subject"], emb["sequence"] = subj.astype(str), name.astype(str)
    emb = emb.groupby(KEYS, sort=False).mean()
    out = emb.join(p.rename("p_face").rename_axis(KEYS), how="outer").reset_index()
    return out


def out_of_fold_face_table(fit_face: Callable[[list], Any], sequences: Sequence, folds: int = 2,
                           seed: int = 0, return_models: bool = False) -> pd.DataFrame | tuple[pd.DataFrame, list]:
    """``subject, sequence, p_face`` of every sequence, each scored by a face model fitted without
    its subject (``fit_face(training sequences)`` on subject-grouped ``folds``-fold splits): what a
    fusion is fitted on must look like what it meets on new subjects. Embeddings are not returned:
    the inner models' embedding spaces differ. ``return_models``: also the fitted face models
    (one per fold; together a :class:`FaceEnsemble` saw every subject)."""
    seqs = list(sequences)
    subjects = np.array([str(s.subject) for s in seqs])
    if len(np.unique(subjects)) < folds:
        raise GeopainError(f"out-of-fold face scores need at least {folds} training subjects, "
                           f"got {len(np.unique(subjects))}")
    parts, models = [], []
    for fold in group_kfold(subjects, folds, seed=seed):
        tr, te = fold.indices(subjects)
        face = fit_face([seqs[i] for i in tr])
        models.append(face)
        parts.append(face_sequence_table(face, [seqs[i] for i in te], with_embedding=False)[KEYS + ["p_face"]])
    table = pd.concat(parts, ignore_index=True)
    return (table, models) if return_models else table


class FaceEnsemble:
    """Face models fitted on complementary subject folds, used together (cross-fitting, as
    scikit-learn's ``CalibratedClassifierCV(ensemble=True)``): ``predict_frames`` averages their
    class probabilities; a frame is scored where every member scores it, else it abstains with
    the first abstaining member's reason."""

    def __init__(self, members: Sequence[Any]):
        if not members:
            raise GeopainError("FaceEnsemble needs at least one fitted face model")
        self.members = list(members)

    def predict_frames(self, sequences: Sequence[Any]) -> pd.DataFrame:
        seqs = list(sequences)
        tables = [m.predict_frames(seqs) for m in self.members]
        out = tables[0].copy()
        p_cols = [c for c in out.columns if c.startswith("p_") and c[2:].isdigit()]
        P = np.mean([t[p_cols].to_numpy(float) for t in tables], 0)
        out[p_cols] = P
        found = np.all([t["face_found"].to_numpy(bool) for t in tables], 0)
        out["face_found"] = found
        out["prediction"] = np.where(found & np.isfinite(P).all(1), P.argmax(1), np.nan)
        for t in tables[1:]:  # first abstaining member's reason
            take = (out["status"].to_numpy() == "scored") & (t["status"].to_numpy() != "scored")
            out.loc[take, ["status", "reason"]] = t.loc[take, ["status", "reason"]].to_numpy()
        return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


class _Standardiser:
    def fit(self, X: np.ndarray) -> "_Standardiser":
        with warnings.catch_warnings():  # a signal absent from every training sequence: mean 0, sd 1
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean_ = np.nanmean(X, 0) if len(X) else np.zeros(X.shape[1])
            sd = np.nanstd(X, 0) if len(X) else np.ones(X.shape[1])
        self.mean_ = np.where(np.isfinite(self.mean_), self.mean_, 0.0)
        self.sd_ = np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num((X - self.mean_) / self.sd_)  # missing -> the mean


#: weight decays that ``FusionModel(weight_decay="auto")`` chooses among for attention
ATTENTION_WEIGHT_DECAYS = (1e-3, 1e-2, 1e-1)


def _balanced_weights(y: torch.Tensor) -> torch.Tensor:
    """``(S,)`` per-sample weights giving both classes of ``y`` equal total weight."""
    pos = float(y.mean())
    return torch.where(y > 0, 0.5 / max(pos, 1e-6), 0.5 / max(1 - pos, 1e-6))


class _Attention(nn.Module):
    """Tokens per modality -> masked attention pooling with a learned query -> logit, plus a
    linear skip from the first modality's input (the face; 0 where it is absent).

    The skip is not weight-decayed (:attr:`UNDECAYED`): the stronger the decay the data choose,
    the closer the model comes to a logistic regression on the face alone, instead of to a
    constant (without it, biosignals unrelated to pain pulled attention to chance)."""

    #: parameter name prefixes that weight decay leaves alone
    UNDECAYED = ("skip.",)

    def __init__(self, dims: Sequence[int], hidden: int = 16):
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(d, hidden) for d in dims)
        self.kind = nn.Parameter(torch.randn(len(dims), hidden) * 0.1)
        self.query = nn.Parameter(torch.randn(hidden) * 0.1)
        self.head = nn.Linear(hidden, 1)
        self.skip = nn.Linear(dims[0], 1)
        nn.init.zeros_(self.skip.weight)
        nn.init.zeros_(self.skip.bias)

    @classmethod
    def decayed(cls, name: str) -> bool:
        return not name.startswith(cls.UNDECAYED)

    def forward(self, parts: list[torch.Tensor], present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = torch.stack([torch.tanh(p(x)) for p, x in zip(self.proj, parts)], 1) + self.kind  # (S, M, H)
        score = (tokens * self.query).sum(-1) / np.sqrt(tokens.shape[-1])
        score = score.masked_fill(~present, float("-inf"))
        w = torch.nan_to_num(torch.softmax(score, 1))
        skip = self.skip(parts[0] * present[:, :1].to(parts[0].dtype))[:, 0]
        return self.head((w.unsqueeze(-1) * tokens).sum(1))[:, 0] + skip, w


class FusionModel:
    """Sequence-level fusion of a face table (:func:`face_sequence_table`) and biosignal
    features (:func:`~geopain.biosignals.features.biosignal_features`); see the module docstring.

    Args:
        fusion: one of :data:`FUSIONS`. face_input: the face input of early fusion and attention,
        one of :data:`FACE_INPUTS` (``"score"``: the face logit, fitted on out-of-fold values;
        ``"embedding"``: the mean graph embedding). n_components: PCA size of the face embedding
        (``face_input="embedding"``). C: inverse regularisation of the logistic regressions.
        epochs, lr, weight_decay: attention training (full batch, Adam; ``weight_decay="auto"``:
        chosen by inner subject-grouped folds among :data:`ATTENTION_WEIGHT_DECAYS`). seed: seeds
        PCA, folds and torch.
    """

    def __init__(self, fusion: str = "attention", n_components: int = 8, C: float = 1.0, epochs: int = 300,
                 lr: float = 0.02, seed: int = 0, face_input: str = "score",
                 weight_decay: float | str = "auto"):
        if fusion not in FUSIONS:
            raise GeopainError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if face_input not in FACE_INPUTS:
            raise GeopainError(f"face_input must be one of {FACE_INPUTS}, got {face_input!r}")
        self.fusion, self.n_components, self.C, self.epochs, self.lr, self.seed = fusion, n_components, C, epochs, lr, seed
        if weight_decay != "auto" and not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise GeopainError(f"weight_decay must be 'auto' or a number >= 0, got {weight_decay!r}")
        self.face_input = face_input
        self.weight_decay = weight_decay

    # -- inputs ----------------------------------------------------------------------------
    @staticmethod
    def _join(face: pd.DataFrame, bio: pd.DataFrame) -> pd.DataFrame:
        f, b = face.copy(), bio.copy()
        for d in (f, b):
            d["subject"], d["sequence"] = d["subject"].astype(str), d["sequence"].astype(str)
        return f.merge(b, on=KEYS, how="left")

    @staticmethod
    def _presence(table: pd.DataFrame) -> np.ndarray:
        """``(S, len(SIGNALS))`` bool: each signal group (GSR, ECG, EMG, rPPG) present."""
        return np.stack([table.get(f"has_{g}", pd.Series(False, index=table.index)).fillna(False).to_numpy(bool)
                         for g in SIGNALS], 1)

    def _bio_matrix(self, table: pd.DataFrame) -> np.ndarray:
        X = table.reindex(columns=list(FEATURE_NAMES)).to_numpy(float)
        return np.concatenate([self.bio_scaler_.transform(X), self._presence(table).astype(float)], 1)

    def _face_matrix(self, table: pd.DataFrame, p_face: np.ndarray | None = None) -> np.ndarray:
        """``(S, k)`` face input of early fusion and attention: the logit of ``p_face`` (default:
        the table's own) or the embedding's principal components."""
        if self.face_input == "score":
            p = table["p_face"].to_numpy(float) if p_face is None else p_face
            return _logit(p)[:, None]
        E = table[self.emb_cols_].to_numpy(float)
        return self.pca_.transform(self.emb_scaler_.transform(E))

    @staticmethod
    def _oof_face_probability(table: pd.DataFrame, face_oof: pd.DataFrame | None, fusion: str) -> np.ndarray:
        """``(S,)`` out-of-fold face probability of each training sequence of ``table``."""
        if face_oof is None:
            raise GeopainError(f"{fusion} fusion is fitted on out-of-fold face probabilities: pass face_oof "
                               "(geopain.models.fusion.out_of_fold_face_table)")
        f_oof = face_oof.assign(subject=face_oof["subject"].astype(str), sequence=face_oof["sequence"].astype(str))
        p_face = table[KEYS].merge(f_oof[KEYS + ["p_face"]], on=KEYS, how="left")["p_face"].to_numpy(float)
        if not np.isfinite(p_face).all():
            raise GeopainError("face_oof lacks a probability for some training sequences")
        return p_face

    # -- fit / predict -----------------------------------------------------------------------
    def fit(self, face: pd.DataFrame, bio: pd.DataFrame, y: np.ndarray | pd.Series | None = None,
            labels: pd.DataFrame | None = None, face_oof: pd.DataFrame | None = None) -> "FusionModel":
        """``labels``: ``subject, sequence, target`` (0/1) of the training sequences. ``face_oof``:
        out-of-fold face probabilities of the same sequences (:func:`out_of_fold_face_table`),
        which the fusion is fitted on in place of ``face``'s ``p_face`` (required for ``"late"``,
        and for ``"early"`` and ``"attention"`` with ``face_input="score"``: in-sample ones would
        make it over-trust the face)."""
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression

        if labels is None:
            raise GeopainError("FusionModel.fit needs labels: a table of subject, sequence, target")
        lab = labels.assign(subject=labels["subject"].astype(str), sequence=labels["sequence"].astype(str))
        table = self._join(face, bio).merge(lab[KEYS + ["target"]], on=KEYS, how="inner")
        table = table[np.isfinite(table["target"].to_numpy(float))]
        if table["target"].nunique() < 2:
            raise GeopainError("fusion training needs both classes among the training sequences")
        y = table["target"].to_numpy(int)
        X_bio_raw = table.reindex(columns=list(FEATURE_NAMES)).to_numpy(float)
        self.bio_scaler_ = _Standardiser().fit(X_bio_raw)
        Xb = self._bio_matrix(table)
        self.bio_ = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000).fit(Xb, y)
        if self.fusion == "bio":  # the biosignal-only reference needs no face
            return self
        if self.fusion == "late":
            p_oof = self._oof_face_probability(table, face_oof, self.fusion)
            oof = self._out_of_fold_bio(Xb, y, table["subject"].to_numpy())
            has_bio = self._presence(table).any(1)
            Z = np.stack([_logit(p_oof), np.where(has_bio, oof, 0.0)], 1)
            self.late_ = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000).fit(Z, y)
            return self
        p_oof = None
        if self.face_input == "score":
            p_oof = self._oof_face_probability(table, face_oof, self.fusion)
        else:
            self.emb_cols_ = [c for c in face.columns if c.startswith("emb_")]
            self.emb_scaler_ = _Standardiser().fit(table[self.emb_cols_].to_numpy(float))
            k = int(max(1, min(self.n_components, len(table) - 1, len(self.emb_cols_))))
            self.pca_ = PCA(k, random_state=self.seed).fit(
                self.emb_scaler_.transform(table[self.emb_cols_].to_numpy(float)))
        if self.fusion == "early":
            self.early_ = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000).fit(
                np.concatenate([self._face_matrix(table, p_oof), Xb], 1), y)
        elif self.fusion == "attention":
            self._fit_attention(table, y, p_oof)
        return self

    def _out_of_fold_bio(self, Xb: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold

        out = np.zeros(len(y))
        k = min(4, len(np.unique(groups)))
        if k < 2:
            return _logit(self.bio_.predict_proba(Xb)[:, 1])
        for tr, te in GroupKFold(k).split(Xb, y, groups):
            if len(np.unique(y[tr])) < 2:
                out[te] = 0.0
                continue
            m = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000).fit(Xb[tr], y[tr])
            out[te] = m.decision_function(Xb[te])
        return out

    def _attention_inputs(self, table: pd.DataFrame, p_face: np.ndarray | None = None
                          ) -> tuple[list[torch.Tensor], torch.Tensor]:
        face_matrix = self._face_matrix(table, p_face)
        face = torch.as_tensor(np.nan_to_num(face_matrix), dtype=torch.float32)
        Xb = self.bio_scaler_.transform(table.reindex(columns=list(FEATURE_NAMES)).to_numpy(float))
        parts, start = [face], 0
        for g in SIGNALS:
            n = len(FEATURES[g])
            parts.append(torch.as_tensor(Xb[:, start:start + n], dtype=torch.float32))
            start += n
        has_face = np.isfinite(face_matrix).all(1)
        present = torch.as_tensor(np.concatenate([has_face[:, None], self._presence(table)], 1))
        return parts, present

    def _train_attention(self, parts: list[torch.Tensor], present: torch.Tensor, y: np.ndarray,
                         weight_decay: float) -> _Attention:
        """One attention model trained full-batch on ``parts``/``present`` (class-balanced BCE)."""
        return self._train_attention_stack(parts, present, y, [np.arange(len(y))], [weight_decay])[0]

    def _train_attention_stack(self, parts: list[torch.Tensor], present: torch.Tensor, y: np.ndarray,
                               train_rows: list[np.ndarray], weight_decays: list[float]) -> list[_Attention]:
        """``len(train_rows)`` attention models trained at once (stacked, :func:`torch.func.vmap`),
        model ``m`` on rows ``train_rows[m]`` with ``weight_decays[m]``: full batch, Adam from the
        same start, class-balanced BCE (a mean over its own rows) plus ``wd / 2 * |theta|^2`` on
        the decayed parameters (Adam's coupled weight decay). Each is as if trained alone."""
        from torch.func import functional_call, stack_module_state, vmap

        torch.manual_seed(self.seed)
        base = _Attention([p.shape[1] for p in parts])
        params, buffers = stack_module_state([copy.deepcopy(base) for _ in train_rows])
        yt = torch.as_tensor(y, dtype=torch.float32)
        W = torch.zeros(len(train_rows), len(y))
        for m, rows in enumerate(train_rows):  # each model's balanced BCE, a mean over its own rows
            W[m, rows] = _balanced_weights(yt[rows]) / len(rows)
        decay = torch.as_tensor(weight_decays, dtype=torch.float32)

        def loss(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], w: torch.Tensor) -> torch.Tensor:
            logit = functional_call(base, (p, b), (parts, present))[0]
            return (nn.functional.binary_cross_entropy_with_logits(logit, yt, reduction="none") * w).sum()

        opt = torch.optim.Adam(params.values(), lr=self.lr)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a few hundred tiny full-batch steps: threads only add overhead
        try:
            for _ in range(self.epochs):
                total = vmap(loss)(params, buffers, W).sum()
                total = total + sum((decay.view(-1, *[1] * (v.dim() - 1)) * v.pow(2)).sum()
                                    for n, v in params.items() if base.decayed(n)) / 2
                opt.zero_grad()
                total.backward()
                opt.step()
        finally:
            torch.set_num_threads(threads)
        models = []
        for m in range(len(train_rows)):
            model = copy.deepcopy(base)
            model.load_state_dict({n: v[m].detach() for n, v in {**params, **buffers}.items()})
            models.append(model.eval())
        return models

    def _fit_attention(self, table: pd.DataFrame, y: np.ndarray, p_face: np.ndarray | None) -> None:
        """Fit ``attention_``; ``weight_decay="auto"``: the one of :data:`ATTENTION_WEIGHT_DECAYS`
        with the lowest class-balanced held-out log loss over an inner subject-grouped k-fold
        (a few dozen sequences overfit an attention model; how much to shrink is the data's call),
        recorded in ``weight_decay_`` and ``weight_decay_losses_``. The candidates × folds models
        train together, stacked (:func:`torch.func.vmap`), each on its own training rows."""
        from sklearn.model_selection import GroupKFold

        parts, present = self._attention_inputs(table, p_face)
        decay = self.weight_decay
        self.weight_decay_losses_: dict[float, float] = {}
        if decay == "auto":
            groups = table["subject"].to_numpy()
            k = min(3, len(np.unique(groups)))
            decay = 1e-3
            splits = ([(tr, te) for tr, te in GroupKFold(k).split(y, y, groups) if len(np.unique(y[tr])) == 2]
                      if k >= 2 else [])
            if splits:
                runs = [(c, tr, te) for c in ATTENTION_WEIGHT_DECAYS for tr, te in splits]
                models = self._train_attention_stack(parts, present, y, [tr for _, tr, _ in runs],
                                                     [c for c, _, _ in runs])
                losses: dict[float, list[float]] = {c: [] for c in ATTENTION_WEIGHT_DECAYS}
                for (c, _, te), model in zip(runs, models):
                    with torch.no_grad():
                        logit = model(parts, present)[0]
                    yt = torch.as_tensor(y[te], dtype=torch.float32)
                    losses[c].append(float((nn.functional.binary_cross_entropy_with_logits(
                        logit[te], yt, reduction="none") * _balanced_weights(yt)).mean()))
                self.weight_decay_losses_ = {c: float(np.mean(v)) for c, v in losses.items()}
                finite = {c: v for c, v in self.weight_decay_losses_.items() if np.isfinite(v)}
                if finite:
                    decay = min(finite, key=finite.get)
        self.weight_decay_ = float(decay)
        self.attention_ = self._train_attention(parts, present, y, self.weight_decay_)

    def predict(self, face: pd.DataFrame, bio: pd.DataFrame) -> pd.DataFrame:
        """One row per face sequence: ``subject, sequence, p_1, prediction, missing`` (the absent
        modalities: ``face`` where the face table has no score, and signals; an absent one adds
        no evidence) and, for attention, the weight ``w_<modality>`` each modality got."""
        if not hasattr(self, "bio_"):
            raise GeopainError("this FusionModel is not fitted yet")
        table = self._join(face, bio).reset_index(drop=True)
        present = self._presence(table)
        has_face = np.isfinite(table["p_face"].to_numpy(float)) if "p_face" in table else np.zeros(len(table), bool)
        if self.fusion not in ("face", "bio") and self.face_input == "embedding":
            has_face = np.isfinite(table[self.emb_cols_].to_numpy(float)).all(1)
        names = ("face", *SIGNALS) if self.fusion != "bio" else SIGNALS
        flags = np.concatenate([has_face[:, None], present], 1) if self.fusion != "bio" else present
        missing = [",".join(g for g, ok in zip(names, row) if not ok) for row in flags]
        out = table[KEYS].copy()
        if self.fusion == "face":
            p = table["p_face"].to_numpy(float)
        elif self.fusion == "bio":
            p = self.bio_.predict_proba(self._bio_matrix(table))[:, 1]
            p = np.where(present.any(1), p, np.nan)  # no biosignal at all: no score, says so
        elif self.fusion == "early":
            face_x = np.nan_to_num(self._face_matrix(table))  # no face score: the logit 0 (no evidence)
            p = self.early_.predict_proba(np.concatenate([face_x, self._bio_matrix(table)], 1))[:, 1]
        elif self.fusion == "late":
            bio = np.where(present.any(1), self.bio_.decision_function(self._bio_matrix(table)), 0.0)
            face_logit = np.nan_to_num(_logit(table["p_face"].to_numpy(float)))  # no face score: no evidence
            p = self.late_.predict_proba(np.stack([face_logit, bio], 1))[:, 1]
        else:
            parts, pres = self._attention_inputs(table)
            with torch.no_grad():
                logit, w = self.attention_(parts, pres)
            p = torch.sigmoid(logit).numpy()
            for i, name in enumerate(("face", *SIGNALS)):
                out[f"w_{name}"] = w[:, i].numpy()
        out["p_1"] = p
        out["prediction"] = np.where(np.isfinite(p), (p >= 0.5).astype(float), np.nan)
        out["missing"] = missing
        return out


def as_biosignal_features(biosignals: pd.DataFrame) -> pd.DataFrame:
    """Per-sequence biosignal features from either the per-frame side table
    (``<table>.biosignals.parquet``, features computed here) or a table of features already
    computed (:func:`~geopain.biosignals.biosignal_features`: it has ``has_<signal>`` columns)."""
    if not isinstance(biosignals, pd.DataFrame):
        raise GeopainError(f"biosignals: expected a DataFrame, got {type(biosignals).__name__}")
    if all(f"has_{g}" in biosignals.columns for g in SIGNALS):
        return biosignals
    return biosignal_features(biosignals)


class FusionEstimator:
    """A face model and a :class:`FusionModel` over labelled landmark sequences (scikit-learn style).

    Args:
        fusion: ``"early"``, ``"late"``, ``"attention"`` or ``"bio"`` (biosignal-only reference).
        biosignals: the per-frame side table or per-sequence features (:func:`as_biosignal_features`),
            rows keyed by ``subject, sequence`` as in the landmark sequences.
        face: the registered face model (a :class:`PainEstimator` name); face_params: its parameters.
        task: only ``"binary"`` (fusion scores pain vs no pain per sequence).
        n_components, C, face_input: of :class:`FusionModel`. seed: seeds the face model and the fusion.
        face_fit: how the face models are fitted (early, late and attention fusion with
            ``face_input="score"``): ``"cross"`` (default) fits one face model per half of the
            training subjects; each scores the other half's sequences (what the fusion is
            fitted on) and together, as a :class:`FaceEnsemble`, they score new sequences, so a
            fusion costs about one face fit. ``"full"`` also fits a face model on every training
            subject for scoring new sequences (about two face fits).

    Learned state: ``face_`` (the fitted face :class:`PainEstimator`, or :class:`FaceEnsemble`
    with ``face_fit="cross"``; ``None`` for ``"bio"``),
    ``features_`` (the biosignal features), ``model_`` (the fitted :class:`FusionModel`).
    """

    def __init__(self, fusion: str = "late", biosignals: pd.DataFrame | None = None, face: str = "wgnn",
                 face_params: dict[str, Any] | None = None, task: str = "binary", n_components: int = 8,
                 C: float = 1.0, seed: int = 0, face_input: str = "score", face_fit: str = "cross"):
        self.fusion = fusion
        self.biosignals = biosignals
        self.face = face
        self.face_params = face_params
        self.task = task
        self.n_components = n_components
        self.C = C
        self.seed = seed
        self.face_input = face_input
        self.face_fit = face_fit

    def fit(self, sequences: Sequence[Any]) -> "FusionEstimator":
        seqs = list(sequences)
        if canonical_task(self.task) != "binary":
            raise GeopainError(f"fusion models score pain vs no pain (task 'binary'), not {self.task!r}")
        if self.biosignals is None:
            raise GeopainError("fusion models need biosignals: the per-frame side table that 'geopain dataset "
                               "prepare biovid' writes (<table>.biosignals.parquet) or biosignal_features(...)")
        if self.fusion not in FUSIONS or self.fusion == "face":
            raise GeopainError(f"fusion must be one of early, late, attention, bio; got {self.fusion!r}")
        if self.face_fit not in FACE_FITS:
            raise GeopainError(f"face_fit must be one of {FACE_FITS}, got {self.face_fit!r}")
        self.features_ = as_biosignal_features(self.biosignals)
        labels = self._sequence_labels(seqs)
        out_of_fold = self.fusion == "late" or (self.fusion != "bio" and self.face_input == "score")
        cross = out_of_fold and self.face_fit == "cross"
        if self.face_fit == "cross" and self.fusion != "bio" and not out_of_fold:
            raise GeopainError("face_fit='cross' scores with an ensemble of face models, which has no single "
                               "embedding: use face_fit='full' with face_input='embedding'")
        face_oof = None
        if out_of_fold:  # the fusion sees face scores of subjects the face model did not see
            face_oof, inner = out_of_fold_face_table(
                lambda train: _fitted_face(self.face, self.face_params or {}, self.seed, train), seqs, 2, self.seed,
                return_models=True)
        if self.fusion == "bio":
            self.face_ = None
            face = labels[KEYS]
        else:
            self.face_ = (FaceEnsemble(inner) if cross
                          else _fitted_face(self.face, self.face_params or {}, self.seed, seqs))
            # fitted on out-of-fold scores, the fusion needs no score of the training sequences
            face = face_oof if out_of_fold else face_sequence_table(self.face_, seqs, with_embedding=True)
        self.model_ = FusionModel(self.fusion, n_components=self.n_components, C=self.C, seed=self.seed,
                                  face_input=self.face_input).fit(face, self.features_, labels=labels, face_oof=face_oof)
        return self

    @staticmethod
    def _sequence_labels(seqs: Sequence[Any]) -> pd.DataFrame:
        """``subject, sequence, target``: each sequence's pain label (its own where it has one,
        else the median of its frames', :func:`geopain.tasks.sequence_targets`)."""
        lengths = [s.n_frames for s in seqs]
        frames = pd.DataFrame({"subject": np.repeat([str(s.subject) for s in seqs], lengths),
                               "sequence": np.repeat([str(s.sequence) for s in seqs], lengths),
                               "target": task_targets(seqs, "binary"),
                               SEQUENCE_TARGET: sequence_task_targets(seqs, "binary")})
        return sequence_targets(frames, "binary", KEYS).rename("target").reset_index()

    def predict_frames(self, sequences: Sequence[Any]) -> pd.DataFrame:
        """One row per frame (the columns of :meth:`PainEstimator.predict_frames`), every frame of a
        sequence with that sequence's fused probability, and ``missing`` (the absent signals).
        A sequence the fusion cannot score (no biosignal for ``"bio"``) abstains and says why."""
        if not hasattr(self, "model_"):
            raise GeopainError("this FusionEstimator is not fitted yet")
        seqs = list(sequences)
        if self.face_ is None:
            lengths = [s.n_frames for s in seqs]
            frames = frame_table(seqs, np.full((sum(lengths), 2), np.nan), np.ones(sum(lengths), bool), "none",
                                 "binary")
            frames["status"], frames["reason"] = "scored", ""
            face = frames[KEYS].drop_duplicates()
        else:
            frames = self.face_.predict_frames(seqs)
            face = face_sequence_table(self.face_, seqs, with_embedding=self.face_input == "embedding",
                                       frames=frames)
        fused = self.model_.predict(face, self.features_).set_index(KEYS)
        at = pd.MultiIndex.from_frame(frames[KEYS].astype(str))
        p = fused["p_1"].reindex(at).to_numpy(float)
        frames["p_0"], frames["p_1"] = 1 - p, p
        ok = frames["face_found"].to_numpy(bool) & np.isfinite(p)
        frames["prediction"] = np.where(ok, (p >= 0.5).astype(float), np.nan)
        frames["missing"] = fused["missing"].reindex(at).fillna("gsr,ecg,emg").to_numpy(str)
        unscored = frames["face_found"].to_numpy(bool) & ~np.isfinite(p)
        frames.loc[unscored, "status"] = "abstained"
        frames.loc[unscored, "reason"] = "no biosignal for this sequence"
        frames["face_found"] = ok
        return frames


#: face models fitted by this process, by (model, parameters, seed, training data): the fusions
#: of one evaluation fold share their face models (the two half-fold ones, and with
#: ``face_fit="full"`` the one on every training subject) instead of training them per fusion
_FACE_CACHE: "OrderedDict[str, PainEstimator]" = OrderedDict()
_FACE_CACHE_SIZE = 4


def _fitted_face(name: str, params: dict[str, Any], seed: int, seqs: Sequence[Any]) -> PainEstimator:
    key = json.dumps([name, params, seed, sequences_digest(seqs)], sort_keys=True, default=str)
    if key in _FACE_CACHE:
        _FACE_CACHE.move_to_end(key)
        return _FACE_CACHE[key]
    face = PainEstimator(name, "binary", seed=seed, **params).fit(seqs)
    _FACE_CACHE[key] = face
    while len(_FACE_CACHE) > _FACE_CACHE_SIZE:
        _FACE_CACHE.popitem(last=False)
    return face


def _register(name: str, fusion: str, description: str) -> None:
    """``face``: the face model a fit trains (``None``: none)."""
    def factory(**kw: Any) -> FusionEstimator:
        return FusionEstimator(fusion, **kw)

    MODELS.register(name, kind="fusion", fusion=fusion, face=None if fusion == "bio" else "wgnn",
                    sequence_level=True, description=description)(factory)


_register("fusion-early", "early", "the face model's logit (out-of-fold in training) and biosignal features "
          "(GSR, ECG, EMG, remote pulse) in one logistic regression, per sequence")
_register("fusion-late", "late", "the face model's logit and a biosignal model's out-of-fold logit combined by a "
          "logistic regression, per sequence")
_register("fusion-attention", "attention", "modality-aware attention over face and biosignal tokens (absent "
          "signals masked), per sequence")
_register("biosignals", "bio", "biosignal-only reference: logistic regression on GSR, ECG, EMG and remote-pulse "
          "features, per sequence")
