#!/usr/bin/env python3
"""What one template render costs the control node: ansible.builtin.template's lookup against
lmsops.stack.template's, with a lab host's real variables.

  bench/template_lookup.py [--renders N] [--role-vars]     on the running, converged lab (scripts/lab up first)

Each measured playbook runs on every lab host and holds what site.yml's first play reads (facts of the
same subsets, the installed packages, the systemd units), then one task that renders the same small
template N times with one of the two lookups (query with N terms: each term is one render). The
control node's CPU time (ansible-playbook and its children) of N + 1 renders minus that of 1 render,
divided by N and by the number of hosts, is the CPU one render costs; each variant runs three times,
alternating, and the median is printed. The roles use lmsops.stack.template; the built-in lookup takes
a deep copy of all the host's variables before each render. site.yml's role plays hold more variables
than a bare play: with --role-vars the playbooks also load every role's defaults and variables
(include_vars), which brings the copied variables closer to what a role's render sees.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from _lab import running_lab
from task_floor import ROOT, run

LOOKUPS = ("ansible.builtin.template", "lmsops.stack.template")

PLAYBOOK = """\
- name: Template lookup cost
  hosts: all
  gather_facts: true
  gather_subset: ["!all", "min", "network", "virtual", "hardware"]
  tasks:
    - name: Read the installed packages
      lmsops.stack.dpkg_facts:

    - name: Read the systemd units
      lmsops.stack.systemd_facts:

    # A role play of site.yml sees the defaults and variables of its roles; these see every role's.
    - name: Load every role's defaults and variables
      ansible.builtin.include_vars:
        file: "{{{{ item }}}}"
      loop: {role_vars}
      when: {with_roles}

    - name: Render the template
      ansible.builtin.set_fact:
        __bench_renders: "{{{{ query('{lookup}', *(['{template}'] * {renders})) | length }}}}"

    - name: Check the render count
      ansible.builtin.assert:
        that: __bench_renders | int == {renders}
        quiet: true
"""

TEMPLATE = "# {{ ansible_managed }}\nhost {{ inventory_hostname }} on {{ ansible_facts['distribution'] }}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--renders", type=int, default=20, help="renders per host in the measured task (default 20)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each variant (default 3, median)")
    ap.add_argument("--role-vars", action="store_true",
                    help="also load every role's defaults and variables, as site.yml's role plays hold them")
    args = ap.parse_args()
    mod, hosts = running_lab()

    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "bench.j2"
        template.write_text(TEMPLATE)
        role_vars = sorted(str(p) for p in (ROOT / "roles").glob("*/*/main.yml") if p.parent.name in ("defaults", "vars"))
        books = {}
        for lookup in LOOKUPS:
            for renders in (1, args.renders + 1):
                path = Path(tmp) / f"{lookup}-{renders}.yml"
                path.write_text(PLAYBOOK.format(lookup=lookup, template=template, renders=renders,
                                                role_vars=role_vars, with_roles=args.role_vars))
                books[lookup, renders] = str(path)
        run(mod, books[LOOKUPS[0], 1])  # warm-up: SSH masters, interpreter discovery, page cache

        per_render: dict[str, list[float]] = {lookup: [] for lookup in LOOKUPS}
        for i in range(args.runs):
            for lookup in LOOKUPS:
                print(f"[bench] run {i + 1}/{args.runs}: {lookup}", file=sys.stderr)
                _, one, _ = run(mod, books[lookup, 1])
                _, many, _ = run(mod, books[lookup, args.renders + 1])
                per_render[lookup].append((many - one) / args.renders / len(hosts))

    print()
    print(f"lmsops.stack template lookup: {len(hosts)} lab hosts, {args.renders} extra renders per host, "
          f"{args.runs} run(s) each, control node CPU per render"
          + (", every role's defaults and variables loaded" if args.role_vars else ""))
    for lookup in LOOKUPS:
        runs = ", ".join(f"{v * 1000:.1f}" for v in per_render[lookup])
        print(f"  {lookup:<26} {statistics.median(per_render[lookup]) * 1000:7.1f} ms   (runs: {runs})")
    ratio = statistics.median(per_render[LOOKUPS[0]]) / max(statistics.median(per_render[LOOKUPS[1]]), 1e-6)
    print(f"  built-in / lmsops.stack: {ratio:.1f}x")


if __name__ == "__main__":
    main()
