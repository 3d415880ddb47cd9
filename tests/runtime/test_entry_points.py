"""Tests of contrique_infer.entry_points: the console scripts of the tools that need an extra name it
when a package it installs is missing, whether the tool imports it as it is imported or as it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contrique_infer import entry_points

# (script function, its arguments, the package made missing, the extra named): contrique-distortions and
# contrique-eval import theirs as their module is imported, contrique-train and contrique-export as they run.
CASES = [
    ("train", ["--preset", "smoke", "--data", "photos", "--out", "run"], "torch", "train"),
    ("export", ["--ckpt", "model.pt", "--out", "bundle"], "torch", "export"),
    ("distortions", ["photo.png", "-o", "grid.jpg"], "torch", "train"),
    ("evaluate", ["datasets"], "scipy", "cpu,eval"),
]
PROGS = {"train": "contrique-train", "export": "contrique-export", "distortions": "contrique-distortions",
         "evaluate": "contrique-eval"}


@pytest.mark.parametrize(("script", "args", "missing", "extra"), CASES)
def test_a_tool_without_its_extra_names_the_extra(tmp_path: Path, script: str, args: list[str], missing: str,
                                                  extra: str) -> None:
    """Before, each ended in a ``ModuleNotFoundError`` traceback (exit 1) from wherever the package was
    imported; ``sys.modules[name] = None`` makes ``import name`` fail as an absent package does."""
    prog = PROGS[script]
    code = (f"import sys; sys.modules[{missing!r}] = None; sys.argv = [{prog!r}, *{args!r}]\n"
            f"from contrique_infer import entry_points\nsys.exit(entry_points.{script}())\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f'{prog}: error: {missing} is not installed, and {prog} needs it: install it with pip '
                           f'install "contrique-infer[{extra}]"\n')


def test_a_tool_runs_and_returns_its_exit_code(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["contrique-eval", "datasets"])
    pytest.importorskip("scipy")
    assert entry_points.evaluate() == 0
    assert "koniq" in capsys.readouterr().out.lower()


def test_our_own_module_missing_is_not_taken_for_a_missing_extra() -> None:
    """A module of contrique-infer itself that cannot be found is a broken install: its traceback stays."""
    with pytest.raises(ModuleNotFoundError, match="contrique_training.no_such_tool"):
        entry_points.run_tool("contrique-nothing", "contrique_training.no_such_tool", "train")


# A meta path finder that refuses the package as an absent one is refused (sys.modules[name] = None, above, would
# also make other packages that look for it, SciPy looking for torch, fail in their own way).
_BLOCK = """import runpy, sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == {missing!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
sys.argv = [{module!r}, *{args!r}]
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize(("module", "args", "missing", "prog", "extra"), [
    ("contrique_training.proxy", ["fade", "--bundle", "bundle"], "torch", "python -m contrique_training.proxy", "train"),
    ("contrique_training.probe", ["--data", "photos"], "torch", "python -m contrique_training.probe", "train"),
    ("contrique_training.evaluation", ["datasets"], "scipy", "contrique-eval", "cpu,eval"),
])
def test_python_m_without_the_extra_names_the_extra(tmp_path: Path, module: str, args: list[str], missing: str,
                                                    prog: str, extra: str) -> None:
    """Before, each ended in a traceback as Python imported the package (its ``__init__`` imported torch or
    SciPy) before its ``__main__`` ran."""
    code = _BLOCK.format(missing=missing, module=module, args=args)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f'{prog}: error: {missing} is not installed, and {prog} needs it: install it with pip '
                           f'install "contrique-infer[{extra}]"\n')
