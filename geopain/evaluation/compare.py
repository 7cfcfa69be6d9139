"""Paired comparison of two (or more) models scored on the same seeds × folds.

Two models evaluated on the same splits give *paired* scores: fold ``i`` of seed ``j`` is
as hard for both. The honest question is whether the per-pair difference is consistently
on one side of zero, not whether two means over folds differ. :func:`paired_comparison`
reports the mean difference ``a - b``, its standard deviation, a seeded 95 % bootstrap
confidence interval of the mean difference, the Wilcoxon signed-rank p-value
(:func:`scipy.stats.wilcoxon`, two-sided), wins / ties / losses and one plain-English
sentence, e.g.::

    strain weights beat uniform weights by +0.021 balanced accuracy
    (95% CI +0.005..+0.037, Wilcoxon p=0.03, 10 pairs)

A difference is called *significant* only when the Wilcoxon p-value is below ``alpha``
**and** the bootstrap interval excludes zero; otherwise the sentence says it is within
noise. Pairs with a NaN on either side (e.g. a fold where the metric is undefined) are
left out and counted in ``n_dropped``. With fewer than 5 pairs everything is still
computed but ``few_pairs`` is True (an exact two-sided Wilcoxon test cannot reach
p < 0.05 with fewer than 6 pairs) and the sentence says so.

For metrics where lower is better (``mae``, ``mae_level``, ``ece``, ...) a *win* is a
lower score; the direction is inferred from the metric name or given explicitly.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np

#: Metrics for which a lower value is better.
LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "mae_level", "ece", "brier", "log_loss", "loss",
                             "train_seconds"})

#: Fewer pairs than this are flagged (``few_pairs``).
MIN_PAIRS = 5


def _label(metric: str) -> str:
    from .report import METRIC_LABELS

    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def _higher(metric: str, higher_is_better: bool | None) -> bool:
    return (metric not in LOWER_IS_BETTER) if higher_is_better is None else bool(higher_is_better)


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def _wilcoxon(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the differences ``d``; 1.0 when every
    difference is zero, NaN when there is nothing to test."""
    if d.size == 0:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    from scipy.stats import wilcoxon

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p = float(wilcoxon(d).pvalue)
        except ValueError:
            return float("nan")
    return p if np.isfinite(p) else float("nan")


def _bootstrap_ci(d: np.ndarray, level: float, n_boot: int, seed: int) -> tuple[float, float]:
    if d.size == 0:
        return float("nan"), float("nan")
    if d.size == 1:
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // d.size)  # bound the index matrix's memory
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        means[start:stop] = d[rng.integers(0, d.size, (stop - start, d.size))].mean(1)
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return float(lo), float(hi)


def paired_comparison(a: Sequence[float], b: Sequence[float], names: Sequence[str] = ("a", "b"),
                      metric: str = "balanced_accuracy", *, higher_is_better: bool | None = None,
                      alpha: float = 0.05, ci: float = 0.95, n_boot: int = 10_000, seed: int = 0,
                      tie_tol: float = 1e-12) -> dict[str, Any]:
    """Compare paired scores ``a[i]`` vs ``b[i]`` (same seed and fold ``i``).

    Args:
        a, b: scores of the two models, same length, one per seed × fold pair.
        names: display names of ``a`` and ``b``.
        metric: metric name (for the sentence and the direction; see ``LOWER_IS_BETTER``).
        higher_is_better: override the direction inferred from ``metric``.
        alpha: significance level of the Wilcoxon test.
        ci: level of the bootstrap interval (0.95).
        n_boot, seed: bootstrap resamples and their seed (the result is reproducible).
        tie_tol: ``|a - b| <= tie_tol`` counts as a tie.

    Returns:
        ``{"names": [a, b], "metric", "label", "higher_is_better", "n_pairs", "n_dropped",
        "few_pairs", "mean_a", "mean_b", "mean_diff" (a - b), "sd_diff" (ddof=1),
        "ci_level", "ci_low", "ci_high", "p_value", "wins", "ties", "losses" (from ``a``'s
        side), "significant", "better" (name of the significantly better model or None),
        "sentence"}``.

    Raises:
        ValueError: ``a`` and ``b`` differ in length, or ``names`` is not two names.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired scores differ in length: {x.size} vs {y.size}")
    names = [str(n) for n in names]
    if len(names) != 2:
        raise ValueError(f"names must be two names, got {names!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    d = x - y
    n = int(d.size)
    higher = _higher(metric, higher_is_better)
    sign = 1.0 if higher else -1.0
    mean_diff = float(d.mean()) if n else float("nan")
    lo, hi = _bootstrap_ci(d, ci, int(n_boot), seed)
    p = _wilcoxon(d)
    better_side = sign * d
    wins = int(np.sum(better_side > tie_tol))
    losses = int(np.sum(better_side < -tie_tol))
    significant = bool(n > 0 and np.isfinite(p) and p < alpha and (lo > 0 or hi < 0))
    better = None
    if significant:
        better = names[0] if sign * mean_diff > 0 else names[1]
    out: dict[str, Any] = {
        "names": names, "metric": metric, "label": _label(metric), "higher_is_better": higher,
        "n_pairs": n, "n_dropped": int((~ok).sum()), "few_pairs": n < MIN_PAIRS,
        "mean_a": float(x.mean()) if n else float("nan"), "mean_b": float(y.mean()) if n else float("nan"),
        "mean_diff": mean_diff, "sd_diff": float(d.std(ddof=1)) if n > 1 else float("nan"),
        "ci_level": ci, "ci_low": lo, "ci_high": hi, "p_value": p,
        "wins": wins, "ties": n - wins - losses, "losses": losses,
        "significant": significant, "better": better,
    }
    out["sentence"] = _sentence(out)
    return out


def _sentence(r: Mapping[str, Any]) -> str:
    a, b = r["names"]
    label, n = r["label"], r["n_pairs"]
    if n == 0:
        return f"{a} vs {b}: no pairs with a defined {label} to compare"
    direction = "" if r["higher_is_better"] else ", lower is better"
    pct = int(round(r["ci_level"] * 100))
    tail = f", {n} pair{'s' if n != 1 else ''}"
    if r["few_pairs"]:
        tail += f"; fewer than {MIN_PAIRS} pairs, too few for a reliable test"
    if r["significant"]:
        # name the winner first and give the difference from its side
        flip = r["better"] != a
        w, l_ = (b, a) if flip else (a, b)
        diff, lo, hi = (-r["mean_diff"], -r["ci_high"], -r["ci_low"]) if flip else (r["mean_diff"], r["ci_low"],
                                                                                     r["ci_high"])
        return (f"{w} beat {l_} by {diff:+.3f} {label} ({pct}% CI {lo:+.3f}..{hi:+.3f}, "
                f"Wilcoxon p={_fmt_p(r['p_value'])}{tail}{direction})")
    verdict = "too few pairs to tell" if r["few_pairs"] else "is within noise"
    return (f"{a} vs {b}: difference {r['mean_diff']:+.3f} {label} {verdict} ({pct}% CI "
            f"{r['ci_low']:+.3f}..{r['ci_high']:+.3f}, Wilcoxon p={_fmt_p(r['p_value'])}{tail}{direction})")


def compare_many(scores: Mapping[str, Sequence[float]], reference: str, metric: str = "balanced_accuracy",
                 **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`paired_comparison` of every entry of ``scores`` (name -> paired scores) against
    ``scores[reference]``, in the order of ``scores``; ``kwargs`` go to
    :func:`paired_comparison`. Raises ``KeyError`` for an unknown ``reference``."""
    if reference not in scores:
        raise KeyError(f"reference {reference!r} not in scores ({', '.join(map(str, scores))})")
    return [paired_comparison(v, scores[reference], names=(name, reference), metric=metric, **kwargs)
            for name, v in scores.items() if name != reference]


def best_by_paired(scores: Mapping[str, Sequence[float]], metric: str = "balanced_accuracy",
                   **kwargs: Any) -> dict[str, Any]:
    """The model with the best mean score (highest, or lowest for lower-is-better metrics;
    NaN pairs ignored) and whether it is significantly better than the runner-up.

    Returns ``{"best": name, "runner_up": name | None, "significant": bool, "means":
    {name: mean}, "comparison": paired_comparison(best, runner_up) | None, "sentence"}``.
    Raises ``ValueError`` when ``scores`` is empty.
    """
    if not scores:
        raise ValueError("no scores to compare")
    higher = _higher(metric, kwargs.get("higher_is_better"))
    means = {}
    for name, v in scores.items():
        arr = np.asarray(v, dtype=np.float64).ravel()
        arr = arr[np.isfinite(arr)]
        means[name] = float(arr.mean()) if arr.size else float("nan")
    worst = -np.inf if higher else np.inf
    key = (lambda k: means[k] if np.isfinite(means[k]) else worst)
    ranked = sorted(means, key=key, reverse=higher)
    best = ranked[0]
    if len(ranked) < 2:
        return {"best": best, "runner_up": None, "significant": False, "means": means, "comparison": None,
                "sentence": f"{best} is the only model"}
    runner = ranked[1]
    cmp = paired_comparison(scores[best], scores[runner], names=(best, runner), metric=metric, **kwargs)
    significant = bool(cmp["significant"] and cmp["better"] == best)
    return {"best": best, "runner_up": runner, "significant": significant, "means": means, "comparison": cmp,
            "sentence": cmp["sentence"]}
