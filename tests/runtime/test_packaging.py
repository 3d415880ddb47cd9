"""Packaging tests: the runtime stays torch-free, names its extra when onnxruntime is missing, and
the distribution installs (wheel and editable) with its three import packages and ``py.typed``, and
CI tests the lowest versions pyproject.toml declares."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from reference import REPO

import contrique_infer

PACKAGE = Path(contrique_infer.__file__).resolve().parent
FORBIDDEN = {"torch", "torchvision", "onnx", "onnxscript"}  # the export/training stack; onnxruntime is allowed


def run_python(code: str, *, python: str = sys.executable, cwd: Path | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, f"subprocess failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_runtime_imports_without_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed here, so this cannot show that the runtime avoids importing it")
    result = run_python(
        "import importlib, json, pkgutil, sys\n"
        "import contrique_infer, contrique_infer.cli\n"
        "plain = sorted(m for m in ('onnxruntime', 'torch', 'onnx', 'importlib.metadata') if m in sys.modules)\n"
        "names = [m.name for m in pkgutil.iter_modules(contrique_infer.__path__) if m.name != '__main__']\n"
        "for name in names:\n"
        "    importlib.import_module('contrique_infer.' + name)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'torchvision', 'onnx', 'onnxscript'})\n"
        "print(json.dumps({'plain': plain, 'modules': names, 'heavy': heavy}))\n"
    )
    # plain `import contrique_infer` (and the CLI module) loads neither onnxruntime nor torch, nor
    # importlib.metadata (~90 ms): the version is looked up when read
    assert result["plain"] == []
    assert {"bundle", "errors", "hub"} <= set(result["modules"])
    assert result["heavy"] == [], f"importing {result['modules']} pulled in {result['heavy']}"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level module) of every import statement and literal importlib/__import__ call."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def test_no_runtime_module_imports_torch_or_onnx() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) >= 3
    offending = [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for path in sources
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if module in FORBIDDEN
    ]
    assert offending == []


def test_static_check_sees_imports() -> None:
    """The checker above catches every spelling of an import it is meant to refuse."""
    code = "import torch.nn\nfrom onnx import helper\nimportlib.import_module('torchvision')\nimport onnxruntime\n"
    assert sorted(m for _, m in _imported_modules(ast.parse(code))) == ["onnx", "onnxruntime", "torch", "torchvision"]


def test_missing_onnxruntime_names_the_extra(tiny_bundle_dir: Path) -> None:
    result = run_python(
        "import json, sys\n"
        "sys.modules['onnxruntime'] = None  # makes `import onnxruntime` raise ImportError\n"
        "from contrique_infer.errors import DependencyError\n"
        "from contrique_infer.scorer import QualityScorer\n"
        "try:\n"
        f"    QualityScorer.from_pretrained({str(tiny_bundle_dir)!r})\n"
        "except DependencyError as exc:\n"
        "    print(json.dumps({'message': str(exc), 'import_error': isinstance(exc, ImportError)}))\n"
    )
    assert "onnxruntime is not installed" in result["message"]
    assert 'pip install "contrique-infer[cpu]"' in result["message"]
    assert result["import_error"]


# --- installing the distribution --------------------------------------------------------------------

_CHECK_INSTALL = """
import importlib.util, json, sys
from importlib.metadata import entry_points, version
from pathlib import Path
import contrique_infer
specs = {n: importlib.util.find_spec(n) for n in ("contrique_infer", "contrique_export", "contrique_training")}
training = Path(next(iter(specs["contrique_training"].submodule_search_locations)))
print(json.dumps({
    "version": contrique_infer.__version__,
    "metadata_version": version("contrique-infer"),
    "origins": {n: str(Path(s.origin).resolve()) for n, s in specs.items()},
    "evaluation": (training / "evaluation" / "__init__.py").is_file(),
    "py_typed": (Path(contrique_infer.__file__).parent / "py.typed").is_file(),
    "scripts": sorted(e.name for e in entry_points(group="console_scripts") if e.name.startswith("contrique")),
    "torch": importlib.util.find_spec("torch") is not None,
}))
"""

SCRIPTS = ["contrique-distortions", "contrique-eval", "contrique-export", "contrique-score", "contrique-train"]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the source tree, so that building leaves no build/ or egg-info in the checkout."""
    junk = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
    return Path(shutil.copytree(REPO, tmp_path_factory.mktemp("src") / "contrique-infer", ignore=junk))


def _build(source: Path, out: Path, editable: bool) -> Path:
    """Build a wheel (or an editable wheel) offline with this interpreter's setuptools."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed here; it is needed to build the wheel offline")
    out.mkdir()
    hook = "build_editable" if editable else "build_wheel"
    code = f"import sys\nfrom setuptools import build_meta\nprint(build_meta.{hook}(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=source, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


def _venv(path: Path) -> str:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return str(path / ("Scripts" if os.name == "nt" else "bin") / "python")


@pytest.mark.slow
def test_wheel_and_editable_installs(source_copy: Path, tmp_path: Path) -> None:
    """``pip install .`` and ``pip install -e .`` into a clean venv, built and installed offline, no deps."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib (Python 3.11+) reads the expected version")
    expected_version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    wheel = _build(source_copy, tmp_path / "wheel", editable=False)
    names = zipfile.ZipFile(wheel).namelist()
    for member in ["contrique_infer/py.typed", "contrique_infer/hub.py", "contrique_infer/report_template.html",
                   "contrique_export/model.py", "contrique_training/evaluation/__init__.py",
                   "contrique_training/proxy/__init__.py", "contrique_training/proxy/__main__.py"]:
        assert member in names
    assert not any(n.startswith(("tests/", "export/", "training/")) for n in names)
    # the packaged models ship in the wheel, each within its 40 MB budget of model data
    from contrique_infer.location import packaged_models

    assert "default" in packaged_models()
    for name in packaged_models():
        model = {i.filename: i.file_size for i in zipfile.ZipFile(wheel).infolist()
                 if i.filename.startswith(f"contrique_infer/models/{name}/")}
        assert {f"contrique_infer/models/{name}/{f}" for f in ("contrique.json", "encoder.onnx", "encoder.fp16.onnx",
                                                                "heads/quality.json", "README.md")} <= set(model)
        assert sum(model.values()) < 40e6

    python = _venv(tmp_path / "venv")
    pip = [python, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, timeout=300)
    installed = run_python(_CHECK_INSTALL, python=python, cwd=tmp_path)
    site = Path(installed["origins"]["contrique_infer"]).parents[1]
    assert installed["version"] == installed["metadata_version"] == expected_version
    assert installed["origins"] == {
        name: str(site / name / "__init__.py") for name in ("contrique_infer", "contrique_export", "contrique_training")
    }
    assert installed["evaluation"] and installed["py_typed"] and not installed["torch"]
    assert installed["scripts"] == SCRIPTS

    subprocess.run([python, "-m", "pip", "uninstall", "-y", "-q", "contrique-infer"], check=True, timeout=300)
    subprocess.run([*pip, str(_build(source_copy, tmp_path / "editable", editable=True))], check=True, timeout=300)
    editable = run_python(_CHECK_INSTALL, python=python, cwd=tmp_path)
    assert editable["version"] == expected_version
    assert editable["origins"] == {
        "contrique_infer": str(source_copy / "contrique_infer" / "__init__.py"),
        "contrique_export": str(source_copy / "export" / "__init__.py"),
        "contrique_training": str(source_copy / "training" / "__init__.py"),
    }
    assert editable["evaluation"] and editable["py_typed"]
    assert editable["scripts"] == SCRIPTS


def test_ci_tests_the_lowest_declared_versions() -> None:
    """.ci/lowest.txt, the constraints of CI's lowest-versions step, pins every lower bound that the
    runtime and its cpu and eval extras declare, and only those: a bound changed in one place only
    would be tested at a version the project does not declare (or fail to install there)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]

    def pin(package: str, version: str) -> tuple[str, str]:  # numpy 1.24 is numpy 1.24.0
        return re.sub(r"[-_.]+", "-", package).lower(), re.sub(r"(\.0)+$", "", version)

    requirements = [*project["dependencies"], *extras["cpu"], *extras["eval"]]
    declared = dict(pin(*re.fullmatch(r"([\w.-]+)>=([\d.]+)(,<[\d.]+)?", r).group(1, 2)) for r in requirements)
    lines = (REPO / ".ci" / "lowest.txt").read_text(encoding="utf-8").splitlines()
    assert dict(pin(*line.split("==")) for line in lines if line and not line.startswith("#")) == declared
