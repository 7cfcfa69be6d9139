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


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def human():
    """The human iBUG 68 scheme (test modules may override with their own ``human``)."""
    from geopain.species import get_scheme

    return get_scheme("human/ibug68")


@pytest.fixture(scope="module")
def sheep():
    """The sheep SPFES scheme."""
    from geopain.species import get_scheme

    return get_scheme("sheep/spfes")
