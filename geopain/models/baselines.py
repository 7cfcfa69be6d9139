"""Baselines users trust: logistic regression and gradient boosting on pain-unit measurements.

The features are the scheme's geometric measurements of each pain unit
(:func:`geopain.geometry.measure.measure`, e.g. eye aspect ratio, brow-to-eye distance,
scale-free), per frame; for windows, their mean, standard deviation, minimum and maximum
over the window. Missing values are imputed with training medians, then standardised.

* ``logreg``: :class:`~sklearn.linear_model.LogisticRegression` (balanced class weights,
  multinomial for five levels); for the score task a :class:`~sklearn.linear_model.Ridge`.
* ``gboost``: :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (balanced class
  weights) / ``HistGradientBoostingRegressor``.

Fitted models are exported to plain arrays (:meth:`MeasurementBaseline.to_arrays`), and
prediction always runs on those arrays (the trees are evaluated by our own vectorised
traversal), so a saved and reloaded baseline predicts exactly as the fitted one and loading
never unpickles anything.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GeopainError, ShapeError
from ..tasks import canonical_task

KINDS = ("logreg", "gboost")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class MeasurementBaseline:
    """A scikit-learn model on measurement features ``X (S, M)``, serialisable to arrays.

    Args:
        kind: ``"logreg"`` or ``"gboost"``.
        task: ``"binary"``, ``"levels"`` (any number of ordered classes) or ``"score"``.
        n_classes: classes of a classification task (columns of ``predict_proba``).
        seed: random state; params: passed to the scikit-learn estimator.
    """

    def __init__(self, kind: str = "logreg", task: str = "binary", n_classes: int = 2, seed: int = 0,
                 **params: Any):
        if kind not in KINDS:
            raise GeopainError(f"baseline kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.task, self.n_classes, self.seed, self.params = kind, task, int(n_classes), seed, params
        self.arrays_: dict[str, np.ndarray] | None = None

    @property
    def is_classifier(self) -> bool:
        return self.task != "score"

    def _sklearn(self):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.linear_model import LogisticRegression, Ridge

        p = dict(self.params)
        if self.kind == "logreg":
            if self.is_classifier:
                return LogisticRegression(**{"C": 1.0, "class_weight": "balanced", "max_iter": 2000, **p})
            return Ridge(**{"alpha": 1.0, **p})
        common = {"max_iter": 150, "learning_rate": 0.1, "max_leaf_nodes": 15, "early_stopping": False,
                  "random_state": self.seed, **p}
        if self.is_classifier:
            return HistGradientBoostingClassifier(**{"class_weight": "balanced", **common})
        return HistGradientBoostingRegressor(**common)

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> "MeasurementBaseline":
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ShapeError(f"X: expected (samples, features), got shape {X.shape}")
        y = np.asarray(y)
        if len(y) != len(X):
            raise ShapeError(f"X has {len(X)} rows but y has {len(y)}")
        med = np.nanmedian(np.where(np.isfinite(X), X, np.nan), 0) if len(X) else np.zeros(X.shape[1])
        med = np.nan_to_num(med)
        Xi = np.where(np.isfinite(X), X, med)
        mean, std = Xi.mean(0), Xi.std(0)
        std = np.where(std > 1e-12, std, 1.0)
        Xs = (Xi - mean) / std
        est = self._sklearn()
        yy = y.astype(int) if self.is_classifier else y.astype(float)
        if self.is_classifier and len(np.unique(yy)) < 2:
            raise GeopainError(f"{self.kind}: training labels hold one class only ({np.unique(yy).tolist()})")
        est.fit(Xs, yy, sample_weight=sample_weight)
        arrays = {"median": med, "mean": mean, "std": std}
        arrays.update(self._export(est))
        self.arrays_ = {k: np.asarray(v) for k, v in arrays.items()}
        return self

    # -- export -----------------------------------------------------------------------
    def _export(self, est) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.is_classifier:
            out["classes"] = np.asarray(est.classes_, dtype=np.int64)
        if self.kind == "logreg":
            out["coef"] = np.atleast_2d(est.coef_).astype(np.float64)
            out["intercept"] = np.atleast_1d(est.intercept_).astype(np.float64)
            return out
        trees = [t for iteration in est._predictors for t in iteration]
        k = est.n_trees_per_iteration_
        fields = ("feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf", "value")
        offsets, parts = [], {f: [] for f in fields}
        total = 0
        for t in trees:
            nodes = t.nodes
            offsets.append(total)
            for f in fields:
                v = nodes[f].astype(np.float64 if f in ("num_threshold", "value") else np.int64)
                if f in ("left", "right"):
                    v = v + total
                parts[f].append(v)
            total += len(nodes)
        for f in fields:
            out["tree_" + f] = np.concatenate(parts[f])
        out["tree_root"] = np.asarray(offsets, dtype=np.int64)
        out["tree_class"] = np.tile(np.arange(k), len(est._predictors)).astype(np.int64)
        out["baseline"] = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> "MeasurementBaseline":
        obj = cls(config["kind"], canonical_task(config["task"], warn=False), config["n_classes"], config.get("seed", 0), **config.get("params", {}))
        obj.arrays_ = {k: np.asarray(v) for k, v in arrays.items()}
        return obj

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "task": self.task, "n_classes": self.n_classes, "seed": self.seed,
                "params": self.params}

    # -- prediction on the exported arrays ----------------------------------------------
    def _check(self) -> dict[str, np.ndarray]:
        if self.arrays_ is None:
            raise GeopainError("baseline is not fitted")
        return self.arrays_

    def _raw(self, X: np.ndarray) -> np.ndarray:
        a = self._check()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(a["mean"]):
            raise ShapeError(f"X: expected (samples, {len(a['mean'])}), got shape {X.shape}")
        Xs = (np.where(np.isfinite(X), X, a["median"]) - a["mean"]) / a["std"]
        if self.kind == "logreg":
            return Xs @ a["coef"].T + a["intercept"]
        node = np.broadcast_to(a["tree_root"], (len(Xs), len(a["tree_root"]))).copy()  # (S, trees)
        rows = np.arange(len(Xs))[:, None]
        leaf, feat, thr = a["tree_is_leaf"].astype(bool), a["tree_feature_idx"], a["tree_num_threshold"]
        miss, left, right = a["tree_missing_go_to_left"].astype(bool), a["tree_left"], a["tree_right"]
        while True:
            active = ~leaf[node]
            if not active.any():
                break
            v = Xs[rows, feat[node]]
            go_left = np.where(np.isnan(v), miss[node], v <= thr[node])
            node = np.where(active, np.where(go_left, left[node], right[node]), node)
        values = a["tree_value"][node]  # (S, trees)
        k = len(a["baseline"])
        raw = np.zeros((len(Xs), k))
        for c in range(k):
            raw[:, c] = values[:, a["tree_class"] == c].sum(1)
        return raw + a["baseline"]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(S, n_classes)`` class probabilities (classes absent in training get 0)."""
        if not self.is_classifier:
            raise GeopainError("predict_proba is for classification tasks; use predict for scores")
        a = self._check()
        raw = self._raw(X)
        p = np.c_[1 - _sigmoid(raw[:, 0]), _sigmoid(raw[:, 0])] if raw.shape[1] == 1 else _softmax(raw)
        out = np.zeros((len(p), self.n_classes))
        out[:, a["classes"]] = p
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class indices ``(S,)`` or scores ``(S,)``."""
        if self.is_classifier:
            return self.predict_proba(X).argmax(1)
        return self._raw(X)[:, 0]

    def __repr__(self) -> str:
        return f"MeasurementBaseline(kind={self.kind!r}, task={self.task!r}, n_classes={self.n_classes})"
