"""Transfer of pain models across species, detectors and datasets, through the shared-region model.

Every method trains :class:`~geopain.models.shared.SharedRegionModel`: one encoder per landmark
scheme feeding a region-level representation common to all species (pooled through the
declared homology, :mod:`geopain.transfer.homology`) and one shared pain head.

Methods (:data:`METHODS`):

- ``"zero-shot"``: train on the source; the target's encoder starts as a copy of the source's
  (node features and message passing mean the same on any face), the head is the source's; no
  target label is used. Inputs are standardised per scheme on the target's training pool
  (label-free); for a target in the source's own scheme (another detector or dataset mapped to
  it) the source's model and scaling are used as they are: this is the "no adaptation" row. Two
  readouts: the shared pain head, whose decision threshold is set label-free by
  :meth:`TransferModel.calibrate` (pain called in the same fraction of the target's unlabelled
  frames as of the source's: assumes similar prevalence; the uncalibrated 0.5 is reported too),
  and :meth:`TransferModel.predict_score` (shared-unit intensities mapped back through the target's
  homology to its own units, its scale's formula and threshold).
- ``"finetune"``: start from the zero-shot model, train on the labelled target subjects with
  the source replayed at ``source_replay`` weight (so a few subjects do not erase the source).
- ``"dann"``: domain-adversarial training (gradient reversal, Ganin & Lempitsky 2015): the source
  labelled, the target's training pool unlabelled (plus its labelled subjects when given), a
  domain classifier on the shared representation whose gradient is reversed into the encoders.

:func:`few_shot` runs the subject-independent few-shot protocol: target subjects are split into
folds (:func:`geopain.evaluation.splits.group_kfold`); in each fold ``n`` training subjects are
drawn from the fold's training pool (never its test subjects), and "target-only" (the same model
trained on those ``n`` subjects from random weights) is compared with the transfer method on the
fold's test subjects. When source and target share subject ids (the same people seen by another
detector), the fold's test subjects are removed from the source too.

Everything here is measured on whatever tables are given; on simulated cohorts it is a property
of the simulator (see the README), not a clinical accuracy.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import GeopainError
from ..landmarks import LandmarkSequence
from ..species import Scheme, convert_sequence, get_scheme
from .homology import SHARED_UNITS, Homology, get_homology

#: Transfer methods.
METHODS = ("zero-shot", "finetune", "dann")


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------


@dataclass
class Domain:
    """A landmark table prepared for the shared model (every frame, unscaled).

    ``inputs``: graph tensors of :class:`~geopain.models.steps.GraphFeatures` (first dim
    frames); ``y (F,)`` binary pain (NaN unknown); ``units (F, K)`` shared-unit intensities
    (:data:`SHARED_UNITS` columns, NaN unknown); ``subject (F,)``; ``found (F,)`` a face.
    """

    name: str
    scheme: Scheme
    homology: Homology
    inputs: dict[str, Any]
    y: np.ndarray
    units: np.ndarray
    subject: np.ndarray
    found: np.ndarray

    @property
    def key(self) -> str:
        return self.scheme.key

    @property
    def subjects(self) -> list[str]:
        return list(dict.fromkeys(self.subject.tolist()))

    def rows(self, subjects: Iterable[str], labelled: bool = True) -> np.ndarray:
        """``(S,)`` frames of ``subjects`` with a face (and a label when ``labelled``)."""
        ok = np.isin(self.subject, list(subjects)) & self.found
        if labelled:
            ok &= np.isfinite(self.y)
        return np.flatnonzero(ok)


def prepare_domain(sequences: Iterable[LandmarkSequence] | LandmarkSequence, name: str = "data",
                   scheme: str | None = None, require_labels: bool = True, graph: dict[str, Any] | None = None,
                   reference: str = "none") -> Domain:
    """Sequences -> :class:`Domain`. ``scheme``: convert to this scheme of the same species first
    (e.g. MediaPipe 468 points mapped to iBUG 68). One-line errors for an unknown species or
    scheme, a species without homology, and (``require_labels``) a table without pain labels."""
    from ..models.estimator import as_sequence_list, task_targets
    from ..models.steps import GraphFeatures, Normalize, Reference

    seqs = as_sequence_list(sequences)
    key = seqs[0].scheme
    sch = get_scheme(key)  # unknown scheme / species -> SchemeError naming it
    if scheme is not None and scheme != key:
        target = get_scheme(scheme)
        if target.species != sch.species:
            raise GeopainError(f"{name}: cannot map {key} points to {scheme} (another species); transfer across "
                               f"species goes through the homology, not a point mapping")
        seqs = [convert_sequence(s, scheme) for s in seqs]
        sch = target
    hom = get_homology(sch.species)
    scale = sch.pain_scale
    if scale is None:
        raise GeopainError(f"{name}: scheme {sch.key} has no pain scale; transfer needs one")
    y = task_targets(seqs, "binary", sch)
    if require_labels and not np.isfinite(y).any():
        raise GeopainError(f"{name}: no pain labels (the table needs a 'pain' or 'score' column); "
                           f"transfer trains and scores on labelled frames")
    frames = Reference(reference).transform(Normalize(sch).transform(seqs))
    inputs = GraphFeatures(sch, graph).transform(frames)
    lengths = [s.n_frames for s in seqs]
    unit_labels = {}
    for u in scale.units:
        if any(u in s.labels for s in seqs):
            unit_labels[u] = np.concatenate([s.labels.get(u, np.full(s.n_frames, np.nan)) for s in seqs])
    units = hom.unit_targets(unit_labels, scale, int(sum(lengths)))
    return Domain(name=name, scheme=sch, homology=hom, inputs=inputs, y=y, units=units,
                  subject=np.asarray(frames.subject).astype(str), found=np.asarray(frames.found, bool))


def fit_scaler(domain: Domain, subjects: Iterable[str]) -> dict[str, np.ndarray]:
    """Per-channel statistics of ``domain``'s frames of ``subjects`` (labels unused)."""
    from ..models.steps import FeatureScaler

    rows = domain.rows(subjects, labelled=False)
    if not len(rows):
        raise GeopainError(f"{domain.name}: no frames with a face to standardise on")
    return FeatureScaler().fit(domain.inputs, rows).stats_


def scaled(domain: Domain, stats: dict[str, np.ndarray]) -> dict[str, Any]:
    from ..models.steps import FeatureScaler

    return FeatureScaler.from_stats(stats).transform(domain.inputs)


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, lam: float) -> Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return -ctx.lam * grad, None


def grad_reverse(x: Tensor, lam: float = 1.0) -> Tensor:
    """Identity forward, gradient times ``-lam`` backward (the DANN gradient reversal layer)."""
    return _Reverse.apply(x, float(lam))


@dataclass
class Part:
    """Samples of one domain for :func:`fit_shared`: ``index (S,)`` frames of ``inputs`` (scaled),
    ``y (S,)`` labels (None: unlabelled, adversarial only), ``units (S, K)``, ``groups (S,)``."""

    scheme: str
    inputs: dict[str, Any]
    index: np.ndarray
    y: np.ndarray | None
    units: np.ndarray | None
    groups: np.ndarray
    weight: float = 1.0
    domain: int = 0
    validate: bool = True  # held-out subjects of this part count for early stopping


@dataclass
class TransferSettings:
    """Model size and optimisation of every transfer run (same for target-only and transfer)."""

    hidden: int = 32
    layers: int = 3
    epochs: int = 30
    finetune_epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 8
    val_fraction: float = 0.2
    unit_weight: float = 0.5
    adversarial: float = 0.3
    source_replay: float = 0.5
    node_identity: bool = False
    min_steps: int = 8
    device: str = "auto"
    seed: int = 0
    verbose: bool = False


def _batch(inputs: dict[str, Any], idx: Tensor, device: torch.device) -> dict[str, Any]:
    from ..training import _batch as batch

    out = batch(inputs, idx, device)
    out.pop("features", None)
    out.pop("time", None)
    return out


def fit_shared(model: nn.Module, labelled: Sequence[Part], unlabelled: Sequence[Part] = (), *,
               settings: TransferSettings, epochs: int | None = None, desc: str = "transfer"):
    """Train ``model`` (:class:`SharedRegionModel`) in place on several domains at once.

    Per step, one batch of every part: class-weighted cross-entropy on labelled parts (times
    their ``weight``), ``unit_weight`` x MSE of the shared-unit intensities where known, and
    with unlabelled parts or ``settings.adversarial`` > 0 and several ``domain`` ids, the domain
    loss through gradient reversal (DANN; its weight ramps up as ``2 / (1 + exp(-10 p)) - 1``).
    Early stopping on held-out subjects of the labelled parts (those with 3 or more subjects);
    the best epoch's weights are restored. Returns the :class:`~geopain.training.History`.
    """
    from ..training import History, class_weights, resolve_device, set_seed, subject_validation_split

    s = settings
    epochs = s.epochs if epochs is None else epochs
    set_seed(s.seed)
    device = resolve_device(s.device)
    model.to(device)
    labelled = [p for p in labelled if len(p.index)]
    if not labelled:
        raise GeopainError("no labelled frames to train on")
    splits, weights = [], []
    for p in labelled:
        tr, va = subject_validation_split(p.groups, s.val_fraction if p.validate else 0.0, s.seed, p.y.astype(np.int64))
        splits.append((tr, va))
        weights.append(torch.as_tensor(class_weights(p.y[tr].astype(np.int64), 2), dtype=torch.float32, device=device))
    domains = sorted({p.domain for p in [*labelled, *unlabelled]})
    adversarial = s.adversarial > 0 and len(domains) > 1
    disc = None
    params = list(model.parameters())
    if adversarial:
        d = model.embed_dim
        disc = nn.Sequential(nn.Linear(d, s.hidden), nn.ReLU(), nn.Linear(s.hidden, len(domains))).to(device)
        params += list(disc.parameters())
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    gen = torch.Generator().manual_seed(s.seed)
    steps = max(s.min_steps, math.ceil(len(splits[0][0]) / s.batch_size))
    all_parts = [*labelled, *unlabelled]
    pools = [torch.as_tensor(p.index[splits[i][0]] if i < len(labelled) else p.index, dtype=torch.long)
             for i, p in enumerate(all_parts)]
    local = [torch.as_tensor(splits[i][0] if i < len(labelled) else np.arange(len(p.index)), dtype=torch.long)
             for i, p in enumerate(all_parts)]
    hist = History()
    best_state, best_loss, bad = copy.deepcopy(model.state_dict()), _val_loss(model, labelled, splits, weights, device), 0
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    bar = tqdm(range(epochs), desc=desc, disable=not s.verbose, leave=False) if tqdm else range(epochs)
    for epoch in bar:
        model.train()
        orders = [loc[torch.randperm(len(loc), generator=gen)] for loc in local]
        total = 0.0
        for step in range(steps):
            p_done = (epoch * steps + step) / max(epochs * steps, 1)
            lam = s.adversarial * (2.0 / (1.0 + math.exp(-10 * p_done)) - 1.0)
            loss = torch.zeros((), device=device)
            embs, doms = [], []
            for i, part in enumerate(all_parts):
                order = orders[i]
                if not len(order):
                    continue
                start = (step * s.batch_size) % len(order)
                sel = order[start:start + s.batch_size]
                frames = torch.as_tensor(part.index, dtype=torch.long)[sel]
                emb = model.embed(**_batch(part.inputs, frames, device), scheme=part.scheme)
                if i < len(labelled):
                    y = torch.as_tensor(part.y[sel.numpy()], dtype=torch.long, device=device)
                    ce = nn.functional.cross_entropy(model.head(emb), y, weight=weights[i])
                    loss = loss + part.weight * ce
                    if part.units is not None and s.unit_weight > 0 and model.unit_head is not None:
                        tgt = torch.as_tensor(part.units[sel.numpy()], dtype=torch.float32, device=device)
                        ok = torch.isfinite(tgt)
                        if ok.any():
                            pred = model.units(emb)
                            loss = loss + s.unit_weight * part.weight * ((pred - torch.nan_to_num(tgt)) ** 2)[ok].mean()
                if adversarial:
                    embs.append(emb)
                    doms.append(torch.full((len(emb),), domains.index(part.domain), dtype=torch.long, device=device))
            if adversarial and len(embs) > 1:
                logits = disc(grad_reverse(torch.cat(embs), lam))
                loss = loss + nn.functional.cross_entropy(logits, torch.cat(doms))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            total += float(loss.detach())
        val = _val_loss(model, labelled, splits, weights, device)
        row = {"epoch": epoch, "train_loss": total / steps, "val_loss": val}
        hist.rows.append(row)
        monitor = val if math.isfinite(val) else row["train_loss"]
        if adversarial and not math.isfinite(val):  # DANN without validation: keep the last epoch
            best_state, hist.best_epoch = copy.deepcopy(model.state_dict()), epoch
        elif monitor < best_loss - 1e-5 or not math.isfinite(best_loss):
            best_loss, bad, hist.best_epoch = monitor, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if math.isfinite(val) and bad >= s.patience:
                hist.stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    return hist


def _val_loss(model: nn.Module, labelled: Sequence[Part], splits, weights, device) -> float:
    """Mean class-weighted cross-entropy on the held-out subjects of the labelled parts (NaN: none)."""
    losses = []
    for part, (tr, va), w in zip(labelled, splits, weights):
        if not len(va):
            continue
        proba = predict_proba(model, part.inputs, part.index[va], part.scheme, device)
        y = torch.as_tensor(part.y[va], dtype=torch.long)
        losses.append(float(nn.functional.nll_loss(torch.log(torch.as_tensor(proba, dtype=torch.float32).clamp_min(1e-7)), y, weight=w.cpu())))
    return float(np.mean(losses)) if losses else float("nan")


def predict_proba(model: nn.Module, inputs: dict[str, Any], index: np.ndarray, scheme: str,
                  device: str | torch.device = "cpu", batch_size: int = 4096) -> np.ndarray:
    """``(S, C)`` class probabilities of frames ``index`` of ``scheme``'s scaled ``inputs``."""
    from ..training import predict_network

    logits = torch.as_tensor(predict_network(model, inputs, index, batch_size, device, scheme=scheme))
    return torch.softmax(logits.double(), 1).numpy() if len(logits) else np.zeros((0, 2))


def predict_units(model: nn.Module, inputs: dict[str, Any], index: np.ndarray, scheme: str,
                  device: str | torch.device = "cpu", batch_size: int = 4096) -> np.ndarray:
    """``(S, K)`` the auxiliary head's shared-unit intensities of frames ``index``."""
    from ..training import resolve_device

    if model.unit_head is None:
        raise GeopainError("this shared model has no shared-unit head (n_units=0)")
    device = resolve_device(device)
    model.eval()
    idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
    out = []
    with torch.no_grad():
        for start in range(0, len(idx), batch_size):
            emb = model.embed(**_batch(inputs, idx[start:start + batch_size], device), scheme=scheme)
            out.append(model.units(emb).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.unit_head.out_features))


# ----------------------------------------------------------------------------------------
# Methods
# ----------------------------------------------------------------------------------------


@dataclass
class TransferModel:
    """A trained shared model with the feature scaling of each scheme it scores."""

    model: nn.Module
    scalers: dict[str, dict[str, np.ndarray]]
    method: str
    history: list[Any] = field(default_factory=list)
    #: per scheme, the P(pain) above which a frame is called pain (0.5 unless calibrated label-free)
    thresholds: dict[str, float] = field(default_factory=dict)

    def predict(self, domain: Domain, rows: np.ndarray | None = None) -> np.ndarray:
        """``(S,)`` 0/1 pain calls: P(pain) above the scheme's threshold."""
        return (self.predict_proba(domain, rows)[:, 1] > self.thresholds.get(domain.key, 0.5)).astype(np.int64)

    def calibrate(self, source: Domain, source_rows: np.ndarray, target: Domain, target_rows: np.ndarray) -> float:
        """Label-free threshold for ``target``: call pain in the same fraction of the target's (unlabelled)
        frames as the model does on its own source frames (assumes similar pain prevalence in both)."""
        rate = float(np.mean(self.predict_proba(source, source_rows)[:, 1] > self.thresholds.get(source.key, 0.5)))
        p = self.predict_proba(target, target_rows)[:, 1]
        thr = float(np.quantile(p, 1.0 - rate)) if len(p) else 0.5
        self.thresholds[target.key] = thr
        return thr

    def predict_proba(self, domain: Domain, rows: np.ndarray | None = None) -> np.ndarray:
        """``(S, 2)`` P(no pain), P(pain) of ``domain``'s frames ``rows`` (default: every frame with a face)."""
        if domain.key not in self.scalers:
            raise GeopainError(f"this transfer model scores {', '.join(self.scalers)}, not {domain.key}")
        rows = np.flatnonzero(domain.found) if rows is None else np.asarray(rows)
        return predict_proba(self.model, scaled(domain, self.scalers[domain.key]), rows, domain.key)

    def predict_units(self, domain: Domain, rows: np.ndarray | None = None) -> np.ndarray:
        """``(S, K)`` predicted shared-unit intensities (0-1, :data:`SHARED_UNITS` columns)."""
        rows = np.flatnonzero(domain.found) if rows is None else np.asarray(rows)
        return predict_units(self.model, scaled(domain, self.scalers[domain.key]), rows, domain.key)

    def predict_score(self, domain: Domain, rows: np.ndarray | None = None) -> np.ndarray:
        """``(S,)`` the domain's own pain score (its scale's total) read through the homology from the
        predicted shared-unit intensities; ``score > binary_threshold`` is its pain label."""
        return domain.homology.score_from_shared(self.predict_units(domain, rows), domain.scheme.pain_scale)

    def predict_sequences(self, sequences: Iterable[LandmarkSequence], scheme: str | None = None) -> np.ndarray:
        """``(F, 2)`` per-frame probabilities of new sequences (NaN where no face was found)."""
        dom = prepare_domain(sequences, scheme=scheme, require_labels=False)
        out = np.full((len(dom.found), 2), np.nan)
        out[dom.found] = self.predict_proba(dom)
        return out


def _new_model(scheme: str, s: TransferSettings, domain: Domain) -> nn.Module:
    from ..models import create

    torch.manual_seed(s.seed)
    ea = domain.inputs.get("edge_attr")
    return create("shared-region", in_channels=int(domain.inputs["x"].shape[-1]), out_channels=2, hidden=s.hidden,
                  layers=s.layers, edge_dim=0 if ea is None else int(ea.shape[-1]), scheme=scheme,
                  n_units=len(SHARED_UNITS), node_identity=s.node_identity)


def _part(domain: Domain, inputs: dict[str, Any], rows: np.ndarray, weight: float = 1.0, domain_id: int = 0,
          labelled: bool = True) -> Part:
    return Part(scheme=domain.key, inputs=inputs, index=rows,
                y=domain.y[rows].astype(np.int64) if labelled else None,
                units=domain.units[rows] if labelled else None, groups=domain.subject[rows], weight=weight,
                domain=domain_id)


def train_on(domain: Domain, subjects: Iterable[str], settings: TransferSettings,
             scaler_subjects: Iterable[str] | None = None, desc: str = "train") -> TransferModel:
    """The shared model trained from random weights on ``domain``'s labelled ``subjects`` only
    (the source model, and the "target-only" arm of the few-shot curves)."""
    subjects = list(subjects)
    stats = fit_scaler(domain, scaler_subjects if scaler_subjects is not None else subjects)
    inputs = scaled(domain, stats)
    rows = domain.rows(subjects)
    if len(np.unique(domain.y[rows])) < 2:
        raise GeopainError(f"{domain.name}: the training subjects {subjects[:4]}... show one class only")
    model = _new_model(domain.key, settings, domain)
    hist = fit_shared(model, [_part(domain, inputs, rows)], settings=settings, desc=desc)
    return TransferModel(model, {domain.key: stats}, "trained", [hist])


def zero_shot(source_model: TransferModel, source: Domain, target: Domain, target_pool: Iterable[str]) -> TransferModel:
    """The source model scoring the target: a target encoder copied from the source's (another
    scheme), inputs standardised on the target's unlabelled pool; the same model and scaling
    when the target is in the source's scheme (no adaptation). No target label is used."""
    model = copy.deepcopy(source_model.model)
    scalers = dict(source_model.scalers)
    if target.key != source.key:
        model.add_scheme(target.key, init_from=source.key)
        scalers[target.key] = fit_scaler(target, target_pool)
    return TransferModel(model, scalers, "zero-shot")


def adapt(method: str, source_model: TransferModel, source: Domain, target: Domain, source_subjects: Sequence[str],
          target_pool: Sequence[str], labelled_subjects: Sequence[str], settings: TransferSettings) -> TransferModel:
    """Adapt a source-trained model to ``target`` with ``method`` (:data:`METHODS`).

    ``target_pool``: the target's training subjects (unlabelled frames for DANN and the target
    scaling); ``labelled_subjects`` (a subset of the pool) are the labelled target subjects.
    """
    if method not in METHODS:
        raise GeopainError(f"method must be one of {METHODS}, got {method!r}")
    leak = set(labelled_subjects) - set(target_pool)
    if leak:
        raise GeopainError(f"labelled target subjects {sorted(leak)[:3]} are not in the target's training pool")
    tm = zero_shot(source_model, source, target, target_pool)
    if method == "zero-shot":
        return tm
    src_in = scaled(source, tm.scalers[source.key])
    tgt_in = scaled(target, tm.scalers[target.key])
    src_part = _part(source, src_in, source.rows(source_subjects), domain_id=0)
    tgt_rows = target.rows(labelled_subjects)
    tgt_part = _part(target, tgt_in, tgt_rows, domain_id=1) if len(tgt_rows) else None
    s = settings
    if method == "finetune":
        if tgt_part is None:
            raise GeopainError("fine-tuning needs labelled target subjects (use zero-shot or dann without them)")
        # the source is replayed, not validated on: early stopping looks at target subjects only
        parts = [tgt_part, replace(src_part, weight=s.source_replay, validate=False)] if s.source_replay > 0 else [tgt_part]
        hist = fit_shared(tm.model, parts, settings=replace(s, adversarial=0.0), epochs=s.finetune_epochs,
                          desc="finetune")
    else:  # dann
        unl = _part(target, tgt_in, target.rows(target_pool, labelled=False), domain_id=1, labelled=False)
        # no early stopping on the source: the source's own loss is lowest at the start, so it would
        # undo the adaptation; DANN trains its epochs and keeps the last weights (as usual for DANN)
        parts = [replace(src_part, validate=False)] + ([replace(tgt_part, validate=False)] if tgt_part is not None else [])
        hist = fit_shared(tm.model, parts, [unl], settings=replace(s, adversarial=max(s.adversarial, 1e-6)),
                          epochs=s.finetune_epochs, desc="dann")
    tm.method = method
    tm.history.append(hist)
    return tm


def fit_transfer(source: Iterable[LandmarkSequence] | Domain, target: Iterable[LandmarkSequence] | Domain,
                 method: str = "finetune", labelled_subjects: Sequence[str] | None = None,
                 settings: TransferSettings | None = None) -> TransferModel:
    """Train on ``source`` and transfer to ``target`` with ``method``, using every target subject as
    the (unlabelled) pool and ``labelled_subjects`` (default: all, for finetune; none otherwise)
    as labelled. Returns a :class:`TransferModel` (``predict_sequences`` scores new target data)."""
    s = settings or TransferSettings()
    src = source if isinstance(source, Domain) else prepare_domain(source, "source")
    tgt = target if isinstance(target, Domain) else prepare_domain(
        target, "target", scheme=src.key if _same_species(src, target) else None, require_labels=method == "finetune")
    pool = tgt.subjects
    if labelled_subjects is None:
        labelled_subjects = pool if method == "finetune" else []
    source_model = train_on(src, src.subjects, s, desc="source")
    return adapt(method, source_model, src, tgt, src.subjects, pool, list(labelled_subjects), s)


def _same_species(src: Domain, target: Any) -> bool:
    seqs = list(target) if not isinstance(target, Domain) else []
    key = target.key if isinstance(target, Domain) else (seqs[0].scheme if seqs else "")
    try:
        return get_scheme(key).species == src.scheme.species
    except GeopainError:
        return False


# ----------------------------------------------------------------------------------------
# Few-shot protocol
# ----------------------------------------------------------------------------------------


def choose_subjects(domain: Domain, pool: Sequence[str], n: int | str, rng: np.random.Generator,
                    tries: int = 50) -> list[str]:
    """``n`` subjects (``"all"``: the whole pool) drawn from ``pool`` whose labelled frames hold
    both classes; only ever subjects of ``pool``."""
    pool = list(pool)
    if n == "all" or int(n) >= len(pool):
        return pool
    n = int(n)
    if n == 0:
        return []
    if n < 0:
        raise GeopainError(f"target subject counts must be >= 0 or 'all', got {n}")
    pick = pool[:n]
    for _ in range(tries):
        pick = [pool[i] for i in rng.choice(len(pool), n, replace=False)]
        if len(np.unique(domain.y[domain.rows(pick)])) > 1:
            break
    return sorted(pick)


def few_shot_splits(target: Domain, counts: Sequence[int | str], folds: int = 3, repeats: int = 1,
                    seed: int = 0) -> list[dict[str, Any]]:
    """The few-shot design: for each fold, count and repeat, the fold's test subjects, training
    pool and labelled subjects (drawn from the pool only). Checked: no test subject is ever in the
    pool or the labelled set (raises :class:`GeopainError` otherwise)."""
    from ..evaluation.splits import group_kfold

    out = []
    for f, fold in enumerate(group_kfold(target.subjects, k=folds, seed=seed)):
        pool, test = list(fold.train_subjects), list(fold.test_subjects)
        for n in counts:
            for r in range(repeats if n != "all" else 1):
                rng = np.random.default_rng((seed, f, r, 0 if n == "all" else int(n)))
                lab = choose_subjects(target, pool, n, rng)
                if set(lab) & set(test) or set(pool) & set(test):
                    raise GeopainError(f"{fold.name}: target test subjects leak into training")  # pragma: no cover
                out.append({"fold": fold.name, "n": n, "repeat": r, "test": test, "pool": pool, "labelled": lab})
    return out


def _metrics(domain: Domain, rows: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    from ..evaluation.metrics import binary_metrics

    y = domain.y[rows].astype(np.int64)
    m = binary_metrics(y, (proba[:, 1] > threshold).astype(np.int64), proba)
    return {"balanced_accuracy": m["balanced_accuracy"], "roc_auc": m["roc_auc"], "n_frames": int(len(rows)),
            "threshold": float(threshold)}


def _score_metrics(domain: Domain, rows: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Metrics of a predicted own-scale score: pain = score > the scale's binary threshold."""
    from ..evaluation.metrics import binary_metrics, roc_auc

    y = domain.y[rows].astype(np.int64)
    pred = domain.scheme.pain_scale.binary(score).astype(np.int64)
    m = binary_metrics(y, pred)
    return {"balanced_accuracy": m["balanced_accuracy"], "roc_auc": roc_auc(y, score), "n_frames": int(len(rows))}


def parse_counts(text: str | Sequence[int | str]) -> list[int | str]:
    """``"1,2,4,8,all"`` -> ``[1, 2, 4, 8, "all"]`` (one-line error on anything else)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[int | str] = []
    for item in items:
        item = str(item).strip()
        if item == "all":
            out.append("all")
            continue
        try:
            v = int(item)
        except ValueError:
            raise GeopainError(f"target subject counts must be integers >= 0 or 'all', got {item!r}") from None
        if v < 0:
            raise GeopainError(f"target subject counts must be integers >= 0 or 'all', got {v}")
        out.append(v)
    if not out:
        raise GeopainError("no target subject counts given")
    return out


def few_shot(source: Domain, target: Domain, method: str = "finetune", counts: Sequence[int | str] = (1, 2, 4, 8, "all"),
             folds: int = 3, repeats: int = 1, settings: TransferSettings | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Few-shot curves of ``method`` against target-only training (see the module docstring).

    Returns ``{"rows": [...], "summary": [...], "settings": ..., ...}``: one row per fold x count x
    repeat with the balanced accuracy and AUC on the fold's test subjects of ``target_only``,
    ``transfer`` and (per fold) ``zero_shot`` and the source's own held-out score; ``summary``:
    mean and sd over folds x repeats per count.
    """
    if method not in METHODS:
        raise GeopainError(f"method must be one of {METHODS}, got {method!r}")
    s = settings or TransferSettings()
    counts = parse_counts(counts)
    design = few_shot_splits(target, counts, folds, repeats, s.seed)
    shared_ids = set(source.subjects) & set(target.subjects)
    source_cache: dict[tuple[str, ...], TransferModel] = {}
    fold_cache: dict[str, dict[str, Any]] = {}
    rows = []
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    it = tqdm(design, desc=f"transfer {method}", disable=not progress) if tqdm else design
    for d in it:
        excluded = tuple(sorted(set(d["test"]) & shared_ids))  # same people in both tables: keep them out
        src_subjects = [x for x in source.subjects if x not in excluded]
        if excluded not in source_cache:
            source_cache[excluded] = train_on(source, src_subjects, s, desc="source")
        src_model = source_cache[excluded]
        test_rows = target.rows(d["test"])
        if d["fold"] not in fold_cache:
            zs = zero_shot(src_model, source, target, d["pool"])
            proba = zs.predict_proba(target, test_rows)
            fold_cache[d["fold"] + "/raw"] = _metrics(target, test_rows, proba)
            thr = zs.calibrate(source, source.rows(src_subjects, labelled=False), target,
                               target.rows(d["pool"], labelled=False))
            fold_cache[d["fold"]] = _metrics(target, test_rows, proba, thr)
            score = zs.predict_score(target, test_rows)
            fold_cache[d["fold"] + "/units"] = _score_metrics(target, test_rows, score)
        lab = d["labelled"]
        nan = {"balanced_accuracy": float("nan"), "roc_auc": float("nan"), "n_frames": int(len(test_rows))}
        note = None
        if lab and len(np.unique(target.y[target.rows(lab)])) > 1:
            to = train_on(target, lab, s, scaler_subjects=d["pool"], desc="target-only")
            target_only = _metrics(target, test_rows, to.predict_proba(target, test_rows))
        else:  # no labelled target subject, or one class only: no target-only model can be trained
            target_only = nan
            if lab:
                note = "the labelled target subjects show one class only: no target-only model"
        row = {"fold": d["fold"], "n_subjects": len(lab), "count": d["n"], "repeat": d["repeat"],
               "labelled": lab, "test": d["test"], "source_excluded": list(excluded),
               "target_only": target_only, **({"note": note} if note else {}),
               "zero_shot": fold_cache[d["fold"]], "zero_shot_uncalibrated": fold_cache[d["fold"] + "/raw"],
               "zero_shot_units": fold_cache[d["fold"] + "/units"]}
        if excluded:  # the same people in the source: the source model on its own held-out frames
            own = source.rows(excluded)
            row["source_in_domain"] = _metrics(source, own, src_model.predict_proba(source, own))
        if method == "zero-shot" or (method == "finetune" and not lab):
            row["transfer"] = fold_cache[d["fold"]]
        else:
            tm = adapt(method, src_model, source, target, src_subjects, d["pool"], lab, s)
            if not lab:  # no target label: the same label-free threshold as zero-shot
                tm.calibrate(source, source.rows(src_subjects, labelled=False), target,
                             target.rows(d["pool"], labelled=False))
            proba = tm.predict_proba(target, test_rows)
            row["transfer"] = _metrics(target, test_rows, proba, tm.thresholds.get(target.key, 0.5))
            if not lab:
                row["transfer_uncalibrated"] = _metrics(target, test_rows, proba)
        rows.append(row)
    return {"method": method, "source": {"name": source.name, "scheme": source.key, "subjects": len(source.subjects)},
            "target": {"name": target.name, "scheme": target.key, "subjects": len(target.subjects)},
            "folds": folds, "repeats": repeats, "counts": counts, "settings": asdict(s),
            "rows": rows, "summary": summarise(rows)}


def summarise(rows: Sequence[dict[str, Any]], metric: str = "balanced_accuracy") -> list[dict[str, Any]]:
    """Mean and sd over folds x repeats per target-subject count: target-only, transfer, their
    paired difference, and zero-shot."""
    out = []
    for count in dict.fromkeys(r["count"] for r in rows):
        sel = [r for r in rows if r["count"] == count]
        to = np.array([r["target_only"][metric] for r in sel], float)
        tr = np.array([r["transfer"][metric] for r in sel], float)
        zs = np.array([r["zero_shot"][metric] for r in sel], float)
        diff = tr - to
        sd = lambda v: float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan")  # noqa: E731
        out.append({"count": count, "n_subjects": float(np.mean([r["n_subjects"] for r in sel])), "runs": len(sel),
                    "target_only_mean": float(np.nanmean(to)), "target_only_sd": sd(to),
                    "transfer_mean": float(np.nanmean(tr)), "transfer_sd": sd(tr),
                    "difference_mean": float(np.nanmean(diff)), "difference_sd": sd(diff),
                    "zero_shot_mean": float(np.nanmean(zs)), "zero_shot_sd": sd(zs)})
        if all("zero_shot_units" in r for r in sel):
            zu = np.array([r["zero_shot_units"][metric] for r in sel], float)
            out[-1].update({"zero_shot_units_mean": float(np.nanmean(zu)), "zero_shot_units_sd": sd(zu)})
    return out
