"""The simulator is a pure package: importing every module never imports Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import simulator

ROOT = Path(__file__).resolve().parents[2]


def test_importing_every_simulator_module_leaves_django_out() -> None:
    # In a subprocess: pytest-django has already imported django into this process.
    modules = sorted(p.stem for p in Path(simulator.__file__).parent.glob("*.py") if p.stem != "__main__")
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module('simulator.' + m if m != '__init__' else 'simulator')\n"
            "import simulator.__main__\n"
            "assert 'django' not in sys.modules, sorted(k for k in sys.modules if 'django' in k)\n"
            "print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_package_is_typed() -> None:
    assert (Path(simulator.__file__).parent / "py.typed").exists()
