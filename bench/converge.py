#!/usr/bin/env python3
"""Converge benchmark on the lab: first converge, idempotent re-run, and the raw apt floor.

  bench/converge.py [--runs N]

Recreates the lab (scripts/lab), then in one run measures:
  1. bootstrap (as root, once) and the first `site.yml` converge of every lab host, wall time;
  2. the idempotent re-run of `site.yml`, wall time, and its changed count (must be 0);
  3. the apt floor: on freshly created hosts of the same image, in parallel on every host,
     `apt-get update` + `apt-get install --no-install-recommends` of exactly the packages the
     converge installed by name on that host (read back with `apt-mark showmanual`), wall time;
and prints the figures and the ratio converge / apt floor. Leaves a converged lab behind.
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _lab import load_lab

ROOT = Path(__file__).resolve().parent.parent


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def lab_hosts():
    """The lab shape from the inventory, through scripts/lab's own functions."""
    mod = load_lab()
    hosts, _, network, subnet = mod.lab_shape(mod.lab_inventory())
    return hosts, network, subnet, mod


def playbook(mod, path: str) -> tuple[float, str]:
    return mod.run_playbook(path, capture=True)


def recap(out: str) -> dict[str, dict[str, int]]:
    stats = {}
    for m in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.M):
        stats[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
    return stats


def manual_packages(name: str) -> set[str]:
    return set(sh(["podman", "exec", name, "apt-mark", "showmanual"]).stdout.split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1, help="repeat the whole measurement N times (medians)")
    args = ap.parse_args()
    subprocess.run([str(ROOT / "scripts" / "setup-host.sh")], check=True)
    hosts, network, subnet, mod = lab_hosts()
    names = [n for n, _ in hosts]

    rows: dict[str, list[float]] = {"bootstrap": [], "first converge": [], "idempotent re-run": [], "apt floor": []}
    changed_rerun = []
    tasks_per_host = {}
    for run in range(args.runs):
        print(f"[bench] run {run + 1}/{args.runs}: fresh hosts for the apt floor", file=sys.stderr)
        mod.create_hosts(hosts, network, subnet)
        fresh = {n: manual_packages(n) for n in names}

        print("[bench] fresh hosts for the converge", file=sys.stderr)
        mod.create_hosts(hosts, network, subnet)
        rows["bootstrap"].append(playbook(mod, "playbooks/bootstrap.yml")[0])
        # The lab's ACME server (a test fixture, not timed); what it installs is not counted below.
        playbook(mod, "tests/fixtures/acme_server.yml")
        fresh = {n: fresh[n] | manual_packages(n) for n in names}
        took, _ = playbook(mod, "site.yml")
        rows["first converge"].append(took)
        took, out = playbook(mod, "site.yml")
        rows["idempotent re-run"].append(took)
        stats = recap(out)
        changed_rerun.append(sum(s["changed"] for s in stats.values()))
        tasks_per_host = {h: s["ok"] for h, s in stats.items()}
        wanted = {n: sorted(manual_packages(n) - fresh[n]) for n in names}

        # The floor: the same packages by name, straight apt-get, all hosts in parallel.
        mod.create_hosts(hosts, network, subnet)

        def install(n: str) -> None:
            script = ("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                      "--no-install-recommends " + " ".join(wanted[n]) + " >/dev/null")
            sh(["podman", "exec", n, "sh", "-c", script])

        start = time.monotonic()
        with ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(install, names))
        rows["apt floor"].append(time.monotonic() - start)
        pkgs = {n: len(v) for n, v in wanted.items()}

    # Leave a converged lab behind, as `scripts/lab up` would.
    mod.create_hosts(hosts, network, subnet)
    playbook(mod, "playbooks/bootstrap.yml")
    playbook(mod, "tests/fixtures/acme_server.yml")
    playbook(mod, "site.yml")

    med = {k: statistics.median(v) for k, v in rows.items()}
    print()
    print(f"lmsops.stack converge benchmark: {len(names)} lab hosts, {args.runs} run(s), medians")
    print("  packages installed by name per host: " + ", ".join(f"{n}={c}" for n, c in sorted(pkgs.items())))
    print("  tasks per host on the re-run (ok):   " + ", ".join(f"{n}={c}" for n, c in sorted(tasks_per_host.items())))
    for k in ("bootstrap", "first converge", "idempotent re-run", "apt floor"):
        print(f"  {k:<22} {med[k]:7.1f} s   (runs: {', '.join(f'{v:.1f}' for v in rows[k])})")
    print(f"  changed on the re-run: {changed_rerun}")
    print(f"  first converge / apt floor: {med['first converge'] / med['apt floor']:.2f}x")


if __name__ == "__main__":
    main()
