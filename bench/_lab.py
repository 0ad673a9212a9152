"""The benchmarks' shared helpers: scripts/lab's functions (lab shape, host creation, playbooks),
commands inside a lab host, and the lab inventory's groups."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
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


def pexec(name: str, script: str, check: bool = True) -> str:
    """Run a shell script as root inside a lab host; its stdout."""
    res = subprocess.run(["podman", "exec", name, "sh", "-c", script], text=True, capture_output=True)
    if check and res.returncode != 0:
        raise SystemExit(f"[bench] {name}: {script!r} failed: {res.stderr[-2000:]}")
    return res.stdout


def apt_install(name: str, pkgs: str) -> None:
    """Install Debian packages on a lab host unless they are there already."""
    pexec(name, f"dpkg -s {pkgs} >/dev/null 2>&1 || {{ apt-get update -qq && "
                f"DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {pkgs} >/dev/null; }}")


def require_running(hosts: list[tuple[str, str]], who: str) -> None:
    """Stop with a message naming the lab hosts (name, address) that are not running."""
    running = set(subprocess.run(["podman", "ps", "--format", "{{.Names}}"], text=True,
                                 capture_output=True, check=True).stdout.split())
    missing = [n for n, _ in hosts if n not in running]
    if missing:
        raise SystemExit(f"[{who}] lab hosts not running: {', '.join(missing)} (run scripts/lab up)")


def running_lab(who: str = "bench") -> tuple[ModuleType, list[tuple[str, str]]]:
    """scripts/lab as a module and the lab's hosts (name, address); stops when one is not running."""
    mod = load_lab()
    hosts = mod.lab_shape(mod.lab_inventory())[0]
    require_running(hosts, who)
    return mod, hosts


def members(inv: dict, group: str) -> list[str]:
    """The hosts of an inventory group, in inventory order, from scripts/lab's lab_inventory()."""
    return list((inv.get(group) or {}).get("hosts", []))
