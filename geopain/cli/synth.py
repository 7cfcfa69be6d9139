"""``geopain synth``: write a SIMULATED labelled landmark table (not clinical data)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import GeopainError

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "write a simulated labelled landmark table (simulation, not clinical data)"

_DESCRIPTION = """\
Simulate labelled face-landmark sequences and write them as a landmark table (.parquet or .csv).
THIS IS SIMULATION, NOT CLINICAL DATA: faces are the species template deformed by a subject
identity and by facial action units (PSPI for humans, SPFES for sheep) that rise and fall over
time, with non-pain confounders (smiles, talking, chewing, ...), head pose, detector noise and
occlusions. Labels (per-frame unit intensities, score, pain, level) follow the pain scale's
formula. Use it for demos, tests and benchmarks; never report results on it as clinical accuracy.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help=HELP,
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--species", default="human", help="species with a species/<name>/synth.yaml (human, sheep)")
    p.add_argument("--subjects", type=int, default=10, help="number of simulated subjects (default 10)")
    p.add_argument("--sequences-per-subject", type=int, default=4, help="sequences per subject (default 4)")
    p.add_argument("--frames", type=int, default=60, help="frames per sequence (default 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same table")
    p.add_argument("--scheme", default=None,
                   help="output landmark scheme, e.g. human/ibug68 (default), human/mediapipe468, human/ibug66")
    p.add_argument("--project", action="store_true",
                   help="project to 2D pixels with a pinhole camera, as a 2D detector gives (dims=2, px)")
    p.add_argument("--difficulty", choices=("easy", "default", "hard", "pretrain", "dynamics"), default="default",
                   help="preset knobs: easy = frontal, still, template faces, no confounders or noise; "
                        "hard = wider pose, more identity spread, confounders, occlusion; pretrain = hard plus a generator "
                        "randomised per subject (what geopain pretrain uses); dynamics = pain and non-pain mimics share "
                        "apex shapes and differ only in their dynamics, sequence-level labels (default: default)")
    p.add_argument("--fps", type=float, default=None, help="frames per second (default 25)")
    p.add_argument("--noise", type=float, default=None,
                   help="detector noise sd (cm in 3D, pixels with --project)")
    p.add_argument("--pain-prevalence", type=float, default=None, help="fraction of pain sequences (default 0.5)")
    p.add_argument("--confounder-rate", type=float, default=None,
                   help="mean non-pain behaviour episodes per sequence (default 0.8)")
    p.add_argument("--pose-scale", type=float, default=None, help="multiplies head pose ranges (0: frontal)")
    p.add_argument("--occlusion-rate", type=float, default=None, help="probability of an occluder per sequence")
    p.add_argument("--identity-scale", type=float, default=None, help="multiplies identity shape variation")
    p.add_argument("--config", default=None, metavar="JSON",
                   help="further SynthConfig options as JSON, e.g. '{\"drop_rate\": 0.02}'")
    p.add_argument("-o", "--output", required=True, help="output table (.parquet or .csv)")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    from ..synth import SynthConfig

    values = {}
    if args.config:
        try:
            values = json.loads(args.config)
        except json.JSONDecodeError as exc:
            raise GeopainError(f"--config is not valid JSON ({exc.msg})") from None
        if not isinstance(values, dict):
            raise GeopainError("--config must be a JSON object of SynthConfig options")
    for opt, name in (("fps", "fps"), ("pain_prevalence", "pain_prevalence"), ("confounder_rate", "confounder_rate"),
                      ("pose_scale", "pose_scale"), ("occlusion_rate", "occlusion_rate"),
                      ("identity_scale", "identity_scale")):
        if getattr(args, opt) is not None:
            values[name] = getattr(args, opt)
    if args.project:
        values["project"] = True
    if args.noise is not None:
        values["noise_px" if values.get("project") else "noise_cm"] = args.noise
    for key in ("image_size", "face_size_px", "level_weights", "pain_rhythm_hz"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    return SynthConfig.preset(args.difficulty, **values).validate()


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..io.tables import write_table
    from ..landmarks import summarize
    from ..species import get_scheme
    from ..synth import available_species, simulate

    if args.species not in available_species():
        raise GeopainError(f"no simulator for species {args.species!r}; available: {available_species()}")
    out = Path(args.output)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise GeopainError(f"{out}: output must end in .parquet or .csv")
    cfg = _config(args)
    start = time.perf_counter()
    seqs = simulate(args.species, n_subjects=args.subjects, sequences_per_subject=args.sequences_per_subject,
                    frames=args.frames, seed=args.seed, scheme=args.scheme, config=cfg)
    elapsed = time.perf_counter() - start
    write_table(seqs, out, meta={"dataset": f"synthetic-{args.species}", "simulated": True,
                                 "synth": {"seed": args.seed, "config": cfg.to_dict()},
                                 "protocols": {"loso": {"kind": "loso",
                                                        "description": "leave one simulated subject out"}}})
    info = summarize(seqs)
    pain = np.concatenate([s.labels["pain"] for s in seqs])
    score = np.concatenate([s.labels["score"] for s in seqs])
    seq_pain = sum(int(s.sequence_labels["pain"]) for s in seqs)
    n_levels = get_scheme(seqs[0].scheme).pain_scale.n_levels
    levels = np.bincount([int(s.sequence_labels["level"]) for s in seqs], minlength=n_levels)
    print(f"SIMULATED data (not clinical): {args.species}, seed {args.seed}, {elapsed:.2f} s")
    print(f"wrote {out}: {info['frames']} frames, {info['sequences']} sequences, {info['subjects']} subjects, "
          f"scheme {seqs[0].scheme} ({seqs[0].n_points} points, {seqs[0].dims}D, {seqs[0].units})")
    print(f"sequences with pain: {seq_pain}/{len(seqs)}; sequence levels: {levels.tolist()}; "
          f"pain frames: {pain.mean():.1%}; score mean {score.mean():.2f}, max {score.max():.0f}")
    return 0
