"""Standard biosignal features per sample from per-frame GSR, ECG, EMG and remote pulse (SciPy).

Input is the per-frame side table that ``geopain dataset prepare biovid`` writes
(``<table>.biosignals.parquet``: ``subject, sequence, frame, timestamp`` and the signal
columns ``gsr`` (µS), ``ecg``, ``emg_trapezius``, each the mean over the frame's interval)
or that :func:`geopain.biosignals.simulate_biosignals` writes. Per sequence (a BioVid sample):

- **GSR**: tonic level (mean, µS), slope (µS/s), phasic peaks (skin conductance responses:
  peaks of the detrended signal rising >= ``scr_min_us`` within 0.5-5 s, count per minute)
  and their mean amplitude;
- **ECG**: R-peaks (prominent maxima at least 0.33 s apart, i.e. <= 180 bpm, of the
  high-passed signal) -> heart rate (bpm), SDNN and RMSSD (ms) of the RR intervals;
- **EMG**: amplitude (standard deviation of the detrended signal) and its range;
- **rPPG** (remote pulse, no contact): the mean skin colour of the forehead and cheeks per
  frame (``skin_r, skin_g, skin_b``, from the video by :func:`geopain.rppg.video_skin_colour`
  or simulated) -> POS pulse -> heart rate (bpm) and its signal-to-noise ratio (dB)
  (:mod:`geopain.rppg`). A pulse below the quality threshold gives no heart rate: the
  sequence has no rPPG (``missing`` says ``rppg``), as a missing electrode has no ECG.

The library is SciPy (``scipy.signal``), not NeuroKit2: the side table holds frame means at
the video rate (25 Hz), below what NeuroKit2's cleaning pipelines assume (its ECG cleaners
high-pass at 0.5 Hz and notch 50 Hz, above this signal's Nyquist frequency), and SciPy is
already a pinned dependency; NeuroKit2 0.2.13 resolves with the pinned torch but would add
PyWavelets and a different setuptools for functions these features do not need.

A missing channel (column absent, or all NaN in a sequence) gives NaN features and
``has_<signal> = False``; ``missing`` names what was absent (e.g. ``"ecg"``), so a sample
without ECG still scores and says so.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import signal

from ..errors import GeopainError
from ..rppg import SKIN_COLUMNS

#: Signal groups and the columns that carry them: alternatives, the first present wins; an
#: alternative is one column or a tuple of columns that are all needed (rPPG's skin colour).
SIGNALS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "gsr": ("gsr",), "ecg": ("ecg",), "emg": ("emg_trapezius", "emg_corrugator", "emg_zygomaticus"),
    "rppg": (SKIN_COLUMNS,),
}

FEATURES = {
    "gsr": ("gsr_level", "gsr_slope", "gsr_scr_per_min", "gsr_scr_amplitude"),
    "ecg": ("ecg_hr_bpm", "ecg_sdnn_ms", "ecg_rmssd_ms"),
    "emg": ("emg_amplitude", "emg_range"),
    "rppg": ("rppg_hr_bpm", "rppg_snr_db"),
}
FEATURE_NAMES: tuple[str, ...] = tuple(f for group in FEATURES.values() for f in group)
KEYS = ["subject", "sequence"]


def _finite(x: np.ndarray) -> np.ndarray:
    """Fill NaN by linear interpolation (edges: nearest)."""
    ok = np.isfinite(x)
    if ok.all():
        return x
    idx = np.arange(len(x))
    return np.interp(idx, idx[ok], x[ok])


def gsr_features(x: np.ndarray, fs: float, scr_min_us: float = 0.02) -> dict[str, float]:
    """Tonic level, slope and skin conductance responses of a GSR trace ``x (T,)`` in µS."""
    x = _finite(np.asarray(x, float))
    t = np.arange(len(x)) / fs
    slope = float(np.polyfit(t, x, 1)[0]) if len(x) > 2 else np.nan
    detrended = signal.detrend(x)
    win = max(1, int(round(0.5 * fs)))
    smooth = np.convolve(detrended, np.ones(win) / win, mode="same") if len(x) > win else detrended
    peaks, props = signal.find_peaks(smooth, prominence=scr_min_us, distance=max(1, int(fs)))
    minutes = len(x) / fs / 60.0
    amp = float(np.mean(props["prominences"])) if len(peaks) else 0.0
    return {"gsr_level": float(np.mean(x)), "gsr_slope": slope, "gsr_scr_per_min": len(peaks) / max(minutes, 1e-9),
            "gsr_scr_amplitude": amp}


def r_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of the R-peaks of an ECG trace ``x (T,)`` (high-passed at 0.7 Hz where
    the rate allows; peaks at least 0.33 s apart and prominent above half the 98th percentile)."""
    x = _finite(np.asarray(x, float))
    if len(x) > 3 * fs:
        b, a = signal.butter(2, 0.7 / (fs / 2), "highpass")
        x = signal.filtfilt(b, a, x)
    else:
        x = x - np.median(x)
    height = 0.5 * np.percentile(x, 98)
    peaks, _ = signal.find_peaks(x, height=height, distance=max(1, int(0.33 * fs)))
    return peaks


def ecg_features(x: np.ndarray, fs: float) -> dict[str, float]:
    """Heart rate (bpm) and heart-rate variability (SDNN, RMSSD in ms) from the R-peaks."""
    peaks = r_peaks(x, fs)
    rr = np.diff(peaks) / fs
    rr = rr[(rr > 0.33) & (rr < 2.0)]
    if len(rr) < 2:
        return {"ecg_hr_bpm": np.nan, "ecg_sdnn_ms": np.nan, "ecg_rmssd_ms": np.nan}
    return {"ecg_hr_bpm": float(60.0 / rr.mean()), "ecg_sdnn_ms": float(1000 * rr.std(ddof=1)),
            "ecg_rmssd_ms": float(1000 * np.sqrt(np.mean(np.diff(rr) ** 2))) if len(rr) > 2 else np.nan}


def emg_features(x: np.ndarray, fs: float) -> dict[str, float]:
    """EMG amplitude: standard deviation and 5-95 % range of the detrended trace."""
    x = signal.detrend(_finite(np.asarray(x, float)))
    return {"emg_amplitude": float(np.std(x)), "emg_range": float(np.subtract(*np.percentile(x, [95, 5])))}


def rppg_features(rgb: np.ndarray, fs: float, min_snr_db: float | None = None) -> dict[str, float]:
    """Heart rate (bpm) and SNR (dB) of the POS pulse of mean skin colour ``rgb (T, 3)``;
    both NaN below ``min_snr_db`` (default :data:`geopain.rppg.MIN_SNR_DB`) or under 4 s."""
    from ..rppg import MIN_SNR_DB, pos, spectrum_heart_rate

    rgb = np.stack([_finite(np.asarray(c, float)) for c in np.asarray(rgb, float).T], 1)
    if len(rgb) < 4 * fs:
        return {"rppg_hr_bpm": np.nan, "rppg_snr_db": np.nan}
    est = spectrum_heart_rate(pos(rgb, fs), fs, MIN_SNR_DB if min_snr_db is None else min_snr_db)
    if est["hr_bpm"] is None:
        return {"rppg_hr_bpm": np.nan, "rppg_snr_db": np.nan}
    return {"rppg_hr_bpm": est["hr_bpm"], "rppg_snr_db": est["snr_db"]}


def _columns(frame: pd.DataFrame, group: str) -> list[str] | None:
    """The columns that carry ``group`` in ``frame`` (the first alternative fully present)."""
    for alternative in SIGNALS[group]:
        cols = [alternative] if isinstance(alternative, str) else list(alternative)
        if all(c in frame.columns for c in cols):
            return cols
    return None


def biosignal_features(table: pd.DataFrame, fs: float | None = None) -> pd.DataFrame:
    """One row per ``(subject, sequence)``: :data:`FEATURE_NAMES`, ``has_<group>`` for each of
    :data:`SIGNALS` and ``missing`` (comma-separated absent signals, ``""`` when complete).

    ``fs``: samples per second of the table (default: from the ``timestamp`` column, else 25).
    """
    missing_keys = [k for k in KEYS if k not in table.columns]
    if missing_keys:
        raise GeopainError(f"biosignal table needs columns {KEYS}, missing {missing_keys}")
    if fs is None:
        ts = table.groupby(KEYS, sort=False)["timestamp"].apply(lambda s: np.nanmedian(np.diff(s.to_numpy(float))))\
            if "timestamp" in table.columns else pd.Series(dtype=float)
        step = float(np.nanmedian(ts)) if len(ts) and np.isfinite(ts).any() else 0.04
        fs = 1.0 / step if step > 0 else 25.0
    rows: list[dict[str, Any]] = []
    extractors = {"gsr": lambda x: gsr_features(x[:, 0], fs), "ecg": lambda x: ecg_features(x[:, 0], fs),
                  "emg": lambda x: emg_features(x[:, 0], fs), "rppg": lambda x: rppg_features(x, fs)}
    order = table.sort_values(KEYS + (["frame"] if "frame" in table.columns else []), kind="stable")
    for (subject, sequence), part in order.groupby(KEYS, sort=False):
        row: dict[str, Any] = {"subject": str(subject), "sequence": str(sequence)}
        absent = []
        for group, extract in extractors.items():
            cols = _columns(part, group)
            x = None if cols is None else part[cols].to_numpy(float)  # (T, columns)
            ok = x is not None and np.isfinite(x).all(1).sum() >= max(4, 0.5 * len(x))
            feats = extract(x) if ok else {f: np.nan for f in FEATURES[group]}
            if ok and not np.isfinite(list(feats.values())).any():
                ok = False  # e.g. no R-peaks found: says so as missing
            row.update(feats)
            row[f"has_{group}"] = bool(ok)
            if not ok:
                absent.append(group)
        row["missing"] = ",".join(absent)
        rows.append(row)
    return pd.DataFrame(rows, columns=KEYS + list(FEATURE_NAMES) + [f"has_{g}" for g in SIGNALS] + ["missing"])
