"""Shared test set-up: every cache stays in a temporary folder and nothing reaches the network."""
import os
import tempfile

_cache = tempfile.mkdtemp(prefix="geopain-test-cache-")
os.environ.setdefault("GEOPAIN_CACHE", _cache)
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(_cache, "ultralytics"))
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_cache, "matplotlib"))
os.environ.setdefault("TORCH_HOME", os.path.join(_cache, "torch"))
os.environ.setdefault("MPLBACKEND", "Agg")
