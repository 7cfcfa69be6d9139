"""Simulated GSR, ECG, EMG and remote pulse for simulated faces, with a user-set coupling to pain (SIMULATION).

:func:`simulate_biosignals` writes, for sequences from :func:`geopain.synth.simulate`, the same
per-frame side table as BioVid's (``subject, sequence, frame, timestamp, gsr, ecg,
emg_trapezius``) plus, for the camera's remote pulse, the mean skin colour of the forehead and
cheeks that :func:`geopain.rppg.video_skin_colour` reads from a video (``skin_r, skin_g,
skin_b``, 8-bit grey levels): the raw signals are drawn at ``fs_raw`` Hz and averaged over each
frame's interval by :func:`geopain.datasets.biovid.align_biosignals` (the one implementation;
a camera integrates light over the frame's exposure the same way).

Per subject: a resting heart rate (N(72, 8) bpm), a tonic skin conductance (log-normal around
4 µS), an EMG amplitude (log-normal), a spontaneous SCR rate, a skin colour and a pulse
amplitude in that colour (log-normal around 0.4 %, the blood-volume signature R 0.33, G 0.77,
B 0.53). The skin pulses with the ECG's own beats (a blood-volume wave 0.2 s after each R-peak),
under slow illumination drift, motion artefacts (a random walk of brightness common to the three
channels) and camera noise (sd ``camera_noise`` grey levels per frame). Per sequence, with ``s`` the
sequence's pain intensity (0 without pain; ``0.5 + 0.5 level / (levels - 1)`` for a pain
sequence of that level, from its ``sequence_labels``) and ``c = coupling``:

- heart rate ``+ 12 c s`` bpm (and RR variability down by ``40 c s`` %);
- skin conductance responses at ``0.15 + 0.6 c s`` per second, tonic level ``+ 0.8 c s`` µS;
- EMG amplitude ``x (1 + 1.2 c s)``.

The remote pulse follows the heart rate, so it carries pain only through it.
With ``coupling = 0`` nothing in the signals depends on pain, so a fusion model has nothing
to gain from them; ``drop`` removes a signal from a fraction of sequences (NaN), as a missing
electrode does.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import GeopainError
from ..landmarks import LandmarkSequence
from ..rppg import SKIN_COLUMNS
from ..species import get_scheme


def _pain_intensity(seq: LandmarkSequence, n_levels: int) -> float:
    """0 without pain; ``0.5 + 0.5 level / (n_levels - 1)`` with pain (0.625-1 for levels 1-4)."""
    lab = seq.sequence_labels
    pain = lab.get("pain")
    if pain is None:
        pain = int(np.nanmax(seq.labels["pain"])) if "pain" in seq.labels else 0
    if not pain:
        return 0.0
    level = float(lab.get("level", n_levels - 1))
    return float(np.clip(0.5 + 0.5 * level / max(n_levels - 1, 1), 0.0, 1.0))


def _beats(t: np.ndarray, hr: float, hrv: float, rng: np.random.Generator) -> np.ndarray:
    """R-peak times (s) covering ``t`` (and 1 s before, for the pulse wave's tail), RR ~ 60/hr s."""
    beats, now = [], t[0] - 1.0 + rng.uniform(0, 60.0 / hr)
    while now < t[-1] + 1:
        beats.append(now)
        now += max(0.3, 60.0 / hr * (1 + hrv * rng.standard_normal()))
    return np.asarray(beats)


def _ecg(t: np.ndarray, beats: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A train of QRS-like Gaussian spikes (R 1 mV, 25 ms wide) and T waves at the ``beats``."""
    b = beats[None]
    x = np.exp(-0.5 * ((t[:, None] - b) / 0.012) ** 2).sum(1)
    x += 0.25 * np.exp(-0.5 * ((t[:, None] - b - 0.25) / 0.04) ** 2).sum(1)
    return x + 0.02 * rng.standard_normal(len(t))


def _gsr(t: np.ndarray, level: float, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Tonic level with slow drift plus SCRs (rise 1 s, decay 3 s, 0.05-0.3 µS) at Poisson times."""
    x = level + 0.02 * np.cumsum(rng.standard_normal(len(t))) / np.sqrt(len(t))
    n = int(rng.poisson(rate * (t[-1] - t[0] + 1e-9)))
    for onset in rng.uniform(t[0] - 2.0, t[-1], n):
        dt = np.clip(t - onset, 0, None)
        x += rng.uniform(0.05, 0.3) * (1 - np.exp(-dt / 1.0)) * np.exp(-dt / 3.0) * (t >= onset)
    return x + 0.003 * rng.standard_normal(len(t))


#: Relative colour change of skin per unit blood volume (R, G, B): the POS/CHROM signature.
PULSE_SIGNATURE = np.array([0.33, 0.77, 0.53])
#: Column of each simulated signal group.
COLUMNS = {"gsr": ("gsr",), "ecg": ("ecg",), "emg": ("emg_trapezius",), "rppg": SKIN_COLUMNS}


def _blood_volume(t: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """A blood-volume pulse: per beat a wave peaking 0.2 s after the R-peak (rise 0.1 s, decay 0.3 s)."""
    dt = t[:, None] - (beats[None] + 0.1)
    wave = np.where(dt > 0, (dt / 0.1) * np.exp(1 - dt / 0.1), 0.0) * 0.6
    wave += np.where(dt > 0, np.exp(-np.clip(dt - 0.1, 0, None) / 0.3) * (dt > 0.1), 0.0) * 0.4
    return wave.sum(1)


def _skin(t: np.ndarray, beats: np.ndarray, colour: np.ndarray, amplitude: float, camera_noise: float,
          fs_raw: float, fps: float, rng: np.random.Generator) -> np.ndarray:
    """``(len(t), 3)`` mean skin colour (grey levels) pulsing with ``beats``, with illumination
    drift, motion artefacts and camera noise (sd ``camera_noise`` after averaging over a frame)."""
    bvp = _blood_volume(t, beats)
    bvp = (bvp - bvp.mean()) / max(bvp.std(), 1e-9)
    light = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.03, 0.15) * t + rng.uniform(0, 2 * np.pi))
    motion = 0.004 * np.cumsum(rng.standard_normal(len(t))) / np.sqrt(fs_raw)  # brightness random walk
    gain = (light + motion)[:, None] * (1 + amplitude * PULSE_SIGNATURE[None] * bvp[:, None])
    per_sample = camera_noise * np.sqrt(fs_raw / fps)  # frame means of raw samples have sd camera_noise
    return colour[None] * gain + per_sample * rng.standard_normal((len(t), 3))


def simulate_biosignals(sequences: Iterable[LandmarkSequence], coupling: float = 1.0, seed: int = 0,
                        fs_raw: float = 256.0, drop: dict[str, float] | None = None,
                        n_levels: int | None = None, signals: Iterable[str] = ("gsr", "ecg", "emg", "rppg"),
                        camera_noise: float = 0.15, aligned: bool = True) -> pd.DataFrame:
    """Per-frame side table of simulated ``gsr`` (µS), ``ecg`` (mV), ``emg_trapezius`` (µV) and
    mean skin colour ``skin_r, skin_g, skin_b`` (grey levels, the camera's remote pulse).

    Args:
        sequences: simulated landmark sequences (labels ``score``; subjects keep their physiology).
        coupling: how strongly pain drives the signals (0: not at all; 1: the effects above).
        seed: random seed; fs_raw: the raw signals' sampling rate before frame averaging.
        drop: ``{"ecg": 0.2, ...}`` fraction of sequences whose signal is missing (all NaN).
        n_levels: levels of the pain scale (default: the sequences' scheme's scale).
        signals: which of ``gsr``, ``ecg``, ``emg``, ``rppg`` the table has (a camera alone: ``("rppg",)``).
        camera_noise: sd (grey levels) of the skin colour's noise per frame.
        aligned: per-frame means (the side table); ``False``: the raw signals at ``fs_raw`` as a
            recording writes them (``subject, sequence, time`` in s from the sequence's first frame
            interval, then the signal columns), e.g. to write BioVid's ``*_bio.csv`` files.
    """
    from ..datasets.biovid import align_biosignals

    seqs = list(sequences)
    if not seqs:
        raise GeopainError("no sequences to simulate biosignals for")
    if not np.isfinite(coupling) or coupling < 0:
        raise GeopainError(f"coupling must be >= 0, got {coupling!r}")
    drop = dict(drop or {})
    signals = tuple(signals)
    for name, given in (("drop", set(drop)), ("signals", set(signals))):
        unknown = given - set(COLUMNS)
        if unknown:
            raise GeopainError(f"{name}: unknown signals {sorted(unknown)}; use {', '.join(COLUMNS)}")
    if n_levels is None:
        scale = get_scheme(seqs[0].scheme).pain_scale
        n_levels = int(scale.n_levels) if scale is not None else 2
    subjects: dict[str, tuple] = {}
    parts = []
    for i, s in enumerate(seqs):
        if s.subject not in subjects:
            r = np.random.default_rng([seed, len(subjects), 7])
            subjects[s.subject] = (72 + 8 * r.standard_normal(), 4.0 * np.exp(0.4 * r.standard_normal()),
                                   20.0 * np.exp(0.3 * r.standard_normal()), 0.15 * np.exp(0.3 * r.standard_normal()),
                                   np.array([170.0, 120.0, 100.0]) * np.exp(0.15 * r.standard_normal(3)),
                                   0.004 * np.exp(0.3 * r.standard_normal()))
        hr0, level0, emg0, scr0, colour, pulse_amplitude = subjects[s.subject]
        rng = np.random.default_rng([seed, i, 11])
        k = coupling * _pain_intensity(s, n_levels)
        ts = np.asarray(s.timestamps, float)
        ts = np.where(np.isfinite(ts), ts, np.arange(s.n_frames) / (s.fps or 25.0))
        fps = s.fps or 25.0
        t = np.arange(ts[0] - 0.5 / fps, ts[-1] + 0.5 / fps, 1.0 / fs_raw)
        beats = _beats(t, hr0 + 12 * k + 2 * rng.standard_normal(), 0.05 * (1 - 0.4 * min(k, 1)), rng)
        # every contact signal is drawn even when ``signals`` leaves it out (it is dropped below): the
        # random stream, so each signal a table does have, is the same whichever others it has
        raw = pd.DataFrame({
            "time": t,
            "gsr": _gsr(t, level0 + 0.8 * k, scr0 + 0.6 * k, rng),
            "ecg": _ecg(t, beats, rng),
            "emg_trapezius": emg0 * (1 + 1.2 * k) * rng.standard_normal(len(t)) * (1 + 0.5 * np.sin(2 * np.pi * 0.3 * t)),
        })
        if "rppg" in signals:
            raw[list(COLUMNS["rppg"])] = _skin(t, beats, colour, pulse_amplitude, camera_noise, fs_raw, fps, rng)
        out = align_biosignals(raw, ts, fps) if aligned else raw.assign(time=raw["time"] - raw["time"].iloc[0])
        for group, cols in COLUMNS.items():
            if group not in signals:
                out = out.drop(columns=[c for c in cols if c in out.columns])
            elif drop.get(group, 0) > 0 and rng.uniform() < drop[group]:
                out[list(cols)] = np.nan
        if aligned:
            out.insert(0, "timestamp", ts)
            out.insert(0, "frame", np.asarray(s.frames))
        out.insert(0, "sequence", s.sequence)
        out.insert(0, "subject", s.subject)
        parts.append(out)
    return pd.concat(parts, ignore_index=True)

