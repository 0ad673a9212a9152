#!/usr/bin/env python3
"""Hardening benchmark: Lynis hardening index and ssh-audit findings for every lab host.

  bench/audit.py            audit the running lab (scripts/lab up first)

For comparison, in the same run, a bare host of the same image (no roles applied) is audited too.
Installs lynis on each audited host and ssh-audit on one lab host, from Debian's packages; the lab's
hosts therefore carry these two packages afterwards (re-run `scripts/lab up` for pristine hosts).
"""
from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _lab import apt_install, load_lab, pexec, require_running

ROOT = Path(__file__).resolve().parent.parent
BARE = "bench-bare"


def lynis_index(name: str) -> int:
    apt_install(name, "lynis")
    out = pexec(name, "lynis audit system --quick --no-colors 2>/dev/null; "
                      "grep -h '^hardening_index=' /var/log/lynis-report.dat")
    m = re.search(r"hardening_index=(\d+)", out)
    if not m:
        raise SystemExit(f"[audit] {name}: no hardening index in Lynis' report")
    return int(m.group(1))


def ssh_audit(auditor: str, address: str) -> tuple[int, int, list[str]]:
    out = pexec(auditor, f"ssh-audit -n -p 22 {address}", check=False)
    fails = [l.strip() for l in out.splitlines() if "[fail]" in l]
    warns = [l for l in out.splitlines() if "[warn]" in l]
    if not re.search(r"\(gen\) banner", out):
        raise SystemExit(f"[audit] ssh-audit could not talk to {address}:\n{out[-1500:]}")
    return len(fails), len(warns), fails


def main() -> None:
    lab = load_lab()
    hosts, groups, network, _ = lab.lab_shape(lab.lab_inventory())
    require_running(hosts, "audit")

    # A bare host of the same image on the lab network: the baseline.
    subprocess.run(["podman", "rm", "-f", "--ignore", BARE], check=True, capture_output=True)
    used = {a for _, a in hosts}
    bare_addr = next(a for a in (f"{'.'.join(hosts[0][1].split('.')[:3])}.{i}" for i in range(200, 250)) if a not in used)
    subprocess.run(["podman", "run", "-d", "--name", BARE, "--hostname", BARE, "--network", network,
                    "--ip", bare_addr, "--cap-add", lab.CAPS, "--systemd", "always", lab.IMAGE, "/sbin/init"],
                   check=True, capture_output=True)
    lab.wait_ready(BARE)
    targets = [(BARE, bare_addr, "(no roles)")] + [(n, a, ",".join(sorted(groups.get(n, [])))) for n, a in hosts]
    try:
        with ThreadPoolExecutor(4) as pool:
            index = dict(zip([t[0] for t in targets], pool.map(lynis_index, [t[0] for t in targets])))
        auditor = hosts[-1][0]
        apt_install(auditor, "ssh-audit")
        print()
        print("lmsops.stack hardening benchmark (Lynis " +
              pexec(BARE, "lynis --version").strip() + ", ssh-audit from Debian)")
        print(f"  {'host':<14} {'groups':<24} {'lynis':>5} {'ssh fail':>8} {'ssh warn':>8}")
        details = []
        for name, addr, grp in targets:
            fails, warns, lines = ssh_audit(auditor, addr)
            print(f"  {name:<14} {grp:<24} {index[name]:>5} {fails:>8} {warns:>8}")
            if name != BARE:
                details.extend(f"    {name}: {l}" for l in lines)
        if details:
            print("  ssh-audit failures on converged hosts:")
            print("\n".join(details))
    finally:
        subprocess.run(["podman", "rm", "-f", "--ignore", BARE], capture_output=True)


if __name__ == "__main__":
    main()
