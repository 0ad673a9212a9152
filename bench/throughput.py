#!/usr/bin/env python3
"""Web-tier throughput: wrk from a lab host through the load balancer (TLS) to the demo LMS page.

  bench/throughput.py [--runs 2] [--duration 20] [--connections 64] [--path /]

Needs the converged lab (`scripts/lab up`). The page reads a course row from MariaDB by primary key
and does a Redis GET on every request. In one run, alternating, on the same hosts:
  converged  the stack as site.yml converges it (pools sized by the capacity plan, FastCGI and
             upstream keepalive, opcache without timestamp checks);
  defaults   the distro's PHP-FPM pool and nginx settings (bench/distro-defaults.yml), put in place
             by site.yml's own php_fpm and nginx roles with those values as extra variables.
Each measurement follows a short warm-up. Prints req/s, p50/p99 latency, non-2xx responses and
socket errors (medians over the runs) and the req/s ratio, and leaves the converged stack in place.
The load generator is the first `monitoring` host, so it does not share a role with the stack under
test (all lab hosts share this machine's CPUs, as the note in bench/RESULTS.md says).
"""
from __future__ import annotations

import argparse
import statistics
import sys

import _wrk
from _lab import load_lab, pexec

VARIANTS = ("converged", "defaults")


def apply(lab, variant: str) -> float:
    extra = ["-e", "@bench/distro-defaults.yml"] if variant == "defaults" else []
    took, _ = lab.run_playbook("site.yml", "--tags", "php_fpm,nginx", *extra, capture=True)
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="measurements per variant (alternating; medians)")
    ap.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    ap.add_argument("--warmup", type=int, default=5, help="seconds of load before each measurement")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--path", default="/")
    args = ap.parse_args()

    lab = load_lab()
    inv, client, base = _wrk.site(lab)
    url = f"{base}{args.path}"

    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    try:
        for run in range(args.runs):
            for variant in (VARIANTS if run % 2 == 0 else VARIANTS[::-1]):
                took = apply(lab, variant)
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
            apply(lab, "converged")

    print()
    print(f"lmsops.stack throughput benchmark: wrk -t{args.threads} -c{args.connections} -d{args.duration}s "
          f"{url} from {client}, {args.runs} run(s) per variant, medians")
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
