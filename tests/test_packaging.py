"""The wheel carries the species adapters and pretrained encoders, so a pip-installed geopain finds them."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_species_adapters(tmp_path):
    pytest.importorskip("setuptools")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("geopain-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT / "species").as_posix() for p in (ROOT / "species").glob("*/*") if p.suffix in (".yaml", ".txt")}
    assert shipped and {f"geopain/species_data/{s}" for s in shipped} <= names
    # and the pretrained encoders (weights + the settings that reproduce them)
    weights = {p.relative_to(ROOT).as_posix() for p in (ROOT / "geopain" / "models" / "pretrained").rglob("*")
               if p.suffix in (".json", ".safetensors")}
    assert weights and weights <= names
    # unpacked on its own, the package lists the same schemes as the checkout
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = "import geopain.species as s; print(s.package_species_dir()); print(','.join(s.list_schemes()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": ""}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    where, schemes = out.stdout.strip().splitlines()
    assert where.startswith(str(target))
    assert "human/ibug68" in schemes.split(",") and "sheep/spfes" in schemes.split(",")
