"""The ``geopain`` command line.

Each sub-command lives in its own module ``geopain.cli.<name>`` exposing
``register(subparsers)``, which adds a parser whose ``func(args) -> int`` runs it.
User mistakes (:class:`~geopain.errors.GeopainError`) are printed as one line on stderr
with a non-zero exit code, never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Sequence

from .. import __version__
from ..errors import GeopainError

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("demo", "extract", "convert", "info", "synth", "pretrain", "train", "evaluate", "predict", "export", "explain", "detector", "dataset", "monitor", "serve", "transfer")


def build_parser(command: str | None = None, *, full: bool = True) -> argparse.ArgumentParser:
    """The ``geopain`` parser.

    With ``full=False`` only ``command`` gets its whole parser; every other command is listed
    by its module's one-line ``HELP`` without calling its ``register`` (which may import torch
    and friends for choices), so ``geopain --help`` and ``geopain info`` start in a fraction
    of a second. A module without ``HELP`` is registered fully.
    """
    parser = argparse.ArgumentParser(prog="geopain", description="Pain assessment from the geometry of faces.")
    parser.add_argument("--version", action="version", version=f"geopain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if importlib.util.find_spec(f"{__name__}.{name}") is None:
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        if full or name == command or not hasattr(module, "HELP"):
            module.register(sub)
        else:
            sub.add_parser(name, help=module.HELP, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is one), or ``None``."""
    return next((a for a in argv if a in COMMANDS), None)


def main(argv: Sequence[str] | None = None) -> int:
    _set_offline_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv), full=False)
    args = parser.parse_args(argv)
    args.argv = argv  # the words as given, for error messages that offer a corrected command
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GeopainError as exc:
        print(f"geopain {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"geopain {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _set_offline_environment() -> None:
    """Keep third-party libraries offline and their caches out of the user's home."""
    cache = os.environ.get("GEOPAIN_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "geopain"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(cache, "ultralytics"))
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(cache, "matplotlib"))
    os.environ.setdefault("TORCH_HOME", os.path.join(cache, "torch"))
    # MediaPipe's TFLite/absl start-up chatter is not for users
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    for pattern in ("SymbolDatabase.GetPrototype", "`torch.jit.script` is deprecated"):
        warnings.filterwarnings("ignore", message=f".*{pattern}.*")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
