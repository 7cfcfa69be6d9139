"""Export a trained neural model to ONNX for torch-free deployment (:mod:`geopain.lite`).

``export_onnx(MODEL_DIR, "model.onnx", int8=False)`` loads a model directory written by
``geopain train`` (:func:`geopain.models.save`), traces its network with
torch's ONNX exporter (opset 17, the batch dimension dynamic), writes into the file's
metadata what :class:`~geopain.lite.OnnxPainModel` needs to rebuild the inputs without
torch (scheme, task, graph settings, edge list, feature scalers, calibration temperature),
and checks the exported graph against torch on simulated faces of the model's scheme
(float: max |difference| <= 1e-4, else an error). ``int8=True`` adds ONNX Runtime's
dynamic quantisation (int8 weights of the MatMul/Gemm layers, activations quantised per
batch at run time); its difference to torch is reported, not bounded.

What can be exported: frame models of kind ``torch`` (every graph and point model in the
registry) with the per-person reference ``none`` and no temporal co-movement weights.
Window models (``--temporal``) and per-person references are refused in one line.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GeopainError
from .jsonio import dumps, to_jsonable
from .landmarks import LandmarkSequence
from .lite import FORMAT, METADATA_KEY

__all__ = ["export_onnx", "OPSET", "PARITY_TOLERANCE"]

OPSET = 17
#: Largest |ONNX - torch| accepted for a float export (model outputs).
PARITY_TOLERANCE = 1e-4
#: The inputs an exported network takes, in this order (those it does not use are dropped).
INPUTS = ("x", "edge_weight", "edge_attr", "pos", "features")


def _check_exportable(est) -> None:
    if est._kind != "torch":
        raise GeopainError(f"{est.model!r} is a scikit-learn baseline, not a neural network; export covers neural models "
                           f"(ONNX of a baseline would need skl2onnx)")
    if est._rnn is not None:
        raise GeopainError(f"{est.model!r} was trained on windows (temporal={est.temporal!r}); export covers frame models")
    if est._reference != "none":
        raise GeopainError(f"the model uses the per-person reference {est._reference!r}; export covers models trained "
                           f"with --reference none")
    if (est.graph or {}).get("comovement"):
        raise GeopainError("the model's graphs use temporal co-movement weights; export covers frame graphs")


def _example_inputs(est, frames: int = 64, seed: int = 0) -> dict[str, Any]:
    """Scaled model inputs of simulated frames: the template under random expression-sized noise."""
    import torch

    from .models.steps import FeatureScaler, Normalize

    sch = est.scheme_obj_
    rng = np.random.default_rng(seed)
    coords = sch.template[None] + rng.normal(0, 0.03, (frames, sch.n_points, 3)) * np.abs(sch.template).max()
    coords[0, :3] = np.nan  # a frame with missing points
    seq = LandmarkSequence(coords=coords.astype(np.float32), scheme=sch.key, units="template",
                           subject="s", sequence="q", meta={"normalization": {"method": "given"}})
    frames_ = Normalize(sch).transform([seq])
    inputs = est._featurizer(sch).transform(frames_)
    inputs = FeatureScaler.from_stats(est.scaler_).transform(inputs)
    return {k: v for k, v in inputs.items() if k in INPUTS and isinstance(v, torch.Tensor)}


def _metadata(est, model_kind: str) -> dict[str, Any]:
    graph = dict(est.graph or {})
    builder_features = tuple(graph.get("features", ("pos", "disp", "region", "conf")))
    triangles = None
    if "normal" in builder_features:
        from .graphs.transforms import template_triangles

        triangles = template_triangles(est.scheme_obj_).tolist()
    ei = np.asarray(est.edge_index_)
    E = ei.shape[1] // 2
    info = est._info
    return {
        "format": FORMAT,
        "model": est.model,
        "kind": model_kind,
        "task": est.task,
        "scheme": est.scheme_,
        "n_classes": int(est.n_classes_),
        "score_range": [float(v) for v in est.score_range_],
        "temperature": float(getattr(est, "temperature_", 1.0)),
        "graph": to_jsonable(graph),
        "measurements": bool(info.get("measurements")),
        "coordinates": bool(info.get("coordinates")),
        "edges": ei[:, :E].T.tolist(),
        "triangles": triangles,
        "scaler": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in est.scaler_.items()},
    }


def export_onnx(model_dir: str | os.PathLike, output: str | os.PathLike, int8: bool = False,
                check_frames: int = 64) -> dict[str, Any]:
    """Write ``model_dir``'s network to ``output`` (.onnx); returns a summary.

    Returns:
        dict with ``path``, ``inputs`` (the names the network takes), ``max_abs_diff``
        (float export vs torch on ``check_frames`` simulated frames), ``int8_max_abs_diff``
        (when ``int8``), ``bytes``.
    """
    import onnx
    import onnxruntime as ort
    import torch

    from .models import load

    est = load(model_dir)
    _check_exportable(est)
    out = Path(output)
    if out.suffix.lower() != ".onnx":
        raise GeopainError(f"-o {out}: the output file must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    ei = np.asarray(est.edge_index_)
    if len(np.unique(ei[1] * max(int(ei.max()) + 1, 1) + ei[0])) != ei.shape[1]:
        # the exported dense adjacency is a scatter that keeps one of repeated (dst, src) pairs
        raise GeopainError("the model's edge list repeats an edge; export needs each directed edge once")
    inputs = _example_inputs(est, check_frames)
    names = [k for k in INPUTS if k in inputs]
    net = est.model_.eval()
    edge_index = torch.as_tensor(np.asarray(est.edge_index_), dtype=torch.long)

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("edge_index", edge_index)

        def forward(self, *args):
            return self.net(edge_index=self.edge_index, **dict(zip(names, args)))

    wrapped = Wrapped().eval()
    args = tuple(inputs[k] for k in names)
    with torch.no_grad():
        expected = wrapped(*args).numpy()
    tmp = out.with_name(out.name + ".tmp")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter notices, not actionable by users
        try:
            torch.onnx.export(wrapped, args, str(tmp), input_names=names, output_names=["output"],
                              dynamic_axes={**{k: {0: "batch"} for k in names}, "output": {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
        except Exception as exc:  # the exporter's own error types
            tmp.unlink(missing_ok=True)
            raise GeopainError(f"{est.model!r} could not be exported to ONNX: {str(exc).splitlines()[0]}") from None
    proto = onnx.load(str(tmp))
    meta = dumps(_metadata(est, "float32"), indent=None)
    onnx.helper.set_model_props(proto, {METADATA_KEY: meta})
    onnx.save(proto, str(tmp))

    def run(path: Path) -> np.ndarray:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {i.name: inputs[i.name].numpy() for i in sess.get_inputs()}
        return sess.run(None, feed)[0]

    diff = float(np.abs(run(tmp) - expected).max())
    if not diff <= PARITY_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise GeopainError(f"the ONNX export of {est.model!r} differs from torch by {diff:.2e} "
                           f"(more than {PARITY_TOLERANCE:g}); not written")
    summary: dict[str, Any] = {"path": str(out), "model": est.model, "inputs": [i for i in names], "max_abs_diff": diff}
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        qtmp = out.with_name(out.name + ".int8.tmp")
        import logging

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # ORT's advice to pre-process before quantising is not for users here
        try:
            quantize_dynamic(str(tmp), str(qtmp), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        qproto = onnx.load(str(qtmp))
        onnx.helper.set_model_props(qproto, {METADATA_KEY: dumps(_metadata(est, "int8-dynamic"), indent=None)})
        onnx.save(qproto, str(qtmp))
        summary["float_max_abs_diff"] = diff
        summary["int8_max_abs_diff"] = float(np.abs(run(qtmp) - expected).max())
        tmp.unlink()
        tmp = qtmp
    os.replace(tmp, out)
    summary["bytes"] = out.stat().st_size
    return summary
