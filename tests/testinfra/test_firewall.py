"""The firewall role, checked the way an operator would: ufw state, and real connections between hosts.

A probe is `nc -z -w 3` from one host to another. "Connection refused" comes back at once when the
packet reached the target and nothing listens: the firewall let it through. A drop shows up as a
timeout after the full 3 s; `probe_many` runs a test's probes side by side, so its drops cost one wait.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pytest

DB_PORT = 3306  # the site playbook exposes MySQL/MariaDB on db hosts to the web and workers groups
TIMEOUT_S = 3


class Probe(NamedTuple):
    outcome: str  # "open", "refused" or "timeout"
    elapsed_ms: int
    output: str


def _probe_cmd(address: str, port: int) -> str:
    return (
        "start=$(date +%s%N); "
        f"nc -z -v -w {TIMEOUT_S} {address} {port} 2>&1; rc=$?; "
        'echo "rc=$rc ms=$(( ($(date +%s%N) - start) / 1000000 ))"'
    )


def _classify(out: str) -> Probe:
    match = re.search(r"rc=(\d+) ms=(\d+)", out)
    assert match, f"cannot read the probe's result: {out!r}"
    rc, elapsed = int(match.group(1)), int(match.group(2))
    if rc == 0 and "succeeded" in out:
        outcome = "open"
    elif "refused" in out.lower():
        outcome = "refused"
    elif "timed out" in out.lower() or elapsed >= (TIMEOUT_S - 0.5) * 1000:
        outcome = "timeout"
    else:
        outcome = f"other (rc={rc})"
    return Probe(outcome, elapsed, out.strip())


def probe(src, address: str, port: int) -> Probe:
    """TCP-connect from host `src` to address:port and classify the answer."""
    return _classify(src.run(_probe_cmd(address, port)).stdout)


def probe_many(lab, checks: list[tuple[str, str, int]]) -> list[Probe]:
    """probe() for each (source host name, address, port), in order. Each source runs its probes
    side by side, and the sources run side by side too, so a set of dropped ports costs about one
    timeout in all rather than one per probe."""
    by_src: dict[str, list[int]] = {}
    for index, (src, _, _) in enumerate(checks):
        by_src.setdefault(src, []).append(index)

    def run(src: str) -> dict[int, Probe]:
        jobs = " ".join(
            f"( out=$({_probe_cmd(checks[i][1], checks[i][2])}); echo \"@{i}@ $(echo \"$out\" | tr '\\n' ' ')\" ) &"
            for i in by_src[src]
        )
        out = lab.get_host(src).check_output(f"{jobs} wait")
        found = {int(m.group(1)): _classify(m.group(2)) for m in re.finditer(r"^@(\d+)@ (.*)$", out, re.M)}
        missing = set(by_src[src]) - set(found)
        assert not missing, f"{src}: no result for probes {sorted(missing)}: {out!r}"
        return found

    results: dict[int, Probe] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(by_src))) as pool:
        for found in pool.map(run, by_src):
            results.update(found)
    return [results[i] for i in range(len(checks))]


def ssh_port(lab, name: str) -> int:
    return int(lab.hostvars[name].get("firewall_ssh_port", 22))


def probe_with_ssh(lab, checks: list[tuple[str, str, str, int]]) -> list[tuple[Probe, Probe]]:
    """For each (source host, target host, address, port): the probe of address:port and, run side by
    side with it, a probe of the target's SSH from the same source. A port the firewall must drop
    should time out while SSH answers: a timeout alone could also mean the source cannot reach the
    target at all."""
    ports = [(src, address, port) for src, _, address, port in checks]
    sshs = [(src, lab.address(target), ssh_port(lab, target)) for src, target, _, _ in checks]
    results = probe_many(lab, ports + sshs)
    return list(zip(results[:len(checks)], results[len(checks):]))


def test_ufw_active_with_default_policies(host, lab):
    name = host.backend.get_hostname()
    hostvars = lab.hostvars[name]
    status = host.run("ufw status verbose")
    assert status.rc == 0, status.stderr
    assert "Status: active" in status.stdout
    incoming = hostvars.get("firewall_default_incoming", "deny")
    outgoing = hostvars.get("firewall_default_outgoing", "allow")
    routed = hostvars.get("firewall_default_routed", "deny")
    assert f"Default: {incoming} (incoming), {outgoing} (outgoing), {routed} (routed)" in status.stdout
    assert host.service("ufw").is_enabled, "ufw would not come back after a reboot"


def test_ufw_allows_ssh(host, lab):
    status = host.run("ufw status").stdout
    port = ssh_port(lab, host.backend.get_hostname())
    assert re.search(rf"^{port}/tcp\s+(ALLOW|LIMIT)\b.*# lmsops:ssh", status, re.MULTILINE), status


def test_ssh_reachable_from_another_host(host, lab):
    name = host.backend.get_hostname()
    others = [n for n in lab.names if n != name]
    if not others:
        pytest.skip("a single host: no other host to connect from")
    result = probe(lab.get_host(others[0]), lab.address(name), ssh_port(lab, name))
    assert result.outcome == "open", f"SSH on {name} from {others[0]}: {result}"


def _db_hosts(lab) -> list[str]:
    hosts = lab.hosts_in("db")
    if not hosts:
        pytest.skip("no db host in this lab")
    return hosts


def test_db_port_open_to_the_app_tier(lab):
    checks = [(src, lab.address(db), DB_PORT) for db in _db_hosts(lab)
              for src in sorted({n for n in lab.hosts_in("web") + lab.hosts_in("workers") if n != db})]
    if not checks:
        pytest.skip("no web or workers host apart from the db hosts (all-in-one)")
    for (src, address, port), result in zip(checks, probe_many(lab, checks)):
        # refused: the packet got through and nothing listens yet; open: something listens
        assert result.outcome in ("open", "refused"), f"{address}:{port} from {src}: {result}"


def test_db_port_closed_to_other_hosts_that_still_reach_ssh(lab):
    pairs = [(db, src) for db in _db_hosts(lab) for src in lab.outside("web", "workers") if src != db]
    if not pairs:
        pytest.skip("every host is in web or workers or is the db host (all-in-one)")
    results = probe_with_ssh(lab, [(src, db, lab.address(db), DB_PORT) for db, src in pairs])
    for (db, src), (result, ssh) in zip(pairs, results):
        assert result.outcome == "timeout", f"{db}:{DB_PORT} from {src} should be dropped: {result}"
        assert result.elapsed_ms >= (TIMEOUT_S - 0.5) * 1000, result
        assert ssh.outcome == "open", f"SSH on {db} from {src}: {ssh}"


def test_role_run_alone_opens_its_own_port(lab):
    """site.yml opens every role's port in the firewall role's one ufw pass; a role run on its own
    (here `--tags mysql`, which skips the firewall role) still opens its port itself."""
    db = _db_hosts(lab)[0]
    sources = sorted({lab.private_address(n) for n in lab.hosts_in("web") + lab.hosts_in("workers") if n != db})
    if not sources:
        pytest.skip("no web or workers host apart from the db hosts (all-in-one)")
    db_host = lab.get_host(db)
    for src in sources:
        db_host.check_output(f"ufw delete allow from {src} to any port {DB_PORT} proto tcp")
    client = next(n for n in lab.hosts_in("web") + lab.hosts_in("workers") if n != db)
    closed = probe(lab.get_host(client), lab.address(db), DB_PORT)
    assert closed.outcome == "timeout", f"the rules were deleted, yet {db}:{DB_PORT} answers {client}: {closed}"

    res = lab.playbook("site.yml", "--tags", "mysql")
    recap = lab.recap(res.stdout)
    assert res.returncode == 0 and recap, res.stdout[-3000:] + res.stderr[-2000:]
    assert recap[db]["changed"] >= 1, recap
    assert "lmsops.stack.firewall : Allow the wanted rules" in res.stdout, res.stdout[-3000:]
    rules = db_host.check_output("ufw status")
    for src in sources:
        assert re.search(rf"^{DB_PORT}/tcp\s+ALLOW\s+{re.escape(src)}\s+# lmsops:mysql$", rules, re.M), rules
    reopened = probe(lab.get_host(client), lab.address(db), DB_PORT)
    assert reopened.outcome in ("open", "refused"), f"{db}:{DB_PORT} from {client}: {reopened}"
