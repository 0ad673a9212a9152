#!/usr/bin/env python3
"""What the lmsops.stack.preload callback saves the control node in an idempotent re-run of site.yml.

  bench/preload.py [--runs N]     on the running, converged lab (scripts/lab up first)

Runs site.yml on the lab N times in each of four variants, in turn, after one warm-up run, with the
lab's ansible.cfg otherwise: the callback whole; the callback without the bytecode in the modules'
payloads (LMSOPS_PRELOAD_MODULE_BYTECODE=false); the callback with its compile cache off as well
(plugins preloaded only); no callback. For each run: the wall time, the control node's user and system
CPU time (ansible-playbook and its children: the forked workers and the ssh clients), and the whole
machine's CPU time from /proc/stat, of which what the control node did not use is the lab hosts' (their
module runs) on an otherwise idle machine. Prints each run and the medians, and checks that every run
reported changed=0.
Without the callback, every forked worker loads the filter, test and lookup plugins it uses again and
compiles every template it evaluates, and every host compiles every module_utils file of every module
run; with it, the main process loads the plugins and compiles the collection's templates once, before
the workers fork, and the modules reach the hosts with their bytecode.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

from _lab import running_lab
from task_floor import CALLBACKS, ROOT

# Every variant enables bench/callback/lmsops_count (it counts and, without LMSOPS_COUNT_OUT, writes
# nothing): ansible-core refuses an empty list of callbacks in the environment.
VARIANTS = {
    "lmsops.stack.preload": {"ANSIBLE_CALLBACKS_ENABLED": "lmsops_count,lmsops.stack.preload"},
    "no module bytecode": {"ANSIBLE_CALLBACKS_ENABLED": "lmsops_count,lmsops.stack.preload",
                           "LMSOPS_PRELOAD_MODULE_BYTECODE": "false"},
    "plugins only": {"ANSIBLE_CALLBACKS_ENABLED": "lmsops_count,lmsops.stack.preload",
                     "LMSOPS_PRELOAD_MODULE_BYTECODE": "false", "LMSOPS_PRELOAD_COMPILE_CACHE": "false"},
    "without the callback": {"ANSIBLE_CALLBACKS_ENABLED": "lmsops_count"},
}


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy (every CPU; /proc/stat's first line, in clock ticks)."""
    with open("/proc/stat", encoding="ascii") as handle:
        ticks = [int(v) for v in handle.readline().split()[1:]]
    # user, nice, system, irq, softirq, steal; idle and iowait are not busy time
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + (ticks[7] if len(ticks) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def rerun(mod, variant: dict[str, str]) -> tuple[float, float, float, float]:
    """Wall, user CPU, system CPU and machine CPU seconds of one site.yml run with this variant's environment."""
    cmd = [str(mod.VENV_BIN / "ansible-playbook"), "-i", str(mod.LAB_INVENTORY), str(ROOT / "site.yml")]
    env = mod.ansible_env() | {"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS)} | variant
    before, busy, start = resource.getrusage(resource.RUSAGE_CHILDREN), machine_cpu(), time.monotonic()
    res = subprocess.run(cmd, env=env, cwd=ROOT, text=True, capture_output=True, check=False)
    took, after, busy = time.monotonic() - start, resource.getrusage(resource.RUSAGE_CHILDREN), machine_cpu() - busy
    if res.returncode != 0:
        raise SystemExit(f"[bench] site.yml failed (rc {res.returncode}):\n{res.stdout[-3000:]}{res.stderr[-2000:]}")
    changed = sum(int(m) for m in re.findall(r"changed=(\d+)", res.stdout.split("PLAY RECAP")[-1]))
    if changed:
        raise SystemExit(f"[bench] the re-run changed {changed} things: converge the lab first")
    return took, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="re-runs of each variant (default 3)")
    args = ap.parse_args()
    mod, hosts = running_lab()

    print("[bench] warm-up re-run", file=sys.stderr)
    rerun(mod, VARIANTS["lmsops.stack.preload"])
    results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in VARIANTS}
    for i in range(args.runs):
        for name, variant in VARIANTS.items():
            print(f"[bench] run {i + 1}/{args.runs}: {name}", file=sys.stderr)
            results[name].append(rerun(mod, variant))

    print()
    print(f"lmsops.stack preload: idempotent re-runs of site.yml on {len(hosts)} lab hosts, {args.runs} of each, "
          "alternating; control node = ansible-playbook, its workers and ssh clients")
    print(f"  {'':<26} {'wall':>8} {'user CPU':>9} {'sys CPU':>8} {'hosts CPU':>10}   runs (wall / user / sys / hosts)")
    medians = {}
    for name, runs in results.items():
        # the hosts' CPU: the machine's busy time less the control node's
        rows = [(w, u, s, max(0.0, m - u - s)) for w, u, s, m in runs]
        med = [statistics.median(r[k] for r in rows) for k in range(4)]
        medians[name] = med
        each = ", ".join(f"{w:.1f}/{u:.1f}/{s:.1f}/{h:.1f}" for w, u, s, h in rows)
        print(f"  {name:<26} {med[0]:7.1f}s {med[1]:8.1f}s {med[2]:7.1f}s {med[3]:9.1f}s   {each}")
    w0, u0, s0, h0 = medians["without the callback"]
    print("  saved against the run without the callback:")
    for name in list(VARIANTS)[:-1]:
        w1, u1, s1, h1 = medians[name]
        print(f"    {name + ':':<24} wall {w0 - w1:5.1f} s, control node CPU {u0 + s0 - u1 - s1:5.1f} s "
              f"({(u0 + s0 - u1 - s1) / (u0 + s0) * 100:.0f} % of {u0 + s0:.1f} s), hosts CPU {h0 - h1:5.1f} s")


if __name__ == "__main__":
    main()
