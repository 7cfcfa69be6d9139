"""``geopain export MODEL_DIR -o model.onnx [--int8]``: a trained network as ONNX for torch-free use."""
from __future__ import annotations

import argparse

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "export a trained neural model to ONNX (scored by 'geopain predict' with numpy + onnxruntime only)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help=HELP,
                       description="Write the network of a model directory (from 'geopain train') as an ONNX file "
                                   "whose metadata holds what prediction needs (scheme, graph settings, scalers). "
                                   "'geopain predict model.onnx INPUT -o OUT' then needs only numpy, onnxruntime and "
                                   "a detector (pip install 'geopain[lite]'). The export is checked against torch "
                                   "(float: within 1e-4). Frame models with --reference none.")
    p.add_argument("model", help="model directory written by 'geopain train'")
    p.add_argument("-o", "--output", required=True, help="the ONNX file to write (.onnx)")
    p.add_argument("--int8", action="store_true",
                   help="int8 dynamic quantisation of the weights (smaller, faster on some CPUs; the difference to "
                        "the float model is printed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import export_onnx

    s = export_onnx(args.model, args.output, int8=args.int8)
    print(f"wrote {s['path']} ({s['bytes'] / 1024:.0f} KiB, model {s['model']}, inputs {', '.join(s['inputs'])})")
    print(f"float32 export vs torch: max |difference| {s.get('float_max_abs_diff', s['max_abs_diff']):.2e}")
    if "int8_max_abs_diff" in s:
        print(f"int8 export vs torch:    max |difference| {s['int8_max_abs_diff']:.2e} (network outputs, logits)")
    return 0
