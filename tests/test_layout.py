"""The layout's import contracts (pyproject's [tool.importlinter]): the device side imports no
TensorFlow, and packages import only downwards. Checked statically by import-linter, which sees
imports inside functions too, and at run time with TensorFlow made unimportable."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVICE_SIDE = ("edgeopt.common", "edgeopt.profile", "edgeopt.data", "edgeopt.rundir", "edgeopt.report")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first: grimp must read the tree given, not the editable install's.
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def _copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "edgeopt", tmp_path / "edgeopt", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_import_contract_holds(tmp_path):
    done = _lint(_copy_of_the_package(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("module, line", [
    ("profile/runner.py", "import tensorflow"),
    ("report/table.py", "from edgeopt.tf.runtime import keras"),
    ("rundir/folder.py", "from edgeopt.models.keras_io import load_keras_model"),
])
def test_the_contract_breaks_when_a_device_module_imports_the_tensorflow_side(tmp_path, module, line):
    tree = _copy_of_the_package(tmp_path)
    source = tree / "edgeopt" / module
    source.write_text(source.read_text() + f"\n\ndef _sneaky():\n    {line}\n")  # even inside a function
    done = _lint(tree)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout
    assert "edgeopt." + module.removesuffix(".py").replace("/", ".") in done.stdout


def test_the_contract_breaks_when_a_package_imports_upwards(tmp_path):
    tree = _copy_of_the_package(tmp_path)
    source = tree / "edgeopt" / "tf" / "precision.py"
    source.write_text(source.read_text() + "\n\ndef _up():\n    from edgeopt.stages import STAGES\n")
    done = _lint(tree)
    assert done.returncode == 1 and "edgeopt.tf.precision -> edgeopt.stages" in done.stdout, done.stdout


def test_the_device_side_imports_with_tensorflow_unimportable():
    """Every device-side module, and the CLI, import where TensorFlow cannot (a device install)."""
    code = f"""
import importlib, importlib.abc, pkgutil, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'tf_keras', 'keras', 'tensorflow_model_optimization'):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)

sys.meta_path.insert(0, NoTensorFlow())
names = []
for package in {DEVICE_SIDE!r}:
    module = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + '.'):
        importlib.import_module(info.name)
        names.append(info.name)
import edgeopt.cli
loaded = sorted(k for k in sys.modules if k.startswith('edgeopt.tf') or k.startswith('edgeopt.models'))
print(len(names), loaded)
sys.exit(1 if loaded else 0)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(done.stdout.split()[0]) > 30  # the walk really visited the device side


def _import_cycles(graph) -> list[list[str]]:
    """Every group of edgeopt modules that import one another round in a circle (Tarjan's SCCs)."""
    edges = {m: graph.find_modules_directly_imported_by(m) & graph.modules for m in graph.modules}
    order, low, stack, cycles = {}, {}, [], []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in edges[module]:
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    return cycles


def test_no_module_imports_itself_round_a_circle():
    """A circle (a imports b, b imports a, even inside a function) means two modules are one concept
    split wrongly, or a shared piece belongs in a third module."""
    import grimp

    assert _import_cycles(grimp.build_graph("edgeopt")) == []


def test_no_module_of_the_package_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "edgeopt").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}, "split these along their concepts: " + str(long)
