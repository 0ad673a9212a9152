#!/usr/bin/env python3
"""Zero-downtime proof: wrk through the load balancer while playbooks/deploy.yml rolls releases out.

  bench/zero_downtime.py [--connections 16]

Needs the converged lab (`scripts/lab up`). Two deploys of the demo LMS, each under load (wrk on the
first `monitoring` host against the LB's https site, for as long as the deploy runs):
  1. a good release (the demo with a release note added, so a new release id): the deploy must
     succeed and every web and workers host end on the new release;
  2. a broken release (the demo whose front controller answers 500 to every request, /health
     included): the deploy must fail at the first host, which must be back on the release it ran,
     and no other host may have received the broken release.
For each it prints the deploy's wall time, the requests served, req/s, p99, non-2xx responses and
socket errors during the deploy. Any non-2xx response, socket error, or a rollout that does not
behave as above makes it exit non-zero. At the end the embedded demo release is deployed again
(with its own release id), so the lab is as site.yml left it.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _wrk
from _lab import ROOT, load_lab, members, pexec

DEMO = ROOT / "roles" / "app" / "files" / "demo-lms"
BROKEN_INDEX = "<?php\n// Deliberately broken release (bench/zero_downtime.py).\nhttp_response_code(500);\necho 'broken';\n"


def current(host: str, root: str) -> str:
    return pexec(host, f"readlink {root}/current").strip().rstrip("/").rsplit("/", 1)[-1]


def releases(host: str, root: str) -> set[str]:
    return set(pexec(host, f"ls -1 {root}/releases").split())


def deploy_under_load(lab, client: str, url: str, source: Path, connections: int) -> tuple[float, int, dict]:
    """Run deploy.yml with wrk running through the LB the whole time; deploy's time, exit code, wrk's report."""
    took, rc, stdout, report = _wrk.playbook_under_load(lab, client, url, connections, "deploy.yml",
                                                       "-e", f"app_source_dir={source}")
    if rc != 0:
        tail = "\n".join(l for l in stdout.splitlines() if "fatal" in l or "FAILED" in l or "msg" in l)
        print(f"[bench] deploy.yml exit {rc}:\n{tail[-1500:]}", file=sys.stderr)
    return took, rc, report


def report(label: str, took: float, res: dict) -> None:
    print(f"  {label:<15} deploy {took:6.1f} s   {res['requests']:>7} requests  {res['rps']:7.0f} req/s  "
          f"p99 {res['p99']:7.1f} ms   non-2xx {res['non2xx']}   socket errors {res['socket_errors']} ({res['socket_detail']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()

    lab = load_lab()
    inv, client, base = _wrk.site(lab)
    url = f"{base}/"
    app_hosts = list(dict.fromkeys(members(inv, "web") + members(inv, "workers")))
    root = inv["_meta"]["hostvars"][app_hosts[0]].get("lmsops_app_root", "/srv/lms")

    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good"
        shutil.copytree(DEMO, good)
        (good / "RELEASE-NOTES.txt").write_text(f"bench release {time.time():.0f}\n")
        broken = Path(tmp) / "broken"
        shutil.copytree(DEMO, broken)
        (broken / "public" / "index.php").write_text(BROKEN_INDEX)
        (broken / "RELEASE-NOTES.txt").write_text(f"broken bench release {time.time():.0f}\n")  # a new id each run

        before = {h: current(h, root) for h in app_hosts}
        took_good, rc, res_good = deploy_under_load(lab, client, url, good, args.connections)
        after = {h: current(h, root) for h in app_hosts}
        if rc != 0:
            problems.append("the good release failed to deploy")
        new = set(after.values())
        if len(new) != 1 or new & set(before.values()):
            problems.append(f"after the good release the hosts run {after} (before: {before})")

        known = {h: releases(h, root) for h in app_hosts}
        took_bad, rc, res_bad = deploy_under_load(lab, client, url, broken, args.connections)
        after_bad = {h: current(h, root) for h in app_hosts}
        if rc == 0:
            problems.append("the broken release deployed without failing")
        if after_bad != after:
            problems.append(f"after the broken release the hosts run {after_bad}, not {after}")
        got_it = [h for h in app_hosts if releases(h, root) - known[h]]
        if got_it != app_hosts[:1]:
            problems.append(f"hosts that received the broken release: {got_it} (expected only {app_hosts[0]})")

        # Back to the embedded demo, as site.yml converges it.
        lab.run_playbook("playbooks/deploy.yml", capture=True)

    print()
    print(f"lmsops.stack zero-downtime benchmark: wrk -c{args.connections} {url} from {client} during "
          f"playbooks/deploy.yml on {', '.join(app_hosts)} (serial 1)")
    report("good release", took_good, res_good)
    report("broken release", took_bad, res_bad)
    print(f"  broken release: deploy failed at {app_hosts[0]}, which runs {after_bad[app_hosts[0]]} again "
          f"(the release before it); hosts that received it: {', '.join(got_it) or 'none'}")
    for res in (res_good, res_bad):
        if res["non2xx"] or res["socket_errors"]:
            problems.append(f"errors under load: non-2xx {res['non2xx']}, socket errors {res['socket_errors']}")
    if problems:
        print("  FAILED: " + "; ".join(problems))
        raise SystemExit(1)
    print("  0 non-2xx responses and 0 socket errors during both deploys")


if __name__ == "__main__":
    main()
