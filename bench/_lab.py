"""The benchmarks' one way to reach scripts/lab's functions (lab shape, host creation, playbooks)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "scripts" / "lab"


def load_lab() -> ModuleType:
    """scripts/lab as a module (it has no .py suffix, so it is loaded from its path)."""
    loader = importlib.machinery.SourceFileLoader("lab", str(LAB))
    spec = importlib.util.spec_from_loader("lab", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod
