"""The torch-geometric names geopain uses, imported once without PyG's import-time noise.

``torch_geometric.transforms`` imports its pooling modules, which call ``torch.jit.script``
at import time; torch >= 2.10 answers each call with a ``FutureWarning`` that users of
geopain cannot act on. The filter covers exactly that message, only during this import.
"""
from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*`torch\.jit\.script` is deprecated.*", category=FutureWarning)
    from torch_geometric.data import Batch, Data
    from torch_geometric.transforms import BaseTransform, Compose

__all__ = ["Batch", "Data", "BaseTransform", "Compose"]
