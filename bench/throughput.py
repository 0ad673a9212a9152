#!/usr/bin/env python3
"""Web-tier throughput: wrk from a lab host through the load balancer (TLS) to the demo LMS page.

  bench/throughput.py [--runs 2] [--duration 20] [--connections 64] [--path /] [--shape lab|aio]

--shape lab (default) needs the converged lab (`scripts/lab up`): seven hosts on this machine's CPUs.
--shape aio needs Molecule's all-in-one scenario converged (`molecule converge -s aio`): every group on
one host, the shape of the reference figures in issue 4; the load generator is then a container of the
lab image on the scenario's network that no role touches (created here, removed at the end).

The page reads a course row from MariaDB by primary key and does a Redis GET on every request. In one
run, alternating, on the same hosts:
  converged  the stack as site.yml converges it (pools sized by the capacity plan, FastCGI and
             upstream keepalive, opcache without timestamp checks);
  defaults   the distro's PHP-FPM pool and nginx settings (bench/distro-defaults.yml), put in place
             by site.yml's own php_fpm and nginx roles with those values as extra variables.
Each measurement follows a short warm-up. Prints req/s, p50/p99 latency, non-2xx responses and
socket errors (medians over the runs) and the req/s ratio, and leaves the converged stack in place.
In the lab shape the load generator is the first `monitoring` host, so it does not share a role with
the stack under test (all lab hosts share this machine's CPUs, as the note in bench/RESULTS.md says).
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import statistics
import subprocess
import sys
import time

import _wrk
import yaml
from _lab import ROOT, apt_install, load_lab, members, pexec

VARIANTS = ("converged", "defaults")
AIO_CLIENT = "bench-aio-client"


def apply(lab, variant: str) -> float:
    extra = ["-e", "@bench/distro-defaults.yml"] if variant == "defaults" else []
    took, _ = lab.run_playbook("site.yml", "--tags", "php_fpm,nginx", *extra, capture=True)
    return took


def apply_aio(variant: str) -> float:
    """The variant's PHP-FPM and nginx settings on the all-in-one host, through Molecule's converge."""
    extra = ["-e", f"@{ROOT / 'bench' / 'distro-defaults.yml'}"] if variant == "defaults" else []
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    start = time.monotonic()
    res = subprocess.run([str(ROOT / ".venv" / "bin" / "molecule"), "converge", "-s", "aio", "--",
                          "--tags", "php_fpm,nginx", *extra], cwd=ROOT, env=env, text=True, capture_output=True)
    if res.returncode != 0:
        raise SystemExit(f"[bench] molecule converge -s aio ({variant}) failed:\n{(res.stdout + res.stderr)[-3000:]}")
    return time.monotonic() - start


def aio_site(lab) -> tuple[str, str]:
    """The load generator next to Molecule's all-in-one host (created, with wrk) and the site's URL."""
    scenario = yaml.safe_load((ROOT / "molecule" / "aio" / "molecule.yml").read_text())
    host = scenario["platforms"][0]
    fmt = "{{.State.Running}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    state = subprocess.run(["podman", "inspect", "-f", fmt, host["name"]], text=True, capture_output=True).stdout.split()
    if state[:1] != ["true"] or len(state) != 2:
        raise SystemExit(f"[bench] {host['name']} is not running (run `molecule converge -s aio` first)")
    address = state[1]
    # The scenario links the lab's group_vars: the site's name is the lab's.
    inv = lab.lab_inventory()
    name = inv["_meta"]["hostvars"][members(inv, "loadbalancers")[0]].get("nginx_lb_server_name") or host["name"]
    net = ipaddress.ip_network(host["subnet"])
    client_ip = str(net.network_address + 250)
    subprocess.run(["podman", "rm", "-f", "--ignore", AIO_CLIENT], check=True, capture_output=True)
    subprocess.run(["podman", "run", "-d", "--name", AIO_CLIENT, "--hostname", AIO_CLIENT, "--network", host["network"],
                    "--ip", client_ip, "--systemd", "always", lab.IMAGE, "/sbin/init"], check=True, capture_output=True)
    lab.wait_ready(AIO_CLIENT)
    _wrk.prepare(AIO_CLIENT, name, address)
    apt_install(AIO_CLIENT, "curl")
    return AIO_CLIENT, f"https://{name}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="measurements per variant (alternating; medians)")
    ap.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    ap.add_argument("--warmup", type=int, default=5, help="seconds of load before each measurement")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--path", default="/")
    ap.add_argument("--shape", choices=("lab", "aio"), default="lab",
                    help="the 7-host lab, or Molecule's all-in-one host with a separate load generator")
    args = ap.parse_args()

    lab = load_lab()
    if args.shape == "aio":
        client, base = aio_site(lab)
        do_apply = apply_aio
    else:
        _, client, base = _wrk.site(lab)
        do_apply = lambda variant: apply(lab, variant)  # noqa: E731
    url = f"{base}{args.path}"

    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    try:
        for run in range(args.runs):
            for variant in (VARIANTS if run % 2 == 0 else VARIANTS[::-1]):
                took = do_apply(variant)
                page = pexec(client, f"curl -sk -o /dev/null -w '%{{http_code}}' {url}")
                if page != "200":
                    raise SystemExit(f"[bench] {url} answers {page} with the {variant} settings")
                _wrk.run(client, url, args.warmup, args.connections, args.threads)
                res = _wrk.run(client, url, args.duration, args.connections, args.threads)
                results[variant].append(res)
                print(f"[bench] run {run + 1} {variant:<9} (applied in {took:.0f} s): {res['rps']:.0f} req/s, "
                      f"p50 {res['p50']:.1f} ms, p99 {res['p99']:.1f} ms, non-2xx {res['non2xx']}, "
                      f"socket errors {res['socket_errors']}", file=sys.stderr)
    finally:
        if results["defaults"] or results["converged"]:
            do_apply("converged")
        if args.shape == "aio":
            subprocess.run(["podman", "rm", "-f", "--ignore", AIO_CLIENT], capture_output=True)

    print()
    print(f"lmsops.stack throughput benchmark ({args.shape} shape): wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration}s {url} from {client}, {args.runs} run(s) per variant, medians")
    print(f"  {'variant':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sock err':>8}   runs (req/s)")
    med = {}
    for variant in VARIANTS:
        rows = results[variant]
        med[variant] = {k: statistics.median(r[k] for r in rows) for k in ("rps", "p50", "p99")}
        bad = (max(r["non2xx"] for r in rows), max(r["socket_errors"] for r in rows))
        print(f"  {variant:<10} {med[variant]['rps']:>8.0f} {med[variant]['p50']:>8.1f} {med[variant]['p99']:>8.1f} "
              f"{bad[0]:>8} {bad[1]:>8}   {', '.join('%.0f' % r['rps'] for r in rows)}")
    print(f"  converged / defaults req/s: {med['converged']['rps'] / med['defaults']['rps']:.2f}x")


if __name__ == "__main__":
    main()
