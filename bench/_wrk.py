"""wrk on a lab host: the command and the parsing of its report (shared by the web-tier benchmarks)."""
from __future__ import annotations

import re
import subprocess
import time

from _lab import ROOT, apt_install, members, pexec

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def site(lab) -> tuple[dict, str, str]:
    """The lab inventory, the load generator (first `monitoring` host, ready with wrk) and the site's
    https base URL (the load balancer's name, resolved to it on the load generator)."""
    inv = lab.lab_inventory()
    hv = inv["_meta"]["hostvars"]
    client = members(inv, "monitoring")[0]
    lb = members(inv, "loadbalancers")[0]
    name = hv[lb].get("nginx_lb_server_name") or lb
    prepare(client, name, hv[lb]["ansible_host"])
    return inv, client, f"https://{name}"


def prepare(client: str, name: str, address: str) -> None:
    """wrk on the client host, and the site's name resolving to the load balancer there."""
    apt_install(client, "wrk")
    line = f"{address} {name}"
    # /etc/hosts is bind-mounted in a container: rewritten in place, never replaced.
    pexec(client, f"grep -qx '{line}' /etc/hosts || {{ grep -v '[[:space:]]{re.escape(name)}$' /etc/hosts > /tmp/hosts.$$; "
                  f"echo '{line}' >> /tmp/hosts.$$; cat /tmp/hosts.$$ > /etc/hosts; rm -f /tmp/hosts.$$; }}")


def command(client: str, url: str, duration: int, connections: int, threads: int = 2,
            timeout: int = 2) -> list[str]:
    return ["podman", "exec", client, "wrk", "--latency", f"-t{threads}", f"-c{connections}",
            f"-d{duration}s", f"--timeout={timeout}s", url]


def run(client: str, url: str, duration: int, connections: int, threads: int = 2, timeout: int = 2) -> dict:
    out = subprocess.run(command(client, url, duration, connections, threads, timeout),
                         check=True, text=True, capture_output=True).stdout
    return parse(out)


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        raise ValueError(f"not a wrk latency: {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(out: str) -> dict:
    """req/s, p50/p99 latency (ms), requests, non-2xx/3xx responses and socket errors of a wrk report."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    if not rps or not total:
        raise SystemExit(f"[bench] cannot read wrk's report:\n{out[-2000:]}")
    lat = {p: _ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "p50": lat.get("50", float("nan")),
        "p99": lat.get("99", float("nan")),
        "requests": int(total.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
        "socket_detail": ("connect %s, read %s, write %s, timeout %s" % sock.groups()) if sock else "none",
        "timeouts": int(sock.group(4)) if sock else 0,
        "raw": out,
    }


def playbook_under_load(lab, client: str, url: str, connections: int, playbook: str,
                        *args: str) -> tuple[float, int, str, dict]:
    """Run playbooks/<playbook> on the lab with wrk through the load balancer the whole time: the
    playbook's wall time, exit code and output, and wrk's report (parsed)."""
    wrk = subprocess.Popen(command(client, url, 3600, connections), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(3)  # wrk connected and warm before the first host is touched
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(lab.LAB_INVENTORY),
           str(ROOT / "playbooks" / playbook), *args]
    start = time.monotonic()
    res = subprocess.run(cmd, env=lab.ansible_env(), cwd=ROOT, text=True, capture_output=True)
    took = time.monotonic() - start
    time.sleep(3)  # and for a moment after the last host is back
    pexec(client, "pkill -INT -x wrk", check=False)  # wrk prints its report on SIGINT
    out, _ = wrk.communicate(timeout=60)
    return took, res.returncode, res.stdout, parse(out)
