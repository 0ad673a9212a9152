#!/usr/bin/env python3
"""What one task costs on the lab, and what the idempotent re-run is made of.

  bench/task_floor.py [--tasks N]     on the running, converged lab (scripts/lab up first)

Measures, with the lab's ansible.cfg and inventory (SSH, pipelining, ControlPersist):
  1. the wall time per task of N tasks on every lab host, after a warm-up, for three kinds of task:
     a no-op module run on the hosts (ansible.builtin.ping), a task skipped by its condition, and a
     controller-only task (ansible.builtin.assert);
  2. the host's side of one module run: CPU time of a kept AnsiballZ ping payload run by the host's
     python3, against `python3 -c pass`;
  3. the idempotent re-run of site.yml: wall time, the control node's CPU time, and per host the module
     runs on the host, the controller-only results and the skipped tasks (bench/callback/lmsops_count.py);
and prints a model of the re-run built from 1 and 3 (module runs x ping + controller results x assert +
skipped x skip, per host on average), next to the measured re-run; then where the re-run's time went:
per play and role, per kind of action, the slowest headers, and the runs of three or more headers in a
row that every host skipped (candidates for one gate in front of them).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _lab import pexec, running_lab

ROOT = Path(__file__).resolve().parent.parent
CALLBACKS = Path(__file__).resolve().parent / "callback"
KINDS = {
    "module run (ping)": "ansible.builtin.ping:",
    "skipped": "ansible.builtin.ping:\n      when: false",
    "controller only (assert)": "ansible.builtin.assert: {that: [true], quiet: true}",
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(mod, playbook: str, *extra: str, env: dict | None = None) -> tuple[float, float, str]:
    """Wall time, control-node CPU time (ansible-playbook and its children: workers, ssh) and output."""
    cmd = [str(mod.VENV_BIN / "ansible-playbook"), "-i", str(mod.LAB_INVENTORY), playbook, *extra]
    full_env = mod.ansible_env() | (env or {})
    cpu, start = children_cpu(), time.monotonic()
    res = subprocess.run(cmd, env=full_env, cwd=ROOT, text=True, capture_output=True, check=False)
    took, used = time.monotonic() - start, children_cpu() - cpu
    if res.returncode != 0:
        raise SystemExit(f"[bench] {playbook} failed (rc {res.returncode}):\n{res.stdout[-3000:]}{res.stderr[-2000:]}")
    return took, used, res.stdout


def per_task(mod, tasks: int, workdir: Path) -> dict[str, float]:
    """Seconds per task on every lab host, for each kind: (run of N + 1 tasks - run of 1 task) / N."""
    out = {}
    for kind, body in KINDS.items():
        times = []
        for count in (1, tasks + 1):
            lines = ["- name: Task floor", "  hosts: all", "  gather_facts: false", "  tasks:"]
            lines += [f"    - name: Task {i}\n      {body}" for i in range(count)]
            path = workdir / f"floor-{count}.yml"
            path.write_text("\n".join(lines) + "\n")
            run(mod, str(path))  # warm-up: SSH masters, interpreter discovery, page cache
            times.append(run(mod, str(path))[0])
        out[kind] = (times[1] - times[0]) / tasks
    return out


def host_side(mod, name: str) -> tuple[float, float]:
    """CPU seconds (user + sys) on a lab host of one AnsiballZ ping run, and of `python3 -c pass`."""
    env = {"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_PIPELINING": "False"}
    run(mod, str(ROOT / "bench" / "ping.yml"), "-l", name, env=env)
    payload = pexec(name, "ls -t $(find /home /root -path '*/.ansible/tmp/*' -name AnsiballZ_ping.py) | head -1").strip()
    if not payload:
        raise SystemExit(f"[bench] {name}: no kept AnsiballZ_ping.py")

    def cpu(cmd: str) -> float:
        script = f"for i in 1 2 3 4 5 6 7 8 9 10; do {cmd} >/dev/null; done; times"
        out = pexec(name, f"bash -c {json.dumps(script)}")
        # `times` prints the shell's, then its children's user and system time: "0m0.123s 0m0.010s".
        child = out.strip().splitlines()[-1].split()
        secs = [int(m) * 60 + float(s) for m, s in (re.match(r"(\d+)m([\d.]+)s", v).groups() for v in child)]
        return sum(secs) / 10

    took = statistics.median(cpu(f"python3 {payload}") for _ in range(3))
    base = statistics.median(cpu("python3 -c pass") for _ in range(3))
    pexec(name, f"rm -rf {os.path.dirname(payload)}")
    return took, base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=20, help="tasks per kind in step 1 (default 20)")
    args = ap.parse_args()
    mod, hosts = running_lab()

    with tempfile.TemporaryDirectory() as tmp:
        print(f"[bench] {args.tasks} tasks of each kind on {len(hosts)} hosts", file=sys.stderr)
        costs = per_task(mod, args.tasks, Path(tmp))
        print("[bench] the host's side of a module run", file=sys.stderr)
        module_cpu, python_cpu = host_side(mod, hosts[0][0])
        print("[bench] the idempotent re-run of site.yml", file=sys.stderr)
        counts_file = Path(tmp) / "counts.json"
        env = {"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "lmsops_count,lmsops.stack.preload",
               "LMSOPS_COUNT_OUT": str(counts_file)}
        took, cpu, out = run(mod, str(ROOT / "site.yml"), env=env)
        counts = json.loads(counts_file.read_text())

    changed = sum(int(m) for m in re.findall(r"changed=(\d+)", out.split("PLAY RECAP")[-1]))
    per_host = counts["hosts"]
    n = len(per_host)
    avg = {k: sum(c.get(k, 0) for c in per_host.values()) / n for k in ("module", "controller", "skipped")}
    model = {"module": avg["module"] * costs["module run (ping)"],
             "controller": avg["controller"] * costs["controller only (assert)"],
             "skipped": avg["skipped"] * costs["skipped"]}

    print()
    print(f"lmsops.stack task floor: {n} lab hosts, {os.cpu_count()} CPUs shared by the control node and the hosts")
    print(f"  per task, on all {len(hosts)} hosts at once ({args.tasks} tasks of each kind):")
    for kind, secs in costs.items():
        print(f"    {kind:<26} {secs:6.3f} s")
    print(f"  one module run on a host ({hosts[0][0]}): {module_cpu * 1000:.0f} ms CPU "
          f"(python3 -c pass: {python_cpu * 1000:.0f} ms)")
    print(f"  idempotent re-run of site.yml: {took:.1f} s wall, control node {cpu:.1f} CPU-s, "
          f"changed={changed}, {counts['headers']} task headers")
    print("    per host            module runs  controller  skipped")
    for host, c in sorted(per_host.items()):
        print(f"    {host:<20} {c.get('module', 0):11d} {c.get('controller', 0):11d} {c.get('skipped', 0):8d}")
    print(f"    average              {avg['module']:11.1f} {avg['controller']:11.1f} {avg['skipped']:8.1f}")
    total = sum(model.values())
    print(f"  model: {avg['module']:.1f} x {costs['module run (ping)']:.3f} + {avg['controller']:.1f} x "
          f"{costs['controller only (assert)']:.3f} + {avg['skipped']:.1f} x {costs['skipped']:.3f} = {total:.1f} s "
          f"(module runs {model['module']:.1f}, controller {model['controller']:.1f}, skipped {model['skipped']:.1f}); "
          f"measured {took:.1f} s")
    budget = 30.0 / costs["module run (ping)"]
    print(f"  30 s at this cost holds {budget:.0f} module runs per host, with nothing else in the run")
    breakdown(counts.get("timed", []))


def breakdown(timed: list[dict], top: int = 12) -> None:
    """Where the re-run's header time went (bench/callback/lmsops_count.py times each header)."""
    if not timed:
        return
    total = sum(t["seconds"] for t in timed)
    print(f"  where the re-run went: {len(timed)} headers, {total:.1f} s from the first header to the end")

    def table(title: str, key) -> None:
        groups: dict[str, list[float]] = {}
        for t in timed:
            groups.setdefault(key(t), []).append(t["seconds"])
        print(f"    {title:<58} headers        s")
        for name, secs in sorted(groups.items(), key=lambda kv: -sum(kv[1]))[:top]:
            print(f"    {name[:58]:<58} {len(secs):7d} {sum(secs):8.1f}")

    table("by play / role", lambda t: f"{t['play'][:30]} / {t['role'].split('.')[-1] or '-'}")
    table("by action", lambda t: t["action"])
    print(f"    slowest headers{'':<43} hosts ran/skipped  s")
    for t in sorted(timed, key=lambda t: -t["seconds"])[:top]:
        st = t["statuses"]
        print(f"    {(t['role'].split('.')[-1] + ' : ' if t['role'] else '') + t['name']:<58.58} {st.get('ran', 0):4d}/{st.get('skipped', 0):<4d}"
              f" {t['seconds']:6.2f}")
    runs, current = [], []
    for t in timed + [{"statuses": {"ran": 1}}]:
        if t["statuses"].get("skipped") and not t["statuses"].get("ran"):
            current.append(t)
            continue
        if len(current) >= 3:
            runs.append(current)
        current = []
    skipped = sum(len(r) for r in runs)
    print(f"    runs of >= 3 headers every host skipped: {len(runs)} runs, {skipped} headers, "
          f"{sum(t['seconds'] for r in runs for t in r):.1f} s")
    for r in sorted(runs, key=lambda r: -sum(t["seconds"] for t in r))[:top]:
        print(f"      {len(r):2d} headers {sum(t['seconds'] for t in r):5.1f} s  {r[0]['role'].split('.')[-1]} : {r[0]['name'][:60]}")


if __name__ == "__main__":
    main()
