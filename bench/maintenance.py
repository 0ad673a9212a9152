#!/usr/bin/env python3
"""Routine maintenance under load: wrk through the load balancer while playbooks/maintenance.yml runs.

  bench/maintenance.py [--connections 16] [--inventory PATH] [-- EXTRA ANSIBLE-PLAYBOOK ARGS]

Needs a converged lab (`scripts/lab up`; --inventory for another lab, with LMSOPS_LAB_DIR pointing at its
directory). wrk runs on the first `monitoring` host against the load balancer's https site for as long as
the playbook runs (plus a few seconds either side). It prints the playbook's wall time and exit code, the
requests served, req/s, p99, non-2xx responses and socket errors, and whether every web host is back in
each load balancer's upstream afterwards.

Exit non-zero when the playbook fails, a web host is left drained, or any request failed (non-2xx or a
socket error). On a fleet with nothing to upgrade, the patch step drains nobody: pass
`-- -e maintenance_upgrade=all` or make an upgrade pending on a web host to measure a drain. The single
database / cache / load balancer is restarted by its own upgrades (if any): errors then are expected and
are the reason the playbook says to run in the maintenance window. Lab hosts are containers that see the
whole machine's load average: on a busy machine the health gate refuses (load per cpu critical); pass
`-- -e health_load_crit=1000` to measure anyway.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _wrk
from _lab import load_lab, members, pexec

DRAIN = "/usr/local/sbin/lmsops-nginx-drain"


def upstream(lb: str) -> dict[str, str]:
    out = pexec(lb, f"{DRAIN} status")
    return dict(line.split() for line in out.splitlines() if line.strip())


def maintenance_under_load(lab, client: str, url: str, connections: int, extra: list[str]) -> tuple[float, int, str, dict]:
    """Run maintenance.yml with wrk through the LB the whole time; wall time, exit code, output, wrk's report."""
    return _wrk.playbook_under_load(lab, client, url, connections, "maintenance.yml", *extra)

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--inventory", help="the lab inventory (default: inventories/lab/hosts.yml)")
    ap.add_argument("extra", nargs="*", help="further ansible-playbook arguments (after --)")
    args = ap.parse_args()

    lab = load_lab()
    if args.inventory:
        lab.LAB_INVENTORY = Path(args.inventory).resolve()
    inv, client, base = _wrk.site(lab)
    url = f"{base}/"
    webs = members(inv, "web")
    lbs = members(inv, "loadbalancers")

    took, rc, output, res = maintenance_under_load(lab, client, url, args.connections, args.extra)
    summary = output[output.find("Print what was done on each host"):] if rc == 0 else ""
    drained = {lb: {h: s for h, s in upstream(lb).items() if s != "active"} for lb in lbs}

    print()
    print(f"lmsops.stack maintenance benchmark: wrk -c{args.connections} {url} from {client} during "
          f"playbooks/maintenance.yml {' '.join(args.extra)}".rstrip())
    print(f"  maintenance.yml  {took:6.1f} s  exit {rc}")
    print(f"  wrk              {res['requests']:>7} requests  {res['rps']:7.0f} req/s  p99 {res['p99']:7.1f} ms   "
          f"non-2xx {res['non2xx']}   socket errors {res['socket_errors']} ({res['socket_detail']})")
    # The playbook's summary (YAML callback: "- 'host: ...'" items, long ones wrapped).
    items: list[str] = []
    for line in summary.splitlines()[2:]:
        text = line.strip()
        if text.startswith("PLAY RECAP"):
            break
        if text.startswith("- "):
            items.append(text[2:].strip("'\""))
        elif items and text:
            items[-1] += " " + text.strip("'\"")
    for item in items:
        print(f"  {item}")
    problems: list[str] = []
    if rc != 0:
        # The failed task's message (the refusal, a failed gate), however the callback wrapped it.
        lines = output.splitlines()
        at = max((i for i, l in enumerate(lines) if l.startswith("fatal:")), default=len(lines))
        tail = "\n".join(lines[at:at + 12])
        print(f"[bench] maintenance.yml exit {rc}:\n{tail[-2000:]}", file=sys.stderr)
        problems.append(f"maintenance.yml exit {rc}")
    if any(drained.values()):
        problems.append(f"web hosts left out of the upstream: {drained}")
    if res["non2xx"] or res["socket_errors"]:
        problems.append(f"errors under load: non-2xx {res['non2xx']}, socket errors {res['socket_errors']}")
    if problems:
        print("  FAILED: " + "; ".join(problems))
        raise SystemExit(1)
    print(f"  every web host ({', '.join(webs)}) active behind {', '.join(lbs)}; 0 non-2xx responses, 0 socket errors")


if __name__ == "__main__":
    main()
