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


def _geopain_modules() -> dict[str, Path]:
    """``{dotted module name: source file}`` for every module of the geopain package."""
    root = Path(__file__).resolve().parents[1] / "geopain"
    mods = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def _import_statements() -> dict[str, list[tuple[str, int, bool, bool]]]:
    """``{module: [(target, line, inside a function?, under try/except ImportError?), ...]}``
    for every import statement.

    A target is a geopain module where the statement names one (``from . import x`` with ``x``
    a submodule gives ``...x``), else the dotted name as written (third-party, stdlib, or a
    geopain module whose attribute is imported). ``if TYPE_CHECKING:`` bodies never run and are
    skipped; class bodies at module level run at import and count as module level."""
    import ast

    mods = _geopain_modules()
    out: dict[str, list[tuple[str, int, bool, bool]]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found: list[tuple[str, int, bool, bool]] = []

        def catches_import_error(node) -> bool:
            return isinstance(node, ast.Try) and any(
                h.type is not None and {"ImportError", "ModuleNotFoundError"} & {
                    n.id for n in ast.walk(h.type) if isinstance(n, ast.Name)} for h in node.handlers)

        def visit(node, in_function: bool, guarded: bool = False) -> None:
            for child in ast.iter_child_nodes(node):
                inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if isinstance(child, ast.ImportFrom):
                    base = package.split(".")
                    target = ".".join(base[:len(base) - child.level + 1]) if child.level else ""
                    target = ".".join(filter(None, [target, child.module or ""]))
                    for alias in child.names:
                        sub = f"{target}.{alias.name}"
                        found.append((sub if sub in mods else target, child.lineno, inside, guarded))
                elif isinstance(child, ast.Import):
                    found.extend((a.name, child.lineno, inside, guarded) for a in child.names)
                elif (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)):
                    for other in child.orelse:
                        visit(ast.Module(body=[other], type_ignores=[]), inside, guarded)
                    continue
                if catches_import_error(child):
                    for stmt in child.body:
                        visit(ast.Module(body=[stmt], type_ignores=[]), inside, True)
                    for rest in (*child.handlers, *child.orelse, *child.finalbody):
                        visit(ast.Module(body=[rest], type_ignores=[]), inside, guarded)
                    continue
                visit(child, inside, guarded)

        visit(ast.parse(path.read_text(encoding="utf-8")), False)
        out[name] = found
    return out


def _module_imports() -> dict[str, set[str]]:
    """``{module: geopain modules it imports}``, at the top or inside functions alike."""
    mods = _geopain_modules()
    return {name: {t for t, *_ in found if t in mods and t != name}
            for name, found in _import_statements().items()}


def test_no_import_cycle_between_geopain_modules():
    """Function-level imports may defer an import (start-up time, optional dependencies) but
    must not hide a cycle: the module graph, counting them, has no strongly connected part."""
    import networkx as nx

    g = nx.DiGraph([(a, b) for a, bs in _module_imports().items() for b in bs])
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"
    assert "geopain.models.factory" in g["geopain.models.estimator"]  # the graph is really read


def test_function_level_imports_are_justified():
    """An import of a geopain module inside a function is there for a reason, or it is at the top.

    Reasons: (1) the module is on the start-up path (``import geopain``, ``geopain --help``: the
    roots ``geopain`` and ``geopain.cli``, the command modules the parser imports, and whatever
    they import at module level) and the target pulls in any third-party package; (2) the target
    pulls in a heavy or optional third-party package (anything but numpy and yaml); (3) the import
    sits in ``try: ... except ImportError`` (an optional part of geopain itself). "Pulls in"
    is transitive over module-level imports, parent packages included. A deferral that only
    hid an import cycle is not a reason (test_no_import_cycle_between_geopain_modules)."""
    from geopain.cli import COMMANDS

    mods = _geopain_modules()
    statements = _import_statements()

    def own(target: str) -> list[str]:
        """The geopain modules that importing ``target`` runs: it and its parent packages."""
        parts = target.split(".")
        return [m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in mods]

    closure: dict[str, tuple[set[str], set[str]]] = {}  # module -> (own modules, third-party roots)

    def pulls_in(module: str) -> tuple[set[str], set[str]]:
        if module not in closure:
            seen, third, todo = set(), set(), own(module)
            while todo:
                m = todo.pop()
                if m in seen:
                    continue
                seen.add(m)
                for target, _, inside, _ in statements[m]:
                    if inside:
                        continue
                    if target.split(".")[0] == "geopain":
                        todo.extend(own(target))
                    elif target.split(".")[0] not in sys.stdlib_module_names:
                        third.add(target.split(".")[0])
            closure[module] = (seen, third)
        return closure[module]

    startup: set[str] = set()
    startup_third: set[str] = set()
    for root in ("geopain", "geopain.cli", *(f"geopain.cli.{c}" for c in COMMANDS if f"geopain.cli.{c}" in mods)):
        startup |= pulls_in(root)[0]
        startup_third |= pulls_in(root)[1]
    assert {"geopain", "geopain.cli", "geopain.cli.info", "geopain.errors"} <= startup  # really computed
    assert not startup_third, f"the start-up path imports {sorted(startup_third)} at module level"

    offenders = []
    for module, found in sorted(statements.items()):
        for target, line, inside, guarded in found:
            if not inside or guarded or target not in mods or target == module:
                continue
            third = pulls_in(target)[1]
            if third - {"numpy", "yaml"} or (module in startup and third):
                continue
            offenders.append(f"{module}:{line} -> {target}")
    offenders = list(dict.fromkeys(offenders))  # one line per statement, in file order
    assert not offenders, ("function-level imports of light geopain modules (move them to the top):\n"
                           + "\n".join(offenders))
