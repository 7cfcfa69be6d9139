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


def _module_imports() -> dict[str, set[str]]:
    """``{module: geopain modules it imports}``, at the top or inside functions alike."""
    import ast

    root = Path(__file__).resolve().parents[1] / "geopain"
    mods = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                target = ".".join(base[:len(base) - node.level + 1]) if node.level else ""
                target = ".".join(filter(None, [target, node.module or ""]))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges.add(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names)
        graph[name] = {m for m in edges if m in mods and m != name}
    return graph


def test_no_import_cycle_between_geopain_modules():
    """Function-level imports may defer an import (start-up time, optional dependencies) but
    must not hide a cycle: the module graph, counting them, has no strongly connected part."""
    import networkx as nx

    g = nx.DiGraph([(a, b) for a, bs in _module_imports().items() for b in bs])
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"
    assert "geopain.models.factory" in g["geopain.models.estimator"]  # the graph is really read
